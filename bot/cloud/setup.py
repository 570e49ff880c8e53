"""``autostack aws setup`` as one function over two ports: observe, plan, print, apply.

``Cloud`` is the AWS account (``bot.cloud.adapters.aws.AwsAccount``); ``Variables`` is the
GitHub App's view of the app repositories (``bot.cloud.adapters.github_variables``), absent
when no App is configured: then the default branch comes from ``--branch`` (``main``
otherwise) and the variable is left to the user, with the ``gh`` command to run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol
from urllib.parse import urlsplit

from bot.cloud.desired import (
    ROLE_VARIABLE,
    Account,
    AppTarget,
    Desired,
    Options,
    SetupInputError,
    desired_state,
    validate,
)
from bot.cloud.explain import CloudError
from bot.cloud.plan import Change, Observed, Plan, SetRepoVariable, make_plan
from bot.cloud.render import header, manual_lines, plan_lines, problem_lines, summary_lines
from bot.core.errors import AutostackError
from bot.ports import NotFound

DEFAULT_BRANCH = "main"
Out = Callable[[str], None]


class Cloud(Protocol):
    def whoami(self) -> tuple[Account, str]: ...

    def observe(self, desired: Desired) -> Observed: ...

    def apply(self, change: Change) -> None: ...


class Variables(Protocol):
    def repo_facts(self, repo: str) -> tuple[str, str]: ...

    def read(self, repo: str, name: str) -> str | None: ...

    def write(self, change: SetRepoVariable) -> None: ...


@dataclass(frozen=True)
class Request:
    targets: tuple[AppTarget, ...]
    options: Options
    dry_run: bool = False
    branch: str | None = None  # overrides every repository's default branch


@dataclass
class GitHubView:
    """What GitHub told about the app repositories, and what it could not tell."""

    spelling: dict[str, str]
    branches: dict[str, str]
    variables: dict[str, str | None]
    unasked: dict[str, str]
    notices: list[str]


def run(request: Request, cloud: Cloud, variables: Variables | None, out: Out) -> int:
    """Set up (or with ``dry_run`` only show) everything; 0 when all is as wanted, 1 when a
    problem is left that needs a person. Failures raise ``CloudError`` or ``SetupInputError``.
    """
    validate(request.targets, request.options)
    account, caller = cloud.whoami()
    _check_registries(request.targets, account)
    view = _ask_github(request, variables)
    targets = tuple(
        replace(t, source_repo=view.spelling.get(t.source_repo, t.source_repo))
        for t in request.targets
    )
    desired = desired_state(targets, view.branches, request.options, account)
    observed = cloud.observe(desired)
    observed = replace(observed, variables=view.variables, unasked=view.unasked)
    host = (urlsplit(request.options.github_url).hostname or "github.com").lower()
    plan = make_plan(desired, observed, github_host=host)
    notices = view.notices + _non_ecr_notices(targets, account, request.options.prefix)
    for line in header(account, caller) + notices + plan_lines(plan):
        out(line)
    if request.dry_run:
        if not plan.empty:
            out("Dry run: nothing was changed.")
    else:
        _apply(plan, cloud, variables, out)
    for line in problem_lines(plan) + manual_lines(plan) + summary_lines(desired, observed):
        out(line)
    return 1 if plan.problems else 0


def _apply(plan: Plan, cloud: Cloud, variables: Variables | None, out: Out) -> None:
    done = 0
    try:
        for change in plan.changes:
            if isinstance(change, SetRepoVariable):
                assert variables is not None  # planned only when GitHub could be asked
                _write_variable(variables, change)
            else:
                cloud.apply(change)
            done += 1
    except (CloudError, SetupInputError):
        if done:
            out(f"Stopped after {done} of {len(plan.changes)} changes.")
        raise
    if plan.changes:
        out(f"Applied {done} change{'s' if done != 1 else ''}.")


def _write_variable(variables: Variables, change: SetRepoVariable) -> None:
    try:
        variables.write(change)
    except AutostackError as exc:
        raise CloudError(
            f"{exc}; set it by hand: gh variable set {change.name} --repo {change.repo} "
            f"--body {change.value}"
        ) from None


def _ask_github(request: Request, variables: Variables | None) -> GitHubView:
    view = GitHubView({}, {}, {}, {}, [])
    repos = sorted({t.source_repo for t in request.targets}, key=str.lower)
    for repo in repos:
        branch = request.branch
        if variables is None:
            view.unasked[repo] = "no GitHub App is configured"
        else:
            branch = _ask_repo(variables, repo, request.branch, view)
        if branch is None:
            branch = DEFAULT_BRANCH
            view.notices.append(
                f"The default branch of {repo} is taken to be {DEFAULT_BRANCH} "
                f"({view.unasked[repo]}); pass --branch if it is another."
            )
        view.branches[view.spelling.get(repo, repo)] = branch
    return view


def _ask_repo(variables: Variables, repo: str, branch: str | None, view: GitHubView) -> str | None:
    try:
        full_name, default_branch = variables.repo_facts(repo)
    except NotFound:
        view.unasked[repo] = f"the GitHub App is not installed on {repo}"
        return branch
    except AutostackError as exc:
        view.unasked[repo] = f"GitHub could not be asked: {exc}"
        return branch
    view.spelling[repo] = full_name
    try:
        view.variables[full_name] = variables.read(full_name, ROLE_VARIABLE)
    except AutostackError as exc:
        view.unasked[full_name] = (
            f"the App cannot read the repository's variables ({exc.message}); grant it the "
            "Variables repository permission (read and write)"
        )
    return branch or default_branch


def _check_registries(targets: Sequence[AppTarget], account: Account) -> None:
    """Overlays that deploy from another account's or region's ECR would get a repository
    created in the wrong place: stop before anything is done."""
    for target in targets:
        ecr = target.ecr_image
        if ecr is not None and ecr[0] != account.registry:
            raise SetupInputError(
                f"the overlays of {target.app} deploy {target.image}, but the AWS credentials "
                f"and region are for {account.registry}: use that registry's account and region "
                "(AWS_PROFILE, --region)"
            )


def _non_ecr_notices(targets: Sequence[AppTarget], account: Account, prefix: str) -> list[str]:
    registry = f"{account.registry}/{prefix}" if prefix else account.registry
    return [
        f"{t.app} deploys {t.image}, not an ECR image: to build into ECR, regenerate it with "
        f"autostack generate --registry {registry}"
        for t in targets
        if t.image is not None and t.ecr_image is None
    ]
