"""What a pass costs besides Argo CD: git is read once for the commit graph rather than
fetched per deployment, and a settling Healthy streak gets a pass when it settles rather
than at the next interval."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from bot.watch import start_watcher
from tests.bot.watch.harness import Bot


def _count(monkeypatch: pytest.MonkeyPatch, target: Any, name: str) -> list[tuple[Any, ...]]:
    calls: list[tuple[Any, ...]] = []
    original = getattr(target, name)

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(target, name, counting)
    return calls


def test_ancestry_reads_the_graph_once_not_git_per_deployment(
    bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    gitops = bot.services.gitops()
    asked = _count(monkeypatch, gitops, "is_ancestor")
    histories = _count(monkeypatch, gitops, "history")
    deployments = [bot.deploy(env, f"v{i + 2}") for i, env in enumerate(["dev", "staging", "prod"])]
    watcher = bot.watcher()
    passes = bot.run(
        watcher, lambda: all(bot.get(d).state == "succeeded" for d in deployments), max_steps=30
    )
    assert passes >= 3
    # dev and staging landed before prod: Argo CD synced revisions newer than theirs, which
    # the graph answers without asking git.
    assert {bot.status(env)["status"]["sync"]["revision"] for env in ("dev", "staging")} != {
        bot.get(deployments[0]).gitops_sha
    }
    assert asked == []
    assert [args for args in histories if args[:1] == ("",)] == [("",)]
    assert watcher.graph.reads == 1


def test_a_settling_deployment_gets_a_pass_when_it_settles(bot: Bot) -> None:
    # Healthy comes a second after the sync, within the settle time, so it needs a streak.
    bot.control("progressing", {"seconds": 1})
    settle = 2.0
    settings = bot.settings.model_copy(
        update={"health_settle_seconds": settle, "watch_interval_seconds": 60.0}
    )
    ctx = replace(bot.ctx, settings=settings)
    deployment = bot.deploy("prod", "v2")
    bot.argo.poll_now()  # Argo CD syncs it and rolls it out before the watcher starts
    bot.settle()
    bot.advance(1)
    assert bot.status("prod")["status"]["health"]["status"] == "Healthy"
    stop = start_watcher(ctx, stream=False)
    try:
        _eventually(lambda: bot.get(deployment).details.get("first_healthy_at") is not None)
        started = time.monotonic()
        bot.clock.advance(settle)  # the streak has lasted the settle time on the bot's clock
        _eventually(lambda: bot.get(deployment).state == "succeeded", seconds=10)
        # The interval is a minute and nothing in Argo CD changed: only the settle wake-up
        # can have run this pass.
        assert time.monotonic() - started < 5
    finally:
        stop()


def _eventually(check: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "not reached in time"
        time.sleep(0.02)


GET = ("GET", "/api/v1/applications/{name}")


def test_a_pass_does_not_wait_for_first_sight_refreshes(bot: Bot) -> None:
    deployments = [bot.deploy(env, f"v{i + 2}") for i, env in enumerate(["dev", "staging", "prod"])]
    release = threading.Event()
    asked: list[str] = []
    get_application = bot.argocd.get_application

    def slow(name: str, refresh: Any = None) -> Any:
        if refresh:
            asked.append(name)
            assert release.wait(30), "never released"
        return get_application(name, refresh)

    bot.argocd.get_application = slow  # type: ignore[method-assign]
    watcher = bot.watcher()
    bot.argo.requests.clear()
    try:
        for _ in range(3):
            _in_thread(watcher.tick)  # returns although every refresh is still blocked
        assert watcher.refresher.pending() == {"shop-dev", "shop-staging", "shop-prod"}
        assert bot.requests("GET", "/api/v1/applications") == 3
        assert bot.requests(*GET) == 0
    finally:
        release.set()
    assert watcher.refresher.wait_idle(10)
    assert sorted(asked) == ["shop-dev", "shop-prod", "shop-staging"]  # once each
    assert bot.requests(*GET) == 3
    bot.settle()
    bot.run(watcher, lambda: all(bot.get(d).state == "succeeded" for d in deployments))
    assert bot.requests(*GET) == 3  # one refresh per new deployment, none after


def test_a_restarted_watcher_refreshes_only_what_argo_cd_has_not_compared(bot: Bot) -> None:
    bot.deploy("dev", "v2")
    bot.deploy("prod", "v2")
    first = bot.watcher()
    bot.argo.requests.clear()
    bot.tick(first)
    assert bot.requests(*GET) == 2
    first.close()  # the process ends; the next deployment lands meanwhile
    staging = bot.deploy("staging", "v2")

    second = bot.watcher()
    bot.tick(second)
    bot.tick(second)
    # dev and prod were compared with their commits before the restart; staging was not.
    assert bot.requests(*GET) == 3
    assert bot.status("staging")["status"]["sync"]["revision"] == bot.get(staging).gitops_sha


def _in_thread(call: Callable[[], None], seconds: float = 30.0) -> None:
    """Run ``call`` on another thread; it must return (a pass that waited for a blocked
    refresh would hang until the refresh is released)."""
    done = threading.Event()

    def run() -> None:
        call()
        done.set()

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    assert done.is_set(), "the pass waited for a refresh"


def test_no_first_sight_refresh_when_argo_cd_has_compared_with_the_commit(bot: Bot) -> None:
    for index, env in enumerate(["dev", "staging", "prod"]):
        bot.deploy(env, f"v{index + 2}")
    bot.argo.poll_now()  # Argo CD compares every Application with the newest commit itself
    watcher = bot.watcher()
    bot.argo.requests.clear()
    bot.tick(watcher)
    bot.tick(watcher)
    assert bot.requests(*GET) == 0
