"""Repository facts and Actions variables of app repositories, as the GitHub App.

The App's installation token comes from the bot's GitHub adapter (it finds the installation
that covers the repository and caches the token); the variables REST calls go through httpx
with that token, their errors mapped by the bot's one GitHub status mapper.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx

from bot.adapters.clock import SystemClock
from bot.adapters.github import GitHubAdapter
from bot.adapters.github.client import ACCEPT, TIMEOUT_SECONDS, USER_AGENT
from bot.adapters.github.errors import connection_error, github_error
from bot.cloud.plan import SetRepoVariable
from bot.settings import Settings

API_VERSION = {"X-GitHub-Api-Version": "2022-11-28"}


class AppVariables:
    """Reads a repository's default branch and reads and writes its Actions variables."""

    def __init__(self, github: GitHubAdapter, http: httpx.Client | None = None):
        self._github = github
        self._http = http or httpx.Client(
            base_url=github.api_url,
            timeout=TIMEOUT_SECONDS,
            headers={**ACCEPT, **API_VERSION, "User-Agent": USER_AGENT},
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> AppVariables | None:
        """None when the App is not configured (no id or no key)."""
        if settings.github_app_id is None or settings.private_key() is None:
            return None
        return cls(GitHubAdapter.from_settings(settings, SystemClock()))

    def close(self) -> None:
        self._http.close()

    def repo_facts(self, repo: str) -> tuple[str, str]:
        """(full name as GitHub spells it, default branch)."""
        info = self._github.repo(repo)
        return info.full_name, info.default_branch

    def read(self, repo: str, name: str) -> str | None:
        """The variable's value; None when the repository has no such variable."""
        doing = f"read the variable {name} of {repo}"
        status, doc = self._request("GET", repo, _variable(name), None, doing, allow=404)
        return None if status == 404 else str(doc["value"])

    def write(self, change: SetRepoVariable) -> None:
        """Create or update the variable, whichever GitHub needs now."""
        body = {"name": change.name, "value": change.value}
        doing = f"set the variable {change.name} of {change.repo}"
        if change.exists:
            status, _ = self._request(
                "PATCH", change.repo, _variable(change.name), body, doing, allow=404
            )
            if status != 404:  # else deleted since we looked: create it
                return
        status, _ = self._request("POST", change.repo, "/actions/variables", body, doing, allow=409)
        if status == 409:  # created since we looked: update it
            self._request("PATCH", change.repo, _variable(change.name), body, doing)

    def _request(
        self, method: str, repo: str, tail: str, body: Any, doing: str, allow: int = 0
    ) -> tuple[int, Any]:
        """(status, decoded body); an error status other than ``allow`` is raised, mapped."""
        owner, _, name = repo.partition("/")
        url = f"/repos/{quote(owner)}/{quote(name)}{tail}"
        token = self._github.installation_token(repo)
        try:
            response = self._http.request(
                method, url, json=body, headers={"Authorization": f"token {token}"}
            )
        except httpx.HTTPError as exc:
            raise connection_error(exc, doing) from None
        data = _json(response)
        if response.status_code >= 400 and response.status_code != allow:
            raise github_error(
                response.status_code, dict(response.headers), data, datetime.now(UTC), doing
            )
        return response.status_code, data


def _variable(name: str) -> str:
    return f"/actions/variables/{quote(name, safe='')}"


def _json(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return None
