"""A ``Bot`` (see tests/bot/watch/harness.py) that receives comment commands the way the
worker hands them to the comment handler."""

from __future__ import annotations

import itertools
from typing import Any

from bot.core.events import Event
from bot.handlers.commands import on_comment
from tests.bot.watch.harness import APP_REPO, Bot

_deliveries = itertools.count(1)


def comment(bot: Bot, body: str, *, sender: str = "alice", issue: int = 7) -> str:
    """Post ``body`` as ``sender`` on issue ``issue`` of the app repo; returns the answer."""
    delivery = f"comment-{next(_deliveries)}"
    payload: dict[str, Any] = {
        "action": "created",
        "comment": {"id": next(_deliveries), "body": body, "user": {"login": sender}},
        "issue": {"number": issue, "pull_request": {"url": "x"}},
        "sender": {"login": sender, "type": "User"},
        "repository": {"full_name": APP_REPO},
    }
    event = Event(delivery, "issue_comment", "created", 1, APP_REPO, payload)
    on_comment(event, bot.ctx)
    answer = bot.github.comment(APP_REPO, issue, delivery)
    assert answer is not None, "the command was not answered"
    return answer.body
