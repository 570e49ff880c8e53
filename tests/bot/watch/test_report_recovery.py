"""A report cut short (the process dies between GitHub's answer and the database write, or
GitHub fails part-way) is completed once: no Deployment, status, check run or comment made
twice, none missing. The kill suite in tests/reliability found both gaps."""

from __future__ import annotations

import contextlib
from collections import Counter

from bot.core.errors import TransientError
from bot.deploy import report
from tests.bot.watch.harness import APP_REPO, Bot, until_state


def states(bot: Bot, deployment_id: int) -> list[str]:
    return bot.github.deployment_states(APP_REPO, deployment_id)


def test_a_final_report_cut_short_is_completed_by_the_next_pass(bot: Bot) -> None:
    deployment = bot.deploy("prod", "v2")
    watcher = bot.watcher()
    # The verdict is saved, then GitHub fails on the final status: as if the process had
    # died right there, before the check run and the comment were updated.
    bot.github.fail("deployment_status", TransientError("GitHub answered 502"), times=1)
    with contextlib.suppress(TransientError):
        bot.run(watcher, until_state(bot, deployment, "succeeded"))
    finished = bot.get(deployment)
    assert finished.state == "succeeded" and finished.details.get("report_due") is not None
    assert "success" not in states(bot, finished.github_deployment_id or 0)

    bot.tick(watcher)  # the next pass completes the report, once
    bot.tick(watcher)
    finished = bot.get(deployment)
    assert not finished.details.get("report_due")
    assert Counter(states(bot, finished.github_deployment_id or 0)) == Counter(
        {"in_progress": 1, "success": 1}
    )
    [run] = bot.github.check_runs.values()
    assert (run.status, run.conclusion) == ("completed", "success")
    [*_, last] = bot.github.called("upsert_comment")
    assert ": deployed" in last[-1]


def test_a_final_status_github_already_has_is_not_sent_again(bot: Bot) -> None:
    deployment = bot.deploy("prod", "v2")
    watcher = bot.watcher()
    bot.run(watcher, until_state(bot, deployment, "succeeded"))
    finished = bot.get(deployment)
    # The process died after GitHub took the final status, before the report was marked
    # done: the recovery sees the status there and does not send it again.
    bot.records.update(
        finished.id, bot.clock.now(), details={"report_due": {"environment_url": None}}
    )
    assert watcher.deployer.report_unfinished() == 1
    assert Counter(states(bot, finished.github_deployment_id or 0))["success"] == 1
    assert watcher.deployer.report_unfinished() == 0


def test_a_deployment_github_made_but_the_bot_never_recorded_is_found_not_made_again(
    bot: Bot,
) -> None:
    deployment = bot.deploy("prod", "v2")
    started = bot.get(deployment)
    assert started.github_deployment_id is not None and started.check_run_id is not None
    # As if the first attempt had died after GitHub answered but before the ids were saved.
    lost = bot.records.update(
        started.id, bot.clock.now(), github_deployment_id=None, check_run_id=None
    )
    saved: dict[str, object] = {}
    report.start_on_github(bot.services, lost, lambda **ids: saved.update(ids))
    assert saved == {
        "github_deployment_id": started.github_deployment_id,
        "check_run_id": started.check_run_id,
    }
    assert len(bot.github.called("create_deployment")) == 1
    assert Counter(states(bot, started.github_deployment_id)) == Counter({"in_progress": 1})
    assert len(bot.github.check_runs) == 1
