"""The setup-mode web app: ``/setup`` asks for the one-time setup code ``serve`` printed at
start, then posts the App manifest to GitHub; ``GET /setup/callback`` exchanges GitHub's
code for the App's credentials.

The setup code (as Grafana's and Jenkins's first-run secrets) keeps whoever reaches the
server before its operator from registering an App of their own; a client that guesses
wrong too often is refused for a while. A random ``state`` per manifest page, kept here
per client and redeemable once within an hour, ties the callback to a page this server
handed out, so a forged link cannot plant another App's credentials, and another client's
page views cannot evict the operator's. Once the credentials are stored both routes
answer 410.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import re
import secrets
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import jinja2
import uvicorn
from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from bot.adapters.clock import Clock, SystemClock
from bot.adapters.manifest_conversion import ConversionError, convert_manifest
from bot.manifest import ROOT, ManifestError, app_manifest
from bot.settings import Settings
from bot.setup_flow import CREDENTIALS_DIR, AppCredentials, save_credentials

log = logging.getLogger(__name__)
STATE_TTL = timedelta(hours=1)  # GitHub's manifest codes expire after an hour too
MAX_PENDING = 8  # manifest pages remembered per client; reloading cannot grow memory
MAX_CLIENTS = 256  # clients remembered at once, the least recent forgotten first
MAX_WRONG_CODES = 5  # wrong setup codes from one client before it must wait
LOCKOUT = timedelta(minutes=5)
SETUP_CODE_FILE = "setup-code"  # in the credentials folder, owner-only
GITHUB_LOGIN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$")
Exchange = Callable[[str], dict[str, Any]]
"""Turns a manifest code into GitHub's conversion answer (raises ``ConversionError``)."""


class PendingStates:
    """``state`` values handed out by ``/setup``: single use, expiring, bounded per client
    (and in how many clients are remembered), so one client's page views never evict
    another's."""

    def __init__(
        self,
        clock: Clock,
        ttl: timedelta = STATE_TTL,
        limit: int = MAX_PENDING,
        clients: int = MAX_CLIENTS,
    ):
        self._clock, self._ttl, self._limit, self._clients = clock, ttl, limit, clients
        self._issued: OrderedDict[str, OrderedDict[str, datetime]] = OrderedDict()
        self._lock = threading.Lock()

    def issue(self, client: str) -> str:
        state = secrets.token_urlsafe(32)
        with self._lock:
            mine = self._issued.pop(client, None) or OrderedDict()
            self._issued[client] = mine  # now the most recent client
            mine[state] = self._clock.now() + self._ttl
            while len(mine) > self._limit:
                mine.popitem(last=False)
            while len(self._issued) > self._clients:
                self._issued.popitem(last=False)
        return state

    def redeem(self, state: str) -> bool:
        """Whether ``state`` was issued (to any client: GitHub's redirect may come back from
        another address) and has not expired; it can be redeemed once."""
        with self._lock:
            for mine in self._issued.values():
                expires = mine.pop(state, None)
                if expires is not None:
                    return self._clock.now() < expires
        return False


class SetupCode:
    """The one-time code that proves a visitor is the operator who started ``serve``;
    wrong guesses are counted per client, and a client is refused for ``LOCKOUT`` after
    ``MAX_WRONG_CODES`` of them."""

    def __init__(self, clock: Clock, code: str | None = None):
        self.value = code or "-".join(secrets.token_hex(3) for _ in range(3))
        self._clock = clock
        self._wrong: OrderedDict[str, tuple[int, datetime]] = OrderedDict()
        self._lock = threading.Lock()

    def locked_out(self, client: str) -> bool:
        with self._lock:
            count, last = self._wrong.get(client, (0, self._clock.now()))
            if count >= MAX_WRONG_CODES and self._clock.now() < last + LOCKOUT:
                return True
            if count >= MAX_WRONG_CODES:
                del self._wrong[client]  # the lockout is over: a fresh start
            return False

    def check(self, client: str, given: str) -> bool:
        """Constant-time comparison; a wrong code counts against ``client``."""
        ok = hmac.compare_digest(given.strip().lower().encode(), self.value.encode())
        if not ok:
            with self._lock:
                count, _ = self._wrong.pop(client, (0, self._clock.now()))
                self._wrong[client] = (count + 1, self._clock.now())
                while len(self._wrong) > MAX_CLIENTS:
                    self._wrong.popitem(last=False)
        return ok


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
        setup_code: SetupCode,
    ):
        self.settings = settings
        self.exchange = exchange
        self.states = PendingStates(clock)
        self.on_configured = on_configured
        self.setup_code = setup_code
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
    setup_code: SetupCode | None = None,
) -> FastAPI:
    """The app ``serve`` runs while no App credentials exist; ``setup_code`` is the code
    its operator must enter (a new random one by default)."""
    api_url = settings.github_api_url
    clock = clock or SystemClock()
    site = SetupSite(
        settings,
        exchange or (lambda code: convert_manifest(api_url, code)),
        clock,
        on_configured,
        setup_code or SetupCode(clock),
    )
    app = FastAPI(title="AutoStack setup", openapi_url=None, docs_url=None, redoc_url=None)
    app.state.setup = site
    app.add_api_route("/setup", code_page, methods=["GET"])
    app.add_api_route("/setup", setup_page, methods=["POST"])
    app.add_api_route("/setup/callback", setup_callback, methods=["GET"])
    app.add_api_route("/healthz", healthz, methods=["GET"])
    app.add_api_route("/readyz", readyz, methods=["GET"])
    return app


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _code_form(
    site: SetupSite, org: str | None, name: str | None, error: str = "", status: int = 200
) -> Response:
    code_file = site.settings.data_dir / CREDENTIALS_DIR / SETUP_CODE_FILE
    return _page(
        "code.html.j2",
        status,
        form_origin="'self'",
        form_path="/setup",
        org=org,
        name=name,
        error=error,
        code_file=str(code_file),
    )


async def code_page(request: Request, org: str | None = None, name: str | None = None) -> Response:
    """The first page: it asks for the setup code (``?org=`` and ``?name=`` are carried
    along)."""
    site: SetupSite = request.app.state.setup
    if site.configured:
        return _already_configured()
    if org is not None and not GITHUB_LOGIN.match(org):
        return _message(400, "Not an organisation", "org must be a GitHub organisation login.")
    return _code_form(site, org, name)


async def setup_page(
    request: Request,
    setup_code: str = Form(""),
    org: str = Form(""),
    name: str = Form(""),
) -> Response:
    """With the right setup code: the page that posts the App manifest to GitHub."""
    site: SetupSite = request.app.state.setup
    if site.configured:
        return _already_configured()
    org_login = org or None
    if org_login is not None and not GITHUB_LOGIN.match(org_login):
        return _message(400, "Not an organisation", "org must be a GitHub organisation login.")
    client = _client(request)
    if site.setup_code.locked_out(client):
        log.warning("setup: refused a client after %d wrong setup codes", MAX_WRONG_CODES)
        return _message(429, "Too many wrong codes", "Wait a few minutes, then try again.")
    if not site.setup_code.check(client, setup_code):
        log.warning("setup: a wrong setup code was entered")
        wrong = "That is not the setup code serve printed."
        return _code_form(site, org_login, name, wrong, 403)
    try:
        manifest = app_manifest(site.settings.public_url, name=name or None)
    except ManifestError as exc:
        return _message(400, "Cannot build the App manifest", str(exc))
    state = site.states.issue(client)
    action = site.form_action(org_login, state)
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(action))
    return _page(
        "setup.html.j2",
        form_origin=origin,
        action=action,
        manifest_json=json.dumps(manifest, sort_keys=True),
        manifest=manifest,
        org=org_login,
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

    setup_code = SetupCode(SystemClock())
    code_file = write_setup_code(settings.data_dir, setup_code.value)
    app = create_setup_app(settings, on_configured=configured, setup_code=setup_code)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="info"))
    # Printed for the operator's terminal only (never through logging, never again).
    print(
        f"AutoStack has no GitHub App yet. Open {settings.public_url}/setup and enter the "
        f"setup code {setup_code.value} (also in {code_file}).",
        file=sys.stderr,
        flush=True,
    )
    try:
        server.run()
    finally:
        code_file.unlink(missing_ok=True)
    return registered.is_set()


def write_setup_code(data_dir: Path, code: str) -> Path:
    """The setup code, owner-only in the credentials folder, for operators who cannot see
    the terminal (``kubectl exec ... cat``)."""
    folder = data_dir / CREDENTIALS_DIR
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = folder / SETUP_CODE_FILE
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(code + "\n")
    return path
