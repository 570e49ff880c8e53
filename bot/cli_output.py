"""``--output json`` of ``autostack deliveries`` and ``autostack audit``: one JSON document
per command, for scripts and ``jq``, with the same rows the text tables show.

Times are ISO 8601 in UTC; stored text is kept as it was received (JSON escapes what a
terminal would interpret), and the output is ASCII so that any byte a sender stored
prints on any terminal.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from bot.audit import AuditEntry
from bot.queue import Delivery


def _time(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def document(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=False)


def deliveries_json(rows: Iterable[Delivery]) -> str:
    return document(
        [
            {
                "delivery_id": row.delivery_id,
                "event": row.event,
                "action": row.action,
                "installation_id": row.installation_id,
                "repository": row.repository,
                "state": row.state,
                "attempts": row.attempts,
                "received_at": _time(row.received_at),
                "next_attempt_at": _time(row.next_attempt_at),
                "finished_at": _time(row.finished_at),
                "last_error": row.last_error,
            }
            for row in rows
        ]
    )


def audit_json(entries: Iterable[AuditEntry]) -> str:
    return document(
        [
            {
                "id": entry.id,
                "at": _time(entry.at),
                "kind": entry.kind,
                "app": entry.app,
                "env": entry.env,
                "actor": entry.actor,
                "delivery_id": entry.delivery_id,
                "summary": entry.summary,
                "details": entry.details,
                "hash": entry.hash,
            }
            for entry in entries
        ]
    )


def verify_json(intact: bool, first_bad: int | None) -> str:
    return document({"intact": intact, "first_bad_entry": first_bad})
