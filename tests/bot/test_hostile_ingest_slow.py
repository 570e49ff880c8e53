"""Slow and unsigned clients against the bot served by uvicorn with ``server_limits()``:
refused before their body is read, cut off when they trickle, never holding up others, one
short log line each and never a traceback."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import uvicorn

from bot import webhook
from bot.adapters.clock import FakeClock
from bot.app import create_app
from bot.core.signatures import sign
from bot.queue import DeliveryQueue
from bot.settings import Settings
from bot.store import Store
from bot.webhook import ReadingBudget, server_limits
from sandbox.serving import free_port
from tests.bot.conftest import SECRET
from tests.bot.test_hostile_ingest import ingest_only

URL = "/webhooks/github"


class Served:
    def __init__(self, server: uvicorn.Server, port: int, app: Any):
        self.server, self.port, self.app = server, port, app

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=10)


@contextmanager
def serving(sqlite_store: Store, settings: Settings) -> Iterator[Served]:
    """The bot as ``autostack serve`` should run it: uvicorn with ``server_limits()``; its
    log records reach pytest's caplog (no logging configuration of uvicorn's own)."""
    app = create_app(settings, router=ingest_only(), store=sqlite_store, clock=FakeClock())
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, lifespan="on", log_config=None, **server_limits()
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.01)
    try:
        yield Served(server, port, app)
    finally:
        server.should_exit = True
        thread.join(10)


def request_head(
    length: int | None, *, signature: str | None = None, delivery: str = "d-1"
) -> bytes:
    lines = [
        f"POST {URL} HTTP/1.1",
        "Host: bot",
        "Content-Type: application/json",
        "X-GitHub-Event: issue_comment",
        f"X-GitHub-Delivery: {delivery}",
    ]
    if signature is not None:
        lines.append(f"X-Hub-Signature-256: {signature}")
    if length is not None:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def read_response(sock: socket.socket, timeout: float) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and whatever body came, reading until the server closes or the
    declared body is in."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in header_lines if ": " in line)
    while len(body) < int(headers.get("content-length", 0)):
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(status_line.split()[1]), headers, body


def closed_by_server(sock: socket.socket, timeout: float) -> bool:
    sock.settimeout(timeout)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_no_signature_and_a_large_body_is_refused_before_the_body_is_sent(
    sqlite_store: Store, settings: Settings
) -> None:
    with serving(sqlite_store, settings) as served, served.connect() as sock:
        sock.sendall(request_head(webhook.MAX_BODY_BYTES))  # headers only, then wait
        status, headers, body = read_response(sock, timeout=5)
        assert status == 401
        assert "missing X-Hub-Signature-256" in json.loads(body)["reason"]
        assert headers["connection"] == "close"
        assert closed_by_server(sock, timeout=5)


@pytest.mark.parametrize(
    ("signature", "length", "status"),
    [
        ("sha256=short", 1000, 401),
        ("sha256=" + "0" * 64, webhook.MAX_BODY_BYTES + 1, 413),
    ],
    ids=["malformed-signature", "declared-too-large"],
)
def test_what_the_headers_refuse_is_answered_without_reading(
    sqlite_store: Store, settings: Settings, signature: str, length: int, status: int
) -> None:
    with serving(sqlite_store, settings) as served, served.connect() as sock:
        sock.sendall(request_head(length, signature=signature))
        assert read_response(sock, timeout=5)[0] == status
    assert DeliveryQueue(sqlite_store).counts() == {}


def test_a_trickling_body_is_cut_off_and_does_not_delay_others(
    sqlite_store: Store,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(webhook, "BODY_TIMEOUT_SECONDS", 1.0)
    body = json.dumps({"action": "created", "pad": "x" * 200}).encode()
    stop = threading.Event()

    def trickle(sock: socket.socket) -> None:
        for byte in body:
            if stop.wait(0.02):
                return
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                return

    with (
        caplog.at_level(logging.INFO),
        serving(sqlite_store, settings) as served,
        served.connect() as sock,
    ):
        sock.sendall(request_head(len(body), signature=sign(body, SECRET.encode())))
        sender = threading.Thread(target=trickle, args=(sock,), daemon=True)
        started = time.monotonic()
        sender.start()
        with httpx.Client(base_url=served.url, timeout=5) as client:
            fine = json.dumps({"action": "created"}).encode()
            headers = {
                "X-GitHub-Event": "issue_comment",
                "X-GitHub-Delivery": "fine",
                "X-Hub-Signature-256": sign(fine, SECRET.encode()),
            }
            sent = time.monotonic()
            assert client.post(URL, content=fine, headers=headers).status_code == 202
            assert time.monotonic() - sent < 0.9  # not held up by the trickling one
            assert client.get("/healthz").status_code == 200
        status, headers, answer = read_response(sock, timeout=5)
        took = time.monotonic() - started
        stop.set()
        sender.join(5)
    assert status == 408 and "within 1 s" in json.loads(answer)["reason"]
    assert headers["connection"] == "close"
    assert 0.9 < took < 3.0
    assert DeliveryQueue(sqlite_store).counts() == {"queued": 1}
    assert not [r for r in caplog.records if r.exc_info]
    lines = [r.getMessage() for r in caplog.records if r.name == "bot.webhook"]
    assert len(lines) == 1 and "not received within" in lines[0]


def test_a_client_that_leaves_mid_body_costs_one_log_line_and_no_traceback(
    sqlite_store: Store, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    body = json.dumps({"action": "created", "pad": "x" * 5000}).encode()
    with caplog.at_level(logging.INFO), serving(sqlite_store, settings) as served:
        for n in range(5):
            with served.connect() as sock:
                signature = sign(body, SECRET.encode())
                sock.sendall(request_head(len(body), signature=signature, delivery=f"d-{n}"))
                sock.sendall(body[:1000])
        deadline = time.monotonic() + 5
        while len([r for r in caplog.records if r.name == "bot.webhook"]) < 5:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert httpx.get(f"{served.url}/healthz", timeout=5).status_code == 200
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    lines = [r.getMessage() for r in caplog.records if r.name == "bot.webhook"]
    assert len(lines) == 5 and all("left before its body arrived" in line for line in lines)
    assert DeliveryQueue(sqlite_store).counts() == {}


def signed_head(body: bytes, delivery: str, event: str = "issue_comment") -> bytes:
    head = request_head(len(body), signature=sign(body, SECRET.encode()), delivery=delivery)
    return head.replace(b"X-GitHub-Event: issue_comment", f"X-GitHub-Event: {event}".encode())


def test_bodies_beyond_the_reading_budget_wait_while_small_ones_go_ahead(
    sqlite_store: Store, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reservation is held until its request is answered: here the first delivery's
    write is held, so the second, which does not fit beside it, times out waiting (503),
    while a small one that fits is answered at once."""
    monkeypatch.setattr(webhook, "BODY_TIMEOUT_SECONDS", 1.0)
    entered, release = threading.Event(), threading.Event()
    big = json.dumps({"action": "created", "pad": "x" * 8_000}).encode()
    with serving(sqlite_store, settings) as served:
        ingest = served.app.state.ingest
        ingest.reading = ReadingBudget(10_000)
        write = ingest.queue.enqueue_batch

        def held(arrivals: Any) -> Any:
            entered.set()
            release.wait(10)
            return write(arrivals)

        monkeypatch.setattr(ingest.queue, "enqueue_batch", held)
        with served.connect() as holder, served.connect() as waiter:
            holder.sendall(signed_head(big, "big") + big)
            assert entered.wait(5)
            waiter.sendall(request_head(5_000, signature="sha256=" + "0" * 64, delivery="next"))
            started = time.monotonic()
            ping = json.dumps({"zen": "ok"}).encode()
            with served.connect() as pinger:
                pinger.sendall(signed_head(ping, "ping", event="ping") + ping)
                assert read_response(pinger, timeout=5)[0] == 200
            assert time.monotonic() - started < 0.9
            status, _, answer = read_response(waiter, timeout=5)
            assert status == 503 and "too busy" in json.loads(answer)["reason"]
            assert 0.9 < time.monotonic() - started < 3.0
            release.set()
            assert read_response(holder, timeout=5)[0] == 202
        assert ingest.reading.used == 0
    assert DeliveryQueue(sqlite_store).counts() == {"queued": 1}


@pytest.mark.parametrize("trickled", [False, True], ids=["silent", "trickling"])
def test_a_connection_that_does_not_send_its_headers_in_time_is_closed(
    sqlite_store: Store, settings: Settings, monkeypatch: pytest.MonkeyPatch, trickled: bool
) -> None:
    monkeypatch.setattr(webhook, "HEADER_TIMEOUT_SECONDS", 0.5)
    with serving(sqlite_store, settings) as served, served.connect() as sock:
        started = time.monotonic()
        sock.sendall(b"POST /webhooks/github HTTP/1.1\r\nHost: b" if trickled else b"")
        closed = False
        while not closed and time.monotonic() - started < 3:
            if trickled:
                try:
                    sock.sendall(b"o")  # a header byte every 0.1 s
                except OSError:
                    closed = True
                    break
            closed = closed_by_server(sock, timeout=0.1)
        assert closed
        assert 0.4 < time.monotonic() - started < 2.0
        assert httpx.get(f"{served.url}/healthz", timeout=5).status_code == 200


def test_a_kept_alive_connection_serves_several_requests_under_the_header_deadline(
    sqlite_store: Store, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(webhook, "HEADER_TIMEOUT_SECONDS", 0.3)
    with serving(sqlite_store, settings) as served, httpx.Client(base_url=served.url) as client:
        for n in range(3):
            body = json.dumps({"action": "created", "n": n}).encode()
            headers = {
                "X-GitHub-Event": "issue_comment",
                "X-GitHub-Delivery": f"d-{n}",
                "X-Hub-Signature-256": sign(body, SECRET.encode()),
            }
            assert client.post(URL, content=body, headers=headers).status_code == 202
            time.sleep(0.4)  # idle longer than the header deadline: keep-alive, not headers
    assert DeliveryQueue(sqlite_store).counts() == {"queued": 3}
