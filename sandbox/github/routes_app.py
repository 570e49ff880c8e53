"""REST: the App (JWT-authenticated), installation tokens, the manifest flow, and the
caller's own account and rate limit.
"""

from __future__ import annotations

import json
import secrets
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from sandbox.github import shapes
from sandbox.github.api import ApiError, Ctx, Paged, Reply, api_route
from sandbox.github.routes_checks import app_shape
from sandbox.github.state import GitHubState

Doc = dict[str, Any]
NOT_ACCESSIBLE = (
    "There is at least one repository that does not exist or is not accessible to the parent "
    "installation."
)
NEEDS_INSTALLATION_TOKEN = (
    "You must authenticate with an installation access token in order to list repositories "
    "for an installation."
)


def installation_shape(state: GitHubState, inst: Doc) -> Doc:
    account = state.account_by_id(inst["account_id"]) or {}
    return shapes.installation(state.public_url, inst, state.app_doc(), account)


def get_app(ctx: Ctx) -> Doc:
    shaped = app_shape(ctx.state)
    shaped["installations_count"] = len(ctx.state.store.list("installation"))
    return shaped


def list_installations(ctx: Ctx) -> Paged:
    return Paged([installation_shape(ctx.state, i) for i in ctx.state.store.list("installation")])


def _installation(ctx: Ctx) -> Doc:
    inst = ctx.state.store.get("installation", ctx.params["installation_id"])
    if inst is None:
        raise ApiError(404, "Not Found")
    return inst


def get_installation(ctx: Ctx) -> Doc:
    return installation_shape(ctx.state, _installation(ctx))


def repo_installation(ctx: Ctx) -> Doc:
    repo = ctx.state.repo(ctx.params["owner"], ctx.params["repo"])
    inst = ctx.state.installation_for(repo) if repo else None
    if inst is None:
        raise ApiError(404, "Not Found")
    return installation_shape(ctx.state, inst)


def account_installation(ctx: Ctx) -> Doc:
    acct = ctx.state.account(ctx.params["account"])
    inst = ctx.state.installation_of_account(acct["id"]) if acct else None
    if inst is None:
        raise ApiError(404, "Not Found")
    return installation_shape(ctx.state, inst)


def create_token(ctx: Ctx) -> Reply:
    inst = _installation(ctx)
    names = ctx.field("repositories")
    ids = ctx.field("repository_ids")
    wanted: list[int] | None = None
    if names is not None or ids is not None:
        wanted = list(ids or [])
        for name in names or []:
            owner = ctx.state.account_by_id(inst["account_id"]) or {"login": ""}
            repo = ctx.state.repo(owner["login"], name)
            if repo is None:
                raise ApiError(422, NOT_ACCESSIBLE)
            wanted.append(repo["id"])
    token = ctx.state.issue_installation_token(inst["id"], wanted)
    body: Doc = {
        "token": token["token"],
        "expires_at": shapes.iso(token["expires_at"]),
        "permissions": ctx.field("permissions") or dict(shapes.APP_PERMISSIONS),
        "repository_selection": "selected" if wanted is not None else inst["repository_selection"],
    }
    if wanted is not None:
        repos = [ctx.state.repo_by_id(i) for i in wanted]
        body["repositories"] = [ctx.state.repo_shape(r) for r in repos if r is not None]
    return Reply(body, 201)


def installation_repositories(ctx: Ctx) -> Paged:
    token = ctx.principal.token
    if ctx.principal.kind != "installation" or token is None:
        raise ApiError(403, NEEDS_INSTALLATION_TOKEN)
    ids = sorted(ctx.state.token_repository_ids(token))
    repos = [ctx.state.repo_by_id(i) for i in ids]
    inst = ctx.state.store.get("installation", token["installation_id"]) or {}
    items = [ctx.state.repo_shape(r, "write") for r in repos if r is not None]
    selection = {"repository_selection": inst.get("repository_selection", "selected")}
    return Paged(items, key="repositories", extra=selection)


def _full_user(ctx: Ctx, login: str, private: bool) -> Doc:
    acct = ctx.state.account(login)
    if acct is None:
        raise ApiError(404, "Not Found")
    repos = [r for r in ctx.state.store.list("repo") if r["owner_id"] == acct["id"]]
    return shapes.full_user(ctx.base, acct, repos, private)


def current_user(ctx: Ctx) -> Doc:
    if ctx.principal.kind != "user" or not ctx.principal.login:
        raise ApiError(403, "Resource not accessible by integration")
    return _full_user(ctx, ctx.principal.login, private=True)


def get_user(ctx: Ctx) -> Doc:
    return _full_user(ctx, ctx.params["username"], private=False)


def rate_limit(ctx: Ctx) -> Doc:
    budget = ctx.state.rate.peek(ctx.principal.rate_key, ctx.state.clock())
    rate = {
        "limit": budget.limit,
        "used": budget.used,
        "remaining": budget.remaining,
        "reset": budget.reset,
    }
    # Only the REST budget is counted; the other resources report a full budget.
    full = {"limit": 30, "used": 0, "remaining": 30, "reset": budget.reset}
    return {"resources": {"core": rate, "search": full, "graphql": dict(rate)}, "rate": rate}


def new_manifest_code(state: GitHubState, manifest: Doc) -> str:
    code = secrets.token_hex(10)
    state.store.put("manifest_code", code, {"manifest": manifest})
    return code


def convert_manifest(ctx: Ctx) -> Reply:
    """The App setup flow's last step: a one-time code becomes the App's credentials."""
    code = ctx.params["code"]
    stored = ctx.state.store.get("manifest_code", code)
    if stored is None:
        raise ApiError(404, "Not Found")
    ctx.state.store.delete("manifest_code", code)
    manifest = stored["manifest"]
    hook = (manifest.get("hook_attributes") or {}).get("url")
    if hook:
        ctx.state.set_webhook(hook)
    app = ctx.state.app_doc()
    body = get_app(ctx)
    body.update(
        client_id=app["client_id"],
        client_secret=app["client_secret"],
        webhook_secret=app["webhook_secret"],
        pem=ctx.state.private_key_pem,
    )
    return Reply(body, 201)


def manifest_form(state: GitHubState) -> Any:
    """``/settings/apps/new``: the page a user posts a manifest to; here it approves at once."""

    async def handle(request: Request) -> Response:
        form = await request.form() if request.method == "POST" else request.query_params
        raw = form.get("manifest")
        try:
            manifest = json.loads(str(raw)) if raw else None
        except ValueError:
            manifest = None
        if not isinstance(manifest, dict) or not manifest.get("redirect_url"):
            return Response("a manifest with a redirect_url is required", 422)
        with state.lock:
            code = new_manifest_code(state, manifest)
        params = {"code": code}
        if request.query_params.get("state"):
            params["state"] = request.query_params["state"]
        return RedirectResponse(f"{manifest['redirect_url']}?{urlencode(params)}", 302)

    return handle


def routes(state: GitHubState) -> list[Route]:
    return [
        api_route(state, "GET", "/app", get_app, auth="app"),
        api_route(state, "GET", "/app/installations", list_installations, auth="app"),
        api_route(
            state, "GET", "/app/installations/{installation_id}", get_installation, auth="app"
        ),
        api_route(
            state,
            "POST",
            "/app/installations/{installation_id}/access_tokens",
            create_token,
            auth="app",
        ),
        api_route(
            state, "GET", "/repos/{owner}/{repo}/installation", repo_installation, auth="app"
        ),
        api_route(state, "GET", "/orgs/{account}/installation", account_installation, auth="app"),
        api_route(state, "GET", "/users/{account}/installation", account_installation, auth="app"),
        api_route(
            state, "POST", "/app-manifests/{code}/conversions", convert_manifest, auth="none"
        ),
        api_route(state, "GET", "/installation/repositories", installation_repositories),
        api_route(state, "GET", "/user", current_user),
        api_route(state, "GET", "/users/{username}", get_user),
        api_route(state, "GET", "/rate_limit", rate_limit),
        Route("/settings/apps/new", manifest_form(state), methods=["GET", "POST"]),
    ]
