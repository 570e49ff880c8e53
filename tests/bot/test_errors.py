"""The error taxonomy's helpers: messages with hints, and upstream wait times."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.core.errors import PermanentError, TransientError, UserError, retry_after_seconds

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def test_messages_carry_their_hint() -> None:
    assert str(PermanentError("no such repo", hint="install the App on it")) == (
        "no such repo (install the App on it)"
    )
    assert str(UserError("unknown environment qa")) == "unknown environment qa"
    assert TransientError("GitHub 502", retry_after=3.0).retry_after == 3.0


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "120"}, 120.0),
        ({"retry-after": "Thu, 01 Jan 2026 12:00:30 GMT"}, 30.0),
        ({"Retry-After": "Thu, 01 Jan 2026 11:00:00 GMT"}, 0.0),
        ({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(NOW.timestamp()) + 90)}, 90.0),
        (
            {"X-RateLimit-Remaining": "12", "X-RateLimit-Reset": str(int(NOW.timestamp()) + 90)},
            None,
        ),
        ({"Retry-After": "soon"}, None),
        ({}, None),
    ],
)
def test_retry_after_seconds(headers: dict[str, str], expected: float | None) -> None:
    assert retry_after_seconds(headers, NOW) == expected
