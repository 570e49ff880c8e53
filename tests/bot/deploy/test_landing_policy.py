"""How a deployment lands follows the environment's policy, except automatic rollbacks."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.deploy.landing import landing_for, pr_branch
from bot.deploy.records import Deployment
from generators.config import Environment

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def deployment(kind: str = "deploy", **details: object) -> Deployment:
    return Deployment(
        id=7, kind=kind, app="shop", env="prod", app_repo="acme/shop", source_sha=None,
        image="ghcr.io/acme/shop:abc", requested_by="mia", delivery_id="d1", issue_number=3,
        state="committing", message=None, gitops_sha=None, gitops_pr=None,
        github_deployment_id=None, check_run_id=None, details=dict(details), created_at=NOW,
        updated_at=NOW, deadline=None, finished_at=None,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("landing", "automatic", "expected"),
    [
        ("pr", False, "pr"),
        ("pr", True, "auto-merge"),
        ("auto-merge", True, "auto-merge"),
        ("direct", True, "direct"),
        ("direct", False, "direct"),
    ],
)
def test_landing(landing: str, automatic: bool, expected: str) -> None:
    env = Environment("prod", landing=landing)
    assert landing_for(env, deployment("rollback", automatic=automatic)) == expected


def test_one_branch_per_app_and_environment() -> None:
    assert pr_branch(deployment()) == "autostack/shop-prod"
