"""Table-driven tests of command authorization against environment policies."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.core.commands import Deploy, Promote, Rollback, RollbackTarget, Status
from bot.core.policy import (
    Allowed,
    DeployRequest,
    Facts,
    Refused,
    authorize,
    code_problems,
    request_for,
)
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
        {"permission": "maintain", "checks": "success", "source": "default_branch"},
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
            "source": "default_branch",
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
    (
        "promote",
        "staging",
        {"permission": "write", "pr_state": "open", "pr_from_fork": True, "source": "branch"},
        (),
    ),
    # Promoting the image built from a fork's head deploys the fork's code all the same.
    (
        "promote",
        "staging",
        {"permission": "write", "pr_state": "open", "pr_from_fork": True},
        ("fork",),
    ),
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
        (Deploy("prod"), "deploy", "prod"),
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


def test_request_for_a_deploy_keeps_the_ref_as_written() -> None:
    request = request_for(Deploy("prod", "main"), repo="acme/shop", actor="alice", target_sha=SHA)
    assert request == DeployRequest("deploy", "acme/shop", "alice", "prod", SHA, "main")


# -- which code may run where: ``code_problems`` -----------------------------------------------

OPEN_PR = {"pr_state": "open"}
APPROVED_PR = {"pr_state": "open", "pr_approved": True}
FORK_PR = {"pr_state": "open", "pr_from_fork": True}

# (env, facts, the rules ``code_problems`` must fail; empty means the code may run there)
CODE_CASES: list[tuple[str, dict[str, object], tuple[str, ...]]] = [
    # On an approved pull request, its approval covers its head and nothing else.
    ("prod", {**APPROVED_PR, "source": "pr_head"}, ()),
    ("prod", {**OPEN_PR, "source": "pr_head"}, ("approval",)),
    ("prod", {**APPROVED_PR, "source": "branch"}, ("approval",)),  # /deploy prod feature/x
    ("prod", {**APPROVED_PR, "source": "elsewhere"}, ("source", "approval")),
    ("prod", {**APPROVED_PR, "source": "unknown"}, ("approval",)),
    # Merged code was reviewed when it was merged, on a pull request or an issue.
    ("prod", {**OPEN_PR, "source": "default_branch"}, ()),
    ("prod", {**APPROVED_PR, "source": "default_branch"}, ()),
    ("prod", {"source": "default_branch"}, ()),  # /deploy prod main on an issue
    ("prod", {"source": "branch"}, ("approval",)),
    ("prod", {"source": "elsewhere"}, ("source", "approval")),
    ("prod", {"source": "unknown"}, ("approval",)),
    ("prod", {"source": "pr_head", "pr_approved": True}, ("approval",)),  # no PR: no review
    # Without an approval rule, any branch of the repository will do; a fork's commit never.
    ("dev", {"source": "branch"}, ()),
    ("dev", {"source": "default_branch"}, ()),
    ("dev", {"source": "unknown"}, ()),
    ("dev", {"source": "elsewhere"}, ("source",)),  # /deploy dev <fork sha> on an issue
    ("dev", {"source": "elsewhere", "permission": "admin"}, ("source",)),
    ("staging", {**OPEN_PR, "source": "branch"}, ()),
    ("staging", {**OPEN_PR, "source": "elsewhere"}, ("source",)),  # <fork sha> on a PR
    # A fork's head only at a maintainer's request; the repository's own code as ever.
    ("dev", {**FORK_PR, "source": "pr_head"}, ("fork",)),
    ("dev", {**FORK_PR, "source": "pr_head", "permission": "maintain"}, ()),
    ("dev", {**FORK_PR, "source": "pr_head", "permission": "admin"}, ()),
    ("dev", {**FORK_PR, "source": "default_branch"}, ()),
    ("dev", {**FORK_PR, "source": "branch"}, ()),
    ("dev", {**FORK_PR, "source": "elsewhere", "permission": "maintain"}, ("source",)),
    ("prod", {**FORK_PR, "source": "pr_head", "pr_approved": True, "permission": "admin"}, ()),
    ("prod", {**FORK_PR, "source": "pr_head", "permission": "admin"}, ("approval",)),
    ("prod", {**FORK_PR, "source": "pr_head", "pr_approved": True}, ("fork",)),
]


@pytest.mark.parametrize(("env", "facts", "failing"), CODE_CASES)
def test_code_problems(env: str, facts: dict[str, object], failing: tuple[str, ...]) -> None:
    given = Facts(**{"permission": "write", **facts})  # type: ignore[arg-type]
    problems = code_problems(request("deploy", env), ENVS[env], given)
    assert tuple(rule for rule, _ in problems) == failing


def test_code_problems_is_what_authorize_applies_to_promotions_too() -> None:
    facts = Facts(permission="maintain", pr_state="open", pr_approved=True, source="branch")
    decision = authorize(request("promote", "prod"), PROD, replace(facts, checks="success"))
    assert isinstance(decision, Refused) and decision.rules == ("approval",)


# (env, request ref, facts, phrases the refusal must contain)
CODE_MESSAGES: list[tuple[str, str | None, dict[str, object], list[str]]] = [
    (
        "prod",
        "feature/unreviewed",
        {**APPROVED_PR, "source": "branch", "pr_head_sha": "def5678" + "0" * 33},
        [
            "`feature/unreviewed` (commit `abc1234`) is not this pull request's head "
            "(`def5678`), and prod requires approval, which covers the head only",
            "deploy the head (`/deploy prod`), or a commit on the default branch `main`",
        ],
    ),
    (
        "dev",
        "abc1234",
        {"source": "elsewhere"},
        [
            "Commit `abc1234` is not on any branch of acme/shop, so it may be a fork's code: "
            "deploy it from its pull request",
            "(`/deploy dev <branch>`; AutoStack looks at `main`, and a branch named",
        ],
    ),
    (
        "staging",
        "pull/12/head",
        {**OPEN_PR, "source": "elsewhere"},
        [
            "`pull/12/head` (commit `abc1234`) is not on any branch of acme/shop",
            "looks at `main`, this pull request's branch, and a branch named in the command",
        ],
    ),
    (
        "prod",
        None,
        {"source": "branch", "default_branch": "trunk"},
        ["Deploying to prod requires reviewed code: deploy a commit on the default branch `trunk`"],
    ),
]


@pytest.mark.parametrize(("env", "ref", "facts", "phrases"), CODE_MESSAGES)
def test_code_refusals_say_why_and_what_would_pass(
    env: str, ref: str | None, facts: dict[str, object], phrases: list[str]
) -> None:
    asked = DeployRequest("deploy", "acme/shop", "alice", env, SHA, ref)
    given = Facts(**{"permission": "admin", "checks": "success", **facts})  # type: ignore[arg-type]
    decision = authorize(asked, ENVS[env], given)
    assert isinstance(decision, Refused)
    for phrase in phrases:
        assert phrase in decision.reason, (phrase, decision.reason)
