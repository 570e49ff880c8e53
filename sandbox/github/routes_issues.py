"""REST: issues, issue comments, reactions and collaborator permissions."""

from __future__ import annotations

from typing import Any

from starlette.routing import Route

from sandbox.github import issues, shapes
from sandbox.github.api import ApiError, Ctx, Paged, Reply, api_route
from sandbox.github.state import GitHubState

Doc = dict[str, Any]


def _int(ctx: Ctx, name: str) -> int:
    try:
        return int(ctx.params[name])
    except ValueError as exc:
        raise ApiError(404, "Not Found") from exc


def list_issues(ctx: Ctx) -> Paged:
    repo = ctx.repo()
    wanted = ctx.query("state", "open")
    docs = ctx.state.store.list("issue", repo["id"]) + ctx.state.store.list("pull", repo["id"])
    docs.sort(key=lambda d: d["number"], reverse=True)
    return Paged(
        [
            issues.issue_shape(ctx.state, repo, d)
            for d in docs
            if wanted == "all" or d["state"] == wanted
        ]
    )


def create_issue(ctx: Ctx) -> Reply:
    repo = ctx.repo()
    doc = issues.create_issue(
        ctx.state, repo, ctx.field("title", required=True), ctx.field("body"), ctx.actor()
    )
    return Reply(issues.issue_shape(ctx.state, repo, doc), 201)


def get_issue(ctx: Ctx) -> Doc:
    repo = ctx.repo()
    return issues.issue_shape(ctx.state, repo, issues.find(ctx.state, repo, _int(ctx, "number")))


def update_issue(ctx: Ctx) -> Doc:
    repo = ctx.repo()
    doc = issues.find(ctx.state, repo, _int(ctx, "number"))
    fields = ctx.body if isinstance(ctx.body, dict) else {}
    return issues.issue_shape(ctx.state, repo, issues.update_issue(ctx.state, repo, doc, fields))


def list_comments(ctx: Ctx) -> Paged:
    repo = ctx.repo()
    number = _int(ctx, "number")
    issues.find(ctx.state, repo, number)
    found = [c for c in ctx.state.store.list("comment", repo["id"]) if c["number"] == number]
    return Paged([issues.comment_shape(ctx.state, repo, c) for c in found])


def create_comment(ctx: Ctx) -> Reply:
    repo = ctx.repo()
    if ctx.principal.kind == "anonymous":
        raise ApiError(401, "Requires authentication")
    body = ctx.field("body", required=True)
    comment = issues.add_comment(ctx.state, repo, _int(ctx, "number"), body, ctx.actor())
    return Reply(issues.comment_shape(ctx.state, repo, comment), 201)


def get_comment(ctx: Ctx) -> Doc:
    repo = ctx.repo()
    comment = issues.get_comment(ctx.state, repo, _int(ctx, "comment_id"))
    return issues.comment_shape(ctx.state, repo, comment)


def update_comment(ctx: Ctx) -> Doc:
    repo = ctx.repo()
    comment = issues.get_comment(ctx.state, repo, _int(ctx, "comment_id"))
    actor = ctx.actor()
    if actor["login"] != comment["user"] and ctx.principal.kind == "user":
        raise ApiError(403, "Resource not accessible by personal access token")
    comment.update(body=ctx.field("body", required=True), updated_at=ctx.state.clock())
    ctx.state.store.put("comment", comment["id"], comment, repo["id"])
    return issues.comment_shape(ctx.state, repo, comment)


def list_reactions(ctx: Ctx) -> Paged:
    repo = ctx.repo()
    comment = issues.get_comment(ctx.state, repo, _int(ctx, "comment_id"))
    docs = ctx.state.store.list("reaction", comment["id"])
    content = ctx.query("content")
    return Paged(
        [
            issues.reaction_shape(ctx.state, d)
            for d in docs
            if not content or d["content"] == content
        ]
    )


def create_reaction(ctx: Ctx) -> Reply:
    repo = ctx.repo()
    comment = issues.get_comment(ctx.state, repo, _int(ctx, "comment_id"))
    content = ctx.field("content", required=True)
    doc, created = issues.add_reaction(ctx.state, str(comment["id"]), content, ctx.actor())
    return Reply(issues.reaction_shape(ctx.state, doc), 201 if created else 200)


def create_issue_reaction(ctx: Ctx) -> Reply:
    repo = ctx.repo()
    number = _int(ctx, "number")
    issues.find(ctx.state, repo, number)
    content = ctx.field("content", required=True)
    scope = f"issue:{repo['id']}#{number}"
    doc, created = issues.add_reaction(ctx.state, scope, content, ctx.actor())
    return Reply(issues.reaction_shape(ctx.state, doc), 201 if created else 200)


def delete_comment(ctx: Ctx) -> Reply:
    repo = ctx.repo()
    comment = issues.get_comment(ctx.state, repo, _int(ctx, "comment_id"))
    if ctx.principal.kind == "user" and ctx.actor()["login"] != comment["user"]:
        ctx.writable_repo()
    ctx.state.store.delete("comment", comment["id"])
    target = issues.find(ctx.state, repo, comment["number"])
    target["comments"] = max(target.get("comments", 1) - 1, 0)
    issues.save(ctx.state, target)
    return Reply(None, 204)


def list_repo_comments(ctx: Ctx) -> Paged:
    repo = ctx.repo()
    found = ctx.state.store.list("comment", repo["id"])
    if ctx.query("direction") == "desc":
        found.reverse()
    return Paged([issues.comment_shape(ctx.state, repo, c) for c in found])


def collaborator_permission(ctx: Ctx) -> Doc:
    repo = ctx.repo()
    acct = ctx.state.account(ctx.params["username"])
    if acct is None:
        raise ApiError(404, "Not Found")
    permission = ctx.state.permission_of(repo, acct["login"])
    if permission == "none" and not repo["private"]:
        permission = "read"
    legacy = {"maintain": "write", "triage": "read"}.get(permission, permission)
    user = shapes.user(ctx.base, acct)
    user["permissions"] = shapes.permission_flags(permission)
    user["role_name"] = permission
    return {"permission": legacy, "role_name": permission, "user": user}


def routes(state: GitHubState) -> list[Route]:
    i = "/repos/{owner}/{repo}/issues"
    return [
        api_route(state, "GET", i, list_issues),
        api_route(state, "POST", i, create_issue),
        api_route(state, "GET", f"{i}/comments", list_repo_comments),
        api_route(state, "GET", f"{i}/comments/{{comment_id}}", get_comment),
        api_route(state, "DELETE", f"{i}/comments/{{comment_id}}", delete_comment),
        api_route(state, "POST", f"{i}/{{number}}/reactions", create_issue_reaction),
        api_route(state, "PATCH", f"{i}/comments/{{comment_id}}", update_comment),
        api_route(state, "GET", f"{i}/comments/{{comment_id}}/reactions", list_reactions),
        api_route(state, "POST", f"{i}/comments/{{comment_id}}/reactions", create_reaction),
        api_route(state, "GET", f"{i}/{{number}}", get_issue),
        api_route(state, "PATCH", f"{i}/{{number}}", update_issue),
        api_route(state, "GET", f"{i}/{{number}}/comments", list_comments),
        api_route(state, "POST", f"{i}/{{number}}/comments", create_comment),
        api_route(
            state,
            "GET",
            "/repos/{owner}/{repo}/collaborators/{username}/permission",
            collaborator_permission,
        ),
    ]
