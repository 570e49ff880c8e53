"""The Argo CD port: an httpx client with retries, a circuit breaker and plain return values.

Parsing and the status-to-error mapping live in ``bot/core/argo.py``; this module only moves
bytes, waits and counts failures. The bearer token never reaches logs or error messages.
"""

from __future__ import annotations

import logging
import random
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

import httpx

from bot.adapters.clock import Clock
from bot.core import argo
from bot.core.argo import AppStatus, KubeEvent, LogLine, TreeNode, WatchEvent
from bot.core.errors import AutostackError, PermanentError, TransientError, retry_after_seconds
from bot.settings import Settings

log = logging.getLogger(__name__)

READY_TTL = timedelta(seconds=30)
TLS_HINT = (
    "set AUTOSTACK_ARGOCD_CA_FILE to the CA that signed Argo CD's certificate "
    "(AUTOSTACK_ARGOCD_INSECURE=true only for a test server)"
)
Refresh = Literal["normal", "hard"]


class BreakerState(StrEnum):
    CLOSED = "closed"  # calls go through
    OPEN = "open"  # calls fail fast until the cool-down ends
    HALF_OPEN = "half_open"  # one trial call decides between closed and open

    @property
    def level(self) -> int:
        """0 closed, 1 half-open, 2 open: a value for a Prometheus gauge."""
        return {"closed": 0, "half_open": 1, "open": 2}[self.value]


class ArgoUnavailable(TransientError):
    """The breaker is open: Argo CD failed repeatedly, so we do not call it for a while."""


class CircuitBreaker:
    """Stops calling a server that keeps failing; thread-safe, timed by the injected clock."""

    def __init__(self, clock: Clock, failure_threshold: int = 5, cooldown_seconds: float = 30.0):
        self._clock = clock
        self.failure_threshold = failure_threshold
        self.cooldown_seconds = cooldown_seconds
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: datetime | None = None
        self._trial_running = False

    @property
    def state(self) -> BreakerState:
        with self._lock:
            return self._state()

    def _state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self._remaining() > 0:
            return BreakerState.OPEN
        return BreakerState.HALF_OPEN

    def _remaining(self) -> float:
        assert self._opened_at is not None
        elapsed = (self._clock.now() - self._opened_at).total_seconds()
        return max(0.0, self.cooldown_seconds - elapsed)

    def before_call(self) -> None:
        """Let a call through, or raise ``ArgoUnavailable`` while open (or a trial runs)."""
        with self._lock:
            state = self._state()
            if state is BreakerState.CLOSED:
                return
            if state is BreakerState.HALF_OPEN and not self._trial_running:
                self._trial_running = True
                return
            wait = self._remaining() if state is BreakerState.OPEN else 1.0
            raise ArgoUnavailable(
                f"Argo CD is unavailable: {self._failures} consecutive failures; "
                f"not calling it for another {wait:.0f}s",
                retry_after=wait,
                hint="check that AUTOSTACK_ARGOCD_URL is reachable and Argo CD's API server is up",
            )

    def record_success(self) -> None:
        """Argo CD answered (even with a 4xx): it is up."""
        with self._lock:
            if self._opened_at is not None:
                log.info("Argo CD answers again; circuit breaker closed")
            self._failures, self._opened_at, self._trial_running = 0, None, False

    def record_failure(self) -> None:
        with self._lock:
            self._failures += 1
            self._trial_running = False
            reopen = self._opened_at is not None  # a failed half-open trial
            if reopen or self._failures >= self.failure_threshold:
                if not reopen:
                    log.warning("Argo CD failed %d times in a row; circuit open", self._failures)
                self._opened_at = self._clock.now()

    def check_ready(self) -> None:
        """A ``/readyz`` check: raises while the breaker is open."""
        state = self.state
        if state is BreakerState.OPEN:
            raise ArgoUnavailable(f"Argo CD circuit breaker is {state}")


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter; ``attempts`` counts the first try."""

    attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 10.0
    max_retry_after: float = 60.0  # a longer Retry-After goes back to the queue instead

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float | None:
        """Seconds to wait before retry number ``attempt + 1``; None to give up now."""
        if attempt + 1 >= self.attempts:
            return None
        if retry_after is not None:
            return retry_after if retry_after <= self.max_retry_after else None
        return rng.uniform(0.0, min(self.max_delay, self.base_delay * 2**attempt))


def tls_verify(insecure: bool, ca_file: Path | None) -> bool | ssl.SSLContext:
    """What httpx should verify the server with: the system CAs, a CA file, or nothing."""
    if insecure:
        log.warning("TLS verification of Argo CD is off (AUTOSTACK_ARGOCD_INSECURE)")
        return False
    if ca_file is not None:
        return ssl.create_default_context(cafile=str(ca_file))
    return True


def _is_tls_failure(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class ArgoCD:
    """Argo CD's application API; every method returns frozen values from ``bot.core.argo``."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        clock: Clock,
        ca_file: Path | None = None,
        insecure: bool = False,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        watch_read_timeout: float = 300.0,
        retry: RetryPolicy | None = None,
        breaker: CircuitBreaker | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        transport: httpx.BaseTransport | None = None,
    ):
        self._token = token
        self._clock = clock
        self._retry = retry or RetryPolicy()
        self.breaker = breaker or CircuitBreaker(clock)
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._watch_timeout = httpx.Timeout(connect_timeout, read=watch_read_timeout)
        self._ready_until: datetime | None = None
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=httpx.Timeout(connect_timeout, read=read_timeout),
            verify=tls_verify(insecure, ca_file),
            transport=transport,
            follow_redirects=False,
        )

    @classmethod
    def from_settings(cls, settings: Settings, clock: Clock, **options: Any) -> ArgoCD | None:
        """The client ``AUTOSTACK_ARGOCD_*`` describe; None when URL or token is unset."""
        token = settings.argocd_token.get_secret_value() if settings.argocd_token else ""
        if not settings.argocd_url or not token:
            return None
        return cls(
            settings.argocd_url,
            token,
            clock=clock,
            ca_file=settings.argocd_ca_file,
            insecure=settings.argocd_insecure,
            **options,
        )

    @property
    def state(self) -> BreakerState:
        """The circuit breaker's state, for ``/readyz`` and ``/metrics``."""
        return self.breaker.state

    def check_ready(self) -> None:
        """A ``/readyz`` check: the breaker is closed and Argo CD accepts the token. A
        success is trusted for ``READY_TTL``, so probes cost Argo CD a call every half
        minute; a failure counts against the breaker like any other. A half-open breaker
        leaves the trial call to real work."""
        self.breaker.check_ready()
        now = self._clock.now()
        fresh = self._ready_until is not None and now < self._ready_until
        if fresh or self.state is not BreakerState.CLOSED:
            return
        what = "check the Argo CD token"
        info = self._call("GET", "/api/v1/session/userinfo", what, retry=False).json()
        if not info.get("loggedIn"):
            raise PermanentError("Argo CD does not accept AUTOSTACK_ARGOCD_TOKEN")
        self._ready_until = now + READY_TTL

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ArgoCD:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- operations ---------------------------------------------------------------------
    def get_application(self, name: str, refresh: Refresh | None = None) -> AppStatus:
        """One Application; ``refresh="normal"`` makes Argo CD compare with git first."""
        path = f"/api/v1/applications/{_seg(name)}"
        response = self._call("GET", path, f"get application {name}", argo.query(refresh=refresh))
        return argo.parse_application(response.json())

    def list_applications(self, selector: str | None = None) -> tuple[AppStatus, ...]:
        """Every Application matching the label ``selector`` (all when None), in one call."""
        params = argo.query(selector=selector)
        response = self._call("GET", "/api/v1/applications", "list applications", params)
        return argo.parse_application_list(response.json())

    def sync(self, name: str, revision: str | None = None, prune: bool = False) -> AppStatus:
        """Ask Argo CD to sync ``name`` (to ``revision``, else its target revision)."""
        path = f"/api/v1/applications/{_seg(name)}/sync"
        body = argo.sync_request_body(name, revision, prune)
        response = self._call("POST", path, f"sync application {name}", body=body)
        return argo.parse_application(response.json())

    def resource_tree(self, name: str) -> tuple[TreeNode, ...]:
        path = f"/api/v1/applications/{_seg(name)}/resource-tree"
        response = self._call("GET", path, f"get the resource tree of {name}")
        return argo.parse_resource_tree(response.json())

    def events(
        self,
        name: str,
        *,
        resource_name: str | None = None,
        resource_namespace: str | None = None,
        resource_uid: str | None = None,
    ) -> tuple[KubeEvent, ...]:
        """Events of the Application, or of one of its resources when one is named."""
        params = argo.query(
            resourceName=resource_name,
            resourceNamespace=resource_namespace,
            resourceUID=resource_uid,
        )
        path = f"/api/v1/applications/{_seg(name)}/events"
        response = self._call("GET", path, f"list events of {name}", params)
        return argo.parse_events(response.json())

    def pod_logs(
        self,
        name: str,
        pod: str,
        container: str | None = None,
        tail_lines: int = 50,
        *,
        namespace: str | None = None,
    ) -> tuple[LogLine, ...]:
        """The last ``tail_lines`` lines of a pod's log (without following it)."""
        what = f"read the log of pod {pod} of {name}"
        params = argo.query(
            podName=pod,
            container=container,
            namespace=namespace,
            tailLines=str(tail_lines),
            follow="false",
        )
        response = self._call("GET", f"/api/v1/applications/{_seg(name)}/logs", what, params)
        lines = []
        for raw in response.text.splitlines():
            result = self._stream_result(raw, what)
            entry = argo.parse_log_entry(result) if result is not None else None
            if entry is not None:
                lines.append(entry)
        return tuple(lines)

    def watch(
        self, selector: str | None = None, *, resource_version: str | None = None
    ) -> Iterator[WatchEvent]:
        """Application changes as they happen; ends when the server closes or goes quiet.

        No retries here: the caller (the watcher) reconnects, resuming from the last
        ``resource_version`` it saw, and falls back to polling while this raises.
        """
        what = "watch applications"
        params = argo.query(selector=selector, resourceVersion=resource_version)
        self.breaker.before_call()
        opened = False
        try:
            with self._http.stream(
                "GET", "/api/v1/stream/applications", params=params, timeout=self._watch_timeout
            ) as response:
                if response.status_code != 200:
                    response.read()
                    raise self._failed(response, what)
                self.breaker.record_success()
                opened = True
                for line in response.iter_lines():
                    result = self._stream_result(line, what)
                    if result is not None:
                        yield argo.parse_watch_event(result)
        except httpx.ReadTimeout as exc:
            if not opened:
                raise self._transport_error(exc, what, idempotent=False)[0] from None
            log.info("Argo CD watch stream idle; closing it so the watcher reconnects")
        except httpx.RequestError as exc:
            error, _ = self._transport_error(exc, what, idempotent=False)
            raise error from None

    # ---- plumbing -----------------------------------------------------------------------
    def _call(
        self,
        method: str,
        path: str,
        what: str,
        params: dict[str, Any] | None = None,
        *,
        body: dict[str, Any] | None = None,
        retry: bool = True,
    ) -> httpx.Response:
        """One API call with retries on transient failures (unless ``retry`` is off: a
        probe answers now); raises our error types."""
        # A sync is safe to resend only when it surely never reached Argo CD.
        idempotent = method == "GET"
        attempt = 0
        while True:
            self.breaker.before_call()
            try:
                response = self._http.request(method, path, params=params, json=body)
            except httpx.RequestError as exc:
                error, retryable = self._transport_error(exc, what, idempotent)
            else:
                if response.is_success:
                    self.breaker.record_success()
                    return response
                error = self._failed(response, what)
                retryable = response.status_code in argo.RETRY_STATUSES
            retry_after = error.retry_after if isinstance(error, TransientError) else None
            retryable = retryable and retry
            delay = self._retry.delay(attempt, retry_after, self._rng) if retryable else None
            if delay is None:
                raise error
            log.warning("%s; retrying in %.1fs", error.message, delay)
            self._sleep(delay)
            attempt += 1

    def _failed(self, response: httpx.Response, what: str) -> AutostackError:
        """Our error for an HTTP error answer, counted against the breaker if Argo CD is unwell."""
        status = response.status_code
        retry_after = retry_after_seconds(response.headers, self._clock.now())
        error = argo.error_for_status(status, response.text, what, retry_after=retry_after)
        assert error is not None
        if status == 429 or status >= 500:
            self.breaker.record_failure()
        else:
            self.breaker.record_success()  # a 4xx is an answer: the server is up
        return self._redact(error)

    def _transport_error(
        self, exc: httpx.RequestError, what: str, idempotent: bool
    ) -> tuple[AutostackError, bool]:
        """Our error for a failure below HTTP, and whether resending is safe."""
        detail = f"{type(exc).__name__}: {exc}"
        # Argo CD is unreachable for us either way, so the breaker (and /readyz) count it.
        self.breaker.record_failure()
        if _is_tls_failure(exc):
            # A certificate problem is configuration: retrying cannot help.
            error: AutostackError = PermanentError(
                f"Argo CD: {what} failed: TLS: {detail}", hint=TLS_HINT
            )
            return self._redact(error), False
        error = TransientError(f"Argo CD: {what} failed: {detail}")
        unsent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
        return self._redact(error), unsent or idempotent

    def _stream_result(self, line: str, what: str) -> dict[str, Any] | None:
        try:
            return argo.parse_stream_line(line, what)
        except AutostackError as error:
            raise self._redact(error) from None

    def _redact(self, error: AutostackError) -> AutostackError:
        """The same error with the token blanked out of its message, whatever echoed it."""
        if self._token and self._token in error.message:
            error.message = error.message.replace(self._token, "***")
            error.args = (error.message,)
        return error


def _seg(value: str) -> str:
    """A path segment, escaped so a name can never change the route."""
    return quote(value, safe="")
