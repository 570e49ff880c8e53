"""The deployment state machine and the per-environment lock queue, as pure decisions.

A deployment moves queued -> waiting_for_build -> committing -> syncing and ends
succeeded, failed, superseded or timed_out. The durable queue lives in the store; these
functions only decide, from values, what the next state is and who holds the lock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class State(StrEnum):
    QUEUED = "queued"  # waiting for the environment's lock
    WAITING_FOR_BUILD = "waiting_for_build"  # holds the lock; the image is not built yet
    COMMITTING = "committing"  # writing the GitOps change
    SYNCING = "syncing"  # committed; following Argo CD to synced and healthy
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SUPERSEDED = "superseded"  # a later deployment to the same app and env landed first
    TIMED_OUT = "timed_out"


class Event(StrEnum):
    LOCK_ACQUIRED = "lock_acquired"  # first in line; the image is already built
    LOCK_ACQUIRED_UNBUILT = "lock_acquired_unbuilt"  # first in line; image still building
    BUILD_SUCCEEDED = "build_succeeded"
    BUILD_FAILED = "build_failed"
    COMMITTED = "committed"  # the change landed (commit, or PR opened or merged)
    UNCHANGED = "unchanged"  # the overlay already had the image: nothing to commit
    COMMIT_FAILED = "commit_failed"
    HEALTHY = "healthy"  # synced our revision or a descendant, healthy, and fresh
    DEGRADED = "degraded"  # sync failed, health Degraded, or a comparison error
    NEWER_LANDED = "newer_landed"
    DEADLINE_PASSED = "deadline_passed"
    CANCELLED = "cancelled"  # e.g. the PR was closed while the deployment waited


TERMINAL = frozenset({State.SUCCEEDED, State.FAILED, State.SUPERSEDED, State.TIMED_OUT})

_TRANSITIONS: dict[State, dict[Event, State]] = {
    State.QUEUED: {
        Event.LOCK_ACQUIRED: State.COMMITTING,
        Event.LOCK_ACQUIRED_UNBUILT: State.WAITING_FOR_BUILD,
        Event.CANCELLED: State.FAILED,
    },
    State.WAITING_FOR_BUILD: {
        Event.BUILD_SUCCEEDED: State.COMMITTING,
        Event.BUILD_FAILED: State.FAILED,
        Event.DEADLINE_PASSED: State.TIMED_OUT,
        Event.CANCELLED: State.FAILED,
    },
    State.COMMITTING: {
        Event.COMMITTED: State.SYNCING,
        # Nothing to commit still needs Argo CD to confirm the running state is healthy.
        Event.UNCHANGED: State.SYNCING,
        Event.COMMIT_FAILED: State.FAILED,
        Event.DEADLINE_PASSED: State.TIMED_OUT,
    },
    State.SYNCING: {
        Event.HEALTHY: State.SUCCEEDED,
        Event.DEGRADED: State.FAILED,
        Event.NEWER_LANDED: State.SUPERSEDED,
        Event.DEADLINE_PASSED: State.TIMED_OUT,
    },
}


@dataclass(frozen=True)
class InvalidTransition:
    """An event that makes no sense in the current state; the state stays as it was."""

    state: State
    event: Event

    @property
    def allowed(self) -> tuple[Event, ...]:
        return tuple(_TRANSITIONS.get(self.state, {}))

    def __str__(self) -> str:
        allowed = ", ".join(self.allowed) or "none (the deployment has ended)"
        return f"{self.event} is not valid in state {self.state}; valid events: {allowed}"


def next_state(state: State, event: Event) -> State | InvalidTransition:
    """The state a deployment in ``state`` moves to on ``event``."""
    target = _TRANSITIONS.get(state, {}).get(event)
    return target if target is not None else InvalidTransition(state, event)


def is_terminal(state: State) -> bool:
    return state in TERMINAL


def holds_lock(state: State) -> bool:
    """Whether a deployment in ``state`` holds its environment's lock."""
    return state not in TERMINAL and state is not State.QUEUED


@dataclass(frozen=True)
class QueueEntry:
    """One deployment in the lock queue of an app and environment, in arrival order."""

    deployment_id: int
    state: State
    issue_number: int | None = None  # the PR or issue the command came from
    started_at: datetime | None = None  # when it took the lock
    timeout: timedelta = timedelta(minutes=10)


@dataclass(frozen=True)
class Running:
    """The deployment holds the lock (or may take it now)."""


@dataclass(frozen=True)
class Waiting:
    """The deployment waits; ``holder`` runs now and ``ahead`` counts everyone before it."""

    holder: QueueEntry
    ahead: int


@dataclass(frozen=True)
class Finished:
    """The deployment has ended and takes no part in the queue."""


def lock_holder(queue: Sequence[QueueEntry]) -> QueueEntry | None:
    """The deployment that holds the lock, or else the first one waiting for it."""
    live = [entry for entry in queue if not is_terminal(entry.state)]
    holding = [entry for entry in live if holds_lock(entry.state)]
    if holding:
        return holding[0]
    return live[0] if live else None


def queue_position(queue: Sequence[QueueEntry], deployment_id: int) -> Running | Waiting | Finished:
    """Where ``deployment_id`` stands: running, waiting behind someone, or finished."""
    entry = next((e for e in queue if e.deployment_id == deployment_id), None)
    if entry is None or is_terminal(entry.state):
        return Finished()
    holder = lock_holder(queue)
    if holder is None or holder.deployment_id == deployment_id:
        return Running()
    live = [e for e in queue if not is_terminal(e.state)]
    ahead = list(live[: live.index(entry)])
    if holds_lock(holder.state) and holder not in ahead:
        ahead.append(holder)
    return Waiting(holder=holder, ahead=len(ahead))


def deadline(entry: QueueEntry) -> datetime | None:
    """When the lock holder's time runs out: the environment's deploy timeout after start."""
    return entry.started_at + entry.timeout if entry.started_at is not None else None


def expired(queue: Sequence[QueueEntry], now: datetime) -> tuple[QueueEntry, ...]:
    """Lock holders past their deadline; each gets DEADLINE_PASSED, releasing the lock."""
    overdue = []
    for entry in queue:
        end = deadline(entry)
        if holds_lock(entry.state) and end is not None and now >= end:
            overdue.append(entry)
    return tuple(overdue)
