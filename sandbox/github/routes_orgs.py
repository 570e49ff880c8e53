"""REST: organizations and creating repositories (for a user or in an organization)."""

from __future__ import annotations

from typing import Any

from starlette.routing import Route

from sandbox.github import shapes
from sandbox.github.api import ApiError, Ctx, Reply, api_route
from sandbox.github.state import GitHubState

Doc = dict[str, Any]


def get_org(ctx: Ctx) -> Doc:
    org = ctx.state.account(ctx.params["org"])
    if org is None or org["type"] != "Organization":
        raise ApiError(404, "Not Found")
    repos = [r for r in ctx.state.store.list("repo") if r["owner_id"] == org["id"]]
    shaped = shapes.organization(ctx.base, org)
    created = shapes.iso(org["created_at"])
    shaped.update(
        name=org["login"],
        html_url=f"{ctx.base}/{org['login']}",
        has_organization_projects=False,
        has_repository_projects=False,
        public_repos=sum(1 for r in repos if not r["private"]),
        public_gists=0,
        followers=0,
        following=0,
        type="Organization",
        created_at=created,
        updated_at=created,
        archived_at=None,
    )
    return shaped


def _create(ctx: Ctx, owner: Doc) -> Reply:
    name = ctx.field("name", required=True)
    if ctx.state.repo(owner["login"], name) is not None:
        message = "name already exists on this account"
        error = {"resource": "Repository", "code": "custom", "field": "name", "message": message}
        raise ApiError(422, "Repository creation failed.", [error])
    files = {"README.md": f"# {name}\n"} if ctx.field("auto_init", False) else None
    repo = ctx.state.create_repo(
        owner["login"],
        name,
        private=bool(ctx.field("private", False)),
        default_branch="main",
        files=files,
        description=ctx.field("description"),
    )
    token = ctx.principal.token
    if ctx.principal.kind == "installation" and token is not None:
        # A repository an App creates joins the App's installation, as on GitHub.
        inst = ctx.state.store.get("installation", token["installation_id"])
        if inst is not None and repo["id"] not in inst["repository_ids"]:
            inst["repository_ids"].append(repo["id"])
            ctx.state.store.put("installation", inst["id"], inst)
    return Reply(ctx.state.repo_shape(repo, "admin"), 201)


def create_org_repo(ctx: Ctx) -> Reply:
    org = ctx.state.account(ctx.params["org"])
    if org is None or org["type"] != "Organization":
        raise ApiError(404, "Not Found")
    p = ctx.principal
    if p.kind == "installation":
        inst = ctx.state.store.get("installation", p.installation_id or 0) or {}
        if inst.get("account_id") != org["id"]:
            raise ApiError(403, "Resource not accessible by integration")
    elif p.kind != "user":
        raise ApiError(401, "Requires authentication")
    return _create(ctx, org)


def create_user_repo(ctx: Ctx) -> Reply:
    if ctx.principal.kind != "user" or not ctx.principal.login:
        raise ApiError(403, "Resource not accessible by integration")
    owner = ctx.state.account(ctx.principal.login)
    assert owner is not None
    return _create(ctx, owner)


def routes(state: GitHubState) -> list[Route]:
    return [
        api_route(state, "GET", "/orgs/{org}", get_org),
        api_route(state, "POST", "/orgs/{org}/repos", create_org_repo),
        api_route(state, "POST", "/user/repos", create_user_repo),
    ]
