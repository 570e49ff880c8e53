"""``POST /webhooks/github``: read the raw body, verify, parse, store, acknowledge.

It fails closed and never answers 500 for bad input: 413 for an oversized body, 401 for a
missing or wrong signature (nothing stored), 400 for missing headers or bad JSON. Deliveries
that arrive together are committed together (group commit), and each is answered once its
row is committed: 202 with no body, 200 for a duplicate, or 503 when the batch could not be
stored.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from pydantic import SecretStr
from sqlalchemy.exc import SQLAlchemyError
from starlette.types import Receive, Scope, Send

from bot.adapters.clock import Clock
from bot.core.events import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    BadDelivery,
    IncomingDelivery,
    parse_delivery,
)
from bot.core.signatures import SIGNATURE_HEADER, SignatureError, verify_signature
from bot.metrics import Metrics
from bot.queue import Arrival, DeliveryQueue

MAX_BODY_BYTES = 25 * 1024 * 1024  # GitHub caps payloads at 25 MB
MAX_BATCH = 256
log = logging.getLogger(__name__)
WEBHOOK_PATH = "/webhooks/github"
Item = TypeVar("Item")
Result = TypeVar("Result")
Waiter = tuple[Item, "asyncio.Future[Result]"]


class IngestClosed(Exception):
    """The bot is shutting down and stores no more deliveries."""


class GroupCommit(Generic[Item, Result]):
    """Hands what callers submit to ``write`` in batches, on a worker thread, and gives each
    caller its own result (or the batch's exception).

    Nothing waits to fill a batch: an item that finds no write under way is written at
    once, and whatever arrives during a write forms the next batch. So one transaction and
    one fsync serve every delivery that arrived during the previous one. Writes run on a
    thread of their own, started with the first: handing a batch over costs less than
    through the shared thread pool, and never waits for a free thread there.
    """

    def __init__(self, write: Callable[[list[Item]], list[Result]], max_batch: int = MAX_BATCH):
        self._write = write
        self._max_batch = max_batch
        self._waiting: list[Waiter[Item, Result]] = []
        self._writing: list[Waiter[Item, Result]] = []
        self._writer: asyncio.Task[None] | None = None
        self._thread: ThreadPoolExecutor | None = None
        self._closed = False

    @property
    def waiting(self) -> int:
        """How many items wait for the next write."""
        return len(self._waiting)

    async def submit(self, item: Item) -> Result:
        if self._closed:
            raise IngestClosed
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_all())
        return await future

    async def close(self, timeout: float) -> None:
        """Take no more items; give those taken ``timeout`` seconds to be written, then
        answer the ones still waiting with ``IngestClosed``."""
        self._closed = True
        if self._writer is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._writer), timeout)
            except TimeoutError:
                _settle(self._writing + self._waiting, IngestClosed())
                self._waiting.clear()
        if self._thread is not None:
            self._thread.shutdown(wait=False)  # a stuck write keeps it until it returns

    def _run_write(self, items: list[Item]) -> asyncio.Future[list[Result]]:
        if self._thread is None:
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="group-commit")
        return asyncio.get_running_loop().run_in_executor(self._thread, self._write, items)

    async def _write_all(self) -> None:
        try:
            while self._waiting:
                batch = self._writing = self._waiting[: self._max_batch]
                del self._waiting[: self._max_batch]
                try:
                    results = await self._run_write([item for item, _ in batch])
                except Exception as exc:
                    _settle(batch, exc)
                else:
                    for (_, future), result in zip(batch, results, strict=True):
                        if not future.done():  # its request may have been cancelled
                            future.set_result(result)
                self._writing = []
        finally:
            # Also when cancelled with the event loop: no caller is left without an answer.
            _settle(self._writing + self._waiting, IngestClosed())
            self._writing, self._waiting, self._writer = [], [], None


def _settle(waiters: list[Waiter[Item, Result]], error: BaseException) -> None:
    for _, future in waiters:
        if not future.done():
            future.set_exception(error)


@dataclass
class Ingest:
    """What the endpoint needs, set on ``app.state.ingest`` by the app's lifespan.

    ``on_accepted`` is told, from a worker thread, how many new deliveries a batch
    committed (the worker pool's ``wake``).
    """

    queue: DeliveryQueue
    clock: Clock
    metrics: Metrics
    webhook_secret: SecretStr | None
    on_accepted: Callable[[int], None] = lambda count: None
    _commits: GroupCommit[Arrival, bool] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._commits = GroupCommit(self._store)

    def secret(self) -> bytes:
        return self.webhook_secret.get_secret_value().encode() if self.webhook_secret else b""

    async def accept(self, delivery: IncomingDelivery) -> bool:
        """Store the delivery, returning once it is committed; ``False`` for a duplicate."""
        return await self._commits.submit(Arrival(delivery, self.clock.now()))

    async def close(self, timeout: float = 10.0) -> None:
        """At shutdown: store what has arrived, refuse what comes later (503)."""
        await self._commits.close(timeout)

    @property
    def waiting(self) -> int:
        """Deliveries received and waiting for the next batch."""
        return self._commits.waiting

    def _store(self, arrivals: list[Arrival]) -> list[bool]:
        try:
            verdicts = self.queue.enqueue_batch(arrivals)
        except SQLAlchemyError:
            log.exception("webhook: cannot store a batch of %d deliveries", len(arrivals))
            raise
        if new := sum(verdicts):
            try:
                self.on_accepted(new)
            except Exception:  # the rows are committed; workers still find them when idle
                log.exception("webhook: cannot wake the workers")
        return verdicts


class BodyTooLarge(Exception):
    pass


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refusing (without buffering past ``limit``) anything larger."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _reply(status: int, outcome: str, **extra: str) -> JSONResponse:
    return JSONResponse({"status": outcome, **extra}, status_code=status)


class WebhookEndpoint:
    """``POST /webhooks/github`` as a plain ASGI app, routed by Starlette but outside
    FastAPI's request handling (dependency solving, an exit stack, exception handlers per
    request), which would cost as much as the endpoint's own work; it takes no parameters
    and answers every error itself."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await github_webhook(Request(scope, receive))
        await response(scope, receive, send)


async def github_webhook(request: Request) -> Response:
    """Verify, parse, store, answer; every refusal is a JSON body with its reason."""
    ingest: Ingest = request.app.state.ingest
    count = ingest.metrics.webhook_deliveries
    try:
        body = await read_body(request, MAX_BODY_BYTES)
        verify_signature(body, request.headers.get(SIGNATURE_HEADER), ingest.secret())
    except BodyTooLarge:
        count.labels("unverified", "too_large").inc()
        return _reply(413, "rejected", reason=f"body larger than {MAX_BODY_BYTES} bytes")
    except SignatureError as exc:
        # Header values are unverified input: logged with repr and truncated.
        log.warning(
            "webhook rejected: %s (delivery=%.60r, event=%.40r)",
            exc,
            request.headers.get(DELIVERY_HEADER),
            request.headers.get(EVENT_HEADER),
        )
        count.labels("unverified", "rejected").inc()
        return _reply(401, "rejected", reason=str(exc))
    try:
        delivery = parse_delivery(request.headers, body)
    except BadDelivery as exc:
        count.labels("unknown", "bad_request").inc()
        return _reply(400, "bad_request", reason=str(exc))
    if delivery.event == "ping":
        count.labels("ping", "pong").inc()
        return _reply(200, "pong")
    try:
        is_new = await ingest.accept(delivery)
    except (SQLAlchemyError, IngestClosed) as exc:
        log.warning("webhook: delivery %s not stored: %s", delivery.delivery_id, type(exc).__name__)
        count.labels(delivery.event, "unavailable").inc()
        return _reply(503, "unavailable", reason="cannot store the delivery; retry later")
    count.labels(delivery.event, "queued" if is_new else "duplicate").inc()
    if not is_new:
        return _reply(200, "duplicate", delivery=delivery.delivery_id)
    # The status says all there is to say; a body would be a second write on the socket.
    return Response(status_code=202)
