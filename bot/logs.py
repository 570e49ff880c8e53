"""How the bot's log lines look: text for a terminal, or one JSON object per line
(``AUTOSTACK_LOG_FORMAT=json``) for a log pipeline, uvicorn's lines included.

Every line carries what is known about the work in progress (the delivery, installation,
repository, app, environment, deployment), taken from a context variable that the code
doing the work sets with ``log_context`` or ``delivery_context``, so that no log call has
to pass them along.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from types import MappingProxyType
from typing import IO, Literal, Protocol

LogFormat = Literal["json", "text"]

# The fields a line may carry, in the order they are printed.
CONTEXT_FIELDS = (
    "delivery_id",
    "event",
    "installation_id",
    "repository",
    "app",
    "environment",
    "deployment_id",
)
_EMPTY: Mapping[str, object] = MappingProxyType({})
_context: ContextVar[Mapping[str, object]] = ContextVar("autostack_log_context", default=_EMPTY)

UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")


def current_context() -> Mapping[str, object]:
    """What the lines logged here and now carry."""
    return _context.get()


@contextmanager
def log_context(**fields: object) -> Iterator[None]:
    """Lines logged inside carry ``fields`` (``None`` values are left out) on top of the
    enclosing context; it ends with the block, also in threads that reuse a context."""
    unknown = set(fields) - set(CONTEXT_FIELDS)
    if unknown:
        raise ValueError(f"unknown log context fields: {sorted(unknown)}")
    merged = {**_context.get(), **{k: v for k, v in fields.items() if v is not None}}
    token = _context.set(merged)
    try:
        yield
    finally:
        _context.reset(token)


class DeliveryLike(Protocol):
    """A stored delivery (``bot.queue.Delivery``) or the event made from it."""

    @property
    def delivery_id(self) -> str: ...
    @property
    def installation_id(self) -> int | None: ...
    @property
    def repository(self) -> str | None: ...


@contextmanager
def delivery_context(delivery: DeliveryLike) -> Iterator[None]:
    """Lines logged while ``delivery`` is handled carry its id, installation and repository."""
    event = getattr(delivery, "event", None) or getattr(delivery, "name", None)
    with log_context(
        delivery_id=delivery.delivery_id,
        event=event if isinstance(event, str) else None,
        installation_id=delivery.installation_id,
        repository=delivery.repository,
    ):
        yield


class ContextFilter(logging.Filter):
    """Copies the current context onto each record as it is emitted (in the logging thread)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "autostack_context"):
            record.autostack_context = dict(_context.get())
        return True


def _context_of(record: logging.LogRecord) -> Mapping[str, object]:
    return getattr(record, "autostack_context", None) or {}


def _access_fields(record: logging.LogRecord) -> dict[str, object]:
    """uvicorn's access line as fields: it logs (client, method, path, http version, status)."""
    args = record.args
    if record.name != "uvicorn.access" or not isinstance(args, tuple) or len(args) != 5:
        return {}
    client, method, path, http_version, status = args
    return {
        "client": client,
        "method": method,
        "path": path,
        "http_version": http_version,
        "status": status,
    }


def _utc_iso(timestamp: float) -> str:
    moment = datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds")
    return moment.replace("+00:00", "Z")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, the context,
    and the exception's traceback as one string when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": _utc_iso(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        context = _context_of(record)
        line.update((name, context[name]) for name in CONTEXT_FIELDS if name in context)
        line.update(_access_fields(record))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        # ASCII-only: a sender's lone surrogate or control character cannot break the line.
        return json.dumps(line, default=str)


class TextFormatter(logging.Formatter):
    """``time LEVEL logger: message [delivery_id=... app=...]`` for a person."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        context = _context_of(record)
        known = [f"{name}={context[name]}" for name in CONTEXT_FIELDS if name in context]
        if not known:
            return text
        first, newline, rest = text.partition("\n")
        return f"{first} [{' '.join(known)}]{newline}{rest}"


def formatter(log_format: LogFormat) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else TextFormatter()


def configure_logging(level: str, log_format: LogFormat, *, stream: IO[str] | None = None) -> None:
    """Send every log line of the process, uvicorn's too, to ``stream`` (standard error) in
    ``log_format``. Call it again to change it; uvicorn must then be given
    ``log_config=None`` so that it keeps this configuration instead of installing its own."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter(log_format))
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # uvicorn's own configuration (as installed by a server started earlier in this
    # process, e.g. the setup flow's) gives its loggers handlers that do not propagate.
    # A server started with access_log=False or another log level also leaves its mark.
    for name in UVICORN_LOGGERS:
        logger = logging.getLogger(name)
        for old in list(logger.handlers):
            logger.removeHandler(old)
        logger.propagate = True
        logger.disabled = False
        logger.setLevel(logging.NOTSET)
    # The watcher's scheduler logs every pass at INFO; its failures still show.
    logging.getLogger("apscheduler").setLevel(max(logging.WARNING, root.level))
