"""The whole installation on loopback for end-to-end tests, started as users start it:
``autostack sandbox up`` and ``autostack serve`` as child processes, configured only
through documented settings; an app already onboarded."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox.testbed import Testbed

APP_FILES = {
    "app.py": (
        "from fastapi import FastAPI\n\napp = FastAPI()\n\n\n"
        '@app.get("/healthz")\ndef healthz() -> dict[str, str]:\n    return {"status": "ok"}\n'
    ),
    "requirements.txt": "fastapi==0.115.6\nuvicorn==0.34.0\n",
}
# Documented settings that make the watcher quick enough for a test.
QUICK_WATCH = {"watch_interval_seconds": 0.5, "health_settle_seconds": 0.5}
MakeTestbed = Callable[..., Testbed]


def launch(bed: Testbed, **settings: Any) -> Testbed:
    """``bed`` with the sandbox up, the shop app onboarded, ``autostack serve`` started with
    ``settings`` (as ``AUTOSTACK_*`` variables), its people, and the App installed."""
    bed.start_sandbox_process()
    bed.onboard("shop", APP_FILES)
    bed.start_bot_process(**{**QUICK_WATCH, **settings})
    bed.user("mia", repo="shop", permission="maintain")
    bed.user("mia", repo=bed.gitops_name, permission="maintain")
    bed.user("dev", repo="shop", permission="write")
    bed.user("reader", repo="shop", permission="read")
    bed.install(["shop", bed.gitops_name])
    bed.settle()
    return bed


@pytest.fixture
def make_testbed(tmp_path: Path) -> Iterator[MakeTestbed]:
    """Testbeds like the ``testbed`` fixture's, with the bot started with other settings."""
    beds: list[Testbed] = []

    def make(**settings: Any) -> Testbed:
        beds.append(Testbed(tmp_path / f"bed-{len(beds)}"))
        return launch(beds[-1], **settings)

    yield make
    for bed in beds:
        bed.stop()


@pytest.fixture
def testbed(make_testbed: MakeTestbed) -> Testbed:
    return make_testbed()
