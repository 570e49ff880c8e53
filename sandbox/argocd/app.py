"""``create_app(state)``: the sandbox Argo CD as an ASGI app, with faults applied at the edge."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sandbox.argocd import api, control
from sandbox.argocd.state import ApiError, ArgoState, RequestRecord

GRPC_CODES = {400: 3, 401: 16, 403: 7, 404: 5, 405: 12, 409: 6, 503: 14}


class ConnectionDropped(Exception):
    """Raised after a response started, so the server closes the connection mid-flight."""


def create_app(state: ArgoState) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        state.start()
        yield
        state.stop()

    app = FastAPI(title="AutoStack sandbox Argo CD", lifespan=lifespan, docs_url=None)
    app.state.argo = state
    app.include_router(api.router)
    app.include_router(control.router)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_middleware(FaultsAndLog, state=state)
    return app


async def _api_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return api.error_response(exc)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if not request.url.path.startswith("/api/"):
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)
    # grpc-gateway answers unknown routes and methods with its own runtimeError body.
    message = "Not Found" if exc.status_code == 404 else str(exc.detail)
    code = GRPC_CODES.get(exc.status_code, 2)
    return api.error_response(ApiError(exc.status_code, code, message))


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    if not request.url.path.startswith("/api/"):
        return JSONResponse({"detail": exc.errors()}, status_code=422)
    first = exc.errors()[0] if exc.errors() else {}
    message = f"invalid parameter {'.'.join(str(p) for p in first.get('loc', ()))}"
    return api.error_response(ApiError(400, 3, message))


class FaultsAndLog:
    """Outage and latency for ``/api`` calls, and the request log (method, route, status)."""

    def __init__(self, app: ASGIApp, state: ArgoState):
        self.app, self.state = app, state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        route = _route_template(scope)
        recorded = False

        def record(code: int) -> None:
            nonlocal recorded
            if not recorded:
                recorded = True
                self.state.requests.append(RequestRecord(scope["method"], route, code))

        async def recording_send(message: Message) -> None:
            # Recorded before the answer leaves: a client that has it finds it in the log.
            if message["type"] == "http.response.start":
                record(message["status"])
            await send(message)

        try:
            scenarios = self.state.scenarios
            if scenarios.latency_seconds:
                await asyncio.sleep(scenarios.latency_seconds)
            if scenarios.outage == "drop":
                await _drop(receive, send)
            elif scenarios.outage == "503":
                error = ApiError(503, 14, "the server is currently unable to handle the request")
                await api.error_response(error)(scope, receive, recording_send)
            else:
                await self.app(scope, receive, recording_send)
        finally:
            record(0)  # no answer: the connection was dropped, or the app failed first


def _route_template(scope: Scope) -> str:
    for route in api.router.routes:
        match, _ = route.matches(scope)
        if match == Match.FULL:
            return str(getattr(route, "path", scope["path"]))
    return scope["path"]


async def _drop(receive: Receive, send: Send) -> None:
    """Close the connection without a response, as a crashed server or a proxy would."""
    # uvicorn's receive is bound to the request cycle that owns the transport.
    transport: Any = getattr(getattr(receive, "__self__", None), "transport", None)
    if transport is not None:
        transport.abort()
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    raise ConnectionDropped("connection dropped by the sandbox outage scenario")
