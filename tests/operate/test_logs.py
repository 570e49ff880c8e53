"""Structured logs: the JSON and text formats, the context each line carries, and
``autostack serve`` with ``AUTOSTACK_LOG_FORMAT=json`` writing nothing but JSON lines."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from bot.logs import (
    configure_logging,
    current_context,
    delivery_context,
    log_context,
)
from bot.queue import Delivery
from bot.settings import Settings
from sandbox.testbed import Testbed

NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


def delivery(delivery_id: str = "d-1") -> Delivery:
    return Delivery(
        delivery_id=delivery_id,
        event="issue_comment",
        action="created",
        installation_id=42,
        repository="acme/shop",
        payload_text="{}",
        received_at=NOW,
        state="running",
        attempts=1,
        lease_owner="w",
        lease_expires_at=NOW,
        next_attempt_at=NOW,
        last_error=None,
        finished_at=None,
    )


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """The root logger configured as ``serve`` configures it, writing into a buffer."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    buffer = io.StringIO()
    yield buffer
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in saved[0]:
        root.addHandler(handler)
    root.setLevel(saved[1])


def json_lines(buffer: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def test_json_line_has_time_level_logger_message(captured: io.StringIO) -> None:
    configure_logging("INFO", "json", stream=captured)
    logging.getLogger("bot.test").info("hello %s", "world")
    (line,) = json_lines(captured)
    assert set(line) == {"time", "level", "logger", "message"}
    assert line["level"] == "INFO" and line["logger"] == "bot.test"
    assert line["message"] == "hello world"
    stamp = str(line["time"])
    assert stamp.endswith("Z")
    assert datetime.fromisoformat(stamp).tzinfo is not None


def test_json_lines_carry_the_delivery_and_deployment_context(captured: io.StringIO) -> None:
    configure_logging("INFO", "json", stream=captured)
    log = logging.getLogger("bot.test")
    with delivery_context(delivery()):
        log.info("claimed")
        with log_context(app="shop", environment="prod", deployment_id=7):
            log.warning("deploying")
        log.info("done")
    log.info("idle")
    claimed, deploying, done, idle = json_lines(captured)
    assert claimed["delivery_id"] == "d-1" and claimed["installation_id"] == 42
    assert claimed["repository"] == "acme/shop" and claimed["event"] == "issue_comment"
    assert "app" not in claimed
    assert (deploying["app"], deploying["environment"], deploying["deployment_id"]) == (
        "shop",
        "prod",
        7,
    )
    assert deploying["delivery_id"] == "d-1"
    assert "app" not in done and done["delivery_id"] == "d-1"
    assert "delivery_id" not in idle


def test_an_exception_is_one_field_of_one_line(captured: io.StringIO) -> None:
    configure_logging("INFO", "json", stream=captured)
    try:
        raise ValueError("bad\nthing")
    except ValueError:
        logging.getLogger("bot.test").exception("handler failed")
    (line,) = json_lines(captured)
    assert line["message"] == "handler failed"
    assert "Traceback" in str(line["exception"]) and "ValueError: bad" in str(line["exception"])


def test_hostile_text_stays_on_one_line(captured: io.StringIO) -> None:
    configure_logging("INFO", "json", stream=captured)
    logging.getLogger("bot.test").info("from a sender: %s", "a\nb\x1b[31m\ud800")
    assert len(captured.getvalue().splitlines()) == 1
    assert captured.getvalue().isascii()
    (line,) = json_lines(captured)
    assert line["message"] == "from a sender: a\nb\x1b[31m\ud800"


def test_text_lines_end_with_the_context(captured: io.StringIO) -> None:
    configure_logging("INFO", "text", stream=captured)
    with delivery_context(delivery()), log_context(app="shop"):
        logging.getLogger("bot.test").info("hello")
    text = captured.getvalue().strip()
    assert text.endswith(
        "INFO bot.test: hello [delivery_id=d-1 event=issue_comment installation_id=42 "
        "repository=acme/shop app=shop]"
    )


def test_uvicorn_access_lines_become_fields(captured: io.StringIO) -> None:
    configure_logging("INFO", "json", stream=captured)
    access = logging.getLogger("uvicorn.access")
    # As uvicorn's own configuration leaves it (log_level="warning", access_log=False).
    access.addHandler(logging.NullHandler())
    access.propagate = False
    access.setLevel(logging.WARNING)
    configure_logging("INFO", "json", stream=captured)  # takes uvicorn's loggers back
    access.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", "/readyz", "1.1", 200)
    (line,) = json_lines(captured)
    assert line["logger"] == "uvicorn.access"
    assert (line["method"], line["path"], line["status"]) == ("GET", "/readyz", 200)


def test_context_is_per_thread_and_ends_with_its_block() -> None:
    seen: list[object] = []
    with delivery_context(delivery("outer")):

        def other_thread() -> None:
            seen.append(current_context().get("delivery_id"))

        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join()
        assert current_context()["delivery_id"] == "outer"
    assert seen == [None]
    assert current_context() == {}


def test_unknown_context_fields_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown log context fields"), log_context(user="x"):
        pass


def test_log_format_setting() -> None:
    assert Settings().log_format == "text"
    assert Settings(log_format="JSON").log_format == "json"  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="log_format"):
        Settings(log_format="xml")  # type: ignore[arg-type]


def test_serve_writes_only_json_lines(tmp_path: Path) -> None:
    """``autostack serve`` as users run it, against the sandbox, with
    ``AUTOSTACK_LOG_FORMAT=json``: every line of its output parses as a JSON object."""
    with Testbed(tmp_path) as bed:
        bed.start_sandbox_process()
        process = bed.start_bot_process(log_format="json")
        bed.install([bed.gitops_name])
        bed.settle()
        # A refused webhook: the bot logs why.
        refused = httpx.post(f"{bed.bot_url}/webhooks/github", content=b"{}", timeout=10)
        assert refused.status_code in (400, 401)
        bed.stop_bot()
        output = process.output()
    lines = [json.loads(line) for line in output.splitlines()]
    assert lines, "serve wrote nothing"
    for line in lines:
        assert isinstance(line, dict)
        assert {"time", "level", "logger", "message"} <= set(line)
    loggers = {line["logger"] for line in lines}
    assert {"uvicorn.error", "uvicorn.access"} <= loggers
    assert any(str(name).startswith("bot.") for name in loggers)
    access = [line for line in lines if line["logger"] == "uvicorn.access"]
    assert {"path": "/readyz", "status": 200}.items() <= next(
        line for line in access if line["path"] == "/readyz"
    ).items()
    assert any(line["path"] == "/webhooks/github" and line["status"] == 202 for line in access)
