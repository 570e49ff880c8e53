"""``/status [<env>]``: where each environment of the app is, from Argo CD's live state.

Argo CD is the record of truth for what runs; the GitOps history says who deployed it and
when (its trailers), and the database only adds whether automatic deploys are on hold.
Without Argo CD (not configured or unreachable) the answer says so and shows what the
GitOps repository holds instead.
"""

from __future__ import annotations

from bot.adapters.git import CommitInfo
from bot.core.argo import AppStatus
from bot.core.commands import Status, command_text
from bot.core.errors import TransientError
from bot.core.messages import StatusRow, status_comment
from bot.core.policy import Facts, Refused, authorize, request_for
from bot.core.trailers import IMAGE, REQUESTED_BY, first
from bot.deploy.records import DeploymentStore
from bot.handlers.commands import Call
from bot.handlers.rollback import overlay_commits
from bot.services import APP_LABEL
from generators.config import application_name

LAST_DEPLOY_LOOKBACK = 50  # overlay commits searched for the last deployment

NOT_CONFIGURED = (
    "Argo CD is not configured (`AUTOSTACK_ARGOCD_URL`), so this shows what the GitOps "
    "repository holds, not what runs."
)
UNREACHABLE = (
    "Argo CD did not answer, so this shows what the GitOps repository holds, not what runs; "
    "ask again in a minute."
)


def answer_status(call: Call, command: Status) -> None:
    app = call.app()
    if app is None:
        return
    text = command_text(command)
    facts = Facts(permission=call.services.github.permission(call.repo, call.actor))
    decision = authorize(request_for(command, repo=call.repo, actor=call.actor), None, facts)
    if isinstance(decision, Refused):
        call.refuse(text, decision.reason, command.env)
        return
    envs = [command.env] if command.env else list(call.config.environment_names)
    live, note = _live(call, app)
    rows = [_row(call, app, env, live) for env in envs]
    body = status_comment(call.event.delivery_id, app, rows)
    if note:
        body = f"{body}\n{note}\n"
    call.answer(body, f"answered {text}")


def _live(call: Call, app: str) -> tuple[dict[str, AppStatus] | None, str | None]:
    """The app's Applications by name in one call, or None and why not."""
    argocd = call.services.argocd
    if argocd is None:
        return None, NOT_CONFIGURED
    try:
        found = argocd.list_applications(selector=f"{APP_LABEL}={app}")
    except TransientError:
        return None, UNREACHABLE
    return {status.name: status for status in found}, None


def _row(call: Call, app: str, env: str, live: dict[str, AppStatus] | None) -> StatusRow:
    records = DeploymentStore(call.ctx.store)
    held = records.held(app, env) is not None
    last = _last_deployment(call, records, app, env)
    commit, deployment_id = last if last else (None, None)
    by = first(commit.trailers, REQUESTED_BY) if commit else None
    at = commit.date if commit else None
    if live is None:
        image = first(commit.trailers, IMAGE) if commit else None
        revision = commit.sha if commit else None
        return StatusRow(env, image, revision, None, None, by, at, deployment_id, held)
    status = live.get(application_name(app, env))
    if status is None:
        return StatusRow(env, None, None, "no Argo CD Application", None, hold=held)
    return StatusRow(
        env,
        image=_image(status, app),
        revision=status.sync_revision or None,
        sync=status.sync_status or None,
        health=status.health_status or None,
        deployed_by=by,
        deployed_at=at,
        deployment_id=deployment_id,
        hold=held,
    )


def _image(status: AppStatus, app: str) -> str | None:
    """The app's own image among the Application's (sidecars and init images aside)."""
    for image in status.images:
        name, sep, tag = image.rpartition(":")
        repository = name if sep and "/" not in tag else image
        if repository.rsplit("/", 1)[-1] == app:
            return image
    return status.images[0] if status.images else None


def _last_deployment(
    call: Call, records: DeploymentStore, app: str, env: str
) -> tuple[CommitInfo, int | None] | None:
    """The newest commit that set the overlay's image: a deploy, or a rollback's revert."""
    commits = overlay_commits(call.services, records, app, env, limit=LAST_DEPLOY_LOOKBACK)
    return next(((c, d) for c, d in commits if first(c.trailers, IMAGE)), None)
