"""Table-driven tests of command authorization against environment policies."""

from __future__ import annotations

import pytest

from bot.core.commands import Deploy, Promote, Rollback, RollbackTarget, Status
from bot.core.policy import Allowed, DeployRequest, Facts, Refused, authorize, request_for
from generators.config import Environment

DEV = Environment("dev", landing="direct", auto_deploy=True)
STAGING = Environment("staging", landing="auto-merge")
PROD = Environment("prod", deploy_permission="maintain", require_approval=True, require_checks=True)
ENVS = {"dev": DEV, "staging": STAGING, "prod": PROD}
SHA = "abc1234def5678abc1234def5678abc1234def56"

GOOD_PR = {"pr_state": "open", "pr_approved": True, "checks": "success"}


def request(action: str, env: str | None) -> DeployRequest:
    return DeployRequest(action, "acme/shop", "alice", env, SHA)  # type: ignore[arg-type]


# (action, env, facts, the rules that must fail; empty means allowed)
CASES: list[tuple[str, str | None, dict[str, object], tuple[str, ...]]] = [
    ("deploy", "dev", {"permission": "write", "pr_state": "open"}, ()),
    ("deploy", "dev", {"permission": "admin", "pr_state": "open"}, ()),
    ("deploy", "dev", {"permission": "triage", "pr_state": "open"}, ("permission",)),
    ("deploy", "dev", {"permission": "read", "pr_state": "open"}, ("permission",)),
    ("deploy", "dev", {"permission": "none", "pr_state": "open"}, ("permission",)),
    ("deploy", "dev", {"permission": "bogus", "pr_state": "open"}, ("permission",)),
    ("deploy", "staging", {"permission": "write", "pr_state": "open"}, ()),
    ("deploy", "staging", {"permission": "read"}, ("permission",)),
    ("deploy", "dev", {"permission": "write"}, ()),  # from an issue: no PR rules
    ("deploy", "prod", {"permission": "maintain", **GOOD_PR}, ()),
    ("deploy", "prod", {"permission": "admin", **GOOD_PR}, ()),
    ("deploy", "prod", {"permission": "write", **GOOD_PR}, ("permission",)),
    ("deploy", "prod", {"permission": "maintain", **GOOD_PR, "pr_approved": False}, ("approval",)),
    ("deploy", "prod", {"permission": "maintain", **GOOD_PR, "checks": "pending"}, ("checks",)),
    ("deploy", "prod", {"permission": "maintain", **GOOD_PR, "checks": "failure"}, ("checks",)),
    ("deploy", "prod", {"permission": "maintain", **GOOD_PR, "checks": "none"}, ("checks",)),
    (
        "deploy",
        "prod",
        {"permission": "write", "pr_state": "open", "checks": "failure"},
        ("permission", "approval", "checks"),
    ),
    (
        "deploy",
        "prod",
        {"permission": "maintain", "checks": "success", "target_on_default_branch": True},
        (),
    ),
    ("deploy", "prod", {"permission": "maintain", "checks": "success"}, ("approval",)),
    ("deploy", "dev", {"permission": "write", "pr_state": "closed"}, ("closed",)),
    ("deploy", "dev", {"permission": "admin", "pr_state": "merged"}, ("closed",)),
    ("deploy", "dev", {"permission": "write", "pr_state": "open", "pr_from_fork": True}, ("fork",)),
    ("deploy", "dev", {"permission": "maintain", "pr_state": "open", "pr_from_fork": True}, ()),
    ("deploy", "dev", {"permission": "admin", "pr_state": "open", "pr_from_fork": True}, ()),
    (
        "deploy",
        "dev",
        {
            "permission": "write",
            "pr_state": "open",
            "pr_from_fork": True,
            "target_on_default_branch": True,
        },
        (),
    ),
    (
        "deploy",
        "dev",
        {"permission": "read", "pr_state": "closed", "pr_from_fork": True},
        ("permission", "closed", "fork"),
    ),
    ("promote", "staging", {"permission": "write", "pr_state": "open"}, ()),
    ("promote", "staging", {"permission": "write", "pr_state": "open", "pr_from_fork": True}, ()),
    ("promote", "prod", {"permission": "write", **GOOD_PR}, ("permission",)),
    ("promote", "prod", {"permission": "maintain", **GOOD_PR}, ()),
    ("promote", "prod", {"permission": "maintain", **GOOD_PR, "checks": "none"}, ("checks",)),
    ("promote", "dev", {"permission": "write", "pr_state": "closed"}, ("closed",)),
    ("rollback", "prod", {"permission": "maintain"}, ()),
    ("rollback", "prod", {"permission": "maintain", "pr_state": "merged"}, ()),
    ("rollback", "prod", {"permission": "maintain", "pr_state": "closed", "checks": "failure"}, ()),
    ("rollback", "prod", {"permission": "write"}, ("permission",)),
    ("rollback", "dev", {"permission": "write", "pr_from_fork": True}, ()),
    ("rollback", "dev", {"permission": "triage"}, ("permission",)),
    ("status", None, {"permission": "read"}, ()),
    ("status", "prod", {"permission": "read", "pr_state": "closed"}, ()),
    ("status", None, {"permission": "none"}, ("permission",)),
    ("help", None, {"permission": "read", "pr_state": "merged"}, ()),
    ("help", None, {"permission": "none"}, ("permission",)),
]


@pytest.mark.parametrize(("action", "env", "facts", "failing"), CASES)
def test_authorize(
    action: str, env: str | None, facts: dict[str, object], failing: tuple[str, ...]
) -> None:
    decision = authorize(request(action, env), ENVS[env] if env else None, Facts(**facts))  # type: ignore[arg-type]
    if not failing:
        assert decision == Allowed()
    else:
        assert isinstance(decision, Refused)
        assert decision.rules == failing


# (action, env, facts, phrases the refusal must contain: why, and what would make it pass)
MESSAGES: list[tuple[str, str, dict[str, object], list[str]]] = [
    (
        "deploy",
        "prod",
        {"permission": "write", **GOOD_PR},
        ["You have write on acme/shop; deploying to prod needs maintain."],
    ),
    (
        "deploy",
        "dev",
        {"permission": "none"},
        ["You have no access to acme/shop; deploying to dev needs write."],
    ),
    (
        "promote",
        "prod",
        {"permission": "triage", **GOOD_PR},
        ["You have triage on acme/shop; promoting to prod needs maintain."],
    ),
    (
        "rollback",
        "prod",
        {"permission": "write"},
        ["You have write on acme/shop; rolling back prod needs maintain."],
    ),
    ("deploy", "dev", {"permission": "write", "pr_state": "closed"}, ["closed; reopen it"]),
    (
        "deploy",
        "dev",
        {"permission": "write", "pr_state": "merged", "default_branch": "trunk"},
        ["already merged", "`/deploy dev trunk`"],
    ),
    (
        "deploy",
        "dev",
        {"permission": "write", "pr_state": "open", "pr_from_fork": True},
        ["comes from a fork", "only a maintainer (maintain or admin on acme/shop)", "have write"],
    ),
    (
        "deploy",
        "prod",
        {"permission": "maintain", **GOOD_PR, "pr_approved": False},
        ["This pull request is not approved yet and prod requires approval; ask a reviewer"],
    ),
    (
        "deploy",
        "prod",
        {"permission": "maintain", "checks": "success"},
        ["Deploying to prod requires reviewed code", "a commit on the default branch"],
    ),
    (
        "deploy",
        "prod",
        {"permission": "maintain", **GOOD_PR, "checks": "pending"},
        ["checks on `abc1234` are still running", "try again when they are green"],
    ),
    (
        "deploy",
        "prod",
        {"permission": "maintain", **GOOD_PR, "checks": "failure"},
        ["checks on `abc1234` failed and prod requires them to pass"],
    ),
    (
        "deploy",
        "prod",
        {"permission": "maintain", **GOOD_PR, "checks": "none"},
        ["No checks have reported on `abc1234`", "run the checks first"],
    ),
    ("status", "prod", {"permission": "none"}, ["`/status` needs read"]),
]


@pytest.mark.parametrize(("action", "env", "facts", "phrases"), MESSAGES)
def test_refusals_say_why_and_what_would_pass(
    action: str, env: str, facts: dict[str, object], phrases: list[str]
) -> None:
    decision = authorize(request(action, env), ENVS[env], Facts(**facts))  # type: ignore[arg-type]
    assert isinstance(decision, Refused)
    for phrase in phrases:
        assert phrase in decision.reason, (phrase, decision.reason)


def test_every_failing_rule_is_explained_in_one_reason() -> None:
    facts = Facts(permission="write", pr_state="open", checks="failure")
    decision = authorize(request("deploy", "prod"), PROD, facts)
    assert isinstance(decision, Refused)
    sentences = [s for s in decision.reason.split(". ") if s]
    assert len(sentences) == 3
    assert decision.reason.endswith(".")


def test_maintainer_means_maintain_or_admin() -> None:
    assert [Facts(p).is_maintainer for p in ("read", "triage", "write", "maintain", "admin")] == [
        False,
        False,
        False,
        True,
        True,
    ]


@pytest.mark.parametrize(
    ("command", "action", "env"),
    [
        (Deploy("prod", "main"), "deploy", "prod"),
        (Promote("staging", "prod"), "promote", "prod"),
        (Rollback("dev", RollbackTarget("deployment", "3")), "rollback", "dev"),
        (Status(), "status", None),
        (Status("dev"), "status", "dev"),
    ],
)
def test_request_for_a_command(
    command: Deploy | Promote | Rollback | Status, action: str, env: str | None
) -> None:
    request = request_for(command, repo="acme/shop", actor="alice", target_sha=SHA)
    assert request == DeployRequest(action, "acme/shop", "alice", env, SHA)  # type: ignore[arg-type]
