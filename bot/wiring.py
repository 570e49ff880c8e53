"""The bot assembled from its parts: adapters from settings, the feature routers, and the
Argo CD watcher, around ``create_app``. ``serve``, the demo and the end-to-end tests all
build the bot here, so what they run is the same thing."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from bot import handlers
from bot.adapters.argocd import ArgoCD
from bot.adapters.clock import Clock, SystemClock
from bot.adapters.github.adapter import GitHubAdapter
from bot.app import StartHook, create_app
from bot.metrics import Metrics
from bot.ports import GitHub
from bot.services import Services
from bot.settings import Settings
from bot.store import Store


def build_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    github: GitHub | None = None,
    argocd: Any | None = None,
    store: Store | None = None,
    idle_wait: float = 1.0,
    on_start: tuple[StartHook, ...] | None = None,
) -> FastAPI:
    """The whole bot. Adapters default to the real ones configured by ``settings``."""
    clock = clock or SystemClock()
    metrics = Metrics()
    checks = {}
    if github is None:
        remaining = metrics.github_rate_limit_remaining
        adapter = GitHubAdapter.from_settings(
            settings,
            clock,
            on_rate_limit=lambda resource, left: remaining.labels(resource).set(left),
        )
        checks["github_app"] = adapter.check_credentials
        github = adapter
    if argocd is None:
        argocd = ArgoCD.from_settings(settings, clock)
    services = Services(settings, github, argocd=argocd)
    if argocd is not None:
        checks["argocd"] = argocd.check_ready
    if on_start is None:
        from bot.watch import start_watcher

        on_start = (start_watcher,)
    return create_app(
        settings,
        router=handlers.router(),
        store=store,
        clock=clock,
        readiness_checks=checks,
        idle_wait=idle_wait,
        metrics=metrics,
        extras={"services": services},
        on_start=on_start,
    )
