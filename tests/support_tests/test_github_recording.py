"""Recorders validate every exchange of httpx, requests and PyGithub clients."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
import requests
from github import Auth, Github

from sandbox.serving import ThreadedServer
from tests.support.github_openapi import (
    AsyncValidatingTransport,
    ExchangeRecorder,
    ValidatingAdapter,
    ValidatingTransport,
    load,
    validating_pygithub,
)


def spec_example(operation_id: str, status: str = "200") -> Any:
    api = load()
    [operation] = [op for op in api.operations if op.operation_id == operation_id]
    content = api.resolve(operation.definition["responses"][status])["content"]
    examples = content["application/json"]["examples"]
    return api.resolve(next(iter(examples.values())))["value"]


def octocat() -> dict[str, Any]:
    # GitHub's example predates `user_view_type`, the discriminator of user responses.
    return {**spec_example("users/get-by-username"), "user_view_type": "public"}


ROUTES: dict[tuple[str, str], tuple[int, Any]] = {
    ("GET", "/rate_limit"): (200, spec_example("rate-limit/get")),
    ("GET", "/users/octocat"): (200, octocat()),
    ("GET", "/users/ghost"): (200, {k: v for k, v in octocat().items() if k != "login"}),
}


def answer(method: str, path: str) -> tuple[int, bytes]:
    status, data = ROUTES.get((method, path), (404, {"message": "Not Found"}))
    return status, json.dumps(data).encode()


async def github_like_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A few canned GitHub answers, under GitHub Enterprise Server's /api/v3 prefix."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            kind = message["type"].removeprefix("lifespan.")
            await send({"type": f"lifespan.{kind}.complete"})
            if kind == "shutdown":
                return
    status, data = answer(scope["method"], scope["path"].removeprefix("/api/v3"))
    headers = [(b"content-type", b"application/json; charset=utf-8")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


def mock_handler(request: httpx.Request) -> httpx.Response:
    status, data = answer(request.method, request.url.path)
    return httpx.Response(status, content=data, headers={"content-type": "application/json"})


def test_httpx_transport_records_each_exchange() -> None:
    recorder = ExchangeRecorder()
    transport = ValidatingTransport(recorder, httpx.MockTransport(mock_handler))
    with httpx.Client(transport=transport, base_url="https://api.github.com") as client:
        assert client.get("/users/octocat").json()["login"] == "octocat"
        client.get("/users/ghost")
        client.post("/users/octocat", json={})
    assert [(e.operation_id, e.status) for e in recorder.exchanges] == [
        ("users/get-by-username", 200),
        ("users/get-by-username", 200),
        (None, 404),
    ]
    assert recorder.violations == [
        "GET /users/{username}: response body: $: 'login' is a required property "
        "[200 https://api.github.com/users/ghost]",
        "no such operation in GitHub's API: POST /users/octocat (the path allows GET) "
        "[404 https://api.github.com/users/octocat]",
    ]
    with pytest.raises(AssertionError, match="GitHub API violations:\n"):
        recorder.assert_conforms()


def test_async_httpx_transport_records_each_exchange() -> None:
    recorder = ExchangeRecorder()

    async def run() -> None:
        transport = AsyncValidatingTransport(recorder, httpx.MockTransport(mock_handler))
        async with httpx.AsyncClient(transport=transport, base_url="https://x/api/v3") as client:
            await client.get("/rate_limit")

    asyncio.run(run())
    assert [e.operation_id for e in recorder.exchanges] == ["rate-limit/get"]
    recorder.assert_conforms()


def test_recorder_skips_routes_outside_the_api() -> None:
    recorder = ExchangeRecorder(skip=lambda method, path: path.startswith("/_sandbox/"))
    transport = ValidatingTransport(recorder, httpx.MockTransport(mock_handler))
    with httpx.Client(transport=transport, base_url="http://127.0.0.1:1") as client:
        client.post("/_sandbox/users", json={"login": "x"})
    assert recorder.exchanges == []


def test_requests_adapter_and_pygithub_against_a_server() -> None:
    recorder = ExchangeRecorder()
    with ThreadedServer(github_like_app) as server:
        session = requests.Session()
        session.mount("http://", ValidatingAdapter(recorder))
        assert session.get(f"{server.url}/api/v3/rate_limit").status_code == 200
        assert recorder.exchanges[-1].operation_id == "rate-limit/get"

        with validating_pygithub(recorder):
            gh = Github(base_url=f"{server.url}/api/v3", auth=Auth.Token("t"), retry=None)
            assert gh.get_user("octocat").login == "octocat"
            assert gh.get_rate_limit() is not None
            gh.get_user("ghost")
    assert [e.operation_id for e in recorder.exchanges] == [
        "rate-limit/get",
        "users/get-by-username",
        "rate-limit/get",
        "users/get-by-username",
    ]
    assert recorder.violations == [
        "GET /users/{username}: response body: $: 'login' is a required property "
        f"[200 {server.url}/api/v3/users/ghost]"
    ]
