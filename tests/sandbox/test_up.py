"""``autostack sandbox up``: both servers on loopback, what to connect with, and state that
survives a restart."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import httpx

from sandbox.cli import up
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
        github, argocd, token = (
            fields["GitHub API and git"],
            fields["Argo CD API"],
            fields["Argo CD token"],
        )
        assert github == f"http://127.0.0.1:{github_port}"
        apps = httpx.get(
            f"{argocd}/api/v1/applications", headers={"Authorization": f"Bearer {token}"}
        )
        assert apps.status_code == 200
        assert httpx.get(f"{argocd}/api/v1/applications").status_code == 401
        assert httpx.get(f"{github}/_sandbox/app").json()["id"] == int(fields["App id"])
        assert Path(fields["App private key"]).read_text().startswith("-----BEGIN")
    finally:
        stop.set()
        thread.join(20)
    return fields, elapsed


def test_up_prints_how_to_connect_and_restarts_with_the_same_state(tmp_path: Path) -> None:
    ports = free_port(), free_port()
    first, elapsed = _run_up(tmp_path, *ports)
    assert elapsed < 5  # the issue asks for 2 s; shared CI machines get some slack
    second, _ = _run_up(tmp_path, *ports)
    for key in ("GitOps repository", "Argo CD token", "App id", "Webhook secret"):
        assert first[key] == second[key], key
