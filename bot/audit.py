"""The tamper-evident audit log: every command, decision and action, hash-chained and sealed.

Each entry's hash covers the previous entry's hash and the entry's own canonical JSON, so
editing or deleting an entry breaks the chain at that point, unless whoever did it also
recomputed every hash after it. So each entry is also sealed with a key the database does
not hold, and each replica keeps a checkpoint of the newest entry it sealed outside the
database; ``bot/anchor.py`` says what that guarantees and what it does not. ``verify()``
checks the chain, the seals and the checkpoint, and names the first entry that fails.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from bot.adapters.clock import Clock, SystemClock
from bot.anchor import (
    AnchorFile,
    AnchorFileError,
    Checkpoint,
    SealCheck,
    Sealer,
    database_identity,
)
from bot.settings import Settings
from bot.store import AuditRow, Store

log = logging.getLogger(__name__)

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
    seal: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Verdict:
    """What ``verify()`` found. ``problem`` is None when every check that could run held;
    ``sealed_through`` is None when no seal could be checked (the chain is unanchored)."""

    entries: int
    problem: str | None = None
    first_bad: int | None = None  # the entry where the log stops being trustworthy
    keyed: bool = False  # a key was at hand to check seals with
    sealed_through: int | None = None  # the newest entry with a valid seal
    unsealed_before: int = 0  # entries older than the first valid seal
    checkpoint: int | None = None  # this replica's checkpoint, found intact

    @property
    def intact(self) -> bool:
        return self.problem is None

    @property
    def anchored(self) -> bool:
        return self.intact and self.sealed_through is not None


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

    def __init__(
        self,
        store: Store,
        clock: Clock | None = None,
        *,
        sealer: Sealer | None = None,
        anchor: AnchorFile | None = None,
    ):
        self._store = store
        self._clock = clock or SystemClock()
        self._sealer = sealer
        self._anchor = anchor
        self._warned: set[str] = set()

    @classmethod
    def from_settings(
        cls, store: Store, settings: Settings, clock: Clock | None = None
    ) -> AuditLog:
        """Sealed with the key derived from the webhook secret (unsealed without one), with
        its checkpoint in the data dir."""
        secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else ""
        return cls(
            store,
            clock,
            sealer=Sealer.from_secret(secret) if secret else None,
            anchor=AnchorFile(settings.data_dir, database_identity(store.engine.url)),
        )

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
            checkpoint = self._seal(session, row)
            entry = _value(row)
        if checkpoint is not None:
            self._advance(checkpoint)
        return entry

    def _seal(self, session: Session, row: AuditRow) -> Checkpoint | None:
        """Seal the new entry (its id is known now); the checkpoint to advance to once it
        is committed, or None when there is none to advance."""
        if self._sealer is None:
            return None
        row.seal = self._sealer.seal(row.id, row.hash)
        session.flush()
        if self._anchor is None or not self._checkpoint_holds(session, self._anchor):
            return None
        return Checkpoint(row.id, row.hash, row.seal)

    def _checkpoint_holds(self, session: Session, anchor: AnchorFile) -> bool:
        """Whether the entry this replica last sealed is still there as it sealed it. If
        not, the checkpoint stays where it is: it is the evidence ``verify`` reports."""
        try:
            checkpoint = anchor.read()
        except AnchorFileError as exc:
            self._warn_once(f"audit log: {exc}; the checkpoint is not advanced")
            return False
        if checkpoint is None:
            return True
        found = session.get(AuditRow, checkpoint.entry_id)
        if found is not None and (found.hash, found.seal) == (checkpoint.hash, checkpoint.seal):
            return True
        self._warn_once(
            f"audit log: entry {checkpoint.entry_id}, this replica's checkpoint in "
            f"{anchor.path}, is gone or changed, so the log was truncated or rewritten; the "
            "checkpoint is not advanced. Run `autostack audit --verify`."
        )
        return False

    def _advance(self, checkpoint: Checkpoint) -> None:
        # The entry is committed: failing now would only make the handler record it twice.
        assert self._anchor is not None
        try:
            self._anchor.advance(checkpoint)
        except (OSError, AnchorFileError) as exc:
            self._warn_once(f"audit log: cannot write the checkpoint: {exc}")

    def _warn_once(self, message: str) -> None:
        if message not in self._warned:
            self._warned.add(message)
            log.error("%s", message)

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

    def verify(self) -> Verdict:
        """Walk the chain oldest first: each hash, each seal (with a key), and that this
        replica's checkpoint is still there; the first failure ends the walk."""
        unreadable = None
        try:
            checkpoint = self._anchor.read() if self._anchor is not None else None
        except AnchorFileError as exc:
            checkpoint, unreadable = None, f"{exc}, so what it vouched for cannot be checked"
        walk = _Walk(self._sealer, checkpoint)
        with self._store.read() as session:
            rows = select(AuditRow).order_by(AuditRow.id).execution_options(yield_per=500)
            for row in session.scalars(rows):
                if not walk.step(row):
                    break
        if unreadable is not None:
            walk.fail(None, unreadable)
        return walk.verdict()


class _Walk:
    """``verify``'s state as it walks the entries, oldest first."""

    def __init__(self, sealer: Sealer | None, checkpoint: Checkpoint | None):
        self.sealer = sealer
        self.checkpoint = checkpoint
        # Whether the checkpoint file's own seal holds: None when there is no key to ask.
        self.genuine = None
        if sealer is not None and checkpoint is not None:
            check = sealer.check(checkpoint.entry_id, checkpoint.hash, checkpoint.seal)
            self.genuine = check is SealCheck.VALID
        self.entries = 0
        self.prev_hash = GENESIS
        self.last_id: int | None = None
        self.sealed_through: int | None = None
        self.unsealed = 0
        self.foreign: int | None = None  # the first entry sealed under another key
        self.checkpoint_found = False
        self.problem: tuple[int | None, str] | None = None

    def step(self, row: AuditRow) -> bool:
        """Check one entry; False once something failed."""
        self.entries += 1
        if row.prev_hash != self.prev_hash or row.hash != entry_hash(self.prev_hash, row):
            return self.fail(row.id, "it or the entry before it was altered or removed")
        self._check_seal(row)
        if self.checkpoint is not None and row.id == self.checkpoint.entry_id:
            self.checkpoint_found = True
            if (row.hash, row.seal) != (self.checkpoint.hash, self.checkpoint.seal):
                self.fail(row.id, _CHECKPOINT_NOT_SEALED if self.genuine is False else _REWRITTEN)
        self.prev_hash, self.last_id = row.hash, row.id
        return self.problem is None

    def _check_seal(self, row: AuditRow) -> None:
        if self.sealer is None:
            return
        check = self.sealer.check(row.id, row.hash, row.seal)
        if check is SealCheck.VALID:
            self.sealed_through = row.id
        elif check is SealCheck.INVALID:
            self.fail(row.id, "its seal does not match it: rewritten by someone without the key")
        elif self.sealed_through is not None:
            self.fail(row.id, _UNSEALED_AFTER_SEALS[check])
        else:
            # Older than the first seal: written before sealing began, or under an earlier
            # webhook secret. The first valid seal after them vouches for them.
            self.unsealed += 1
            if check is SealCheck.FOREIGN and self.foreign is None:
                self.foreign = row.id

    def fail(self, entry_id: int | None, problem: str) -> bool:
        if self.problem is None:
            self.problem = (entry_id, problem)
        return False

    def verdict(self) -> Verdict:
        if self.problem is None:
            self._check_checkpoint()
        if self.problem is None and self.sealed_through is None and self.foreign is not None:
            self.fail(self.foreign, _ONLY_FOREIGN_SEALS)
        first_bad, problem = self.problem or (None, None)
        return Verdict(
            entries=self.entries,
            problem=problem,
            first_bad=first_bad,
            keyed=self.sealer is not None,
            sealed_through=self.sealed_through,
            unsealed_before=self.unsealed if self.sealed_through is not None else self.entries,
            checkpoint=self.checkpoint.entry_id
            if self.checkpoint and self.checkpoint_found
            else None,
        )

    def _check_checkpoint(self) -> None:
        checkpoint = self.checkpoint
        if checkpoint is None:
            return
        if self.genuine is False:
            self.fail(checkpoint.entry_id, _CHECKPOINT_NOT_SEALED)
        elif not self.checkpoint_found:
            end = f"now ends at entry {self.last_id}" if self.last_id else "is now empty"
            self.fail(
                checkpoint.entry_id,
                "it is gone, though this replica sealed it (its checkpoint says so): the "
                f"newest entries were deleted, or the log was replaced; the log {end}",
            )


_UNSEALED_AFTER_SEALS = {
    SealCheck.MISSING: "it has no seal, though entries before it do: its seal was removed, "
    "or a writer without the webhook secret added it",
    SealCheck.FOREIGN: "it is sealed under another key, though entries before it are "
    "sealed under this one: resealed by someone else",
}
_ONLY_FOREIGN_SEALS = (
    "no entry is sealed under this key, and some are sealed under another: check that "
    "AUTOSTACK_WEBHOOK_SECRET is the one the bot runs with (after a change of secret, the "
    "next entry recorded seals the log anew)"
)
_REWRITTEN = "it differs from this replica's checkpoint of it: rewritten"
_CHECKPOINT_NOT_SEALED = (
    "this replica's checkpoint of it is not sealed under this key: the checkpoint file was "
    "altered, or AUTOSTACK_WEBHOOK_SECRET is not the one the bot runs with"
)
