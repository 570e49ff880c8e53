"""What ``/deploy`` asks GitHub before authorizing: the pull request with its reviews and its
head's checks in one read (``pull_facts``), and only what the environment's policy wants;
another commit's checks on their own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.adapters.clock import FakeClock
from bot.ports import ChecksState
from bot.store import Store
from tests.bot.handlers.apprepo import AppRepository
from tests.bot.handlers.commenting import comment
from tests.bot.watch.harness import APP_REPO, Bot
from tests.fakes.github import fake_sha

PR = 7  # the pull request ``comment`` posts on


@pytest.fixture
def world(tmp_path: Path, template: Path, sqlite_store: Store, clock: FakeClock) -> Iterator[Bot]:
    made = Bot(tmp_path, template, sqlite_store, clock)
    made.github.set_permission(APP_REPO, "alice", "maintain")
    made.github.add_pull(APP_REPO, PR, head_sha=fake_sha("head"))
    made.github.set_build(APP_REPO, fake_sha("head"))
    try:
        yield made
    finally:
        made.close()


def reads(world: Bot) -> list[tuple[str, tuple[object, ...]]]:
    """The calls that read the pull request, its reviews or checks, in order."""
    wanted = {"pull", "pull_facts", "checks_state"}
    return [(c.method, c.args) for c in world.github.calls if c.method in wanted]


def test_dev_reads_the_pull_request_alone(world: Bot) -> None:
    answer = comment(world, "/deploy dev")
    assert "refused" not in answer.lower()
    assert reads(world) == [("pull_facts", (APP_REPO, PR, False, False))]


def test_prod_reads_reviews_and_head_checks_with_the_pull_request(world: Bot) -> None:
    world.github.set_approved(APP_REPO, PR)
    world.github.set_checks(APP_REPO, fake_sha("head"), "success")
    answer = comment(world, "/deploy prod")
    assert "refused" not in answer.lower()
    assert reads(world) == [("pull_facts", (APP_REPO, PR, True, True))]


@pytest.mark.parametrize(
    ("approved", "checks", "reason"),
    [
        (False, "success", "not approved yet and prod requires approval"),
        (True, "pending", "still running"),
        (True, "failure", "failed"),
        (True, "none", "no checks have reported"),
    ],
)
def test_prod_refuses_on_what_the_one_read_said(
    world: Bot, approved: bool, checks: ChecksState, reason: str
) -> None:
    world.github.set_approved(APP_REPO, PR, approved)
    world.github.set_checks(APP_REPO, fake_sha("head"), checks)
    answer = comment(world, "/deploy prod")
    assert "refused" in answer.lower() and reason in answer.lower()
    assert reads(world) == [("pull_facts", (APP_REPO, PR, True, True))]


def test_a_named_commit_has_its_own_checks_read(world: Bot, tmp_path: Path) -> None:
    app = AppRepository(tmp_path, world.github, APP_REPO)
    other = app.commit("release")  # merged code: needs no approval, only its own checks
    app.push("main")
    world.github.set_approved(APP_REPO, PR)
    world.github.set_checks(APP_REPO, fake_sha("head"), "success")  # the head's, not asked
    world.github.set_checks(APP_REPO, other, "failure")
    answer = comment(world, "/deploy prod main")
    assert "refused" in answer.lower() and "failed" in answer.lower()
    assert "approv" not in answer.lower()
    assert reads(world) == [
        ("pull_facts", (APP_REPO, PR, True, False)),
        ("checks_state", (APP_REPO, other)),
    ]
