"""``autostack serve`` as a user runs it: without credentials it serves the setup flow, and
once the App is registered it restarts itself as the bot on the same port."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot.core.signatures import sign
from sandbox.serving import free_port
from tests.ship.conftest import GitHubSandbox
from tests.ship.test_setup_flow import confirm_on_github, manifest_page, parse_form

STARTUP_SECONDS = 30.0


def wait_for(url: str, status: int) -> httpx.Response:
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        try:
            response = httpx.get(url, timeout=2.0)
            if response.status_code == status:
                return response
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{url} did not answer {status} in {STARTUP_SECONDS}s")
        time.sleep(0.1)


@pytest.fixture
def serve_process(github: GitHubSandbox, tmp_path: Path) -> Iterator[tuple[str, Path, Path]]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOSTACK_")}
    env |= {
        "AUTOSTACK_GITHUB_URL": github.url,
        "AUTOSTACK_GITHUB_API_URL": github.url,
        "AUTOSTACK_PUBLIC_URL": url,
        "AUTOSTACK_DATA_DIR": str(tmp_path / "data"),
        "AUTOSTACK_GITOPS_REPO": "acme/gitops",
        "AUTOSTACK_DATABASE_URL": f"sqlite:///{tmp_path / 'bot.db'}",
    }
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "serve", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield url, tmp_path / "data", log_path
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_serve_registers_the_app_then_serves_webhooks(
    serve_process: tuple[str, Path, Path], github: GitHubSandbox
) -> None:
    url, data_dir, log_path = serve_process
    wait_for(f"{url}/setup", 200)
    assert httpx.get(f"{url}/readyz").status_code == 503  # not ready for webhooks yet
    # serve printed the one-time setup code, and left it owner-only in the data dir.
    printed = re.search(r"enter the setup code (\S+) \(also in (\S+)\)", log_path.read_text())
    assert printed, log_path.read_text()
    code, code_file = printed.group(1), Path(printed.group(2))
    assert code_file.read_text().strip() == code
    assert code_file.stat().st_mode & 0o077 == 0
    assert manifest_page(url, code="not-the-code").status_code == 403
    page = manifest_page(url, code=code)
    assert page.status_code == 200, page.text

    callback = httpx.get(confirm_on_github(github, parse_form(page.text)))
    assert callback.status_code == 303
    assert callback.headers["location"].endswith("/installations/new")

    # The same process comes back as the bot with the stored credentials, which GitHub
    # accepts (readiness asks it), and handles a signed webhook.
    ready = wait_for(f"{url}/readyz", 200).json()
    assert ready["checks"]["github_app"] == "ok" and ready["checks"]["handlers"] == "ok"
    assert httpx.get(f"{url}/setup").status_code == 404
    assert not code_file.exists()
    body = json.dumps({"zen": "Keep it logically awesome.", "hook_id": 1}).encode()
    ping = httpx.post(
        f"{url}/webhooks/github",
        content=body,
        headers={
            "X-GitHub-Event": "ping",
            "X-GitHub-Delivery": "setup-ping-1",
            "X-Hub-Signature-256": sign(body, github.state.webhook_secret.encode()),
            "Content-Type": "application/json",
        },
    )
    assert (ping.status_code, ping.json()["status"]) == (200, "pong")
    assert (data_dir / "secrets" / "app-credentials.json").is_file()
    output = log_path.read_text()
    assert "registered; credentials stored" in output
    assert github.state.webhook_secret not in output
    assert "PRIVATE KEY" not in output


def test_serve_without_setup_refuses_as_before(github: GitHubSandbox, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOSTACK_")}
    env["AUTOSTACK_DATA_DIR"] = str(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "serve", "--no-setup", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "AUTOSTACK_GITHUB_APP_ID is not set" in result.stderr
