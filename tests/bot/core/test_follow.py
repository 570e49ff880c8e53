"""Following a deployment and drift, table-driven over real-shaped Application JSON.

The fixtures in tests/bot/fixtures/argocd/ are written from Argo CD's swagger definitions
(and checked against it in test_argocd_client.py); each row patches one of them.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from bot.core.argo import AppStatus, parse_application
from bot.core.follow import (
    DriftAction,
    Failed,
    FailureReason,
    Followed,
    InProgress,
    Succeeded,
    Superseded,
    TimedOut,
    drift,
    evaluate,
)
from bot.core.plans import Event, State, next_state

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "argocd"

PREV = "1d5f3c0a9e8b7d6c5b4a39281706f5e4d3c2b1a0"  # the deployment before ours
OURS = "4b2e9a7c1f0d3e5b8a6c2d4f1e3b5a7c9d0e2f41"
OTHER_APP = "b7d1e3f5a9c2b4d6e8f0a2c4e6b8d0f2a4c6e8b1"  # another app's commit after ours
NEXT = "9c7e5a3b1d2f4e6a8c0b2d4f6e8a0c2e4b6d8f03"  # the next deployment of web to prod
UNRELATED = "e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0"  # not in our history at all
PARENT = {OURS: PREV, OTHER_APP: OURS, NEXT: OTHER_APP}

STARTED = datetime(2026, 1, 1, 12, 0, 55, tzinfo=UTC)  # the GitOps commit landed
DEADLINE = STARTED + timedelta(minutes=10)
SETTLE = 10.0


def at(text: str) -> datetime:
    return datetime.fromisoformat(f"2026-01-01T{text}+00:00")


def is_descendant(revision: str, ancestor: str) -> bool:
    seen = PARENT.get(revision)
    while seen is not None:
        if seen == ancestor:
            return True
        seen = PARENT.get(seen)
    return False


@cache
def _fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"app-web-prod-{name}.json").read_text())
    return data


def app(name: str, patch: dict[str, Any] | None = None) -> AppStatus:
    """The fixture ``app-web-prod-<name>.json`` with dotted-path fields replaced (None deletes)."""
    data = copy.deepcopy(_fixture(name))
    for dotted, value in (patch or {}).items():
        *parents, last = dotted.split(".")
        node = data
        for key in parents:
            node = node.setdefault(key, {})
        if value is None:
            node.pop(last, None)
        else:
            node[last] = value
    return parse_application(data)


def followed(first_healthy_at: datetime | None = None) -> Followed:
    return Followed("web", "prod", OURS, STARTED, DEADLINE, first_healthy_at)


# The fixtures' sync finished at 12:01:05; a Healthy Argo CD judged 5 s later is within
# the settle time, so only a streak of it counts.
JUDGED_EARLY = {"status.reconciledAt": "2026-01-01T12:01:10Z"}

PREVIOUS_REVISION = {
    "status.sync.revision": PREV,
    "status.operationState.operation.sync.revision": PREV,
    "status.operationState.syncResult.revision": PREV,
    "status.operationState.startedAt": "2025-12-30T16:20:09Z",
    "status.operationState.finishedAt": "2025-12-30T16:20:11Z",
}


@dataclass(frozen=True)
class Row:
    id: str
    status: AppStatus
    now: datetime
    expected: object  # the verdict, or a (type, text that must appear) pair
    first_healthy_at: datetime | None = None
    latest: str | None = None
    healthy_streak_after: datetime | str | None = field(default="unchecked")


ROWS = [
    Row(
        "a Healthy judged within the settle time starts a streak",
        app("healthy", JUDGED_EARLY),
        at("12:02:00"),
        (InProgress, "healthy; watching for 10s more"),
        healthy_streak_after=at("12:02:00"),
    ),
    Row(
        "a streak of the settle time succeeds",
        app("healthy", JUDGED_EARLY),
        at("12:02:00"),
        Succeeded(OURS),
        first_healthy_at=at("12:01:50"),
        healthy_streak_after=at("12:01:50"),
    ),
    Row(
        "healthy but settling keeps the streak start",
        app("healthy", JUDGED_EARLY),
        at("12:01:55"),
        (InProgress, "watching for 5s more"),
        first_healthy_at=at("12:01:50"),
        healthy_streak_after=at("12:01:50"),
    ),
    Row(
        "a Healthy judged the settle time after the sync is final at once",
        app("healthy", {"status.reconciledAt": "2026-01-01T12:01:15Z"}),
        at("12:01:16"),
        Succeeded(OURS),
        healthy_streak_after=at("12:01:16"),
    ),
    Row(
        "a Healthy judged a second short of the settle time needs its streak",
        app("healthy", {"status.reconciledAt": "2026-01-01T12:01:14Z"}),
        at("12:01:16"),
        (InProgress, "healthy; watching for 10s more"),
        healthy_streak_after=at("12:01:16"),
    ),
    Row(
        "a Healthy judged long after the sync succeeds on first sight",
        app("healthy"),
        at("12:02:00"),
        Succeeded(OURS),
    ),
    Row(
        "judged late enough while a streak runs: final before the streak ends",
        app("healthy"),
        at("12:01:46"),
        Succeeded(OURS),
        first_healthy_at=at("12:01:40"),
    ),
    Row(
        "no sync operation: the settle time counts from the commit landing",
        app(
            "healthy",
            {"status.operationState": None, "status.reconciledAt": "2026-01-01T12:01:05Z"},
        ),
        at("12:01:06"),
        Succeeded(OURS),
    ),
    Row(
        "no sync operation, judged within the settle time of the landing",
        app(
            "healthy",
            {"status.operationState": None, "status.reconciledAt": "2026-01-01T12:01:04Z"},
        ),
        at("12:01:06"),
        (InProgress, "healthy; watching for 10s more"),
    ),
    Row(
        "an operation older than our commit: the settle time counts from the landing",
        app(
            "healthy",
            {
                **PREVIOUS_REVISION,
                "status.sync.revision": OURS,
                "status.reconciledAt": "2026-01-01T12:01:04Z",
            },
        ),
        at("12:01:06"),
        (InProgress, "healthy; watching for 10s more"),
    ),
    Row(
        "a descendant synced (another app's commit) counts for ours",
        app(
            "healthy",
            {
                "status.sync.revision": OTHER_APP,
                "status.operationState.syncResult.revision": OTHER_APP,
            },
        ),
        at("12:02:00"),
        Succeeded(OTHER_APP),
        first_healthy_at=at("12:01:45"),
    ),
    Row(
        "a revision outside our history does not count",
        app("healthy", {"status.sync.revision": UNRELATED}),
        at("12:02:00"),
        (InProgress, "waiting for Argo CD to pick up 4b2e9a7 (it is at e0e0e0e)"),
        first_healthy_at=at("12:01:45"),
        healthy_streak_after=None,
    ),
    Row(
        "Argo CD has not seen our commit yet",
        app("healthy", PREVIOUS_REVISION),
        at("12:01:00"),
        (InProgress, "waiting for Argo CD to pick up 4b2e9a7 (it is at 1d5f3c0)"),
    ),
    Row(
        "stale health: reconciled before the sync finished",
        app("healthy", {"status.reconciledAt": "2026-01-01T12:01:04Z"}),
        at("12:02:00"),
        (InProgress, "waiting for Argo CD to check health again"),
        first_healthy_at=at("12:01:30"),
        healthy_streak_after=None,
    ),
    Row(
        "stale health: reconciled in the same second the sync finished",
        app("healthy", {"status.reconciledAt": "2026-01-01T12:01:05Z"}),
        at("12:02:00"),
        (InProgress, "check health again"),
    ),
    Row(
        "stale health: no sync operation and reconciled before our commit",
        app(
            "healthy",
            {"status.operationState": None, "status.reconciledAt": "2026-01-01T12:00:50Z"},
        ),
        at("12:02:00"),
        (InProgress, "check health again"),
    ),
    Row(
        "a sync requested but not started is not done",
        app("healthy", {"operation": {"sync": {"revision": OURS}}}),
        at("12:02:00"),
        (InProgress, "syncing 4b2e9a7"),
        first_healthy_at=at("12:01:45"),
    ),
    Row(
        "the sync operation is still running",
        app("progressing"),
        at("12:01:10"),
        (InProgress, "syncing 4b2e9a7: waiting for healthy state of apps/Deployment/web"),
    ),
    Row(
        "Healthy then Progressing resets the streak",
        app(
            "progressing",
            {
                "status.operationState.phase": "Succeeded",
                "status.operationState.finishedAt": "2026-01-01T12:01:05Z",
                "status.reconciledAt": "2026-01-01T12:01:50Z",
            },
        ),
        at("12:01:52"),
        (InProgress, "health Progressing: Waiting for rollout to finish"),
        first_healthy_at=at("12:01:45"),
        healthy_streak_after=None,
    ),
    Row(
        "OutOfSync at our revision waits for the sync",
        app("healthy", {"status.sync.status": "OutOfSync", "status.operationState": None}),
        at("12:01:30"),
        (InProgress, "sync status OutOfSync at 4b2e9a7"),
    ),
    Row(
        "health Degraded after syncing ours fails",
        app("degraded"),
        at("12:11:10"),
        Failed(
            FailureReason.DEGRADED,
            (
                'Deployment "web" exceeded its progress deadline',
                'Deployment/web: Degraded: Deployment "web" exceeded its progress deadline',
            ),
        ),
    ),
    Row(
        "Degraded judged before the sync finished is not ours",
        app("degraded", {"status.reconciledAt": "2026-01-01T12:01:03Z"}),
        at("12:01:30"),
        (InProgress, "check health again"),
    ),
    Row(
        "Degraded at the previous revision: our commit may fix it",
        app("degraded", {**PREVIOUS_REVISION, "status.reconciledAt": "2026-01-01T12:00:40Z"}),
        at("12:01:00"),
        (InProgress, "waiting for Argo CD to pick up"),
    ),
    Row(
        "the sync operation of our revision failed",
        app("sync-failed"),
        at("12:01:30"),
        (Failed, "one or more objects failed to apply"),
    ),
    Row(
        "a failed operation of an older revision is history",
        app("sync-failed", {**PREVIOUS_REVISION, "status.sync.revision": OURS}),
        at("12:01:30"),
        (InProgress, "sync status OutOfSync at 4b2e9a7"),
    ),
    Row(
        "the sync operation ended in Error",
        app("sync-failed", {"status.operationState.phase": "Error"}),
        at("12:01:30"),
        (Failed, "one or more objects failed to apply"),
    ),
    Row(
        "a ComparisonError after our commit fails",
        app("comparison-error"),
        at("12:01:00"),
        (Failed, "ComparisonError: Failed to load target state"),
    ),
    Row(
        "a ComparisonError from before our commit, not yet compared with ours",
        app(
            "comparison-error",
            {
                "status.sync.revision": PREV,
                "status.conditions": [
                    {
                        "type": "ComparisonError",
                        "message": "rpc error: code = Unavailable",
                        "lastTransitionTime": "2026-01-01T11:40:00Z",
                    }
                ],
            },
        ),
        at("12:01:00"),
        (InProgress, "waiting for Argo CD to pick up"),
    ),
    Row(
        "InvalidSpecError fails",
        app(
            "healthy",
            {
                "status.conditions": [
                    {
                        "type": "InvalidSpecError",
                        "message": "application destination server 'https://x' is not permitted",
                        "lastTransitionTime": "2026-01-01T12:01:00Z",
                    }
                ]
            },
        ),
        at("12:01:30"),
        (Failed, "InvalidSpecError: application destination"),
    ),
    Row(
        "SyncError fails",
        app(
            "sync-failed",
            {
                "status.operationState.operation.sync.revision": PREV,
                "status.operationState.syncResult.revision": PREV,
                "status.conditions": [
                    {
                        "type": "SyncError",
                        "message": "Failed sync attempt to 4b2e9a7: one or more objects failed",
                        "lastTransitionTime": "2026-01-01T12:01:03Z",
                    }
                ],
            },
        ),
        at("12:01:30"),
        (Failed, "SyncError: Failed sync attempt"),
    ),
    Row(
        "a warning condition does not fail",
        app(
            "healthy",
            {
                "status.conditions": [
                    {
                        "type": "SharedResourceWarning",
                        "message": "Service/web is part of applications argocd/web-prod and web",
                        "lastTransitionTime": "2026-01-01T12:01:10Z",
                    }
                ]
            },
        ),
        at("12:02:00"),
        Succeeded(OURS),
        first_healthy_at=at("12:01:45"),
    ),
    Row(
        "a later deployment landed first",
        app("progressing"),
        at("12:01:10"),
        Superseded(NEXT),
        latest=NEXT,
    ),
    Row(
        "superseded wins even when healthy: the image changed again",
        app("healthy"),
        at("12:02:00"),
        Superseded(NEXT),
        first_healthy_at=at("12:01:45"),
        latest=NEXT,
    ),
    Row(
        "the latest deployment is ours",
        app("healthy"),
        at("12:02:00"),
        Succeeded(OURS),
        first_healthy_at=at("12:01:45"),
        latest=OURS,
    ),
    Row(
        "the deadline passes while syncing",
        app("progressing"),
        DEADLINE,
        (TimedOut, "syncing 4b2e9a7"),
    ),
    Row(
        "failure is reported even after the deadline",
        app("degraded"),
        DEADLINE + timedelta(seconds=20),
        (Failed, "exceeded its progress deadline"),
    ),
    Row(
        "settled exactly at the deadline succeeds",
        app("healthy", JUDGED_EARLY),
        DEADLINE,
        Succeeded(OURS),
        first_healthy_at=DEADLINE - timedelta(seconds=SETTLE),
    ),
    Row(
        "still settling at the deadline times out",
        app("healthy", JUDGED_EARLY),
        DEADLINE,
        (TimedOut, "healthy, but not yet for long enough"),
        first_healthy_at=DEADLINE - timedelta(seconds=3),
    ),
]


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_evaluate(row: Row) -> None:
    result = evaluate(
        followed(row.first_healthy_at),
        row.status,
        row.now,
        is_descendant=is_descendant,
        settle_seconds=SETTLE,
        latest_gitops_sha=row.latest,
    )
    if isinstance(row.expected, tuple):
        kind, text = row.expected
        assert isinstance(result.verdict, kind), result.verdict
        shown = getattr(result.verdict, "phase", None) or " | ".join(
            getattr(result.verdict, "details", ())
        )
        assert text in shown
    else:
        assert result.verdict == row.expected
    if row.healthy_streak_after != "unchecked":
        assert result.followed.first_healthy_at == row.healthy_streak_after
    # Everything but the streak is the caller's and comes back unchanged.
    assert result.followed.gitops_sha == OURS
    assert result.followed.deadline == DEADLINE


def _healthy_judged(when: str) -> AppStatus:
    return app("healthy", {"status.reconciledAt": f"2026-01-01T{when}Z"})


def _progressing_judged(when: str) -> AppStatus:
    return app(
        "progressing",
        {
            "status.operationState.phase": "Succeeded",
            "status.operationState.finishedAt": "2026-01-01T12:01:05Z",
            "status.reconciledAt": f"2026-01-01T{when}Z",
        },
    )


def test_a_flip_to_progressing_within_the_settle_time_restarts_the_streak() -> None:
    # The sync finished at 12:01:05; the settle time is 10 s.
    observations = [
        ("12:01:07", _healthy_judged("12:01:07")),  # the old pods, still Healthy
        ("12:01:09", _progressing_judged("12:01:09")),  # the rollout has started
        ("12:01:12", _healthy_judged("12:01:12")),  # a Healthy still within the settle time
        ("12:01:21", _healthy_judged("12:01:12")),  # 9 s of it: not yet
    ]
    current = followed()
    verdicts = []
    for now, status in observations:
        result = evaluate(
            current, status, at(now), is_descendant=is_descendant, settle_seconds=SETTLE
        )
        verdicts.append(type(result.verdict))
        current = result.followed
    assert verdicts == [InProgress] * 4
    assert current.first_healthy_at == at("12:01:12")
    # Without the reset the streak from 12:01:07 would have ended this at 12:01:17.
    done = evaluate(
        current, _healthy_judged("12:01:12"), at("12:01:22"),
        is_descendant=is_descendant, settle_seconds=SETTLE,
    )  # fmt: skip
    assert done.verdict == Succeeded(OURS)


def test_a_flip_within_the_settle_time_then_a_late_judgement_is_final_at_once() -> None:
    streak = evaluate(
        followed(), _progressing_judged("12:01:09"), at("12:01:09"),
        is_descendant=is_descendant, settle_seconds=SETTLE,
    ).followed  # fmt: skip
    assert streak.first_healthy_at is None
    result = evaluate(
        streak, _healthy_judged("12:01:15"), at("12:01:15"),
        is_descendant=is_descendant, settle_seconds=SETTLE,
    )  # fmt: skip
    assert result.verdict == Succeeded(OURS)


@pytest.mark.parametrize("settle", [0.0, SETTLE])
@pytest.mark.parametrize("reconciled", ["12:01:04", "12:01:05"])
def test_stale_health_is_not_counted_however_the_settle_time_is_set(
    settle: float, reconciled: str
) -> None:
    # Judged before (or in the second) the sync finished: about the previous version, even
    # after a long streak and with no settle time at all.
    result = evaluate(
        followed(at("12:01:06")), _healthy_judged(reconciled), at("12:05:00"),
        is_descendant=is_descendant, settle_seconds=settle,
    )  # fmt: skip
    assert isinstance(result.verdict, InProgress)
    assert result.verdict.needs_refresh
    assert result.followed.first_healthy_at is None


def test_sync_failure_details_name_the_failing_resource_and_message() -> None:
    status = app("sync-failed")
    now = at("12:01:30")
    result = evaluate(followed(), status, now, is_descendant=is_descendant, settle_seconds=0)
    assert isinstance(result.verdict, Failed)
    assert result.verdict.reason is FailureReason.SYNC_FAILED
    assert "must be less than or equal to cpu limit of 500m" in result.verdict.details[0]


@pytest.mark.parametrize(
    ("status", "now", "first", "event", "state"),
    [
        (app("healthy"), at("12:02:00"), at("12:01:45"), Event.HEALTHY, State.SUCCEEDED),
        (app("degraded"), at("12:11:10"), None, Event.DEGRADED, State.FAILED),
        (app("progressing"), DEADLINE, None, Event.DEADLINE_PASSED, State.TIMED_OUT),
        (app("progressing"), at("12:01:10"), None, None, State.SYNCING),
    ],
)
def test_verdicts_drive_the_deployment_state_machine(
    status: AppStatus, now: datetime, first: datetime | None, event: Event | None, state: State
) -> None:
    result = evaluate(followed(first), status, now, is_descendant=is_descendant, settle_seconds=10)
    assert result.event == event
    if event is not None:
        assert next_state(State.SYNCING, event) == state


def test_superseded_maps_to_newer_landed() -> None:
    result = evaluate(
        followed(), app("healthy"), at("12:02:00"), is_descendant=is_descendant,
        settle_seconds=10, latest_gitops_sha=NEXT,
    )  # fmt: skip
    assert result.event is Event.NEWER_LANDED


def test_each_revision_is_asked_about_once_per_evaluation() -> None:
    asked: list[tuple[str, str]] = []

    def counting(revision: str, ancestor: str) -> bool:
        asked.append((revision, ancestor))
        return is_descendant(revision, ancestor)

    status = app(
        "degraded",
        {"status.sync.revision": OTHER_APP, "status.operationState.syncResult.revision": OTHER_APP},
    )
    evaluate(followed(), status, at("12:11:10"), is_descendant=counting, settle_seconds=10)
    assert asked == [(OTHER_APP, OURS)]


# ---- drift ------------------------------------------------------------------------------
THRESHOLD = timedelta(minutes=15)
OUT_OF_SYNC = {
    "status.sync.status": "OutOfSync",
    "status.resources": [
        {"kind": "Service", "namespace": "web-prod", "name": "web", "status": "Synced"},
        {
            "group": "apps",
            "kind": "Deployment",
            "namespace": "web-prod",
            "name": "web",
            "status": "OutOfSync",
            "health": {"status": "Healthy"},
        },
    ],
}


def test_drift_closes_the_issue_when_back_in_sync() -> None:
    verdict = drift(app("healthy"), False, at("11:00:00"), at("12:00:00"), THRESHOLD)
    assert verdict.action is DriftAction.CLOSE
    assert verdict.out_of_sync_since is None


def test_drift_starts_the_clock_on_first_out_of_sync() -> None:
    verdict = drift(app("healthy", OUT_OF_SYNC), False, None, at("12:00:00"), THRESHOLD)
    assert verdict.action is DriftAction.NONE
    assert verdict.out_of_sync_since == at("12:00:00")


def test_drift_waits_for_the_threshold() -> None:
    verdict = drift(app("healthy", OUT_OF_SYNC), False, at("12:00:00"), at("12:14:59"), THRESHOLD)
    assert (verdict.action, verdict.out_of_sync_since) == (DriftAction.NONE, at("12:00:00"))


def test_drift_opens_when_out_of_sync_past_the_threshold_with_no_deployment() -> None:
    verdict = drift(app("healthy", OUT_OF_SYNC), False, at("12:00:00"), at("12:15:00"), THRESHOLD)
    assert verdict.action is DriftAction.OPEN
    assert verdict.out_of_sync_since == at("12:00:00")
    assert verdict.resources == ("Deployment/web",)
    # The synced revision is the last one deployed: someone changed the cluster by hand.
    assert "web-prod has been OutOfSync since 2026-01-01 12:00 UTC" in verdict.summary
    assert "changed outside git" in verdict.summary


def test_drift_says_when_git_is_ahead_instead() -> None:
    patch = {**OUT_OF_SYNC, "status.sync.revision": NEXT}
    verdict = drift(app("healthy", patch), False, at("12:00:00"), at("12:30:00"), THRESHOLD)
    assert verdict.action is DriftAction.OPEN
    assert "git has changes Argo CD has not applied" in verdict.summary


def test_drift_is_explained_by_a_deployment_in_flight() -> None:
    verdict = drift(app("healthy", OUT_OF_SYNC), True, at("11:00:00"), at("12:00:00"), THRESHOLD)
    assert verdict.action is DriftAction.NONE
    assert verdict.out_of_sync_since is None


def test_drift_unknown_sync_status_keeps_the_clock() -> None:
    verdict = drift(app("comparison-error"), False, at("11:00:00"), at("12:00:00"), THRESHOLD)
    assert verdict.action is DriftAction.NONE
    assert verdict.out_of_sync_since == at("11:00:00")


@pytest.mark.parametrize(
    ("status", "needs_refresh"),
    [
        (app("healthy", {"status.reconciledAt": "2026-01-01T12:01:04Z"}), True),
        (app("degraded", {"status.reconciledAt": "2026-01-01T12:01:03Z"}), True),
        (app("progressing"), False),  # a running sync: Argo CD looks again by itself
        (app("healthy", PREVIOUS_REVISION), False),  # fresh, but about the previous commit
        (app("healthy", {"status.sync.status": "OutOfSync"}), False),
    ],
    ids=["stale-healthy", "stale-degraded", "syncing", "not-picked-up", "out-of-sync"],
)
def test_in_progress_says_when_a_refresh_would_give_a_fresh_health(
    status: AppStatus, needs_refresh: bool
) -> None:
    result = evaluate(
        followed(), status, at("12:02:00"), is_descendant=is_descendant, settle_seconds=SETTLE
    )
    assert isinstance(result.verdict, InProgress)
    assert result.verdict.needs_refresh is needs_refresh
