"""The ports the bot's handlers talk to, named by role, and the frozen values they return.

``GitHub`` is implemented by ``bot.adapters.github.GitHubAdapter`` (PyGithub, synchronous:
call it from a worker thread, never on the event loop) and, for handler unit tests, by the
recording fake in ``tests/fakes/github.py``. No vendor object crosses this boundary.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from bot.core.errors import PermanentError

Permission = Literal["admin", "maintain", "write", "triage", "read", "none"]
ChecksState = Literal["success", "pending", "failure", "none"]
CheckStatus = Literal["queued", "in_progress", "completed"]
CheckConclusion = Literal[
    "success",
    "failure",
    "neutral",
    "cancelled",
    "skipped",
    "timed_out",
    "action_required",
]
DeploymentState = Literal["queued", "in_progress", "success", "failure", "error", "inactive"]
MergeMethod = Literal["merge", "squash", "rebase"]
Reaction = Literal["+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes"]

BUILD_WORKFLOW_NAME = "AutoStack build"


class NotFound(PermanentError):
    """GitHub answered 404: the thing does not exist or the App's installation cannot see it."""


@dataclass(frozen=True)
class RepoInfo:
    full_name: str
    clone_url: str  # the only source of git remotes: GitHub Enterprise and the sandbox differ
    default_branch: str
    private: bool
    owner: str
    name: str
    html_url: str


@dataclass(frozen=True)
class PullInfo:
    number: int
    state: str  # "open" or "closed"
    merged: bool
    head_sha: str
    head_ref: str
    head_repo_full_name: str | None  # None when the fork was deleted
    base_ref: str
    is_fork: bool
    author: str
    html_url: str


@dataclass(frozen=True)
class PullFacts:
    """A pull request with what authorizing a command on it needs, read in one request."""

    pull: PullInfo
    approved: bool | None  # some reviewer approved and none requests changes; None: not asked
    head_checks: ChecksState | None  # the head commit's checks (``checks_state``); None: not asked


@dataclass(frozen=True)
class BuildRun:
    """A run of the ``AutoStack build`` workflow for one head commit."""

    id: int
    head_sha: str
    status: str  # queued, in_progress, completed, ...
    conclusion: str | None  # success, failure, cancelled, ... once completed
    html_url: str


@dataclass(frozen=True)
class CommentRef:
    id: int
    html_url: str


@dataclass(frozen=True)
class PullRef:
    number: int
    html_url: str
    head_sha: str
    created: bool  # False when an open pull request for the head branch was reused


@dataclass(frozen=True)
class IssueRef:
    number: int
    html_url: str
    created: bool


@dataclass(frozen=True)
class AppCredentials:
    """What the App manifest flow hands back once; the secrets never appear in ``repr``."""

    app_id: int
    slug: str
    owner: str
    html_url: str
    client_id: str
    client_secret: str = field(repr=False)
    webhook_secret: str = field(repr=False)
    pem: str = field(repr=False)


class GitHub(Protocol):
    """Everything the bot does on GitHub, as an App installation.

    Errors follow ``bot.core.errors``: ``TransientError`` (5xx, rate limits, network) is
    worth retrying from the queue, ``PermanentError`` (``NotFound`` for 404) is not.
    """

    def repo(self, full_name: str) -> RepoInfo: ...

    def installation_token(self, repo: str) -> str:
        """A token for git over HTTPS on ``repo``; cached until shortly before it expires."""
        ...

    def read_file(self, repo: str, path: str, ref: str) -> bytes | None:
        """The file's bytes at ``ref``, or None when there is no file at ``path``."""
        ...

    def resolve_ref(self, repo: str, ref: str) -> str:
        """The full sha of a branch, tag or (short) sha; ``NotFound`` when there is none."""
        ...

    def permission(self, repo: str, user: str) -> Permission: ...

    def pull(self, repo: str, number: int) -> PullInfo: ...

    def pull_facts(
        self, repo: str, number: int, *, approval: bool = False, checks: bool = False
    ) -> PullFacts:
        """The pull request and, when asked, whether it is approved (each reviewer's latest
        verdict counts: some approval and no change request) and its head commit's checks
        (as ``checks_state``). One request however much is asked (GraphQL), unless a list
        runs over GitHub's page of 100."""
        ...

    def checks_state(self, repo: str, sha: str) -> ChecksState:
        """Combined commit statuses and check runs on ``sha``, AutoStack's own left out."""
        ...

    def build_run(self, repo: str, sha: str) -> BuildRun | None: ...

    def react(self, repo: str, comment_id: int, content: Reaction = "eyes") -> None: ...

    def upsert_comment(self, repo: str, issue_number: int, marker_id: str, body: str) -> CommentRef:
        """Create or edit in place the bot's comment carrying ``marker(marker_id)``."""
        ...

    def open_or_update_pr(self, repo: str, head: str, base: str, title: str, body: str) -> PullRef:
        """One open pull request per head branch: reuse (and retitle) it if there is one."""
        ...

    def merge_pr(
        self, repo: str, number: int, method: MergeMethod = "merge", sha: str | None = None
    ) -> str:
        """Merge; returns the merge commit's sha. ``sha`` guards against a moved head."""
        ...

    def create_deployment(
        self,
        repo: str,
        sha: str,
        environment: str,
        payload: Mapping[str, Any],
        description: str,
        *,
        production: bool | None = None,
    ) -> int: ...

    def deployment_status(
        self,
        repo: str,
        deployment_id: int,
        state: DeploymentState,
        environment_url: str | None = None,
        log_url: str | None = None,
        description: str | None = None,
        auto_inactive: bool = True,
    ) -> None: ...

    def check_run(
        self,
        repo: str,
        sha: str,
        name: str,
        status: CheckStatus,
        conclusion: CheckConclusion | None = None,
        title: str = "",
        summary: str = "",
        details_url: str | None = None,
        existing_id: int | None = None,
        external_id: str | None = None,
    ) -> int:
        """Create or update a check run; a commit status where checks are not permitted.
        ``external_id`` tags a new one, for ``find_check_run``."""
        ...

    # What a report interrupted part-way (a worker killed between GitHub's answer and the
    # database write) already made: asked only when recovering, so the common path pays
    # nothing for it.
    def find_deployment(self, repo: str, sha: str, environment: str, label: str) -> int | None:
        """The Deployment whose payload's ``autostack`` is ``label``, if GitHub has one."""
        ...

    def deployment_states(self, repo: str, deployment_id: int) -> list[str]:
        """The Deployment's status states, newest first."""
        ...

    def find_check_run(self, repo: str, sha: str, name: str, external_id: str) -> int | None:
        """The check run ``name`` on ``sha`` tagged ``external_id``, if GitHub has one."""
        ...

    def open_or_update_issue(self, repo: str, marker: str, title: str, body: str) -> IssueRef:
        """One open issue per ``marker`` key (e.g. ``drift:shop-prod``), updated in place."""
        ...

    def close_issue(self, repo: str, marker: str) -> bool:
        """Close the open issue for ``marker``; False when there was none."""
        ...

    def convert_manifest(self, code: str) -> AppCredentials: ...
