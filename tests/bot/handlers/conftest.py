"""Fixtures shared by the handler tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.bot.watch.harness import generated_tree


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated GitOps tree, made once a module and copied by each test's ``Bot``."""
    return generated_tree(tmp_path_factory.mktemp("gitops-template"))
