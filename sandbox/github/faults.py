"""Fault injection rules: which requests or webhook deliveries fail, and how.

A rule matches by method and a glob over the route template or the path, and fires with a
probability or, for deterministic tests, on the first N or every Nth match.
"""

from __future__ import annotations

import fnmatch
import random
import threading
from dataclasses import asdict, dataclass, field
from typing import Any

KINDS = ("error", "rate_limit", "secondary_rate_limit", "latency", "drop", "webhook")


@dataclass
class FaultRule:
    kind: str
    method: str = "*"
    route: str = "*"
    event: str = "*"
    status: int = 0
    probability: float = 1.0
    first: int = 0
    every: int = 0
    latency_ms: int = 0
    retry_after: int = 60
    caller: str = "*"  # "app": only the App's own calls (its JWT or installation tokens)
    id: int = 0
    matched: int = 0
    fired: int = 0

    def matches_request(self, method: str, template: str, path: str, caller: str = "") -> bool:
        if self.kind == "webhook" or not fnmatch.fnmatchcase(method.upper(), self.method.upper()):
            return False
        if self.caller != "*" and caller != self.caller:
            return False
        return fnmatch.fnmatchcase(template, self.route) or fnmatch.fnmatchcase(path, self.route)

    def matches_event(self, event: str) -> bool:
        return self.kind == "webhook" and fnmatch.fnmatchcase(event, self.event)

    def should_fire(self, rng: random.Random) -> bool:
        """Count a match and say whether this one fires."""
        self.matched += 1
        if self.first:
            fire = self.matched <= self.first
        elif self.every:
            fire = self.matched % self.every == 0
        else:
            fire = rng.random() < self.probability
        self.fired += int(fire)
        return fire


@dataclass
class Faults:
    """The active rules; thread-safe, seeded for reproducible probabilistic runs."""

    seed: int = 0
    rules: list[FaultRule] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(self.seed)
        self._next_id = 1

    def add(self, **spec: Any) -> FaultRule:
        if spec.get("kind") not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}")
        allowed = {f for f in FaultRule.__dataclass_fields__ if f not in ("id", "matched", "fired")}
        unknown = set(spec) - allowed
        if unknown:
            raise ValueError(f"unknown fault fields: {', '.join(sorted(unknown))}")
        with self._lock:
            rule = FaultRule(**spec, id=self._next_id)
            self._next_id += 1
            self.rules.append(rule)
        return rule

    def reset(self, seed: int | None = None) -> None:
        with self._lock:
            self.rules.clear()
            if seed is not None:
                self._rng.seed(seed)

    def for_request(
        self, method: str, template: str, path: str, caller: str = ""
    ) -> list[FaultRule]:
        with self._lock:
            return [
                rule
                for rule in self.rules
                if rule.matches_request(method, template, path, caller)
                and rule.should_fire(self._rng)
            ]

    def for_webhook(self, event: str) -> FaultRule | None:
        with self._lock:
            for rule in self.rules:
                if rule.matches_event(event) and rule.should_fire(self._rng):
                    return rule
        return None

    def describe(self) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(rule) for rule in self.rules]
