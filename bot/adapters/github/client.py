"""HTTP to GitHub through PyGithub's ``Requester``: one client per installation, errors mapped.

The adapter uses ``Github.requester`` (PyGithub's supported way to call any endpoint) rather
than PyGithub's object model, because the objects fetch lazily and complete themselves with
extra requests we could neither count nor avoid; here every method is the calls it shows.

Retries: PyGithub's urllib3 retry is switched off (``retry=None``) and so is its throttle
between requests. The durable queue owns retrying: it honours ``Retry-After`` and the
rate-limit reset across restarts, while a retry inside PyGithub would hold a worker thread
asleep for a minute on a secondary rate limit and could repeat a non-idempotent POST. The
one retry done here is after a 401 on an installation token, with a freshly minted token.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import quote

import requests
import urllib3
from github import Github, GithubException
from github.Requester import Requester

from bot.adapters.clock import Clock
from bot.adapters.github.errors import connection_error, github_error, graphql_error
from bot.core.errors import PermanentError
from bot.core.messages import redact

ACCEPT = {"Accept": "application/vnd.github+json"}
USER_AGENT = "AutoStack"
TIMEOUT_SECONDS = 15
PER_PAGE = 100
MAX_PAGES = 20
NEXT_LINK = re.compile(r'<([^>]+)>;\s*rel="next"')
_NETWORK_ERRORS = (requests.RequestException, urllib3.exceptions.HTTPError, OSError)

RateCallback = Callable[[str, int], None]  # (resource: core, graphql, ...; requests left)


def make_github(base_url: str, auth: Any | None) -> Github:
    """A PyGithub client for ``base_url`` (github.com, GitHub Enterprise or the sandbox)."""
    return Github(
        base_url=base_url.rstrip("/"),
        auth=auth,
        timeout=TIMEOUT_SECONDS,
        user_agent=USER_AGENT,
        per_page=PER_PAGE,
        retry=None,
        seconds_between_requests=None,
        seconds_between_writes=None,
    )


def path(template: str, *parts: str | int) -> str:
    """``template`` with each ``{}`` filled by a URL-quoted part (slashes kept for file paths)."""
    return template.format(*(quote(str(part), safe="/") for part in parts))


def repo_path(repo: str) -> str:
    owner, _, name = repo.partition("/")
    if not owner or not name or "/" in name:
        raise PermanentError(f"{repo!r} is not an owner/name repository")
    return path("/repos/{}/{}", owner, name)


class Api:
    """Requests on one PyGithub ``Requester``; GitHub's errors become the bot's taxonomy."""

    def __init__(
        self,
        requester: Requester,
        clock: Clock,
        on_rate: RateCallback | None = None,
        on_unauthorized: Callable[[], None] | None = None,
    ):
        self._requester = requester
        self._clock = clock
        self._on_rate = on_rate
        self._on_unauthorized = on_unauthorized

    def call(
        self,
        verb: str,
        url: str,
        doing: str,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
    ) -> Any:
        """One request; returns the decoded JSON (None for an empty body)."""
        return self._call(verb, url, doing, params, body)[1]

    def pages(
        self, url: str, doing: str, params: Mapping[str, Any] | None = None, key: str | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every item of a paginated list, following ``Link: rel="next"``, lazily."""
        query: Mapping[str, Any] | None = {"per_page": PER_PAGE, **(params or {})}
        next_url: str | None = url
        for _ in range(MAX_PAGES):
            if next_url is None:
                return
            headers, data = self._call("GET", next_url, doing, query, None)
            query = None  # the next link carries the query already
            items = data.get(key, []) if key is not None and isinstance(data, dict) else data
            yield from items or []
            found = NEXT_LINK.search(headers.get("link", ""))
            next_url = found.group(1) if found else None

    def graphql(self, url: str, query: str, variables: Mapping[str, Any], doing: str) -> Any:
        """One GraphQL query posted to ``url``; returns its ``data``.

        GitHub answers errors in a query with 200 and an ``errors`` list: they are raised
        like HTTP errors (``graphql_error``), never half-read from partial data.
        """
        body = {"query": query, "variables": dict(variables)}
        headers, answer = self._call("POST", url, doing, None, body)
        errors = answer.get("errors") if isinstance(answer, dict) else None
        if errors:
            raise graphql_error(errors, headers, self._clock.now(), doing)
        data = answer.get("data") if isinstance(answer, dict) else None
        if not isinstance(data, dict):
            raise PermanentError(f"GitHub's GraphQL API answered no data to {doing}")
        return data

    def _call(
        self,
        verb: str,
        url: str,
        doing: str,
        params: Mapping[str, Any] | None,
        body: Any,
        retried: bool = False,
    ) -> tuple[dict[str, Any], Any]:
        try:
            headers, data = self._requester.requestJsonAndCheck(
                verb, url, parameters=dict(params or {}), headers=dict(ACCEPT), input=body
            )
        except GithubException as exc:
            self._record_rate(exc.headers or {})
            if exc.status == 401 and self._on_unauthorized is not None and not retried:
                # A revoked or reinstalled installation: mint a new token and try once more.
                self._on_unauthorized()
                return self._call(verb, url, doing, params, body, retried=True)
            raise github_error(
                exc.status, exc.headers or {}, exc.data, self._clock.now(), doing
            ) from None
        except _NETWORK_ERRORS as exc:
            raise connection_error(exc, doing) from None
        self._record_rate(headers)
        return headers, data

    def _record_rate(self, headers: Mapping[str, Any]) -> None:
        lower = {k.lower(): v for k, v in headers.items()}
        remaining = lower.get("x-ratelimit-remaining")
        # Each resource has its own budget: REST's ``core``, GraphQL's (counted in points), ...
        resource = str(lower.get("x-ratelimit-resource") or "core")
        if self._on_rate is not None and remaining is not None:
            with contextlib.suppress(ValueError):
                self._on_rate(resource, int(float(remaining)))


class RedactingFilter(logging.Filter):
    """Masks tokens in PyGithub's debug log, which prints response bodies (access tokens)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.msg = record.getMessage()
            record.args = None
        record.msg = redact(str(record.msg))
        return True


def guard_pygithub_logging() -> None:
    """Install the redacting filter on PyGithub's request logger, once per process."""
    logger = logging.getLogger("github.Requester")
    if not any(isinstance(f, RedactingFilter) for f in logger.filters):
        logger.addFilter(RedactingFilter())
