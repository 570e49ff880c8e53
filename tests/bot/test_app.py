"""The served app: health, readiness, metrics, and background workers behind real HTTP."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient

from bot.adapters.clock import FakeClock
from bot.app import create_app
from bot.audit import AuditLog
from bot.core.events import Event
from bot.core.signatures import sign
from bot.queue import DeliveryQueue
from bot.router import HandlerContext, Router
from bot.settings import ConfigError, Settings
from bot.store import Store
from sandbox.serving import ThreadedServer
from tests.bot.conftest import PING_ONLY, SECRET


def signed(body: bytes, delivery: str) -> dict[str, str]:
    return {
        "X-GitHub-Event": "issue_comment",
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": sign(body, SECRET.encode()),
    }


@pytest.fixture
def client(sqlite_store: Store, clock: FakeClock, settings: Settings) -> Iterator[TestClient]:
    with TestClient(
        create_app(settings, router=PING_ONLY, store=sqlite_store, clock=clock)
    ) as client:
        yield client


def test_an_app_without_handlers_is_refused(settings: Settings) -> None:
    """It would acknowledge every webhook and act on none."""
    with pytest.raises(ConfigError, match="no webhook handlers are registered"):
        create_app(settings, router=Router())


def test_healthz(client: TestClient) -> None:
    response = client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_readyz_checks_the_database_and_added_checks(
    sqlite_store: Store, clock: FakeClock, settings: Settings
) -> None:
    breaker_open = threading.Event()

    def argocd() -> None:
        if breaker_open.is_set():
            raise RuntimeError("circuit open")

    app = create_app(
        settings,
        router=PING_ONLY,
        store=sqlite_store,
        clock=clock,
        readiness_checks={"argocd": argocd},
    )
    with TestClient(app) as client:
        ready = client.get("/readyz")
        assert (ready.status_code, ready.json()) == (
            200,
            {"status": "ready", "checks": {"handlers": "ok", "argocd": "ok", "database": "ok"}},
        )
        breaker_open.set()
        not_ready = client.get("/readyz")
        assert not_ready.status_code == 503
        assert not_ready.json()["checks"] == {
            "handlers": "ok",
            "argocd": "failing: RuntimeError",
            "database": "ok",
        }


def test_readyz_fails_when_the_database_is_unreachable(
    clock: FakeClock, settings: Settings
) -> None:
    store = Store.open(f"sqlite:///{settings.data_dir / 'x.db'}")
    with TestClient(create_app(settings, router=PING_ONLY, store=store, clock=clock)) as client:
        store.engine.pool.dispose()
        moved = settings.data_dir.rename(settings.data_dir.with_name("moved"))
        try:
            response = client.get("/readyz")
        finally:
            moved.rename(settings.data_dir)
        assert client.get("/readyz").status_code == 200
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == "failing: OperationalError"


def test_metrics_expose_deliveries_and_queue_depth(client: TestClient) -> None:
    body = json.dumps({"action": "created"}).encode()
    client.post("/webhooks/github", content=body, headers=signed(body, "d-1"))
    client.post("/webhooks/github", content=body, headers=signed(body, "d-1"))
    client.post("/webhooks/github", content=body, headers={"X-GitHub-Event": "push"})
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    for line in (
        'autostack_webhook_deliveries_total{event="issue_comment",outcome="queued"} 1.0',
        'autostack_webhook_deliveries_total{event="issue_comment",outcome="duplicate"} 1.0',
        'autostack_webhook_deliveries_total{event="unverified",outcome="rejected"} 1.0',
        'autostack_queue_depth{state="queued"} 1.0',
    ):
        assert line in text
    for name in (
        "autostack_delivery_processing_seconds",
        "autostack_github_rate_limit_remaining",
        "autostack_commands_total",
    ):
        assert f"# TYPE {name}" in text


def test_two_apps_do_not_share_metrics(
    sqlite_store: Store, clock: FakeClock, settings: Settings
) -> None:
    first = create_app(settings, router=PING_ONLY, store=sqlite_store, clock=clock)
    second = create_app(settings, router=PING_ONLY, store=sqlite_store, clock=clock)
    first.state.metrics.commands.labels("deploy", "ran").inc()
    assert (
        second.state.metrics.registry.get_sample_value(
            "autostack_commands_total", {"command": "deploy", "outcome": "ran"}
        )
        is None
    )


def test_served_app_migrates_and_processes_deliveries_in_the_background(
    settings: Settings,
) -> None:
    """Through uvicorn on loopback, with the default SQLite file in the data dir."""
    handled = threading.Event()
    router = Router()

    @router.register("issue_comment", action="created")
    def handle(event: Event, ctx: HandlerContext) -> None:
        ctx.audit.record("command", actor=event.sender or "?", summary="seen")
        handled.set()

    served = settings.model_copy(update={"workers": 2})
    body = json.dumps({"action": "created", "sender": {"login": "octocat"}}).encode()
    with ThreadedServer(create_app(served, router=router)) as server:
        response = httpx.post(
            f"{server.url}/webhooks/github", content=body, headers=signed(body, "d-9")
        )
        assert response.status_code == 202
        assert handled.wait(5)
    assert (settings.data_dir / "autostack.db").is_file()
    store = Store.open(settings.database_url.get_secret_value())
    assert [e.actor for e in AuditLog(store).entries()] == ["octocat"]
    assert DeliveryQueue(store).counts() == {"done": 1}
    store.dispose()
