"""REST: branches, commit history and server-side merges (``POST /merges``)."""

from __future__ import annotations

from typing import Any

from starlette.routing import Route

from sandbox.github import bare, commits, shapes
from sandbox.github.api import ApiError, Ctx, Paged, Reply, api_route
from sandbox.github.pushes import move_ref
from sandbox.github.state import GitHubState

Doc = dict[str, Any]


def list_branches(ctx: Ctx) -> Paged:
    repo = ctx.repo()
    api = shapes.repo_api(ctx.base, repo)
    heads = bare.list_refs(ctx.state.repo_path(repo), "refs/heads/")
    items = [
        {
            "name": ref.removeprefix("refs/heads/"),
            "commit": {"sha": sha, "url": f"{api}/commits/{sha}"},
            "protected": False,
        }
        for ref, sha in sorted(heads.items())
    ]
    return Paged(items)


def list_commits(ctx: Ctx) -> Paged:
    repo = ctx.repo()
    path = ctx.state.repo_path(repo)
    ref = ctx.query("sha") or repo["default_branch"]
    tip = commits.resolve(path, ref)
    if tip is None:
        if not bare.list_refs(path, "refs/heads/"):
            raise ApiError(409, "Git Repository is empty.")
        raise ApiError(404, f"No commit found for SHA: {ref}")
    args = ["rev-list", "--topo-order", tip]
    if ctx.query("path"):
        args += ["--", str(ctx.query("path"))]
    shas = bare.git(path, *args).decode().split()
    # Only the requested page is built: histories can be long.
    per_page = min(max(int(ctx.query("per_page") or 30), 1), 100)
    page = max(int(ctx.query("page") or 1), 1)
    wanted = set(shas[(page - 1) * per_page : page * per_page])
    return Paged([commits.commit(ctx.state, repo, s) if s in wanted else None for s in shas])


def merge_branches(ctx: Ctx) -> Reply:
    """``POST /merges``: merge ``head`` into the ``base`` branch with a merge commit."""
    repo = ctx.writable_repo()
    path = ctx.state.repo_path(repo)
    base, head = ctx.field("base", required=True), ctx.field("head", required=True)
    base_sha = bare.rev_parse(path, f"refs/heads/{base}")
    head_sha = commits.resolve(path, head)
    if base_sha is None or head_sha is None:
        which = "Base" if base_sha is None else "Head"
        raise ApiError(404, f"{which} does not exist")
    if bare.is_ancestor(path, head_sha, base_sha):
        return Reply(None, 204)
    tree = bare.merge_trees(path, base_sha, head_sha)
    if tree is None:
        raise ApiError(409, "Merge conflict")
    actor = ctx.actor()
    author = bare.Person(actor.get("name") or actor["login"], actor.get("email") or "")
    message = ctx.field("commit_message") or f"Merge {head} into {base}"
    sha = bare.commit_tree(path, tree, [base_sha, head_sha], message, author)
    move_ref(ctx.state, repo, f"refs/heads/{base}", sha, actor, expected_old=base_sha)
    return Reply(commits.commit(ctx.state, repo, sha), 201)


def routes(state: GitHubState) -> list[Route]:
    r = "/repos/{owner}/{repo}"
    return [
        api_route(state, "GET", f"{r}/branches", list_branches),
        api_route(state, "GET", f"{r}/commits", list_commits),
        api_route(state, "POST", f"{r}/merges", merge_branches),
    ]
