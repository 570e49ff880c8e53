"""GitOps pull requests: when a deployment's pull request on the GitOps repository is
merged the deployment starts syncing; closed unmerged, it has failed."""

from __future__ import annotations

from bot.core.events import Event
from bot.deploy.engine import Deployer
from bot.handlers import services_of
from bot.router import HandlerContext, Router

router = Router()


@router.register("pull_request", action="closed")
def on_gitops_pr_closed(event: Event, ctx: HandlerContext) -> None:
    services = services_of(ctx)
    if event.repository != services.gitops_repo:
        return
    pr = event.payload.get("pull_request") or {}
    Deployer(ctx, services).on_gitops_pr_closed(
        int(pr["number"]), bool(pr.get("merged")), pr.get("merge_commit_sha")
    )
