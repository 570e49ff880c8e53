"""The tamper-evident audit log: every command, decision and action, hash-chained.

Each entry's hash covers the previous entry's hash and the entry's own canonical JSON, so
editing or deleting any entry but the newest breaks the chain at that point, and
``verify()`` names it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import select, text

from bot.adapters.clock import Clock, SystemClock
from bot.store import AuditRow, Store

Kind = Literal["command", "decision", "action"]
GENESIS = ""


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    delivery_id: str | None
    kind: str
    app: str | None
    env: str | None
    summary: str
    details: dict[str, Any] = field(repr=False)
    prev_hash: str = field(repr=False)
    hash: str = field(repr=False)


def canonical_json(fields: dict[str, Any]) -> str:
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def entry_hash(prev_hash: str, row: AuditRow) -> str:
    """sha256 over the previous hash and the entry's content (not its id, assigned later)."""
    content = {
        "at": row.at.isoformat(),
        "actor": row.actor,
        "delivery_id": row.delivery_id,
        "kind": row.kind,
        "app": row.app,
        "env": row.env,
        "summary": row.summary,
        "details": row.details,
    }
    return hashlib.sha256(f"{prev_hash}\n{canonical_json(content)}".encode()).hexdigest()


def _value(row: AuditRow) -> AuditEntry:
    return AuditEntry(**{name: getattr(row, name) for name in AuditEntry.__dataclass_fields__})


class AuditLog:
    """Append and read audit entries; there is deliberately no update or delete."""

    def __init__(self, store: Store, clock: Clock | None = None):
        self._store = store
        self._clock = clock or SystemClock()

    def record(
        self,
        kind: Kind,
        *,
        actor: str,
        summary: str,
        at: datetime | None = None,
        delivery_id: str | None = None,
        app: str | None = None,
        env: str | None = None,
        before: Any = None,
        after: Any = None,
        **details: Any,
    ) -> AuditEntry:
        """Append one entry; ``details`` and ``before``/``after`` must be JSON-serializable."""
        # Round-trip through JSON now so the hash covers exactly what the database returns.
        stored = json.loads(canonical_json({"before": before, "after": after, **details}))
        # In UTC, as the database gives it back, so the hash can be recomputed from the row.
        at = (at or self._clock.now()).astimezone(UTC)
        with self._store.write() as session:
            if self._store.dialect == "postgresql":
                # One appender at a time, or two entries would claim the same predecessor.
                session.execute(text("LOCK TABLE audit_log IN SHARE ROW EXCLUSIVE MODE"))
            last = session.scalars(select(AuditRow.hash).order_by(AuditRow.id.desc()).limit(1))
            prev_hash = last.first() or GENESIS
            row = AuditRow(
                at=at,
                actor=actor,
                delivery_id=delivery_id,
                kind=kind,
                app=app,
                env=env,
                summary=summary,
                details=stored,
                prev_hash=prev_hash,
            )
            row.hash = entry_hash(prev_hash, row)
            session.add(row)
            session.flush()
            return _value(row)

    def entries(
        self, app: str | None = None, env: str | None = None, limit: int | None = None
    ) -> Sequence[AuditEntry]:
        """Oldest first, optionally only one app and/or environment."""
        query = select(AuditRow).order_by(AuditRow.id)
        if app is not None:
            query = query.where(AuditRow.app == app)
        if env is not None:
            query = query.where(AuditRow.env == env)
        if limit is not None:
            query = query.limit(limit)
        with self._store.read() as session:
            return [_value(row) for row in session.scalars(query)]

    def verify(self) -> tuple[bool, int | None]:
        """``(True, None)`` if the chain holds, else ``(False, id of the first bad entry)``."""
        prev_hash = GENESIS
        with self._store.read() as session:
            rows = select(AuditRow).order_by(AuditRow.id).execution_options(yield_per=500)
            for row in session.scalars(rows):
                if row.prev_hash != prev_hash or row.hash != entry_hash(prev_hash, row):
                    return False, row.id
                prev_hash = row.hash
        return True, None
