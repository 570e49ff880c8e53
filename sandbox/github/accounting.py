"""The request log and the per-installation rate-limit budget.

Tests and benchmarks read the log to count GitHub API calls per operation; the budget makes
``X-RateLimit-*`` headers count down like GitHub's 5,000 requests an hour.
"""

from __future__ import annotations

import fnmatch
import threading
from dataclasses import dataclass
from typing import Any

HOURLY_LIMIT = 5000


class RequestLog:
    """Every API and git call the server answered, in order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[dict[str, Any]] = []

    def add(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self._entries.append(entry)

    def entries(self, method: str = "*", route: str = "*") -> list[dict[str, Any]]:
        with self._lock:
            return [
                dict(e)
                for e in self._entries
                if fnmatch.fnmatchcase(e["method"], method.upper())
                and fnmatch.fnmatchcase(e["route"], route)
            ]

    def reset(self) -> None:
        with self._lock:
            self._entries.clear()


@dataclass
class Budget:
    limit: int
    used: int
    reset: int

    @property
    def remaining(self) -> int:
        return max(self.limit - self.used, 0)

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset),
            "X-RateLimit-Used": str(self.used),
            "X-RateLimit-Resource": "core",
        }


class RateLimiter:
    """An hourly window per rate-limit key (an installation, a user, an address)."""

    def __init__(self, limit: int = HOURLY_LIMIT) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._budgets: dict[str, Budget] = {}

    def _current(self, key: str, now: float) -> Budget:
        budget = self._budgets.get(key)
        if budget is None or now >= budget.reset:
            budget = self._budgets[key] = Budget(self.limit, 0, int(now) + 3600)
        return budget

    def peek(self, key: str, now: float) -> Budget:
        with self._lock:
            b = self._current(key, now)
            return Budget(b.limit, b.used, b.reset)

    def consume(self, key: str, now: float) -> tuple[bool, Budget]:
        """Spend one request; False when the budget was already exhausted."""
        with self._lock:
            budget = self._current(key, now)
            if budget.remaining <= 0:
                return False, Budget(budget.limit, budget.used, budget.reset)
            budget.used += 1
            return True, Budget(budget.limit, budget.used, budget.reset)

    def set_remaining(self, key: str, remaining: int, now: float) -> None:
        with self._lock:
            budget = self._current(key, now)
            budget.used = max(budget.limit - remaining, 0)

    def reset(self) -> None:
        with self._lock:
            self._budgets.clear()
