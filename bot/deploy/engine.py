"""The deployment engine: takes a requested deployment through the environment's lock
queue, the build it needs, and the GitOps change, up to the point where Argo CD takes over
(state ``syncing``); ``finish`` ends it and hands the lock to the next in line.

Every step re-reads the deployment and is safe to repeat: a delivery retried after a crash
finds the row it created, a landed commit is not made twice (the edit is a no-op), and a
lock asked for again answers the same position.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from bot.core.errors import UserError
from bot.core.messages import EnvRow, Failure
from bot.core.trailers import deploy_message, rollback_message
from bot.deploy import report
from bot.deploy.landing import Landed, deployed_image, land_image, land_revert, landing_for
from bot.deploy.records import Deployment, DeploymentStore, NewDeployment
from bot.ports import BuildRun
from bot.router import HandlerContext
from bot.services import Services
from generators.config import Environment

log = logging.getLogger(__name__)
LOCK_GRACE = timedelta(hours=1)  # a build may take a while; the deploy timeout starts later
EXPLICIT = frozenset({"deploy", "promote"})


class Deployer:
    """One per handler call; all state lives in the database."""

    def __init__(self, ctx: HandlerContext, services: Services):
        self.ctx = ctx
        self.services = services
        self.records = DeploymentStore(ctx.store)
        self._shown: dict[int, str] = {}  # deployment id -> the state this call has posted

    def now(self) -> datetime:
        return self.ctx.clock.now()

    # -- entry points ------------------------------------------------------------------------

    def request(self, new: NewDeployment) -> Deployment:
        """Record ``new`` (once per delivery) and take it as far as it can go now."""
        deployment = self.records.create(new, state="queued", now=self.now())
        if new.kind in EXPLICIT and self.records.release_hold(new.app, new.env):
            self._audit(deployment, "hold released by an explicit deployment")
        self.advance(deployment.id)
        current = self.records.get(deployment.id) or deployment
        if self._shown.get(current.id) != current.state:
            # A retried delivery finds the state an earlier attempt stored, and may find its
            # comment missing (posting it is what failed): show the state now.
            self._show_stored(current)
        return current

    def advance(self, deployment_id: int, build: BuildRun | None = None) -> None:
        deployment = self.records.get(deployment_id)
        if deployment is None or deployment.done:
            return
        env = self.services.config().environment(deployment.env)
        if env is None:
            self.finish(deployment, "failed", f"environment {deployment.env} no longer exists")
            return
        if deployment.state in ("queued", "waiting_for_build"):
            ready = self._take_lock_and_build(deployment, env, build)
            if ready is None:
                return
            deployment = ready
        if deployment.state == "committing":
            self._land(deployment, env)

    def on_build(self, app_repo: str, build: BuildRun) -> None:
        """A build of ``build.head_sha`` completed: the deployments waiting for it go on."""
        waiting = self.records.find(
            states={"waiting_for_build", "queued"}, app_repo=app_repo, source_sha=build.head_sha
        )
        for deployment in waiting:
            if deployment.image is None:
                self.advance(deployment.id, build)

    def on_gitops_pr_closed(self, number: int, merged: bool, merge_sha: str | None) -> None:
        for deployment in self.records.find(states={"awaiting_merge"}, gitops_pr=number):
            if merged and merge_sha:
                url = deployment.details.get("change_url")
                self._syncing(deployment, Landed(merge_sha, number, url))
            else:
                self.finish(
                    deployment, "failed", "the GitOps pull request was closed without merging"
                )

    def finish(
        self,
        deployment: Deployment,
        state: str,
        summary: str,
        *,
        failure: Failure | None = None,
        row: EnvRow | None = None,
        environment_url: str | None = None,
        advance_next: bool = True,
    ) -> str | None:
        """End ``deployment`` in ``state``, report it, and hand its lock on; returns the
        ticket that holds the lock next.

        The verdict and a report due are saved together before anything is sent, and the
        report is marked done after: a process killed in between leaves a report due, which
        ``report_unfinished`` (the watcher's every pass) completes once."""
        deployment = self.records.update(
            deployment.id,
            self.now(),
            state=state,
            message=summary,
            details={"report_due": {"environment_url": environment_url}},
        )
        if failure is None and state == "failed":
            failure = Failure(reason=summary)  # the comment says why, not just "failed"
        self._audit(deployment, f"{deployment.label} {state.replace('_', ' ')}: {summary}")
        return self._report_finished(
            deployment, row=row, failure=failure, advance_next=advance_next, recovering=False
        )

    def report_unfinished(self) -> int:
        """Complete the reports of finished deployments whose process died while reporting;
        returns how many there were."""
        unfinished = [d for d in self.records.recently_finished() if d.details.get("report_due")]
        for deployment in unfinished:
            log.info("%s: completing its report, cut short before", deployment.label)
            failed = deployment.state == "failed"
            failure = Failure(reason=deployment.message or "") if failed else None
            self._report_finished(deployment, row=None, failure=failure, recovering=True)
        return len(unfinished)

    def _report_finished(
        self,
        deployment: Deployment,
        *,
        row: EnvRow | None,
        failure: Failure | None,
        recovering: bool,
        advance_next: bool = True,
    ) -> str | None:
        due = deployment.details.get("report_due") or {}
        summary = deployment.message or deployment.state
        report.finish_on_github(
            self.services,
            deployment,
            summary,
            due.get("environment_url"),
            recovering=recovering,
        )
        self._show(deployment, row=row, failure=failure)
        following = self.ctx.locks.release(deployment.lock_key, deployment.label, now=self.now())
        self.records.update(deployment.id, self.now(), details={"report_due": None})
        if advance_next and following and following != deployment.label:
            self.advance(_id(following))
        return following

    # -- steps -------------------------------------------------------------------------------

    def _take_lock_and_build(
        self, deployment: Deployment, env: Environment, build: BuildRun | None
    ) -> Deployment | None:
        self._supersede_unmerged(deployment)
        ttl = timedelta(minutes=env.timeout_minutes) + LOCK_GRACE
        position = self.ctx.locks.acquire_or_enqueue(
            deployment.lock_key, deployment.label, now=self.now(), ttl=ttl
        )
        if position > 0:
            self._queued(deployment)
            return None
        if deployment.image is None:
            build = build or self.services.github.build_run(
                deployment.app_repo, deployment.source_sha or ""
            )
            if build is None or build.status != "completed":
                if deployment.state != "waiting_for_build":
                    deployment = self.records.update(
                        deployment.id,
                        self.now(),
                        state="waiting_for_build",
                        details={"build_url": build.html_url if build else None},
                    )
                    self._show(deployment)
                return None
            if build.conclusion != "success":
                sha = (deployment.source_sha or "")[:7]
                self.finish(deployment, "failed", f"the build of {sha} ended: {build.conclusion}")
                return None
            repository, _ = deployed_image(self.services, deployment.app, deployment.env)
            deployment = self.records.update(
                deployment.id,
                self.now(),
                image=f"{repository}:{deployment.source_sha}",
                details={"build_url": build.html_url},
            )
        return self.records.update(deployment.id, self.now(), state="committing")

    def _queued(self, deployment: Deployment) -> None:
        holder_ticket = self.ctx.locks.holder(deployment.lock_key)
        holder = self.records.get(_id(holder_ticket)) if holder_ticket else None
        behind = holder.issue_number if holder else None
        if deployment.state == "queued" and deployment.details.get("queued_behind") == behind:
            return
        deployment = self.records.update(
            deployment.id, self.now(), state="queued", details={"queued_behind": behind}
        )
        self._show(deployment, queued_behind=behind)

    def _supersede_unmerged(self, deployment: Deployment) -> None:
        """A deployment whose GitOps pull request is still open is replaced by a newer one
        for the same app and environment: the newer one updates the same pull request."""
        holder_ticket = self.ctx.locks.holder(deployment.lock_key)
        if not holder_ticket or holder_ticket == deployment.label:
            return
        holder = self.records.get(_id(holder_ticket))
        if holder is not None and holder.state == "awaiting_merge":
            following = self.finish(
                holder,
                "superseded",
                f"replaced by {deployment.label} before its pull request was merged",
                advance_next=False,
            )
            if following and following != deployment.label:
                self.advance(_id(following))

    def _land(self, deployment: Deployment, env: Environment) -> None:
        try:
            landed = self._change(deployment, env)
        except UserError as exc:
            self.finish(deployment, "failed", str(exc))
            raise
        self._audit(
            deployment,
            f"{deployment.label} landed ({landing_for(env, deployment)}): "
            f"{landed.change_url or 'no change'}",
            after=deployment.image,
        )
        if landed.gitops_sha is None:
            deployment = self.records.update(
                deployment.id,
                self.now(),
                state="awaiting_merge",
                gitops_pr=landed.pr_number,
                details={"change_url": landed.change_url},
            )
            self._show(deployment)
            return
        self._syncing(deployment, landed)

    def _change(self, deployment: Deployment, env: Environment) -> Landed:
        if deployment.kind == "rollback":
            shas = list(deployment.details.get("revert") or [])
            message = rollback_message(
                app=deployment.app,
                env=deployment.env,
                reverted=shas,
                target_image=deployment.image or "",
                requested_by=deployment.requested_by,
                delivery=deployment.delivery_id,
                source_repo=deployment.app_repo,
                source_sha=deployment.source_sha,
            )
            return land_revert(self.services, env, deployment, shas, message)
        message = deploy_message(
            app=deployment.app,
            env=deployment.env,
            image=deployment.image or "",
            source_repo=deployment.app_repo,
            source_sha=deployment.source_sha or "",
            requested_by=deployment.requested_by,
            delivery=deployment.delivery_id,
        )
        return land_image(self.services, env, deployment, deployment.image or "", message)

    def _syncing(self, deployment: Deployment, landed: Landed) -> None:
        config = self.services.config()
        env = config.environment(deployment.env)
        timeout = timedelta(minutes=env.timeout_minutes if env else 10)
        report.start_on_github(
            self.services,
            deployment,
            lambda **ids: self.records.update(deployment.id, self.now(), **ids),
        )
        deployment = self.records.update(
            deployment.id,
            self.now(),
            state="syncing",
            gitops_sha=landed.gitops_sha,
            gitops_pr=landed.pr_number,
            deadline=self.now() + timeout,
            details={"change_url": landed.change_url, "changed": landed.changed},
        )
        if deployment.kind == "rollback":
            self.records.hold(
                deployment.app,
                deployment.env,
                reason=f"rolled back by {deployment.label}",
                by=deployment.requested_by,
                now=self.now(),
            )
        self._show(deployment)

    def _show(
        self,
        deployment: Deployment,
        *,
        row: EnvRow | None = None,
        failure: Failure | None = None,
        queued_behind: int | None = None,
    ) -> None:
        report.post_progress(
            self.services,
            deployment,
            self.now(),
            row=row,
            failure=failure,
            queued_behind=queued_behind,
        )
        self._shown[deployment.id] = deployment.state

    def _show_stored(self, deployment: Deployment) -> None:
        """The comment for ``deployment`` as stored, from what the database kept of it."""
        failed = deployment.state == "failed" and deployment.message
        self._show(
            deployment,
            failure=Failure(deployment.message or "") if failed else None,
            queued_behind=deployment.details.get("queued_behind"),
        )

    def _audit(self, deployment: Deployment, summary: str, after: str | None = None) -> None:
        self.ctx.audit.record(
            "action",
            actor=deployment.requested_by,
            summary=summary,
            delivery_id=deployment.delivery_id,
            app=deployment.app,
            env=deployment.env,
            after=after,
            deployment=deployment.label,
        )


def _id(ticket: str) -> int:
    return int(ticket.removeprefix("d-"))
