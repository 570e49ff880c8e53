"""Many large bodies at once do not take the server's memory: a component test of the bot in
a process of its own (uvicorn with ``server_limits()``, SQLite in a temporary directory),
whose resident memory is read from ``/proc`` while unsigned 25 MB bodies arrive together."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from bot.webhook import MAX_BODY_BYTES
from sandbox.serving import free_port

SERVER = """
import sys
import uvicorn
from pydantic import SecretStr
from bot import webhook
from bot.app import create_app
from bot.router import Router
from bot.settings import Settings

data, port = sys.argv[1], int(sys.argv[2])
router = Router()
router.add(lambda event, ctx: None, "ping")
settings = Settings(
    webhook_secret=SecretStr("s3cr3t"),
    database_url=SecretStr(f"sqlite:///{data}/bot.db"),
    data_dir=data,
    workers=0,
)
webhook.BODY_TIMEOUT_SECONDS = 3.0
uvicorn.run(
    create_app(settings, router=router),
    host="127.0.0.1",
    port=port,
    log_level="warning",
    access_log=False,
    **webhook.server_limits(),
)
"""
MIB = 1024 * 1024
SENDERS = 48  # 1.2 GB of bodies at once
PEAK_GROWTH_LIMIT = 400 * MIB
KEPT_GROWTH_LIMIT = 200 * MIB


def memory(pid: int, field: str) -> int:
    """``VmRSS`` (resident now) or ``VmHWM`` (the most it has been), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise LookupError(field)


def send(port: int, body: bytes, signature: str | None, answers: list[int]) -> None:
    """One request with the whole body; the server may answer and close before it is all
    sent, which is fine: the answer is what counts, if any arrives."""
    head = [
        "POST /webhooks/github HTTP/1.1",
        "Host: bot",
        "X-GitHub-Event: push",
        f"X-GitHub-Delivery: d-{threading.get_ident()}",
        f"Content-Length: {len(body)}",
    ]
    if signature is not None:
        head.append(f"X-Hub-Signature-256: {signature}")
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        try:
            sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
            sock.sendall(body)
        except OSError:
            pass
        try:
            status_line = sock.recv(4096).split(b"\r\n", 1)[0]
            answers.append(int(status_line.split()[1]))
        except (OSError, IndexError, ValueError):
            answers.append(0)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc")
def test_concurrent_large_unsigned_bodies_do_not_grow_the_server(tmp_path: Path) -> None:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(tmp_path), str(port)],
        cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, "the server exited"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.1)
        before = memory(server.pid, "VmRSS")
        body = b"{" + b" " * (MAX_BODY_BYTES - 2) + b"}"
        answers: list[int] = []
        # Half sign wrongly (so must be read to be checked), half do not sign at all.
        signatures = ["sha256=" + "0" * 64, None] * (SENDERS // 2)
        senders = [
            threading.Thread(target=send, args=(port, body, signature, answers), daemon=True)
            for signature in signatures
        ]
        for sender in senders:
            sender.start()
        peak = before
        while any(sender.is_alive() for sender in senders):
            peak = max(peak, memory(server.pid, "VmRSS"))
            if peak - before > PEAK_GROWTH_LIMIT:
                break  # no need to let it take more to know
            time.sleep(0.02)
        peak = max(peak, memory(server.pid, "VmHWM"))
        assert peak - before < PEAK_GROWTH_LIMIT, f"grew by {(peak - before) // MIB} MiB"
        for sender in senders:
            sender.join(60)
        assert len(answers) == SENDERS
        assert set(answers) <= {401, 408, 503, 0}
        assert answers.count(401) >= SENDERS // 2  # at least every unsigned one
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
        kept = memory(server.pid, "VmRSS") - before
        assert kept < KEPT_GROWTH_LIMIT, f"kept {kept // MIB} MiB"
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(5)
