"""``start_watcher``: passes on a background schedule, the watch stream, the breaker gauge."""

from __future__ import annotations

import time
from collections.abc import Callable

from bot.adapters.argocd import BreakerState
from bot.watch import start_watcher
from bot.watch.stream import StreamWaker
from tests.bot.watch.harness import Bot


def _eventually(check: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "not reached in time"
        time.sleep(0.05)


def test_start_watcher_follows_in_the_background_and_stops(bot: Bot) -> None:
    bot.deploy("prod", "v2")
    stop = start_watcher(bot.ctx)
    try:
        _eventually(lambda: bot.requests("GET", "/api/v1/applications/{name}") >= 1)
        _eventually(lambda: bot.requests("GET", "/api/v1/applications") >= 1)
        _eventually(lambda: len(bot.argo._listeners) >= 1)  # the watch stream is open
        metrics = bot.ctx.metrics.render().decode()
        assert "autostack_argocd_breaker_open 0.0" in metrics
        for _ in range(5):
            bot.argocd.breaker.record_failure()
        assert bot.argocd.state is BreakerState.OPEN
        assert "autostack_argocd_breaker_open 1.0" in bot.ctx.metrics.render().decode()
    finally:
        stop()
    passes = bot.requests("GET", "/api/v1/applications")
    time.sleep(0.3)
    assert bot.requests("GET", "/api/v1/applications") == passes  # stopped for good


def test_the_stream_only_wakes_the_watcher_and_reconnects(bot: Bot) -> None:
    woken: list[float] = []
    waker = StreamWaker(
        bot.argocd, lambda: woken.append(time.monotonic()), first_backoff=0.05, max_backoff=0.2
    )
    waker.start()
    try:
        _eventually(lambda: len(woken) >= 3)  # the three shop Applications, as ADDED
        opened = bot.requests("GET", "/api/v1/stream/applications")  # logged when it ends
        bot.argo.requests.clear()
        bot.person_sets_tag("dev", "hand-made")
        seen = len(woken)
        bot.argo.poll_now()
        _eventually(lambda: len(woken) > seen)
        assert bot.argo.requests == []  # no call per event
        bot.control("outage", {"mode": "503"})
        bot.argo._emit("CLOSED", {})  # the server ends the stream; reconnecting hits the outage
        _eventually(lambda: bot.requests("GET", "/api/v1/stream/applications") >= opened + 2)
        bot.control("outage", {"mode": None})
        bot.argocd.breaker.record_success()
        _eventually(lambda: len(bot.argo._listeners) >= 1)  # reconnected
        count = len(woken)
        bot.person_sets_tag("dev", "hand-made-again")
        bot.argo.poll_now()
        _eventually(lambda: len(woken) > count)
    finally:
        waker.stop()
        bot.argo._emit("CLOSED", {})
