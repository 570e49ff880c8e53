"""Rows no delivery should hold, and ``autostack deliveries`` listing them without crashing:
payloads that do not decode, summary text a database cannot take, terminal escapes."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot import commands_cli
from bot.adapters.clock import SystemClock
from bot.core.events import IncomingDelivery, JSONText
from bot.queue import Arrival, DeliveryQueue
from bot.settings import Settings
from bot.store import Store

TOO_DEEP = JSONText('{"x":' + "[" * 5000 + "]" * 5000 + "}")


@pytest.mark.parametrize("odd", ["a\x00b", "\ud800", "x" * 201], ids=["nul", "surrogate", "long"])
def test_summary_text_the_columns_cannot_hold_is_left_empty_not_fatal(
    store: Store, odd: str
) -> None:
    now = SystemClock().now()
    bad = IncomingDelivery("odd", "issue_comment", odd, 1, odd, {"action": "opened"})
    fine = IncomingDelivery("fine", "issue_comment", "opened", 1, "a/b", {"action": "opened"})
    queue = DeliveryQueue(store)
    assert queue.enqueue_batch([Arrival(bad, now), Arrival(fine, now)]) == [True, True]
    stored = queue.get("odd")
    assert stored is not None and (stored.action, stored.repository) == (None, None)
    assert stored.payload == {"action": "opened"}


def test_deliveries_lists_every_row_without_crashing(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    store = Store.open(settings.database_url.get_secret_value())
    store.migrate()
    queue = DeliveryQueue(store, max_attempts=1)
    now = SystemClock().now() - timedelta(minutes=1)
    rows = [
        IncomingDelivery("deep", "issue_comment", "created", 1, "a/b", TOO_DEEP),
        IncomingDelivery("escape", "issue_comment", "\x1b[2J\x07", 1, "a/b", {"a": 1}),
        IncomingDelivery("plain", "push", None, None, None, {"ref": "refs/heads/main"}),
    ]
    for n, row in enumerate(rows):
        queue.enqueue(row, now + timedelta(seconds=n))
    claimed = queue.claim("w", timedelta(minutes=1), now)
    assert claimed is not None and claimed.delivery_id == "deep"
    queue.fail(claimed, "\n\nPayloadUnreadable: \x1b[31mred\ud800", permanent=True, now=now)
    store.dispose()

    assert commands_cli.deliveries(settings, failed=False) == 0
    out = capsys.readouterr().out
    assert all(delivery in out for delivery in ("deep", "escape", "plain"))
    assert "\x1b" not in out and "\x07" not in out  # shown escaped, not sent to the terminal
    assert "\\x1b[2J" in out and "PayloadUnreadable: \\x1b[31mred" in out
    assert commands_cli.deliveries(settings, failed=True) == 0
    assert "deep" in capsys.readouterr().out
