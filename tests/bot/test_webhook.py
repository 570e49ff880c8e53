"""POST /webhooks/github: verify, parse, store once, acknowledge; never a 500 on bad input."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from bot import webhook
from bot.adapters.clock import FakeClock
from bot.app import create_app
from bot.core.signatures import sign
from bot.queue import DeliveryQueue
from bot.router import HandlerContext, Router
from bot.settings import Settings
from bot.store import Store
from bot.worker import Worker
from tests.bot.conftest import PING_ONLY, SECRET

URL = "/webhooks/github"
PAYLOAD: dict[str, Any] = {
    "action": "created",
    "issue": {
        "number": 12,
        "pull_request": {"url": "https://api.github.com/repos/acme/shop/pulls/12"},
    },
    "comment": {"id": 1, "body": "/deploy prod", "user": {"login": "octocat", "type": "User"}},
    "repository": {"id": 99, "name": "shop", "full_name": "acme/shop", "private": False},
    "installation": {"id": 31337, "node_id": "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uMzEzMzc="},
    "sender": {"login": "octocat", "type": "User"},
}
BODY = json.dumps(PAYLOAD).encode()


def headers(body: bytes, *, event: str = "issue_comment", delivery: str = "d-1") -> dict[str, str]:
    return {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": sign(body, SECRET.encode()),
        "Content-Type": "application/json",
    }


@pytest.fixture
def client(store: Store, clock: FakeClock, settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, router=PING_ONLY, store=store, clock=clock)) as client:
        yield client


def stored(store: Store) -> dict[str, int]:
    return DeliveryQueue(store).counts()


def test_a_signed_delivery_is_stored_and_acknowledged(
    client: TestClient, store: Store, clock: FakeClock
) -> None:
    response = client.post(URL, content=BODY, headers=headers(BODY))
    assert (response.status_code, response.content) == (202, b"")
    delivery = DeliveryQueue(store).get("d-1")
    assert delivery is not None
    assert (delivery.event, delivery.action, delivery.installation_id, delivery.repository) == (
        "issue_comment",
        "created",
        31337,
        "acme/shop",
    )
    assert (delivery.payload, delivery.state, delivery.received_at) == (
        PAYLOAD,
        "queued",
        clock.now(),
    )


@pytest.mark.parametrize(
    ("signature", "body", "reason"),
    [
        (None, BODY, "missing X-Hub-Signature-256"),
        ("sha256=nothex", BODY, "malformed"),
        ("sha1=" + "a" * 40, BODY, "malformed"),
        (sign(BODY, b"wrong secret"), BODY, "does not match"),
        (
            sign(BODY, SECRET.encode()),
            BODY.replace(b"/deploy prod", b"/deploy dev!"),
            "does not match",
        ),
    ],
    ids=["missing", "malformed", "sha1", "wrong-secret", "body-tampered"],
)
def test_bad_signatures_are_refused_and_nothing_is_stored(
    client: TestClient,
    store: Store,
    caplog: pytest.LogCaptureFixture,
    signature: str | None,
    body: bytes,
    reason: str,
) -> None:
    sent = headers(BODY)
    del sent["X-Hub-Signature-256"]
    if signature is not None:
        sent["X-Hub-Signature-256"] = signature
    with caplog.at_level(logging.DEBUG):
        response = client.post(URL, content=body, headers=sent)
    assert response.status_code == 401
    assert reason in response.json()["reason"]
    assert stored(store) == {}
    lines = [r for r in caplog.records if r.name == "bot.webhook"]
    assert len(lines) == 1 and reason in lines[0].getMessage()
    assert SECRET not in caplog.text
    assert "/deploy" not in caplog.text  # no body in the logs


def test_bodies_over_25_mb_are_refused(client: TestClient, store: Store) -> None:
    body = b"{" + b" " * (25 * 1024 * 1024) + b"}"
    response = client.post(URL, content=body, headers=headers(body))
    assert response.status_code == 413
    assert stored(store) == {}


def test_a_streamed_body_is_cut_off_at_the_limit(
    client: TestClient, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(webhook, "MAX_BODY_BYTES", 1000)

    def chunks() -> Iterator[bytes]:  # no Content-Length: the endpoint must count
        for _ in range(50):
            yield b" " * 100

    response = client.post(URL, content=chunks(), headers=headers(b""))
    assert response.status_code == 413
    assert stored(store) == {}


@pytest.mark.parametrize(
    ("drop", "body", "reason"),
    [
        ("X-GitHub-Event", BODY, "missing X-GitHub-Event"),
        ("X-GitHub-Delivery", BODY, "missing X-GitHub-Delivery"),
        (None, b"{truncated", "not valid JSON"),
        (None, b"[]", "JSON object"),
    ],
)
def test_signed_but_unusable_deliveries_get_400(
    client: TestClient, store: Store, drop: str | None, body: bytes, reason: str
) -> None:
    sent = headers(body)
    if drop:
        del sent[drop]
    response = client.post(URL, content=body, headers=sent)
    assert response.status_code == 400
    assert reason in response.json()["reason"]
    assert stored(store) == {}


def test_ping_is_answered_and_not_queued(client: TestClient, store: Store) -> None:
    body = json.dumps({"zen": "Keep it logically awesome.", "hook_id": 1}).encode()
    response = client.post(URL, content=body, headers=headers(body, event="ping"))
    assert (response.status_code, response.json()) == (200, {"status": "pong"})
    assert stored(store) == {}


def test_a_delivery_sent_five_times_is_stored_and_processed_once(
    client: TestClient, store: Store, clock: FakeClock, settings: Settings
) -> None:
    codes = [client.post(URL, content=BODY, headers=headers(BODY)).status_code for _ in range(5)]
    assert codes == [202, 200, 200, 200, 200]
    assert client.post(URL, content=BODY, headers=headers(BODY)).json()["status"] == "duplicate"
    assert stored(store) == {"queued": 1}
    handled: list[str] = []
    router = Router()
    router.register("issue_comment", action="created")(
        lambda event, ctx: handled.append(event.delivery_id)
    )
    worker = Worker(HandlerContext.build(settings, store, clock), router)
    worker.run_until_idle()
    client.post(URL, content=BODY, headers=headers(BODY))  # after processing, still a duplicate
    worker.run_until_idle()
    assert handled == ["d-1"]


def test_storage_failure_answers_503_not_500(
    sqlite_store: Store, clock: FakeClock, settings: Settings
) -> None:
    with TestClient(
        create_app(settings, router=PING_ONLY, store=sqlite_store, clock=clock)
    ) as client:
        with sqlite_store.engine.begin() as connection:
            connection.exec_driver_sql("DROP TABLE deliveries")
        response = client.post(URL, content=BODY, headers=headers(BODY))
    assert response.status_code == 503


def test_without_a_configured_secret_every_delivery_is_refused(
    sqlite_store: Store, clock: FakeClock, settings: Settings
) -> None:
    unconfigured = settings.model_copy(update={"webhook_secret": None})
    with TestClient(
        create_app(unconfigured, router=PING_ONLY, store=sqlite_store, clock=clock)
    ) as client:
        response = client.post(URL, content=BODY, headers=headers(BODY))
    assert response.status_code == 401
    assert stored(sqlite_store) == {}


def test_the_webhook_takes_only_post(client: TestClient, store: Store) -> None:
    response = client.get(URL, headers=headers(BODY))
    assert (response.status_code, response.headers["allow"]) == (405, "POST")
    assert stored(store) == {}
