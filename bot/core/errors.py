"""The bot's error taxonomy: who can act on a failure decides how the worker treats it.

``TransientError`` (upstream 5xx, rate limit, push race, network) is retried with backoff;
``PermanentError`` (a bug in our request, a missing resource) is dead-lettered for an
operator; ``UserError`` is a mistake the person who triggered the event can fix, so it is
answered, not retried.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


class AutostackError(Exception):
    """Base of the taxonomy; ``hint`` says how to fix it, for whoever reads the message."""

    def __init__(self, message: str, *, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class TransientError(AutostackError):
    """Worth retrying later; ``retry_after`` (seconds) is the upstream's own wish, if it said."""

    def __init__(self, message: str, *, retry_after: float | None = None, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.retry_after = retry_after


class PermanentError(AutostackError):
    """Retrying cannot help; the delivery goes to the dead letters with this reason."""


class UserError(AutostackError):
    """The user's request cannot be done as asked; ``message`` is meant to be shown to them."""


def retry_after_seconds(headers: Mapping[str, str], now: datetime) -> float | None:
    """How long an upstream asked us to wait, from ``Retry-After`` or a rate-limit reset.

    Understands ``Retry-After`` as seconds or an HTTP date, and GitHub's
    ``X-RateLimit-Reset`` (epoch seconds) when ``X-RateLimit-Remaining`` is 0.
    """
    lower = {key.lower(): value.strip() for key, value in headers.items()}
    retry_after = lower.get("retry-after")
    if retry_after:
        if retry_after.isdigit():
            return float(retry_after)
        try:
            when = parsedate_to_datetime(retry_after)
        except (TypeError, ValueError):
            when = None
        if when is not None:
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            return max(0.0, (when - now).total_seconds())
    reset = lower.get("x-ratelimit-reset")
    if lower.get("x-ratelimit-remaining") == "0" and reset and reset.isdigit():
        return max(0.0, float(reset) - now.timestamp())
    return None
