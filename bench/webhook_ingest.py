"""Benchmark: webhook ingest through uvicorn on loopback, the bot next to a bare endpoint.

    python bench/webhook_ingest.py [--rate 500] [--seconds 10] [--connections 16,64,256]
                                   [--closed-seconds 4] [--repeats 3] [--with-workers N]

Starts two uvicorn servers in their own processes: the bot (``create_app`` with SQLite in a
temp dir and no workers, so only ingest is measured) and a bare FastAPI app whose
``POST /webhooks/github`` reads the body and answers 202. Sends GitHub's example payloads
(issue_comment, pull_request, push, workflow_run; compact JSON as GitHub sends it), signed,
each with a fresh ``X-GitHub-Delivery``, and prints:
- open loop at a fixed rate: p50/p90/p99/max acknowledgement latency, measured from each
  request's scheduled send time so that queueing is not hidden (coordinated omission);
- closed loop with N keep-alive connections, for each N given: deliveries/s per
  repetition and the median; the bot/bare ratio at the first N, and of the capacities (each
  server's best median over every N);
- a check that every acknowledged delivery is stored exactly once with the payload sent
  (the bot is killed with SIGKILL first, so only committed rows count), and that
  re-deliveries are answered as duplicates without a second row.
Targets (issue 4): p99 under 10 ms at 500/s on SQLite; at least half the bare throughput
(compared at capacity).
Exits 1 if a delivery was lost or a request failed; a missed target is only reported.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import multiprocessing
import os
import re
import secrets
import signal
import socket
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, Request, Response

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.core.signatures import sign  # noqa: E402
from tests.support.webhook_schemas import example_payloads  # noqa: E402

EVENTS = ("issue_comment", "pull_request", "push", "workflow_run")
URL_PATH = "/webhooks/github"
P99_TARGET_MS = 10.0
RATIO_TARGET = 0.5


@dataclass(frozen=True)
class Sample:
    """One real payload, encoded and signed once; only the delivery id changes per request."""

    event: str
    body: bytes
    signature: str
    payload: dict[str, Any] = field(repr=False)


def load_samples(secret: bytes) -> list[Sample]:
    """Every example of each event, interleaved so each event gets an equal share."""
    by_event = {event: example_payloads(event) for event in EVENTS}
    longest = max(len(examples) for examples in by_event.values())
    samples = []
    for index in range(longest):
        for event, examples in by_event.items():
            payload = examples[index % len(examples)]
            # GitHub sends compact JSON; the examples on disk are pretty-printed.
            body = json.dumps(payload, separators=(",", ":")).encode()
            samples.append(Sample(event, body, sign(body, secret), payload))
    return samples


# --- servers (each in its own process, so the load generator never shares their GIL) ---


def bare_app() -> FastAPI:
    app = FastAPI(openapi_url=None, docs_url=None)

    @app.post(URL_PATH)
    async def receive(request: Request) -> Response:
        await request.body()
        return Response(status_code=202)

    return app


def bot_app(database: Path, secret: str, workers: int) -> Any:
    from pydantic import SecretStr

    from bot.app import create_app
    from bot.router import Router
    from bot.settings import Settings

    # Ingest alone: deliveries are stored, taken by the workers and counted unhandled.
    router = Router()
    router.add(lambda event, ctx: None, "ping")

    settings = Settings(
        webhook_secret=SecretStr(secret),
        database_url=SecretStr(f"sqlite:///{database}"),
        data_dir=database.parent,
        workers=workers,
    )
    return create_app(settings, router=router)


def serve(kind: str, options: dict[str, Any], port_out: Connection) -> None:
    """Child process: bind a free loopback port, report it, serve until terminated."""
    import uvicorn

    logging.basicConfig(level=logging.WARNING)
    app = bare_app() if kind == "bare" else bot_app(**options)
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets whose proto says TCP,
    # and without it a response sent as headers then body waits ~40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port_out.send(sock.getsockname()[1])
    # The same uvicorn defaults as `autostack serve`, minus per-request access log lines.
    config = uvicorn.Config(app, log_level="warning", access_log=False, backlog=2048)
    uvicorn.Server(config).run(sockets=[sock])


@dataclass
class Server:
    name: str
    process: multiprocessing.process.BaseProcess
    url: str
    database: Path | None = None

    def cpu_seconds(self) -> float:
        """User+system CPU of the server process (all threads), from /proc."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process.pid is not None and self.process.is_alive():
            os.kill(self.process.pid, sig)
        self.process.join(10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


def start_server(name: str, kind: str, options: dict[str, Any]) -> Server:
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=serve, args=(kind, options, sender), daemon=True)
    process.start()
    if not receiver.poll(60):
        process.kill()
        raise RuntimeError(f"{name} server did not start")
    server = Server(name, process, f"http://127.0.0.1:{receiver.recv()}", options.get("database"))
    wait_until_serving(server)
    return server


def wait_until_serving(server: Server, timeout: float = 60.0) -> None:
    """Any HTTP answer means the lifespan (migrations included) has finished."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(server.url + "/healthz", timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    server.stop(signal.SIGKILL)
    raise RuntimeError(f"{server.name} server is not answering")


# --- load ---


@dataclass
class Outcome:
    """What one phase against one server produced."""

    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    acked: dict[str, Sample] = field(default_factory=dict)
    elapsed: float = 0.0
    server_cpu: float = 0.0
    client_cpu: float = 0.0

    def error(self, reason: str) -> None:
        self.errors[reason] = self.errors.get(reason, 0) + 1

    @property
    def completed(self) -> int:
        return len(self.latencies)


def headers_for(sample: Sample, delivery: str) -> dict[str, str]:
    return {
        "User-Agent": "GitHub-Hookshot/bench",
        "Content-Type": "application/json",
        "X-GitHub-Event": sample.event,
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": sample.signature,
    }


class RawPool:
    """HTTP/1.1 keep-alive connections over asyncio streams, at most ``size`` at once.

    Here httpx spends more CPU per request (about 1.7 ms) than the bare server does (0.3 ms),
    so with it the bare figure would measure the client; this costs a small fraction of that.
    """

    _LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)", re.IGNORECASE)
    # uvicorn closes a connection idle for 5 s (timeout_keep_alive). One idle nearly that
    # long is not reused: a request sent as the server closes it would fail, as it does
    # for any client that reuses such a connection, and count as an error of the server.
    REUSE_IDLE_SECONDS = 4.0

    def __init__(self, url: str, size: int):
        address = httpx.URL(url)
        self._host, self._port = address.host, address.port
        self._start = f"POST {URL_PATH} HTTP/1.1\r\nHost: {self._host}:{self._port}\r\n"
        self._slots = asyncio.Semaphore(size)
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, float]] = []

    async def _connection(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """The most recently used idle connection that is still fresh, else a new one."""
        while self._idle:
            reader, writer, idle_since = self._idle.pop()
            if time.monotonic() - idle_since < self.REUSE_IDLE_SECONDS and not reader.at_eof():
                return reader, writer
            writer.close()
        return await asyncio.open_connection(self._host, self._port)

    async def post(self, headers: dict[str, str], body: bytes) -> int:
        async with self._slots:
            reader, writer = await self._connection()
            try:
                async with asyncio.timeout(10):
                    status, keep = await self._exchange(reader, writer, headers, body)
            except BaseException:
                writer.close()
                raise
            if keep:
                self._idle.append((reader, writer, time.monotonic()))
            else:
                writer.close()
            return status

    async def _exchange(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        headers: dict[str, str],
        body: bytes,
    ) -> tuple[int, bool]:
        lines = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        writer.write(f"{self._start}{lines}Content-Length: {len(body)}\r\n\r\n".encode())
        writer.write(body)
        head = await reader.readuntil(b"\r\n\r\n")
        length = self._LENGTH.search(head)
        if not head.startswith(b"HTTP/1.1 ") or length is None:
            raise ValueError("unexpected response framing")
        await reader.readexactly(int(length.group(1)))
        return int(head[9:12]), b"connection: close" not in head.lower()

    async def close(self) -> None:
        for _reader, writer, _since in self._idle:
            writer.close()


class HttpxPool:
    """The same over httpx's asyncio client (``--client httpx``), for comparison."""

    def __init__(self, url: str, size: int):
        limits = httpx.Limits(max_connections=size, max_keepalive_connections=size)
        self._client = httpx.AsyncClient(base_url=url, limits=limits, timeout=10.0)

    async def post(self, headers: dict[str, str], body: bytes) -> int:
        response = await self._client.post(URL_PATH, content=body, headers=headers)
        return response.status_code

    async def close(self) -> None:
        await self._client.aclose()


Pool = RawPool | HttpxPool
CLIENTS: dict[str, Callable[[str, int], Pool]] = {"raw": RawPool, "httpx": HttpxPool}


class Sender:
    """Sends signed deliveries round-robin over the samples; remembers what was acknowledged."""

    def __init__(self, pool: Pool, samples: list[Sample]):
        self.pool = pool
        self.samples = samples
        self.sent = 0

    async def deliver(self, outcome: Outcome, start: float) -> None:
        """One delivery; its latency is counted from ``start`` (the scheduled time)."""
        sample = self.samples[self.sent % len(self.samples)]
        self.sent += 1
        delivery = str(uuid.uuid4())
        try:
            status = await self.pool.post(headers_for(sample, delivery), sample.body)
        except (OSError, TimeoutError, ValueError, asyncio.IncompleteReadError) as exc:
            outcome.error(type(exc).__name__)
            return
        except httpx.HTTPError as exc:
            outcome.error(type(exc).__name__)
            return
        if status != 202:
            outcome.error(f"HTTP {status}")
            return
        outcome.latencies.append(time.perf_counter() - start)
        outcome.acked[delivery] = sample


async def open_loop(sender: Sender, outcome: Outcome, rate: float, seconds: float) -> None:
    """Start request i at t0 + i/rate whatever happened to the earlier ones."""
    total = int(rate * seconds)
    tasks = []
    t0 = time.perf_counter() + 0.05
    for i in range(total):
        scheduled = t0 + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(sender.deliver(outcome, scheduled)))
    await asyncio.gather(*tasks)


async def closed_loop(sender: Sender, outcome: Outcome, connections: int, seconds: float) -> None:
    """``connections`` senders, each waiting for its answer before sending again."""
    deadline = time.perf_counter() + seconds

    async def loop() -> None:
        while time.perf_counter() < deadline:
            await sender.deliver(outcome, time.perf_counter())

    await asyncio.gather(*(loop() for _ in range(connections)))


def run_phase(
    server: Server,
    samples: list[Sample],
    client: str,
    connections: int,
    load: Callable[[Sender, Outcome], Any],
) -> Outcome:
    """Warm the connections and the server up, then measure ``load`` alone."""

    async def main() -> Outcome:
        pool = CLIENTS[client](server.url, connections)
        try:
            sender = Sender(pool, samples)
            warmup = Outcome()
            await closed_loop(sender, warmup, min(connections, 64), 0.3)
            outcome = Outcome(acked=warmup.acked, errors=warmup.errors)
            cpu_before, client_before = server.cpu_seconds(), time.process_time()
            start = time.perf_counter()
            await load(sender, outcome)
            outcome.elapsed = time.perf_counter() - start
            outcome.server_cpu = server.cpu_seconds() - cpu_before
            outcome.client_cpu = time.process_time() - client_before
            return outcome
        finally:
            await pool.close()

    return asyncio.run(main())


async def redeliver(server: Server, acked: dict[str, Sample], count: int) -> int:
    """Send ``count`` acknowledged deliveries again; returns how many came back 200."""
    pool = RawPool(server.url, 1)
    try:
        statuses = [
            await pool.post(headers_for(sample, delivery), sample.body)
            for delivery, sample in list(acked.items())[:count]
        ]
    finally:
        await pool.close()
    return statuses.count(200)


def verify_stored(database: Path, acked: dict[str, Sample]) -> list[str]:
    """Problems with what the bot stored: lost, duplicated or altered acknowledged deliveries."""
    with sqlite3.connect(database) as connection:
        rows = connection.execute("SELECT delivery_id, event, payload FROM deliveries").fetchall()
    problems = []
    stored: dict[str, int] = {}
    for delivery_id, _event, _payload in rows:
        stored[delivery_id] = stored.get(delivery_id, 0) + 1
    lost = [d for d in acked if d not in stored]
    twice = [d for d, n in stored.items() if n > 1]
    unacked = len(stored) - sum(1 for d in stored if d in acked)
    if lost:
        problems.append(f"{len(lost)} acknowledged deliveries missing, e.g. {lost[0]}")
    if twice:
        problems.append(f"{len(twice)} deliveries stored more than once")
    if unacked:
        problems.append(f"{unacked} stored deliveries were never acknowledged")
    for delivery_id, event, payload in rows:
        sample = acked.get(delivery_id)
        if sample and (event != sample.event or json.loads(payload) != sample.payload):
            problems.append(f"delivery {delivery_id} stored with a different event or payload")
            break
    return problems


# --- report ---


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


def open_loop_row(name: str, outcome: Outcome) -> str:
    ms = [value * 1000 for value in outcome.latencies]
    errors = sum(outcome.errors.values())
    per_request = outcome.server_cpu / max(1, outcome.completed) * 1000
    cells = [percentile(ms, q) for q in (0.5, 0.9, 0.99)] + [max(ms, default=0.0)]
    return (
        f"{name:<14}{outcome.completed:>7}{errors:>7}"
        + "".join(f"{cell:>9.2f}" for cell in cells)
        + f"{outcome.completed / outcome.elapsed:>9.0f}{per_request:>12.2f}"
        + f"{outcome.client_cpu / outcome.elapsed:>8.0%}"
    )


def throughput(outcome: Outcome) -> float:
    return outcome.completed / outcome.elapsed


Closed = dict[tuple[str, int], list[Outcome]]
"""Closed-loop outcomes by (server, connection count)."""


def closed_loop_row(name: str, outcomes: list[Outcome]) -> str:
    rates = [throughput(outcome) for outcome in outcomes]
    cpu = statistics.median(o.server_cpu / max(1, o.completed) * 1000 for o in outcomes)
    client = statistics.median(o.client_cpu / o.elapsed for o in outcomes)
    return (
        f"{name:<14}"
        + "".join(f"{rate:>9.0f}" for rate in rates)
        + f"{statistics.median(rates):>9.0f}{cpu:>12.2f}{client:>8.0%}"
    )


def describe_samples(samples: list[Sample]) -> str:
    sizes = [len(sample.body) for sample in samples]
    return (
        f"{len(samples)} signed payloads ({', '.join(EVENTS)} in equal shares), compact JSON "
        f"{min(sizes) / 1024:.1f}-{max(sizes) / 1024:.1f} KiB, "
        f"mean {statistics.mean(sizes) / 1024:.1f} KiB"
    )


# --- the run ---


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=500.0, help="open-loop deliveries/s")
    parser.add_argument("--seconds", type=float, default=10.0, help="open-loop duration")
    parser.add_argument(
        "--connections",
        type=counts,
        default=[16, 64, 256],
        help="closed-loop connection counts, comma-separated (default 16,64,256)",
    )
    parser.add_argument("--closed-seconds", type=float, default=4.0, help="per repetition")
    parser.add_argument("--repeats", type=int, default=3, help="closed-loop repetitions")
    parser.add_argument("--client", choices=sorted(CLIENTS), default="raw", help="load client")
    parser.add_argument(
        "--with-workers", type=int, default=0, metavar="N", help="also run the bot with N workers"
    )
    return parser.parse_args()


def counts(text: str) -> list[int]:
    values = [int(value) for value in text.split(",")]
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError("expected positive integers, e.g. 16,64")
    return values


def main() -> int:
    args = parse_args()
    secret = secrets.token_hex(32)
    samples = load_samples(secret.encode())
    print(describe_samples(samples))
    print(f"{os.cpu_count()} CPUs, load average before: {load_average()}")
    bots = {"bot": 0}
    if args.with_workers:
        bots[f"bot+{args.with_workers} workers"] = args.with_workers
    with tempfile.TemporaryDirectory(prefix="autostack-bench-") as tmp:
        servers = {}
        try:
            for index, (name, workers) in enumerate(bots.items()):
                database = Path(tmp) / str(index) / "autostack.db"
                options = {"database": database, "secret": secret, "workers": workers}
                servers[name] = start_server(name, "bot", options)
            servers["bare"] = start_server("bare", "bare", {})
            return Run(args, servers, samples).measure()
        finally:
            for server in servers.values():
                server.stop(signal.SIGKILL)


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


class Run:
    """The phases against every server, what each acknowledged, and what went wrong."""

    def __init__(self, args: argparse.Namespace, servers: dict[str, Server], samples: list[Sample]):
        self.args = args
        self.servers = servers
        self.samples = samples
        self.bots = [name for name, server in servers.items() if server.database is not None]
        self.acked: dict[str, dict[str, Sample]] = {name: {} for name in self.bots}
        self.problems: list[str] = []

    def measure(self) -> int:
        args = self.args
        opened = {
            # Enough connections that requests queue in the server, not in the client pool.
            name: self.phase(name, 256, lambda s, o: open_loop(s, o, args.rate, args.seconds))
            for name in self.servers
        }
        closed: Closed = {(name, n): [] for n in args.connections for name in self.servers}
        for _ in range(args.repeats):
            for n in args.connections:
                for name in self.servers:  # interleaved: drift in machine load hits all alike
                    closed[(name, n)].append(self.phase(name, n, self.closed_load(n)))
        for name in self.bots:
            self.check_stored(name)
        print_report(args, opened, closed, self.acked)
        if self.problems:
            print("\nFAILED: " + "; ".join(self.problems))
            return 1
        return 0

    def closed_load(self, connections: int) -> Callable[[Sender, Outcome], Any]:
        return lambda s, o: closed_loop(s, o, connections, self.args.closed_seconds)

    def phase(self, name: str, connections: int, load: Callable[[Sender, Outcome], Any]) -> Outcome:
        outcome = run_phase(self.servers[name], self.samples, self.args.client, connections, load)
        if name in self.acked:
            self.acked[name].update(outcome.acked)
        self.problems += [f"{name}: {why} x{n}" for why, n in outcome.errors.items()]
        return outcome

    def check_stored(self, name: str) -> None:
        """Re-deliveries are duplicates; after SIGKILL every acknowledged delivery is there."""
        server, acked = self.servers[name], self.acked[name]
        again = min(20, len(acked))
        answered = asyncio.run(redeliver(server, acked, again))
        if answered != again:
            self.problems.append(f"{name}: {again - answered}/{again} re-deliveries not 200")
        # SIGKILL: rows must be committed before the 202, not flushed at shutdown.
        server.stop(signal.SIGKILL)
        assert server.database is not None
        self.problems += [f"{name}: {p}" for p in verify_stored(server.database, acked)]


def capacity(closed: Closed, name: str) -> float:
    """The server's best median throughput over the connection counts tried."""
    return max(
        statistics.median(throughput(o) for o in outcomes)
        for (server, _), outcomes in closed.items()
        if server == name
    )


def print_report(
    args: argparse.Namespace,
    opened: dict[str, Outcome],
    closed: Closed,
    acked: dict[str, dict[str, Sample]],
) -> None:
    print(
        f"\nopen loop: {args.rate:.0f} deliveries/s for {args.seconds:.0f} s, latency in ms "
        "from each request's scheduled send time"
    )
    latency = "".join(f"{label:>9}" for label in ("p50", "p90", "p99", "max", "req/s"))
    print(f"{'server':<14}{'ok':>7}{'errors':>7}{latency}{'srv ms/req':>12}{'client':>8}")
    for name, outcome in opened.items():
        print(open_loop_row(name, outcome))
    print(
        f"\nclosed loop: N keep-alive connections, each sending when answered, "
        f"{args.closed_seconds:.0f} s x {args.repeats} per N, deliveries/s"
    )
    runs = "".join(f"{f'run {i + 1}':>9}" for i in range(args.repeats))
    print(f"{'server':<14}{'N':>5}{runs}{'median':>9}{'srv ms/req':>12}{'client':>8}")
    for name in opened:
        for n in args.connections:
            outcomes = closed[(name, n)]
            print(closed_loop_row(f"{name:<14}{n:>5}", outcomes))
    print(
        "(srv ms/req: server process CPU, all threads, per acknowledged delivery; "
        "client: the load generator's CPU share)\n"
    )
    first = args.connections[0]
    bare_first = statistics.median(throughput(o) for o in closed[("bare", first)])
    bare_capacity = capacity(closed, "bare")
    for name in acked:
        p99 = percentile(opened[name].latencies, 0.99) * 1000
        at_first = statistics.median(throughput(o) for o in closed[(name, first)]) / bare_first
        ratio = capacity(closed, name) / bare_capacity
        print(
            f"{name}: p99 {p99:.2f} ms at {args.rate:.0f}/s (target < {P99_TARGET_MS:.0f}): "
            f"{'met' if p99 < P99_TARGET_MS else 'MISSED'}; capacity {capacity(closed, name):.0f}/s"
            f" = {ratio:.2f} x bare's {bare_capacity:.0f}/s (target >= {RATIO_TARGET}): "
            f"{'met' if ratio >= RATIO_TARGET else 'MISSED'}; {at_first:.2f} x bare at "
            f"{first} connections; {len(acked[name])} acknowledged deliveries checked in "
            "SQLite after SIGKILL"
        )
    print(f"load average after: {load_average()}")


if __name__ == "__main__":
    sys.exit(main())
