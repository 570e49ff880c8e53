"""What a deployment tells GitHub: the command's comment (edited in place), a GitHub
Deployment with its statuses, and a check run on the app commit."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from bot.core.messages import EnvRow, Failure, Progress, progress_comment
from bot.core.plans import State
from bot.deploy.records import Deployment
from bot.services import Services
from generators.config import application_name

_STATE = {
    "waiting_for_build": State.WAITING_FOR_BUILD,
    "queued": State.QUEUED,
    "committing": State.COMMITTING,
    "awaiting_merge": State.COMMITTING,
    "syncing": State.SYNCING,
    "succeeded": State.SUCCEEDED,
    "failed": State.FAILED,
    "superseded": State.SUPERSEDED,
    "timed_out": State.TIMED_OUT,
}
CHECK_CONCLUSION = {
    "succeeded": "success",
    "failed": "failure",
    "timed_out": "timed_out",
    "superseded": "neutral",
}
DEPLOYMENT_STATE = {
    "succeeded": "success",
    "failed": "failure",
    "timed_out": "error",
    "superseded": "inactive",
}


def argocd_app_url(services: Services, deployment: Deployment) -> str | None:
    base = services.settings.argocd_url
    if not base:
        return None
    return f"{base.rstrip('/')}/applications/{application_name(deployment.app, deployment.env)}"


def post_progress(
    services: Services,
    deployment: Deployment,
    now: datetime,
    *,
    row: EnvRow | None = None,
    queued_behind: int | None = None,
    failure: Failure | None = None,
    notes: Sequence[str] = (),
) -> None:
    """Rewrite the command's comment; deployments without one (merge-to-deploy) skip it."""
    if deployment.issue_number is None:
        return
    details = deployment.details
    started = deployment.created_at
    row = row or EnvRow(deployment.env, image=deployment.image, elapsed=now - started)
    extra = list(notes)
    if deployment.state == "awaiting_merge" and details.get("change_url"):
        extra.append(f"Waiting for the GitOps pull request to be merged: {details['change_url']}")
    body = progress_comment(
        Progress(
            command_id=deployment.delivery_id,
            command=deployment.command,
            requested_by=deployment.requested_by,
            state=_STATE[deployment.state],
            rows=(row,),
            queued_behind=queued_behind,
            build_sha=deployment.source_sha,
            build_url=details.get("build_url"),
            change_url=details.get("change_url"),
            timeout=None,
            failure=failure,
            notes=tuple(extra),
        )
    )
    services.github.upsert_comment(
        deployment.app_repo, deployment.issue_number, deployment.delivery_id, body
    )


def start_on_github(
    services: Services, deployment: Deployment, save: Callable[..., object]
) -> None:
    """A GitHub Deployment (in progress) and a check run for the app commit being deployed;
    nothing when the deployment names no app commit (a rollback to an image).

    The intent is saved first (``details.github_started``), then each id as soon as it
    exists (``save(github_deployment_id=...)``, ``save(check_run_id=...)``). A second
    attempt (the worker died, or GitHub failed part-way) looks on GitHub for what the first
    made but could not record, so no Deployment, status or check run is made twice.
    """
    sha = deployment.source_sha
    if not sha:
        return
    github, repo = services.github, deployment.app_repo
    recovering = bool(deployment.details.get("github_started"))
    if not recovering:
        save(details={"github_started": True})
    deployment_id = deployment.github_deployment_id
    if deployment_id is None and recovering:
        deployment_id = github.find_deployment(repo, sha, deployment.env, deployment.label)
        if deployment_id is not None:
            save(github_deployment_id=deployment_id)
    if deployment_id is None:
        deployment_id = github.create_deployment(
            repo,
            sha,
            deployment.env,
            {"app": deployment.app, "image": deployment.image, "autostack": deployment.label},
            f"{deployment.command} ({deployment.label})",
            # Not flagged as production: GitHub's auto_inactive skips production
            # deployments, and every environment's earlier deployments should go inactive.
        )
        save(github_deployment_id=deployment_id)
    if deployment.check_run_id is not None:
        return
    name = f"AutoStack / {deployment.env}"
    check_id = github.find_check_run(repo, sha, name, deployment.label) if recovering else None
    states = github.deployment_states(repo, deployment_id) if recovering else []
    if not states:
        github.deployment_status(
            repo,
            deployment_id,
            "in_progress",
            log_url=argocd_app_url(services, deployment),
            description="Committed to the GitOps repository; waiting for Argo CD",
        )
    if check_id is None:
        check_id = github.check_run(
            repo,
            sha,
            name,
            "in_progress",
            title=f"Deploying to {deployment.env}",
            summary=f"`{deployment.image}` is being synced by Argo CD ({deployment.label}).",
            details_url=argocd_app_url(services, deployment),
            external_id=deployment.label,
        )
    save(check_run_id=check_id)


def finish_on_github(
    services: Services,
    deployment: Deployment,
    summary: str,
    environment_url: str | None = None,
    *,
    recovering: bool = False,
) -> None:
    """Final statuses of a finished deployment's GitHub Deployment and check run. When
    ``recovering`` a report cut short, a final status GitHub already has is not sent again
    (the check run's is an update, the same either way)."""
    github = services.github
    final = DEPLOYMENT_STATE[deployment.state]
    sent = (
        recovering
        and deployment.github_deployment_id is not None
        and final in github.deployment_states(deployment.app_repo, deployment.github_deployment_id)
    )
    if deployment.github_deployment_id is not None and not sent:
        github.deployment_status(
            deployment.app_repo,
            deployment.github_deployment_id,
            final,  # type: ignore[arg-type]
            environment_url=environment_url,
            log_url=argocd_app_url(services, deployment),
            description=summary[:140],
        )
    if deployment.check_run_id is not None and deployment.source_sha:
        github.check_run(
            deployment.app_repo,
            deployment.source_sha,
            f"AutoStack / {deployment.env}",
            "completed",
            CHECK_CONCLUSION[deployment.state],  # type: ignore[arg-type]
            title=f"{deployment.env}: {deployment.state.replace('_', ' ')}",
            summary=summary,
            details_url=argocd_app_url(services, deployment),
            existing_id=deployment.check_run_id,
        )
