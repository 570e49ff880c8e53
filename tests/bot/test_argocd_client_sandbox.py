"""The Argo CD client and the follow logic end to end against the sandbox Argo CD.

The sandbox reads a real git repository and renders it with Kustomize; its rollout timing
runs on a manual clock. Every request the client sends goes through a transport that checks
it (and every non-streamed answer) against Argo CD's swagger.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.adapters.argocd import ArgoCD, ArgoUnavailable, BreakerState, CircuitBreaker, RetryPolicy
from bot.adapters.clock import FakeClock
from bot.core.argo import AUTH_HINT, ArgoNotFound, WatchEvent
from bot.core.errors import PermanentError, TransientError
from bot.core.follow import Failed, FailureReason, Followed, InProgress, Succeeded, evaluate
from sandbox.argocd import ArgoState, ManualClock, create_app
from sandbox.serving import ThreadedServer
from tests.sandbox.argocd.gitops import ENV, GitopsRepo
from tests.support.argocd_swagger import validate_argocd_request, validate_argocd_response

STREAMED = ("/logs", "/stream/applications")


class SwaggerCheckingTransport(httpx.BaseTransport):
    """Sends over a real connection; records swagger violations of requests and answers."""

    def __init__(self, problems: list[str], sent: list[str]) -> None:
        self.inner = httpx.HTTPTransport()
        self.problems, self.sent = problems, sent

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        params = request.url.params
        query = {k: (v[0] if len(v) == 1 else v) for k in params for v in [params.get_list(k)]}
        body = request.read() or None
        where = f"{request.method} {request.url.path}"
        found = validate_argocd_request(request.method, request.url.path, query, body)
        self.problems += [f"{where}: {p}" for p in found]
        self.sent.append(where)
        response = self.inner.handle_request(request)
        if request.url.path.endswith(STREAMED):
            return response
        content = response.read()
        found = validate_argocd_response(
            request.method, request.url.path, response.status_code, content
        )
        self.problems += [f"answer to {where}: {p}" for p in found]
        return httpx.Response(response.status_code, headers=response.headers, content=content)

    def close(self) -> None:
        self.inner.close()


class Box:
    def __init__(self, state: ArgoState, clock: ManualClock, url: str, repo: GitopsRepo):
        self.state, self.clock, self.url, self.repo = state, clock, url, repo
        self.problems: list[str] = []
        self.sent: list[str] = []
        self.breaker_clock = FakeClock()
        self.client = self.make_client(state.token)

    def make_client(self, token: str, **options: Any) -> ArgoCD:
        return ArgoCD(
            self.url,
            token,
            clock=self.breaker_clock,
            transport=SwaggerCheckingTransport(self.problems, self.sent),
            sleep=lambda _: None,
            **options,
        )

    def control(self, path: str, body: Any) -> None:
        response = httpx.post(f"{self.url}/_sandbox/{path}", json=body, timeout=10)
        assert response.status_code == 200, response.text

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.state.tick()

    def is_descendant(self, revision: str, ancestor: str) -> bool:
        proc = subprocess.run(
            ["git", "merge-base", "--is-ancestor", ancestor, revision],
            cwd=self.repo.work,
            env=ENV,
            capture_output=True,
        )
        return proc.returncode == 0

    def deploy(self, env: str, tag: str) -> Followed:
        sha = self.repo.set_image("web", env, tag)
        now = self.clock.now()
        return Followed("web", env, sha, now, now + timedelta(minutes=10))

    def follow(self, followed: Followed, *, max_seconds: int = 60) -> tuple[object, list[str]]:
        """Observe once a second (sandbox time) until a verdict other than InProgress."""
        phases: list[str] = []
        # The first look asks Argo CD to compare with git at once, as the watcher does after
        # a commit; later ones only when the verdict says the health on show is stale.
        refresh: Any = "normal"
        for _ in range(max_seconds):
            status = self.client.get_application(followed.application, refresh=refresh)
            result = evaluate(
                followed,
                status,
                self.clock.now(),
                is_descendant=self.is_descendant,
                settle_seconds=3,
            )
            followed = result.followed
            if not isinstance(result.verdict, InProgress):
                return result.verdict, phases
            phases.append(result.verdict.phase)
            refresh = "normal" if result.verdict.needs_refresh else None
            self.advance(1)
        raise AssertionError(f"no verdict after {max_seconds}s: {phases[-3:]}")


@pytest.fixture
def box(tmp_path: Path) -> Iterator[Box]:
    repo = GitopsRepo(tmp_path)
    repo.seed()
    clock = ManualClock()
    state = ArgoState(
        tmp_path / "argocd-data", repo.url, poll_interval=3600, progressing_seconds=5, clock=clock
    )
    server = ThreadedServer(create_app(state)).start()
    state.poll_now()
    sandbox = Box(state, clock, server.url, repo)
    try:
        yield sandbox
    finally:
        sandbox.client.close()
        state.stop()
        server.stop()
    assert sandbox.problems == []


def test_list_by_selector_and_read_one(box: Box) -> None:
    apps = box.client.list_applications("autostack.dev/app=web")
    assert sorted(a.name for a in apps) == ["web-dev", "web-prod"]
    assert {a.labels["autostack.dev/env"] for a in apps if a.labels} == {"dev", "prod"}
    with pytest.raises(ArgoNotFound):
        box.client.get_application("nope-dev")


def test_a_healthy_deploy_is_followed_to_success(box: Box) -> None:
    box.advance(6)  # let the seeded version settle first
    followed = box.deploy("dev", "v2")
    verdict, phases = box.follow(followed)
    assert verdict == Succeeded(followed.gitops_sha)
    assert any("Progressing" in p for p in phases)
    # Argo CD judged it Healthy when the rollout ended, 5 s after the sync: past the 3 s
    # settle time, so final at once, without a streak.
    assert not any(p.startswith("healthy; watching") for p in phases)
    status = box.client.get_application("web-dev")
    assert status.images == ("ghcr.io/acme/web:v2",)


def test_stale_health_is_not_counted(box: Box) -> None:
    # web-prod syncs by hand: bring the seeded version up and healthy first.
    seeded = box.client.get_application("web-prod").sync_revision
    box.client.sync("web-prod", revision=seeded)
    box.state.wait_idle()
    box.advance(6)
    assert box.client.get_application("web-prod").health_status == "Healthy"

    # A commit that renders the same: Argo CD finds it Synced before any sync runs, so only
    # the freshness of the health tells a verdict on it from one on the previous version.
    box.repo.write("README.md", "GitOps repository, now with a note\n")
    sha = box.repo.commit("Add a note")
    now = box.clock.now()
    followed = Followed("web", "prod", sha, now, now + timedelta(minutes=10))
    box.advance(1)
    assert box.client.get_application("web-prod", refresh="normal").sync_status == "Synced"
    box.advance(1)
    box.control("stale-status", {"enabled": True})  # Argo CD stops looking...
    box.client.sync("web-prod", revision=sha)  # ...while a sync runs and finishes
    box.state.wait_idle()
    box.advance(6)
    status = box.client.get_application("web-prod")
    assert (status.sync_status, status.sync_revision) == ("Synced", sha)
    assert (status.operation_phase, status.operation_revision) == ("Succeeded", sha)
    assert status.health_status == "Healthy"
    assert status.reconciled_at is not None and status.operation_finished_at is not None
    assert status.reconciled_at < status.operation_finished_at
    now = box.clock.now()
    result = evaluate(followed, status, now, is_descendant=box.is_descendant, settle_seconds=0)
    assert result.verdict == InProgress(
        "synced; waiting for Argo CD to check health again after the sync (last: Healthy)",
        needs_refresh=True,
    )

    box.control("stale-status", {"enabled": False})
    verdict, _ = box.follow(followed)
    assert verdict == Succeeded(sha)


def test_a_bad_image_fails_and_the_client_finds_why(box: Box) -> None:
    lines = ["booting", "panic: cannot connect to database"]
    box.control("bad-images", {"image": "ghcr.io/acme/web:v2*", "logLines": lines})
    box.advance(6)
    followed = box.deploy("dev", "v2")
    verdict, _ = box.follow(followed)
    assert isinstance(verdict, Failed)
    assert verdict.reason is FailureReason.DEGRADED
    assert any('Deployment "web" exceeded its progress deadline' in d for d in verdict.details)

    pod = next(n for n in box.client.resource_tree("web-dev") if n.kind == "Pod")
    assert pod.health_status == "Degraded"
    events = box.client.events(
        "web-dev", resource_name=pod.name, resource_namespace=pod.namespace, resource_uid=pod.uid
    )
    assert "BackOff" in [e.reason for e in events]
    logs = box.client.pod_logs("web-dev", pod.name, "web", tail_lines=2, namespace=pod.namespace)
    assert [line.content for line in logs] == lines


def test_sync_of_a_manual_app_to_a_revision(box: Box) -> None:
    followed = box.deploy("prod", "v2")
    before = box.client.get_application("web-prod", refresh="normal")
    assert before.sync_status == "OutOfSync"
    status = box.client.sync("web-prod", revision=followed.gitops_sha)
    assert status.operation_pending or status.operation_phase == "Running"
    verdict, _ = box.follow(followed)
    assert verdict == Succeeded(followed.gitops_sha)


def test_watch_reports_the_change_of_a_deploy(box: Box) -> None:
    seen: list[WatchEvent] = []
    ready = threading.Event()
    sha_box: list[str] = []

    def watch() -> None:
        for event in box.client.watch("autostack.dev/env=dev"):
            seen.append(event)
            ready.set()
            if sha_box and event.application.sync_revision == sha_box[0]:
                return

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    assert ready.wait(10), "the watch never delivered the initial ADDED events"
    sha_box.append(box.deploy("dev", "v2").gitops_sha)
    box.state.poll_now()
    thread.join(10)
    assert not thread.is_alive()
    assert {e.application.name for e in seen if e.type == "ADDED"} == {"web-dev", "api-dev"}
    assert seen[-1].type == "MODIFIED"
    assert seen[-1].application.name == "web-dev"


def test_an_outage_opens_the_breaker_which_recovers_after_the_cool_down(box: Box) -> None:
    breaker = CircuitBreaker(box.breaker_clock, failure_threshold=3, cooldown_seconds=30)
    client = box.make_client(box.state.token, breaker=breaker, retry=RetryPolicy(attempts=2))
    box.control("outage", {"mode": "503"})
    with pytest.raises(TransientError, match="HTTP 503"):
        client.get_application("web-dev")  # two attempts
    with pytest.raises(ArgoUnavailable):
        client.get_application("web-dev")  # the third failure opened it mid-retry
    assert client.state is BreakerState.OPEN
    sent = len(box.sent)
    with pytest.raises(ArgoUnavailable):
        client.list_applications()
    assert len(box.sent) == sent

    box.control("outage", {"mode": None})
    box.breaker_clock.advance(30)
    assert client.state is BreakerState.HALF_OPEN
    assert client.get_application("web-dev").name == "web-dev"
    assert client.state is BreakerState.CLOSED
    client.close()


def test_a_dropped_connection_is_transient(box: Box) -> None:
    client = box.make_client(box.state.token, retry=RetryPolicy(attempts=1))
    box.control("outage", {"mode": "drop"})
    try:
        with pytest.raises(TransientError):
            client.get_application("web-dev")
    finally:
        box.control("outage", {"mode": None})
        client.close()


def test_a_wrong_token_says_how_to_fix_it(box: Box) -> None:
    client = box.make_client("not-the-token")
    with pytest.raises(PermanentError) as raised:
        client.get_application("web-dev")
    assert raised.value.hint == AUTH_HINT
    assert "not-the-token" not in str(raised.value)
    client.close()
