"""``start_watcher(ctx, stream=False)``: passes on the interval only, no watch stream."""

from __future__ import annotations

import time
from collections.abc import Callable

from bot.watch import start_watcher
from tests.bot.watch.harness import Bot

LIST = ("GET", "/api/v1/applications")
STREAM = ("GET", "/api/v1/stream/applications")


def _eventually(check: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "not reached in time"
        time.sleep(0.05)


def test_without_the_stream_the_watcher_polls_on_its_interval(bot: Bot) -> None:
    bot.deploy("prod", "v2")
    bot.argo.requests.clear()
    stop = start_watcher(bot.ctx, stream=False)
    try:
        _eventually(lambda: bot.requests(*LIST) >= 2)  # a pass at once, one an interval later
        assert bot.argo._listeners == []  # nobody is watching
    finally:
        stop()
    assert bot.requests(*STREAM) == 0


def test_the_stream_is_on_by_default(bot: Bot) -> None:
    stop = start_watcher(bot.ctx)
    try:
        _eventually(lambda: len(bot.argo._listeners) == 1)
    finally:
        stop()
        bot.argo._emit("CLOSED", {})  # end the open stream, as a stopping server does
