"""Installation: every app repository the App is added to gets an onboarding pull request
on itself and one on the GitOps repository, generated from its default branch; a repository
the generators cannot handle gets an issue that says how to configure it instead.

Onboarding is idempotent: a re-delivery, a re-installation or a retry regenerates the same
files onto the same branches, so the pull requests are updated, never duplicated. Removing
the App only records that it happened: what to do with the GitOps repository is for a
person to decide.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.core.errors import AutostackError, PermanentError, TransientError
from bot.core.events import Event
from bot.core.messages import code_block, inline_code, redact
from bot.handlers import services_of
from bot.ports import IssueRef, PullRef, RepoInfo
from bot.router import HandlerContext, Router
from bot.services import Services
from generators.appconfig import APP_CONFIG_FILE
from generators.config import GitOpsConfig, app_namespace, application_name, overlay_dir
from generators.detect import LOOKED_FOR
from generators.errors import GeneratorError
from generators.overlay import PLACEHOLDER_TAG
from generators.pipeline import GenerateRequest, GenerateResult, generate, load_gitops_config
from generators.templating import render

router = Router()
log = logging.getLogger(__name__)
APP_BRANCH = "autostack/onboarding"
APP_PR_TITLE = "Set up AutoStack deployments"
ISSUE_MARKER = "onboarding"
ISSUE_TITLE = "AutoStack could not set up this repository"
ACTOR = "autostack"
# A push that changes one of these may fix what stopped onboarding (see the issue text).
RETRY_FILES = (APP_CONFIG_FILE, "Dockerfile")


@router.register("installation", action="created")
def on_installed(event: Event, ctx: HandlerContext) -> None:
    onboard_all(event, ctx, _names(event.payload.get("repositories")))


@router.register("installation_repositories", action="added")
def on_repositories_added(event: Event, ctx: HandlerContext) -> None:
    onboard_all(event, ctx, _names(event.payload.get("repositories_added")))


@router.register("installation", action="deleted")
@router.register("installation_repositories", action="removed")
def on_removed(event: Event, ctx: HandlerContext) -> None:
    """Audit only: the GitOps repository keeps the apps until a person removes them."""
    key = "repositories" if event.name == "installation" else "repositories_removed"
    names = _names(event.payload.get(key))
    ctx.audit.record(
        "decision",
        actor=event.sender or "unknown",
        summary=f"App removed from {', '.join(names) or 'the installation'}; "
        "the GitOps repository is left as it is",
        delivery_id=event.delivery_id,
        repositories=names,
    )


@router.register("push")
def on_push(event: Event, ctx: HandlerContext) -> None:
    """Retry onboarding of a repository not onboarded yet when its default branch gets a
    change that may fix what stopped it: ``.github/autostack.yml`` or a Dockerfile."""
    services = services_of(ctx)
    repo = event.repository
    payload = event.payload
    default = (payload.get("repository") or {}).get("default_branch")
    if repo is None or repo == services.gitops_repo or payload.get("deleted"):
        return
    if payload.get("ref") != f"refs/heads/{default}" or not touches_setup(payload):
        return
    if services.app_for_repo(repo) is None:
        onboard_all(event, ctx, [repo])


def touches_setup(payload: dict[str, Any]) -> bool:
    """Whether a push payload's commits add, change or remove one of ``RETRY_FILES``."""
    for commit in payload.get("commits") or []:
        for key in ("added", "modified", "removed"):
            for path in commit.get(key) or []:
                if str(path) == APP_CONFIG_FILE or os.path.basename(str(path)) == "Dockerfile":
                    return True
    return False


def onboard_all(event: Event, ctx: HandlerContext, repos: Sequence[str]) -> None:
    """Onboard each repository; one failing does not stop the others, and each failure is
    logged and audited for its repository. Afterwards the delivery fails with one error that
    names every repository that failed (see ``onboarding_failed``): the queue retries the
    whole delivery, and the repositories done already come out unchanged."""
    services = services_of(ctx)
    failures: list[tuple[str, Exception]] = []
    attempted = 0
    for repo in repos:
        if repo.lower() == services.gitops_repo.lower():
            continue
        attempted += 1
        try:
            Onboarding(event, ctx, services, repo).run()
        except Exception as exc:  # a bug in one repository's onboarding stops no other
            failures.append((repo, exc))
            _record_failure(event, ctx, repo, exc)
    if failures:
        raise onboarding_failed(failures, attempted)


def _record_failure(event: Event, ctx: HandlerContext, repo: str, error: Exception) -> None:
    if isinstance(error, AutostackError):
        log.warning("delivery %s: onboarding %s failed: %s", event.delivery_id, repo, error)
    else:
        log.exception("delivery %s: onboarding %s failed unexpectedly", event.delivery_id, repo)
    ctx.audit.record(
        "action",
        actor=ACTOR,
        summary=f"onboarding {repo} failed: {_described(error)}",
        delivery_id=event.delivery_id,
        repository=repo,
        error=type(error).__name__,
    )


def onboarding_failed(failures: Sequence[tuple[str, Exception]], attempted: int) -> Exception:
    """One error for a delivery in which onboarding failed for ``failures``, naming each
    repository and why. Its kind decides what the worker does: transient if any failure was
    (a retry may fix it, and redoes the rest unchanged), else a plain exception if any was a
    bug (retried a few times, then dead-lettered, with a traceback), else permanent."""
    names = ", ".join(repo for repo, _ in failures)
    details = "; ".join(f"{repo}: {_described(error)}" for repo, error in failures)
    message = (
        f"onboarding failed for {len(failures)} of {attempted} repositories ({names}): {details}"
    )
    errors = [error for _, error in failures]
    transient = [error for error in errors if isinstance(error, TransientError)]
    if transient:
        waits = [error.retry_after for error in transient if error.retry_after is not None]
        summary: Exception = TransientError(message, retry_after=max(waits, default=None))
    elif any(not isinstance(error, AutostackError) for error in errors):
        summary = RuntimeError(message)
    else:
        summary = PermanentError(message)
    summary.__cause__ = errors[0]
    return summary


def _described(error: Exception) -> str:
    return redact(f"{type(error).__name__}: {error}")


@dataclass(frozen=True)
class Plan:
    """What generation produced for one repository, computed before anything is written."""

    result: GenerateResult
    config: GitOpsConfig
    add_app_config: bool  # the app repository has no .github/autostack.yml yet


class Onboarding:
    """One repository's onboarding: generate from both default branches, then open (or
    update) the two pull requests, or the issue that says why it could not."""

    def __init__(self, event: Event, ctx: HandlerContext, services: Services, repo: str):
        self.event, self.ctx, self.services, self.repo = event, ctx, services, repo
        self.github = services.github

    def run(self) -> None:
        info = self.services.repo(self.repo)
        try:
            plan = self._plan(info)
        except GeneratorError as exc:
            self._report_failure(info, exc)
            return
        app = plan.result.spec.name
        if plan.result.empty:
            self._audit("decision", f"{self.repo} is set up already; nothing to change", app)
        gitops_pr = self._gitops_pr(plan)
        self._app_pr(plan, info, gitops_pr)
        if self.github.close_issue(self.repo, ISSUE_MARKER):
            self._audit("action", f"closed the onboarding issue on {self.repo}", app)

    def _plan(self, info: RepoInfo) -> Plan:
        gitops = self.services.gitops()
        with self.services.git(self.repo).export() as app_dir, gitops.export() as gitops_dir:
            try:
                config = load_gitops_config(gitops_dir)
                result = generate(
                    GenerateRequest(
                        app_dir=app_dir,
                        gitops_dir=gitops_dir,
                        registry=registry_for(info),
                        source_repo=self.repo,
                    )
                )
            except GeneratorError as exc:
                if _inside(exc.path, gitops_dir):
                    # The GitOps repository is the operator's to fix, not the app's owner.
                    gitops_repo = self.services.gitops_repo
                    message = _relative(str(exc), gitops_dir, gitops_repo)
                    raise PermanentError(
                        f"cannot onboard {self.repo} because of the GitOps repository "
                        f"{gitops_repo}: {message}"
                    ) from None
                raise _in_repo(exc, app_dir, self.repo) from None
            has_config = os.path.lexists(app_dir / APP_CONFIG_FILE)
        return Plan(result, config, add_app_config=not has_config)

    def _gitops_pr(self, plan: Plan) -> PullRef | None:
        changes = plan.result.gitops_changes
        if changes.empty:
            return None
        app = plan.result.spec.name
        target = self.services.repo(self.services.gitops_repo)
        files = {change.path: change.new for change in changes.writes}
        message = (
            f"Onboard {app}\n\nAdd the Kustomize base, overlays and Argo CD Applications "
            f"of {app}, built from {self.repo}."
        )
        body = gitops_pr_body(plan, self.repo, [(c.path, c.action) for c in changes.writes])
        return self._land(
            target, f"autostack/onboard-{app}", files, message, f"Onboard {app}", body, app
        )

    def _app_pr(self, plan: Plan, info: RepoInfo, gitops_pr: PullRef | None) -> PullRef | None:
        changes = plan.result.app_changes
        if changes.empty:
            return None
        files = {change.path: change.new for change in changes.writes}
        listed = [(c.path, c.action) for c in changes.writes]
        if plan.add_app_config:
            files[APP_CONFIG_FILE] = app_config_file(plan).encode()
            listed.append((APP_CONFIG_FILE, "created"))
        stack = plan.result.stack
        message = (
            f"{APP_PR_TITLE}\n\nDetected {stack.describe()}; add what AutoStack builds it with."
        )
        gitops = self.services.gitops_repo
        link = f"[{gitops}#{gitops_pr.number}]({gitops_pr.html_url})" if gitops_pr else None
        body = app_pr_body(plan, info, sorted(listed), link, gitops)
        return self._land(
            info, APP_BRANCH, files, message, APP_PR_TITLE, body, plan.result.spec.name
        )

    def _land(
        self,
        target: RepoInfo,
        branch: str,
        files: dict[str, bytes],
        message: str,
        title: str,
        body: str,
        app: str,
    ) -> PullRef:
        git = self.services.git(target.full_name)
        commit = git.commit_files(files, message, branch=branch, base=target.default_branch)
        pull = self.github.open_or_update_pr(
            target.full_name, branch, target.default_branch, title, body
        )
        verb = "opened" if pull.created else "updated"
        self._audit(
            "action",
            f"{verb} onboarding pull request #{pull.number} on {target.full_name}",
            app,
            after={"branch": branch, "sha": commit.sha, "pull": pull.number, "url": pull.html_url},
        )
        return pull

    def _report_failure(self, info: RepoInfo, error: GeneratorError) -> IssueRef:
        body = issue_body(error, info.default_branch)
        issue = self.github.open_or_update_issue(self.repo, ISSUE_MARKER, ISSUE_TITLE, body)
        verb = "opened" if issue.created else "updated"
        self._audit(
            "action",
            f"{verb} onboarding issue #{issue.number} on {self.repo}: {redact(str(error))}",
            None,
            after={"issue": issue.number, "url": issue.html_url},
        )
        return issue

    def _audit(self, kind: Any, summary: str, app: str | None, **details: Any) -> None:
        self.ctx.audit.record(
            kind,
            actor=ACTOR,
            summary=summary,
            delivery_id=self.event.delivery_id,
            app=app,
            repository=self.repo,
            **details,
        )


def registry_for(info: RepoInfo) -> str:
    """GHCR under the repository's owner: the build workflow pushes there with its token."""
    return f"ghcr.io/{info.owner.lower()}"


# -- text ----------------------------------------------------------------------------------


def app_config_file(plan: Plan) -> str:
    """``.github/autostack.yml`` naming the app and showing, commented out, what was detected."""
    stack, spec = plan.result.stack, plan.result.spec
    replicas = ", ".join(f"{env.name}: {env.replicas}" for env in plan.config.environments)
    return render(
        "bot/autostack.yml.j2",
        detected=stack.describe(),
        evidence=[" ".join(line.split()) for line in stack.evidence],
        name=spec.name,
        port=stack.port,
        health_path=stack.health_path,
        command=list(stack.start_command),
        migrate=list(stack.migrate_command or ()),
        replicas=replicas,
        resources=spec.resources,
    )


def app_pr_body(
    plan: Plan,
    info: RepoInfo,
    files: Sequence[tuple[str, str]],
    gitops_pr: str | None,
    gitops_repo: str,
) -> str:
    stack, spec = plan.result.stack, plan.result.spec
    environments = plan.config.environments
    health = (
        f"HTTP GET {_code(stack.health_path)}" if stack.health_path else f"TCP port {stack.port}"
    )
    return render(
        "bot/onboarding-app-pr.md.j2",
        branch=_code(info.default_branch),
        detected=_code(stack.describe()),
        command=_code(" ".join(stack.start_command)) if stack.start_command else "the image's CMD",
        port=stack.port,
        health=health,
        migrate=_code(" ".join(stack.migrate_command)) if stack.migrate_command else None,
        image=_code(f"{spec.image}:<commit sha>"),
        evidence=[_code(line) for line in stack.evidence],
        files=_file_lines(files),
        gitops_pr=gitops_pr,
        gitops_repo=_code(gitops_repo),
        auto_envs=", ".join(_code(env.name) for env in environments if env.auto_deploy),
        environments=", ".join(_code(env.name) for env in environments),
    )


def gitops_pr_body(plan: Plan, source: str, files: Sequence[tuple[str, str]]) -> str:
    app = plan.result.spec.name
    rows = [
        {
            "application": _code(application_name(app, env.name)),
            "env": env.name,
            "overlay": _code(overlay_dir(app, env.name)),
            "namespace": _code(app_namespace(app, env.name)),
            "sync": "automated" if env.auto_sync else "manual",
        }
        for env in plan.config.environments
    ]
    return render(
        "bot/onboarding-gitops-pr.md.j2",
        app=_code(app),
        source=_code(source),
        rows=rows,
        files=_file_lines(files),
        placeholder=_code(PLACEHOLDER_TAG),
    )


def issue_body(error: GeneratorError, branch: str) -> str:
    where = f"{error.path}: " if error.path else ""
    return render(
        "bot/onboarding-issue.md.j2",
        error=code_block([redact(f"{where}{error.problem}")]),
        hint=redact(error.hint) if error.hint else None,
        looked_for=[_code(item, 80) for item in LOOKED_FOR],
        branch=branch,
    )


def _file_lines(files: Sequence[tuple[str, str]]) -> list[str]:
    return [f"{_code(path)} ({action})" for path, action in files]


def _code(text: str, limit: int = 200) -> str:
    return inline_code(text, limit)


# -- paths in generator errors ----------------------------------------------------------------


def _inside(path: str | None, root: Path) -> bool:
    return path is not None and (path == str(root) or path.startswith(f"{root}/"))


def _relative(text: str, root: Path, label: str) -> str:
    """``text`` with the temporary checkout's path replaced by what the user knows."""
    return text.replace(f"{root}/", "").replace(str(root), label)


def _in_repo(error: GeneratorError, root: Path, repo: str) -> GeneratorError:
    """The same error with paths relative to the repository, its root shown as its name."""
    path = _relative(error.path, root, repo) if error.path else None
    problem = _relative(error.problem, root, repo)
    hint = _relative(error.hint, root, repo) if error.hint else None
    return GeneratorError(path, problem, hint)


def _names(repositories: Iterable[Any] | None) -> list[str]:
    names = []
    for item in repositories or []:
        name = item.get("full_name") if isinstance(item, dict) else None
        if isinstance(name, str) and name:
            names.append(name)
    return names
