"""Hostile signed bodies at the webhook: nested too deep, lone surrogates, NUL characters, and
a delivery the database refuses alone in a batch. Each is refused alone with a 400 and a
reason, leaves nothing in the database, and never fails the valid deliveries beside it."""

from __future__ import annotations

import asyncio
import json
import logging
import threading

import httpx
import pytest
from fastapi import FastAPI

from bot.adapters.clock import FakeClock
from bot.app import create_app
from bot.core.events import Event
from bot.core.signatures import sign
from bot.queue import Arrival, DeliveryQueue
from bot.router import HandlerContext, Router
from bot.settings import Settings
from bot.store import Store
from bot.webhook import MAX_NESTING, Ingest, json_text_problem
from tests.bot.conftest import SECRET
from tests.bot.test_ingest import run_app

URL = "/webhooks/github"


def _pong(event: Event, ctx: HandlerContext) -> None:
    """Ping only: every other delivery is stored and left for the workers."""


def ingest_only() -> Router:
    router = Router()
    router.add(_pong, "ping")
    return router


def signed(body: bytes, delivery: str, event: str = "issue_comment") -> dict[str, str]:
    return {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": sign(body, SECRET.encode()),
        "Content-Type": "application/json",
    }


def valid(n: int) -> bytes:
    return json.dumps({"action": "created", "n": n, "sender": {"login": "octocat"}}).encode()


def nested(depth: int) -> bytes:
    return b'{"action":"created","x":' + b"[" * depth + b"]" * depth + b"}"


async def post(client: httpx.AsyncClient, body: bytes, delivery: str) -> httpx.Response:
    return await client.post(URL, content=body, headers=signed(body, delivery))


def stored_ids(store: Store) -> list[str]:
    return sorted(d.delivery_id for d in DeliveryQueue(store).list(limit=1000))


@pytest.fixture
def app(store: Store, clock: FakeClock, settings: Settings) -> FastAPI:
    return create_app(settings, router=ingest_only(), store=store, clock=clock)


@pytest.mark.parametrize("depth", [MAX_NESTING + 1, 1000, 100_000])
def test_a_body_nested_too_deep_is_refused_and_leaves_no_trace(
    app: FastAPI, store: Store, depth: int
) -> None:
    async def scenario(client: httpx.AsyncClient, ingest: Ingest) -> list[httpx.Response]:
        return [await post(client, nested(depth), "deep"), await post(client, valid(1), "ok")]

    deep, fine = run_app(app, scenario)
    assert deep.status_code == 400
    assert "deep" in deep.json()["reason"] or "not valid JSON" in deep.json()["reason"]
    assert fine.status_code == 202
    assert stored_ids(store) == ["ok"]


def test_nesting_up_to_the_bound_is_stored(app: FastAPI, store: Store) -> None:
    async def scenario(client: httpx.AsyncClient, ingest: Ingest) -> int:
        return (await post(client, nested(MAX_NESTING - 1), "at-bound")).status_code

    assert run_app(app, scenario) == 202  # with the outer object: MAX_NESTING levels
    assert stored_ids(store) == ["at-bound"]


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"{}", None),
        (b'{"a":[[[]]]}', None),
        (nested(MAX_NESTING - 1), None),
        (nested(MAX_NESTING), "deep"),
        # Brackets inside strings, escaped quotes and backslashes do not count.
        (b'{"a":"' + b"[" * 200 + b'"}', None),
        (b'{"a":"\\"' + b"[" * 200 + b'\\\\"}', None),
        (b'{"a":"x\\\\","b":' + b"[" * 70 + b"]" * 70 + b"}", "deep"),
        (b'{"a":"' + b"]" * 200 + b'","b":' + b"[" * 70 + b"]" * 70 + b"}", "deep"),
        (b'{"a":"\\ud83d\\ude00 \\u00e9"}', None),  # a surrogate pair: one character
        (b'{"a":"\\\\ud800"}', None),  # an escaped backslash, then the text "ud800"
        (b'{"a":"\\ud800"}', "surrogate"),
        (b'{"a":"\\uDFFF"}', "surrogate"),
        (b'{"a":"\\\\\\ud800"}', "surrogate"),
        (b'{"a":"\\ud83d\\u0041"}', "surrogate"),
        (b'{"a":"\\ud83d","b":"\\ude00"}', "surrogate"),
    ],
)
def test_json_text_problems(body: bytes, problem: str | None) -> None:
    json.loads(body)  # each is valid JSON
    found = json_text_problem(body, MAX_NESTING)
    assert (found is None) if problem is None else (found is not None and problem in found)


def test_a_lone_surrogate_is_refused_alone_while_its_batch_is_stored(
    app: FastAPI, store: Store, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The bad delivery arrives while a batch is being written, together with several valid
    ones that form the next batch: only it is refused."""
    release, entered = threading.Event(), threading.Event()
    batches: list[list[str]] = []

    async def scenario(client: httpx.AsyncClient, ingest: Ingest) -> list[int]:
        write = ingest.queue.enqueue_batch

        def held(arrivals: list[Arrival]) -> list[bool]:
            batches.append([a.delivery.delivery_id for a in arrivals])
            if len(batches) == 1:
                entered.set()
                release.wait(10)
            return write(arrivals)

        monkeypatch.setattr(ingest.queue, "enqueue_batch", held)
        first = asyncio.create_task(post(client, valid(0), "d-0"))
        assert await asyncio.to_thread(entered.wait, 5)
        bad = b'{"action":"\\ud800","zen":"x"}'
        sends = [post(client, valid(n), f"d-{n}") for n in range(1, 4)]
        sends.insert(2, post(client, bad, "bad"))
        sends.append(post(client, valid(4), "d-4"))
        tasks = [asyncio.create_task(send) for send in sends]
        while ingest.waiting < 4:
            await asyncio.sleep(0.002)
        release.set()
        return [r.status_code for r in await asyncio.gather(first, *tasks)]

    with caplog.at_level(logging.DEBUG):
        statuses = run_app(app, scenario)
    assert statuses == [202, 202, 202, 400, 202, 202]
    assert stored_ids(store) == ["d-0", "d-1", "d-2", "d-3", "d-4"]
    assert batches == [["d-0"], ["d-1", "d-2", "d-3", "d-4"]]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]


def test_a_lone_surrogate_answers_400_with_its_reason(app: FastAPI, store: Store) -> None:
    async def scenario(client: httpx.AsyncClient, ingest: Ingest) -> httpx.Response:
        return await post(client, b'{"action":"created","comment":{"body":"\\udc00"}}', "bad")

    response = run_app(app, scenario)
    assert response.status_code == 400
    assert "lone surrogate" in response.json()["reason"]
    assert stored_ids(store) == []


def test_a_raw_utf8_surrogate_is_refused(app: FastAPI, store: Store) -> None:
    """Not UTF-8 (json.loads still reads it): parsed, and refused before it is stored."""

    async def scenario(client: httpx.AsyncClient, ingest: Ingest) -> httpx.Response:
        return await post(client, b'{"action":"\xed\xa0\x80"}', "raw")

    response = run_app(app, scenario)
    assert response.status_code == 400 and "surrogate" in response.json()["reason"]
    assert stored_ids(store) == []


def test_a_nul_in_a_summary_field_is_refused(app: FastAPI, store: Store) -> None:
    """PostgreSQL's text columns cannot hold NUL; SQLite's can: refused on both alike."""

    async def scenario(client: httpx.AsyncClient, ingest: Ingest) -> list[httpx.Response]:
        return [
            await post(client, b'{"action":"\\u0000"}', "nul"),
            await post(client, b'{"action":"created","zen":"\\u0000"}', "nul-in-payload"),
        ]

    summary, payload = run_app(app, scenario)
    assert summary.status_code == 400 and "NUL" in summary.json()["reason"]
    assert payload.status_code == 202  # the payload keeps it, as JSON text
    assert stored_ids(store) == ["nul-in-payload"]


def test_a_delivery_the_database_refuses_alone_fails_alone(
    app: FastAPI, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A value that cannot be sent to the database (a bind error) fails its whole batch's
    statement; the batch is written again in halves, so only that delivery is refused."""
    release, entered = threading.Event(), threading.Event()

    async def scenario(client: httpx.AsyncClient, ingest: Ingest) -> list[int]:
        write = ingest.queue.enqueue_batch

        def refusing(arrivals: list[Arrival]) -> list[bool]:
            if len(arrivals) == 1 and arrivals[0].delivery.delivery_id == "d-0":
                entered.set()
                release.wait(10)
            if any(a.delivery.delivery_id == "poison" for a in arrivals):
                raise UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed")
            return write(arrivals)

        monkeypatch.setattr(ingest.queue, "enqueue_batch", refusing)
        first = asyncio.create_task(post(client, valid(0), "d-0"))
        assert await asyncio.to_thread(entered.wait, 5)
        ids = ["d-1", "d-2", "poison", "d-3", "d-4", "d-5", "d-1"]
        tasks = [asyncio.create_task(post(client, valid(n), d)) for n, d in enumerate(ids)]
        while ingest.waiting < len(ids):
            await asyncio.sleep(0.002)
        release.set()
        return [r.status_code for r in await asyncio.gather(first, *tasks)]

    statuses = run_app(app, scenario)
    assert statuses == [202, 202, 202, 400, 202, 202, 202, 200]
    assert stored_ids(store) == ["d-0", "d-1", "d-2", "d-3", "d-4", "d-5"]
