"""``autostack sandbox up``: both servers on loopback, what to connect with, and state that
survives a restart."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import httpx

from sandbox.cli import up
from sandbox.envfile import ENV_FILE, read_env_file
from sandbox.serving import free_port


def _run_up(data: Path, github_port: int, argocd_port: int) -> tuple[dict[str, str], float]:
    lines: list[str] = []
    stop = threading.Event()
    thread = threading.Thread(
        target=up,
        args=(data,),
        kwargs={
            "github_port": github_port,
            "argocd_port": argocd_port,
            "out": lines.append,
            "stop": stop,
        },
    )
    started = time.monotonic()
    thread.start()
    deadline = started + 20
    while not any("Ctrl-C" in line for line in lines):
        assert time.monotonic() < deadline, lines
        time.sleep(0.02)
    elapsed = time.monotonic() - started
    fields = dict(
        (m.group(1).strip(), m.group(2).strip())
        for line in lines
        if (m := re.match(r"^\s+([^:]+):\s+(\S+)$", line))
    )
    try:
        github, argocd = fields["GitHub API and git"], fields["Argo CD API"]
        assert github == f"http://127.0.0.1:{github_port}"
        env_file = Path(fields["Bot settings"])
        assert env_file == data.resolve() / ENV_FILE
        assert env_file.stat().st_mode & 0o077 == 0
        env = read_env_file(env_file)
        fields.update(env)
        assert env["AUTOSTACK_GITHUB_API_URL"] == github
        assert env["AUTOSTACK_ARGOCD_URL"] == argocd
        assert env["AUTOSTACK_GITOPS_REPO"] == "acme/gitops"
        token = env["AUTOSTACK_ARGOCD_TOKEN"]
        apps = httpx.get(
            f"{argocd}/api/v1/applications", headers={"Authorization": f"Bearer {token}"}
        )
        assert apps.status_code == 200
        assert httpx.get(f"{argocd}/api/v1/applications").status_code == 401
        app = httpx.get(f"{github}/_sandbox/app").json()
        assert app["id"] == int(env["AUTOSTACK_GITHUB_APP_ID"])
        assert app["webhook_url"] == "http://127.0.0.1:8000/webhooks/github"
        assert app["webhook_secret"] == env["AUTOSTACK_WEBHOOK_SECRET"]
        key = Path(env["AUTOSTACK_GITHUB_PRIVATE_KEY_FILE"])
        assert key.read_text().startswith("-----BEGIN")
        # The secrets are in the owner-only file, never on the terminal.
        printed = "\n".join(lines)
        assert token not in printed and app["webhook_secret"] not in printed
    finally:
        stop.set()
        thread.join(20)
    return fields, elapsed


def test_up_prints_how_to_connect_and_restarts_with_the_same_state(tmp_path: Path) -> None:
    ports = free_port(), free_port()
    first, elapsed = _run_up(tmp_path, *ports)
    assert elapsed < 5  # the issue asks for 2 s; shared CI machines get some slack
    second, _ = _run_up(tmp_path, *ports)
    keys = ("AUTOSTACK_ARGOCD_TOKEN", "AUTOSTACK_GITHUB_APP_ID", "AUTOSTACK_WEBHOOK_SECRET")
    for key in ("GitOps repository", *keys):
        assert first[key] == second[key], key
