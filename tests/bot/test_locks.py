"""Deployment locks on SQLite and PostgreSQL: one holder, the rest in order, across restarts."""

from __future__ import annotations

import threading
from datetime import timedelta

from bot.adapters.clock import FakeClock
from bot.store import DeployLocks, Store

TTL = timedelta(minutes=30)
KEY = "shop/prod"


def test_one_holder_and_the_rest_wait_in_order(store: Store, clock: FakeClock) -> None:
    locks = DeployLocks(store)
    positions = [
        locks.acquire_or_enqueue(KEY, f"pr-{n}", now=clock.now(), ttl=TTL) for n in range(4)
    ]
    assert positions == [0, 1, 2, 3]
    assert locks.holder(KEY) == "pr-0"
    # Asking again (a re-delivered command) keeps the place in the queue.
    assert locks.acquire_or_enqueue(KEY, "pr-2", now=clock.now(), ttl=TTL) == 2
    # Another app or environment has its own lock.
    assert locks.acquire_or_enqueue("shop/dev", "pr-9", now=clock.now(), ttl=TTL) == 0
    assert locks.release(KEY, "pr-0", now=clock.now()) == "pr-1"
    assert [locks.position(KEY, f"pr-{n}") for n in range(4)] == [None, 0, 1, 2]
    # Leaving the queue while waiting moves those behind forward.
    assert locks.release(KEY, "pr-2", now=clock.now()) == "pr-1"
    assert locks.position(KEY, "pr-3") == 1
    assert locks.release(KEY, "pr-1", now=clock.now()) == "pr-3"
    assert locks.release(KEY, "pr-3", now=clock.now()) is None
    assert locks.holder(KEY) is None
    assert locks.acquire_or_enqueue(KEY, "pr-5", now=clock.now(), ttl=TTL) == 0


def test_locks_survive_a_restart(store: Store, clock: FakeClock) -> None:
    DeployLocks(store).acquire_or_enqueue(KEY, "a", now=clock.now(), ttl=TTL)
    DeployLocks(store).acquire_or_enqueue(KEY, "b", now=clock.now(), ttl=TTL)
    store.dispose()  # every connection closed, as when the process restarts
    reopened = DeployLocks(Store(store.engine))
    assert (reopened.holder(KEY), reopened.position(KEY, "b")) == ("a", 1)


def test_expired_holders_are_released_with_the_waiters_own_timeout(
    store: Store, clock: FakeClock
) -> None:
    locks = DeployLocks(store)
    locks.acquire_or_enqueue(KEY, "stuck", now=clock.now(), ttl=timedelta(minutes=5))
    locks.acquire_or_enqueue(KEY, "next", now=clock.now(), ttl=timedelta(minutes=20))
    locks.acquire_or_enqueue("other/dev", "fine", now=clock.now(), ttl=timedelta(hours=1))
    assert locks.expire(clock.advance(minutes=4)) == []
    handovers = locks.expire(clock.advance(minutes=1))
    assert [tuple(h) for h in handovers] == [(KEY, "stuck", "next")]
    assert locks.holder("other/dev") == "fine"
    # The new holder's deadline counts from when it got the lock.
    assert locks.expire(clock.advance(minutes=19)) == []
    assert [tuple(h) for h in locks.expire(clock.advance(minutes=1))] == [(KEY, "next", None)]


def test_an_expired_holder_is_replaced_on_the_next_acquire(store: Store, clock: FakeClock) -> None:
    locks = DeployLocks(store)
    locks.acquire_or_enqueue(KEY, "stuck", now=clock.now(), ttl=timedelta(minutes=5))
    clock.advance(minutes=6)
    assert locks.acquire_or_enqueue(KEY, "fresh", now=clock.now(), ttl=TTL) == 0
    assert locks.position(KEY, "stuck") is None


def test_concurrent_acquires_give_exactly_one_holder_and_a_strict_order(
    store: Store, clock: FakeClock
) -> None:
    locks = DeployLocks(store)
    barrier = threading.Barrier(8)
    positions: dict[str, int] = {}

    def contend(ticket: str) -> None:
        barrier.wait()
        positions[ticket] = locks.acquire_or_enqueue(KEY, ticket, now=clock.now(), ttl=TTL)

    threads = [threading.Thread(target=contend, args=(f"t{n}",)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(positions.values()) == list(range(8))
    holder = next(ticket for ticket, position in positions.items() if position == 0)
    assert locks.holder(KEY) == holder
    # Releases hand the lock over in exactly the order the positions promised.
    order = sorted(positions, key=positions.__getitem__)
    handed = [locks.release(KEY, ticket, now=clock.now()) for ticket in order]
    assert handed == [*order[1:], None]
