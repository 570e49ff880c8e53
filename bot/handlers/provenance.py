"""Where the commit a command would deploy comes from (``policy.Source``), looked up on the
app repository's own branches.

GitHub serves every commit of a repository's network through the repository's API: a
fork's commit that a pull request names (``refs/pull/N/head``) resolves in the parent
repository as if it were the parent's own, by sha and by that ref. So resolving a ref
proves nothing about whose code it is. The app repository's clone fetches its branches
only (``refs/heads/*``: no pull request refs, no tags), and a commit is the repository's
code when one of those branches contains it.
"""

from __future__ import annotations

from bot.adapters.git.repo import REF_NAME
from bot.core.commands import HEX_SHA
from bot.core.policy import Source
from bot.ports import PullInfo
from bot.services import Services


def source_of(
    services: Services, repo: str, sha: str | None, *, ref: str | None, pull: PullInfo | None
) -> Source:
    """Where ``sha`` comes from: this pull request's head, the default branch, the branch
    named by ``ref`` or the pull request's own branch, or elsewhere."""
    if sha is None:
        return "unknown"
    if pull is not None and sha == pull.head_sha:
        return "pr_head"
    clone = services.git(repo)
    with clone.one_fetch():  # one fetch for every branch looked at
        if clone.is_ancestor(sha, services.repo(repo).default_branch):
            return "default_branch"
        if any(clone.is_ancestor(sha, branch) for branch in _named_branches(ref, pull)):
            return "branch"
    return "elsewhere"


def _named_branches(ref: str | None, pull: PullInfo | None) -> list[str]:
    """The branches a command points at besides the default: the ref it names (a sha is no
    branch), and the pull request's own branch when it lives in the repository."""
    branches = []
    if ref is not None and not HEX_SHA.match(ref):
        branches.append(ref)
    if pull is not None and not pull.is_fork:
        branches.append(pull.head_ref)
    # A name git would not take as a branch (GitHub allows more) cannot be looked up.
    return [name for name in branches if REF_NAME.match(name)]
