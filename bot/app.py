"""``create_app(settings)``: the bot's FastAPI application and its lifespan.

The lifespan opens the database, applies migrations and starts the worker threads; routes
are the webhook, ``/healthz``, ``/readyz`` and ``/metrics``. Feature routers, adapters and
extra readiness checks are injected, never imported from here: ``bot.wiring.build_app`` is
the one place that assembles the whole bot, and an app without handlers is refused, since
it would acknowledge every webhook and act on none.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from bot import webhook
from bot.adapters.clock import Clock, SystemClock
from bot.core.secrets import register_settings
from bot.metrics import CONTENT_TYPE, Metrics
from bot.queue import DeliveryQueue
from bot.router import HandlerContext, Router
from bot.settings import ConfigError, Settings
from bot.store import Store, WalCheckpointer
from bot.worker import Worker, WorkerPool

log = logging.getLogger(__name__)
ReadinessCheck = Callable[[], None]
"""Raises (with a short message) when the bot should not receive traffic."""
StartHook = Callable[[HandlerContext], Callable[[], None] | None]
"""Starts a background job (the Argo CD watcher) with the handlers' context at start-up;
returns how to stop it."""


def create_app(
    settings: Settings,
    *,
    router: Router,
    github_factory: Callable[[int], Any] | None = None,
    store: Store | None = None,
    clock: Clock | None = None,
    readiness_checks: Mapping[str, ReadinessCheck] | None = None,
    idle_wait: float = 1.0,
    metrics: Metrics | None = None,
    extras: Mapping[str, Any] | None = None,
    on_start: Sequence[StartHook] = (),
) -> FastAPI:
    """The app; ``store`` and ``clock`` default to the configured database and wall clock.
    ``extras`` reach handlers as ``ctx.extras`` (the adapters); ``on_start`` hooks start
    background jobs next to the workers. ``ConfigError`` when ``router`` has no handler."""
    if not router:
        raise ConfigError(
            [
                "refusing to serve: no webhook handlers are registered (build the bot with "
                "bot.wiring.build_app), so every delivery would be acknowledged and dropped"
            ]
        )
    clock = clock or SystemClock()
    metrics = metrics or Metrics()
    routes = router
    # Whatever the bot echoes (comments, errors, logs) is masked of these values exactly.
    register_settings(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = store or Store.open(settings.database_url.get_secret_value())
        await run_in_threadpool(db.migrate)
        log.info("database ready at %s", settings.database_url_for_display)
        context = HandlerContext.build(
            settings,
            db,
            clock,
            metrics=metrics,
            github_factory=github_factory,
            **dict(extras or {}),
        )
        lease = timedelta(seconds=settings.delivery_lease_seconds)
        workers = [
            Worker(
                context,
                routes,
                lease=lease,
                max_attempts=settings.delivery_max_attempts,
                retry_base=settings.delivery_retry_base_seconds,
                retry_cap=settings.delivery_retry_cap_seconds,
            )
            for _ in range(settings.workers)
        ]
        pool = WorkerPool(workers, idle_wait=idle_wait)
        queue = DeliveryQueue(db, max_attempts=settings.delivery_max_attempts)
        app.state.context = context
        app.state.queue = queue
        app.state.ingest = webhook.Ingest(
            queue, clock, metrics, settings.webhook_secret, on_accepted=pool.wake
        )
        app.state.readiness_checks["database"] = db.ping
        checkpointer = WalCheckpointer(db)
        checkpointer.start()
        pool.start()
        stops = [stop for hook in on_start if (stop := hook(context)) is not None]
        # What start-up built lives as long as the app. Frozen, the collector no longer
        # walks it: a full collection then takes a few milliseconds instead of a hundred,
        # during which no request is served.
        gc.freeze()
        try:
            yield
        finally:
            gc.unfreeze()
            for stop in stops:
                await run_in_threadpool(stop)
            # Store what has arrived (or answer it 503) before the workers stop.
            await app.state.ingest.close()
            await run_in_threadpool(pool.stop)
            await run_in_threadpool(checkpointer.stop)
            if store is None:
                db.dispose()

    app = FastAPI(title="AutoStack", lifespan=lifespan, openapi_url=None, docs_url=None)
    app.state.metrics = metrics
    # A dict so later parts (the Argo CD breaker) can add their checks at start-up.
    app.state.readiness_checks = {"handlers": _has_handlers(routes), **(readiness_checks or {})}
    # Starlette serves an endpoint that is not a function as the ASGI app it is.
    webhook_endpoint = webhook.WebhookEndpoint()
    app.add_route(webhook.WEBHOOK_PATH, webhook_endpoint, methods=["POST"])  # type: ignore[arg-type]
    app.add_api_route("/healthz", healthz, methods=["GET"])
    app.add_api_route("/readyz", readyz, methods=["GET"])
    app.add_api_route("/metrics", metrics_endpoint, methods=["GET"])
    return app


def _has_handlers(router: Router) -> ReadinessCheck:
    def check() -> None:
        if not router:
            raise LookupError("no webhook handlers are registered")

    return check


async def healthz() -> JSONResponse:
    """The process is up and serving requests."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    """200 when every readiness check passes (the database first), else 503 naming them."""
    checks: dict[str, ReadinessCheck] = request.app.state.readiness_checks
    results = await run_in_threadpool(_run_checks, checks)
    ready = all(result == "ok" for result in results.values())
    body = {"status": "ready" if ready else "not_ready", "checks": results}
    return JSONResponse(body, status_code=200 if ready else 503)


def _run_checks(checks: Mapping[str, ReadinessCheck]) -> dict[str, str]:
    results = {}
    for name, check in checks.items():
        try:
            check()
            results[name] = "ok"
        except Exception as exc:
            # Only the exception type goes out; the message may name hosts or paths.
            log.warning("readiness check %s failed: %s", name, exc)
            results[name] = f"failing: {type(exc).__name__}"
    return results


async def metrics_endpoint(request: Request) -> Response:
    metrics: Metrics = request.app.state.metrics
    queue: DeliveryQueue | None = getattr(request.app.state, "queue", None)
    if queue is not None:
        try:
            metrics.set_queue_depth(await run_in_threadpool(queue.counts))
        except Exception as exc:
            log.warning("metrics: cannot read queue depth: %s", type(exc).__name__)
    return Response(metrics.render(), media_type=CONTENT_TYPE)
