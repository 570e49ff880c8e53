"""The whole installation on loopback for end-to-end tests: sandbox GitHub, sandbox Argo CD
and the bot, wired by webhooks; an app already onboarded."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.testbed import Testbed

APP_FILES = {
    "app.py": (
        "from fastapi import FastAPI\n\napp = FastAPI()\n\n\n"
        '@app.get("/healthz")\ndef healthz() -> dict[str, str]:\n    return {"status": "ok"}\n'
    ),
    "requirements.txt": "fastapi==0.115.6\nuvicorn==0.34.0\n",
}


@pytest.fixture
def testbed(tmp_path: Path) -> Iterator[Testbed]:
    bed = Testbed(tmp_path)
    try:
        bed.start_github()
        bed.create_gitops()
        bed.start_argocd()
        bed.onboard("shop", APP_FILES)
        bed.start_bot()
        bed.user("mia", repo="shop", permission="maintain")
        bed.user("dev", repo="shop", permission="write")
        bed.user("reader", repo="shop", permission="read")
        bed.install(["shop", bed.gitops_name])
        bed.settle()
        yield bed
    finally:
        bed.stop()
