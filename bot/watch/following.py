"""Following deployments in ``syncing`` to a verdict, reporting on GitHub as they go.

Per pass: one Argo CD list call for every deployment in flight and one database query for
the newest landing of each; then every deployment is evaluated, and what there is to
report runs for a few deployments at once, verdicts first. ``refresh=normal`` requests go
to the ``Refresher``, which makes them on its own threads so that no pass waits for one:
one for a deployment seen for the first time (so Argo CD compares with git now rather than
at its next poll; none when Argo CD has already compared with its commit, so a restarted
watcher refreshes only what Argo CD has not seen), and, a few a pass, for one whose health
on show predates its sync. The PR comment is rewritten only when Argo CD's sync, health or
revision changed, so GitHub calls follow state changes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from bot.core.argo import AppStatus
from bot.core.follow import (
    Evaluation,
    Failed,
    Followed,
    InProgress,
    Succeeded,
    Superseded,
    TimedOut,
    Verdict,
    evaluate,
)
from bot.core.messages import EnvRow
from bot.deploy import report
from bot.deploy.engine import Deployer
from bot.deploy.records import Deployment
from bot.watch.autorollback import roll_back_automatically
from bot.watch.failure import gather_failure
from bot.watch.observe import ArgoDown, Observation
from bot.watch.refresh import Refresher
from generators.config import application_name, overlay_dir

log = logging.getLogger(__name__)
DEFAULT_TIMEOUT = timedelta(minutes=10)
# Deployments reported on at once. GitHub asks integrations to keep concurrent requests
# few (its secondary rate limits); four overlap the round trips of a pass's reports.
DEFAULT_REPORTERS = 4
Report = Callable[[], None]


class Follower:
    """Keeps only what saves Argo CD calls in memory; everything else is in the database,
    so a new ``Follower`` (after a restart, or on another replica) picks up where it was."""

    def __init__(
        self,
        deployer: Deployer,
        *,
        settle_seconds: float,
        refresh_every: float,
        refresher: Refresher | None = None,
        stale_refreshes_per_pass: int = 2,
        reporters: int = DEFAULT_REPORTERS,
    ):
        self.deployer = deployer
        self.reporters = reporters
        self._pool: ThreadPoolExecutor | None = None
        self.services = deployer.services
        self.records = deployer.records
        self.refresher = refresher or Refresher(self.services.argocd)
        # Refreshing for stale health is a fallback (Argo CD reconciles after a sync by
        # itself); capped per pass so Argo CD calls do not grow with deployments in flight.
        self.stale_refreshes_per_pass = stale_refreshes_per_pass
        self._stale_refreshes = 0
        self.settle_seconds = settle_seconds
        self.refresh_every = timedelta(seconds=refresh_every)
        # Deployment id -> when a refresh=normal for it was last asked for.
        self._refreshed: dict[int, datetime] = {}
        # (app, env) -> its newest landed GitOps commit, read once a pass.
        self._newest: dict[tuple[str, str], str] = {}
        # When the earliest Healthy streak of the last pass has lasted ``settle_seconds``:
        # nothing in Argo CD changes then, so no stream event would wake a pass for it.
        self.settled_at: datetime | None = None

    def follow(self, seen: Observation) -> None:
        """One pass over every deployment in ``syncing``; no Argo CD call when there is none."""
        self.settled_at = None
        syncing = self.records.find(states={"syncing"})
        if not syncing:
            self._refreshed.clear()
            return
        # Taken before the list call: a refresh still waiting or running then may finish
        # after it, so what the list shows can predate it.
        refreshing = self.refresher.pending()
        live = seen.applications()
        self._stale_refreshes = 0
        self._note_refreshes(syncing, refreshing, seen.now)
        self._newest = self._newest_landed(syncing)
        verdicts: list[Report] = []
        progress: list[Report] = []
        # The GitOps reads of the evaluations (the config, the commit graph, overlay
        # history) share one fetch, made after the list call: it holds every revision
        # Argo CD named in it.
        with self.services.gitops().one_fetch():
            for deployment in syncing:
                status = live.get(_name(deployment))
                if self._first_sight(deployment, status, seen):
                    self._refresh(deployment, seen.now)
                self._one(deployment, status, seen, verdicts, progress)
        current = {d.id for d in syncing}
        self._refreshed = {k: v for k, v in self._refreshed.items() if k in current}
        # Verdicts first: they are what people wait for; progress edits follow.
        self._report(verdicts + progress)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def _report(self, reports: list[Report]) -> None:
        """Run what the pass has to report (GitHub calls; for a failure also Argo CD's
        details, and after a verdict the next deployment in line) for up to ``reporters``
        deployments at once, so that one deployment's round trips do not wait for every
        other's. The pass ends when all have run; one failing does not stop the rest, and
        the first error (Argo CD being down before any other) is raised afterwards."""
        errors: list[BaseException] = []
        if self.reporters <= 1 or len(reports) <= 1:
            for run in reports:
                try:
                    run()
                except Exception as exc:
                    errors.append(exc)
        else:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.reporters, thread_name_prefix="report")
            futures = [self._pool.submit(run) for run in reports]
            errors = [e for e in (f.exception() for f in futures) if e is not None]
        if not errors:
            return
        errors.sort(key=lambda e: not isinstance(e, ArgoDown))
        for other in errors[1:]:
            log.error("reporting a deployment failed", exc_info=other)
        raise errors[0]

    # -- one deployment ----------------------------------------------------------------------

    def _one(
        self,
        deployment: Deployment,
        status: AppStatus | None,
        seen: Observation,
        verdicts: list[Report],
        progress: list[Report],
    ) -> None:
        """Evaluate ``deployment``; what there is to report is added to ``verdicts`` or
        ``progress``, to run after every deployment has been evaluated."""
        if status is None:
            missing = self._missing(deployment, seen)
            if missing is not None:
                verdicts.append(missing)
            return
        result = self._evaluate(deployment, status, seen)
        verdict = result.verdict
        stale = isinstance(verdict, InProgress) and _waiting_on_argo(verdict, status)
        if stale and self._due(deployment, seen):
            # Argo CD's answer shows in a later pass, as a first refresh's does.
            self._stale_refreshes += 1
            self._refresh(deployment, seen.now)
        row = EnvRow(
            deployment.env,
            image=deployment.image,
            sync=status.sync_status or None,
            health=status.health_status or None,
            revision=status.sync_revision or None,
            elapsed=seen.now - deployment.created_at,
        )
        if isinstance(verdict, InProgress):
            self._note_settling(result.followed)
            edit = self._progress(deployment, row, result.followed, seen.now)
            if edit is not None:
                progress.append(edit)
            return
        if isinstance(verdict, Succeeded) and verdict.revision != deployment.gitops_sha:
            newer = self._overlay_changed(deployment, verdict.revision, seen)
            if newer is not None:
                verdict = Superseded(newer)
        final: Verdict = verdict
        verdicts.append(lambda: self._conclude(deployment, status, row, final, seen))

    def _evaluate(self, deployment: Deployment, status: AppStatus, seen: Observation) -> Evaluation:
        return evaluate(
            self._followed(deployment, seen),
            status,
            seen.now,
            is_descendant=seen.is_descendant,
            settle_seconds=self.settle_seconds,
            latest_gitops_sha=self._latest_gitops_sha(deployment),
        )

    def _conclude(
        self,
        deployment: Deployment,
        status: AppStatus,
        row: EnvRow,
        verdict: Verdict,
        seen: Observation,
    ) -> None:
        if isinstance(verdict, Succeeded):
            url = self._environment_url(deployment, status, seen)
            summary = f"Argo CD synced {verdict.revision[:7]} and the app is healthy"
            self.deployer.finish(deployment, "succeeded", summary, row=row, environment_url=url)
        elif isinstance(verdict, Failed):
            failure = gather_failure(self.services.argocd, _name(deployment), verdict)
            self.deployer.finish(deployment, "failed", failure.reason, failure=failure, row=row)
            roll_back_automatically(self.deployer, deployment, failure, row, seen)
        elif isinstance(verdict, Superseded):
            summary = f"{verdict.by_revision[:7]} changed the overlay after it landed"
            self.deployer.finish(deployment, "superseded", summary, row=row)
        elif isinstance(verdict, TimedOut):
            summary = f"not synced and healthy in time; it was {verdict.phase}"
            self.deployer.finish(deployment, "timed_out", summary, row=row)

    def _progress(
        self, deployment: Deployment, row: EnvRow, followed: Followed, now: datetime
    ) -> Report | None:
        """Store the Healthy streak, and rewrite the comment only when Argo CD's view
        changed; nothing to run when neither did."""
        shown = [row.sync, row.health, row.revision]
        healthy_since = followed.first_healthy_at.isoformat() if followed.first_healthy_at else None
        details = deployment.details
        if details.get("row") == shown and details.get("first_healthy_at") == healthy_since:
            return None

        def run() -> None:
            updated = self.records.update(
                deployment.id, now, details={"row": shown, "first_healthy_at": healthy_since}
            )
            if details.get("row") != shown:
                report.post_progress(self.services, updated, now, row=row)

        return run

    def _note_settling(self, followed: Followed) -> None:
        if followed.first_healthy_at is None:
            return
        settled = followed.first_healthy_at + timedelta(seconds=self.settle_seconds)
        if self.settled_at is None or settled < self.settled_at:
            self.settled_at = settled

    def _missing(self, deployment: Deployment, seen: Observation) -> Report | None:
        """No Application for the deployment: wait (app-of-apps may create it) until the
        deadline, then say what was missing."""
        if deployment.deadline is None or seen.now < deployment.deadline:
            return None
        summary = f"Argo CD has no Application {_name(deployment)}"

        def run() -> None:
            self.deployer.finish(deployment, "timed_out", summary)

        return run

    # -- inputs to evaluate ------------------------------------------------------------------

    def _followed(self, deployment: Deployment, seen: Observation) -> Followed:
        env = seen.config().environment(deployment.env)
        timeout = timedelta(minutes=env.timeout_minutes) if env else DEFAULT_TIMEOUT
        deadline = deployment.deadline or deployment.created_at + timeout
        healthy = deployment.details.get("first_healthy_at")
        return Followed(
            app=deployment.app,
            env=deployment.env,
            gitops_sha=deployment.gitops_sha or "",
            # The engine sets the deadline when the commit lands, timeout minutes ahead.
            started_at=deadline - timeout,
            deadline=deadline,
            first_healthy_at=datetime.fromisoformat(healthy) if healthy else None,
        )

    def _latest_gitops_sha(self, deployment: Deployment) -> str | None:
        return self._newest.get((deployment.app, deployment.env))

    def _newest_landed(self, syncing: list[Deployment]) -> dict[tuple[str, str], str]:
        """The newest landed commit of each app and environment in flight, from one query
        a pass (not one per deployment). Later landings have later deadlines (the same
        timeout, counted from landing), so only deployments whose deadline is no earlier
        than the earliest in flight can be newer than one in flight."""
        deadlines = [d.deadline for d in syncing]
        since = None
        if deadlines and all(deadline is not None for deadline in deadlines):
            since = min(d for d in deadlines if d is not None)
        return self.records.newest_landed({(d.app, d.env) for d in syncing}, since)

    def _overlay_changed(
        self, deployment: Deployment, revision: str, seen: Observation
    ) -> str | None:
        """The commit that changed the overlay after ours, when Argo CD synced a revision
        that contains one: someone else's deployment superseded ours."""
        path = overlay_dir(deployment.app, deployment.env)
        newest = self.services.gitops().history(path, ref=revision, limit=1)
        if not newest or seen.is_descendant(deployment.gitops_sha or "", newest[0].sha):
            return None
        return newest[0].sha

    def _environment_url(
        self, deployment: Deployment, status: AppStatus, seen: Observation
    ) -> str | None:
        host = seen.config().ingress_host(deployment.app, deployment.env)
        if host:
            return f"https://{host}"
        return status.external_urls[0] if status.external_urls else None

    # -- refreshes ---------------------------------------------------------------------------

    def _first_sight(
        self, deployment: Deployment, status: AppStatus | None, seen: Observation
    ) -> bool:
        """Whether to refresh a deployment not refreshed yet: not when Argo CD has already
        compared with a revision that contains its commit."""
        if deployment.id in self._refreshed:
            return False
        revision = status.sync_revision if status is not None else ""
        if revision and seen.is_descendant(revision, deployment.gitops_sha or ""):
            self._refreshed[deployment.id] = seen.now  # nothing a refresh would add
            return False
        return True

    def _due(self, deployment: Deployment, seen: Observation) -> bool:
        if self._stale_refreshes >= self.stale_refreshes_per_pass:
            return False
        last = self._refreshed.get(deployment.id)
        return last is None or seen.now - last >= self.refresh_every

    def _refresh(self, deployment: Deployment, now: datetime) -> None:
        """Hand a ``refresh=normal`` to the refresher (no second one while one is waiting)."""
        self._refreshed[deployment.id] = now
        self.refresher.request(_name(deployment))

    def _note_refreshes(
        self, syncing: list[Deployment], refreshing: frozenset[str], now: datetime
    ) -> None:
        """A refresh still waiting or running counts as made now, so ``refresh_every`` runs
        from its answer rather than from when it was asked for; one that failed transiently
        counts as not made, so the rules above ask again."""
        failed = self.refresher.take_failed()
        for deployment in syncing:
            name = _name(deployment)
            if name in failed:
                self._refreshed.pop(deployment.id, None)
            elif name in refreshing and deployment.id in self._refreshed:
                self._refreshed[deployment.id] = now


def _waiting_on_argo(verdict: InProgress, status: AppStatus) -> bool:
    """Argo CD shows a health from before the sync, or is OutOfSync with nothing running:
    either way a comparison with git now (``refresh=normal``) moves things on sooner than
    its next poll would."""
    idle = not status.operation_pending and status.operation_phase != "Running"
    return verdict.needs_refresh or (idle and status.sync_status == "OutOfSync")


def _name(deployment: Deployment) -> str:
    return application_name(deployment.app, deployment.env)
