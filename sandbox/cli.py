"""``autostack sandbox up``: the sandbox GitHub and Argo CD on loopback, for trying AutoStack
and poking at it with curl and git.

It writes ``autostack.env`` into its data dir: the ``AUTOSTACK_*`` settings that point
``autostack serve`` at the sandboxes (owner-only; it holds the sandbox App's webhook secret
and the Argo CD token, so they are never printed).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from sandbox.envfile import ENV_FILE, write_env_file
from sandbox.serving import wait_until_stopped
from sandbox.testbed import Testbed

DEFAULT_WEBHOOK_URL = "http://127.0.0.1:8000/webhooks/github"


def up(
    data: Path,
    *,
    github_port: int,
    argocd_port: int,
    out: Callable[[str], None],
    webhook_url: str = DEFAULT_WEBHOOK_URL,
    stop: threading.Event | None = None,
) -> int:
    """Serve until interrupted (or ``stop`` is set); the data dir keeps the repositories."""
    started = time.monotonic()
    data = data.resolve()
    bed = Testbed(data)
    try:
        bed.start_github(github_port or None)
        gitops = bed.create_gitops()
        bed.start_argocd(argocd_port or None)
        bed.control("PUT", "/webhook", {"url": webhook_url})
        env_file = write_env_file(data / ENV_FILE, bed.bot_environment())
        out(f"Sandbox up in {time.monotonic() - started:.1f}s; state in {data}")
        out(f"  GitHub API and git:   {bed.github_url}")
        out(f"  GitOps repository:    {gitops['clone_url']}")
        out(f"  Argo CD API:          {bed.argocd_url}")
        out(f"  Webhooks go to:       {webhook_url}")
        out(f"  Bot settings:         {env_file}")
        out("Start the bot with those settings in another terminal:")
        out(f"  set -a; . {env_file}; set +a; autostack serve")
        out("Press Ctrl-C to stop.")
        wait_until_stopped(stop, out)
        return 0
    finally:
        bed.stop()
