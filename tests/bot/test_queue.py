"""The durable queue on SQLite and PostgreSQL: claim, lease, expiry, retry, dead letters."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event

from bot.adapters.clock import FakeClock
from bot.core.events import IncomingDelivery
from bot.queue import DeliveryQueue, backoff_seconds
from bot.store import Store

LEASE = timedelta(seconds=60)


def incoming(delivery_id: str, event: str = "issue_comment") -> IncomingDelivery:
    payload = {"action": "created", "repository": {"full_name": "acme/shop"}, "n": delivery_id}
    return IncomingDelivery(delivery_id, event, "created", 42, "acme/shop", payload)


def test_enqueue_is_idempotent_per_delivery_id(store: Store, clock: FakeClock) -> None:
    queue = DeliveryQueue(store)
    assert queue.enqueue(incoming("d1"), clock.now()) is True
    for _ in range(4):
        assert queue.enqueue(incoming("d1"), clock.now()) is False
    assert queue.counts() == {"queued": 1}
    stored = queue.get("d1")
    assert stored is not None
    assert stored.payload == incoming("d1").payload
    assert (stored.installation_id, stored.repository) == (42, "acme/shop")
    assert stored.received_at == clock.now()


def test_claims_in_arrival_order_and_only_once(store: Store, clock: FakeClock) -> None:
    queue = DeliveryQueue(store)
    for n in range(3):
        queue.enqueue(incoming(f"d{n}"), clock.now())
        clock.advance(1)
    claimed = [queue.claim("w1", LEASE, clock.now()) for _ in range(4)]
    assert [c.delivery_id if c else None for c in claimed] == ["d0", "d1", "d2", None]
    first = claimed[0]
    assert first is not None
    assert (first.state, first.attempts, first.lease_owner) == ("running", 1, "w1")
    assert first.lease_expires_at == clock.now() + LEASE
    assert first.to_event().attempt == 1


def test_an_expired_lease_is_claimed_again_and_fences_the_old_worker(
    store: Store, clock: FakeClock
) -> None:
    queue = DeliveryQueue(store)
    queue.enqueue(incoming("d1"), clock.now())
    dead_worker = queue.claim("w-dead", LEASE, clock.now())
    assert dead_worker is not None
    clock.advance(59)
    assert queue.claim("w2", LEASE, clock.now()) is None  # lease still valid
    clock.advance(1)
    second = queue.claim("w2", LEASE, clock.now())
    assert second is not None
    assert (second.attempts, second.lease_owner) == (2, "w2")
    # The first worker wakes up late: neither its result nor its failure may land.
    assert queue.complete(dead_worker, clock.now()) is False
    assert queue.fail(dead_worker, "late", permanent=True, now=clock.now()) is None
    assert queue.complete(second, clock.now()) is True
    done = queue.get("d1")
    assert done is not None
    assert (done.state, done.lease_owner, done.finished_at) == ("done", "w2", clock.now())
    assert queue.complete(second, clock.now()) is False  # completing twice changes nothing


def test_transient_failure_backs_off_and_honours_retry_after(
    store: Store, clock: FakeClock
) -> None:
    queue = DeliveryQueue(store, rng=random.Random(7))
    queue.enqueue(incoming("d1"), clock.now())
    claimed = queue.claim("w1", LEASE, clock.now())
    assert claimed is not None
    assert queue.fail(claimed, "GitHub 502", permanent=False, now=clock.now()) == "failed"
    failed = queue.get("d1")
    assert failed is not None
    assert (failed.state, failed.last_error, failed.lease_expires_at) == (
        "failed",
        "GitHub 502",
        None,
    )
    # First retry after 1-2 s (base 2 s, equal jitter); not before.
    delay = (failed.next_attempt_at - clock.now()).total_seconds()
    assert delay >= 1.0 and delay <= 2.0
    assert queue.claim("w1", LEASE, clock.now()) is None
    clock.advance(delay)
    again = queue.claim("w1", LEASE, clock.now())
    assert again is not None and again.attempts == 2
    queue.fail(again, "rate limited", permanent=False, now=clock.now(), retry_after=3600)
    limited = queue.get("d1")
    assert limited is not None
    assert limited.next_attempt_at - clock.now() >= timedelta(seconds=3600)
    assert queue.depth() == 1


def test_dead_letter_after_max_attempts_or_a_permanent_error(
    store: Store, clock: FakeClock
) -> None:
    queue = DeliveryQueue(store, max_attempts=3)
    queue.enqueue(incoming("flaky"), clock.now())
    states = []
    for _ in range(3):
        claimed = queue.claim("w1", LEASE, clock.now())
        assert claimed is not None and claimed.delivery_id == "flaky"
        states.append(queue.fail(claimed, "boom", permanent=False, now=clock.now()))
        clock.advance(3600)
    assert states == ["failed", "failed", "dead"]
    queue.enqueue(incoming("broken"), clock.now())
    broken = queue.claim("w1", LEASE, clock.now())
    assert broken is not None and broken.delivery_id == "broken"
    assert queue.fail(broken, "404 no such repo", permanent=True, now=clock.now()) == "dead"
    assert queue.claim("w1", LEASE, clock.now() + timedelta(days=1)) is None
    listed = queue.list(failed_only=True)
    assert sorted((d.delivery_id, d.state) for d in listed) == [
        ("broken", "dead"),
        ("flaky", "dead"),
    ]
    assert queue.depth() == 0


def test_a_delivery_whose_worker_always_dies_is_dead_lettered(
    store: Store, clock: FakeClock
) -> None:
    queue = DeliveryQueue(store, max_attempts=2)
    queue.enqueue(incoming("poison"), clock.now())
    for _ in range(2):
        assert queue.claim("w", LEASE, clock.now()) is not None
        clock.advance(LEASE.total_seconds())
    assert queue.claim("w", LEASE, clock.now()) is None
    poison = queue.get("poison")
    assert poison is not None
    assert poison.state == "dead"
    assert "lease expired" in (poison.last_error or "")


def test_retry_requeues_failed_and_dead_only(store: Store, clock: FakeClock) -> None:
    queue = DeliveryQueue(store, max_attempts=1)
    queue.enqueue(incoming("d1"), clock.now())
    claimed = queue.claim("w", LEASE, clock.now())
    assert claimed is not None
    queue.fail(claimed, "boom", permanent=False, now=clock.now())
    assert queue.get("d1").state == "dead"  # type: ignore[union-attr]
    queue.enqueue(incoming("d2"), clock.now() + timedelta(hours=1))
    assert queue.retry("nope", clock.now()) == "not_found"
    assert queue.retry("d2", clock.now()) == "not_retryable"  # queued already
    assert queue.retry(claimed.delivery_id, clock.now()) == "requeued"
    again = queue.claim("w", LEASE, clock.now())
    assert again is not None
    assert (again.delivery_id, again.attempts) == (claimed.delivery_id, 1)
    queue.complete(again, clock.now())
    assert queue.retry(again.delivery_id, clock.now()) == "not_retryable"  # done stays done


def test_list_is_newest_first(store: Store, clock: FakeClock) -> None:
    queue = DeliveryQueue(store)
    for n in range(3):
        queue.enqueue(incoming(f"d{n}"), clock.now())
        clock.advance(1)
    assert [d.delivery_id for d in queue.list()] == ["d2", "d1", "d0"]
    assert [d.delivery_id for d in queue.list(limit=1)] == ["d2"]
    assert queue.list(failed_only=True) == []


@pytest.mark.parametrize(
    ("attempt", "low", "high"), [(1, 1, 2), (2, 2, 4), (5, 16, 32), (30, 450, 900)]
)
def test_backoff_grows_exponentially_with_bounded_jitter(
    attempt: int, low: float, high: float
) -> None:
    rng = random.Random(1)
    delays = [backoff_seconds(attempt, None, rng) for _ in range(200)]
    assert all(low <= delay <= high for delay in delays)
    assert len(set(delays)) > 100  # jittered, not a constant


def test_backoff_never_sooner_than_retry_after() -> None:
    rng = random.Random(1)
    assert backoff_seconds(1, 120.0, rng) == 120.0
    assert backoff_seconds(1, 5000.0, rng) == 5000.0  # beyond the cap: the upstream knows
    assert 8 <= backoff_seconds(4, 0.5, rng) <= 16


@contextmanager
def statements(store: Store) -> Iterator[list[tuple[str, Any]]]:
    """The SQL statements run on ``store`` meanwhile, with their parameters."""
    seen: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, sql: str, params: Any, context: Any, many: bool) -> None:
        seen.append((sql, params))

    event.listen(store.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(store.engine, "before_cursor_execute", record)


def test_a_claim_reads_one_index_entry_however_many_wait(
    sqlite_store: Store, clock: FakeClock
) -> None:
    """SQLite's planner chooses the index; a claim that scanned or sorted the waiting
    deliveries (each read past its payload) took over 100 ms with 20,000 of them."""
    queue = DeliveryQueue(sqlite_store)
    for n in range(50):
        queue.enqueue(incoming(f"d{n}"), clock.now())
    stale = queue.claim("w1", LEASE, clock.now())
    clock.advance(LEASE.total_seconds() + 1)
    with statements(sqlite_store) as seen:
        again = queue.claim("w2", LEASE, clock.now())
        first_waiting = queue.claim("w2", LEASE, clock.now())
    assert stale is not None and again is not None and first_waiting is not None
    assert (again.delivery_id, first_waiting.delivery_id) == ("d0", "d1")
    plans = []
    with sqlite_store.engine.connect() as connection:
        for sql, params in seen:
            if sql.lstrip().upper().startswith(("SELECT", "UPDATE")):
                rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params).all()
                plans.append(" / ".join(row[3] for row in rows))
    assert len(plans) >= 4
    for plan in plans:
        assert "USING" in plan and "TEMP B-TREE" not in plan, plan
        assert "SCAN deliveries" not in plan.replace("SCAN deliveries USING COVERING", ""), plan
    assert any("ix_deliveries_due" in plan for plan in plans)
