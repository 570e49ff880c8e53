"""Drift issues: one per Application OutOfSync for too long, updated not duplicated, closed
when it is back in sync, and remembered across restarts."""

from __future__ import annotations

from datetime import timedelta

from bot.watch import Watcher
from tests.bot.watch.harness import APP_REPO, Bot

MARKER = "drift:shop-dev"


def _drift_calls(bot: Bot) -> list[str]:
    return [c.method for c in bot.github.calls if c.method.endswith("issue")]


def test_drift_opens_one_issue_and_closes_it_when_back_in_sync(bot: Bot) -> None:
    bot.control("apply-failures", {"resource": "Deployment/shop", "message": "denied by policy"})
    bot.person_sets_tag("dev", "hand-made")
    bot.argo.poll_now()
    assert bot.status("dev")["status"]["sync"]["status"] == "OutOfSync"

    def watcher() -> Watcher:
        return bot.watcher(drift_threshold=timedelta(minutes=5), drift_every=30)

    first = watcher()
    first.tick()
    assert _drift_calls(bot) == []  # OutOfSync, but not for long yet
    bot.advance(4 * 60)
    first.tick()
    assert _drift_calls(bot) == []
    bot.advance(61)
    first.tick()
    assert _drift_calls(bot) == ["open_or_update_issue"]
    issue = next(i for i in bot.github.issues.values() if i.marker == MARKER)
    assert issue.repo == APP_REPO and issue.state == "open"
    assert "shop-dev has been OutOfSync since" in issue.body
    assert "`Deployment/shop`" in issue.body

    bot.advance(31)
    first.tick()
    second = watcher()  # a restart: the database remembers the open issue
    second.tick()
    assert _drift_calls(bot) == ["open_or_update_issue"]

    bot.control("apply-failures", method="DELETE")
    bot.person_sets_tag("dev", "fixed")
    bot.argo.poll_now()
    bot.settle()
    assert bot.status("dev")["status"]["sync"]["status"] == "Synced"
    bot.advance(31)
    second.tick()
    assert _drift_calls(bot) == ["open_or_update_issue", "close_issue"]
    assert issue.state == "closed"
    bot.advance(31)
    second.tick()
    assert _drift_calls(bot) == ["open_or_update_issue", "close_issue"]


def test_a_deployment_in_flight_is_not_drift(bot: Bot) -> None:
    bot.control("slow-sync", {"seconds": 3600})  # the sync runs for an hour
    deployment = bot.deploy("dev", "v2")
    watcher = bot.watcher(drift_threshold=timedelta(minutes=1), drift_every=0)
    for _ in range(5):
        bot.tick(watcher)
        bot.advance(60)
    status = bot.status("dev")["status"]
    assert (status["sync"]["status"], status["operationState"]["phase"]) == ("OutOfSync", "Running")
    assert bot.get(deployment).state == "syncing"
    assert _drift_calls(bot) == []
