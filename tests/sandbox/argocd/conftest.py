"""Fixtures: a seeded GitOps repo, a sandbox Argo CD on a loopback port, a checking client."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sandbox.argocd import ArgoState, ManualClock, create_app
from sandbox.serving import ThreadedServer
from tests.sandbox.argocd.gitops import GitopsRepo
from tests.support.argocd_swagger import validate_argocd_request, validate_argocd_response


class CheckedClient:
    """An httpx client for /api/v1 that fails the test on any swagger violation."""

    def __init__(self, base_url: str, token: str | None):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=base_url, headers=headers, timeout=10)
        self.checked = 0

    def request(
        self, method: str, path: str, params: dict[str, Any] | None = None, body: Any = None
    ) -> httpx.Response:
        assert validate_argocd_request(method, path, params, body) == []
        content = json.dumps(body) if body is not None else None
        response = self.http.request(method, path, params=params, content=content)
        violations = validate_argocd_response(method, path, response.status_code, response.content)
        assert violations == [], violations
        self.checked += 1
        return response

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.request("GET", path, params or None)

    def app(self, name: str, **params: Any) -> dict[str, Any]:
        response = self.get(f"/api/v1/applications/{name}", **params)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def sync(self, name: str, **body: Any) -> httpx.Response:
        return self.request("POST", f"/api/v1/applications/{name}/sync", body=body)

    def stream_messages(self, response: httpx.Response) -> list[dict[str, Any]]:
        violations = validate_argocd_response("GET", str(response.url.path), 200, response.text)
        assert violations == [], violations
        return [json.loads(line) for line in response.text.splitlines() if line.strip()]


class Sandbox:
    def __init__(
        self, state: ArgoState, clock: ManualClock, server: ThreadedServer, repo: GitopsRepo
    ):
        self.state, self.clock, self.server, self.repo = state, clock, server, repo
        self.client = CheckedClient(server.url, state.token)

    def control(self, method: str, path: str, body: Any = None) -> Any:
        response = httpx.request(
            method, f"{self.server.url}/_sandbox/{path}", json=body, timeout=10
        )
        assert response.status_code == 200, response.text
        return response.json()

    def advance(self, seconds: float) -> None:
        """Move time on and let the controller notice (health and slow syncs are time-driven)."""
        self.clock.advance(seconds)
        self.state.tick()


@pytest.fixture
def gitops(tmp_path: Path) -> GitopsRepo:
    repo = GitopsRepo(tmp_path)
    repo.seed()
    return repo


@pytest.fixture
def sandbox(tmp_path: Path, gitops: GitopsRepo) -> Iterator[Sandbox]:
    clock = ManualClock()
    state = ArgoState(
        tmp_path / "argocd-data",
        gitops.url,
        poll_interval=3600,
        progressing_seconds=5,
        clock=clock,
    )
    server = ThreadedServer(create_app(state)).start()
    box = Sandbox(state, clock, server, gitops)
    state.poll_now()
    try:
        yield box
    finally:
        box.client.http.close()
        state.stop()
        server.stop()
