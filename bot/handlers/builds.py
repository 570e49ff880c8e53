"""Builds: when the app's ``AutoStack build`` workflow completes, deployments waiting for
that commit's image go on, and a successful build of the default branch deploys to every
environment whose policy says ``auto_deploy`` (merge-to-deploy)."""

from __future__ import annotations

from typing import Any

from bot.core.events import Event
from bot.deploy.engine import Deployer
from bot.deploy.landing import deployed_image
from bot.deploy.records import DeploymentStore, NewDeployment
from bot.handlers import services_of
from bot.ports import BUILD_WORKFLOW_NAME, BuildRun
from bot.router import HandlerContext, Router

router = Router()
WORKFLOW_FILE = ".github/workflows/autostack-build.yml"


@router.register("workflow_run", action="completed")
def on_build_completed(event: Event, ctx: HandlerContext) -> None:
    run: dict[str, Any] = event.payload.get("workflow_run") or {}
    services = services_of(ctx)
    if not _is_autostack_build(run) or event.repository in (None, services.gitops_repo):
        return
    repo = str(event.repository)
    build = BuildRun(
        id=int(run["id"]),
        head_sha=str(run["head_sha"]),
        status="completed",
        conclusion=run.get("conclusion"),
        html_url=str(run.get("html_url") or ""),
    )
    with services.gitops().one_fetch():  # one GitOps snapshot for the whole delivery
        Deployer(ctx, services).on_build(repo, build)
        default_branch = (event.payload.get("repository") or {}).get("default_branch")
        if (
            build.conclusion == "success"
            and run.get("event") == "push"
            and run.get("head_branch") == default_branch
        ):
            merge_to_deploy(event, ctx, repo, build)


def merge_to_deploy(event: Event, ctx: HandlerContext, repo: str, build: BuildRun) -> None:
    """Deploy the default branch's new image to every ``auto_deploy`` environment."""
    services = services_of(ctx)
    app = services.app_for_repo(repo)
    if app is None:
        return
    records = DeploymentStore(ctx.store)
    actor = ((event.payload.get("workflow_run") or {}).get("actor") or {}).get("login")
    for env in services.config().environments:
        if not env.auto_deploy:
            continue
        hold = records.held(app, env.name)
        if hold:
            ctx.audit.record(
                "decision",
                actor="autostack",
                summary=f"merge-to-deploy of {build.head_sha[:7]} skipped: {hold}",
                delivery_id=event.delivery_id,
                app=app,
                env=env.name,
            )
            continue
        repository, _ = deployed_image(services, app, env.name)
        Deployer(ctx, services).request(
            NewDeployment(
                kind="auto",
                app=app,
                env=env.name,
                app_repo=repo,
                requested_by=str(actor or "autostack"),
                delivery_id=event.delivery_id,
                source_sha=build.head_sha,
                image=f"{repository}:{build.head_sha}",
                details={"command": f"merge-to-deploy {env.name}", "build_url": build.html_url},
            )
        )


def _is_autostack_build(run: dict[str, Any]) -> bool:
    return run.get("name") == BUILD_WORKFLOW_NAME or str(run.get("path", "")).endswith(
        WORKFLOW_FILE
    )
