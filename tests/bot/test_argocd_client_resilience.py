"""The Argo CD client under failure: retries, Retry-After, the circuit breaker, TLS, secrets.

Sleeps go to a list and time comes from a ``FakeClock``, so nothing here waits for real.
The TLS tests use a real HTTPS server on a loopback port with a certificate made on the fly.
"""

from __future__ import annotations

import datetime as dt
import http.server
import ipaddress
import logging
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import SecretStr

from bot.adapters.argocd import (
    TLS_HINT,
    ArgoCD,
    ArgoUnavailable,
    BreakerState,
    CircuitBreaker,
    RetryPolicy,
    tls_verify,
)
from bot.adapters.clock import FakeClock
from bot.core.argo import AUTH_HINT
from bot.core.errors import PermanentError, TransientError
from bot.settings import Settings
from tests.bot.test_argocd_client import (
    BASE_URL,
    TOKEN,
    FakeArgo,
    fixture_text,
    make_client,
    runtime_error,
)

HEALTHY = fixture_text("app-web-prod-healthy.json")


def ok() -> httpx.Response:
    return httpx.Response(200, text=HEALTHY)


def unavailable(**headers: str) -> httpx.Response:
    return runtime_error(503, 14, "the server is currently unable to handle the request", **headers)


def request_to(path: str = "/api/v1/applications/web-prod") -> httpx.Request:
    return httpx.Request("GET", f"{BASE_URL}{path}")


@pytest.fixture
def fake() -> Iterator[FakeArgo]:
    server = FakeArgo()
    yield server
    assert server.problems == []


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC))


# ---- retries ----------------------------------------------------------------------------
def test_503_is_retried_with_backoff_then_succeeds(fake: FakeArgo, clock: FakeClock) -> None:
    fake.answer(unavailable(), unavailable(), ok())
    sleeps: list[float] = []
    status = make_client(fake, clock, sleeps).get_application("web-prod")
    assert status.health_status == "Healthy"
    assert len(fake.requests) == 3
    # Full jitter draws from [0, base * 2**attempt]; the test's random picks the top.
    assert sleeps == [0.5, 1.0]


def test_jittered_delays_stay_within_the_exponential_cap() -> None:
    import random

    policy = RetryPolicy(attempts=8, base_delay=0.5, max_delay=4.0)
    rng = random.Random(7)
    for attempt in range(7):
        delays = [policy.delay(attempt, None, rng) for _ in range(200)]
        cap = min(4.0, 0.5 * 2**attempt)
        assert all(d is not None and 0.0 <= d <= cap for d in delays)
        assert max(d for d in delays if d is not None) > cap * 0.8  # it does spread out
    assert policy.delay(7, None, rng) is None


def test_retry_after_is_honoured(fake: FakeArgo, clock: FakeClock) -> None:
    fake.answer(runtime_error(429, 8, "too many requests", **{"Retry-After": "7"}), ok())
    sleeps: list[float] = []
    make_client(fake, clock, sleeps).get_application("web-prod")
    assert sleeps == [7.0]


def test_retry_after_as_an_http_date_is_read_against_the_clock(
    fake: FakeArgo, clock: FakeClock
) -> None:
    fake.answer(unavailable(**{"Retry-After": "Thu, 01 Jan 2026 12:00:12 GMT"}), ok())
    sleeps: list[float] = []
    make_client(fake, clock, sleeps).get_application("web-prod")
    assert sleeps == [12.0]


def test_a_long_retry_after_goes_back_to_the_caller(fake: FakeArgo, clock: FakeClock) -> None:
    fake.answer(unavailable(**{"Retry-After": "120"}))
    sleeps: list[float] = []
    with pytest.raises(TransientError) as raised:
        make_client(fake, clock, sleeps).get_application("web-prod")
    assert raised.value.retry_after == 120.0
    assert sleeps == []


def test_retries_give_up_after_the_attempts(fake: FakeArgo, clock: FakeClock) -> None:
    fake.answer(*(unavailable() for _ in range(3)))
    sleeps: list[float] = []
    client = make_client(fake, clock, sleeps, retry=RetryPolicy(attempts=3))
    with pytest.raises(TransientError, match="HTTP 503"):
        client.get_application("web-prod")
    assert (len(fake.requests), sleeps) == (3, [0.5, 1.0])


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ConnectError("[Errno 111] Connection refused", request=request_to()),
        httpx.ConnectTimeout("timed out", request=request_to()),
        httpx.ReadTimeout("timed out", request=request_to()),
        runtime_error(502, 14, "bad gateway"),
        runtime_error(504, 4, "upstream request timeout"),
    ],
    ids=["connect-error", "connect-timeout", "read-timeout", "502", "504"],
)
def test_transient_failures_of_a_read_are_retried(
    fake: FakeArgo, clock: FakeClock, failure: httpx.Response | Exception
) -> None:
    fake.answer(failure, ok())
    assert make_client(fake, clock).get_application("web-prod").name == "web-prod"
    assert len(fake.requests) == 2


def test_a_sync_that_may_have_arrived_is_not_sent_twice(fake: FakeArgo, clock: FakeClock) -> None:
    fake.answer(httpx.ReadTimeout("timed out", request=request_to()))
    with pytest.raises(TransientError, match="ReadTimeout"):
        make_client(fake, clock).sync("web-prod")
    assert len(fake.requests) == 1


def test_a_sync_that_never_connected_is_retried(fake: FakeArgo, clock: FakeClock) -> None:
    fake.answer(httpx.ConnectError("[Errno 111] Connection refused", request=request_to()), ok())
    make_client(fake, clock).sync("web-prod")
    assert [r.method for r in fake.requests] == ["POST", "POST"]


# ---- circuit breaker --------------------------------------------------------------------
def test_breaker_opens_after_consecutive_failures_and_fails_fast(
    fake: FakeArgo, clock: FakeClock
) -> None:
    breaker = CircuitBreaker(clock, failure_threshold=3, cooldown_seconds=30)
    client = make_client(fake, clock, retry=RetryPolicy(attempts=1), breaker=breaker)
    fake.answer(*(unavailable() for _ in range(3)))
    for _ in range(3):
        assert client.state is BreakerState.CLOSED
        with pytest.raises(TransientError):
            client.get_application("web-prod")
    assert client.state is BreakerState.OPEN

    with pytest.raises(ArgoUnavailable) as raised:
        client.get_application("web-prod")
    assert len(fake.requests) == 3  # failed fast: no request went out
    assert raised.value.retry_after == 30.0
    with pytest.raises(ArgoUnavailable):
        client.check_ready()
    with pytest.raises(ArgoUnavailable):
        list(client.watch())
    assert len(fake.requests) == 3


def test_breaker_opening_stops_a_retry_loop(fake: FakeArgo, clock: FakeClock) -> None:
    breaker = CircuitBreaker(clock, failure_threshold=2, cooldown_seconds=30)
    client = make_client(fake, clock, retry=RetryPolicy(attempts=5), breaker=breaker)
    fake.answer(unavailable(), unavailable())
    with pytest.raises(ArgoUnavailable):
        client.get_application("web-prod")
    assert len(fake.requests) == 2


def test_breaker_half_opens_after_the_cool_down_and_closes_on_success(
    fake: FakeArgo, clock: FakeClock
) -> None:
    breaker = CircuitBreaker(clock, failure_threshold=2, cooldown_seconds=30)
    client = make_client(fake, clock, retry=RetryPolicy(attempts=1), breaker=breaker)
    fake.answer(unavailable(), unavailable(), ok())
    for _ in range(2):
        with pytest.raises(TransientError):
            client.get_application("web-prod")
    clock.advance(29)
    assert client.state is BreakerState.OPEN
    clock.advance(1)
    assert client.state is BreakerState.HALF_OPEN
    client.check_ready()  # half-open is ready to try

    assert client.get_application("web-prod").health_status == "Healthy"
    assert client.state is BreakerState.CLOSED
    assert len(fake.requests) == 3


def test_a_failed_trial_reopens_the_breaker_for_another_cool_down(
    fake: FakeArgo, clock: FakeClock
) -> None:
    breaker = CircuitBreaker(clock, failure_threshold=2, cooldown_seconds=30)
    client = make_client(fake, clock, retry=RetryPolicy(attempts=1), breaker=breaker)
    fake.answer(unavailable(), unavailable(), httpx.ConnectError("refused", request=request_to()))
    for _ in range(2):
        with pytest.raises(TransientError):
            client.get_application("web-prod")
    clock.advance(30)
    with pytest.raises(TransientError, match="refused"):
        client.get_application("web-prod")
    assert client.state is BreakerState.OPEN
    clock.advance(29)
    assert client.state is BreakerState.OPEN


def test_half_open_lets_one_trial_through_at_a_time(clock: FakeClock) -> None:
    breaker = CircuitBreaker(clock, failure_threshold=1, cooldown_seconds=10)
    breaker.record_failure()
    clock.advance(10)
    breaker.before_call()  # the trial
    with pytest.raises(ArgoUnavailable):
        breaker.before_call()  # a second caller while the trial runs
    breaker.record_success()
    breaker.before_call()
    assert breaker.state is BreakerState.CLOSED


def test_client_errors_do_not_trip_the_breaker(fake: FakeArgo, clock: FakeClock) -> None:
    breaker = CircuitBreaker(clock, failure_threshold=2, cooldown_seconds=30)
    client = make_client(fake, clock, retry=RetryPolicy(attempts=1), breaker=breaker)
    fake.answer(
        unavailable(),
        runtime_error(404, 5, 'applications.argoproj.io "x" not found'),
        unavailable(),
        runtime_error(400, 9, "another operation is already in progress"),
    )
    for call in (
        lambda: client.get_application("web-prod"),
        lambda: client.get_application("x"),
        lambda: client.get_application("web-prod"),
        lambda: client.sync("web-prod"),
    ):
        with pytest.raises((TransientError, PermanentError)):
            call()
    # Each 4xx proved Argo CD is up, so the failures were never two in a row.
    assert client.state is BreakerState.CLOSED


# ---- auth and secrets -------------------------------------------------------------------
@pytest.mark.parametrize("status", [401, 403])
def test_auth_failures_carry_the_fix_and_are_not_retried(
    fake: FakeArgo, clock: FakeClock, status: int
) -> None:
    message = "permission denied: applications, get, autostack/web-prod, sub: autostack"
    fake.answer(runtime_error(status, 7 if status == 403 else 16, message))
    sleeps: list[float] = []
    with pytest.raises(PermanentError) as raised:
        make_client(fake, clock, sleeps).get_application("web-prod")
    assert raised.value.hint == AUTH_HINT
    assert "check AUTOSTACK_ARGOCD_TOKEN and the account's RBAC" in str(raised.value)
    assert (len(fake.requests), sleeps) == (1, [])


def test_the_token_never_reaches_errors_or_logs(
    fake: FakeArgo, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    echoed = f"invalid token {TOKEN}: signature mismatch"
    fake.answer(
        runtime_error(503, 14, echoed),
        runtime_error(503, 14, echoed),
        runtime_error(401, 16, echoed),
        httpx.Response(200, text='{"error": {"http_code": 401, "message": "' + echoed + '"}}\n'),
    )
    client = make_client(fake, clock)
    raised: list[BaseException] = []
    for call in (
        lambda: client.get_application("web-prod"),
        lambda: client.pod_logs("web-prod", "web-1"),
    ):
        with pytest.raises(PermanentError) as info:
            call()
        raised.append(info.value)

    assert len(fake.requests) == 4  # the 503s were retried and logged
    assert "signature mismatch" in caplog.text
    for error in raised:
        assert "invalid token ***" in str(error)
        for text in (str(error), repr(error), *map(str, error.args)):
            assert TOKEN not in text
    assert TOKEN not in caplog.text


# ---- TLS --------------------------------------------------------------------------------
def test_tls_verification_is_on_by_default_and_configurable(tls_server: TLSServer) -> None:
    assert tls_verify(False, None) is True
    assert tls_verify(True, tls_server.ca_file) is False  # insecure wins, loudly
    context = tls_verify(False, tls_server.ca_file)
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname
    assert [c["subject"] for c in context.get_ca_certs()] == [
        ((("commonName", "autostack test CA"),),)
    ]


def test_a_server_signed_by_the_configured_ca_is_trusted(
    tls_server: TLSServer, clock: FakeClock
) -> None:
    with ArgoCD(tls_server.url, TOKEN, clock=clock, ca_file=tls_server.ca_file) as client:
        assert client.get_application("web-prod").health_status == "Healthy"
    assert tls_server.authorizations == [f"Bearer {TOKEN}"]


def test_an_unknown_ca_is_refused_with_a_hint_and_not_retried(
    tls_server: TLSServer, clock: FakeClock
) -> None:
    sleeps: list[float] = []
    client = ArgoCD(tls_server.url, TOKEN, clock=clock, sleep=sleeps.append)
    with client, pytest.raises(PermanentError) as raised:
        client.get_application("web-prod")
    assert raised.value.hint == TLS_HINT
    assert "CERTIFICATE_VERIFY_FAILED" in str(raised.value)
    assert sleeps == []
    assert tls_server.authorizations == []  # the token was never sent


def test_insecure_skips_verification(tls_server: TLSServer, clock: FakeClock) -> None:
    with ArgoCD(tls_server.url, TOKEN, clock=clock, insecure=True) as client:
        assert client.get_application("web-prod").name == "web-prod"


class TLSServer:
    def __init__(self, url: str, ca_file: Path, authorizations: list[str]):
        self.url, self.ca_file, self.authorizations = url, ca_file, authorizations


def _certificate(tmp: Path) -> tuple[Path, Path]:
    """A self-signed CA certificate for 127.0.0.1 and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "autostack test CA")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp / "ca.pem", tmp / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[TLSServer]:
    cert_file, key_file = _certificate(tmp_path)
    authorizations: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            authorizations.append(self.headers.get("Authorization", ""))
            body = HEALTHY.encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield TLSServer(f"https://127.0.0.1:{server.server_port}", cert_file, authorizations)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


# ---- configuration ----------------------------------------------------------------------
def test_from_settings_uses_the_argocd_variables(
    settings: Settings, tls_server: TLSServer, clock: FakeClock
) -> None:
    assert ArgoCD.from_settings(settings, clock) is None  # not configured: no client
    configured = settings.model_copy(
        update={
            "argocd_url": tls_server.url,
            "argocd_token": SecretStr(TOKEN),
            "argocd_ca_file": tls_server.ca_file,
        }
    )
    client = ArgoCD.from_settings(configured, clock)
    assert client is not None
    with client:
        assert client.get_application("web-prod").name == "web-prod"
    assert tls_server.authorizations == [f"Bearer {TOKEN}"]


def test_breaker_levels_order_the_states_for_a_gauge() -> None:
    levels = [s.level for s in (BreakerState.CLOSED, BreakerState.HALF_OPEN, BreakerState.OPEN)]
    assert levels == [0, 1, 2]
