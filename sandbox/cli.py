"""``autostack sandbox up``: the sandbox GitHub and Argo CD on loopback, for trying AutoStack
and poking at it with curl and git."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from sandbox.serving import wait_until_stopped
from sandbox.testbed import Testbed


def up(
    data: Path,
    *,
    github_port: int,
    argocd_port: int,
    out: Callable[[str], None],
    stop: threading.Event | None = None,
) -> int:
    """Serve until interrupted (or ``stop`` is set); the data dir keeps the repositories."""
    started = time.monotonic()
    bed = Testbed(data)
    try:
        bed.start_github(github_port or None)
        gitops = bed.create_gitops()
        bed.start_argocd(argocd_port or None)
        app = bed.control("GET", "/app")
        assert bed.argo_state is not None
        out(f"Sandbox up in {time.monotonic() - started:.1f}s; state in {data}")
        out(f"  GitHub API and git:   {bed.github_url}")
        out(f"  GitOps repository:    {gitops['clone_url']}")
        out(f"  Argo CD API:          {bed.argocd_url}")
        out(f"  Argo CD token:        {bed.argo_state.token}")
        out(f"  App id:               {app['id']}")
        out(f"  App private key:      {app['private_key_path']}")
        out(f"  Webhook secret:       {app['webhook_secret']}")
        out("Point the bot at it with AUTOSTACK_GITHUB_API_URL, AUTOSTACK_GITHUB_APP_ID,")
        out("AUTOSTACK_GITHUB_PRIVATE_KEY_FILE, AUTOSTACK_WEBHOOK_SECRET, AUTOSTACK_ARGOCD_URL,")
        out(f"AUTOSTACK_ARGOCD_TOKEN and AUTOSTACK_GITOPS_REPO={bed.org}/{bed.gitops_name}.")
        out("Press Ctrl-C to stop.")
        wait_until_stopped(stop, out)
        return 0
    finally:
        bed.stop()
