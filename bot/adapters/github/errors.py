"""The one mapping from GitHub's answers to the bot's error taxonomy (pure: no I/O).

Rate limits and server errors are ``TransientError`` with GitHub's own wish for when to come
back; everything the bot cannot fix by waiting is ``PermanentError`` with a hint for whoever
has to act (``NotFound`` for 404 so callers can treat a missing thing as a value).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from bot.core.errors import AutostackError, PermanentError, TransientError, retry_after_seconds
from bot.ports import NotFound

# GitHub asks clients hit by a secondary rate limit without Retry-After to wait a minute.
SECONDARY_DEFAULT_WAIT = 60.0
MAX_MESSAGE = 300


class Forbidden(PermanentError):
    """GitHub answered 403 (not a rate limit): the App lacks a permission for this."""


class Unprocessable(PermanentError):
    """GitHub answered 422: it understood the request and refused it (the message says why)."""


def github_error(
    status: int,
    headers: Mapping[str, str],
    body: Any,
    now: datetime,
    doing: str,
) -> AutostackError:
    """The exception for GitHub answering ``status`` while ``doing`` (e.g. "read alice/app")."""
    message = _message(body)
    said = f"GitHub answered {status} to {doing}" + (f": {message}" if message else "")
    limited = _rate_limited(status, headers, message, now)
    if limited is not None:
        return TransientError(said, retry_after=limited, hint="rate limited; retried later")
    if status >= 500:
        return TransientError(said)
    if status == 401:
        return PermanentError(
            said,
            hint="check AUTOSTACK_GITHUB_APP_ID and the private key: they must belong to the "
            "same GitHub App, and the key must not have been revoked",
        )
    if status == 403:
        return Forbidden(
            said,
            hint="the App lacks a permission for this; grant it in the App's settings and "
            "accept the new permissions on the installation",
        )
    if status == 404:
        return NotFound(
            said,
            hint="it does not exist, or the App is not installed on that repository",
        )
    if status == 409:
        # A head or ref that moved under us: doing it again on fresh state succeeds.
        return TransientError(said)
    if status == 422:
        return Unprocessable(said + _details(body))
    return PermanentError(said + _details(body))


# GraphQL errors GitHub answers with 200: rate limits (spelled both ways over the years),
# and the answer to a query that timed out on GitHub's side, which a retry usually passes.
GRAPHQL_RATE_LIMITED = frozenset({"RATE_LIMITED", "RATE_LIMIT"})
GRAPHQL_TIMED_OUT = "something went wrong while executing your query"


def graphql_error(
    errors: Sequence[Any], headers: Mapping[str, str], now: datetime, doing: str
) -> AutostackError:
    """The exception for GitHub's GraphQL API answering ``errors`` (with HTTP 200).

    ``NOT_FOUND`` is ``NotFound``, a rate limit or a timeout is ``TransientError``, a
    missing permission is ``Forbidden``; anything else (a query GitHub refuses) is permanent.
    """
    found = [e for e in errors if isinstance(e, Mapping)] or [{"message": str(errors)[:100]}]
    types = {str(e.get("type") or "") for e in found}
    messages = "; ".join(dict.fromkeys(_message(e) or "no message" for e in found))
    said = f"GitHub's GraphQL API answered {', '.join(sorted(types - {''})) or 'an error'} to "
    said += f"{doing}: {messages[:MAX_MESSAGE]}"
    if types & GRAPHQL_RATE_LIMITED:
        wait = retry_after_seconds(headers, now)
        return TransientError(
            said,
            retry_after=SECONDARY_DEFAULT_WAIT if wait is None else wait,
            hint="rate limited; retried later",
        )
    if any(_message(e).lower().startswith(GRAPHQL_TIMED_OUT) for e in found):
        return TransientError(said)
    if types == {"NOT_FOUND"}:
        return NotFound(
            said, hint="it does not exist, or the App is not installed on that repository"
        )
    if "FORBIDDEN" in types:
        return Forbidden(
            said,
            hint="the App lacks a permission for this; grant it in the App's settings and "
            "accept the new permissions on the installation",
        )
    return PermanentError(said)


def connection_error(error: BaseException, doing: str) -> TransientError:
    """A network failure (refused, reset, timed out) while ``doing``; the URL stays out."""
    return TransientError(f"could not reach GitHub to {doing} ({type(error).__name__})")


def _rate_limited(
    status: int, headers: Mapping[str, str], message: str, now: datetime
) -> float | None:
    if status not in (403, 429):
        return None
    lower = {key.lower(): value for key, value in headers.items()}
    wait = retry_after_seconds(headers, now)
    if wait is not None:
        return wait
    if lower.get("x-ratelimit-remaining", "").strip() == "0":
        return SECONDARY_DEFAULT_WAIT
    if status == 429 or "secondary rate limit" in message.lower():
        return SECONDARY_DEFAULT_WAIT
    return None


def _message(body: Any) -> str:
    if isinstance(body, Mapping):
        text = body.get("message")
        if isinstance(text, str):
            return " ".join(text.split())[:MAX_MESSAGE]
    return ""


def _details(body: Any) -> str:
    """GitHub's per-field validation errors (422), which say what exactly it refused."""
    if not isinstance(body, Mapping) or not isinstance(body.get("errors"), list):
        return ""
    parts = []
    for error in body["errors"][:5]:
        if isinstance(error, Mapping):
            text = error.get("message") or " ".join(
                str(error[key]) for key in ("resource", "field", "code") if error.get(key)
            )
            parts.append(str(text))
        elif isinstance(error, str):
            parts.append(error)
    return f" ({'; '.join(parts)[:MAX_MESSAGE]})" if parts else ""
