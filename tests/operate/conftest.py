"""Shared fixtures of the operations tests."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def no_autostack_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings read AUTOSTACK_* variables: none of the caller's may leak into these tests."""
    for name in list(os.environ):
        if name.startswith("AUTOSTACK_"):
            monkeypatch.delenv(name)
