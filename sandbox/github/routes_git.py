"""REST: the Git database (refs, commits, trees, blobs)."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from starlette.routing import Route

from sandbox.github import bare, commits, shapes
from sandbox.github.api import ApiError, Ctx, Paged, Reply, api_route
from sandbox.github.pushes import move_ref
from sandbox.github.state import GitHubState

Doc = dict[str, Any]


def _full_ref(ref: str) -> str:
    return ref if ref.startswith("refs/") else f"refs/{ref}"


def get_ref(ctx: Ctx) -> Doc:
    repo = ctx.repo()
    ref = _full_ref(ctx.params["ref"])
    sha = bare.list_refs(ctx.state.repo_path(repo), ref).get(ref)
    if sha is None:
        raise ApiError(404, "Not Found")
    return commits.git_ref(ctx.state, repo, ref, sha)


def get_refs_legacy(ctx: Ctx) -> Any:
    """``/git/refs/{ref}``: one ref on an exact match, else the refs under it (GitHub's old API)."""
    repo = ctx.repo()
    ref = _full_ref(ctx.params.get("ref", ""))
    found = bare.list_refs(ctx.state.repo_path(repo), ref.rstrip("/") or "refs/")
    if ref in found:
        return commits.git_ref(ctx.state, repo, ref, found[ref])
    if not found:
        raise ApiError(404, "Not Found")
    return [commits.git_ref(ctx.state, repo, r, s) for r, s in sorted(found.items())]


def matching_refs(ctx: Ctx) -> Paged:
    repo = ctx.repo()
    prefix = _full_ref(ctx.params.get("ref", ""))
    found = bare.list_refs(ctx.state.repo_path(repo), "refs/")
    items = [
        commits.git_ref(ctx.state, repo, r, s)
        for r, s in sorted(found.items())
        if r.startswith(prefix)
    ]
    return Paged(items)


def create_ref(ctx: Ctx) -> Reply:
    repo = ctx.writable_repo()
    ref, sha = ctx.field("ref", required=True), ctx.field("sha", required=True)
    path = ctx.state.repo_path(repo)
    if not ref.startswith("refs/") or ref.count("/") < 2:
        raise ApiError(422, "Reference name must start with 'refs/' and have at least two slashes.")
    if bare.object_type(path, sha) is None:
        raise ApiError(422, "Object does not exist")
    if ref in bare.list_refs(path, ref):
        raise ApiError(422, "Reference already exists")
    move_ref(ctx.state, repo, ref, sha, ctx.actor())
    return Reply(commits.git_ref(ctx.state, repo, ref, sha), 201)


def update_ref(ctx: Ctx) -> Doc:
    repo = ctx.writable_repo()
    ref = _full_ref(ctx.params["ref"])
    sha = ctx.field("sha", required=True)
    path = ctx.state.repo_path(repo)
    old = bare.list_refs(path, ref).get(ref)
    if old is None:
        raise ApiError(422, "Reference does not exist")
    if bare.object_type(path, sha) is None:
        raise ApiError(422, "Object does not exist")
    if not ctx.field("force", False) and not bare.is_ancestor(path, old, sha):
        raise ApiError(422, "Update is not a fast forward")
    move_ref(ctx.state, repo, ref, sha, ctx.actor(), expected_old=old)
    return commits.git_ref(ctx.state, repo, ref, sha)


def delete_ref(ctx: Ctx) -> Reply:
    repo = ctx.writable_repo()
    ref = _full_ref(ctx.params["ref"])
    if ref not in bare.list_refs(ctx.state.repo_path(repo), ref):
        raise ApiError(422, "Reference does not exist")
    move_ref(ctx.state, repo, ref, None, ctx.actor())
    return Reply(None, 204)


def get_git_commit(ctx: Ctx) -> Doc:
    repo = ctx.repo()
    sha = ctx.params["sha"]
    if bare.object_type(ctx.state.repo_path(repo), sha) != "commit":
        raise ApiError(404, "Not Found")
    full = bare.git(ctx.state.repo_path(repo), "rev-parse", sha).decode().strip()
    return commits.git_commit(ctx.state, repo, full)


def _signature(ctx: Ctx, name: str, fallback: bare.Person | None) -> bare.Person:
    given = ctx.field(name)
    if isinstance(given, dict) and given.get("name") and given.get("email"):
        return bare.Person(given["name"], given["email"], given.get("date") or "")
    if fallback is not None:
        return fallback
    actor = ctx.actor()
    return bare.Person(actor.get("name") or actor["login"], actor.get("email") or "")


def create_git_commit(ctx: Ctx) -> Reply:
    repo = ctx.writable_repo()
    path = ctx.state.repo_path(repo)
    message, tree = ctx.field("message", required=True), ctx.field("tree", required=True)
    parents = ctx.field("parents", []) or []
    if bare.object_type(path, tree) != "tree":
        raise ApiError(422, "Tree SHA does not exist")
    for parent in parents:
        if bare.object_type(path, parent) != "commit":
            raise ApiError(422, "Parent SHA does not exist or is not a commit object")
    author = _signature(ctx, "author", None)
    committer = _signature(ctx, "committer", author)
    sha = bare.commit_tree(path, tree, parents, message, author, committer)
    return Reply(commits.git_commit(ctx.state, repo, sha), 201)


def _tree_shape(ctx: Ctx, repo: Doc, sha: str, recursive: bool) -> Doc:
    api = shapes.repo_api(ctx.base, repo)
    entries = bare.ls_tree(ctx.state.repo_path(repo), sha, recursive=recursive)
    items = []
    for e in entries:
        plural = "blobs" if e.type == "blob" else "trees"
        item: Doc = {
            "path": e.path,
            "mode": e.mode,
            "type": e.type,
            "sha": e.sha,
            "url": f"{api}/git/{plural}/{e.sha}",
        }
        if e.type == "blob":
            item["size"] = e.size
        items.append(item)
    return {"sha": sha, "url": f"{api}/git/trees/{sha}", "tree": items, "truncated": False}


def get_tree(ctx: Ctx) -> Doc:
    repo = ctx.repo()
    path = ctx.state.repo_path(repo)
    try:
        sha = bare.git(path, "rev-parse", f"{ctx.params['sha']}^{{tree}}").decode().strip()
    except bare.GitError as exc:
        raise ApiError(404, "Not Found") from exc
    return _tree_shape(ctx, repo, sha, ctx.query("recursive") not in (None, "", "0", "false"))


def create_tree(ctx: Ctx) -> Reply:
    repo = ctx.writable_repo()
    path = ctx.state.repo_path(repo)
    base_tree = ctx.field("base_tree")
    entries = ctx.field("tree", required=True)
    changes: dict[str, tuple[str, str] | None] = {}
    for entry in entries:
        if entry.get("content") is not None:
            changes[entry["path"]] = (
                entry.get("mode", "100644"),
                bare.hash_blob(path, entry["content"].encode()),
            )
        elif entry.get("sha") is None:
            changes[entry["path"]] = None
        elif bare.object_type(path, entry["sha"]) is None:
            raise ApiError(422, "Invalid tree info")
        else:
            changes[entry["path"]] = (entry.get("mode", "100644"), entry["sha"])
    if base_tree and bare.object_type(path, base_tree) is None:
        raise ApiError(422, "Invalid tree info")
    sha = bare.write_tree(path, base_tree, changes)
    return Reply(_tree_shape(ctx, repo, sha, False), 201)


def get_blob(ctx: Ctx) -> Doc:
    repo = ctx.repo()
    path = ctx.state.repo_path(repo)
    sha = ctx.params["sha"]
    if bare.object_type(path, sha) != "blob":
        raise ApiError(404, "Not Found")
    data = bare.read_object(path, sha)
    return {
        "sha": sha,
        "node_id": shapes.node_id("Blob", sha),
        "size": len(data),
        "url": f"{shapes.repo_api(ctx.base, repo)}/git/blobs/{sha}",
        "content": base64.b64encode(data).decode(),
        "encoding": "base64",
    }


def create_blob(ctx: Ctx) -> Reply:
    repo = ctx.writable_repo()
    content = ctx.field("content", required=True)
    encoding = ctx.field("encoding", "utf-8")
    try:
        data = base64.b64decode(content) if encoding == "base64" else content.encode()
    except (binascii.Error, ValueError) as exc:
        raise ApiError(422, "content is not valid Base64") from exc
    sha = bare.hash_blob(ctx.state.repo_path(repo), data)
    return Reply({"sha": sha, "url": f"{shapes.repo_api(ctx.base, repo)}/git/blobs/{sha}"}, 201)


def routes(state: GitHubState) -> list[Route]:
    g = "/repos/{owner}/{repo}/git"
    return [
        api_route(state, "GET", f"{g}/ref/{{ref:path}}", get_ref),
        api_route(state, "GET", f"{g}/refs", get_refs_legacy),
        api_route(state, "GET", f"{g}/refs/{{ref:path}}", get_refs_legacy),
        api_route(state, "GET", f"{g}/matching-refs/{{ref:path}}", matching_refs),
        api_route(state, "POST", f"{g}/refs", create_ref),
        api_route(state, "PATCH", f"{g}/refs/{{ref:path}}", update_ref),
        api_route(state, "DELETE", f"{g}/refs/{{ref:path}}", delete_ref),
        api_route(state, "GET", f"{g}/commits/{{sha}}", get_git_commit),
        api_route(state, "POST", f"{g}/commits", create_git_commit),
        api_route(state, "GET", f"{g}/trees/{{sha}}", get_tree),
        api_route(state, "POST", f"{g}/trees", create_tree),
        api_route(state, "GET", f"{g}/blobs/{{sha}}", get_blob),
        api_route(state, "POST", f"{g}/blobs", create_blob),
    ]
