"""Authorization: may this person run this command against this environment, right now?

The handler gathers the facts (permission, pull request state, reviews, checks) from
GitHub; :func:`authorize` decides from those values alone. A refusal names every rule that
failed, why, and what would make it pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bot.core.commands import Command, Deploy, Promote, Rollback
from generators.config import PERMISSIONS, Environment

Action = Literal["deploy", "promote", "rollback", "status", "help"]
PrState = Literal["open", "closed", "merged"]
ChecksState = Literal["success", "pending", "failure", "none"]
Rule = Literal["permission", "closed", "fork", "approval", "checks"]


@dataclass(frozen=True)
class DeployRequest:
    """A command someone asked for, reduced to what authorization looks at."""

    action: Action
    repo: str  # owner/name of the app repository
    actor: str  # login of the commenter
    env: str | None = None  # the environment changed (for /promote, the one promoted to)
    target_sha: str | None = None  # the app commit that would be deployed, if known


def request_for(
    command: Command, *, repo: str, actor: str, target_sha: str | None = None
) -> DeployRequest:
    """The authorization request for a parsed command (``/promote`` changes its target)."""
    if isinstance(command, Deploy):
        return DeployRequest("deploy", repo, actor, command.env, target_sha)
    if isinstance(command, Promote):
        return DeployRequest("promote", repo, actor, command.target_env, target_sha)
    if isinstance(command, Rollback):
        return DeployRequest("rollback", repo, actor, command.env, target_sha)
    return DeployRequest("status", repo, actor, command.env, target_sha)


@dataclass(frozen=True)
class Facts:
    """What GitHub says about the commenter, the pull request and the target commit."""

    permission: str  # on the app repo: none | read | triage | write | maintain | admin
    pr_state: PrState | None = None  # None when the comment is on an issue
    pr_approved: bool = False  # approved, and no review requests changes
    pr_from_fork: bool = False
    checks: ChecksState = "none"  # combined state of the target commit's checks
    # The target commit is on the default branch (its head or an ancestor): merged code,
    # which already passed the repository's review, so it needs no PR approval.
    target_on_default_branch: bool = False
    default_branch: str = "main"

    @property
    def is_maintainer(self) -> bool:
        return _meets(self.permission, "maintain")


@dataclass(frozen=True)
class Allowed:
    """Go ahead."""


@dataclass(frozen=True)
class Refused:
    """Not allowed; ``reason`` is the whole explanation, ``rules`` the rules that failed."""

    reason: str
    rules: tuple[Rule, ...]


def authorize(request: DeployRequest, env: Environment | None, facts: Facts) -> Allowed | Refused:
    """Decide ``request`` against ``env``'s policy (None for commands without one)."""
    failures: list[tuple[Rule, str]] = []
    if request.action in ("status", "help") or env is None:
        if not _meets(facts.permission, "read"):
            failures.append(("permission", _permission_problem(request, facts, "read")))
        return _decision(failures)
    if not env.permits(facts.permission):
        failures.append(("permission", _permission_problem(request, facts, env.deploy_permission)))
    # Rolling back ships nothing from the pull request: it is how people answer a merged
    # PR that broke an environment, so it is allowed on closed ones and skips review rules.
    if request.action != "rollback":
        failures.extend(_change_problems(request, env, facts))
    return _decision(failures)


def _change_problems(
    request: DeployRequest, env: Environment, facts: Facts
) -> list[tuple[Rule, str]]:
    problems: list[tuple[Rule, str]] = []
    if facts.pr_state == "closed":
        problems.append(("closed", "this pull request is closed; reopen it to deploy from it"))
    elif facts.pr_state == "merged":
        problems.append(
            (
                "closed",
                "this pull request is already merged; deploy the default branch instead "
                f"(`/deploy {env.name} {facts.default_branch}` on an open issue)",
            )
        )
    forked_code = facts.pr_from_fork and not facts.target_on_default_branch
    if request.action == "deploy" and forked_code and not facts.is_maintainer:
        problems.append(
            (
                "fork",
                f"this pull request comes from a fork, so only a maintainer (maintain or admin "
                f"on {request.repo}) may deploy it; you have {_have(facts.permission)}",
            )
        )
    if env.require_approval and not (facts.pr_approved or facts.target_on_default_branch):
        problems.append(("approval", _approval_problem(env, facts)))
    if env.require_checks and facts.checks != "success":
        problems.append(("checks", _checks_problem(request, env, facts)))
    return problems


def _permission_problem(request: DeployRequest, facts: Facts, needed: str) -> str:
    if request.action == "deploy":
        doing = f"deploying to {request.env}"
    elif request.action == "promote":
        doing = f"promoting to {request.env}"
    elif request.action == "rollback":
        doing = f"rolling back {request.env}"
    else:
        doing = f"`/{request.action}`"
    if not _meets(facts.permission, "read"):
        return f"you have no access to {request.repo}; {doing} needs {needed}"
    return f"you have {facts.permission} on {request.repo}; {doing} needs {needed}"


def _approval_problem(env: Environment, facts: Facts) -> str:
    if facts.pr_state is None:
        return (
            f"deploying to {env.name} requires reviewed code: deploy a commit on the default "
            "branch, or deploy from a pull request once it is approved"
        )
    return (
        f"this pull request is not approved yet and {env.name} requires approval; "
        "ask a reviewer to approve it"
    )


def _checks_problem(request: DeployRequest, env: Environment, facts: Facts) -> str:
    commit = f"`{request.target_sha[:7]}`" if request.target_sha else "the commit"
    if facts.checks == "pending":
        return (
            f"the checks on {commit} are still running and {env.name} requires them to pass; "
            "try again when they are green"
        )
    if facts.checks == "failure":
        return f"the checks on {commit} failed and {env.name} requires them to pass; fix them first"
    return (
        f"no checks have reported on {commit} and {env.name} requires passing checks; "
        "run the checks first"
    )


def _decision(failures: list[tuple[Rule, str]]) -> Allowed | Refused:
    if not failures:
        return Allowed()
    reason = " ".join(_sentence(text) for _, text in failures)
    return Refused(reason, tuple(rule for rule, _ in failures))


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + "."


def _have(permission: str) -> str:
    return permission if _meets(permission, "read") else "no access"


def _meets(permission: str, needed: str) -> bool:
    if permission not in PERMISSIONS:
        return False
    return PERMISSIONS.index(permission) >= PERMISSIONS.index(needed)
