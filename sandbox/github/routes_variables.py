"""REST: a repository's GitHub Actions variables (``/repos/{owner}/{repo}/actions/variables``).

As GitHub documents them: names are case-insensitive and stored upper-case; creating a name
that exists answers 409; reading needs collaborator access, like writing. Each variable is
one document keyed by repository id and name.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.routing import Route

from sandbox.github import shapes
from sandbox.github.api import ApiError, Ctx, Paged, Reply, api_route, validation_failed
from sandbox.github.state import GitHubState

Doc = dict[str, Any]
KIND = "actions_variable"
# GitHub: letters, digits and underscores, not starting with a digit nor with GITHUB_.
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")
MAX_VALUE = 48 * 1024


def _key(repo: Doc, name: str) -> str:
    return f"{repo['id']}:{name.upper()}"


def _shape(doc: Doc) -> Doc:
    return {
        "name": doc["name"],
        "value": doc["value"],
        "created_at": shapes.iso(doc["created_at"]),
        "updated_at": shapes.iso(doc["updated_at"]),
    }


def _checked(ctx: Ctx, name: Any, value: Any) -> tuple[str, str]:
    if not isinstance(name, str) or not NAME.match(name) or name.upper().startswith("GITHUB_"):
        raise validation_failed(f"Invalid variable name: {name!r}", "Variable", "name")
    if not isinstance(value, str) or len(value.encode()) > MAX_VALUE:
        raise validation_failed("Invalid variable value", "Variable", "value")
    return name.upper(), value


def _found(ctx: Ctx, repo: Doc) -> Doc:
    doc = ctx.state.store.get(KIND, _key(repo, ctx.params["name"]))
    if doc is None:
        raise ApiError(404, "Not Found")
    return doc


def list_variables(ctx: Ctx) -> Paged:
    repo = ctx.writable_repo()
    items = [_shape(d) for d in ctx.state.store.list(KIND, scope=repo["id"])]
    return Paged(items, key="variables")


def create_variable(ctx: Ctx) -> Reply:
    repo = ctx.writable_repo()
    name, value = _checked(ctx, ctx.field("name", required=True), ctx.field("value"))
    if ctx.state.store.get(KIND, _key(repo, name)) is not None:
        raise ApiError(409, "Already exists - Variable already exists")
    now = ctx.state.clock()
    doc = {"name": name, "value": value, "created_at": now, "updated_at": now}
    ctx.state.store.put(KIND, _key(repo, name), doc, scope=repo["id"])
    return Reply({}, 201)


def get_variable(ctx: Ctx) -> Doc:
    repo = ctx.writable_repo()
    return _shape(_found(ctx, repo))


def update_variable(ctx: Ctx) -> Reply:
    repo = ctx.writable_repo()
    doc = _found(ctx, repo)
    name, value = _checked(ctx, ctx.field("name", doc["name"]), ctx.field("value", doc["value"]))
    if name != doc["name"]:
        if ctx.state.store.get(KIND, _key(repo, name)) is not None:
            raise ApiError(409, "Already exists - Variable already exists")
        ctx.state.store.delete(KIND, _key(repo, doc["name"]))
    updated = dict(doc, name=name, value=value, updated_at=ctx.state.clock())
    ctx.state.store.put(KIND, _key(repo, name), updated, scope=repo["id"])
    return Reply(None, 204)


def delete_variable(ctx: Ctx) -> Reply:
    repo = ctx.writable_repo()
    doc = _found(ctx, repo)
    ctx.state.store.delete(KIND, _key(repo, doc["name"]))
    return Reply(None, 204)


def routes(state: GitHubState) -> list[Route]:
    r = "/repos/{owner}/{repo}/actions/variables"
    return [
        api_route(state, "GET", r, list_variables),
        api_route(state, "POST", r, create_variable),
        api_route(state, "GET", f"{r}/{{name}}", get_variable),
        api_route(state, "PATCH", f"{r}/{{name}}", update_variable),
        api_route(state, "DELETE", f"{r}/{{name}}", delete_variable),
    ]
