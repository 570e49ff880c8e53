"""The setup-mode web app: ``GET /setup`` posts the App manifest to GitHub, and
``GET /setup/callback`` exchanges GitHub's code for the App's credentials.

A random ``state`` per page view, kept here and redeemable once within an hour, ties the
callback to a page this server handed out, so a forged link cannot plant another App's
credentials. Once the credentials are stored both routes answer 410.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import urlencode, urlsplit

import jinja2
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from bot.adapters.clock import Clock, SystemClock
from bot.adapters.manifest_conversion import ConversionError, convert_manifest
from bot.manifest import ROOT, ManifestError, app_manifest
from bot.settings import Settings
from bot.setup_flow import AppCredentials, save_credentials

log = logging.getLogger(__name__)
STATE_TTL = timedelta(hours=1)  # GitHub's manifest codes expire after an hour too
MAX_PENDING = 64  # page views remembered at once; reloading /setup cannot grow memory
GITHUB_LOGIN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$")
Exchange = Callable[[str], dict[str, Any]]
"""Turns a manifest code into GitHub's conversion answer (raises ``ConversionError``)."""


class PendingStates:
    """``state`` values handed out by ``/setup``: single use, expiring, bounded."""

    def __init__(self, clock: Clock, ttl: timedelta = STATE_TTL, limit: int = MAX_PENDING):
        self._clock, self._ttl, self._limit = clock, ttl, limit
        self._issued: OrderedDict[str, datetime] = OrderedDict()
        self._lock = threading.Lock()

    def issue(self) -> str:
        state = secrets.token_urlsafe(32)
        with self._lock:
            self._issued[state] = self._clock.now() + self._ttl
            while len(self._issued) > self._limit:
                self._issued.popitem(last=False)
        return state

    def redeem(self, state: str) -> bool:
        with self._lock:
            expires = self._issued.pop(state, None)
        return expires is not None and self._clock.now() < expires


@lru_cache(maxsize=1)
def _templates() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(ROOT / "templates" / "setup")),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )


def _page(
    template: str, status: int = 200, form_origin: str = "'none'", **context: Any
) -> HTMLResponse:
    body = _templates().get_template(template).render(**context)
    # The page only posts a form to GitHub: no scripts, no framing, nothing cached.
    headers = {
        "Cache-Control": "no-store",
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
        f"form-action {form_origin}; frame-ancestors 'none'; base-uri 'none'",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
    }
    return HTMLResponse(body, status_code=status, headers=headers)


def _message(status: int, title: str, text: str) -> HTMLResponse:
    return _page("message.html.j2", status, title=title, text=text)


class SetupSite:
    """The state shared by the two routes of one setup-mode server."""

    def __init__(
        self,
        settings: Settings,
        exchange: Exchange,
        clock: Clock,
        on_configured: Callable[[AppCredentials], None],
    ):
        self.settings = settings
        self.exchange = exchange
        self.states = PendingStates(clock)
        self.on_configured = on_configured
        self.configured = False

    def form_action(self, org: str | None, state: str) -> str:
        base = self.settings.github_url.rstrip("/")
        path = f"/organizations/{org}/settings/apps/new" if org else "/settings/apps/new"
        return f"{base}{path}?{urlencode({'state': state})}"

    def warnings(self) -> list[str]:
        found = []
        host = urlsplit(self.settings.public_url).hostname or ""
        if host in ("localhost", "::1") or host.startswith("127."):
            found.append(
                f"AUTOSTACK_PUBLIC_URL is {self.settings.public_url}: GitHub cannot deliver "
                "webhooks there. Set it to a URL GitHub reaches (or a tunnel) first."
            )
        if not self.settings.gitops_repo:
            found.append(
                "AUTOSTACK_GITOPS_REPO is not set: set it and restart before you install the "
                "App, or redeliver the installation event from the App's settings afterwards."
            )
        return found


def create_setup_app(
    settings: Settings,
    *,
    exchange: Exchange | None = None,
    clock: Clock | None = None,
    on_configured: Callable[[AppCredentials], None] = lambda _: None,
) -> FastAPI:
    """The app ``serve`` runs while no App credentials exist."""
    api_url = settings.github_api_url
    site = SetupSite(
        settings,
        exchange or (lambda code: convert_manifest(api_url, code)),
        clock or SystemClock(),
        on_configured,
    )
    app = FastAPI(title="AutoStack setup", openapi_url=None, docs_url=None, redoc_url=None)
    app.state.setup = site
    app.add_api_route("/setup", setup_page, methods=["GET"])
    app.add_api_route("/setup/callback", setup_callback, methods=["GET"])
    app.add_api_route("/healthz", healthz, methods=["GET"])
    app.add_api_route("/readyz", readyz, methods=["GET"])
    return app


async def setup_page(request: Request, org: str | None = None, name: str | None = None) -> Response:
    site: SetupSite = request.app.state.setup
    if site.configured:
        return _already_configured()
    if org is not None and not GITHUB_LOGIN.match(org):
        return _message(400, "Not an organisation", "org must be a GitHub organisation login.")
    try:
        manifest = app_manifest(site.settings.public_url, name=name)
    except ManifestError as exc:
        return _message(400, "Cannot build the App manifest", str(exc))
    state = site.states.issue()
    action = site.form_action(org, state)
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(action))
    return _page(
        "setup.html.j2",
        form_origin=origin,
        action=action,
        manifest_json=json.dumps(manifest, sort_keys=True),
        manifest=manifest,
        org=org,
        warnings=site.warnings(),
    )


async def setup_callback(
    request: Request, code: str | None = None, state: str | None = None
) -> Response:
    site: SetupSite = request.app.state.setup
    if site.configured:
        return _already_configured()
    if not code or not state:
        return _message(400, "Incomplete callback", "GitHub's code or the state is missing.")
    if not site.states.redeem(state):
        log.warning("setup callback refused: unknown or expired state")
        return _message(
            403,
            "This link was not issued here",
            "The state does not match a setup page this server showed in the last hour. "
            "Start again at /setup.",
        )
    try:
        body = await run_in_threadpool(site.exchange, code)
        credentials = AppCredentials.from_conversion(body)
    except (ConversionError, ValueError) as exc:
        log.warning("setup: the App was not registered: %s", exc)
        return _message(502, "GitHub did not register the App", str(exc))
    try:
        path = await run_in_threadpool(save_credentials, site.settings.data_dir, credentials)
    except OSError as exc:
        log.error("setup: cannot store the App credentials: %s", type(exc).__name__)
        return _message(
            500,
            "Cannot store the App credentials",
            f"AUTOSTACK_DATA_DIR ({site.settings.data_dir}) must be writable. The App "
            f"{credentials.slug} exists on GitHub; delete it there and start again.",
        )
    site.configured = True
    log.info(
        "setup: GitHub App %s (id %s) registered; credentials stored in %s",
        credentials.slug,
        credentials.app_id,
        path,
    )
    task = BackgroundTask(site.on_configured, credentials)
    return RedirectResponse(credentials.install_url, status_code=303, background=task)


def _already_configured() -> HTMLResponse:
    return _message(
        410, "Already configured", "This AutoStack has its GitHub App; setup is disabled."
    )


async def healthz() -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def readyz() -> JSONResponse:
    """Not ready for webhooks until the App is registered."""
    return JSONResponse({"status": "setup", "checks": {"github_app": "not registered"}}, 503)


def serve_setup(settings: Settings, host: str, port: int) -> bool:
    """Serve setup mode until the App is registered (True) or the server is stopped."""
    registered = threading.Event()
    server: uvicorn.Server | None = None

    def configured(_: AppCredentials) -> None:
        registered.set()
        if server is not None:
            server.should_exit = True  # ``serve`` goes on with the stored credentials

    app = create_setup_app(settings, on_configured=configured)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="info"))
    log.info("setup mode: open %s/setup to register the GitHub App", settings.public_url)
    server.run()
    return registered.is_set()
