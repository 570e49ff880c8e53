"""Argo CD calls per pass stay flat as deployments in flight grow; GitHub calls follow
state changes, not passes."""

from __future__ import annotations

import itertools

from tests.bot.watch.harness import Bot, until_state

LIST = ("GET", "/api/v1/applications")
GET = ("GET", "/api/v1/applications/{name}")
REPORTING = ("upsert_comment", "deployment_status", "check_run", "create_deployment")


def _calls_for_passes(bot: Bot, envs: list[str], passes: int) -> tuple[int, int]:
    for index, env in enumerate(envs):
        bot.deploy(env, f"v{index + 2}")
    watcher = bot.watcher()
    bot.argo.requests.clear()
    for _ in range(passes):
        bot.tick(watcher)
    return bot.requests(*LIST), bot.requests(*GET)


def test_one_list_call_per_pass_however_many_deployments_are_in_flight(bot: Bot) -> None:
    lists, gets = _calls_for_passes(bot, ["prod"], passes=6)
    assert (lists, gets) == (6, 1)  # the one get: a refresh right after it landed
    bot.run(bot.watcher(), lambda: not bot.records.find(states={"syncing"}))

    lists, gets = _calls_for_passes(bot, ["dev", "staging", "prod"], passes=6)
    assert len(bot.records.find(states={"syncing"})) == 3
    assert (lists, gets) == (6, 3)


def test_passes_without_changes_make_no_github_calls(bot: Bot) -> None:
    deployment = bot.deploy("prod", "v2")
    watcher = bot.watcher()
    bot.tick(watcher)  # asks for a refresh, whose outcome the next pass reports
    bot.tick(watcher)
    reported = [c for c in bot.github.calls if c.method in REPORTING]
    for _ in range(10):
        bot.tick(watcher)  # Argo CD's view does not change while time stands still
    assert [c for c in bot.github.calls if c.method in REPORTING] == reported

    bot.run(watcher, until_state(bot, deployment, "succeeded"))
    shown = [_argo_cells(body) for *_, body in bot.github.called("upsert_comment")]
    # The landing's comment, then one edit per change of what Argo CD shows, then the
    # verdict (which may show the same cells with a new headline).
    progress = shown[:-1]
    assert all(a != b for a, b in itertools.pairwise(progress))
    assert len(progress) >= 3
    assert len(bot.github.called("deployment_status")) == 2
    assert len(bot.github.called("check_run")) == 2


def _argo_cells(body: str) -> tuple[str, ...]:
    """Sync, health and revision from the comment's table row."""
    row = body.split("| prod |")[1].split("\n")[0]
    cells = [cell.strip() for cell in row.split("|")]
    return tuple(cells[1:4])
