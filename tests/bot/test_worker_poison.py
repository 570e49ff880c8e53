"""Deliveries that can never be handled: the worker dead-letters them with the reason, once,
instead of looping on them, and the workers go on with the rest of the queue."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from bot.adapters.clock import FakeClock
from bot.core.errors import PermanentError, UserError
from bot.core.events import Event, IncomingDelivery, JSONText
from bot.queue import DeliveryQueue
from bot.router import HandlerContext, Router
from bot.settings import Settings
from bot.store import Store
from bot.worker import Worker

LEASE = timedelta(seconds=30)
# Stored before ingest refused such bodies: it decodes nowhere in Python (RecursionError).
TOO_DEEP = JSONText('{"action":"created","x":' + "[" * 5000 + "]" * 5000 + "}")


def incoming(delivery_id: str, payload: JSONText | None = None) -> IncomingDelivery:
    body = payload or JSONText(json.dumps({"action": "created", "id": delivery_id}))
    return IncomingDelivery(delivery_id, "issue_comment", "created", 7, "acme/shop", body)


@pytest.fixture
def handled() -> list[str]:
    return []


@pytest.fixture
def worker(store: Store, clock: FakeClock, settings: Settings, handled: list[str]) -> Worker:
    router = Router()

    @router.register("issue_comment", action="created")
    def handle(event: Event, ctx: HandlerContext) -> None:
        if event.payload.get("recurse"):
            raise RecursionError("maximum recursion depth exceeded")
        if event.payload.get("quote"):
            raise PermanentError("comment says " + event.payload["quote"])
        if event.payload.get("answer"):
            raise UserError("unknown environment " + event.payload["answer"])
        handled.append(event.delivery_id)

    return Worker(HandlerContext.build(settings, store, clock), router, lease=LEASE)


def test_an_undecodable_payload_is_dead_lettered_once_and_the_queue_goes_on(
    worker: Worker, clock: FakeClock, handled: list[str]
) -> None:
    queue = worker.queue
    queue.enqueue(incoming("deep", TOO_DEEP), clock.now())
    clock.advance(1)
    queue.enqueue(incoming("after"), clock.now())
    assert worker.run_until_idle() == 2
    dead = queue.get("deep")
    assert dead is not None and (dead.state, dead.attempts) == ("dead", 1)
    assert "does not decode: RecursionError" in (dead.last_error or "")
    assert handled == ["after"]
    clock.advance(3600)
    assert worker.run_until_idle() == 0  # not claimed again


def test_a_handler_recursing_too_deep_is_dead_lettered_not_retried(
    worker: Worker, clock: FakeClock
) -> None:
    worker.queue.enqueue(
        incoming("r", JSONText('{"action":"created","recurse":true}')), clock.now()
    )
    assert worker.run_until_idle() == 1
    stored = worker.queue.get("r")
    assert stored is not None and stored.state == "dead"
    assert "RecursionError" in (stored.last_error or "")


@pytest.mark.parametrize("quote", ["\x00", "\ud800", "\x1b[2J"], ids=["nul", "surrogate", "escape"])
@pytest.mark.parametrize("kind", ["quote", "answer"], ids=["permanent", "user"])
def test_an_error_quoting_unstorable_text_is_still_recorded(
    worker: Worker, clock: FakeClock, quote: str, kind: str
) -> None:
    """The reason quotes the payload; PostgreSQL cannot hold a NUL and no driver sends a
    lone surrogate: had the outcome's own write failed, the delivery would be claimed
    again and again, until its lease ran out each time."""
    payload = JSONText(json.dumps({"action": "created", kind: quote}))
    worker.queue.enqueue(incoming("q", payload), clock.now())
    assert worker.run_until_idle() == 1
    stored = worker.queue.get("q")
    assert stored is not None
    if kind == "quote":
        assert stored.state == "dead"
        assert (stored.last_error or "").startswith("PermanentError: comment says ")
    else:
        assert stored.state == "done"
        assert (stored.last_error or "").startswith("user error: unknown environment ")


def test_reading_and_listing_never_decode_the_payload(store: Store, clock: FakeClock) -> None:
    queue = DeliveryQueue(store)
    queue.enqueue(incoming("deep", TOO_DEEP), clock.now())
    [listed] = queue.list()
    stored = queue.get("deep")
    claimed = queue.claim("w", LEASE, clock.now())
    assert listed.delivery_id == "deep" and stored is not None and claimed is not None
    assert claimed.payload_text == TOO_DEEP
    with pytest.raises(ValueError, match="does not decode"):
        claimed.to_event()
