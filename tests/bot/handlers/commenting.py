"""A ``Bot`` (see tests/bot/watch/harness.py) that receives comment commands the way the
worker hands them to the comment handler."""

from __future__ import annotations

import itertools
from typing import Any

from bot.core.events import Event
from bot.handlers.commands import on_comment
from tests.bot.watch.harness import APP_REPO, Bot

_deliveries = itertools.count(1)


def comment(
    bot: Bot,
    body: str,
    *,
    sender: str = "alice",
    issue: int = 7,
    on_pr: bool = True,
    comment_id: int | None = None,
    delivery: str | None = None,
) -> str:
    """Post ``body`` as ``sender`` on pull request (or issue) ``issue`` of the app repo;
    returns the answer. A new comment id and delivery id each time unless given."""
    delivery = delivery or f"comment-{next(_deliveries)}"
    event = comment_event(
        body, sender=sender, issue=issue, on_pr=on_pr, comment_id=comment_id, delivery=delivery
    )
    on_comment(event, bot.ctx)
    answer = bot.github.comment(APP_REPO, issue, delivery)
    assert answer is not None, "the command was not answered"
    return answer.body


def comment_event(
    body: str,
    *,
    sender: str = "alice",
    issue: int = 7,
    on_pr: bool = True,
    comment_id: int | None = None,
    delivery: str | None = None,
) -> Event:
    """The ``issue_comment`` event GitHub sends for a new comment."""
    issue_doc: dict[str, Any] = {"number": issue}
    if on_pr:
        issue_doc["pull_request"] = {"url": "x"}
    payload: dict[str, Any] = {
        "action": "created",
        "comment": {
            "id": comment_id if comment_id is not None else next(_deliveries),
            "body": body,
            "user": {"login": sender},
        },
        "issue": issue_doc,
        "sender": {"login": sender, "type": "User"},
        "repository": {"full_name": APP_REPO},
    }
    return Event(
        delivery or f"comment-{next(_deliveries)}", "issue_comment", "created", 1, APP_REPO, payload
    )
