"""Git's smart HTTP protocol at each repository's ``clone_url``, served by ``git http-backend``
as a CGI process, with GitHub's authentication (``x-access-token:<token>`` basic auth).

A push that moves refs sends the ``push`` webhooks, found by comparing the refs before and
after the receive-pack request.
"""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import AsyncIterator
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from sandbox.github import pushes
from sandbox.github.state import GitHubState

Doc = dict[str, Any]
CHALLENGE = {"WWW-Authenticate": 'Basic realm="GitHub"'}


def _credentials(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip()).decode()
    except ValueError:
        return None
    return decoded.partition(":")[2]


def authorize(
    state: GitHubState, request: Request, repo: Doc | None, write: bool
) -> tuple[Response | None, Doc | None]:
    """(refusal, pusher): a refusal response, or the account that acts (None if anonymous)."""
    secret = _credentials(request)
    if secret is None:
        if repo is not None and not repo["private"] and not write:
            return None, None
        return Response("Authentication required\n", 401, CHALLENGE), None
    token = state.resolve_token(secret)
    if token is None:
        return Response("Invalid username or token.\n", 401, CHALLENGE), None
    if repo is None:
        return Response("Repository not found.\n", 404), None
    if token["kind"] == "installation":
        if repo["id"] not in state.token_repository_ids(token):
            return Response("Repository not found.\n", 404), None
        return None, state.actor(None)
    permission = state.permission_of(repo, token["login"])
    if permission == "none":
        return Response("Repository not found.\n", 404), None
    if write and permission not in ("write", "maintain", "admin"):
        return Response(f"Permission to {repo['owner']}/{repo['name']}.git denied.\n", 403), None
    return None, state.account(token["login"])


def _cgi_env(state: GitHubState, request: Request, path_info: str, user: str) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "GIT_PROJECT_ROOT": str(state.git_root),
        "GIT_HTTP_EXPORT_ALL": "1",
        "GIT_CONFIG_NOSYSTEM": "1",
        "HOME": str(state.data_dir),
        "PATH_INFO": path_info,
        "REQUEST_METHOD": request.method,
        "QUERY_STRING": request.url.query,
        "CONTENT_TYPE": request.headers.get("content-type", ""),
        "REMOTE_USER": user,
        "REMOTE_ADDR": request.client.host if request.client else "127.0.0.1",
        "SERVER_PROTOCOL": "HTTP/1.1",
    }
    if "content-length" in request.headers:
        env["CONTENT_LENGTH"] = request.headers["content-length"]
    for header, name in (
        ("content-encoding", "HTTP_CONTENT_ENCODING"),
        ("git-protocol", "GIT_PROTOCOL"),
    ):
        if header in request.headers:
            env[name] = request.headers[header]
    return env


async def _feed(request: Request, proc: asyncio.subprocess.Process) -> None:
    assert proc.stdin is not None
    try:
        async for chunk in request.stream():
            proc.stdin.write(chunk)
            await proc.stdin.drain()
        proc.stdin.close()
    except (BrokenPipeError, ConnectionResetError):
        # http-backend may answer and exit before reading all of the body; its answer stands.
        return


async def _read_headers(stdout: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    status, headers = 200, dict[str, str]()
    while True:
        line = (await stdout.readline()).decode("latin-1").rstrip("\r\n")
        if not line:
            return status, headers
        name, _, value = line.partition(":")
        if name.lower() == "status":
            status = int(value.strip().split()[0])
        else:
            headers[name.strip()] = value.strip()


def git_endpoint(state: GitHubState) -> Any:
    async def handle(request: Request) -> Response:
        owner, name, rest = (request.path_params[k] for k in ("owner", "repo", "rest"))
        repo = state.repo(owner, name)
        service = request.query_params.get("service", "")
        write = rest == "git-receive-pack" or service == "git-receive-pack"
        refusal, pusher = authorize(state, request, repo, write)
        if refusal is not None or repo is None:
            return refusal or Response("Repository not found.\n", 404)
        path_info = f"/{repo['owner']}/{repo['name']}.git/{rest}"
        env = _cgi_env(state, request, path_info, pusher["login"] if pusher else "")
        before = (
            await run_in_threadpool(pushes.refs_snapshot, state, repo)
            if rest == "git-receive-pack"
            else None
        )
        proc = await asyncio.create_subprocess_exec(
            "git",
            "http-backend",
            env=env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        feeder = asyncio.create_task(_feed(request, proc))
        assert proc.stdout is not None
        status, headers = await _read_headers(proc.stdout)
        return StreamingResponse(_body(state, repo, proc, feeder, before, pusher), status, headers)

    return handle


async def _body(
    state: GitHubState,
    repo: Doc,
    proc: asyncio.subprocess.Process,
    feeder: asyncio.Task[None],
    before: dict[str, str] | None,
    pusher: Doc | None,
) -> AsyncIterator[bytes]:
    assert proc.stdout is not None
    while chunk := await proc.stdout.read(65536):
        yield chunk
    await feeder
    await proc.wait()
    if before is not None:
        await run_in_threadpool(_after_push, state, repo, before, pusher)


def _after_push(state: GitHubState, repo: Doc, before: dict[str, str], pusher: Doc | None) -> None:
    with state.lock:
        after = pushes.refs_snapshot(state, repo)
        if after != before:
            pushes.announce_changes(state, repo, before, after, pusher or state.actor(None))


def routes(state: GitHubState) -> list[Route]:
    return [Route("/{owner}/{repo}.git/{rest:path}", git_endpoint(state), methods=["GET", "POST"])]
