"""Fixtures for the watcher: the generated GitOps tree (made once) and a ``Bot`` per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.adapters.clock import FakeClock
from bot.store import Store
from tests.bot.watch.harness import Bot, generated_tree


@pytest.fixture(scope="session")
def gitops_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generated_tree(tmp_path_factory.mktemp("gitops-template"))


@pytest.fixture
def bot(
    tmp_path: Path, gitops_template: Path, sqlite_store: Store, clock: FakeClock
) -> Iterator[Bot]:
    made = Bot(tmp_path, gitops_template, sqlite_store, clock)
    try:
        yield made
    finally:
        made.close()
