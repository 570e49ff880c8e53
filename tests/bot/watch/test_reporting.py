"""A pass reports on several deployments at once (bounded), and one failing report does not
stop the others."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from bot.watch import Watcher
from tests.bot.watch.harness import PROGRESSING_SECONDS, Bot

ENVS = ("dev", "staging", "prod")


def _all_healthy_before_a_pass(bot: Bot, reporters: int) -> tuple[Watcher, list[Any]]:
    deployments = [bot.deploy(env, f"v{i + 2}") for i, env in enumerate(ENVS)]
    watcher = bot.watcher()
    watcher.follower.reporters = reporters
    bot.tick(watcher)  # the first refreshes start the syncs
    bot.settle()
    bot.advance(PROGRESSING_SECONDS + 1)
    assert {bot.status(env)["status"]["health"]["status"] for env in ENVS} == {"Healthy"}
    assert {bot.get(d).state for d in deployments} == {"syncing"}
    return watcher, deployments


def test_verdicts_of_one_pass_are_reported_at_once_up_to_the_bound(bot: Bot) -> None:
    watcher, deployments = _all_healthy_before_a_pass(bot, reporters=2)
    original = bot.github.deployment_status
    gate = threading.Condition()
    running = most = 0
    opened = False

    def gated(*args: Any, **kwargs: Any) -> Any:
        # Each call waits (boundedly) for a second one to run alongside it: one report
        # after another would never have two at once.
        nonlocal running, most, opened
        with gate:
            running += 1
            most = max(most, running)
            opened = opened or running >= 2
            gate.notify_all()
            gate.wait_for(lambda: opened, timeout=10)
        try:
            return original(*args, **kwargs)
        finally:
            with gate:
                running -= 1

    bot.github.deployment_status = gated  # type: ignore[method-assign]
    bot.tick(watcher)
    assert [bot.get(d).state for d in deployments] == ["succeeded"] * 3
    assert most == 2


def test_one_failing_report_does_not_stop_the_others(bot: Bot) -> None:
    watcher, deployments = _all_healthy_before_a_pass(bot, reporters=2)
    dev = bot.get(deployments[0])
    original = bot.github.deployment_status

    def failing_for_dev(repo: str, deployment_id: int, *args: Any, **kwargs: Any) -> Any:
        if deployment_id == dev.github_deployment_id:
            raise RuntimeError("GitHub fell over")
        return original(repo, deployment_id, *args, **kwargs)

    bot.github.deployment_status = failing_for_dev  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="GitHub fell over"):
        watcher.tick()
    assert [bot.get(d).state for d in deployments[1:]] == ["succeeded"] * 2


def test_a_pass_fetches_the_gitops_repository_once_for_all_its_verdicts(
    bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    watcher, deployments = _all_healthy_before_a_pass(bot, reporters=2)
    # dev and staging were compared with prod's commit, which contains theirs: each verdict
    # asks git whether a later commit changed its overlay.
    revisions = {bot.status(env)["status"]["sync"]["revision"] for env in ENVS}
    assert revisions == {bot.get(deployments[-1]).gitops_sha}
    cache = bot.services.gitops()._cache
    fetches: list[str] = []
    fetch = cache._fetch

    def counting() -> None:
        fetches.append(threading.current_thread().name)
        fetch()

    monkeypatch.setattr(cache, "_fetch", counting)
    bot.tick(watcher)
    assert [bot.get(d).state for d in deployments] == ["succeeded"] * 3
    assert len(fetches) == 1
