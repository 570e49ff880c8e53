"""``Watcher``: one pass follows every deployment in ``syncing``, times out expired locks
and, less often, checks drift. ``start_watcher`` runs passes on an APScheduler interval
job, woken early by Argo CD's watch stream, on the one replica that holds the leader lock.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler

from bot.adapters.argocd import BreakerState
from bot.deploy.engine import Deployer
from bot.router import HandlerContext
from bot.services import Services
from bot.watch.drift import DriftWatch
from bot.watch.following import Follower
from bot.watch.leader import Leadership
from bot.watch.observe import ArgoDown, Observation, gitops_graph
from bot.watch.refresh import Refresher
from bot.watch.stream import StreamWaker

log = logging.getLogger(__name__)
DRIFT_THRESHOLD = timedelta(minutes=10)
VERDICT_MARGIN = 0.05  # seconds


class Watcher:
    """All state lives in the database; the instance only remembers what saves calls."""

    def __init__(
        self,
        ctx: HandlerContext,
        services: Services,
        *,
        interval: float = 2.0,
        settle_seconds: float = 5.0,
        drift_threshold: timedelta = DRIFT_THRESHOLD,
        drift_every: float = 30.0,
        refresh_every: float = 10.0,
    ):
        self.ctx = ctx
        self.services = services
        self.interval = interval
        self.deployer = Deployer(ctx, services)
        self.leader = Leadership(ctx.store)
        # Refreshes run on the refresher's threads, so no pass waits for Argo CD to compare.
        self.refresher = Refresher(services.argocd)
        self.follower = Follower(
            self.deployer,
            settle_seconds=settle_seconds,
            refresh_every=refresh_every,
            refresher=self.refresher,
        )
        self.drift = DriftWatch(ctx.store, services.github, drift_threshold)
        self.drift_every = timedelta(seconds=drift_every)
        self.graph = gitops_graph(services)
        self.argo_down = False
        self._last_drift: datetime | None = None
        self.busy = False  # a scheduled pass is running
        self.again = False  # woken during that pass
        self._lock = threading.Lock()

    def tick(self) -> None:
        """One pass; a replica that does not lead does nothing."""
        with self._lock:
            if not self.leader.acquire():
                return
            now = self.ctx.clock.now()
            self.deployer.report_unfinished()
            self._expire_locks(now)
            if self.services.argocd is None:
                return
            seen = Observation(self.services, now, self.graph)
            try:
                self.follower.follow(seen)
                if self._last_drift is None or now - self._last_drift >= self.drift_every:
                    self.drift.check(seen)
                    self._last_drift = now
            except ArgoDown as down:
                self._argo_failed(down)
                return
            if self.argo_down:
                log.info("Argo CD answers again; following resumes")
                self.argo_down = False

    def tick_safely(self) -> None:
        """``tick`` for the scheduler: a failing pass is logged and the next one runs; a
        wake-up that came during the pass runs another one right after it."""
        self.busy = True
        try:
            while True:
                self.again = False
                try:
                    self.tick()
                except Exception:
                    log.exception("watcher pass failed")
                if not self.again:
                    return
        finally:
            self.busy = False

    def seconds_to_verdict(self) -> float | None:
        """How long until a deployment's Healthy streak has settled, when one is settling:
        the pass that declares it succeeded is due then, whatever the interval says."""
        settled = self.follower.settled_at
        if settled is None:
            return None
        return max(0.0, (settled - self.ctx.clock.now()).total_seconds())

    def close(self) -> None:
        with self._lock:
            self.refresher.close()
            self.follower.close()
            self.leader.release()

    def _argo_failed(self, down: ArgoDown) -> None:
        # Logged once per outage: the breaker already says so on /readyz and /metrics.
        if not self.argo_down:
            log.warning("Argo CD is unavailable; deployments stay as they are: %s", down)
        self.argo_down = True

    def _expire_locks(self, now: datetime) -> None:
        """A lock held past its time: its deployment timed out; the next in line goes on."""
        for handover in self.ctx.locks.expire(now):
            released = self.deployer.records.get(_id(handover.released))
            if released is not None and not released.done:
                self.deployer.finish(released, "timed_out", "its environment lock expired")
            elif handover.next_holder:
                self.deployer.advance(_id(handover.next_holder))


def _id(ticket: str) -> int:
    digits = ticket.removeprefix("d-")
    return int(digits) if digits.isdigit() else -1


def start_watcher(ctx: HandlerContext, *, stream: bool = True) -> Callable[[], None]:
    """Start following in the background; returns how to stop it (the app's lifespan).
    ``stream=False`` leaves Argo CD's watch stream closed: passes run on the interval only
    (the fallback the stream's outages fall back to, measured as a baseline in bench/)."""
    from bot.handlers import services_of

    services = services_of(ctx)
    watcher = Watcher(
        ctx,
        services,
        interval=ctx.settings.watch_interval_seconds,
        settle_seconds=ctx.settings.health_settle_seconds,
    )
    argocd = services.argocd
    if argocd is not None:
        ctx.metrics.argocd_breaker_open.set_function(
            lambda: 1.0 if argocd.state is BreakerState.OPEN else 0.0
        )
    # A pass longer than the interval makes APScheduler skip a run and warn each time;
    # skipping is what we want (coalesce), the warning is noise.
    logging.getLogger("apscheduler.scheduler").setLevel(logging.ERROR)
    scheduler = BackgroundScheduler(timezone=UTC)

    def run_pass() -> None:
        watcher.tick_safely()
        wait = watcher.seconds_to_verdict()
        if wait is not None:
            # A little after the streak settles, so the pass finds it settled.
            at = datetime.now(UTC) + timedelta(seconds=wait + VERDICT_MARGIN)
            next_run = job.next_run_time
            if next_run is None or at < next_run:
                job.modify(next_run_time=at)

    job = scheduler.add_job(
        run_pass,
        "interval",
        seconds=watcher.interval,
        id="argocd-watcher",
        max_instances=1,
        coalesce=True,
        next_run_time=datetime.now(UTC),
    )
    scheduler.start()

    def wake() -> None:
        if watcher.busy:
            watcher.again = True
        else:
            job.modify(next_run_time=datetime.now(UTC))

    waker = StreamWaker(argocd, wake)
    if argocd is not None and stream:
        waker.start()

    def stop() -> None:
        waker.stop()
        scheduler.shutdown(wait=True)
        watcher.close()

    return stop
