"""What the acceptance tests look at and do besides the Testbed's own steps: GitHub read
through its REST API as a person would, the GitOps history from a fresh clone, and the
bot's own records, plus the steps people take that the Testbed has no shortcut for."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path
from typing import Any

import httpx

from bot.core.messages import find_command_id
from bot.core.trailers import parse_trailers
from bot.deploy.records import Deployment, DeploymentStore
from bot.queue import Delivery, DeliveryQueue
from bot.store import Store
from sandbox.testbed import Testbed

EVERY_STATE = frozenset(
    {
        "queued",
        "waiting_for_build",
        "committing",
        "awaiting_merge",
        "syncing",
        "succeeded",
        "failed",
        "superseded",
        "timed_out",
    }
)


class Person:
    """GitHub's REST API as one of the testbed's people (their personal token)."""

    def __init__(self, bed: Testbed, login: str):
        self.bed = bed
        self.login = login
        self._http = httpx.Client(
            base_url=bed.github_url,
            headers={"Authorization": f"token {bed.users[login]}"},
            timeout=30.0,
        )

    def close(self) -> None:
        self._http.close()

    def get(self, path: str, **params: Any) -> Any:
        response = self._http.get(
            f"/repos/{self.bed.org}/{path}", params={"per_page": 100, **params}
        )
        response.raise_for_status()
        return response.json()

    def post(self, path: str, body: Any) -> Any:
        response = self._http.post(f"/repos/{self.bed.org}/{path}", json=body)
        response.raise_for_status()
        return response.json()

    def comments(self, repo: str, number: int) -> list[str]:
        return [c["body"] for c in self.get(f"{repo}/issues/{number}/comments")]

    def answers(self, repo: str, number: int) -> list[str]:
        """The bot's comments on ``repo#number`` (each carries its command's marker), oldest
        first."""
        return [body for body in self.comments(repo, number) if find_command_id(body)]

    def command_comments(self, repo: str, number: int) -> dict[str, list[str]]:
        """The bot's comments on ``repo#number`` by the delivery they answer."""
        found: dict[str, list[str]] = {}
        for body in self.comments(repo, number):
            command_id = find_command_id(body)
            if command_id is not None:
                found.setdefault(command_id, []).append(body)
        return found

    def every_comment(self, repo: str) -> list[str]:
        return [c["body"] for c in self.get(f"{repo}/issues/comments")]

    def pulls(self, repo: str, state: str = "all") -> list[dict[str, Any]]:
        return list(self.get(f"{repo}/pulls", state=state))

    def pull_commits(self, repo: str, number: int) -> list[dict[str, Any]]:
        """The pull request's commits, each with its message's trailers."""
        return [
            {
                "sha": c["sha"],
                "message": c["commit"]["message"],
                "trailers": parse_trailers(c["commit"]["message"]),
            }
            for c in self.get(f"{repo}/pulls/{number}/commits")
        ]

    def pull_files(self, repo: str, number: int) -> list[str]:
        return [f["filename"] for f in self.get(f"{repo}/pulls/{number}/files")]

    def file(self, repo: str, path: str, ref: str) -> str:
        doc = self.get(f"{repo}/contents/{path}", ref=ref)
        return base64.b64decode(doc["content"]).decode()

    def set_status(self, repo: str, sha: str, state: str, context: str = "ci/tests") -> None:
        """A commit status, as a CI system reporting through the REST API does."""
        self.post(f"{repo}/statuses/{sha}", {"state": state, "context": context})


def gitops_history(bed: Testbed, dest: Path) -> list[dict[str, Any]]:
    """The GitOps repo's default branch, newest first, as a fresh clone shows it."""
    url = f"{bed.github_url}/{bed.org}/{bed.gitops_name}.git"
    basic = base64.b64encode(f"argocd:{bed.users['argocd']}".encode()).decode()
    env = {
        "GIT_TERMINAL_PROMPT": "0",
        "PATH": "/usr/bin:/bin",
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": "http.extraHeader",
        "GIT_CONFIG_VALUE_0": f"Authorization: Basic {basic}",
    }
    subprocess.run(["git", "clone", "-q", url, str(dest)], check=True, env=env)
    out = subprocess.run(
        ["git", "-C", str(dest), "log", "--format=%H%x00%B%x01"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    entries = []
    for record in filter(None, (r.strip("\n") for r in out.split("\x01"))):
        sha, _, message = record.partition("\x00")
        entries.append({"sha": sha, "message": message, "trailers": parse_trailers(message)})
    return entries


def deploy_commits(history: list[dict[str, Any]], **trailers: str) -> list[dict[str, Any]]:
    """The commits whose ``Autostack-<Key>`` trailers hold the given values."""
    wanted = {f"Autostack-{key.replace('_', '-').title()}": [v] for key, v in trailers.items()}
    return [e for e in history if all(e["trailers"].get(k) == v for k, v in wanted.items())]


def feature_pull(
    bed: Testbed, branch: str, files: dict[str, str], *, author: str = "dev", built: bool = True
) -> tuple[int, str]:
    """A pull request on the app repo from ``branch``; its head built by CI when ``built``."""
    sha = bed.push("shop", files, f"Change {branch}", branch=branch, user=author)
    pull = bed.open_pull("shop", branch, f"Change {branch}", user=author)
    if built:
        bed.build("shop", sha, branch=branch, event="pull_request")
    return int(pull["number"]), sha


def deployments(bed: Testbed, **equal: Any) -> list[Deployment]:
    """The bot's deployments, read from its database as ``autostack`` commands read it."""
    store = Store.open(bed.bot_database_url())
    try:
        return DeploymentStore(store).find(states=EVERY_STATE, **equal)
    finally:
        store.dispose()


def stored_deliveries(bed: Testbed) -> list[Delivery]:
    """The bot's stored webhook deliveries, newest first, as ``autostack deliveries`` lists them."""
    store = Store.open(bed.bot_database_url())
    try:
        return list(DeliveryQueue(store).list())
    finally:
        store.dispose()
