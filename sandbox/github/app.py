"""``create_app(state)``: the sandbox GitHub as one ASGI app (REST API, git over HTTP, the
control API), wrapped in the fault-injection and request-log middleware.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from sandbox.github import (
    actions,
    control,
    githttp,
    routes_app,
    routes_branches,
    routes_checks,
    routes_deployments,
    routes_git,
    routes_graphql,
    routes_hooks,
    routes_issues,
    routes_orgs,
    routes_pulls,
    routes_repos,
    routes_variables,
)
from sandbox.github.api import error_body, json_response
from sandbox.github.middleware import SandboxMiddleware
from sandbox.github.state import GitHubState


async def not_found(request: Request) -> Response:
    return json_response(404, error_body(404, "Not Found"))


def all_routes(state: GitHubState) -> list[BaseRoute]:
    # Order matters: more specific templates (``/commits/{ref}/status``) before catch-alls.
    routes: list[BaseRoute] = []
    routes += control.routes(state)
    routes += routes_app.routes(state)
    routes += routes_hooks.routes(state)
    routes += routes_orgs.routes(state)
    routes += routes_branches.routes(state)
    routes += routes_checks.routes(state)
    routes += routes_deployments.routes(state)
    routes += actions.routes(state)
    routes += routes_variables.routes(state)
    routes += routes_git.routes(state)
    routes += routes_pulls.routes(state)
    routes += routes_issues.routes(state)
    routes += routes_repos.routes(state)
    routes += routes_graphql.routes(state)
    routes += githttp.routes(state)
    methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]
    routes.append(Route("/{path:path}", not_found, methods=methods))
    return routes


def create_app(state: GitHubState) -> Any:
    """The sandbox GitHub server for ``state``; the state outlives the app (restartable)."""

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        yield
        await _flush_quietly(state)

    routes = all_routes(state)
    app = Starlette(routes=routes, lifespan=lifespan)
    return SandboxMiddleware(app, state, routes)


async def _flush_quietly(state: GitHubState) -> None:
    from starlette.concurrency import run_in_threadpool

    await run_in_threadpool(state.webhooks.flush, 5.0)
