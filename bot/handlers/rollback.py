"""``/rollback <env> [<target>]``: revert GitOps deploy commits of one app and environment.

The plan comes from the overlay's GitOps history (``bot.core.rollback``); the deployment
engine lands the revert per the environment's landing policy, sets the hold and hands it
to the watcher like any deployment. The watcher's automatic rollback uses the same pieces.
"""

from __future__ import annotations

from bot.adapters.git import CommitInfo
from bot.core.commands import Rollback, command_text
from bot.core.messages import reply_comment
from bot.core.policy import Facts, Refused, authorize, request_for
from bot.core.rollback import HistoryEntry, RollbackPlan, plan_rollback
from bot.core.trailers import DELIVERY, SOURCE_SHA, first
from bot.deploy.engine import Deployer
from bot.deploy.records import IN_FLIGHT, DeploymentStore, NewDeployment
from bot.handlers.commands import Call
from bot.services import Services
from bot.store import DEPLOYMENT_STATES
from generators.config import overlay_dir

HISTORY_LIMIT = 200  # deploy commits looked at; older ones are out of a rollback's reach


def overlay_commits(
    services: Services, records: DeploymentStore, app: str, env: str, limit: int = HISTORY_LIMIT
) -> list[tuple[CommitInfo, int | None]]:
    """The GitOps commits that touched ``app``'s overlay for ``env``, newest first, each with
    the bot's deployment id where it made them (by landed sha, else by delivery trailer)."""
    commits = services.gitops().history(overlay_dir(app, env), limit=limit)
    known = records.find(states=set(DEPLOYMENT_STATES), app=app, env=env)
    by_sha = {d.gitops_sha: d.id for d in known if d.gitops_sha}
    by_delivery = {d.delivery_id: d.id for d in known}
    found = []
    for commit in commits:
        delivery = first(commit.trailers, DELIVERY)
        found.append((commit, by_sha.get(commit.sha) or by_delivery.get(delivery or "")))
    return found


def overlay_history(
    services: Services, records: DeploymentStore, app: str, env: str
) -> list[HistoryEntry]:
    """``overlay_commits`` as rollback planning reads them."""
    return [
        HistoryEntry.from_message(commit.sha, commit.message, deployment_id)
        for commit, deployment_id in overlay_commits(services, records, app, env)
    ]


def rollback_deployment(
    plan: RollbackPlan,
    *,
    app: str,
    env: str,
    app_repo: str,
    requested_by: str,
    delivery_id: str,
    issue_number: int | None,
    command: str,
    automatic: bool = False,
) -> NewDeployment:
    """The deployment that lands ``plan``: a revert commit whose image is the target's.
    An ``automatic`` rollback does not wait for a person to merge a pull request."""
    return NewDeployment(
        kind="rollback",
        app=app,
        env=env,
        app_repo=app_repo,
        requested_by=requested_by,
        delivery_id=delivery_id,
        source_sha=first(plan.target.trailers, SOURCE_SHA),
        image=plan.target_image,
        issue_number=issue_number,
        details={
            "command": command,
            "revert": list(plan.commits_to_revert),
            "automatic": automatic,
        },
    )


def request_rollback(call: Call, command: Rollback) -> None:
    app = call.app()
    if app is None:
        return
    text = command_text(command)
    env = call.config.environment(command.env)
    request = request_for(command, repo=call.repo, actor=call.actor)
    facts = Facts(permission=call.services.github.permission(call.repo, call.actor))
    decision = authorize(request, env, facts)
    refused = decision.reason if isinstance(decision, Refused) else None
    call.audit(
        "decision",
        f"{text}: {'refused' if refused else 'allowed'}",
        app=app,
        env=command.env,
        reason=refused,
    )
    if refused is not None:
        call.refuse(text, refused, command.env)
        return
    records = DeploymentStore(call.ctx.store)
    history = overlay_history(call.services, records, app, command.env)
    plan = plan_rollback(history, app=app, env=command.env, target=command.target)
    if not isinstance(plan, RollbackPlan):
        call.answer(reply_comment(call.event.delivery_id, plan.text), f"replied: {plan.kind}")
        return
    pending = _same_rollback_in_flight(records, app, command.env, plan)
    if pending is not None:
        call.answer(
            reply_comment(
                call.event.delivery_id,
                f"Rollback {pending} already reverts the same commits in {command.env} and is "
                "not finished yet; it is followed there.",
            ),
            "replied: rollback already in flight",
        )
        return
    Deployer(call.ctx, call.services).request(
        rollback_deployment(
            plan,
            app=app,
            env=command.env,
            app_repo=call.repo,
            requested_by=call.actor,
            delivery_id=call.event.delivery_id,
            issue_number=call.number,
            command=text,
        )
    )


def _same_rollback_in_flight(
    records: DeploymentStore, app: str, env: str, plan: RollbackPlan
) -> str | None:
    """A rollback of the same commits that has not reached the default branch yet (its pull
    request awaits merge): planning again cannot see its revert, so say so instead."""
    waiting = IN_FLIGHT | {"queued", "waiting_for_build"}
    for deployment in records.find(states=waiting, app=app, env=env, kind="rollback"):
        if list(deployment.details.get("revert") or []) == list(plan.commits_to_revert):
            return deployment.label
    return None
