"""Authorization: may this person run this command against this environment, right now?

The handler gathers the facts (permission, pull request state, reviews, checks, where the
commit comes from) from GitHub and the app repository; :func:`authorize` decides from those
values alone, and :func:`code_problems` is the one place that decides which code counts as
the repository's own and as reviewed. A refusal names every rule that failed, why, and what
would make it pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bot.core.commands import Command, Deploy, Promote, Rollback
from bot.core.messages import inline_code
from generators.config import PERMISSIONS, Environment

Action = Literal["deploy", "promote", "rollback", "status", "help"]
PrState = Literal["open", "closed", "merged"]
ChecksState = Literal["success", "pending", "failure", "none"]
Rule = Literal["permission", "closed", "source", "fork", "approval", "checks"]
Source = Literal["pr_head", "default_branch", "branch", "elsewhere", "unknown"]
"""Where the commit a command would deploy comes from:

- ``pr_head``: the head of the pull request the command is on, the commit its reviews and
  checks are about;
- ``default_branch``: on the app repository's default branch (its head or an ancestor):
  merged code, which passed the repository's own review rules when it was merged;
- ``branch``: on another branch of the app repository (one named in the command, or the
  pull request's own branch): the repository's code, but not reviewed;
- ``elsewhere``: on none of those. GitHub serves every commit of a repository's network
  through the repository's API, so a fork's commit named by a pull request resolves as if
  it were the repository's own: such a commit is not shown to be the repository's code;
- ``unknown``: no commit to look at (a promoted image whose tag names no commit).
"""


@dataclass(frozen=True)
class DeployRequest:
    """A command someone asked for, reduced to what authorization looks at."""

    action: Action
    repo: str  # owner/name of the app repository
    actor: str  # login of the commenter
    env: str | None = None  # the environment changed (for /promote, the one promoted to)
    target_sha: str | None = None  # the app commit that would be deployed, if known
    ref: str | None = None  # the ref named in a ``/deploy``, as the commenter wrote it


def request_for(
    command: Command, *, repo: str, actor: str, target_sha: str | None = None
) -> DeployRequest:
    """The authorization request for a parsed command (``/promote`` changes its target)."""
    if isinstance(command, Deploy):
        return DeployRequest("deploy", repo, actor, command.env, target_sha, command.ref)
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
    # Where the target commit comes from; the default is a command on a pull request that
    # names no ref, which deploys the pull request's head.
    source: Source = "pr_head"
    pr_head_sha: str | None = None  # for the refusal of a commit other than the head
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
    problems.extend(code_problems(request, env, facts))
    if env.require_checks and facts.checks != "success":
        problems.append(("checks", _checks_problem(request, env, facts)))
    return problems


def code_problems(request: DeployRequest, env: Environment, facts: Facts) -> list[tuple[Rule, str]]:
    """What is wrong with the code a ``/deploy`` or ``/promote`` would ship to ``env``: the
    one place that decides which commits are the repository's own, and which are reviewed.

    - ``source``: a commit on no branch of the app repository may be a fork's (see
      :data:`Source`); it is refused whoever asks. A fork's code is deployed from its pull
      request, where the fork rule applies.
    - ``fork``: the head of a pull request from a fork is deployed only at a maintainer's
      request.
    - ``approval``, where ``env`` requires it: reviewed code is a commit on the default
      branch (merged under the repository's own rules, which are its owners' business), or
      the head of an approved pull request: the very commit the approval is about. Another
      commit named on an approved pull request is not covered by its approval, and a commit
      named on an issue has no approval at all.

    Checks need no rule here: they are read on the target commit itself, so green checks
    are always about the very commit deployed.
    """
    problems: list[tuple[Rule, str]] = []
    if facts.source == "elsewhere":
        problems.append(("source", _source_problem(request, env, facts)))
    if facts.source == "pr_head" and facts.pr_from_fork and not facts.is_maintainer:
        problems.append(
            (
                "fork",
                f"this pull request comes from a fork, so only a maintainer (maintain or admin "
                f"on {request.repo}) may deploy it; you have {_have(facts.permission)}",
            )
        )
    reviewed = facts.source == "default_branch" or (
        facts.source == "pr_head" and facts.pr_state is not None and facts.pr_approved
    )
    if env.require_approval and not reviewed:
        problems.append(("approval", _approval_problem(request, env, facts)))
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


def _approval_problem(request: DeployRequest, env: Environment, facts: Facts) -> str:
    if facts.pr_state is None:
        return (
            f"deploying to {env.name} requires reviewed code: deploy a commit on the default "
            f"branch `{facts.default_branch}`, or deploy from a pull request once it is approved"
        )
    if facts.source == "pr_head":
        return (
            f"this pull request is not approved yet and {env.name} requires approval; "
            "ask a reviewer to approve it"
        )
    head = f" (`{facts.pr_head_sha[:7]}`)" if facts.pr_head_sha else ""
    return (
        f"{_target(request)} is not this pull request's head{head}, and {env.name} requires "
        "approval, which covers the head only: deploy the head (`/deploy "
        f"{env.name}`), or a commit on the default branch `{facts.default_branch}`"
    )


def _source_problem(request: DeployRequest, env: Environment, facts: Facts) -> str:
    own_branch = facts.pr_state is not None and not facts.pr_from_fork
    own = "this pull request's branch, " if own_branch else ""
    return (
        f"{_target(request)} is not on any branch of {request.repo}, so it may be a fork's "
        f"code: deploy it from its pull request, or name the branch of {request.repo} it is "
        f"on (`/deploy {env.name} <branch>`; AutoStack looks at `{facts.default_branch}`, "
        f"{own}and a branch named in the command)"
    )


def _target(request: DeployRequest) -> str:
    commit = f"commit `{request.target_sha[:7]}`" if request.target_sha else "the commit"
    if request.ref and request.target_sha and not request.target_sha.startswith(request.ref):
        return f"{inline_code(request.ref)} ({commit})"
    return commit


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
