"""``POST /webhooks/github``: check the headers, read the raw body, verify, parse, store,
acknowledge.

It fails closed and never answers 500 for bad input. What the headers show cannot be a
signed delivery is refused before any of the body is read, and the connection closed: 401
without a well-formed signature header, 400 without the event and delivery headers, 413 for
a declared body over 25 MB. Bodies are read under a memory budget and a deadline: 503 while
too many bytes are being read, 408 for a body that does not arrive in time. Then 401 for a
wrong signature, 400 for a body that is not a JSON object, nests too deep or cannot be stored
as received (nothing stored). Deliveries that arrive together are committed together (group
commit), and each is answered once its row is committed: 202 with no body, 200 for a
duplicate, or 503 when the batch could not be stored. A delivery the database refuses alone
is answered 400 alone: it never fails the others in its batch.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import h11
from fastapi.responses import JSONResponse, Response
from pydantic import SecretStr
from sqlalchemy.exc import DataError, DBAPIError, SQLAlchemyError, StatementError
from starlette.types import Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from bot.adapters.clock import Clock
from bot.core.events import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    BadDelivery,
    IncomingDelivery,
    JSONText,
    parse_delivery,
    parse_headers,
)
from bot.core.signatures import SIGNATURE_HEADER, SignatureError, verify_signature
from bot.metrics import Metrics
from bot.queue import Arrival, DeliveryQueue, storable_text

MAX_BODY_BYTES = 25 * 1024 * 1024  # GitHub caps payloads at 25 MB
# GitHub's payloads nest five to seven levels; Python's own JSON decoder, which reads the
# stored payload back, gives up near a thousand.
MAX_NESTING = 64
# GitHub gives up on a delivery after 10 s; a body still arriving by then is an attacker's.
BODY_TIMEOUT_SECONDS = 10.0
# Bytes of bodies read at once, reserved by their Content-Length until answered: a few
# 25 MB bodies, or thousands of GitHub's usual 5-30 KB ones.
READING_BUDGET_BYTES = 64 * 1024 * 1024
# A connection must send a request's headers within this time (uvicorn sets no limit).
HEADER_TIMEOUT_SECONDS = 10.0
MAX_BATCH = 256
log = logging.getLogger(__name__)
WEBHOOK_PATH = "/webhooks/github"
Item = TypeVar("Item")
Result = TypeVar("Result")
Waiter = tuple[Item, "asyncio.Future[Result]"]
Stored = bool | Exception
"""Per arrival: whether it is new, or why it alone could not be stored."""


class IngestClosed(Exception):
    """The bot is shutting down and stores no more deliveries."""


class Unstorable(Exception):
    """The database refused this delivery alone (a value it cannot hold); the others of its
    batch were stored."""


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


class ReadingBudget:
    """Bytes of request bodies that may be read and held at once, so that many large bodies
    arriving together cannot take the process's memory. A request reserves its declared
    size before reading and gives it back once answered; one that does not fit waits, while
    smaller ones that fit go ahead of it. A body larger than the whole budget is still read,
    alone."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self.used = 0
        self._waiting: list[tuple[int, asyncio.Future[None]]] = []

    def try_take(self, size: int) -> bool:
        if self.used and self.used + size > self.capacity:
            return False
        self.used += size
        return True

    async def take(self, size: int) -> None:
        """Reserve ``size`` bytes, waiting for them (cancel to stop waiting)."""
        if self.try_take(size):
            return
        waiter = (size, asyncio.get_running_loop().create_future())
        self._waiting.append(waiter)
        try:
            await waiter[1]
        except BaseException:
            if waiter in self._waiting:
                self._waiting.remove(waiter)
            elif waiter[1].done() and not waiter[1].cancelled():
                self.give(size)  # granted, then cancelled before it could use it
            raise

    def give(self, size: int) -> None:
        self.used -= size
        if not self._waiting:
            return
        still = []
        for waiter in self._waiting:
            wanted, future = waiter
            if future.done():
                continue
            if self.try_take(wanted):
                future.set_result(None)
            else:
                still.append(waiter)
        self._waiting = still


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
    reading: ReadingBudget = field(default_factory=lambda: ReadingBudget(READING_BUDGET_BYTES))
    _commits: GroupCommit[Arrival, Stored] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._commits = GroupCommit(self._store)

    def secret(self) -> bytes:
        return self.webhook_secret.get_secret_value().encode() if self.webhook_secret else b""

    async def accept(self, delivery: IncomingDelivery) -> bool:
        """Store the delivery, returning once it is committed; ``False`` for a duplicate,
        ``Unstorable`` when the database refused it alone."""
        stored = await self._commits.submit(Arrival(delivery, self.clock.now()))
        if isinstance(stored, Exception):
            raise Unstorable(type(stored).__name__) from stored
        return stored

    async def close(self, timeout: float = 10.0) -> None:
        """At shutdown: store what has arrived, refuse what comes later (503)."""
        await self._commits.close(timeout)

    @property
    def waiting(self) -> int:
        """Deliveries received and waiting for the next batch."""
        return self._commits.waiting

    def _store(self, arrivals: list[Arrival]) -> list[Stored]:
        try:
            verdicts = self._write_apart(arrivals)
        except SQLAlchemyError:
            log.exception("webhook: cannot store a batch of %d deliveries", len(arrivals))
            raise
        if new := sum(verdict is True for verdict in verdicts):
            try:
                self.on_accepted(new)
            except Exception:  # the rows are committed; workers still find them when idle
                log.exception("webhook: cannot wake the workers")
        return verdicts

    def _write_apart(self, arrivals: list[Arrival]) -> list[Stored]:
        """Write the batch; if a value in it cannot be sent or stored, write its halves
        apart, down to the one delivery that fails, which alone gets its error."""
        try:
            return list(self.queue.enqueue_batch(arrivals))
        except Exception as exc:
            if not _about_a_value(exc):
                raise  # the database itself (locked, unreachable, full), or a bug
            if len(arrivals) == 1:
                log.warning(
                    "webhook: delivery %s cannot be stored: %s",
                    arrivals[0].delivery.delivery_id,
                    type(exc).__name__,
                )
                return [exc]
        half = len(arrivals) // 2
        return self._write_apart(arrivals[:half]) + self._write_apart(arrivals[half:])


def _about_a_value(exc: Exception) -> bool:
    """Whether ``exc`` says a value could not be sent (encoded, bound) or stored, rather
    than that the database failed: only then may one delivery of a batch be to blame."""
    if isinstance(exc, DBAPIError):
        return isinstance(exc, DataError)
    return isinstance(exc, (StatementError, ValueError, TypeError, OverflowError))


class BodyTooLarge(Exception):
    pass


class ClientGone(Exception):
    """The client closed the connection before its body arrived."""


async def read_body(receive: Receive, limit: int) -> bytes:
    """The raw body, refusing (without buffering past ``limit``) anything larger."""
    message = await receive()
    if message["type"] != "http.request":
        raise ClientGone
    body: bytes = message.get("body", b"")
    if len(body) > limit:
        raise BodyTooLarge
    if not message.get("more_body", False):
        return body  # the usual case: all of it in one message, kept without a copy
    # One growing buffer, not a list of chunks: its memory goes back to the system once it
    # is freed, where thousands of 64 KiB chunks would leave the heap fragmented.
    buffer = bytearray(body)
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ClientGone
        buffer += message.get("body", b"")
        if len(buffer) > limit:
            raise BodyTooLarge
        if not message.get("more_body", False):
            return bytes(buffer)


# What gives a JSON text its nesting, once escapes are out: brackets (as "(" and ")") and
# the quotes around strings, inside which brackets do not count.
_MARKS = bytes.maketrans(b"[{]}", b"(())")
_NOT_MARKS = bytes(set(range(256)) - set(b'[]{}"'))
# Regular expressions that start with a backslash find it with memchr: far faster than
# bytes.replace or "in" with a needle of several bytes, which compare at each position.
_QUOTING_ESCAPE = re.compile(rb'\\[\\"]')
_SURROGATE_HINT = re.compile(rb"\\u[dD][89a-fA-F]")
_ESCAPE = re.compile(rb"\\(?:u([dD][89a-fA-F][0-9a-fA-F]{2})|.)")
_LOW_SURROGATE = 0xDC00


def json_text_problem(body: bytes, max_nesting: int) -> str | None:
    """Why the (valid, UTF-8) JSON text ``body`` cannot be stored and read back, or ``None``:
    it nests arrays and objects more than ``max_nesting`` deep (Python's decoders recurse
    once a level, so a deep payload fails wherever it is read), or it escapes a lone UTF-16
    surrogate (a string holding one has no UTF-8 form, which git, HTTP and PostgreSQL need).

    It runs on every delivery, so it is a few passes of C-speed bytes methods rather than a
    loop over the bytes: take escaped quotes and backslashes out, keep only brackets and
    quotes (a tenth of a GitHub payload), drop what is inside strings, then strip innermost
    ``()`` pairs once a level.
    """
    if b"\\" in body:
        if _SURROGATE_HINT.search(body) is not None and _lone_surrogate(body):
            return "body has a lone surrogate escape (\\ud800-\\udfff), which is not Unicode"
        # Left to right, as JSON reads escapes: the backslash of any other escape is dropped
        # below, and the character after it is neither a bracket nor a quote.
        body = _QUOTING_ESCAPE.sub(b"", body)
    marks = body.translate(_MARKS, _NOT_MARKS)
    if b'"' in marks:
        # Two quotes in a row end one string and start the next, or make an empty one; either
        # way no bracket stands between them. Quotes left enclose brackets, taken out here.
        marks = marks.replace(b'""', b"")
        if b'"' in marks:
            marks = b"".join(marks.split(b'"')[::2])
    for _ in range(max_nesting):
        if not marks:
            return None
        marks = marks.replace(b"()", b"")
    if marks:
        return f"body nests arrays and objects more than {max_nesting} deep"
    return None


def _lone_surrogate(body: bytes) -> bool:
    """Whether an escape ``\ud800``-``\udfff`` in ``body`` is not half of a high-low pair."""
    expect_low_at = -1
    for escape in _ESCAPE.finditer(body):
        if (hex_digits := escape.group(1)) is None:
            continue
        unit = int(hex_digits, 16)
        if expect_low_at != -1:
            if escape.start() != expect_low_at or unit < _LOW_SURROGATE:
                return True
            expect_low_at = -1
        elif unit >= _LOW_SURROGATE:
            return True
        else:
            expect_low_at = escape.end()
    return expect_low_at != -1


def _nests_deeper(value: Any, limit: int) -> bool:
    if limit < 0:
        return True
    if isinstance(value, dict):
        return any(_nests_deeper(item, limit - 1) for item in value.values())
    if isinstance(value, list):
        return any(_nests_deeper(item, limit - 1) for item in value)
    return False


def unstorable(delivery: IncomingDelivery, body: bytes) -> str | None:
    """Why a parsed delivery cannot be stored and read back as received, or ``None``."""
    payload = delivery.payload
    if isinstance(payload, JSONText):
        if (problem := json_text_problem(body, MAX_NESTING)) is not None:
            return problem
    else:  # other encodings, a BOM, raw surrogates: parsed objects, encoded afresh
        if _nests_deeper(payload, MAX_NESTING):
            return f"body nests arrays and objects more than {MAX_NESTING} deep"
        try:
            json.dumps(payload, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            return "body has a lone surrogate, which is not Unicode"
    for name, value in (("action", delivery.action), ("repository", delivery.repository)):
        if value is not None and not storable_text(value):
            return f"{name} holds a NUL character"
    return None


def _reply(status: int, outcome: str, *, close: bool = False, **extra: str) -> JSONResponse:
    # ``close``: the body was not read, so the connection cannot carry another request.
    headers = {"connection": "close"} if close else None
    return JSONResponse({"status": outcome, **extra}, status_code=status, headers=headers)


@dataclass
class _Sent:
    """The request headers the endpoint reads, from the ASGI scope (lower-cased names)."""

    signature: str | None = None
    event: str | None = None
    delivery: str | None = None
    length: str | None = None

    @classmethod
    def of(cls, scope: Scope) -> _Sent:
        sent = cls()
        for name, value in scope["headers"]:
            if name == b"x-hub-signature-256":
                sent.signature = sent.signature or value.decode("latin-1")
            elif name == b"x-github-event":
                sent.event = sent.event or value.decode("latin-1")
            elif name == b"x-github-delivery":
                sent.delivery = sent.delivery or value.decode("latin-1")
            elif name == b"content-length":
                sent.length = value.decode("latin-1")
        return sent

    def parseable(self) -> dict[str, str]:
        return {EVENT_HEADER: self.event or "", DELIVERY_HEADER: self.delivery or ""}

    def declared_length(self) -> int | None:
        """Content-Length, if sent and well-formed (uvicorn refuses it otherwise)."""
        if self.length is None or not (self.length.isascii() and self.length.isdigit()):
            return None
        return int(self.length)


_SIGNATURE_FORM = re.compile(r"sha256=[0-9a-fA-F]{64}")


def signature_header_problem(header: str | None, secret: bytes) -> str | None:
    """Why no body can match this signature header, found before reading the body; the
    reasons are ``verify_signature``'s, which checks the form again with the body."""
    if not secret:
        return "webhook secret is not configured"
    if header is None or not header.strip():
        return f"missing {SIGNATURE_HEADER} header"
    if _SIGNATURE_FORM.fullmatch(header.strip()) is None:
        return f"malformed {SIGNATURE_HEADER} header, expected sha256=<64 hex>"
    return None


class WebhookEndpoint:
    """``POST /webhooks/github`` as a plain ASGI app, routed by Starlette but outside
    FastAPI's request handling (dependency solving, an exit stack, exception handlers per
    request), which would cost as much as the endpoint's own work; it takes no parameters
    and answers every error itself."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        ingest: Ingest = scope["app"].state.ingest
        response = await github_webhook(ingest, scope, receive)
        if response is not None:
            await response(scope, receive, send)


def _refuse_unread(ingest: Ingest, sent: _Sent) -> Response | None:
    """The answer for a request that its headers show cannot be a signed delivery; such a
    request is answered without reading its body."""
    count = ingest.metrics.webhook_deliveries
    if problem := signature_header_problem(sent.signature, ingest.secret()):
        _log_rejected(problem, sent)
        count.labels("unverified", "rejected").inc()
        return _reply(401, "rejected", close=True, reason=problem)
    try:
        parse_headers(sent.parseable())
    except BadDelivery as exc:
        count.labels("unknown", "bad_request").inc()
        return _reply(400, "bad_request", close=True, reason=str(exc))
    if (sent.declared_length() or 0) > MAX_BODY_BYTES:
        count.labels("unverified", "too_large").inc()
        return _reply(
            413, "rejected", close=True, reason=f"body larger than {MAX_BODY_BYTES} bytes"
        )
    return None


def _log_rejected(reason: object, sent: _Sent) -> None:
    # Header values are unverified input: logged with repr and truncated.
    log.warning(
        "webhook rejected: %s (delivery=%.60r, event=%.40r)", reason, sent.delivery, sent.event
    )


async def github_webhook(ingest: Ingest, scope: Scope, receive: Receive) -> Response | None:
    """Check the headers, read, verify, parse, store, answer; every refusal is a JSON body
    with its reason. ``None`` when the client left before its body arrived."""
    sent = _Sent.of(scope)
    if (refusal := _refuse_unread(ingest, sent)) is not None:
        return refusal
    declared = sent.declared_length()
    reserved = MAX_BODY_BYTES if declared is None else declared
    budget = ingest.reading
    taken = budget.try_take(reserved)
    try:
        try:
            async with asyncio.timeout(BODY_TIMEOUT_SECONDS):
                if not taken:
                    await budget.take(reserved)
                    taken = True
                body = await read_body(receive, MAX_BODY_BYTES)
        except (TimeoutError, BodyTooLarge, ClientGone) as exc:
            return _unread(ingest, sent, exc, taken)
        return await _accept(ingest, sent, body)
    finally:
        if taken:
            budget.give(reserved)


def _unread(ingest: Ingest, sent: _Sent, exc: Exception, taken: bool) -> Response | None:
    """The answer when the body could not be read; one short log line, never a traceback."""
    count = ingest.metrics.webhook_deliveries
    if isinstance(exc, BodyTooLarge):
        count.labels("unverified", "too_large").inc()
        return _reply(
            413, "rejected", close=True, reason=f"body larger than {MAX_BODY_BYTES} bytes"
        )
    if isinstance(exc, ClientGone):
        log.info("webhook: client left before its body arrived (delivery=%.60r)", sent.delivery)
        count.labels("unverified", "client_gone").inc()
        return None
    if not taken:
        log.warning("webhook: too many bodies being read; refused (delivery=%.60r)", sent.delivery)
        count.labels("unverified", "busy").inc()
        return _reply(503, "unavailable", close=True, reason="too busy reading bodies; retry later")
    log.warning(
        "webhook: body not received within %g s (delivery=%.60r)",
        BODY_TIMEOUT_SECONDS,
        sent.delivery,
    )
    count.labels("unverified", "timeout").inc()
    return _reply(
        408, "timeout", close=True, reason=f"body not received within {BODY_TIMEOUT_SECONDS:g} s"
    )


async def _accept(ingest: Ingest, sent: _Sent, body: bytes) -> Response:
    count = ingest.metrics.webhook_deliveries
    try:
        verify_signature(body, sent.signature, ingest.secret())
    except SignatureError as exc:
        _log_rejected(exc, sent)
        count.labels("unverified", "rejected").inc()
        return _reply(401, "rejected", reason=str(exc))
    try:
        delivery = parse_delivery(sent.parseable(), body)
    except BadDelivery as exc:
        count.labels("unknown", "bad_request").inc()
        return _reply(400, "bad_request", reason=str(exc))
    if delivery.event == "ping":
        count.labels("ping", "pong").inc()
        return _reply(200, "pong")
    if (problem := unstorable(delivery, body)) is not None:
        count.labels(delivery.event, "bad_request").inc()
        return _reply(400, "bad_request", reason=problem)
    try:
        is_new = await ingest.accept(delivery)
    except Unstorable as exc:
        count.labels(delivery.event, "bad_request").inc()
        return _reply(400, "bad_request", reason=f"the database cannot store this body: {exc}")
    except (SQLAlchemyError, IngestClosed) as exc:
        log.warning("webhook: delivery %s not stored: %s", delivery.delivery_id, type(exc).__name__)
        count.labels(delivery.event, "unavailable").inc()
        return _reply(503, "unavailable", reason="cannot store the delivery; retry later")
    count.labels(delivery.event, "queued" if is_new else "duplicate").inc()
    if not is_new:
        return _reply(200, "duplicate", delivery=delivery.delivery_id)
    # The status says all there is to say; a body would be a second write on the socket.
    return Response(status_code=202)


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for each request's headers: uvicorn itself
    waits for them for ever, so connections that trickle (or never send) their headers
    pile up. A connection whose request line and headers have not all arrived
    ``HEADER_TIMEOUT_SECONDS`` after it opened, or after its previous response, is closed,
    with one log line."""

    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timer()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is h11.IDLE:
            if self._header_timer is None:  # a new request began (after a keep-alive)
                self._arm_header_timer()
        elif self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def connection_lost(self, exc: Exception | None) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None
        super().connection_lost(exc)

    def _arm_header_timer(self) -> None:
        self._header_timer = self.loop.call_later(HEADER_TIMEOUT_SECONDS, self._headers_late)

    def _headers_late(self) -> None:
        self._header_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            log.info(
                "webhook: closed a connection whose headers took over %g s", HEADER_TIMEOUT_SECONDS
            )
            self.transport.close()


def server_limits() -> dict[str, Any]:
    """uvicorn's keyword arguments that bound what slow or hostile clients can hold:
    ``uvicorn.run(app, host=..., port=..., **server_limits())``."""
    return {
        "http": GuardedH11Protocol,
        "timeout_keep_alive": 5,  # an idle keep-alive connection is closed after 5 s
        "h11_max_incomplete_event_size": 16 * 1024,  # request line and headers: 16 KiB
        # Connections (and requests) at once; further requests are answered 503. Each holds
        # at most about 320 KiB of unread body in uvicorn's buffers.
        "limit_concurrency": 1024,
        "backlog": 1024,
    }
