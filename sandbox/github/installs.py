"""Installing the App on an account and changing which repositories it can reach, with the
``installation`` and ``installation_repositories`` webhooks GitHub sends.
"""

from __future__ import annotations

from typing import Any

from sandbox.github import shapes
from sandbox.github.state import GitHubState, StateError

Doc = dict[str, Any]


def repo_brief(repo: Doc) -> Doc:
    return {
        "id": repo["id"],
        "node_id": shapes.node_id("Repository", repo["id"]),
        "name": repo["name"],
        "full_name": shapes.full_name(repo),
        "private": repo["private"],
    }


def _shape(state: GitHubState, inst: Doc) -> Doc:
    account = state.account_by_id(inst["account_id"]) or {}
    return shapes.installation(state.public_url, inst, state.app_doc(), account)


def _repos(state: GitHubState, account: Doc, names: list[str]) -> list[Doc]:
    found = []
    for name in names:
        repo = state.repo(account["login"], name.rpartition("/")[2])
        if repo is None:
            raise StateError(404, f"no repository {account['login']}/{name}")
        found.append(repo)
    return found


def install(
    state: GitHubState, account_login: str, repo_names: list[str] | None, sender: Doc
) -> Doc:
    """Install the App on ``account_login``: on all its repositories when ``repo_names`` is None."""
    account = state.account(account_login)
    if account is None:
        raise StateError(404, f"no account {account_login}")
    if state.installation_of_account(account["id"]) is not None:
        raise StateError(422, f"the App is already installed on {account_login}")
    if repo_names is None:
        repos = [r for r in state.store.list("repo") if r["owner_id"] == account["id"]]
    else:
        repos = _repos(state, account, repo_names)
    inst = {
        "id": state.store.next_id("installation", 30000000),
        "account_id": account["id"],
        "repository_selection": "all" if repo_names is None else "selected",
        "repository_ids": [r["id"] for r in repos],
        "created_at": state.clock(),
    }
    state.store.put("installation", inst["id"], inst)
    body: Doc = {
        "installation": _shape(state, inst),
        "repositories": [repo_brief(r) for r in repos],
    }
    body["requester"] = shapes.user(state.public_url, sender)
    state.emit("installation", "created", body, None, sender)
    return inst


def uninstall(state: GitHubState, inst: Doc, sender: Doc) -> None:
    repos = [r for r in (state.repo_by_id(i) for i in inst["repository_ids"]) if r]
    body = {"installation": _shape(state, inst), "repositories": [repo_brief(r) for r in repos]}
    state.store.delete("installation", inst["id"])
    state.emit("installation", "deleted", body, None, sender)


def change_repos(
    state: GitHubState, inst: Doc, add: list[str], remove: list[str], sender: Doc
) -> Doc:
    account = state.account_by_id(inst["account_id"])
    assert account is not None
    added = [r for r in _repos(state, account, add) if r["id"] not in inst["repository_ids"]]
    removed = [r for r in _repos(state, account, remove) if r["id"] in inst["repository_ids"]]
    ids = [i for i in inst["repository_ids"] if i not in {r["id"] for r in removed}]
    inst["repository_ids"] = ids + [r["id"] for r in added]
    inst["repository_selection"] = "selected"
    state.store.put("installation", inst["id"], inst)
    for action, repos in (("added", added), ("removed", removed)):
        if not repos:
            continue
        body = {
            "installation": _shape(state, inst),
            "repository_selection": inst["repository_selection"],
            "repositories_added": [repo_brief(r) for r in repos] if action == "added" else [],
            "repositories_removed": [repo_brief(r) for r in repos] if action == "removed" else [],
            "requester": shapes.user(state.public_url, sender),
        }
        state.emit("installation_repositories", action, body, None, sender)
    return inst
