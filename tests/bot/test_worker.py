"""Workers: outcomes by error type, racing workers, a worker killed mid-delivery, the pool."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import timedelta

import pytest

from bot.adapters.clock import FakeClock, SystemClock
from bot.core.errors import PermanentError, TransientError, UserError
from bot.core.events import Event, IncomingDelivery
from bot.queue import DeliveryQueue
from bot.router import HandlerContext, Router
from bot.settings import Settings
from bot.store import Store
from bot.worker import Worker, WorkerPool

LEASE = timedelta(seconds=30)


def incoming(delivery_id: str, action: str = "created") -> IncomingDelivery:
    payload = {"action": action, "comment": {"body": "/status"}}
    return IncomingDelivery(delivery_id, "issue_comment", action, 7, "acme/shop", payload)


@pytest.fixture
def context(store: Store, clock: FakeClock, settings: Settings) -> HandlerContext:
    return HandlerContext.build(settings, store, clock)


def sample(ctx: HandlerContext, outcome: str) -> float:
    value = ctx.metrics.registry.get_sample_value(
        "autostack_deliveries_processed_total", {"event": "issue_comment", "outcome": outcome}
    )
    return value or 0.0


@pytest.mark.parametrize(
    ("error", "state", "outcome"),
    [
        (None, "done", "done"),
        (TransientError("GitHub 502", retry_after=90), "failed", "retry"),
        (PermanentError("repository gone"), "dead", "dead"),
        (UserError("unknown environment qa"), "done", "user_error"),
        (KeyError("bug"), "failed", "retry"),
    ],
    ids=["ok", "transient", "permanent", "user", "unexpected"],
)
def test_handler_outcomes_are_recorded(
    context: HandlerContext, clock: FakeClock, error: Exception | None, state: str, outcome: str
) -> None:
    router = Router()
    seen: list[Event] = []

    @router.register("issue_comment", action="created")
    def handle(event: Event, ctx: HandlerContext) -> None:
        seen.append(event)
        assert ctx is context
        if error is not None:
            raise error

    worker = Worker(context, router, lease=LEASE)
    worker.queue.enqueue(incoming("d1"), clock.now())
    assert worker.run_once() is True
    assert worker.run_once() is False
    assert [(e.delivery_id, e.attempt, e.payload["comment"]) for e in seen] == [
        ("d1", 1, {"body": "/status"})
    ]
    stored = worker.queue.get("d1")
    assert stored is not None and stored.state == state
    if error is not None:
        assert str(error) in (stored.last_error or "")
    if isinstance(error, TransientError):
        assert stored.next_attempt_at - clock.now() >= timedelta(seconds=90)
    assert sample(context, outcome) == 1.0


def test_unrouted_events_are_finished_as_unhandled(
    context: HandlerContext, clock: FakeClock
) -> None:
    router = Router()
    router.register("issue_comment", action="edited")(lambda event, ctx: None)
    worker = Worker(context, router)
    worker.queue.enqueue(incoming("d1"), clock.now())
    assert worker.run_until_idle() == 1
    assert sample(context, "unhandled") == 1.0
    assert worker.queue.counts() == {"done": 1}


def test_transient_failures_are_retried_until_they_succeed(
    context: HandlerContext, clock: FakeClock
) -> None:
    router = Router()
    calls: list[int] = []

    @router.register("issue_comment")
    def flaky(event: Event, ctx: HandlerContext) -> None:
        calls.append(event.attempt)
        if event.attempt < 3:
            raise TransientError("GitHub 500")

    worker = Worker(context, router)
    worker.queue.enqueue(incoming("d1"), clock.now())
    for _ in range(3):
        worker.run_until_idle()
        clock.advance(60)
    assert calls == [1, 2, 3]
    assert worker.queue.counts() == {"done": 1}


@pytest.mark.parametrize("workers", [2, 4])
def test_racing_workers_process_each_delivery_once(
    context: HandlerContext, clock: FakeClock, workers: int
) -> None:
    processed: Counter[str] = Counter()
    guard = threading.Lock()
    router = Router()

    @router.register("issue_comment", action="created")
    def count(event: Event, ctx: HandlerContext) -> None:
        with guard:
            processed[event.delivery_id] += 1

    queue = DeliveryQueue(context.store)
    ids = [f"d{n:03}" for n in range(60)]
    for delivery_id in ids:
        queue.enqueue(incoming(delivery_id), clock.now())
    pool = [Worker(context, router, worker_id=f"w{n}") for n in range(workers)]
    barrier = threading.Barrier(workers)
    totals: list[int] = []

    def run(worker: Worker) -> None:
        barrier.wait()
        totals.append(worker.run_until_idle())

    threads = [threading.Thread(target=run, args=(worker,)) for worker in pool]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert processed == Counter({delivery_id: 1 for delivery_id in ids})
    assert sum(totals) == len(ids)
    assert queue.counts() == {"done": len(ids)}


class Killed(BaseException):
    """Stands in for the process dying: nothing in the worker may catch it."""


def test_a_worker_killed_mid_delivery_loses_nothing(
    context: HandlerContext, clock: FakeClock
) -> None:
    effects: list[str] = []
    router = Router()

    @router.register("issue_comment", action="created")
    def deploy(event: Event, ctx: HandlerContext) -> None:
        if event.attempt == 1:
            raise Killed
        effects.append(event.delivery_id)

    doomed = Worker(context, router, worker_id="doomed", lease=LEASE)
    doomed.queue.enqueue(incoming("d1"), clock.now())
    with pytest.raises(Killed):
        doomed.run_once()
    survivor = Worker(context, router, worker_id="survivor", lease=LEASE)
    assert survivor.run_until_idle() == 0  # the lease still protects the dead worker's claim
    clock.advance(LEASE.total_seconds())
    assert survivor.run_until_idle() == 1
    assert survivor.run_until_idle() == 0
    assert effects == ["d1"]
    stored = survivor.queue.get("d1")
    assert stored is not None
    assert (stored.state, stored.attempts, stored.lease_owner) == ("done", 2, "survivor")


def test_the_pool_processes_in_the_background_and_wakes_on_demand(
    sqlite_store: Store, settings: Settings
) -> None:
    context = HandlerContext.build(settings, sqlite_store, FakeClock())
    done = threading.Event()
    router = Router()
    router.register("issue_comment")(lambda event, ctx: done.set())
    # A long idle wait: only wake() can make the delivery run within the test's timeout.
    pool = WorkerPool([Worker(context, router) for _ in range(2)], idle_wait=60)
    pool.start()
    try:
        time.sleep(0.05)  # let both workers find the queue empty and go idle
        DeliveryQueue(sqlite_store).enqueue(incoming("d1"), context.clock.now())
        pool.wake()
        assert done.wait(5)
    finally:
        started = time.monotonic()
        pool.stop()
    assert time.monotonic() - started < 5


def test_a_delivery_slower_than_its_lease_is_handled_once(store: Store, settings: Settings) -> None:
    """Its worker renews the lease while the handler runs, so a second worker never takes
    over a delivery that is still being handled (before, a handler outliving its lease was
    run twice at once: two comments, two check runs)."""
    context = HandlerContext.build(settings, store, SystemClock())
    router = Router()
    runs: list[str] = []

    @router.register("issue_comment", action="created")
    def slow(event: Event, ctx: HandlerContext) -> None:
        runs.append(event.delivery_id)
        time.sleep(1.2)

    lease = timedelta(seconds=0.3)
    workers = [Worker(context, router, lease=lease) for _ in range(2)]
    workers[0].queue.enqueue(incoming("slow-1"), SystemClock().now())
    pool = WorkerPool(workers, idle_wait=0.02)
    pool.start()
    try:
        deadline = time.monotonic() + 10
        while workers[0].queue.get("slow-1").state != "done":
            assert time.monotonic() < deadline, workers[0].queue.get("slow-1")
            time.sleep(0.05)
    finally:
        pool.stop()
    assert runs == ["slow-1"]
    assert workers[0].queue.get("slow-1").attempts == 1
