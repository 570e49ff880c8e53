"""Automatic rollback: an environment with ``auto_rollback: true`` reverts a failed
deployment's commit at once, as a rollback deployment followed like any other."""

from __future__ import annotations

import logging

from bot.core.errors import AutostackError
from bot.core.messages import EnvRow, Failure
from bot.core.rollback import RollbackPlan, plan_rollback
from bot.deploy import report
from bot.deploy.engine import Deployer
from bot.deploy.records import Deployment
from bot.handlers.rollback import overlay_history, rollback_deployment
from bot.watch.observe import Observation

log = logging.getLogger(__name__)
REQUESTED_BY = "autostack"


def roll_back_automatically(
    deployer: Deployer, failed: Deployment, failure: Failure, row: EnvRow, seen: Observation
) -> None:
    """Revert ``failed`` if its environment asks for it, and say so on its comment."""
    env = seen.config().environment(failed.env)
    if env is None or not env.auto_rollback or failed.kind == "rollback":
        return
    note = _start_rollback(deployer, failed, seen)
    current = deployer.records.get(failed.id) or failed
    services = deployer.services
    report.post_progress(services, current, seen.now, row=row, failure=failure, notes=(note,))


def _start_rollback(deployer: Deployer, failed: Deployment, seen: Observation) -> str:
    """Request the rollback; returns the sentence for the failed deployment's comment."""
    if failed.details.get("changed") is False:
        return "Not rolled back automatically: this deployment changed nothing in git."
    history = overlay_history(deployer.services, deployer.records, failed.app, failed.env)
    ours = next((entry for entry in history if entry.deployment_id == failed.id), None)
    plan = plan_rollback(history, app=failed.app, env=failed.env)
    if not isinstance(plan, RollbackPlan):
        return f"Not rolled back automatically: {plan.text}"
    if ours is None or ours.sha not in plan.commits_to_revert:
        return "Not rolled back automatically: a later change to the overlay is in effect."
    try:
        rollback = deployer.request(
            rollback_deployment(
                plan,
                app=failed.app,
                env=failed.env,
                app_repo=failed.app_repo,
                requested_by=REQUESTED_BY,
                delivery_id=f"auto-rollback-{failed.id}",
                issue_number=failed.issue_number,
                command=f"/rollback {failed.env} (automatic)",
                automatic=True,
            )
        )
    except AutostackError as exc:
        log.warning("automatic rollback of %s failed: %s", failed.label, exc)
        return f"The automatic rollback could not start: {exc.message}"
    return (
        f"{failed.env} has `auto_rollback` on, so {rollback.label} is rolling it back "
        f"to {plan.target.describe()}."
    )
