"""A comment command runs once per comment, however many deliveries carry it: the same
signed body posted again under a new delivery id is acknowledged and ignored, while a new
comment with the same text runs again, and the delivery that took a comment on may be
retried. On SQLite and PostgreSQL."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.adapters.clock import FakeClock
from bot.deploy.records import Deployment
from bot.handlers.commands import on_comment
from bot.store import DEPLOYMENT_STATES, Store, claim_comment
from tests.bot.handlers.commenting import comment_event
from tests.bot.watch.harness import APP, APP_REPO, Bot
from tests.fakes.github import fake_sha

PR = 7


@pytest.fixture
def world(tmp_path: Path, template: Path, store: Store, clock: FakeClock) -> Iterator[Bot]:
    made = Bot(tmp_path, template, store, clock)
    made.github.set_permission(APP_REPO, "alice", "maintain")
    made.github.add_pull(APP_REPO, PR, head_sha=fake_sha("head"))
    made.github.set_build(APP_REPO, fake_sha("head"))
    try:
        yield made
    finally:
        made.close()


def deliver(bot: Bot, body: str, *, comment_id: int, delivery: str) -> None:
    on_comment(comment_event(body, comment_id=comment_id, delivery=delivery), bot.ctx)


def deployments(bot: Bot) -> list[Deployment]:
    return bot.records.find(states=set(DEPLOYMENT_STATES), app=APP)


def answered(bot: Bot, delivery: str) -> bool:
    return bot.github.comment(APP_REPO, PR, delivery) is not None


def test_the_same_comment_under_a_new_delivery_id_is_ignored(
    world: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    deliver(world, "/deploy dev", comment_id=5001, delivery="first")
    assert [d.delivery_id for d in deployments(world)] == ["first"]

    with caplog.at_level(logging.INFO, logger="bot.handlers.commands"):
        deliver(world, "/deploy dev", comment_id=5001, delivery="replayed")

    assert [d.delivery_id for d in deployments(world)] == ["first"]
    assert not answered(world, "replayed")
    assert len(world.github.reactions) == 1  # the 👀 of the first delivery only
    [entry] = [e for e in world.ctx.audit.entries() if e.delivery_id == "replayed"]
    assert entry.kind == "decision"
    assert entry.summary.startswith("duplicate comment ignored: comment 5001")
    assert entry.details["handled_by"] == "first"
    assert "comment 5001 was handled by delivery first; duplicate ignored" in caplog.text


def test_a_new_comment_with_the_same_text_runs_again(world: Bot) -> None:
    deliver(world, "/deploy dev", comment_id=5001, delivery="first")
    deliver(world, "/deploy dev", comment_id=5002, delivery="second")
    assert [d.delivery_id for d in deployments(world)] == ["first", "second"]
    assert answered(world, "second")


def test_the_delivery_that_took_the_comment_on_finishes_it_when_retried(world: Bot) -> None:
    world.github.fail("upsert_comment", RuntimeError("GitHub went away"))
    with pytest.raises(RuntimeError):
        deliver(world, "/deploy dev", comment_id=5001, delivery="first")
    deliver(world, "/deploy dev", comment_id=5001, delivery="first")  # the queue's retry
    assert [d.delivery_id for d in deployments(world)] == ["first"]
    assert answered(world, "first")
    summaries = [e.summary for e in world.ctx.audit.entries()]
    assert not [s for s in summaries if s.startswith("duplicate comment ignored")]


def test_a_replayed_reply_is_not_posted_twice(world: Bot) -> None:
    deliver(world, "/help", comment_id=5001, delivery="first")
    deliver(world, "/help", comment_id=5001, delivery="replayed")
    assert answered(world, "first") and not answered(world, "replayed")


def test_comments_that_are_no_command_claim_nothing(world: Bot, store: Store) -> None:
    deliver(world, "looks good to me", comment_id=5001, delivery="first")
    now = world.clock.now()
    claimed = claim_comment(store, 5001, delivery_id="later", repository=APP_REPO, now=now)
    assert claimed == "later"


def test_deliveries_claiming_one_comment_at_once_agree_on_one(store: Store) -> None:
    clock = FakeClock()
    start = threading.Barrier(8)
    answers: dict[str, str] = {}

    def claim(delivery: str) -> None:
        start.wait()
        answers[delivery] = claim_comment(
            store, 2**40, delivery_id=delivery, repository=APP_REPO, now=clock.now()
        )

    threads = [threading.Thread(target=claim, args=(f"d{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    [owner] = set(answers.values())
    assert owner in answers
    # Another comment is another claim.
    assert claim_comment(store, 7, delivery_id="d0", repository=APP_REPO, now=clock.now()) == "d0"
