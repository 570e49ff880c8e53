"""The Argo CD client's operations against ``httpx.MockTransport`` serving real-shaped answers.

Every request the client sends, and every canned answer, is checked against Argo CD's
swagger (tests/support/argocd_swagger.py), so the client and these fixtures cannot agree on
a shape Argo CD does not have. Retries, the breaker, TLS and secrets are in
test_argocd_client_resilience.py.
"""

from __future__ import annotations

import json
import random
from collections import deque
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.adapters.argocd import ArgoCD, CircuitBreaker, RetryPolicy
from bot.adapters.clock import FakeClock
from bot.core.argo import ArgoNotFound, OperationInProgress
from bot.core.errors import PermanentError, TransientError
from tests.support.argocd_swagger import validate_argocd_request, validate_argocd_response

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "argocd"
BASE_URL = "https://argocd.example.internal"
TOKEN = "eyJhbGciOiJIUzI1NiJ9.argocd-test-token-7f3a9c.c2lnbmF0dXJl"
OURS = "4b2e9a7c1f0d3e5b8a6c2d4f1e3b5a7c9d0e2f41"


def fixture_text(name: str) -> str:
    return (FIXTURES / name).read_text()


def fixture_json(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(fixture_text(name))
    return data


def runtime_error(status: int, grpc_code: int, message: str, **headers: str) -> httpx.Response:
    """grpc-gateway's error body, as Argo CD answers every failed call."""
    body = {"error": message, "code": grpc_code, "message": message}
    return httpx.Response(status, json=body, headers=headers)


class FakeArgo:
    """Serves queued answers in order, records requests, and checks each against the swagger."""

    def __init__(self) -> None:
        self.answers: deque[httpx.Response | Exception] = deque()
        self.requests: list[httpx.Request] = []
        self.problems: list[str] = []

    def answer(self, *answers: httpx.Response | Exception) -> FakeArgo:
        self.answers.extend(answers)
        return self

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        params = request.url.params
        query = {k: (v[0] if len(v) == 1 else v) for k in params for v in [params.get_list(k)]}
        body = json.loads(request.content) if request.content else None
        problems = validate_argocd_request(request.method, request.url.path, query, body)
        self.problems += [f"{request.method} {request.url.path}: {p}" for p in problems]
        if not self.answers:
            raise AssertionError(f"unexpected request {request.method} {request.url}")
        answer = self.answers.popleft()
        if isinstance(answer, Exception):
            raise answer
        # Check the canned answer too, so the fixtures stay true to the swagger.
        if answer.status_code < 300 and isinstance(answer.stream, httpx.ByteStream):
            raw = answer.read()
            found = validate_argocd_response(request.method, request.url.path, 200, raw)
            self.problems += [f"answer to {request.url.path}: {p}" for p in found]
        return answer


class HighRandom(random.Random):
    """Jitter that always picks the top of the range, so backoff caps are visible."""

    def uniform(self, a: float, b: float) -> float:
        return b


@pytest.fixture
def fake() -> Iterator[FakeArgo]:
    server = FakeArgo()
    yield server
    assert server.problems == []


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 1, 1, 12, 0, tzinfo=UTC))


def make_client(
    fake: FakeArgo, clock: FakeClock, sleeps: list[float] | None = None, **options: Any
) -> ArgoCD:
    recorded = sleeps if sleeps is not None else []
    return ArgoCD(
        BASE_URL,
        TOKEN,
        clock=clock,
        transport=httpx.MockTransport(fake.handle),
        sleep=recorded.append,
        rng=HighRandom(),
        retry=options.pop("retry", RetryPolicy()),
        breaker=options.pop("breaker", CircuitBreaker(clock)),
        **options,
    )


def test_get_application_sends_the_token_and_refresh_and_parses_the_status(
    fake: FakeArgo, clock: FakeClock
) -> None:
    fake.answer(httpx.Response(200, text=fixture_text("app-web-prod-healthy.json")))
    status = make_client(fake, clock).get_application("web-prod", refresh="normal")

    request = fake.requests[0]
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert (request.method, request.url.path) == ("GET", "/api/v1/applications/web-prod")
    assert dict(request.url.params) == {"refresh": "normal"}
    assert (status.name, status.sync_status, status.sync_revision) == ("web-prod", "Synced", OURS)
    assert (status.health_status, status.operation_phase) == ("Healthy", "Succeeded")
    assert status.operation_revision == OURS
    assert status.operation_finished_at == datetime(2026, 1, 1, 12, 1, 5, tzinfo=UTC)
    assert status.reconciled_at == datetime(2026, 1, 1, 12, 1, 45, tzinfo=UTC)
    assert status.images == ("ghcr.io/acme/web:0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d",)
    assert [(h.id, h.revision[:7]) for h in status.history] == [(41, "1d5f3c0"), (42, "4b2e9a7")]
    assert status.external_urls == ("https://web.acme.example",)
    assert status.labels == {"autostack.dev/app": "web", "autostack.dev/env": "prod"}
    assert status.resource_version == "482913"
    assert not status.operation_pending


def test_get_application_without_refresh_sends_no_query(fake: FakeArgo, clock: FakeClock) -> None:
    fake.answer(httpx.Response(200, text=fixture_text("app-web-prod-progressing.json")))
    status = make_client(fake, clock).get_application("web-prod")
    assert str(fake.requests[0].url) == f"{BASE_URL}/api/v1/applications/web-prod"
    assert (status.operation_phase, status.health_status) == ("Running", "Progressing")
    assert status.operation_finished_at is None


def test_list_applications_sends_the_selector_in_one_call(fake: FakeArgo, clock: FakeClock) -> None:
    items = [fixture_json("app-web-prod-healthy.json"), fixture_json("app-web-prod-degraded.json")]
    items[1]["metadata"]["name"] = "web-staging"
    fake.answer(
        httpx.Response(200, json={"metadata": {"resourceVersion": "483377"}, "items": items})
    )
    apps = make_client(fake, clock).list_applications("autostack.dev/app=web")
    assert fake.requests[0].url.params["selector"] == "autostack.dev/app=web"
    assert [(a.name, a.health_status) for a in apps] == [
        ("web-prod", "Healthy"),
        ("web-staging", "Degraded"),
    ]
    assert len(fake.requests) == 1


def test_sync_posts_a_swagger_valid_request(fake: FakeArgo, clock: FakeClock) -> None:
    synced = fixture_json("app-web-prod-progressing.json")
    synced["operation"] = {"sync": {"revision": OURS}, "initiatedBy": {"username": "autostack"}}
    fake.answer(httpx.Response(200, json=synced))
    status = make_client(fake, clock).sync("web-prod", revision=OURS)
    request = fake.requests[0]
    assert (request.method, request.url.path) == ("POST", "/api/v1/applications/web-prod/sync")
    assert json.loads(request.content) == {"name": "web-prod", "prune": False, "revision": OURS}
    assert status.operation_pending


def test_sync_to_the_target_revision_omits_the_revision(fake: FakeArgo, clock: FakeClock) -> None:
    fake.answer(httpx.Response(200, text=fixture_text("app-web-prod-progressing.json")))
    make_client(fake, clock).sync("web-prod", prune=True)
    assert json.loads(fake.requests[0].content) == {"name": "web-prod", "prune": True}


def test_sync_during_an_operation_says_so(fake: FakeArgo, clock: FakeClock) -> None:
    fake.answer(runtime_error(400, 9, "another operation is already in progress"))
    with pytest.raises(OperationInProgress, match="already in progress"):
        make_client(fake, clock).sync("web-prod")
    assert len(fake.requests) == 1


def test_resource_tree_lists_nodes_with_health_and_owners(fake: FakeArgo, clock: FakeClock) -> None:
    fake.answer(httpx.Response(200, text=fixture_text("resource-tree-web-prod-degraded.json")))
    nodes = make_client(fake, clock).resource_tree("web-prod")
    assert fake.requests[0].url.path == "/api/v1/applications/web-prod/resource-tree"
    pod = next(n for n in nodes if n.name == "web-5f4c8d7b9-q7x2m")
    assert (pod.kind, pod.namespace, pod.health_status) == ("Pod", "web-prod", "Degraded")
    assert pod.health_message.startswith("back-off 2m40s restarting failed container=web")
    assert pod.parents == ("ReplicaSet/web-5f4c8d7b9",)
    assert pod.images == ("ghcr.io/acme/web:7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b",)
    unhealthy = [n.ref for n in nodes if n.health_status == "Degraded"]
    assert unhealthy == ["Deployment/web", "Pod/web-5f4c8d7b9-q7x2m"]


def test_events_of_a_resource_come_oldest_first(fake: FakeArgo, clock: FakeClock) -> None:
    fake.answer(httpx.Response(200, text=fixture_text("events-web-prod.json")))
    events = make_client(fake, clock).events(
        "web-prod", resource_name="web-5f4c8d7b9-q7x2m", resource_namespace="web-prod"
    )
    assert dict(fake.requests[0].url.params) == {
        "resourceName": "web-5f4c8d7b9-q7x2m",
        "resourceNamespace": "web-prod",
    }
    assert [(e.reason, e.count) for e in events] == [("Pulled", 1), ("BackOff", 37)]
    assert events[1].type == "Warning"
    assert events[1].object_ref == "Pod/web-5f4c8d7b9-q7x2m"


def test_pod_logs_tail_reads_ndjson_and_drops_the_end_marker(
    fake: FakeArgo, clock: FakeClock
) -> None:
    fake.answer(httpx.Response(200, text=fixture_text("pod-logs-web.ndjson")))
    lines = make_client(fake, clock).pod_logs(
        "web-prod", "web-5f4c8d7b9-q7x2m", "web", tail_lines=20, namespace="web-prod"
    )
    assert fake.requests[0].url.path == "/api/v1/applications/web-prod/logs"
    assert dict(fake.requests[0].url.params) == {
        "podName": "web-5f4c8d7b9-q7x2m",
        "container": "web",
        "namespace": "web-prod",
        "tailLines": "20",
        "follow": "false",
    }
    assert len(lines) == 4
    assert lines[1].content.endswith("DATABASE_URL is not set; refusing to start")
    assert {line.pod for line in lines} == {"web-5f4c8d7b9-q7x2m"}
    assert lines[0].at == datetime(2026, 1, 1, 12, 10, 49, tzinfo=UTC)


def test_pod_logs_stream_error_maps_to_our_errors(fake: FakeArgo, clock: FakeClock) -> None:
    error = {
        "grpc_code": 5,
        "http_code": 404,
        "http_status": "Not Found",
        "message": "pods not found",
    }
    fake.answer(httpx.Response(200, text=json.dumps({"error": error}) + "\n"))
    with pytest.raises(ArgoNotFound, match="pods not found"):
        make_client(fake, clock).pod_logs("web-prod", "web-gone", tail_lines=5)


@pytest.mark.parametrize(
    ("status", "grpc", "error_type", "text"),
    [
        (404, 5, ArgoNotFound, 'applications.argoproj.io "nope" not found'),
        (400, 3, PermanentError, "invalid selector"),
        (500, 2, TransientError, "internal error"),
    ],
)
def test_http_errors_map_to_the_taxonomy(
    fake: FakeArgo,
    clock: FakeClock,
    status: int,
    grpc: int,
    error_type: type[Exception],
    text: str,
) -> None:
    fake.answer(runtime_error(status, grpc, text))
    with pytest.raises(error_type) as raised:
        make_client(fake, clock).get_application("nope")
    assert type(raised.value) is error_type
    assert text in str(raised.value)
    assert "get application nope" in str(raised.value)
    assert len(fake.requests) == 1  # none of these is worth an immediate retry


# ---- watch ------------------------------------------------------------------------------
def watch_stream(*events: tuple[str, str]) -> bytes:
    lines = []
    for kind, fixture in events:
        result = {"type": kind, "application": fixture_json(f"app-web-prod-{fixture}.json")}
        lines.append(json.dumps({"result": result}, separators=(",", ":")) + "\n")
    return "".join(lines).encode()


def chunked(data: bytes, *cuts: int) -> Iterator[bytes]:
    start = 0
    for cut in (*cuts, len(data)):
        yield data[start:cut]
        start = cut


def test_watch_parses_events_split_across_chunks(fake: FakeArgo, clock: FakeClock) -> None:
    body = watch_stream(("ADDED", "progressing"), ("MODIFIED", "healthy"), ("DELETED", "healthy"))
    assert validate_argocd_response("GET", "/api/v1/stream/applications", 200, body) == []
    first_end = body.index(b"\n") + 1
    # Cut inside the first message, right after a newline, and one byte before the end.
    cuts = (17, first_end - 3, first_end, first_end + 1, len(body) - 1)
    fake.answer(httpx.Response(200, content=chunked(body, *cuts)))
    client = make_client(fake, clock)

    events = list(client.watch("autostack.dev/app=web", resource_version="482900"))

    assert [(e.type, e.application.health_status) for e in events] == [
        ("ADDED", "Progressing"),
        ("MODIFIED", "Healthy"),
        ("DELETED", "Healthy"),
    ]
    assert events[1].application.sync_revision == OURS
    request = fake.requests[0]
    assert request.url.path == "/api/v1/stream/applications"
    assert dict(request.url.params) == {
        "selector": "autostack.dev/app=web",
        "resourceVersion": "482900",
    }
    assert request.headers["authorization"] == f"Bearer {TOKEN}"


def test_watch_reads_server_sent_events_too(fake: FakeArgo, clock: FakeClock) -> None:
    ndjson = watch_stream(("ADDED", "healthy"), ("MODIFIED", "degraded"))
    sse = b"".join(b"data: " + line + b" \n\n" for line in ndjson.splitlines())
    fake.answer(httpx.Response(200, content=chunked(sse, 5, 300)))
    events = list(make_client(fake, clock).watch())
    assert [e.application.health_status for e in events] == ["Healthy", "Degraded"]


def test_watch_stream_error_raises_after_the_events_before_it(
    fake: FakeArgo, clock: FakeClock
) -> None:
    error = {"grpc_code": 14, "http_code": 503, "http_status": "Service Unavailable",
             "message": "watch channel closed"}  # fmt: skip
    body = watch_stream(("ADDED", "healthy")) + json.dumps({"error": error}).encode() + b"\n"
    fake.answer(httpx.Response(200, content=chunked(body, 40)))
    seen = []
    with pytest.raises(TransientError, match="watch channel closed"):
        for event in make_client(fake, clock).watch():
            seen.append(event.type)
    assert seen == ["ADDED"]


def test_watch_ends_quietly_when_the_stream_goes_idle(fake: FakeArgo, clock: FakeClock) -> None:
    request = httpx.Request("GET", f"{BASE_URL}/api/v1/stream/applications")

    def then_idle() -> Iterator[bytes]:
        yield watch_stream(("ADDED", "healthy"))
        raise httpx.ReadTimeout("timed out", request=request)

    fake.answer(httpx.Response(200, content=then_idle()))
    events = list(make_client(fake, clock).watch())
    assert [e.type for e in events] == ["ADDED"]


def test_watch_refused_raises_the_mapped_error(fake: FakeArgo, clock: FakeClock) -> None:
    fake.answer(runtime_error(401, 16, "invalid session: token has invalid claims"))
    with pytest.raises(PermanentError, match="AUTOSTACK_ARGOCD_TOKEN"):
        list(make_client(fake, clock).watch())


def test_watch_that_cannot_connect_is_transient(fake: FakeArgo, clock: FakeClock) -> None:
    fake.answer(httpx.ConnectError("[Errno 111] Connection refused"))
    with pytest.raises(TransientError, match="Connection refused"):
        list(make_client(fake, clock).watch())
    assert len(fake.requests) == 1  # the watcher reconnects, not the client


def test_the_swagger_check_would_catch_a_misnamed_parameter() -> None:
    # The guard every test above relies on: a wrong query parameter is reported.
    problems = validate_argocd_request("GET", "/api/v1/applications/web-prod/logs", {"tail": "5"})
    assert problems == ["unknown query parameter 'tail'"]
