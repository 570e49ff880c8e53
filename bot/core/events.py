"""GitHub webhook deliveries as values: header parsing, payload parsing and a summary.

``parse_delivery`` turns raw headers and body into an ``IncomingDelivery`` or raises
``BadDelivery`` with a reason that the webhook endpoint returns as a 400.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import msgspec
import orjson

EVENT_HEADER = "X-GitHub-Event"
DELIVERY_HEADER = "X-GitHub-Delivery"
_EVENT_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
# GitHub sends a GUID; allow any short token of safe characters so the id can be logged.
_DELIVERY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


class BadDelivery(ValueError):
    """A signed delivery we cannot use; ``str()`` is the reason returned to the sender."""


class JSONText(str):
    """A JSON document already encoded (a webhook body as received): JSON columns store it
    as it is instead of encoding it a second time."""


@dataclass(frozen=True)
class IncomingDelivery:
    """One verified delivery, ready to store; the summary fields are indexed for listing.

    ``payload`` is the body's text when it is UTF-8 JSON, stored as received, else the
    parsed object (encoded afresh when stored).
    """

    delivery_id: str
    event: str
    action: str | None
    installation_id: int | None
    repository: str | None
    payload: JSONText | dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class Event:
    """What handlers receive: a stored delivery and which attempt at handling it this is."""

    delivery_id: str
    name: str
    action: str | None
    installation_id: int | None
    repository: str | None
    payload: dict[str, Any] = field(repr=False)
    attempt: int = 1

    @property
    def sender(self) -> str | None:
        login = (self.payload.get("sender") or {}).get("login")
        return login if isinstance(login, str) else None


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value.strip()
    return None


def parse_headers(headers: Mapping[str, str]) -> tuple[str, str]:
    """``(event, delivery_id)`` from the request headers, or ``BadDelivery``."""
    event = _header(headers, EVENT_HEADER)
    delivery_id = _header(headers, DELIVERY_HEADER)
    if not event:
        raise BadDelivery(f"missing {EVENT_HEADER} header")
    if not delivery_id:
        raise BadDelivery(f"missing {DELIVERY_HEADER} header")
    if not _EVENT_NAME.fullmatch(event):
        raise BadDelivery(f"malformed {EVENT_HEADER} header")
    if not _DELIVERY_ID.fullmatch(delivery_id):
        raise BadDelivery(f"malformed {DELIVERY_HEADER} header")
    return event, delivery_id


def parse_payload(body: bytes) -> dict[str, Any]:
    """The JSON object in ``body``, or ``BadDelivery`` for anything else.

    orjson first; what it refuses and ``json`` takes (UTF-16 or UTF-32, a BOM, lone
    surrogates, NaN) is parsed by ``json``, so every body the standard library reads is
    accepted. One value differs: an integer beyond 64 bits comes out as a float. The summary
    leaves a float installation id out, as the queue leaves out an integer too large for its
    column.
    """
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        try:
            payload = json.loads(body)
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise BadDelivery(f"body is not valid JSON: {type(exc).__name__}") from None
    if not isinstance(payload, dict):
        raise BadDelivery("body must be a JSON object")
    return payload


def summarize(event: str, delivery_id: str, payload: Mapping[str, Any]) -> IncomingDelivery:
    """Pick out the fields we list and route on; absent or odd-typed ones become ``None``."""
    action = payload.get("action")
    installation = payload.get("installation")
    installation_id = installation.get("id") if isinstance(installation, dict) else None
    repository = payload.get("repository")
    full_name = repository.get("full_name") if isinstance(repository, dict) else None
    return IncomingDelivery(
        delivery_id=delivery_id,
        event=event,
        action=action if isinstance(action, str) else None,
        installation_id=installation_id if type(installation_id) is int else None,
        repository=full_name if isinstance(full_name, str) else None,
        payload=dict(payload),
    )


class _Installation(msgspec.Struct, gc=False):
    id: int | None = None


class _Repository(msgspec.Struct, gc=False):
    full_name: str | None = None


class _Summary(msgspec.Struct, gc=False):
    """The summary fields of a payload, with the types GitHub sends; every other member of
    the object is checked to be valid JSON and skipped, building nothing."""

    action: str | None = None
    installation: _Installation | None = None
    repository: _Repository | None = None


_read_summary = msgspec.json.Decoder(_Summary).decode


def _as_received(event: str, delivery_id: str, body: bytes) -> IncomingDelivery | None:
    """The delivery of a UTF-8 JSON object, its text kept as received, without building the
    object; or ``None`` when the body needs the full parse (other encodings, a BOM,
    odd-typed summary fields, anything invalid), which then decides."""
    try:
        summary = _read_summary(body)
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError):
        return None
    # msgspec checks the UTF-8 of the strings it decodes, not of those it skips.
    if (text := _stored_text(body)) is None:
        return None
    installation, repository = summary.installation, summary.repository
    return IncomingDelivery(
        delivery_id=delivery_id,
        event=event,
        action=summary.action,
        installation_id=installation.id if installation else None,
        repository=repository.full_name if repository else None,
        payload=text,
    )


def parse_delivery(headers: Mapping[str, str], body: bytes) -> IncomingDelivery:
    """Headers and raw body of a verified request -> ``IncomingDelivery``, or ``BadDelivery``.

    The body is parsed for its summary only: a 16 KiB payload parsed into Python objects
    costs about three times as long, on the event loop, and more in garbage collection
    while hundreds of deliveries wait for their batch.
    """
    event, delivery_id = parse_headers(headers)
    if (delivery := _as_received(event, delivery_id, body)) is not None:
        return delivery
    delivery = summarize(event, delivery_id, parse_payload(body))
    # The full parse may have lost precision (a big integer read as a float): keep the body
    # itself when it can be.
    text = _stored_text(body)
    return delivery if text is None else replace(delivery, payload=text)


def _stored_text(body: bytes) -> JSONText | None:
    """The body as text that a column stores and gives back as it was: plain UTF-8 with no
    BOM (``json.loads`` also reads other encodings, and UTF-8-encoded surrogates)."""
    if json.detect_encoding(body) != "utf-8":
        return None
    try:
        return JSONText(body.decode("utf-8"))
    except UnicodeDecodeError:
        return None
