"""REST: repositories, contents, commits and compare."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from starlette.routing import Route

from sandbox.github import bare, commits, shapes
from sandbox.github.api import ApiError, Ctx, Reply, api_route
from sandbox.github.pushes import move_ref
from sandbox.github.state import GitHubState

Doc = dict[str, Any]


def get_repository(ctx: Ctx) -> Doc:
    repo = ctx.repo()
    p = ctx.principal
    permission = ctx.state.permission_of(repo, p.login) if p.kind == "user" and p.login else None
    if p.kind == "installation":
        permission = "write"
    return ctx.state.repo_shape(repo, permission)


def _wrapped_base64(data: bytes) -> str:
    # GitHub wraps base64 content at 60 characters.
    encoded = base64.b64encode(data).decode()
    return "".join(encoded[i : i + 60] + "\n" for i in range(0, len(encoded), 60))


def _content_entry(ctx: Ctx, repo: Doc, entry: bare.TreeEntry, ref: str) -> Doc:
    api = shapes.repo_api(ctx.base, repo)
    html = f"{ctx.base}/{shapes.full_name(repo)}"
    kind = {"blob": "file", "tree": "dir", "commit": "submodule"}[entry.type]
    plural = "blobs" if entry.type == "blob" else "trees"
    self_url = f"{api}/contents/{entry.path}?ref={ref}"
    git_url = f"{api}/git/{plural}/{entry.sha}"
    html_url = f"{html}/{'blob' if kind == 'file' else 'tree'}/{ref}/{entry.path}"
    return {
        "type": kind,
        "size": entry.size or 0,
        "name": entry.path.rsplit("/", 1)[-1],
        "path": entry.path,
        "sha": entry.sha,
        "url": self_url,
        "git_url": git_url,
        "html_url": html_url,
        "download_url": f"{ctx.base}/raw/{shapes.full_name(repo)}/{ref}/{entry.path}"
        if kind == "file"
        else None,
        "_links": {"self": self_url, "git": git_url, "html": html_url},
    }


def get_contents(ctx: Ctx) -> Any:
    repo = ctx.repo()
    path = ctx.state.repo_path(repo)
    ref = ctx.query("ref") or repo["default_branch"]
    sha = commits.resolve(path, ref)
    if sha is None:
        raise ApiError(404, f"No commit found for the ref {ref}")
    file_path = ctx.params.get("path", "").strip("/")
    entry = bare.entry_at(path, sha, file_path)
    if entry is None:
        raise ApiError(404, "Not Found")
    if entry.type == "tree":
        children = bare.ls_tree(path, f"{sha}:{file_path}" if file_path else sha)
        listed = []
        for child in children:
            full = f"{file_path}/{child.path}" if file_path else child.path
            child_entry = bare.TreeEntry(child.mode, child.type, child.sha, child.size, full)
            listed.append(_content_entry(ctx, repo, child_entry, ref))
        return listed
    shape = _content_entry(ctx, repo, entry, ref)
    shape.update(content=_wrapped_base64(bare.read_object(path, entry.sha)), encoding="base64")
    return shape


def _person(ctx: Ctx, name: str) -> bare.Person:
    given = ctx.field(name)
    if isinstance(given, dict) and given.get("name") and given.get("email"):
        return bare.Person(given["name"], given["email"])
    actor = ctx.actor()
    return bare.Person(actor.get("name") or actor["login"], actor.get("email") or "")


def put_contents(ctx: Ctx) -> Reply:
    repo = ctx.writable_repo()
    path = ctx.state.repo_path(repo)
    file_path = ctx.params["path"].strip("/")
    message = ctx.field("message", required=True)
    try:
        data = base64.b64decode(ctx.field("content", required=True), validate=False)
    except (binascii.Error, TypeError) as exc:
        raise ApiError(422, "content is not valid Base64") from exc
    branch = ctx.field("branch") or repo["default_branch"]
    parent = bare.rev_parse(path, f"refs/heads/{branch}")
    if parent is None and branch != repo["default_branch"]:
        raise ApiError(404, f"Branch {branch} not found")
    existing = bare.entry_at(path, parent, file_path) if parent else None
    given_sha = ctx.field("sha")
    if existing is not None and not given_sha:
        raise ApiError(422, 'Invalid request.\n\n"sha" wasn\'t supplied.')
    if existing is not None and given_sha != existing.sha:
        raise ApiError(409, f"{file_path} does not match {given_sha}")
    if existing is None and given_sha:
        raise ApiError(409, f"{file_path} does not match {given_sha}")
    author = _person(ctx, "author")
    committer = _person(ctx, "committer") if ctx.field("committer") else author
    sha = bare.commit_files(path, parent, {file_path: data}, message, author, committer)
    move_ref(ctx.state, repo, f"refs/heads/{branch}", sha, ctx.actor(), expected_old=parent)
    entry = bare.entry_at(path, sha, file_path)
    assert entry is not None
    body = {
        "content": _content_entry(ctx, repo, entry, branch),
        "commit": commits.git_commit(ctx.state, repo, sha),
    }
    return Reply(body, 200 if existing is not None else 201)


def delete_contents(ctx: Ctx) -> Doc:
    repo = ctx.writable_repo()
    path = ctx.state.repo_path(repo)
    file_path = ctx.params["path"].strip("/")
    message, given_sha = ctx.field("message", required=True), ctx.field("sha", required=True)
    branch = ctx.field("branch") or repo["default_branch"]
    parent = bare.rev_parse(path, f"refs/heads/{branch}")
    existing = bare.entry_at(path, parent, file_path) if parent else None
    if existing is None:
        raise ApiError(404, "Not Found")
    if given_sha != existing.sha:
        raise ApiError(409, f"{file_path} does not match {given_sha}")
    author = _person(ctx, "author")
    sha = bare.commit_files(path, parent, {file_path: None}, message, author)
    move_ref(ctx.state, repo, f"refs/heads/{branch}", sha, ctx.actor(), expected_old=parent)
    return {"content": None, "commit": commits.git_commit(ctx.state, repo, sha)}


def get_commit(ctx: Ctx) -> Doc:
    repo = ctx.repo()
    sha = commits.resolve_or_404(ctx.state, repo, ctx.params["ref"])
    return commits.commit(ctx.state, repo, sha, with_files=True)


def get_branch(ctx: Ctx) -> Doc:
    repo = ctx.repo()
    name = ctx.params["branch"]
    sha = bare.rev_parse(ctx.state.repo_path(repo), f"refs/heads/{name}")
    if sha is None:
        raise ApiError(404, "Branch not found")
    api = shapes.repo_api(ctx.base, repo)
    return {
        "name": name,
        "commit": commits.commit(ctx.state, repo, sha),
        "_links": {
            "self": f"{api}/branches/{name}",
            "html": f"{ctx.base}/{shapes.full_name(repo)}/tree/{name}",
        },
        "protected": False,
        "protection": {
            "enabled": False,
            "required_status_checks": {"enforcement_level": "off", "contexts": [], "checks": []},
        },
        "protection_url": f"{api}/branches/{name}/protection",
    }


def compare(ctx: Ctx) -> Doc:
    repo = ctx.repo()
    basehead = ctx.params["basehead"]
    if "..." not in basehead:
        raise ApiError(404, "Not Found")
    base_ref, head_ref = basehead.split("...", 1)
    state, path = ctx.state, ctx.state.repo_path(repo)
    base_sha = commits.resolve_or_404(state, repo, base_ref)
    head_sha = commits.resolve_or_404(state, repo, head_ref)
    merge_base = bare.merge_base(path, base_sha, head_sha)
    if merge_base is None:
        raise ApiError(404, f"No common ancestor between {base_ref} and {head_ref}.")
    ahead = bare.rev_list(path, base_sha, head_sha)
    behind = bare.rev_list(path, head_sha, base_sha)
    status = (
        "identical"
        if not ahead and not behind
        else "ahead"
        if not behind
        else "behind"
        if not ahead
        else "diverged"
    )
    api = shapes.repo_api(ctx.base, repo)
    html = f"{ctx.base}/{shapes.full_name(repo)}"
    _, _, files = bare.diff_stats(path, merge_base, head_sha)
    return {
        "url": f"{api}/compare/{basehead}",
        "html_url": f"{html}/compare/{basehead}",
        "permalink_url": f"{html}/compare/{base_sha[:12]}...{head_sha[:12]}",
        "diff_url": f"{html}/compare/{basehead}.diff",
        "patch_url": f"{html}/compare/{basehead}.patch",
        "base_commit": commits.commit(state, repo, base_sha),
        "merge_base_commit": commits.commit(state, repo, merge_base),
        "status": status,
        "ahead_by": len(ahead),
        "behind_by": len(behind),
        "total_commits": len(ahead),
        "commits": [commits.commit(state, repo, sha) for sha in ahead[:250]],
        "files": commits.diff_entries(state, repo, files, head_sha),
    }


def routes(state: GitHubState) -> list[Route]:
    r = "/repos/{owner}/{repo}"
    return [
        api_route(state, "GET", r, get_repository),
        api_route(state, "GET", f"{r}/contents", get_contents),
        api_route(state, "GET", f"{r}/contents/{{path:path}}", get_contents),
        api_route(state, "PUT", f"{r}/contents/{{path:path}}", put_contents),
        api_route(state, "DELETE", f"{r}/contents/{{path:path}}", delete_contents),
        api_route(state, "GET", f"{r}/commits/{{ref:path}}", get_commit),
        api_route(state, "GET", f"{r}/branches/{{branch:path}}", get_branch),
        api_route(state, "GET", f"{r}/compare/{{basehead:path}}", compare),
    ]
