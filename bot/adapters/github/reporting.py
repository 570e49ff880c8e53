"""What the bot writes on GitHub: its comment per command, pull requests, deployments and
their statuses, check runs (or commit statuses), and the drift issue per marker.

Each write finds the bot's earlier object first, so a retried delivery edits rather than
duplicates, and remembers what it found so the next edit costs one request.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from bot.adapters.github.client import Api, repo_path
from bot.adapters.github.errors import Forbidden, Unprocessable
from bot.adapters.github.shapes import commit_status_for, is_bot, truncate
from bot.core.errors import PermanentError, TransientError
from bot.core.messages import marker as command_marker
from bot.ports import (
    CheckConclusion,
    CheckStatus,
    CommentRef,
    DeploymentState,
    IssueRef,
    NotFound,
    PullRef,
)

DESCRIPTION_LIMIT = 140  # GitHub refuses longer deployment and commit-status descriptions
SUMMARY_LIMIT = 65_535
TITLE_LIMIT = 256
ISSUE_KEY = re.compile(r"^[A-Za-z0-9._:/-]{1,100}$")
STATUS_CONTEXT_PREFIX = "autostack"


def issue_marker(key: str) -> str:
    """The hidden HTML comment that marks the bot's issue for ``key`` (e.g. drift:shop-prod)."""
    if not ISSUE_KEY.match(key):
        raise ValueError("issue key must be 1-100 letters, digits, '.', '_', ':', '/', '-'")
    return f"<!-- autostack:issue key={key} -->"


def status_context(name: str) -> str:
    """The commit-status context standing in for check run ``name``; ``checks_state`` skips it."""
    return name if name.lower().startswith(STATUS_CONTEXT_PREFIX) else f"autostack/{name}"


class Reporting:
    """The writing half of ``GitHubAdapter``; ``_api(repo)`` comes from the adapter."""

    def __init__(self) -> None:
        self._cache_lock = threading.Lock()
        self._comment_ids: dict[tuple[str, int, str], int] = {}
        self._issue_numbers: dict[tuple[str, str], int] = {}
        self._no_checks: set[str] = set()

    def _api(self, repo: str) -> Api:
        raise NotImplementedError

    # --- the comment per command ---------------------------------------------------

    def upsert_comment(self, repo: str, issue_number: int, marker_id: str, body: str) -> CommentRef:
        tag = command_marker(marker_id)
        text = body if tag in body else f"{tag}\n\n{body}"
        key = (repo.lower(), int(issue_number), marker_id)
        api, base = self._api(repo), f"{repo_path(repo)}/issues"
        known = self._comment_ids.get(key)
        if known is None:
            doing = f"find the bot's comment on {repo}#{issue_number}"
            found = _first_marked(api.pages(f"{base}/{int(issue_number)}/comments", doing), tag)
            known = int(found["id"]) if found else None
        if known is not None:
            try:
                doc = api.call(
                    "PATCH",
                    f"{base}/comments/{known}",
                    "edit the bot's comment",
                    body={"body": text},
                )
                return self._remember_comment(key, doc)
            except NotFound:
                pass  # someone deleted it: post a new one
        doing = f"comment on {repo}#{issue_number}"
        doc = api.call("POST", f"{base}/{int(issue_number)}/comments", doing, body={"body": text})
        return self._remember_comment(key, doc)

    def _remember_comment(self, key: tuple[str, int, str], doc: Mapping[str, Any]) -> CommentRef:
        with self._cache_lock:
            self._comment_ids[key] = int(doc["id"])
        return CommentRef(int(doc["id"]), str(doc["html_url"]))

    # --- pull requests -------------------------------------------------------------

    def open_or_update_pr(self, repo: str, head: str, base: str, title: str, body: str) -> PullRef:
        api, url = self._api(repo), f"{repo_path(repo)}/pulls"
        owner = repo.partition("/")[0]
        qualified = head if ":" in head else f"{owner}:{head}"
        new = {"title": truncate(title, TITLE_LIMIT), "head": head, "base": base, "body": body}
        # Opening is the common case, so try it first: one call. GitHub answers 422 "already
        # exists" when the branch has an open pull request; then find it and update it.
        try:
            doc = api.call("POST", url, f"open a pull request from {head} in {repo}", body=new)
            return _pull_ref(doc, created=True)
        except Unprocessable as exc:
            if "already exists" not in str(exc):
                raise
        doing = f"find the open pull request for {head} in {repo}"
        existing = next(iter(api.pages(url, doing, {"state": "open", "head": qualified})), None)
        if existing is None:  # closed between the two calls: the queue retries
            raise TransientError(f"the pull request for {head} in {repo} closed while updating")
        changes = _changed(existing, {"title": new["title"], "body": body})
        if existing["base"]["ref"] != base:
            changes["base"] = base
        if not changes:
            return _pull_ref(existing, created=False)
        number = int(existing["number"])
        doc = api.call("PATCH", f"{url}/{number}", f"update {repo}#{number}", body=changes)
        return _pull_ref(doc, created=False)

    # --- deployments ---------------------------------------------------------------

    def create_deployment(
        self,
        repo: str,
        sha: str,
        environment: str,
        payload: Mapping[str, Any],
        description: str,
        *,
        production: bool | None = None,
    ) -> int:
        body: dict[str, Any] = {
            "ref": sha,
            "environment": environment,
            "payload": dict(payload),
            "description": truncate(description, DESCRIPTION_LIMIT),
            # Policies (approval, green checks) are the bot's to enforce, and the ref is an
            # exact commit: GitHub must neither merge the default branch in nor re-check.
            "auto_merge": False,
            "required_contexts": [],
            "transient_environment": False,
        }
        if production is not None:
            body["production_environment"] = production
        url = f"{repo_path(repo)}/deployments"
        doing = f"create a {environment} deployment of {sha[:12]} in {repo}"
        doc = self._api(repo).call("POST", url, doing, body=body)
        if not isinstance(doc, dict) or "id" not in doc:
            raise PermanentError(f"GitHub created no deployment to {doing}: {doc!r:.200}")
        return int(doc["id"])

    def deployment_status(
        self,
        repo: str,
        deployment_id: int,
        state: DeploymentState,
        environment_url: str | None = None,
        log_url: str | None = None,
        description: str | None = None,
        auto_inactive: bool = True,
    ) -> None:
        body: dict[str, Any] = {"state": state, "auto_inactive": auto_inactive}
        if environment_url:
            body["environment_url"] = environment_url
        if log_url:
            body["log_url"] = log_url
        if description:
            body["description"] = truncate(description, DESCRIPTION_LIMIT)
        url = f"{repo_path(repo)}/deployments/{int(deployment_id)}/statuses"
        self._api(repo).call("POST", url, f"set deployment {deployment_id} {state}", body=body)

    # --- checks --------------------------------------------------------------------

    def check_run(
        self,
        repo: str,
        sha: str,
        name: str,
        status: CheckStatus,
        conclusion: CheckConclusion | None = None,
        title: str = "",
        summary: str = "",
        details_url: str | None = None,
        existing_id: int | None = None,
        external_id: str | None = None,
    ) -> int:
        if repo.lower() not in self._no_checks:
            try:
                return self._check_run(
                    repo,
                    sha,
                    name,
                    status,
                    conclusion,
                    title,
                    summary,
                    details_url,
                    existing_id,
                    external_id,
                )
            except Forbidden:
                # Checks need the App's checks:write; commit statuses only statuses:write.
                with self._cache_lock:
                    self._no_checks.add(repo.lower())
        state = commit_status_for(status, conclusion)
        body = {"state": state, "context": status_context(name)}
        if title or summary:
            body["description"] = truncate(title or summary, DESCRIPTION_LIMIT)
        if details_url:
            body["target_url"] = details_url
        url = f"{repo_path(repo)}/statuses/{sha}"
        doc = self._api(repo).call("POST", url, f"set status {name} on {sha[:12]}", body=body)
        return int(doc["id"])

    def _check_run(
        self,
        repo: str,
        sha: str,
        name: str,
        status: CheckStatus,
        conclusion: CheckConclusion | None,
        title: str,
        summary: str,
        details_url: str | None,
        existing_id: int | None,
        external_id: str | None,
    ) -> int:
        api, url = self._api(repo), f"{repo_path(repo)}/check-runs"
        shown = truncate(title or name, TITLE_LIMIT)
        body: dict[str, Any] = {
            "name": name,
            "status": status,
            "output": {"title": shown, "summary": truncate(summary or shown, SUMMARY_LIMIT)},
        }
        if conclusion is not None:
            body["conclusion"] = conclusion
        if details_url:
            body["details_url"] = details_url
        if existing_id is not None:
            try:
                doc = api.call(
                    "PATCH", f"{url}/{int(existing_id)}", f"update check {name}", body=body
                )
                return int(doc["id"])
            except NotFound:
                pass  # not ours any more (or a commit status id): start a new check run
        new = body | {"head_sha": sha} | ({"external_id": external_id} if external_id else {})
        doc = api.call("POST", url, f"create check {name} on {sha[:12]}", body=new)
        return int(doc["id"])

    def find_deployment(self, repo: str, sha: str, environment: str, label: str) -> int | None:
        doing = f"look for the {environment} deployment of {sha[:12]} in {repo}"
        params = {"sha": sha, "environment": environment, "per_page": 100}
        for doc in self._api(repo).pages(f"{repo_path(repo)}/deployments", doing, params):
            payload = doc.get("payload")
            if isinstance(payload, dict) and payload.get("autostack") == label:
                return int(doc["id"])
        return None

    def deployment_states(self, repo: str, deployment_id: int) -> list[str]:
        url = f"{repo_path(repo)}/deployments/{int(deployment_id)}/statuses"
        doing = f"read the statuses of deployment {deployment_id}"
        return [str(doc["state"]) for doc in self._api(repo).pages(url, doing, {"per_page": 100})]

    def find_check_run(self, repo: str, sha: str, name: str, external_id: str) -> int | None:
        if repo.lower() in self._no_checks:
            return None
        url = f"{repo_path(repo)}/commits/{sha}/check-runs"
        doing = f"look for check {name} on {sha[:12]}"
        params = {"check_name": name, "filter": "all", "per_page": 100}
        try:
            docs = self._api(repo).pages(url, doing, params, key="check_runs")
            return next((int(d["id"]) for d in docs if d.get("external_id") == external_id), None)
        except Forbidden:
            return None

    # --- issues --------------------------------------------------------------------

    def open_or_update_issue(self, repo: str, marker: str, title: str, body: str) -> IssueRef:
        tag = issue_marker(marker)
        text = body if tag in body else f"{tag}\n\n{body}"
        api, url = self._api(repo), f"{repo_path(repo)}/issues"
        number = self._find_issue(api, repo, marker, tag)
        fields: dict[str, Any] = {"title": truncate(title, TITLE_LIMIT), "body": text}
        if number is not None:
            try:
                doc = api.call(
                    "PATCH",
                    f"{url}/{number}",
                    f"update {repo}#{number}",
                    body=fields | {"state": "open"},
                )
                return self._remember_issue(repo, marker, doc, created=False)
            except NotFound:
                pass
        doc = api.call("POST", url, f"open an issue in {repo}", body=fields)
        return self._remember_issue(repo, marker, doc, created=True)

    def close_issue(self, repo: str, marker: str) -> bool:
        api = self._api(repo)
        number = self._find_issue(api, repo, marker, issue_marker(marker))
        if number is None:
            return False
        url = f"{repo_path(repo)}/issues/{number}"
        body = {"state": "closed", "state_reason": "completed"}
        api.call("PATCH", url, f"close {repo}#{number}", body=body)
        with self._cache_lock:
            self._issue_numbers.pop((repo.lower(), marker), None)
        return True

    def _find_issue(self, api: Api, repo: str, key: str, tag: str) -> int | None:
        known = self._issue_numbers.get((repo.lower(), key))
        if known is not None:
            return known
        doing = f"find the bot's issue {key} in {repo}"
        issues = api.pages(f"{repo_path(repo)}/issues", doing, {"state": "open"})
        found = _first_marked((i for i in issues if "pull_request" not in i), tag)
        return int(found["number"]) if found else None

    def _remember_issue(
        self, repo: str, key: str, doc: Mapping[str, Any], created: bool
    ) -> IssueRef:
        with self._cache_lock:
            self._issue_numbers[(repo.lower(), key)] = int(doc["number"])
        return IssueRef(int(doc["number"]), str(doc["html_url"]), created)


def _first_marked(docs: Iterable[Mapping[str, Any]], tag: str) -> Mapping[str, Any] | None:
    """The first item the bot wrote whose body carries ``tag`` (people cannot forge a Bot)."""
    return next((d for d in docs if is_bot(d) and tag in str(d.get("body") or "")), None)


def _changed(doc: Mapping[str, Any], wanted: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in wanted.items() if (doc.get(k) or "") != v}


def _pull_ref(doc: Mapping[str, Any], created: bool) -> PullRef:
    return PullRef(int(doc["number"]), str(doc["html_url"]), str(doc["head"]["sha"]), created)
