"""Event routing: each feature module owns a ``Router``; the app merges them into one.

    router = Router()

    @router.register("issue_comment", action="created")
    def on_comment(event: Event, ctx: HandlerContext) -> None: ...

Handlers run in a worker thread, may be called again for the same delivery after a
transient failure, and so must be idempotent; they signal failures with the taxonomy in
``bot.core.errors``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from bot.adapters.clock import Clock
from bot.audit import AuditLog
from bot.core.events import Event
from bot.metrics import Metrics
from bot.settings import Settings
from bot.store import DeployLocks, Store


@dataclass
class HandlerContext:
    """What every handler may use; adapters (GitHub, git, Argo CD) are added as they land."""

    settings: Settings
    clock: Clock
    store: Store
    audit: AuditLog
    locks: DeployLocks
    metrics: Metrics
    # Called with an installation id, returns that installation's GitHub client.
    github_factory: Callable[[int], Any] | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def build(cls, settings: Settings, store: Store, clock: Clock, **extra: Any) -> HandlerContext:
        """A context with fresh audit log, locks and metrics over ``store``."""
        return cls(
            settings=settings,
            clock=clock,
            store=store,
            audit=AuditLog.from_settings(store, settings, clock),
            locks=DeployLocks(store),
            metrics=extra.pop("metrics", None) or Metrics(),
            github_factory=extra.pop("github_factory", None),
            extras=extra,
        )


Handler = Callable[[Event, HandlerContext], None]
H = TypeVar("H", bound=Handler)


class Router:
    """Maps ``(event, action)`` to handlers; ``action=None`` handlers see every action."""

    def __init__(self, *routers: Router):
        self._routes: dict[tuple[str, str | None], list[Handler]] = {}
        for other in routers:
            for route, handlers in other._routes.items():
                for handler in handlers:
                    self.add(handler, *route)

    @classmethod
    def merge(cls, *routers: Router) -> Router:
        """One router with every route of ``routers``, in order."""
        return cls(*routers)

    def add(self, handler: Handler, event: str, action: str | None = None) -> None:
        handlers = self._routes.setdefault((event, action), [])
        if handler not in handlers:
            handlers.append(handler)

    def register(self, event: str, action: str | None = None) -> Callable[[H], H]:
        def decorator(handler: H) -> H:
            self.add(handler, event, action)
            return handler

        return decorator

    def __len__(self) -> int:
        """How many handlers are registered, over every route."""
        return sum(len(handlers) for handlers in self._routes.values())

    def handlers_for(self, event: str, action: str | None) -> list[Handler]:
        handlers = list(self._routes.get((event, None), []))
        if action is not None:
            handlers += self._routes.get((event, action), [])
        return handlers

    def dispatch(self, event: Event, context: HandlerContext) -> int:
        """Call every matching handler in order; returns how many there were.

        An exception stops the dispatch and propagates: the worker retries the whole
        delivery, which is why handlers must be idempotent.
        """
        handlers = self.handlers_for(event.name, event.action)
        for handler in handlers:
            handler(event, context)
        return len(handlers)
