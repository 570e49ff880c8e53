"""Commit-shaped answers (REST commits, git commits, refs) read from the bare repositories."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sandbox.github import bare, shapes
from sandbox.github.pushes import git_date_iso
from sandbox.github.state import GitHubState, StateError

Doc = dict[str, Any]
UNSIGNED = {
    "verified": False,
    "reason": "unsigned",
    "signature": None,
    "payload": None,
    "verified_at": None,
}


def resolve(path: Path, ref: str) -> str | None:
    """A commit sha for a sha, branch, tag or full ref name."""
    for candidate in (f"refs/heads/{ref}", f"refs/tags/{ref}", ref):
        sha = bare.rev_parse(path, candidate)
        if sha is not None and (candidate != ref or not ref.startswith("-")):
            return sha
    return None


def resolve_or_404(state: GitHubState, repo: Doc, ref: str) -> str:
    sha = resolve(state.repo_path(repo), ref)
    if sha is None:
        raise StateError(404, f"No commit found for the ref {ref}" if ref else "Not Found")
    return sha


def _person(p: bare.Person) -> Doc:
    return {"name": p.name, "email": p.email, "date": git_date_iso(p.date)}


def git_commit(state: GitHubState, repo: Doc, sha: str) -> Doc:
    """The ``git-commit`` shape of ``/git/commits/{sha}``."""
    api = shapes.repo_api(state.public_url, repo)
    html = f"{state.public_url}/{shapes.full_name(repo)}"
    info = bare.commit_info(state.repo_path(repo), sha)
    return {
        "sha": sha,
        "node_id": shapes.node_id("Commit", sha),
        "url": f"{api}/git/commits/{sha}",
        "html_url": f"{html}/commit/{sha}",
        "author": _person(info.author),
        "committer": _person(info.committer),
        "tree": {"sha": info.tree, "url": f"{api}/git/trees/{info.tree}"},
        "message": info.message.rstrip("\n"),
        "parents": [
            {"sha": p, "url": f"{api}/git/commits/{p}", "html_url": f"{html}/commit/{p}"}
            for p in info.parents
        ],
        "verification": dict(UNSIGNED),
    }


WEB_FLOW = {"login": "web-flow", "id": 19864447, "type": "User"}


def _account_for(state: GitHubState, p: bare.Person) -> Doc:
    """The account behind a git signature; ``{}`` when none matches (GitHub's empty object)."""
    bot = state.actor(None)
    if p.email == bot["email"]:
        return shapes.user(state.public_url, bot)
    if p.email == "noreply@github.com":
        return shapes.user(state.public_url, WEB_FLOW)
    local = p.email.split("@")[0].split("+")[-1]
    for acct in (state.account(p.name), state.account(local)):
        if acct is not None:
            return shapes.user(state.public_url, acct)
    return {}


def commit(state: GitHubState, repo: Doc, sha: str, with_files: bool = False) -> Doc:
    """The REST ``commit`` shape of ``/commits/{ref}``."""
    api = shapes.repo_api(state.public_url, repo)
    html = f"{state.public_url}/{shapes.full_name(repo)}"
    path = state.repo_path(repo)
    info = bare.commit_info(path, sha)
    shape: Doc = {
        "url": f"{api}/commits/{sha}",
        "sha": sha,
        "node_id": shapes.node_id("Commit", sha),
        "html_url": f"{html}/commit/{sha}",
        "comments_url": f"{api}/commits/{sha}/comments",
        "commit": {
            "url": f"{api}/git/commits/{sha}",
            "author": _person(info.author),
            "committer": _person(info.committer),
            "message": info.message.rstrip("\n"),
            "tree": {"sha": info.tree, "url": f"{api}/git/trees/{info.tree}"},
            "comment_count": 0,
            "verification": dict(UNSIGNED),
        },
        "author": _account_for(state, info.author),
        "committer": _account_for(state, info.committer),
        "parents": [
            {"sha": p, "url": f"{api}/commits/{p}", "html_url": f"{html}/commit/{p}"}
            for p in info.parents
        ],
    }
    if with_files:
        parent = info.parents[0] if info.parents else bare.write_tree(path, None, {})
        adds, dels, files = bare.diff_stats(path, parent, sha)
        shape["stats"] = {"total": adds + dels, "additions": adds, "deletions": dels}
        shape["files"] = diff_entries(state, repo, files, sha)
    return shape


def diff_entries(state: GitHubState, repo: Doc, files: list[Doc], head: str) -> list[Doc]:
    """GitHub's ``diff-entry`` shape for files from ``bare.diff_stats``."""
    api = shapes.repo_api(state.public_url, repo)
    html = f"{state.public_url}/{shapes.full_name(repo)}"
    return [
        {
            **f,
            "blob_url": f"{html}/blob/{head}/{f['filename']}",
            "raw_url": f"{html}/raw/{head}/{f['filename']}",
            "contents_url": f"{api}/contents/{f['filename']}?ref={head}",
        }
        for f in files
    ]


def git_ref(state: GitHubState, repo: Doc, ref: str, sha: str) -> Doc:
    api = shapes.repo_api(state.public_url, repo)
    kind = bare.object_type(state.repo_path(repo), sha) or "commit"
    plural = {"commit": "commits", "tag": "tags", "tree": "trees", "blob": "blobs"}[kind]
    return {
        "ref": ref,
        "node_id": shapes.node_id("Ref", ref),
        "url": f"{api}/git/{ref}",
        "object": {"type": kind, "sha": sha, "url": f"{api}/git/{plural}/{sha}"},
    }
