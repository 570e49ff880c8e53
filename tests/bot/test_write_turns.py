"""The turn to write to SQLite: re-entrant, bounded, and the webhook's batches go first."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from bot.store import WriteTurns


def eventually(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.001)


def test_urgent_writers_take_the_turn_before_those_that_waited_longer() -> None:
    turns = WriteTurns()
    order: list[str] = []

    def write(name: str, urgent: bool) -> None:
        assert turns.acquire(urgent=urgent, timeout=10)
        order.append(name)
        turns.release()

    assert turns.acquire()
    waiters = []
    for count, (name, urgent) in enumerate(
        [("worker-1", False), ("webhook", True), ("worker-2", False)], start=1
    ):
        waiters.append(threading.Thread(target=write, args=(name, urgent)))
        waiters[-1].start()
        eventually(lambda: turns.waiting() == count)  # noqa: B023 (called before the next)
    turns.release()
    for thread in waiters:
        thread.join()
    assert order[0] == "webhook"
    assert sorted(order[1:]) == ["worker-1", "worker-2"]
    assert (turns.held(), turns.waiting()) == (False, 0)


def test_the_holder_takes_it_again_and_others_wait_until_the_last_release() -> None:
    turns = WriteTurns()
    assert turns.acquire() and turns.acquire(urgent=True)
    taken = threading.Event()

    def other() -> None:
        assert turns.acquire(timeout=10)
        taken.set()
        turns.release()

    thread = threading.Thread(target=other)
    thread.start()
    eventually(lambda: turns.waiting() == 1)
    turns.release()
    assert not taken.is_set() and turns.held()
    turns.release()
    thread.join()
    assert taken.is_set() and not turns.held()


def test_a_writer_gives_up_after_its_timeout_and_a_stranger_cannot_release() -> None:
    turns = WriteTurns()
    assert turns.acquire()
    results: list[bool] = []
    errors: list[Exception] = []

    def other() -> None:
        results.append(turns.acquire(urgent=True, timeout=0.05))
        try:
            turns.release()
        except RuntimeError as exc:
            errors.append(exc)

    thread = threading.Thread(target=other)
    thread.start()
    thread.join()
    assert results == [False] and len(errors) == 1
    assert turns.waiting() == 0 and turns.held()
    turns.release()
    with pytest.raises(RuntimeError):
        turns.release()
