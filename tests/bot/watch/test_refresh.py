"""``Refresher``: refresh=normal calls on its own threads, bounded, one per Application while
one is waiting, transient failures handed back, the circuit breaker respected."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest

from bot.adapters.argocd import BreakerState
from bot.core.argo import ArgoNotFound
from bot.core.errors import PermanentError, TransientError
from bot.watch.refresh import Refresher
from tests.bot.watch.harness import Bot

GET = ("GET", "/api/v1/applications/{name}")


class BlockingArgo:
    """Answers ``get_application`` once released; counts calls and how many ran at once."""

    def __init__(self, fail: dict[str, Exception] | None = None):
        self.release = threading.Event()
        self.fail = fail or {}
        self.calls: list[tuple[str, Any]] = []
        self.running = 0
        self.most_at_once = 0
        self._lock = threading.Lock()

    def get_application(self, name: str, refresh: Any = None) -> None:
        with self._lock:
            self.calls.append((name, refresh))
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        try:
            assert self.release.wait(30), "never released"
            if name in self.fail:
                raise self.fail[name]
        finally:
            with self._lock:
                self.running -= 1


def test_refreshes_run_at_most_workers_at_once_and_oldest_first() -> None:
    argo = BlockingArgo()
    refresher = Refresher(argo, workers=2)
    names = [f"app{i}-dev" for i in range(6)]
    for name in names:
        assert refresher.request(name)
    assert refresher.pending() == set(names)
    argo.release.set()
    assert refresher.wait_idle(10)
    assert argo.most_at_once == 2
    assert sorted(argo.calls) == [(name, "normal") for name in names]
    assert [name for name, _ in argo.calls[:2]] in (names[:2], names[1::-1])
    assert refresher.answered == 6
    assert refresher.pending() == set()


def test_a_name_waiting_or_running_is_not_refreshed_twice() -> None:
    argo = BlockingArgo()
    refresher = Refresher(argo, workers=1)
    assert refresher.request("shop-dev")
    assert refresher.request("shop-prod")
    assert not refresher.request("shop-dev")  # running
    assert not refresher.request("shop-prod")  # queued
    argo.release.set()
    assert refresher.wait_idle(10)
    assert [name for name, _ in argo.calls] == ["shop-dev", "shop-prod"]
    assert refresher.request("shop-dev")  # done: a new request is a new refresh
    assert refresher.wait_idle(10)
    assert len(argo.calls) == 3


def test_transient_failures_are_handed_back_and_logged_once_in_a_row(
    caplog: pytest.LogCaptureFixture,
) -> None:
    down = TransientError("Argo CD: get application failed: 503")
    argo = BlockingArgo(
        fail={
            "a-dev": down,
            "b-dev": down,
            "gone-dev": ArgoNotFound("no such application"),
            "denied-dev": PermanentError("permission denied"),
        }
    )
    argo.release.set()
    refresher = Refresher(argo, workers=1)
    with caplog.at_level(logging.DEBUG, logger="bot.watch.refresh"):
        for name in ("a-dev", "b-dev", "gone-dev", "denied-dev", "ok-dev"):
            refresher.request(name)
        assert refresher.wait_idle(10)
    assert refresher.take_failed() == {"a-dev", "b-dev"}  # only these are worth asking again
    assert refresher.take_failed() == set()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == ["Argo CD refresh of a-dev failed: Argo CD: get application failed: 503"]
    assert refresher.answered == 1


def test_close_drops_what_is_queued() -> None:
    argo = BlockingArgo()
    refresher = Refresher(argo, workers=1)
    for name in ("a-dev", "b-dev", "c-dev"):
        refresher.request(name)
    closing = threading.Thread(target=refresher.close, kwargs={"timeout": 30})
    closing.start()
    argo.release.set()
    closing.join(30)
    assert not closing.is_alive()
    assert [name for name, _ in argo.calls] == ["a-dev"]  # only the one already running
    assert refresher.pending() == set()
    assert not refresher.request("d-dev")


def test_an_open_breaker_means_no_call_and_a_failure_handed_back(bot: Bot) -> None:
    for _ in range(bot.argocd.breaker.failure_threshold):
        bot.argocd.breaker.record_failure()
    assert bot.argocd.state is BreakerState.OPEN
    bot.argo.requests.clear()
    refresher = Refresher(bot.argocd)
    refresher.request("shop-prod")
    assert refresher.wait_idle(10)
    assert bot.requests(*GET) == 0
    assert refresher.take_failed() == {"shop-prod"}


def test_a_failed_first_sight_refresh_is_asked_for_again(bot: Bot) -> None:
    deployment = bot.deploy("prod", "v2")
    get_application = bot.argocd.get_application
    failures = [TransientError("Argo CD: get application shop-prod failed: ConnectError")]

    def flaky(name: str, refresh: Any = None) -> Any:
        if refresh and failures:
            raise failures.pop()
        return get_application(name, refresh)

    bot.argocd.get_application = flaky  # type: ignore[method-assign]
    watcher = bot.watcher()
    bot.argo.requests.clear()
    bot.tick(watcher)
    assert failures == [] and bot.requests(*GET) == 0
    bot.tick(watcher)
    assert bot.requests(*GET) == 1  # asked again, and answered
    bot.tick(watcher)
    assert bot.requests(*GET) == 1
    bot.run(watcher, lambda: bot.get(deployment).state == "succeeded")


def test_a_refresh_that_answers_after_the_list_call_is_not_asked_for_again(bot: Bot) -> None:
    bot.deploy("prod", "v2")
    release = threading.Event()
    get_application = bot.argocd.get_application
    list_applications = bot.argocd.list_applications

    def slow(name: str, refresh: Any = None) -> Any:
        if refresh:
            assert release.wait(30), "never released"
        return get_application(name, refresh)

    bot.argocd.get_application = slow  # type: ignore[method-assign]
    watcher = bot.watcher(refresh_every=10)
    bot.argo.requests.clear()
    watcher.tick()  # asks for the first refresh, which waits in the queue...
    bot.advance(11)  # ...for longer than refresh_every

    def listed_then_refreshed(selector: Any = None) -> Any:
        found = list_applications(selector)  # still shows the health from before the commit
        release.set()
        assert watcher.refresher.wait_idle(10)
        return found

    bot.argocd.list_applications = listed_then_refreshed  # type: ignore[method-assign]
    bot.tick(watcher)
    assert bot.requests(*GET) == 1
