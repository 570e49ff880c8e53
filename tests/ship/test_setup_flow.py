"""The App setup flow against the sandbox GitHub: the page posts the manifest, GitHub
redirects back with a code, the callback stores the credentials owner-only and sends the
browser to the installation page; forged or stale states are refused; then it is closed."""

from __future__ import annotations

import json
import logging
import stat
import time
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient

from bot.adapters.clock import FakeClock, SystemClock
from bot.settings import ConfigError
from bot.setup_flow import (
    AppCredentials,
    credentials_path,
    load_credentials,
    needs_setup,
    with_stored_credentials,
)
from bot.setup_web import MAX_WRONG_CODES, PendingStates, SetupCode, create_setup_app
from bot.wiring import build_app
from sandbox.serving import ThreadedServer, free_port
from tests.ship.conftest import GitHubSandbox, unconfigured_settings


class FormParser(HTMLParser):
    """The setup page's form: its action and the hidden manifest field."""

    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.method: str | None = None
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.action, self.method = values.get("action"), values.get("method")
        if tag == "input" and values.get("name"):
            self.fields[values["name"]] = values.get("value", "")


def parse_form(html: str) -> FormParser:
    parser = FormParser()
    parser.feed(html)
    return parser


CODE = "c0ffee-5e7c0d-abc123"


class SetupServer:
    def __init__(self, github: GitHubSandbox, data_dir: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.settings = unconfigured_settings(github.url, self.url, data_dir)
        self.configured: list[AppCredentials] = []
        self.app = create_setup_app(
            self.settings,
            on_configured=self.configured.append,
            setup_code=SetupCode(SystemClock(), CODE),
        )


def manifest_page(url: str, code: str = CODE, **fields: str) -> httpx.Response:
    """The setup code entered on ``url``/setup: the page that posts the manifest."""
    return httpx.post(f"{url}/setup", data={"setup_code": code, **fields})


@pytest.fixture
def setup_server(github: GitHubSandbox, tmp_path: Path) -> Any:
    server = SetupServer(github, tmp_path / "data")
    with ThreadedServer(server.app, port=server.port):
        yield server


def confirm_on_github(github: GitHubSandbox, form: FormParser) -> str:
    """What the browser does with the manifest page: post its form to GitHub, where the
    user confirms (the sandbox confirms at once) and is sent back to the manifest's
    redirect_url with a one-time code and the form action's state."""
    assert form.action and form.action.startswith(github.url), form.action
    answer = httpx.post(form.action, data=form.fields)
    assert answer.status_code == 302, answer.text
    location = answer.headers["location"]
    manifest = json.loads(form.fields["manifest"])
    assert location.startswith(manifest["redirect_url"] + "?"), location
    return str(location)


def register(setup: SetupServer, github: GitHubSandbox) -> tuple[httpx.Response, httpx.Response]:
    """Act as the browser: open /setup, enter the code, submit the form to GitHub, follow
    GitHub back."""
    assert httpx.get(f"{setup.url}/setup").status_code == 200
    page = manifest_page(setup.url)
    assert page.status_code == 200, page.text
    form = parse_form(page.text)
    assert form.method == "post" and form.action
    callback = httpx.get(confirm_on_github(github, form))
    return page, callback


def test_the_page_posts_the_filled_manifest_to_github(setup_server: SetupServer) -> None:
    page = manifest_page(setup_server.url)
    form = parse_form(page.text)
    assert form.action is not None
    action = urlsplit(form.action)
    assert f"{action.scheme}://{action.netloc}" == setup_server.settings.github_url
    assert action.path == "/settings/apps/new"
    assert len(parse_qs(action.query)["state"][0]) >= 40
    manifest = json.loads(form.fields["manifest"])
    assert manifest["url"] == setup_server.url
    assert manifest["hook_attributes"]["url"] == f"{setup_server.url}/webhooks/github"
    assert manifest["redirect_url"] == f"{setup_server.url}/setup/callback"
    assert manifest["default_permissions"]["contents"] == "write"
    assert page.headers["cache-control"] == "no-store"
    assert (
        "form-action " + setup_server.settings.github_url in page.headers["content-security-policy"]
    )


def test_an_organisation_gets_the_organisation_form(setup_server: SetupServer) -> None:
    code_form = parse_form(httpx.get(f"{setup_server.url}/setup?org=acme-inc").text)
    assert code_form.fields["org"] == "acme-inc"
    form = parse_form(manifest_page(setup_server.url, org="acme-inc").text)
    assert form.action is not None
    assert urlsplit(form.action).path == "/organizations/acme-inc/settings/apps/new"
    bad = httpx.get(f"{setup_server.url}/setup", params={"org": "acme/../x"})
    assert bad.status_code == 400
    assert manifest_page(setup_server.url, org="acme/../x").status_code == 400


def test_each_page_view_gets_its_own_state(setup_server: SetupServer) -> None:
    states = {
        parse_qs(urlsplit(parse_form(manifest_page(setup_server.url).text).action or "").query)[
            "state"
        ][0]
        for _ in range(3)
    }
    assert len(states) == 3


def test_registration_stores_credentials_owner_only_and_redirects_to_installation(
    setup_server: SetupServer, github: GitHubSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    page, callback = register(setup_server, github)

    app_doc = github.state.app_doc()
    assert callback.status_code == 303
    assert callback.headers["location"] == (
        f"{github.url}/apps/{app_doc['slug']}/installations/new"
    )
    path = credentials_path(setup_server.settings.data_dir)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary left over
    stored = json.loads(path.read_text())
    assert stored["app_id"] == github.state.app_id
    assert stored["slug"] == app_doc["slug"]
    assert stored["pem"] == github.state.private_key_pem
    assert stored["webhook_secret"] == github.state.webhook_secret
    assert "client_secret" not in stored
    # on_configured runs once the redirect has been sent.
    deadline = time.monotonic() + 5
    while not setup_server.configured and time.monotonic() < deadline:
        time.sleep(0.01)
    assert setup_server.configured and setup_server.configured[0].app_id == github.state.app_id
    # GitHub now delivers webhooks where the manifest said.
    info = httpx.get(f"{github.url}/_sandbox/app").json()
    assert info["webhook_url"] == f"{setup_server.url}/webhooks/github"

    secrets = (github.state.private_key_pem.strip(), github.state.webhook_secret)
    seen = page.text + callback.text + str(callback.headers) + caplog.text
    for secret in secrets:
        assert secret not in seen
    assert "PRIVATE KEY" not in seen
    assert secrets[1] not in repr(setup_server.configured[0])


def test_after_registration_setup_is_closed(
    setup_server: SetupServer, github: GitHubSandbox
) -> None:
    register(setup_server, github)
    assert httpx.get(f"{setup_server.url}/setup").status_code == 410
    again = httpx.get(f"{setup_server.url}/setup/callback", params={"code": "x", "state": "y"})
    assert again.status_code == 410


def test_a_forged_state_is_refused_and_burns_nothing(
    setup_server: SetupServer, github: GitHubSandbox
) -> None:
    manifest = {"redirect_url": f"{setup_server.url}/setup/callback", "name": "x"}
    code = httpx.post(f"{github.url}/_sandbox/app-manifests", json={"manifest": manifest})
    code = code.json()["code"]
    forged = httpx.get(
        f"{setup_server.url}/setup/callback", params={"code": code, "state": "forged-" * 6}
    )
    assert forged.status_code == 403
    assert not credentials_path(setup_server.settings.data_dir).exists()
    assert not setup_server.configured
    # The code was not exchanged: a state this server issued still redeems it.
    form = parse_form(manifest_page(setup_server.url).text)
    state = parse_qs(urlsplit(form.action or "").query)["state"][0]
    valid = httpx.get(f"{setup_server.url}/setup/callback", params={"code": code, "state": state})
    assert valid.status_code == 303
    assert load_credentials(setup_server.settings.data_dir) is not None


def test_a_used_code_is_reported_and_nothing_is_stored(
    setup_server: SetupServer, github: GitHubSandbox
) -> None:
    form = parse_form(manifest_page(setup_server.url).text)
    state = parse_qs(urlsplit(form.action or "").query)["state"][0]
    answer = httpx.get(
        f"{setup_server.url}/setup/callback", params={"code": "0" * 20, "state": state}
    )
    assert answer.status_code == 502
    assert "start again at /setup" in answer.text
    assert not credentials_path(setup_server.settings.data_dir).exists()


def test_a_state_expires_after_an_hour_and_redeems_once(tmp_path: Path) -> None:
    clock = FakeClock()
    calls: list[str] = []

    def exchange(code: str) -> dict[str, Any]:
        calls.append(code)
        raise AssertionError("a refused state must not reach GitHub")

    settings = unconfigured_settings("https://github.example", "https://bot.example", tmp_path)
    code = SetupCode(clock, CODE)
    app = create_setup_app(settings, exchange=exchange, clock=clock, setup_code=code)
    with TestClient(app) as client:
        form = parse_form(client.post("/setup", data={"setup_code": CODE}).text)
        state = parse_qs(urlsplit(form.action or "").query)["state"][0]
        clock.advance(minutes=61)
        late = client.get("/setup/callback", params={"code": "c", "state": state})
        assert late.status_code == 403
        again = client.get("/setup/callback", params={"code": "c", "state": state})
        assert again.status_code == 403
    assert calls == []


def test_serve_picks_the_stored_credentials_up_and_then_has_no_setup(
    setup_server: SetupServer, github: GitHubSandbox
) -> None:
    settings = setup_server.settings
    assert needs_setup(settings)
    register(setup_server, github)
    assert not needs_setup(settings)
    loaded = with_stored_credentials(settings)
    loaded.require_for_serve()
    assert loaded.github_app_id == github.state.app_id
    key = loaded.private_key()
    assert key is not None and key.get_secret_value() == github.state.private_key_pem
    assert loaded.webhook_secret is not None
    assert loaded.webhook_secret.get_secret_value() == github.state.webhook_secret
    with TestClient(build_app(loaded)) as client:
        assert client.get("/setup").status_code == 404
        assert client.get("/healthz").status_code == 200
        ready = client.get("/readyz").json()
        assert ready["checks"]["github_app"] == "ok", ready


def test_the_environment_wins_over_stored_credentials(
    setup_server: SetupServer, github: GitHubSandbox
) -> None:
    register(setup_server, github)
    partial = setup_server.settings.model_copy(update={"github_app_id": 99})
    assert with_stored_credentials(partial) is partial  # never a mix of two Apps
    assert not needs_setup(partial)
    with pytest.raises(ConfigError, match="PRIVATE_KEY"):
        partial.require_for_serve()


def test_credentials_readable_by_others_are_refused(
    setup_server: SetupServer, github: GitHubSandbox
) -> None:
    register(setup_server, github)
    path = credentials_path(setup_server.settings.data_dir)
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600") as refused:
        with_stored_credentials(setup_server.settings)
    assert github.state.webhook_secret not in str(refused.value)


def test_malformed_credentials_name_the_field_not_the_value(tmp_path: Path) -> None:
    path = credentials_path(tmp_path)
    path.parent.mkdir(mode=0o700)
    path.write_text(json.dumps({"app_id": 1, "slug": "s", "html_url": "u", "pem": "oops"}))
    path.chmod(0o600)
    with pytest.raises(ConfigError, match="webhook_secret is missing"):
        load_credentials(tmp_path)


def test_setup_needs_the_code_serve_printed(setup_server: SetupServer) -> None:
    """Whoever reaches /setup before the operator cannot register an App of their own."""
    page = httpx.get(f"{setup_server.url}/setup")
    assert page.status_code == 200
    assert "manifest" not in parse_form(page.text).fields
    assert "settings/apps/new" not in page.text
    for guess in ("", "c0ffee-5e7c0d-abc124", CODE.upper() + "x"):
        wrong = manifest_page(setup_server.url, code=guess)
        assert wrong.status_code in (403, 422), wrong.text
        assert "settings/apps/new" not in wrong.text
    # The code as printed, give or take case and spaces, opens the manifest page.
    right = manifest_page(setup_server.url, code=f"  {CODE.upper()} ")
    assert right.status_code == 200 and "manifest" in parse_form(right.text).fields


def test_wrong_codes_lock_a_client_out_for_a_while() -> None:
    clock = FakeClock()
    code = SetupCode(clock, CODE)
    for _ in range(MAX_WRONG_CODES):
        assert not code.locked_out("10.0.0.9")
        assert not code.check("10.0.0.9", "guess")
    assert code.locked_out("10.0.0.9")
    assert not code.locked_out("10.0.0.1")  # another client is not locked out
    clock.advance(minutes=6)
    assert not code.locked_out("10.0.0.9")
    assert code.check("10.0.0.9", CODE)


def test_one_client_s_page_views_never_evict_another_s_state() -> None:
    states = PendingStates(FakeClock())
    operator = states.issue("operator")
    for _ in range(1000):
        states.issue("attacker")
    assert states.redeem(operator)
    assert not states.redeem(operator)  # once only


def test_a_generated_setup_code_is_long_enough_to_resist_guessing() -> None:
    values = {SetupCode(FakeClock()).value for _ in range(20)}
    assert len(values) == 20
    assert all(len(value.replace("-", "")) >= 18 for value in values)  # 72 random bits
