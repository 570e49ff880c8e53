"""GitHub App authentication: short-lived JWTs, and installation tokens cached per installation.

The JWT (RS256, issued 60 s in the past against clock drift, valid 9 minutes) authenticates
as the App; it buys an installation token, which is reused until 5 minutes before it
expires. The installation that covers a repository is looked up once and remembered; each
token minted joins the known secrets, so that nothing the bot echoes can carry it. Times
come from the injected ``Clock``, never from the system clock directly.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from github import Auth

from bot.adapters.clock import Clock
from bot.core.secrets import KNOWN_SECRETS

JWT_BACKDATE = timedelta(seconds=60)
JWT_LIFETIME = timedelta(minutes=9)
TOKEN_MARGIN = timedelta(minutes=5)

T = TypeVar("T")


class ClockedAppAuth(Auth.AppAuth):
    """PyGithub's App auth with its JWT times taken from our clock."""

    def __init__(self, app_id: int, private_key: str, clock: Clock):
        super().__init__(app_id, private_key)
        self._clock = clock

    def create_jwt(self, expiration: int | None = None) -> str:
        now = self._clock.now()
        lifetime = timedelta(seconds=expiration) if expiration else JWT_LIFETIME
        payload = {
            "iat": int((now - JWT_BACKDATE).timestamp()),
            "exp": int((now + lifetime).timestamp()),
            "iss": str(self.app_id),
        }
        assert self._sign_func is not None
        signed = self._sign_func(payload)
        return signed.decode() if isinstance(signed, bytes) else signed


class TokenAuth(Auth.Auth):
    """``Authorization: token ...`` with the token fetched (from the cache) per request."""

    def __init__(self, token: Callable[[], str]):
        self._token = token

    @property
    def token_type(self) -> str:
        return "token"

    @property
    def token(self) -> str:
        return self._token()


@dataclass(frozen=True)
class CachedToken:
    token: str
    expires_at: datetime


class InstallationTokens:
    """Installation ids per repository and tokens per installation, safe across threads.

    ``lookup`` and ``mint`` do the HTTP calls; this class only decides when they are needed.
    """

    def __init__(
        self,
        clock: Clock,
        lookup: Callable[[str], int],
        mint: Callable[[int], CachedToken],
    ):
        self._clock = clock
        self._lookup = lookup
        self._mint = mint
        self._lock = threading.Lock()
        self._installations: dict[str, int] = {}
        self._tokens: dict[int, CachedToken] = {}
        # One lock per installation, so two threads never mint two tokens at once.
        self._minting: dict[int, threading.Lock] = {}

    def installation_id(self, repo: str) -> int:
        key = repo.lower()
        with self._lock:
            known = self._installations.get(key)
        if known is not None:
            return known
        found = self._lookup(repo)
        with self._lock:
            self._installations[key] = found
        return found

    def token(self, installation_id: int) -> str:
        with self._lock:
            minting = self._minting.setdefault(installation_id, threading.Lock())
        with minting:
            cached = self._fresh(installation_id)
            if cached is None:
                cached = self._mint(installation_id)
                KNOWN_SECRETS.add(cached.token, ephemeral=True)
                with self._lock:
                    self._tokens[installation_id] = cached
            return cached.token

    def forget(self, repo: str | None = None, installation_id: int | None = None) -> None:
        """Drop what a 401/404 showed to be stale (an App reinstalled, a token revoked)."""
        with self._lock:
            if repo is not None:
                self._installations.pop(repo.lower(), None)
            if installation_id is not None:
                self._tokens.pop(installation_id, None)

    def _fresh(self, installation_id: int) -> CachedToken | None:
        with self._lock:
            cached = self._tokens.get(installation_id)
        if cached is None or self._clock.now() >= cached.expires_at - TOKEN_MARGIN:
            return None
        return cached


def as_utc(moment: datetime) -> datetime:
    """PyGithub parses GitHub's ``Z`` times into aware datetimes; be sure of it."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
