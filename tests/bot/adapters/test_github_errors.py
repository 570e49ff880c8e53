"""The one mapping from GitHub's answers to the error taxonomy, and the pure readings of
GitHub's JSON (reviews, checks, permissions), table-driven."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from bot.adapters.github.errors import Forbidden, Unprocessable, github_error
from bot.adapters.github.shapes import (
    checks_verdict,
    commit_status_for,
    is_approved,
    permission_of,
)
from bot.core.errors import PermanentError, TransientError
from bot.ports import NotFound

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
EPOCH = int(NOW.timestamp())


@pytest.mark.parametrize(
    ("status", "headers", "message", "kind", "retry_after"),
    [
        (500, {}, "Server Error", TransientError, None),
        (502, {}, "Bad Gateway", TransientError, None),
        (
            403,
            {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(EPOCH + 120)},
            "API rate limit exceeded for installation ID 1.",
            TransientError,
            120.0,
        ),
        (
            429,
            {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(EPOCH + 30)},
            "API rate limit exceeded.",
            TransientError,
            30.0,
        ),
        (
            403,
            {"Retry-After": "42"},
            "You have exceeded a secondary rate limit.",
            TransientError,
            42.0,
        ),
        (429, {"Retry-After": "7"}, "Too many requests", TransientError, 7.0),
        (403, {}, "You have exceeded a secondary rate limit. Please wait.", TransientError, 60.0),
        (409, {}, "Head branch was modified.", TransientError, None),
        (401, {}, "A JSON web token could not be decoded", PermanentError, None),
        (
            403,
            {"X-RateLimit-Remaining": "4999"},
            "Resource not accessible by integration",
            Forbidden,
            None,
        ),
        (404, {}, "Not Found", NotFound, None),
        (422, {}, "Validation Failed", Unprocessable, None),
        (405, {}, "Pull Request is not mergeable", PermanentError, None),
    ],
)
def test_status_to_exception(
    status: int,
    headers: dict[str, str],
    message: str,
    kind: type[Exception],
    retry_after: float | None,
) -> None:
    error = github_error(status, headers, {"message": message}, NOW, "read acme/shop")
    assert type(error) is kind
    assert str(error).startswith(f"GitHub answered {status} to read acme/shop: {message}")
    if isinstance(error, TransientError):
        assert error.retry_after == retry_after


def test_401_hints_at_the_app_id_and_key() -> None:
    error = github_error(401, {}, {"message": "Bad credentials"}, NOW, "create a token")
    assert error.hint is not None and "AUTOSTACK_GITHUB_APP_ID" in error.hint


def test_422_carries_githubs_field_errors() -> None:
    body = {
        "message": "Validation Failed",
        "errors": [
            {
                "resource": "PullRequest",
                "code": "custom",
                "message": "A pull request already exists",
            },
            {"resource": "Deployment", "field": "ref", "code": "invalid"},
        ],
    }
    text = str(github_error(422, {}, body, NOW, "open a pull request"))
    assert "A pull request already exists" in text
    assert "Deployment ref invalid" in text


def test_a_body_without_json_still_maps() -> None:
    error = github_error(503, {}, None, NOW, "read acme/shop")
    assert isinstance(error, TransientError)
    assert str(error) == "GitHub answered 503 to read acme/shop"


def review(user: str, state: str, when: str, review_id: int) -> dict[str, Any]:
    return {"id": review_id, "user": {"login": user}, "state": state, "submitted_at": when}


@pytest.mark.parametrize(
    ("reviews", "approved"),
    [
        ([], False),
        ([review("a", "APPROVED", "2026-01-01T10:00:00Z", 1)], True),
        ([review("a", "COMMENTED", "2026-01-01T10:00:00Z", 1)], False),
        (
            [
                review("a", "APPROVED", "2026-01-01T10:00:00Z", 1),
                review("b", "CHANGES_REQUESTED", "2026-01-01T11:00:00Z", 2),
            ],
            False,
        ),
        (
            [
                review("b", "CHANGES_REQUESTED", "2026-01-01T09:00:00Z", 1),
                review("a", "APPROVED", "2026-01-01T10:00:00Z", 2),
                review("b", "APPROVED", "2026-01-01T11:00:00Z", 3),
            ],
            True,
        ),
        (
            [
                review("a", "APPROVED", "2026-01-01T10:00:00Z", 1),
                review("a", "COMMENTED", "2026-01-01T11:00:00Z", 2),
            ],
            True,
        ),
        (
            [
                review("a", "APPROVED", "2026-01-01T10:00:00Z", 1),
                review("a", "DISMISSED", "2026-01-01T11:00:00Z", 2),
            ],
            False,
        ),
        (
            # Out of order in the list: the later submission wins.
            [
                review("a", "APPROVED", "2026-01-01T12:00:00Z", 2),
                review("a", "CHANGES_REQUESTED", "2026-01-01T10:00:00Z", 1),
            ],
            True,
        ),
    ],
)
def test_approval_is_each_reviewers_latest_verdict(
    reviews: list[dict[str, Any]], approved: bool
) -> None:
    assert is_approved(reviews) is approved


def status(context: str, state: str) -> dict[str, Any]:
    return {"context": context, "state": state}


def run(status: str, conclusion: str | None, app_id: int = 7) -> dict[str, Any]:
    return {"status": status, "conclusion": conclusion, "app": {"id": app_id}}


@pytest.mark.parametrize(
    ("statuses", "runs", "expected"),
    [
        ([], [], "none"),
        ([status("autostack/deploy", "failure")], [run("completed", "failure", 99)], "none"),
        ([status("ci", "success")], [], "success"),
        ([status("ci", "pending")], [run("completed", "success")], "pending"),
        ([status("ci", "success")], [run("in_progress", None)], "pending"),
        ([status("ci", "error")], [run("queued", None)], "failure"),
        ([], [run("completed", "neutral"), run("completed", "skipped")], "success"),
        ([], [run("completed", "timed_out")], "failure"),
        ([], [run("completed", "action_required")], "failure"),
        ([status("AutoStack deploy (prod)", "pending")], [run("completed", "success")], "success"),
    ],
)
def test_checks_verdict(
    statuses: list[dict[str, Any]], runs: list[dict[str, Any]], expected: str
) -> None:
    # GitHub's combined `state` is "pending" with no statuses at all; it must not count.
    combined = {"state": "pending" if not statuses else "success", "statuses": statuses}
    assert checks_verdict(combined, runs, own_app_id=99, own_prefix="autostack") == expected


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ({"permission": "write", "role_name": "maintain"}, "maintain"),
        ({"permission": "read", "role_name": "triage"}, "triage"),
        ({"permission": "admin", "role_name": "admin"}, "admin"),
        ({"permission": "write", "role_name": "deployer"}, "write"),  # a custom role
        ({"permission": "none"}, "none"),
        ({}, "none"),
    ],
)
def test_permission_prefers_the_role_name(doc: dict[str, str], expected: str) -> None:
    assert permission_of(doc) == expected


@pytest.mark.parametrize(
    ("check_status", "conclusion", "expected"),
    [
        ("queued", None, "pending"),
        ("in_progress", None, "pending"),
        ("completed", "success", "success"),
        ("completed", "neutral", "success"),
        ("completed", "failure", "failure"),
        ("completed", "timed_out", "error"),
        ("completed", "cancelled", "error"),
    ],
)
def test_commit_status_standing_in_for_a_check_run(
    check_status: str, conclusion: str | None, expected: str
) -> None:
    assert commit_status_for(check_status, conclusion) == expected
