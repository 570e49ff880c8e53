"""``/status [<env>]`` answers from Argo CD's live state, with who deployed and the hold."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.adapters.clock import FakeClock
from bot.core.messages import EMPTY
from bot.store import Store
from tests.bot.handlers.commenting import comment
from tests.bot.watch.harness import APP_REPO, Bot, until_state


@pytest.fixture
def world(tmp_path: Path, template: Path, sqlite_store: Store, clock: FakeClock) -> Iterator[Bot]:
    made = Bot(tmp_path, template, sqlite_store, clock)
    made.github.set_permission(APP_REPO, "alice", "write")
    try:
        yield made
    finally:
        made.close()


def _row(answer: str, env: str) -> list[str]:
    line = next(line for line in answer.splitlines() if line.startswith(f"| {env}"))
    return [cell.strip() for cell in line.strip("|").split("|")]


def _deploy_prod(world: Bot, tag: str) -> int:
    deployment = world.deploy("prod", tag)
    world.run(world.watcher(), until_state(world, deployment, "succeeded"))
    return deployment.id


def test_status_shows_what_argo_cd_runs_and_who_deployed_it(world: Bot) -> None:
    deployment_id = _deploy_prod(world, "v2")
    revision = world.status("prod")["status"]["sync"]["revision"]
    answer = comment(world, "/status")
    assert "### Status of `shop`" in answer
    env, image, shown_revision, sync, health, last = _row(answer, "prod")
    assert (env, image, sync, health) == ("prod", "`ghcr.io/acme/shop:v2`", "Synced", "Healthy")
    assert shown_revision == f"`{revision[:7]}`"
    assert last.startswith(f"d-{deployment_id} by @alice ")
    assert _row(answer, "dev")[1] == "`ghcr.io/acme/shop:not-deployed`"
    rows = [line for line in answer.splitlines() if line.startswith("| ")][2:]
    assert [row.split("|")[1].strip() for row in rows] == ["dev", "staging", "prod"]


def test_status_of_one_environment_and_its_hold(world: Bot) -> None:
    _deploy_prod(world, "v2")
    world.records.hold("shop", "prod", reason="rolled back by d-9", by="bob", now=world.clock.now())
    answer = comment(world, "/status prod")
    assert _row(answer, "prod (on hold)")[0] == "prod (on hold)"
    assert "| dev" not in answer
    assert "On hold after a rollback: prod." in answer


def test_status_reads_argo_cd_not_the_database(world: Bot) -> None:
    _deploy_prod(world, "v2")
    world.control("bad-images", {"image": "ghcr.io/acme/shop:v2"})
    world.advance(1)
    answer = comment(world, "/status prod")
    assert _row(answer, "prod")[4] == "Degraded"  # the database still says succeeded


def test_without_argo_cd_status_shows_the_gitops_repository(world: Bot) -> None:
    deployment_id = _deploy_prod(world, "v2")
    world.services.argocd = None
    answer = comment(world, "/status prod")
    assert "Argo CD is not configured" in answer
    _, image, _, sync, health, last = _row(answer, "prod")
    assert (image, sync, health) == ("`ghcr.io/acme/shop:v2`", EMPTY, EMPTY)
    assert last.startswith(f"d-{deployment_id} by @alice")


def test_with_argo_cd_down_status_says_so(world: Bot) -> None:
    _deploy_prod(world, "v2")
    world.control("outage", {"mode": "503"})
    answer = comment(world, "/status prod")
    assert "Argo CD did not answer" in answer
    assert _row(answer, "prod")[1] == "`ghcr.io/acme/shop:v2`"


def test_status_needs_read_access(world: Bot) -> None:
    answer = comment(world, "/status", sender="mallory")
    assert "refused" in answer
