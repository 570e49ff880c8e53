"""``/rollback <env> [<target>]`` against a real GitOps repository and the sandbox Argo CD."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.adapters.clock import FakeClock
from bot.deploy.records import Deployment
from bot.store import Store
from tests.bot.handlers.commenting import comment
from tests.bot.watch.harness import APP_REPO, Bot, git, until_state

FINISHED = ("succeeded", "failed", "timed_out", "superseded")


@pytest.fixture
def world(tmp_path: Path, template: Path, sqlite_store: Store, clock: FakeClock) -> Iterator[Bot]:
    made = Bot(tmp_path, template, sqlite_store, clock)
    made.github.set_permission(APP_REPO, "alice", "maintain")
    made.github.set_permission(APP_REPO, "walt", "write")
    try:
        yield made
    finally:
        made.close()


def _deployed(world: Bot, *tags: str) -> list[Deployment]:
    watcher = world.watcher()
    done = []
    for tag in tags:
        deployment = world.deploy("prod", tag)
        world.run(watcher, until_state(world, deployment, *FINISHED))
        assert world.get(deployment).state == "succeeded"
        done.append(world.get(deployment))
    return done


def _follow_rollback(world: Bot) -> Deployment:
    rollbacks = world.records.find(states={"syncing", *FINISHED}, kind="rollback")
    rollback = rollbacks[-1]
    world.run(world.watcher(), until_state(world, rollback, *FINISHED))
    return world.get(rollback)


def _image(world: Bot) -> list[str]:
    return list(world.status("prod")["status"]["summary"]["images"])


def test_rollback_twice_the_second_finds_nothing_to_revert(world: Bot) -> None:
    _, second = _deployed(world, "v2", "v3")
    answer = comment(world, "/rollback prod")
    assert "syncing" in answer
    rollback = _follow_rollback(world)
    assert rollback.state == "succeeded"
    assert rollback.details["revert"] == [second.gitops_sha]
    assert rollback.image == "ghcr.io/acme/shop:v2"
    assert _image(world) == ["ghcr.io/acme/shop:v2"]
    message = git(world.remote, "log", "-1", "--format=%B", "main")
    assert f"Autostack-Rollback-Of: {second.gitops_sha}" in message
    assert world.records.held("shop", "prod") == f"rolled back by {rollback.label}"

    again = comment(world, "/rollback prod")
    assert "Nothing to roll back in prod" in again and "already reverted" in again
    assert len(world.records.find(states=set(FINISHED), kind="rollback")) == 1


def test_rollback_to_a_target_skips_a_commit_already_reverted(world: Bot) -> None:
    _, v3, v4, v5 = _deployed(world, "v2", "v3", "v4", "v5")
    comment(world, "/rollback prod")
    assert _follow_rollback(world).details["revert"] == [v5.gitops_sha]
    assert _image(world) == ["ghcr.io/acme/shop:v4"]

    comment(world, "/rollback prod v2")
    rollback = _follow_rollback(world)
    assert rollback.state == "succeeded", rollback.message
    assert rollback.details["revert"] == [v4.gitops_sha, v3.gitops_sha]
    assert _image(world) == ["ghcr.io/acme/shop:v2"]


def test_rollback_needs_the_environments_deploy_permission(world: Bot) -> None:
    _deployed(world, "v2", "v3")
    answer = comment(world, "/rollback prod", sender="walt")
    assert "refused" in answer and "needs maintain" in answer
    assert world.records.find(states=set(FINISHED) | {"syncing", "queued"}, kind="rollback") == []


def test_rollback_with_only_one_deployment_says_there_is_nothing_before_it(world: Bot) -> None:
    _deployed(world, "v2")
    answer = comment(world, "/rollback prod")
    assert "Nothing to roll back to: prod is at its first deployment" in answer
