"""SQLite's write-ahead log: commits leave checkpoints to the background checkpointer, which
starts the log afresh even while writers keep writing; and the DBAPI write transaction."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError

from bot.adapters.clock import FakeClock
from bot.core.events import parse_delivery
from bot.queue import Arrival, DeliveryQueue
from bot.store import Store, WalCheckpointer

# About 16 KiB, the mean size of GitHub's payloads: four pages of the log, and more.
FILLER = "x" * 16_000


def deliveries(store: Store, clock: FakeClock, prefix: str, count: int) -> None:
    arrivals = []
    for n in range(count):
        body = json.dumps({"action": "created", "filler": FILLER}).encode()
        headers = {"X-GitHub-Event": "push", "X-GitHub-Delivery": f"{prefix}-{n}"}
        incoming = parse_delivery(headers, body)
        arrivals.append(Arrival(incoming, clock.now()))
    DeliveryQueue(store).enqueue_batch(arrivals)


def test_commits_leave_the_log_to_the_checkpointer(
    sqlite_store: Store, clock: FakeClock, tmp_path: Path
) -> None:
    database, log = tmp_path / "bot.db", tmp_path / "bot.db-wal"
    WalCheckpointer(sqlite_store).run_once()
    size = database.stat().st_size
    for batch in range(30):  # about 1,500 pages, past SQLite's default of 1,000
        deliveries(sqlite_store, clock, f"b{batch}", 10)
    assert database.stat().st_size == size  # no commit copied the log into the database
    assert log.stat().st_size > 1000 * 4096
    frames, copied = WalCheckpointer(sqlite_store).run_once()
    assert frames == copied > 1000
    assert database.stat().st_size > size + 300 * 16_000


def test_a_long_log_is_copied_to_its_end_with_writers_held_back_then_starts_afresh(
    sqlite_store: Store, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    checkpoint = sqlite_store.checkpoint
    writers_held: list[bool] = []

    def recorded() -> tuple[int, int]:
        writers_held.append(writers_held_back(sqlite_store))
        return checkpoint()

    deliveries(sqlite_store, clock, "before", 20)
    monkeypatch.setattr(sqlite_store, "checkpoint", recorded)
    frames, copied = WalCheckpointer(sqlite_store, restart_frames=50).run_once()
    # A pass sees the log as it was when it began, and writers may append meanwhile: once
    # a pass finds little new, the last, with them held back, copies the log to its end.
    assert writers_held == [False, False, True]
    assert frames == copied > 50
    monkeypatch.undo()
    deliveries(sqlite_store, clock, "after", 1)
    assert sqlite_store.checkpoint()[0] < 20  # this commit started the log afresh
    assert WalCheckpointer(sqlite_store, restart_frames=50).run_once()[0] < 20


def writers_held_back(store: Store) -> bool:
    """Whether a writer in another thread would have to wait now."""
    turns = store._write_turns
    assert turns is not None
    return turns.held()


def test_a_short_log_is_copied_without_holding_writers_back(
    sqlite_store: Store, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    deliveries(sqlite_store, clock, "d", 20)
    writers_held: list[bool] = []
    checkpoint = sqlite_store.checkpoint

    def recorded() -> tuple[int, int]:
        writers_held.append(writers_held_back(sqlite_store))
        return checkpoint()

    monkeypatch.setattr(sqlite_store, "checkpoint", recorded)
    frames, copied = WalCheckpointer(sqlite_store).run_once()
    assert frames == copied > 0
    assert writers_held == [False]


def test_the_checkpointer_runs_in_the_background_until_stopped(
    store: Store, clock: FakeClock, tmp_path: Path
) -> None:
    checkpointer = WalCheckpointer(store, interval=0.01)
    if store.dialect == "sqlite":
        checkpointer.run_once()  # what the migrations wrote
    checkpointer.start()
    try:
        running = [t for t in threading.enumerate() if t.name == "wal-checkpoint"]
        if store.dialect == "postgresql":
            assert running == []  # PostgreSQL checkpoints on its own
            return
        assert len(running) == 1
        database = tmp_path / "bot.db"
        size = database.stat().st_size
        deliveries(store, clock, "d", 5)
        deadline = time.monotonic() + 30
        while database.stat().st_size == size:  # until the thread has copied the log
            assert time.monotonic() < deadline, "the log was not copied"
            time.sleep(0.01)
    finally:
        checkpointer.stop()
    assert not any(t.name == "wal-checkpoint" for t in threading.enumerate())


def test_the_dbapi_write_commits_or_rolls_back_and_raises_sqlalchemy_errors(
    sqlite_store: Store, clock: FakeClock
) -> None:
    insert = "INSERT INTO holds (key, reason, set_by, set_at) VALUES (?, 'r', 'me', '2024-01-01')"
    with sqlite_store.sqlite_write() as cursor:
        cursor.execute(insert, ("kept",))
    with pytest.raises(RuntimeError), sqlite_store.sqlite_write() as cursor:
        cursor.execute(insert, ("dropped",))
        raise RuntimeError("after the insert")
    with pytest.raises(IntegrityError), sqlite_store.sqlite_write() as cursor:
        cursor.execute(insert, ("also dropped",))
        cursor.execute(insert, ("kept",))  # a conflicting key
    with pytest.raises(OperationalError), sqlite_store.sqlite_write() as cursor:
        cursor.execute("INSERT INTO no_such_table VALUES (1)")
    with sqlite_store.read() as session:
        keys = session.execute(text("SELECT key FROM holds")).scalars().all()
    assert keys == ["kept"]
    # Each connection went back to the pool outside any transaction: writes still work.
    deliveries(sqlite_store, clock, "d", 1)
    assert DeliveryQueue(sqlite_store).counts() == {"queued": 1}


@pytest.mark.postgres
def test_the_dbapi_write_is_for_sqlite_only(postgres_url: str) -> None:
    store = Store.open(postgres_url)
    try:
        with pytest.raises(TypeError), store.sqlite_write():
            pass
    finally:
        store.dispose()


@pytest.mark.parametrize(
    ("copied", "passes"),
    [
        ([5000, 5300, 5400, 5420], [False, False, False, False, True]),  # converges
        ([5000, 6000, 7000, 8000], [False, False, False, False, True]),  # at most 3 more
        ([5000, 5010], [False, False, True]),
        ([100], [False]),  # a short log: one pass
    ],
)
def test_passes_follow_each_other_until_the_tail_is_short_then_hold_writers_back(
    sqlite_store: Store, monkeypatch: pytest.MonkeyPatch, copied: list[int], passes: list[bool]
) -> None:
    writers_held: list[bool] = []
    script = iter(copied)

    def scripted() -> tuple[int, int]:
        writers_held.append(writers_held_back(sqlite_store))
        done = next(script, copied[-1])
        return done, done

    monkeypatch.setattr(sqlite_store, "checkpoint", scripted)
    WalCheckpointer(sqlite_store, restart_frames=4096, tail_frames=64).run_once()
    assert writers_held == passes
