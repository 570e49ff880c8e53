"""Fixtures: a running sandbox GitHub in a temporary data dir, and a webhook receiver."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox.github import GitHubState, create_app
from sandbox.serving import ThreadedServer


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def event(self) -> str:
        return self.headers["x-github-event"]

    @property
    def payload(self) -> dict[str, Any]:
        return json.loads(self.body)


@dataclass
class Receiver:
    """Records every webhook POSTed to it; answers ``status`` (200 by default)."""

    url: str = ""
    status: int = 200
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def events(self) -> list[tuple[str, str | None]]:
        with self.lock:
            return [(r.event, r.payload.get("action")) for r in self.received]

    def of(self, event: str, action: str | None = None) -> list[Received]:
        with self.lock:
            return [
                r
                for r in self.received
                if r.event == event and (action is None or r.payload.get("action") == action)
            ]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    recorder = Receiver()

    async def hook(request: Request) -> Response:
        body = await request.body()
        with recorder.lock:
            recorder.received.append(Received(dict(request.headers), body))
        return Response(b"ok", recorder.status)

    with ThreadedServer(Starlette(routes=[Route("/hook", hook, methods=["POST"])])) as server:
        recorder.url = f"{server.url}/hook"
        yield recorder


class Sandbox:
    """A running sandbox GitHub plus shortcuts over its control API."""

    def __init__(self, state: GitHubState, server: ThreadedServer):
        self.state = state
        self.server = server
        self.url = server.url
        self.control = httpx.Client(base_url=server.url, timeout=30)

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.control.request(method, f"/_sandbox{path}", **kwargs)
        assert response.status_code < 300, response.text
        return response.json()

    def user(self, login: str) -> str:
        return str(self.call("POST", "/users", json={"login": login})["token"])

    def repo(self, owner: str, name: str, files: dict[str, str] | None = None, **extra: Any) -> Any:
        body = {"owner": owner, "name": name, "files": files or {"README.md": "hello\n"}, **extra}
        return self.call("POST", "/repos", json=body)

    def install(self, account: str, repositories: list[str] | None = None) -> int:
        return int(
            self.call(
                "POST", "/installations", json={"account": account, "repositories": repositories}
            )["id"]
        )

    def token(self, installation_id: int) -> str:
        return str(self.call("POST", f"/installations/{installation_id}/tokens")["token"])

    def api(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"token {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def flush(self) -> None:
        assert self.call("POST", "/webhooks/flush")["flushed"] is True


def start(data_dir: Path, webhook_url: str | None = None) -> tuple[GitHubState, ThreadedServer]:
    state = GitHubState.open(data_dir)
    if webhook_url:
        state.set_webhook(webhook_url)
    server = ThreadedServer(create_app(state)).start()
    return state, server


@pytest.fixture
def gh(tmp_path: Path, receiver: Receiver) -> Iterator[Sandbox]:
    state, server = start(tmp_path / "github", receiver.url)
    sandbox = Sandbox(state, server)
    try:
        yield sandbox
    finally:
        sandbox.control.close()
        server.stop()
        state.close()


@dataclass
class World:
    """alice owns ``alice/app`` with the App installed; ``token`` is an installation token;
    ``hooks`` received the App's webhooks."""

    gh: Sandbox
    alice: str
    installation: int
    token: str
    hooks: Receiver


@pytest.fixture
def world(gh: Sandbox, receiver: Receiver) -> World:
    alice = gh.user("alice")
    gh.repo("alice", "app", {"README.md": "hello\n", "src/app.py": "print('hi')\n"})
    installation = gh.install("alice", ["app"])
    return World(gh, alice, installation, gh.token(installation), receiver)
