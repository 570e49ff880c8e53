"""REST: pull requests, their merges and reviews."""

from __future__ import annotations

from typing import Any

from starlette.routing import Route

from sandbox.github import bare, commits, pulls
from sandbox.github.api import ApiError, Ctx, Paged, Reply, api_route
from sandbox.github.state import GitHubState

Doc = dict[str, Any]


def _number(ctx: Ctx) -> int:
    try:
        return int(ctx.params["number"])
    except ValueError as exc:
        raise ApiError(404, "Not Found") from exc


def list_pulls(ctx: Ctx) -> Paged:
    repo = ctx.repo()
    wanted = ctx.query("state", "open")
    head, base = ctx.query("head"), ctx.query("base")
    items = []
    for pr in reversed(ctx.state.store.list("pull", repo["id"])):
        if wanted != "all" and pr["state"] != wanted:
            continue
        if base and pr["base_ref"] != base:
            continue
        if head:
            owner, _, branch = head.rpartition(":")
            head_repo = ctx.state.repo_by_id(pr["head_repo_id"]) or {}
            if branch != pr["head_ref"] or (
                owner and owner.lower() != head_repo.get("owner", "").lower()
            ):
                continue
        items.append(pulls.shape(ctx.state, pr, full=False))
    return Paged(items)


def create_pull(ctx: Ctx) -> Reply:
    repo = ctx.repo()
    head, base = ctx.field("head", required=True), ctx.field("base", required=True)
    title = ctx.field("title")
    if not title and ctx.field("issue") is None:
        raise ApiError(
            422,
            "Validation Failed",
            [{"resource": "PullRequest", "code": "missing_field", "field": "title"}],
        )
    pr = pulls.open_pull(
        ctx.state,
        repo,
        head,
        base,
        title,
        ctx.field("body"),
        ctx.actor(),
        bool(ctx.field("draft", False)),
    )
    return Reply(pulls.shape(ctx.state, pr), 201)


def get_pull(ctx: Ctx) -> Doc:
    repo = ctx.repo()
    return pulls.shape(ctx.state, pulls.get_pull(ctx.state, repo, _number(ctx)))


def update_pull(ctx: Ctx) -> Doc:
    repo = ctx.repo()
    pr = pulls.get_pull(ctx.state, repo, _number(ctx))
    fields = ctx.body if isinstance(ctx.body, dict) else {}
    pulls.update_pull(ctx.state, repo, pr, fields, ctx.actor())
    return pulls.shape(ctx.state, pr)


def merge_pull(ctx: Ctx) -> Doc:
    repo = ctx.writable_repo()
    pr = pulls.get_pull(ctx.state, repo, _number(ctx))
    method = ctx.field("merge_method", "merge")
    if method not in ("merge", "squash", "rebase"):
        raise ApiError(
            422,
            "Validation Failed",
            [{"resource": "PullRequest", "field": "merge_method", "code": "invalid"}],
        )
    sha = pulls.merge_pull(
        ctx.state,
        repo,
        pr,
        ctx.actor(),
        method,
        ctx.field("commit_title"),
        ctx.field("commit_message"),
        ctx.field("sha"),
    )
    return {"sha": sha, "merged": True, "message": "Pull Request successfully merged"}


def check_merged(ctx: Ctx) -> Reply:
    repo = ctx.repo()
    pr = pulls.get_pull(ctx.state, repo, _number(ctx))
    if not pr.get("merged"):
        raise ApiError(404, "Not Found")
    return Reply(None, 204)


def list_reviews(ctx: Ctx) -> Paged:
    repo = ctx.repo()
    pr = pulls.get_pull(ctx.state, repo, _number(ctx))
    return Paged(
        [pulls.review_shape(ctx.state, repo, r) for r in pulls.reviews(ctx.state, repo, pr)]
    )


def create_review(ctx: Ctx) -> Doc:
    repo = ctx.repo()
    pr = pulls.get_pull(ctx.state, repo, _number(ctx))
    event = ctx.field("event") or "COMMENT"
    review = pulls.create_review(
        ctx.state, repo, pr, ctx.actor(), event, ctx.field("body"), ctx.field("commit_id")
    )
    return pulls.review_shape(ctx.state, repo, review)


def list_commits(ctx: Ctx) -> Paged:
    repo = ctx.repo()
    pr = pulls.get_pull(ctx.state, repo, _number(ctx))
    path = ctx.state.repo_path(repo)
    since = (
        pr["base_sha"]
        if pr.get("merged")
        else bare.merge_base(path, pr["base_sha"], pr["head_sha"])
    )
    shas = bare.rev_list(path, since, pr["head_sha"])
    return Paged([commits.commit(ctx.state, repo, sha) for sha in shas])


def list_files(ctx: Ctx) -> Paged:
    repo = ctx.repo()
    pr = pulls.get_pull(ctx.state, repo, _number(ctx))
    path = ctx.state.repo_path(repo)
    since = pr["base_sha"]
    if not pr.get("merged"):
        since = bare.merge_base(path, pr["base_sha"], pr["head_sha"]) or since
    _, _, files = bare.diff_stats(path, since, pr["head_sha"])
    return Paged(commits.diff_entries(ctx.state, repo, files, pr["head_sha"]))


def routes(state: GitHubState) -> list[Route]:
    p = "/repos/{owner}/{repo}/pulls"
    return [
        api_route(state, "GET", p, list_pulls),
        api_route(state, "POST", p, create_pull),
        api_route(state, "GET", f"{p}/{{number}}", get_pull),
        api_route(state, "PATCH", f"{p}/{{number}}", update_pull),
        api_route(state, "PUT", f"{p}/{{number}}/merge", merge_pull),
        api_route(state, "GET", f"{p}/{{number}}/merge", check_merged),
        api_route(state, "GET", f"{p}/{{number}}/reviews", list_reviews),
        api_route(state, "POST", f"{p}/{{number}}/reviews", create_review),
        api_route(state, "GET", f"{p}/{{number}}/commits", list_commits),
        api_route(state, "GET", f"{p}/{{number}}/files", list_files),
    ]
