"""The middleware around every sandbox GitHub request: fault injection (errors, rate limits,
latency, dropped connections) and the request log.
"""

from __future__ import annotations

import asyncio
import base64
import time
import uuid
from typing import Any

from starlette.routing import BaseRoute, Match, Route

from sandbox.github.api import RATE_DOCS, SECONDARY_MESSAGE, error_body, json_response
from sandbox.github.state import GitHubState
from sandbox.github.store import Doc


def route_template(routes: list[BaseRoute], scope: dict[str, Any]) -> str:
    for route in routes:
        match, _ = route.matches(scope)
        if match == Match.FULL and isinstance(route, Route):
            return route.path.replace(":path", "")
    return scope.get("path", "")


class SandboxMiddleware:
    """Wraps the app: injects configured faults, then logs every answered request."""

    def __init__(self, app: Any, state: GitHubState, routes: list[BaseRoute]):
        self.app, self.state, self.routes = app, state, routes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = dict(scope.get("headers") or []).get(b"host", b"").decode()
        if host and not self.state.public_url_pinned:
            self.state.public_url = f"{scope.get('scheme', 'http')}://{host}"
        if scope["path"].startswith("/_sandbox"):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        template = route_template(self.routes, scope)
        status = {"code": 0}

        async def recording_send(message: dict[str, Any]) -> None:
            # Logged before the answer leaves: a client that has it finds it in the log.
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                self._log(scope, template, status["code"], started)
            await send(message)

        try:
            dropped = await self._inject(scope, receive, recording_send, send, template)
            if not dropped and not status["code"]:
                await self.app(scope, receive, recording_send)
        finally:
            if not status["code"]:
                self._log(scope, template, 0, started)  # no answer: dropped, or the app failed

    async def _inject(
        self, scope: dict[str, Any], receive: Any, reply: Any, raw_send: Any, template: str
    ) -> bool:
        """Apply matching faults; True when the connection was dropped."""
        caller = "app" if _is_app_call(scope) else "person"
        rules = self.state.faults.for_request(scope["method"], template, scope["path"], caller)
        for rule in rules:
            if rule.kind == "latency":
                await asyncio.sleep(rule.latency_ms / 1000)
            elif rule.kind == "drop":
                _drop_connection(raw_send)
                return True
            else:
                status, headers, body = fault_response(
                    rule.kind, rule.status, rule.retry_after, self.state
                )
                await json_response(status, body, headers)(scope, receive, reply)
                return False
        return False

    def _log(self, scope: dict[str, Any], template: str, status: int, started: float) -> None:
        principal = scope.get("sandbox.principal")
        self.state.requests.add(
            {
                "method": scope["method"],
                "route": template,
                "path": scope["path"],
                "query": scope.get("query_string", b"").decode(),
                "status": status,
                "installation_id": getattr(principal, "installation_id", None),
                "user": getattr(principal, "login", None),
                "auth": getattr(principal, "kind", None),
                "not_modified": bool(scope.get("sandbox.not_modified")),
                "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                "at": self.state.clock(),
            }
        )


def _is_app_call(scope: dict[str, Any]) -> bool:
    """Whether the request carries the App's credentials: an installation token (``ghs_``,
    as a token, a bearer or git's basic auth) or the App's JWT; people's tokens are
    ``ghp_``."""
    header = dict(scope.get("headers") or []).get(b"authorization", b"").decode(errors="ignore")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() == "basic":
        try:
            credentials = base64.b64decode(credentials).decode().partition(":")[2]
        except ValueError:
            return False
    credentials = credentials.strip()
    return credentials.startswith("ghs_") or credentials.startswith("eyJ")


def fault_response(
    kind: str, status: int, retry_after: int, state: GitHubState
) -> tuple[int, dict[str, str], Doc]:
    now = int(state.clock())
    if kind == "rate_limit":
        headers = {
            "X-RateLimit-Limit": "5000",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Used": "5000",
            "X-RateLimit-Reset": str(now + retry_after),
            "X-RateLimit-Resource": "core",
        }
        return (
            status or 403,
            headers,
            error_body(status or 403, "API rate limit exceeded.", doc=RATE_DOCS),
        )
    if kind == "secondary_rate_limit":
        message = SECONDARY_MESSAGE.format(uuid.uuid4().hex[:16].upper())
        headers = {"Retry-After": str(retry_after)}
        return status or 403, headers, error_body(status or 403, message, doc=RATE_DOCS)
    code = status or 502
    return code, {}, error_body(code, "Server Error" if code != 502 else "Bad Gateway")


def _drop_connection(send: Any) -> None:
    """Close the TCP connection without answering (uvicorn's protocol object owns it)."""
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        raise ConnectionAbortedError("connection dropped by an injected fault")
    cycle.disconnected = True  # type: ignore[union-attr]
    transport.close()
