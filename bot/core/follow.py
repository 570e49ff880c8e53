"""Following a deployment: decide from one Argo CD observation whether it is done, and how.

Pure: ``evaluate`` takes the deployment being followed, the Application's status and the
time, and returns a verdict plus the updated ``Followed`` value the caller stores; ``drift``
decides about the one drift issue per Application. The watcher does the I/O.

The settle time (``settle_seconds``) guards against a Healthy shown right after a sync that
flips to Progressing once the rollout starts. A Healthy that Argo CD judged (``reconciledAt``)
at least the settle time after the sync finished is past that window and final at once; one
judged earlier must hold for a streak of the settle time, counted from when it was first seen.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from bot.core.argo import AppStatus
from bot.core.plans import Event

# Conditions that mean Argo CD cannot render or apply what the commit asks for.
FAILING_CONDITIONS = frozenset({"ComparisonError", "InvalidSpecError", "SyncError"})
FAILED_PHASES = frozenset({"Failed", "Error"})

IsDescendant = Callable[[str, str], bool]


@dataclass(frozen=True)
class Followed:
    """A deployment (one GitOps commit for an app and environment) while it is followed."""

    app: str
    env: str
    gitops_sha: str
    started_at: datetime  # when the commit landed; older observations say nothing about it
    deadline: datetime
    # Start of the current Healthy streak; only a Healthy judged within the settle time after
    # the sync needs one.
    first_healthy_at: datetime | None = None

    @property
    def application(self) -> str:
        """The Argo CD Application's name, ``<app>-<env>`` by the layout contract."""
        return f"{self.app}-{self.env}"


@dataclass(frozen=True)
class InProgress:
    phase: str  # what is happening now, for the PR comment
    # Synced and Healthy or Degraded, but judged before the sync finished: asking for a refresh
    # (``refresh="normal"``) gets a fresh judgement now instead of at its next reconcile.
    needs_refresh: bool = False


@dataclass(frozen=True)
class Succeeded:
    revision: str  # the revision Argo CD synced: ours, or a descendant of it


class FailureReason(StrEnum):
    SYNC_FAILED = "sync_failed"
    DEGRADED = "degraded"
    CONDITION = "condition"  # ComparisonError, InvalidSpecError or SyncError


@dataclass(frozen=True)
class Failed:
    reason: FailureReason
    details: tuple[str, ...]  # Argo CD's own messages, most telling first


@dataclass(frozen=True)
class Superseded:
    by_revision: str


@dataclass(frozen=True)
class TimedOut:
    phase: str  # where it was stuck when time ran out


Verdict = InProgress | Succeeded | Failed | Superseded | TimedOut

_EVENTS: dict[type, Event] = {
    Succeeded: Event.HEALTHY,
    Failed: Event.DEGRADED,
    Superseded: Event.NEWER_LANDED,
    TimedOut: Event.DEADLINE_PASSED,
}


@dataclass(frozen=True)
class Evaluation:
    verdict: Verdict
    followed: Followed  # store this: it carries the Healthy streak to the next observation

    @property
    def event(self) -> Event | None:
        """The state-machine event for ``bot.core.plans``; None while still in progress."""
        return _EVENTS.get(type(self.verdict))


def evaluate(
    deployment: Followed,
    status: AppStatus,
    now: datetime,
    *,
    is_descendant: IsDescendant,
    settle_seconds: float,
    latest_gitops_sha: str | None = None,
) -> Evaluation:
    """Where ``deployment`` stands given ``status``, observed at ``now``.

    ``is_descendant(revision, ancestor)`` says whether ``revision`` has ``ancestor`` in its
    history; ``latest_gitops_sha`` is the newest deployment commit for the same app and
    environment, when the caller knows one. A fresh Healthy succeeds at once when Argo CD
    judged it ``settle_seconds`` or more after the sync finished, and otherwise once it has
    been seen Healthy for ``settle_seconds`` in a row.
    """
    if latest_gitops_sha and latest_gitops_sha != deployment.gitops_sha:
        return Evaluation(Superseded(latest_gitops_sha), deployment)
    ours = _ours(deployment.gitops_sha, is_descendant)
    failure = _failure(deployment, status, ours)
    if failure is not None:
        return Evaluation(failure, replace(deployment, first_healthy_at=None))
    revision = _synced_revision(status, ours)
    if revision is None or not _healthy_and_fresh(deployment, status):
        phase = _phase(deployment, status, revision)
        followed = replace(deployment, first_healthy_at=None)
        stale = _settled_looking(status) and not _fresh(deployment, status)
        verdict: Verdict = (
            TimedOut(phase) if now >= deployment.deadline else InProgress(phase, stale)
        )
        return Evaluation(verdict, followed)
    first = deployment.first_healthy_at or now
    followed = replace(deployment, first_healthy_at=first)
    if _judged_after_settling(deployment, status, settle_seconds):
        return Evaluation(Succeeded(revision), followed)
    settled_for = (now - first).total_seconds()
    if settled_for >= settle_seconds:
        return Evaluation(Succeeded(revision), followed)
    if now >= deployment.deadline:
        return Evaluation(TimedOut("healthy, but not yet for long enough"), followed)
    left = settle_seconds - settled_for
    return Evaluation(InProgress(f"healthy; watching for {left:.0f}s more"), followed)


def _ours(sha: str, is_descendant: IsDescendant) -> Callable[[str], bool]:
    """Whether a revision contains the deployment's commit (is it or descends from it)."""

    # Each answer may cost the caller a git call, and one evaluation asks about a revision
    # several times.
    known: dict[str, bool] = {sha: True, "": False}

    def check(revision: str) -> bool:
        if revision not in known:
            known[revision] = is_descendant(revision, sha)
        return known[revision]

    return check


def _synced_revision(status: AppStatus, ours: Callable[[str], bool]) -> str | None:
    """The revision, ours or later, that the Application's sync status is about; else None.

    ``sync.revision`` is what Argo CD last compared with; only when it is unset (no
    comparison yet) does the last operation's revision stand in for it.
    """
    revision = status.sync_revision or status.operation_revision
    return revision if ours(revision) else None


def _operation_is_ours(status: AppStatus, ours: Callable[[str], bool]) -> bool:
    return bool(status.operation_phase) and ours(status.operation_revision)


def _healthy_and_fresh(deployment: Followed, status: AppStatus) -> bool:
    """Synced, Healthy, no operation running, and the health was judged after the sync."""
    return _synced_and_healthy(status) and _fresh(deployment, status)


def _synced_and_healthy(status: AppStatus) -> bool:
    synced = status.sync_status == "Synced" and status.health_status == "Healthy"
    return synced and not _operating(status)


def _settled_looking(status: AppStatus) -> bool:
    """Synced with a health that would end the deployment, if it were fresh."""
    synced = status.sync_status == "Synced" and status.health_status in ("Healthy", "Degraded")
    return synced and not _operating(status)


def _operating(status: AppStatus) -> bool:
    return status.operation_pending or status.operation_phase in ("Running", "Terminating")


def _fresh(deployment: Followed, status: AppStatus) -> bool:
    """Argo CD looked at the live state after the last sync finished (or after our commit).

    A Healthy computed before the sync applied our change is about the previous version.
    """
    if status.reconciled_at is None:
        return False
    return status.reconciled_at > _synced_at(deployment, status)


def _synced_at(deployment: Followed, status: AppStatus) -> datetime:
    """When the last sync finished, or when our commit landed if that is later (no sync of
    ours yet, or none needed because the commit changed nothing this Application renders)."""
    if status.operation_finished_at is None:
        return deployment.started_at
    return max(deployment.started_at, status.operation_finished_at)


def _judged_after_settling(deployment: Followed, status: AppStatus, settle_seconds: float) -> bool:
    """Argo CD judged the current health ``settle_seconds`` or more after the sync finished:
    a Healthy->Progressing flip as the rollout starts would have shown by then."""
    if status.reconciled_at is None:
        return False
    judged_after = (status.reconciled_at - _synced_at(deployment, status)).total_seconds()
    return judged_after >= settle_seconds


def _failure(deployment: Followed, status: AppStatus, ours: Callable[[str], bool]) -> Failed | None:
    if _operation_is_ours(status, ours) and status.operation_phase in FAILED_PHASES:
        details = (status.operation_message, *_bad_resources(status))
        return Failed(FailureReason.SYNC_FAILED, _nonempty(details))
    conditions = [
        c
        for c in status.conditions
        if c.type in FAILING_CONDITIONS
        and (
            c.last_transition_at is None
            or c.last_transition_at >= deployment.started_at
            or _judged_ours(deployment, status, ours)
        )
    ]
    if conditions:
        details = tuple(f"{c.type}: {c.message}" for c in conditions)
        return Failed(FailureReason.CONDITION, _nonempty(details))
    # Degraded counts only once Argo CD judged health after syncing our change; before that
    # it describes the previous version, which our commit may well fix.
    if status.health_status == "Degraded" and _judged_ours(deployment, status, ours):
        details = (status.health_message, *_bad_resources(status))
        return Failed(FailureReason.DEGRADED, _nonempty(details))
    return None


def _judged_ours(deployment: Followed, status: AppStatus, ours: Callable[[str], bool]) -> bool:
    """Argo CD's current judgement is about our change: compared, synced and looked at again."""
    return (
        _synced_revision(status, ours) is not None
        and not _operating(status)
        and _fresh(deployment, status)
    )


def _bad_resources(status: AppStatus) -> tuple[str, ...]:
    return tuple(
        f"{r.ref}: {r.health_status}" + (f": {r.health_message}" if r.health_message else "")
        for r in status.resources
        if r.health_status in ("Degraded", "Missing")
    )


def _nonempty(items: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(item for item in items if item)


def _phase(deployment: Followed, status: AppStatus, revision: str | None) -> str:
    """A one-line account of where the deployment is, for the PR comment and time-outs."""
    short = deployment.gitops_sha[:7]
    if revision is None:
        at = status.sync_revision[:7] or "no revision yet"
        return f"waiting for Argo CD to pick up {short} (it is at {at})"
    if _operating(status):
        message = f": {status.operation_message}" if status.operation_message else ""
        return f"syncing {revision[:7]}{message}"
    if status.sync_status != "Synced":
        return f"sync status {status.sync_status or 'unknown'} at {revision[:7]}"
    if not _fresh(deployment, status):
        # The health on show was judged before the sync finished: not a verdict on our change.
        last = status.health_status or "nothing"
        return f"synced; waiting for Argo CD to check health again after the sync (last: {last})"
    if status.health_status != "Healthy":
        message = f": {status.health_message}" if status.health_message else ""
        return f"health {status.health_status or 'unknown'}{message}"
    return "healthy"


class DriftAction(StrEnum):
    NONE = "none"
    OPEN = "open"  # open the drift issue, or update the one already open
    CLOSE = "close"  # close the drift issue if one is open


@dataclass(frozen=True)
class DriftVerdict:
    action: DriftAction
    out_of_sync_since: datetime | None  # store this for the next observation
    summary: str = ""
    resources: tuple[str, ...] = ()  # "Kind/name" of each out-of-sync resource


def drift(
    status: AppStatus,
    in_flight: bool,
    out_of_sync_since: datetime | None,
    now: datetime,
    threshold: timedelta,
) -> DriftVerdict:
    """Whether an Application has drifted from git for longer than ``threshold``.

    A deployment in flight explains being OutOfSync, so it restarts the clock; an unknown
    sync status (Argo CD could not compare) neither opens nor closes anything.
    """
    if status.sync_status == "Synced":
        return DriftVerdict(DriftAction.CLOSE, None)
    if status.sync_status != "OutOfSync":
        return DriftVerdict(DriftAction.NONE, out_of_sync_since)
    if in_flight:
        return DriftVerdict(DriftAction.NONE, None)
    since = out_of_sync_since or now
    if now - since < threshold:
        return DriftVerdict(DriftAction.NONE, since)
    resources = tuple(r.ref for r in status.resources if r.sync_status == "OutOfSync")
    return DriftVerdict(DriftAction.OPEN, since, _drift_summary(status, since), resources)


def _drift_summary(status: AppStatus, since: datetime) -> str:
    deployed = status.history[-1].revision if status.history else ""
    if deployed and status.sync_revision == deployed:
        cause = "the live state was changed outside git"
    else:
        cause = "git has changes Argo CD has not applied"
    stamp = since.strftime("%Y-%m-%d %H:%M UTC")
    return f"{status.name} has been OutOfSync since {stamp}: {cause}"
