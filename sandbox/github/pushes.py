"""Branch moves and the ``push`` webhooks they cause, however they happen (git push over
HTTP, the contents API, ref updates, merges, the control API).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sandbox.github import bare
from sandbox.github.shapes import full_name, iso
from sandbox.github.state import GitHubState

Doc = dict[str, Any]
MAX_PUSH_COMMITS = 20


def push_commit(state: GitHubState, repo: Doc, path: Path, sha: str, before: str | None) -> Doc:
    info = bare.commit_info(path, sha)
    parent = info.parents[0] if info.parents else None
    files = bare.changed_paths(path, parent, sha)
    html = f"{state.public_url}/{full_name(repo)}"

    def person(p: bare.Person) -> Doc:
        acct = state.account(p.name)
        shaped: Doc = {"name": p.name, "email": p.email}
        if acct is not None:
            shaped["username"] = acct["login"]
        return shaped

    return {
        "id": sha,
        "tree_id": info.tree,
        "distinct": True,
        "message": info.message.rstrip("\n"),
        "timestamp": git_date_iso(info.committer.date),
        "url": f"{html}/commit/{sha}",
        "author": person(info.author),
        "committer": person(info.committer),
        **files,
    }


def git_date_iso(date: str) -> str:
    """git's ``<unix> <+hhmm>`` as ISO 8601 in UTC."""
    seconds = date.split()[0] if date else "0"
    return iso(float(seconds)) or ""


def announce(
    state: GitHubState, repo: Doc, ref: str, before: str | None, after: str | None, pusher: Doc
) -> None:
    """Send ``push`` for one moved ref, then ``synchronize`` for pull requests it heads."""
    path = state.repo_path(repo)
    before_sha, after_sha = before or bare.ZERO_SHA, after or bare.ZERO_SHA
    created, deleted = before is None, after is None
    forced = bool(before and after and not bare.is_ancestor(path, before, after))
    commits: list[Doc] = []
    if after:
        if before and not forced:
            new = bare.rev_list(path, before, after)
        else:
            others = [s for r, s in bare.list_refs(path, "refs/heads/").items() if r != ref]
            new = [c for c in bare.rev_list(path, None, after) if not _reachable(path, c, others)]
        commits = [push_commit(state, repo, path, c, before) for c in new[-MAX_PUSH_COMMITS:]]
    head_commit = push_commit(state, repo, path, after, before) if after else None
    html = f"{state.public_url}/{full_name(repo)}"
    repo["pushed_at"] = state.clock()
    state.save_repo(repo)
    body = {
        "ref": ref,
        "before": before_sha,
        "after": after_sha,
        "created": created,
        "deleted": deleted,
        "forced": forced,
        "base_ref": None,
        "compare": f"{html}/compare/{before_sha[:12]}...{after_sha[:12]}",
        "commits": commits,
        "head_commit": head_commit,
        "repository": _push_repository(state, repo),
        "pusher": {"name": pusher["login"], "email": pusher.get("email")},
    }
    state.emit("push", None, body, repo, pusher)
    if ref.startswith("refs/heads/") and after:
        from sandbox.github import pulls

        pulls.synchronize(state, repo, ref.removeprefix("refs/heads/"), after, pusher)


def _reachable(path: Path, commit: str, tips: list[str]) -> bool:
    return any(bare.is_ancestor(path, commit, tip) for tip in tips)


def _push_repository(state: GitHubState, repo: Doc) -> Doc:
    shape = state.repo_shape(repo, timestamps="unix")
    owner = state.account(repo["owner"]) or {}
    shape["owner"].update(name=owner.get("login"), email=owner.get("email"))
    shape["stargazers"] = 0
    shape["master_branch"] = repo["default_branch"]
    if owner.get("type") == "Organization":
        shape["organization"] = owner["login"]
    return shape


def move_ref(
    state: GitHubState,
    repo: Doc,
    ref: str,
    new: str | None,
    pusher: Doc,
    expected_old: str | None = None,
) -> None:
    """Point ``ref`` at ``new`` (or delete it) and announce the move."""
    path = state.repo_path(repo)
    old = bare.list_refs(path, ref).get(ref)
    if new is None:
        bare.delete_ref(path, ref)
    else:
        bare.update_ref(path, ref, new, expected_old if expected_old is not None else old)
    if old != new:
        announce(state, repo, ref, old, new, pusher)


def refs_snapshot(state: GitHubState, repo: Doc) -> dict[str, str]:
    return bare.list_refs(state.repo_path(repo), "refs/heads/") | bare.list_refs(
        state.repo_path(repo), "refs/tags/"
    )


def announce_changes(
    state: GitHubState, repo: Doc, before: dict[str, str], after: dict[str, str], pusher: Doc
) -> None:
    """Announce every ref that differs between two snapshots (after a git push)."""
    for ref in sorted(set(before) | set(after)):
        if before.get(ref) != after.get(ref):
            announce(state, repo, ref, before.get(ref), after.get(ref), pusher)


def push_files(
    state: GitHubState,
    repo: Doc,
    branch: str,
    files: dict[str, str | None],
    message: str,
    pusher: Doc,
    from_ref: str | None = None,
) -> str:
    """Commit ``files`` on ``branch`` (created from ``from_ref`` or the default branch)."""
    path = state.repo_path(repo)
    parent = bare.rev_parse(path, f"refs/heads/{branch}")
    if parent is None:
        parent = bare.rev_parse(path, from_ref or f"refs/heads/{repo['default_branch']}")
    person = bare.Person(pusher.get("name") or pusher["login"], pusher.get("email") or "")
    data = {p: (None if t is None else t.encode()) for p, t in files.items()}
    sha = bare.commit_files(path, parent, data, message, person)
    move_ref(state, repo, f"refs/heads/{branch}", sha, pusher)
    return sha
