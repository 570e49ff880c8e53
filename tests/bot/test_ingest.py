"""Group commit on the webhook ingest path: batches, duplicates inside a batch, a failing
batch, many concurrent senders, and shutdown with requests still waiting."""

from __future__ import annotations

import asyncio
import gc
import json
import threading
import time
from asyncio import Task
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from bot.adapters.clock import FakeClock
from bot.app import create_app
from bot.core.signatures import sign
from bot.queue import Arrival, DeliveryQueue
from bot.router import HandlerContext, Router
from bot.settings import Settings
from bot.store import Store
from bot.webhook import GroupCommit, Ingest, IngestClosed
from bot.worker import Worker, WorkerPool
from sandbox.serving import ThreadedServer
from tests.bot.conftest import PING_ONLY, SECRET

URL = "/webhooks/github"


def body_for(n: int) -> bytes:
    return json.dumps({"action": "created", "n": n, "sender": {"login": "octocat"}}).encode()


def signed(body: bytes, delivery: str) -> dict[str, str]:
    return {
        "X-GitHub-Event": "issue_comment",
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": sign(body, SECRET.encode()),
        "Content-Type": "application/json",
    }


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.002)


class Gate:
    """Holds the first batch inside its database write until ``release``, so that the
    deliveries sent meanwhile pile up into the next batch; records every batch's ids."""

    def __init__(self, queue: DeliveryQueue, monkeypatch: pytest.MonkeyPatch):
        self.entered = threading.Event()
        self.release = threading.Event()
        self.batches: list[list[str]] = []
        write = queue.enqueue_batch

        def gated(arrivals: list[Arrival]) -> list[bool]:
            self.batches.append([a.delivery.delivery_id for a in arrivals])
            if len(self.batches) == 1:
                self.entered.set()
                self.release.wait(10)
            return write(arrivals)

        monkeypatch.setattr(queue, "enqueue_batch", gated)


Scenario = Callable[[httpx.AsyncClient, Ingest], Awaitable[Any]]


def run_app(app: FastAPI, scenario: Scenario) -> Any:
    """Run ``scenario`` against the app, in-process, between its start-up and shutdown."""

    async def main() -> Any:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bot") as client:
                return await scenario(client, app.state.ingest)

    return asyncio.run(main())


async def post(client: httpx.AsyncClient, delivery: str, n: int) -> int:
    body = body_for(n)
    response = await client.post(URL, content=body, headers=signed(body, delivery))
    return response.status_code


async def behind_a_held_batch(
    client: httpx.AsyncClient, ingest: Ingest, gate: Gate, deliveries: list[str]
) -> tuple[int, list[int]]:
    """Send ``d-0`` and hold its batch; send ``deliveries`` so they form the next batch."""
    first = asyncio.create_task(post(client, "d-0", 0))
    assert await asyncio.to_thread(gate.entered.wait, 5)
    rest = [asyncio.create_task(post(client, d, n)) for n, d in enumerate(deliveries, 1)]
    await until(lambda: ingest.waiting == len(deliveries))
    gate.release.set()
    return await first, list(await asyncio.gather(*rest))


def test_copies_of_one_delivery_in_the_same_batch_are_stored_once(
    store: Store, clock: FakeClock, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = create_app(settings, router=PING_ONLY, store=store, clock=clock)
    woken: list[int] = []

    async def scenario(client: httpx.AsyncClient, ingest: Ingest) -> tuple[int, list[int]]:
        gate = Gate(ingest.queue, monkeypatch)
        ingest.on_accepted = woken.append
        sent = ["d-1", "d-0", "d-2", "d-1"]  # d-0 is stored already, d-1 comes twice
        first, rest = await behind_a_held_batch(client, ingest, gate, sent)
        assert gate.batches == [["d-0"], sent]
        return first, rest

    first, (one, again, two, other) = run_app(app, scenario)
    assert (first, again, two) == (202, 200, 202)
    assert sorted([one, other]) == [200, 202]
    assert DeliveryQueue(store).counts() == {"queued": 3}
    # One wake per committed batch, for as many workers as it brought new deliveries.
    assert woken == [1, 2]


def test_a_batch_the_database_refuses_answers_503_to_each_and_stores_none(
    store: Store, clock: FakeClock, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = create_app(settings, router=PING_ONLY, store=store, clock=clock)

    async def scenario(client: httpx.AsyncClient, ingest: Ingest) -> list[int]:
        gate = Gate(ingest.queue, monkeypatch)
        first, rest = await behind_a_held_batch(client, ingest, gate, ["d-1", "poison", "d-2"])
        # The failure is the batch's alone: the next delivery is stored again.
        return [first, *rest, await post(client, "d-1", 1)]

    with refusing_poison(store):
        statuses = run_app(app, scenario)
    assert statuses == [202, 503, 503, 503, 202]
    assert sorted(d.delivery_id for d in DeliveryQueue(store).list()) == ["d-0", "d-1"]
    failures = app.state.metrics.registry.get_sample_value(
        "autostack_webhook_deliveries_total", {"event": "issue_comment", "outcome": "unavailable"}
    )
    assert failures == 3


_PG_REFUSE = """
CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.delivery_id = 'poison' THEN RAISE EXCEPTION 'refused'; END IF;
    RETURN NEW;
END $$
"""


@contextmanager
def refusing_poison(store: Store) -> Iterator[None]:
    """The database refuses to insert delivery ``poison``: an error raised inside the
    batch's transaction, after the rows before it were written."""
    postgres = store.dialect == "postgresql"
    with store.engine.begin() as connection:
        if postgres:
            connection.execute(text(_PG_REFUSE))
            connection.execute(
                text(
                    "CREATE TRIGGER refuse_poison BEFORE INSERT ON deliveries "
                    "FOR EACH ROW EXECUTE FUNCTION refuse_poison()"
                )
            )
        else:
            connection.execute(
                text(
                    "CREATE TRIGGER refuse_poison BEFORE INSERT ON deliveries "
                    "WHEN NEW.delivery_id = 'poison' BEGIN SELECT RAISE(ABORT, 'refused'); END"
                )
            )
    try:
        yield
    finally:
        with store.engine.begin() as connection:
            if postgres:
                connection.execute(text("DROP TRIGGER refuse_poison ON deliveries"))
                connection.execute(text("DROP FUNCTION refuse_poison()"))
            else:
                connection.execute(text("DROP TRIGGER refuse_poison"))


def test_many_concurrent_senders_through_uvicorn_are_each_stored_once(
    store: Store, clock: FakeClock, settings: Settings
) -> None:
    unique, repeated, senders = 160, 40, 24
    sends = [(f"d-{n}", n) for n in range(unique)] + [(f"d-{n}", n) for n in range(repeated)]
    answers: dict[str, list[int]] = {}
    lock = threading.Lock()

    def sender(share: list[tuple[str, int]], url: str) -> None:
        with httpx.Client(base_url=url, timeout=30) as client:
            for delivery, n in share:
                body = body_for(n)
                response = client.post(URL, content=body, headers=signed(body, delivery))
                with lock:
                    answers.setdefault(delivery, []).append(response.status_code)

    with ThreadedServer(create_app(settings, router=PING_ONLY, store=store, clock=clock)) as server:
        threads = [
            threading.Thread(target=sender, args=(sends[i::senders], server.url))
            for i in range(senders)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    assert sum(len(codes) for codes in answers.values()) == len(sends)
    assert all(sorted(codes) in ([202], [200, 202]) for codes in answers.values())
    assert sum(len(codes) == 2 for codes in answers.values()) == repeated
    queue = DeliveryQueue(store)
    assert queue.counts() == {"queued": unique}
    stored = {d.delivery_id: d.payload for d in queue.list(limit=unique + 1)}
    assert stored == {f"d-{n}": json.loads(body_for(n)) for n in range(unique)}


def test_shutdown_lets_waiting_requests_finish_before_the_server_stops(
    sqlite_store: Store, clock: FakeClock, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = create_app(settings, router=PING_ONLY, store=sqlite_store, clock=clock)
    server = ThreadedServer(app).start()
    ingest: Ingest = app.state.ingest
    gate = Gate(ingest.queue, monkeypatch)
    statuses: list[int] = []

    def send(delivery: str, n: int) -> None:
        body = body_for(n)
        response = httpx.post(
            f"{server.url}{URL}", content=body, headers=signed(body, delivery), timeout=30
        )
        statuses.append(response.status_code)

    threads = [threading.Thread(target=send, args=(f"d-{n}", n)) for n in range(5)]
    try:
        threads[0].start()
        assert gate.entered.wait(5)
        for thread in threads[1:]:
            thread.start()
        deadline = time.monotonic() + 5
        while ingest.waiting < 4:
            assert time.monotonic() < deadline
            time.sleep(0.005)
        stopping = threading.Thread(target=server.stop)
        stopping.start()
        time.sleep(0.1)
        assert stopping.is_alive()  # uvicorn waits for the requests in flight
    finally:
        gate.release.set()
    for thread in [*threads, stopping]:
        thread.join(15)
        assert not thread.is_alive()
    assert statuses == [202] * 5
    assert DeliveryQueue(sqlite_store).counts() == {"queued": 5}


def test_after_close_deliveries_are_refused_with_503_and_not_stored(
    sqlite_store: Store, clock: FakeClock, settings: Settings
) -> None:
    app = create_app(settings, router=PING_ONLY, store=sqlite_store, clock=clock)

    async def scenario(client: httpx.AsyncClient, ingest: Ingest) -> list[int]:
        before = await post(client, "d-1", 1)
        await ingest.close()
        return [before, await post(client, "d-2", 2)]

    assert run_app(app, scenario) == [202, 503]
    assert [d.delivery_id for d in DeliveryQueue(sqlite_store).list()] == ["d-1"]


class SlowWrites:
    """A ``write`` for ``GroupCommit`` that records batches and blocks until released."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, items: list[int]) -> list[int]:
        self.batches.append(items)
        self.entered.set()
        assert self.release.wait(10)
        return [item * 10 for item in items]


async def held_first(commits: GroupCommit[int, int], writes: SlowWrites) -> list[Task[int]]:
    """Submit 1 and hold its write, then submit 2 and 3 behind it."""
    taken = [asyncio.create_task(commits.submit(1))]
    await until(writes.entered.is_set)
    taken += [asyncio.create_task(commits.submit(n)) for n in (2, 3)]
    await until(lambda: commits.waiting == 2)
    return taken


def test_close_drains_the_batches_already_taken() -> None:
    writes = SlowWrites()

    async def scenario() -> list[object]:
        commits: GroupCommit[int, int] = GroupCommit(writes)
        taken = await held_first(commits, writes)
        closing = asyncio.create_task(commits.close(timeout=5))
        await asyncio.sleep(0.01)
        late = asyncio.create_task(commits.submit(4))
        writes.release.set()
        await closing
        return list(await asyncio.gather(*taken, late, return_exceptions=True))

    *results, late = asyncio.run(scenario())
    assert results == [10, 20, 30]
    assert isinstance(late, IngestClosed)
    assert writes.batches == [[1], [2, 3]]


def test_close_answers_every_waiting_caller_when_the_write_is_stuck() -> None:
    writes = SlowWrites()

    async def scenario() -> tuple[list[object], float]:
        commits: GroupCommit[int, int] = GroupCommit(writes)
        taken = await held_first(commits, writes)
        started = time.monotonic()
        await commits.close(timeout=0.2)
        answers = await asyncio.wait_for(asyncio.gather(*taken, return_exceptions=True), 1)
        took = time.monotonic() - started
        writes.release.set()  # the stuck write finishes late; nobody is waiting for it
        await asyncio.sleep(0.05)
        return list(answers), took

    answers, took = asyncio.run(scenario())
    assert all(isinstance(answer, IngestClosed) for answer in answers)
    assert took < 1.0
    assert writes.batches == [[1]]  # the waiting ones were never written


def test_batches_are_written_on_a_thread_of_their_own_until_close() -> None:
    def write(items: list[int]) -> list[str]:
        return [threading.current_thread().name] * len(items)

    async def scenario() -> list[str]:
        commits: GroupCommit[int, str] = GroupCommit(write)
        answers = [await commits.submit(1), *await asyncio.gather(*map(commits.submit, (2, 3)))]
        await commits.close(timeout=5)
        return answers

    names = asyncio.run(scenario())
    assert len(set(names)) == 1 and names[0].startswith("group-commit")
    deadline = time.monotonic() + 10
    while any(thread.name == names[0] for thread in threading.enumerate()):
        assert time.monotonic() < deadline, "the commit thread outlived close()"
        time.sleep(0.01)


def test_while_serving_start_up_objects_are_frozen_and_the_log_is_checkpointed(
    settings: Settings,
) -> None:
    def checkpointers() -> int:
        return sum(thread.name == "wal-checkpoint" for thread in threading.enumerate())

    async def scenario(client: httpx.AsyncClient, ingest: Ingest) -> tuple[int, int]:
        return gc.get_freeze_count(), checkpointers()

    frozen, running = run_app(create_app(settings, router=PING_ONLY), scenario)
    assert frozen > 1000 and running == 1
    assert gc.get_freeze_count() == 0 and checkpointers() == 0


class CountingWorker(Worker):
    """Counts its looks at the queue instead of claiming anything."""

    def __init__(self, context: HandlerContext, looked: threading.Semaphore):
        super().__init__(context, Router())
        self.looked = looked

    def run_once(self) -> bool:
        self.looked.release()
        return False


def test_a_batch_wakes_as_many_idle_workers_as_it_brought_deliveries(
    sqlite_store: Store, settings: Settings
) -> None:
    looked = threading.Semaphore(0)
    context = HandlerContext.build(settings, sqlite_store, FakeClock())
    pool = WorkerPool([CountingWorker(context, looked) for _ in range(3)], idle_wait=60)
    pool.start()
    try:
        for _ in range(3):  # each looks once, finds nothing and goes idle
            assert looked.acquire(timeout=5)
        time.sleep(0.05)
        pool.wake(2)
        assert looked.acquire(timeout=5) and looked.acquire(timeout=5)
        assert not looked.acquire(timeout=0.2)  # the third sleeps on
        pool.wake()
        assert looked.acquire(timeout=5)
    finally:
        pool.stop()
