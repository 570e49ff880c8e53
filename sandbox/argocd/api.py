"""Argo CD's ``/api/v1`` application routes, with the swagger's paths, parameters and shapes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, StreamingResponse

from sandbox.argocd.selectors import SelectorError, matches, parse_selector
from sandbox.argocd.state import ApiError, ArgoState

NO_SESSION = "no session information"
BAD_TOKEN = "invalid session: token signature is invalid"


def error_response(error: ApiError) -> JSONResponse:
    """grpc-gateway's ``runtimeError`` body, as Argo CD answers every failed call."""
    body = {"error": error.message, "code": error.grpc_code, "message": error.message}
    return JSONResponse(body, status_code=error.http_status)


def get_state(request: Request) -> ArgoState:
    state: ArgoState = request.app.state.argo
    return state


def authenticate(request: Request) -> str:
    """The caller's bearer token (header or Argo CD's ``argocd.token`` cookie), checked."""
    state = get_state(request)
    header = request.headers.get("authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else ""
    token = token or request.cookies.get("argocd.token", "")
    if not token:
        raise ApiError(401, 16, NO_SESSION)
    if token not in state.tokens:
        raise ApiError(401, 16, BAD_TOKEN)
    return "admin"


State = Annotated[ArgoState, Depends(get_state)]
User = Annotated[str, Depends(authenticate)]
router = APIRouter()


def _filter(
    apps: list[dict[str, Any]], name: str, projects: list[str], selector: str, repo: str
) -> list[dict[str, Any]]:
    try:
        requirements = parse_selector(selector)
    except SelectorError as exc:
        raise ApiError(400, 3, str(exc)) from exc
    chosen = []
    for app in apps:
        spec = app.get("spec") or {}
        if name and app["metadata"]["name"] != name:
            continue
        if projects and (spec.get("project") or "default") not in projects:
            continue
        if repo and (spec.get("source") or {}).get("repoURL") != repo:
            continue
        if not matches(requirements, app["metadata"].get("labels") or {}):
            continue
        chosen.append(app)
    return chosen


@router.get("/api/v1/applications")
def list_applications(
    state: State,
    _: User,
    name: str = "",
    selector: str = "",
    repo: str = "",
    projects: Annotated[list[str], Query()] = [],  # noqa: B006 - FastAPI copies defaults
    project: Annotated[list[str], Query()] = [],  # noqa: B006
) -> dict[str, Any]:
    apps = _filter(state.applications(), name, projects + project, selector, repo)
    version = max((int(a["metadata"]["resourceVersion"]) for a in apps), default=0)
    return {"metadata": {"resourceVersion": str(version)}, "items": apps}


@router.get("/api/v1/session/userinfo")
def user_info(_: User) -> dict[str, Any]:
    """Who the token belongs to; AutoStack's readiness check asks it."""
    return {"loggedIn": True, "username": "autostack", "iss": "argocd", "groups": []}


@router.get("/api/v1/applications/{name}")
def get_application(name: str, state: State, _: User, refresh: str = "") -> dict[str, Any]:
    if refresh in ("normal", "hard"):
        state.refresh(name)
    return state.application(name)


@router.post("/api/v1/applications/{name}/sync")
async def sync_application(name: str, request: Request, state: State, user: User) -> Any:
    raw = await request.body()
    try:
        body = json.loads(raw) if raw.strip() else {}
    except json.JSONDecodeError as exc:
        raise ApiError(400, 3, f"invalid request body: {exc}") from exc
    if not isinstance(body, dict):
        raise ApiError(400, 3, "invalid request body: expected an object")
    if body.get("dryRun"):
        return await run_in_threadpool(state.application, name)
    revision = str(body.get("revision") or "")
    prune = bool(body.get("prune"))
    return await run_in_threadpool(state.request_sync, name, revision, prune, user)


@router.get("/api/v1/applications/{applicationName}/resource-tree")
def resource_tree(applicationName: str, state: State, _: User) -> dict[str, Any]:
    return state.resource_tree(applicationName)


@router.get("/api/v1/applications/{applicationName}/managed-resources")
def managed_resources(applicationName: str, state: State, _: User) -> dict[str, Any]:
    return state.managed_resources(applicationName)


@router.get("/api/v1/applications/{name}/events")
def events(
    name: str,
    state: State,
    _: User,
    resourceName: str = "",
    resourceUID: str = "",
) -> dict[str, Any]:
    return state.events(name, resourceName, resourceUID)


def _stream_line(result: dict[str, Any], sse: bool) -> bytes:
    data = json.dumps({"result": result}, separators=(",", ":"))
    # Argo CD's StreamForwarder: NDJSON by default, "data: ... \n\n" for EventSource clients.
    return f"data: {data} \n\n".encode() if sse else (data + "\n").encode()


def _stream_response(lines: AsyncIterator[bytes], sse: bool) -> StreamingResponse:
    media = "text/event-stream" if sse else "application/json"
    headers = {"X-Content-Type-Options": "nosniff"} if sse else {}
    return StreamingResponse(lines, media_type=media, headers=headers)


@router.get("/api/v1/applications/{name}/logs")
def pod_logs(
    name: str,
    request: Request,
    state: State,
    _: User,
    podName: str = "",
    container: str = "",
    resourceName: str = "",
    tailLines: str = "",
    filter: str = "",
    matchCase: bool = False,
) -> StreamingResponse:
    try:
        tail = int(tailLines) if tailLines else None
    except ValueError as exc:
        raise ApiError(400, 3, f"invalid tailLines: {tailLines!r}") from exc
    entries = state.pod_logs(
        name,
        pod_name=podName,
        container=container,
        resource_name=resourceName,
        tail_lines=tail,
        filter_text=filter,
        match_case=matchCase,
    )
    sse = request.headers.get("accept") == "text/event-stream"

    async def lines() -> AsyncIterator[bytes]:
        for entry in entries:
            yield _stream_line(entry, sse)
        yield _stream_line({"podName": "", "content": "", "timeStampStr": "", "last": True}, sse)

    return _stream_response(lines(), sse)


@router.get("/api/v1/stream/applications")
async def watch_applications(
    request: Request,
    state: State,
    _: User,
    name: str = "",
    selector: str = "",
    repo: str = "",
    resourceVersion: str = "",
    projects: Annotated[list[str], Query()] = [],  # noqa: B006
    project: Annotated[list[str], Query()] = [],  # noqa: B006
) -> StreamingResponse:
    wanted = projects + project
    _filter([], name, wanted, selector, repo)  # reject a bad selector before streaming
    sse = request.headers.get("accept") == "text/event-stream"
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()

    def listener(kind: str, app: dict[str, Any]) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, (kind, app))

    unsubscribe = state.subscribe(listener)
    # Like Argo CD: the current apps come first as ADDED unless the client resumes a version.
    initial = state.applications() if not resourceVersion or name else []

    async def lines() -> AsyncIterator[bytes]:
        try:
            for app in _filter(initial, name, wanted, selector, repo):
                yield _stream_line({"type": "ADDED", "application": app}, sse)
            while True:
                kind, app = await queue.get()
                if kind == "CLOSED":
                    return
                if _filter([app], name, wanted, selector, repo):
                    yield _stream_line({"type": kind, "application": app}, sse)
        finally:
            unsubscribe()

    return _stream_response(lines(), sse)
