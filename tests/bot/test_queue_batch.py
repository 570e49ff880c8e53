"""Storing deliveries in batches on SQLite and PostgreSQL, the payload kept as received,
idle claims that leave the write lock alone, and the SQLite writers' lock."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from bot import store as store_module
from bot.adapters.clock import FakeClock
from bot.core.events import IncomingDelivery, JSONText, parse_delivery
from bot.queue import Arrival, DeliveryQueue, first_copies
from bot.store import Store

LEASE = timedelta(seconds=60)


def arrival(
    delivery_id: str,
    clock: FakeClock,
    *,
    action: str = "opened",
    installation_id: int = 7,
    repository: str = "acme/shop",
) -> Arrival:
    payload = {"action": "opened", "id": delivery_id}
    incoming = IncomingDelivery(delivery_id, "issues", action, installation_id, repository, payload)
    return Arrival(incoming, clock.now())


def received(body: bytes, delivery_id: str, clock: FakeClock) -> Arrival:
    """What the webhook makes of a request body."""
    incoming = parse_delivery({"X-GitHub-Event": "push", "X-GitHub-Delivery": delivery_id}, body)
    return Arrival(incoming, clock.now())


def stored_text(store: Store, delivery_id: str) -> str:
    column = "payload::text" if store.dialect == "postgresql" else "payload"
    query = text(f"SELECT {column} FROM deliveries WHERE delivery_id = :id")
    with store.engine.connect() as connection:
        return str(connection.execute(query, {"id": delivery_id}).scalar_one())


@pytest.mark.parametrize(
    ("ids", "inserted", "verdicts"),
    [
        (["a", "b"], {"a", "b"}, [True, True]),
        (["a", "b", "a"], {"a", "b"}, [True, True, False]),
        (["a", "a"], set(), [False, False]),  # stored before this batch
        (["b", "a", "b", "b"], {"a"}, [False, True, False, False]),
    ],
)
def test_only_the_first_copy_of_an_inserted_id_is_new(
    ids: list[str], inserted: set[str], verdicts: list[bool]
) -> None:
    assert first_copies(ids, inserted) == verdicts


def test_a_batch_stores_each_delivery_once(store: Store, clock: FakeClock) -> None:
    queue = DeliveryQueue(store)
    assert queue.enqueue(arrival("old", clock).delivery, clock.now()) is True
    batch = [arrival(d, clock) for d in ("a", "old", "b", "a", "c", "b")]
    assert queue.enqueue_batch(batch) == [True, False, True, False, True, False]
    assert queue.enqueue_batch([]) == []
    assert queue.counts() == {"queued": 4}
    stored = queue.get("a")
    assert stored is not None
    assert (stored.event, stored.action, stored.installation_id, stored.repository) == (
        "issues",
        "opened",
        7,
        "acme/shop",
    )
    assert (stored.payload, stored.received_at, stored.attempts) == (
        {"action": "opened", "id": "a"},
        clock.now(),
        0,
    )


def test_the_payload_is_stored_as_received(store: Store, clock: FakeClock) -> None:
    body = '{"zen": "Über \\u00e9lan",  "ref":"refs/heads/main" , "n": [1, 2.50]}'.encode()
    queue = DeliveryQueue(store)
    queue.enqueue_batch([received(body, "d1", clock)])
    assert stored_text(store, "d1") == body.decode()
    stored = queue.get("d1")
    assert stored is not None and stored.payload == json.loads(body)


@pytest.mark.parametrize(
    "body",
    [
        '{"zen": "Über"}'.encode("utf-16"),
        '{"zen": "Über"}'.encode("utf-8-sig"),
        b'{"zen": "\xed\xa0\x80"}',  # a UTF-8-encoded lone surrogate, which json.loads takes
    ],
    ids=["utf-16", "utf-8-bom", "surrogate"],
)
def test_bodies_that_are_not_plain_utf8_are_encoded_afresh(
    store: Store, clock: FakeClock, body: bytes
) -> None:
    arrived = received(body, "d1", clock)
    assert not isinstance(arrived.delivery.payload, JSONText)
    DeliveryQueue(store).enqueue_batch([arrived])
    stored = DeliveryQueue(store).get("d1")
    assert stored is not None and stored.payload == json.loads(body)


def test_summary_fields_that_do_not_fit_are_left_empty_not_fatal(
    store: Store, clock: FakeClock
) -> None:
    odd = arrival("odd", clock, action="x" * 65, repository="r" * 201, installation_id=2**64)
    queue = DeliveryQueue(store)
    assert queue.enqueue_batch([arrival("fine", clock), odd]) == [True, True]
    stored = queue.get("odd")
    assert stored is not None
    assert (stored.action, stored.repository, stored.installation_id) == (None, None, None)
    assert stored.payload == {"action": "opened", "id": "odd"}  # the payload keeps them
    fine = queue.get("fine")
    assert fine is not None and fine.action == "opened"


@pytest.mark.parametrize("installation_id", [2**63, 2**64, -(2**63) - 1, 10**30])
def test_installation_ids_beyond_64_bits_are_left_empty_and_kept_in_the_payload(
    store: Store, clock: FakeClock, installation_id: int
) -> None:
    body = json.dumps({"action": "opened", "installation": {"id": installation_id}}).encode()
    DeliveryQueue(store).enqueue_batch([received(body, "d1", clock)])
    stored = DeliveryQueue(store).get("d1")
    assert stored is not None and stored.installation_id is None
    assert stored.payload["installation"]["id"] == installation_id


def test_an_idle_claim_does_not_wait_for_the_write_lock(
    sqlite_store: Store, clock: FakeClock, tmp_path: Path
) -> None:
    queue = DeliveryQueue(sqlite_store)
    queue.enqueue(arrival("done", clock).delivery, clock.now())
    claimed = queue.claim("w", LEASE, clock.now())
    assert claimed is not None and queue.complete(claimed, clock.now())
    other = sqlite3.connect(tmp_path / "bot.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process writing, say
    try:
        answers: list[object] = []
        idle = threading.Thread(target=lambda: answers.append(queue.claim("w", LEASE, clock.now())))
        idle.start()
        idle.join(2)
        assert answers == [None]
    finally:
        other.execute("ROLLBACK")
        other.close()
        idle.join(30)


def test_writers_in_one_process_queue_on_one_lock_per_database_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    first, second = Store.open(url), Store.open(url)
    first.migrate()
    monkeypatch.setattr(store_module, "BUSY_TIMEOUT_SECONDS", 0.2)
    holding, done = threading.Event(), threading.Event()

    def hold() -> None:
        with first.write():
            holding.set()
            done.wait(5)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert holding.wait(5)
        started = time.monotonic()
        with pytest.raises(OperationalError, match="database is locked"), second.write():
            pass
        assert time.monotonic() - started < 2
    finally:
        done.set()
        holder.join(5)
    with second.write() as session:  # free again once the holder is done
        session.execute(text("SELECT 1"))
    first.dispose()
    second.dispose()
