"""The fixed ports AutoStack ships with (8000 for the bot, 8470 and 8471 for the sandbox):
tests that run the product on them as documented take this lock, one at a time, so that
parallel test workers never race for them."""

from __future__ import annotations

import fcntl
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK = Path(tempfile.gettempdir()) / "autostack-tests-documented-ports.lock"


@contextmanager
def documented_ports() -> Iterator[None]:
    with LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
