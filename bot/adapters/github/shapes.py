"""Pure readings of GitHub's JSON into the port's frozen values, and the verdicts on them.

Kept apart from the HTTP so reviews, checks and permissions are decided by plain functions
that tests can feed with GitHub's documented shapes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, cast

from bot.ports import (
    AppCredentials,
    BuildRun,
    ChecksState,
    Permission,
    RepoInfo,
)

Doc = Mapping[str, Any]
ROLES: frozenset[str] = frozenset({"admin", "maintain", "write", "triage", "read", "none"})
# A reviewer's latest of these is their verdict; a later COMMENTED review changes nothing.
VERDICTS = frozenset({"APPROVED", "CHANGES_REQUESTED", "DISMISSED"})
FAILED = frozenset(
    {"failure", "error", "cancelled", "timed_out", "action_required", "startup_failure", "stale"}
)
PASSED = frozenset({"success", "neutral", "skipped"})


def repo_info(doc: Doc) -> RepoInfo:
    return RepoInfo(
        full_name=doc["full_name"],
        clone_url=doc["clone_url"],
        default_branch=doc["default_branch"],
        private=bool(doc["private"]),
        owner=doc["owner"]["login"],
        name=doc["name"],
        html_url=doc["html_url"],
    )


def permission_of(doc: Doc) -> Permission:
    """``role_name`` knows maintain and triage; ``permission`` is the fallback for custom roles
    (whose ``role_name`` is the custom role's own name)."""
    role = str(doc.get("role_name") or "").lower()
    if role in ROLES:
        return cast(Permission, role)
    legacy = str(doc.get("permission") or "none").lower()
    return cast(Permission, legacy if legacy in ROLES else "none")


def is_approved(reviews: Iterable[Doc]) -> bool:
    """Each reviewer's latest verdict counts: at least one approval and no change request."""
    latest: dict[str, str] = {}
    for review in sorted(reviews, key=_review_order):
        state = str(review.get("state", "")).upper()
        reviewer = (review.get("user") or {}).get("login")
        if reviewer and state in VERDICTS:
            latest[reviewer.lower()] = state
    verdicts = set(latest.values())
    return "APPROVED" in verdicts and "CHANGES_REQUESTED" not in verdicts


def _review_order(review: Doc) -> tuple[str, int]:
    return (str(review.get("submitted_at") or ""), int(review.get("id") or 0))


def checks_verdict(
    combined: Doc, check_runs: Iterable[Doc], own_app_id: int | None, own_prefix: str
) -> ChecksState:
    """Commit statuses and check runs on a commit as one state, AutoStack's own left out.

    GitHub's combined ``state`` says "pending" when there are no statuses at all, so the
    statuses are judged one by one rather than by that field.
    """
    states: list[str] = []
    for status in combined.get("statuses") or []:
        if not str(status.get("context", "")).lower().startswith(own_prefix):
            states.append(_status_state(str(status.get("state", ""))))
    for run in check_runs:
        app_id = (run.get("app") or {}).get("id")
        if own_app_id is not None and app_id == own_app_id:
            continue
        states.append(_run_state(run))
    if not states:
        return "none"
    if "failure" in states:
        return "failure"
    if "pending" in states:
        return "pending"
    return "success"


def _status_state(state: str) -> str:
    return "failure" if state in FAILED else "success" if state == "success" else "pending"


def _run_state(run: Doc) -> str:
    if run.get("status") != "completed":
        return "pending"
    conclusion = str(run.get("conclusion") or "")
    return "failure" if conclusion in FAILED else "success" if conclusion in PASSED else "pending"


def latest_build(runs: Iterable[Doc], workflow_name: str, sha: str) -> BuildRun | None:
    """The newest run of the build workflow for ``sha`` (a re-run supersedes the first)."""
    matching = [r for r in runs if r.get("name") == workflow_name and r.get("head_sha") == sha]
    if not matching:
        return None
    run = max(matching, key=lambda r: (int(r.get("run_number") or 0), int(r["id"])))
    return BuildRun(
        id=int(run["id"]),
        head_sha=run["head_sha"],
        status=str(run.get("status") or ""),
        conclusion=run.get("conclusion"),
        html_url=run["html_url"],
    )


def commit_status_for(status: str, conclusion: str | None) -> str:
    """The commit status that stands in for a check run where checks are not permitted."""
    if status != "completed" or conclusion is None:
        return "pending"
    if conclusion in PASSED:
        return "success"
    return "error" if conclusion in ("cancelled", "timed_out", "stale") else "failure"


def app_credentials(doc: Doc) -> AppCredentials:
    return AppCredentials(
        app_id=int(doc["id"]),
        slug=str(doc.get("slug") or ""),
        owner=str((doc.get("owner") or {}).get("login") or ""),
        html_url=str(doc.get("html_url") or ""),
        client_id=str(doc.get("client_id") or ""),
        client_secret=str(doc.get("client_secret") or ""),
        webhook_secret=str(doc.get("webhook_secret") or ""),
        pem=str(doc["pem"]),
    )


def is_bot(doc: Doc) -> bool:
    return (doc.get("user") or {}).get("type") == "Bot"


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
