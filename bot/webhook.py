"""``POST /webhooks/github``: read the raw body, verify, parse, store, acknowledge.

It fails closed and never answers 500 for bad input: 413 for an oversized body, 401 for a
missing or wrong signature (nothing stored), 400 for missing headers or bad JSON.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import SecretStr
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

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
from bot.queue import DeliveryQueue

MAX_BODY_BYTES = 25 * 1024 * 1024  # GitHub caps payloads at 25 MB
log = logging.getLogger(__name__)
router = APIRouter()


@dataclass
class Ingest:
    """What the endpoint needs, set on ``app.state.ingest`` by the app's lifespan."""

    queue: DeliveryQueue
    clock: Clock
    metrics: Metrics
    webhook_secret: SecretStr | None
    on_accepted: Callable[[], None] = lambda: None

    def secret(self) -> bytes:
        return self.webhook_secret.get_secret_value().encode() if self.webhook_secret else b""

    def accept(self, delivery: IncomingDelivery) -> bool:
        """Store the delivery (committed before we answer); ``False`` for a duplicate."""
        is_new = self.queue.enqueue(delivery, self.clock.now())
        if is_new:
            self.on_accepted()
        return is_new


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


@router.post("/webhooks/github")
async def github_webhook(request: Request) -> JSONResponse:
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
        is_new = await run_in_threadpool(ingest.accept, delivery)
    except SQLAlchemyError:
        log.exception("webhook: cannot store delivery %s", delivery.delivery_id)
        return _reply(503, "unavailable", reason="cannot store the delivery; retry later")
    count.labels(delivery.event, "queued" if is_new else "duplicate").inc()
    if not is_new:
        return _reply(200, "duplicate", delivery=delivery.delivery_id)
    return _reply(202, "queued", delivery=delivery.delivery_id)
