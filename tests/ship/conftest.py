"""Fixtures for the shipping tests: a running sandbox GitHub and settings without any App
credentials, so that ``serve`` starts in setup mode."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from bot.settings import Settings
from sandbox.github import GitHubState, create_app
from sandbox.serving import ThreadedServer


class GitHubSandbox:
    def __init__(self, state: GitHubState, url: str):
        self.state = state
        self.url = url


@pytest.fixture
def github(tmp_path: Path) -> Iterator[GitHubSandbox]:
    state = GitHubState.open(tmp_path / "github")
    with ThreadedServer(create_app(state)) as server:
        yield GitHubSandbox(state, server.url)
    state.close()


def unconfigured_settings(github_url: str, public_url: str, data_dir: Path) -> Settings:
    """Settings as ``serve`` sees them before the App exists (nothing from the environment)."""
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        github_url=github_url,
        github_api_url=github_url,
        public_url=public_url,
        data_dir=data_dir,
        gitops_repo="acme/gitops",
        database_url=SecretStr(f"sqlite:///{data_dir / 'bot.db'}"),
    )


@pytest.fixture(autouse=True)
def no_autostack_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings read AUTOSTACK_* variables: none may leak into these tests."""
    import os

    for name in list(os.environ):
        if name.startswith("AUTOSTACK_"):
            monkeypatch.delenv(name)
