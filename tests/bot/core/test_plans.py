"""The deployment state machine and the lock-queue decisions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.core.plans import (
    Event,
    Finished,
    InvalidTransition,
    QueueEntry,
    Running,
    State,
    Waiting,
    expired,
    holds_lock,
    is_terminal,
    lock_holder,
    next_state,
    queue_position,
)

S, E = State, Event

VALID = [
    (S.QUEUED, E.LOCK_ACQUIRED, S.COMMITTING),
    (S.QUEUED, E.LOCK_ACQUIRED_UNBUILT, S.WAITING_FOR_BUILD),
    (S.QUEUED, E.CANCELLED, S.FAILED),
    (S.WAITING_FOR_BUILD, E.BUILD_SUCCEEDED, S.COMMITTING),
    (S.WAITING_FOR_BUILD, E.BUILD_FAILED, S.FAILED),
    (S.WAITING_FOR_BUILD, E.DEADLINE_PASSED, S.TIMED_OUT),
    (S.WAITING_FOR_BUILD, E.CANCELLED, S.FAILED),
    (S.COMMITTING, E.COMMITTED, S.SYNCING),
    (S.COMMITTING, E.UNCHANGED, S.SYNCING),
    (S.COMMITTING, E.COMMIT_FAILED, S.FAILED),
    (S.COMMITTING, E.DEADLINE_PASSED, S.TIMED_OUT),
    (S.SYNCING, E.HEALTHY, S.SUCCEEDED),
    (S.SYNCING, E.DEGRADED, S.FAILED),
    (S.SYNCING, E.NEWER_LANDED, S.SUPERSEDED),
    (S.SYNCING, E.DEADLINE_PASSED, S.TIMED_OUT),
]


@pytest.mark.parametrize(("state", "event", "after"), VALID)
def test_valid_transitions(state: State, event: Event, after: State) -> None:
    assert next_state(state, event) is after


INVALID = [
    (state, event)
    for state in State
    for event in Event
    if (state, event) not in {(s, e) for s, e, _ in VALID}
]


@pytest.mark.parametrize(("state", "event"), INVALID)
def test_every_other_event_is_an_invalid_transition(state: State, event: Event) -> None:
    result = next_state(state, event)
    assert result == InvalidTransition(state, event)


def test_invalid_transition_names_the_events_that_would_be_valid() -> None:
    result = next_state(S.COMMITTING, E.HEALTHY)
    assert isinstance(result, InvalidTransition)
    assert str(result) == (
        "healthy is not valid in state committing; valid events: committed, unchanged, "
        "commit_failed, deadline_passed"
    )
    ended = next_state(S.SUCCEEDED, E.HEALTHY)
    assert isinstance(ended, InvalidTransition)
    assert "none (the deployment has ended)" in str(ended)


def test_terminal_states_and_lock_holding() -> None:
    assert [s for s in State if is_terminal(s)] == [
        S.SUCCEEDED,
        S.FAILED,
        S.SUPERSEDED,
        S.TIMED_OUT,
    ]
    assert [s for s in State if holds_lock(s)] == [S.WAITING_FOR_BUILD, S.COMMITTING, S.SYNCING]


T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def entry(n: int, state: State, pr: int | None = None, started: int | None = None) -> QueueEntry:
    start = T0 + timedelta(minutes=started) if started is not None else None
    return QueueEntry(n, state, pr, start, timedelta(minutes=10))


QUEUE = [
    entry(1, S.SUCCEEDED, 10),
    entry(2, S.SYNCING, 11, started=0),
    entry(3, S.QUEUED, 12),
    entry(4, S.QUEUED, 13),
]


@pytest.mark.parametrize(
    ("queue", "deployment_id", "expected"),
    [
        (QUEUE, 1, Finished()),
        (QUEUE, 2, Running()),
        (QUEUE, 3, Waiting(QUEUE[1], 1)),
        (QUEUE, 4, Waiting(QUEUE[1], 2)),
        (QUEUE, 99, Finished()),
        ([entry(5, S.QUEUED, 1)], 5, Running()),
        ([entry(5, S.FAILED), entry(6, S.QUEUED), entry(7, S.QUEUED)], 6, Running()),
        (
            [entry(5, S.FAILED), entry(6, S.QUEUED), entry(7, S.QUEUED)],
            7,
            Waiting(entry(6, S.QUEUED), 1),
        ),
        # A holder that arrived after a waiter (e.g. re-queued) still blocks it.
        (
            [entry(8, S.QUEUED, 1), entry(9, S.COMMITTING, 2, started=0)],
            8,
            Waiting(entry(9, S.COMMITTING, 2, started=0), 1),
        ),
    ],
)
def test_queue_position(
    queue: list[QueueEntry], deployment_id: int, expected: Running | Waiting | Finished
) -> None:
    assert queue_position(queue, deployment_id) == expected


def test_lock_holder() -> None:
    assert lock_holder(QUEUE) == QUEUE[1]
    assert lock_holder([entry(1, S.SUCCEEDED), entry(2, S.QUEUED)]) == entry(2, S.QUEUED)
    assert lock_holder([entry(1, S.SUCCEEDED)]) is None
    assert lock_holder([]) is None


def test_expired_holders_are_those_past_their_deadline() -> None:
    queue = [
        entry(1, S.SYNCING, started=0),
        entry(2, S.WAITING_FOR_BUILD, started=5),
        entry(3, S.QUEUED),
        entry(4, S.FAILED, started=0),
    ]
    assert expired(queue, T0 + timedelta(minutes=9, seconds=59)) == ()
    assert expired(queue, T0 + timedelta(minutes=10)) == (queue[0],)
    assert expired(queue, T0 + timedelta(minutes=15)) == (queue[0], queue[1])
