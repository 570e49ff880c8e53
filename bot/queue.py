"""The durable delivery queue over the ``deliveries`` table.

Deliveries are stored in batches (``enqueue_batch``: one transaction and one fsync for all
of them). A worker claims one delivery with a lease (``UPDATE ... RETURNING``; on
PostgreSQL the row is picked ``FOR UPDATE SKIP LOCKED`` so replicas never wait on each
other), then completes or fails it. Outcomes are fenced by ``(lease_owner, attempts)``: a
worker whose lease ran out and whose delivery was claimed again cannot overwrite the newer
result.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any, Literal

from sqlalchemy import ColumnElement, Row, Table, Text, cast, func, select, text, update
from sqlalchemy.dialects import postgresql

from bot.core.events import Event, IncomingDelivery
from bot.store import WAITING_SQL, DeliveryRow, Store

DELIVERIES: Table = DeliveryRow.__table__  # type: ignore[assignment]
ERROR_TEXT_LIMIT = 2000
WAITING_STATES = ("queued", "failed")
RetryResult = Literal["requeued", "not_found", "not_retryable"]
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


@dataclass(frozen=True)
class Arrival:
    """A verified delivery on its way into the queue, and when it arrived."""

    delivery: IncomingDelivery
    received_at: datetime


def storable_text(value: str) -> bool:
    """Whether both databases' text columns take ``value`` as it is: no NUL (PostgreSQL
    refuses it) and no lone surrogate (it has no UTF-8 encoding, so no driver can send it)."""
    if "\x00" in value:
        return False
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _fitting(value: str | None, column: str) -> str | None:
    length = DELIVERIES.c[column].type.length  # type: ignore[attr-defined]
    if value is None or (len(value) <= length and storable_text(value)):
        return value
    return None


def _row(arrival: Arrival) -> dict[str, Any]:
    """The row for an arrival. Summary fields that do not fit their column, or that its
    text cannot hold, are left empty (the payload keeps them): one odd delivery must not
    fail the others in its batch."""
    incoming, now = arrival.delivery, arrival.received_at
    installation_id = incoming.installation_id
    if installation_id is not None and not INT64_MIN <= installation_id <= INT64_MAX:
        installation_id = None
    return dict(
        delivery_id=incoming.delivery_id,
        event=incoming.event,
        action=_fitting(incoming.action, "action"),
        installation_id=installation_id,
        repository=_fitting(incoming.repository, "repository"),
        payload=incoming.payload,
        received_at=now,
        state="queued",
        attempts=0,
        next_attempt_at=now,
    )


def storable_error(error: str) -> str:
    """An error message as a text column (and a log line) takes it: a message may quote the
    payload, and a NUL or a lone surrogate there would fail the very write that records the
    failure."""
    if storable_text(error):
        return error
    readable = error.encode("utf-8", "backslashreplace").decode("utf-8")
    return readable.replace("\x00", "\\x00")


def first_copies(delivery_ids: Sequence[str], inserted: set[str]) -> list[bool]:
    """Per delivery id, whether it is new: inserted now, and not an earlier copy's id."""
    seen: set[str] = set()
    verdicts = []
    for delivery_id in delivery_ids:
        verdicts.append(delivery_id in inserted and delivery_id not in seen)
        seen.add(delivery_id)
    return verdicts


class PayloadUnreadable(ValueError):
    """A stored payload that does not decode (say, nested deeper than Python's recursion
    limit): handling the delivery can never succeed, so it is dead-lettered."""


@dataclass(frozen=True)
class Delivery:
    """A stored delivery as a plain value, safe to pass between threads.

    The payload is kept as the stored text and decoded on first use (``payload``), so that
    reading, listing and claiming a delivery never fail on what its payload holds.
    """

    delivery_id: str
    event: str
    action: str | None
    installation_id: int | None
    repository: str | None
    payload_text: str = field(repr=False)
    received_at: datetime
    state: str
    attempts: int
    lease_owner: str | None
    lease_expires_at: datetime | None
    next_attempt_at: datetime
    last_error: str | None
    finished_at: datetime | None

    @cached_property
    def payload(self) -> dict[str, Any]:
        """The decoded payload; ``PayloadUnreadable`` when it does not decode."""
        try:
            payload = json.loads(self.payload_text)
        except (ValueError, RecursionError) as exc:
            raise PayloadUnreadable(
                f"stored payload does not decode: {type(exc).__name__}"
            ) from None
        if not isinstance(payload, dict):
            raise PayloadUnreadable("stored payload is not a JSON object")
        return payload

    def to_event(self) -> Event:
        return Event(
            delivery_id=self.delivery_id,
            name=self.event,
            action=self.action,
            installation_id=self.installation_id,
            repository=self.repository,
            payload=self.payload,
            attempt=self.attempts,
        )


def _columns() -> list[ColumnElement[Any]]:
    """A delivery's columns, its payload as the stored text: neither the database driver nor
    SQLAlchemy decodes it, so no payload can make a read fail."""
    return [
        cast(DELIVERIES.c.payload, Text).label("payload_text")
        if name == "payload_text"
        else DELIVERIES.c[name]
        for name in Delivery.__dataclass_fields__
    ]


DELIVERY_COLUMNS = _columns()


def _value(row: Row[Any]) -> Delivery:
    return Delivery(**row._mapping)


def backoff_seconds(
    attempt: int,
    retry_after: float | None,
    rng: random.Random,
    *,
    base: float = 2.0,
    cap: float = 900.0,
) -> float:
    """Delay before retry number ``attempt + 1``: exponential with jitter, never sooner
    than the upstream's ``retry_after`` (which is honoured even beyond ``cap``)."""
    exponential = min(cap, base * 2 ** max(0, attempt - 1))
    # Equal jitter: at least half the delay, so retries spread out but still back off.
    delay = exponential / 2 + rng.uniform(0, exponential / 2)
    return max(delay, retry_after) if retry_after is not None else delay


class DeliveryQueue:
    """Enqueue, claim, complete, fail and retry deliveries; every method is one transaction."""

    def __init__(
        self,
        store: Store,
        *,
        max_attempts: int = 8,
        rng: random.Random | None = None,
        retry_base: float = 2.0,
        retry_cap: float = 900.0,
    ):
        self._store = store
        self.max_attempts = max_attempts
        self._rng = rng or random.Random()
        self._retry_base = retry_base
        self._retry_cap = retry_cap
        self._sqlite_binds: list[tuple[str, Callable[[Any], Any] | None]] | None = None

    def enqueue(self, incoming: IncomingDelivery, now: datetime) -> bool:
        """Store a delivery; ``False`` if that delivery id is already stored (a re-delivery)."""
        return self.enqueue_batch([Arrival(incoming, now)])[0]

    def enqueue_batch(self, arrivals: Sequence[Arrival]) -> list[bool]:
        """Store deliveries in one transaction, all or none; per arrival, ``False`` if its id
        was stored already, before or by an earlier arrival in the same batch."""
        if not arrivals:
            return []
        rows = [_row(a) for a in arrivals]
        if self._store.dialect == "sqlite":
            inserted = self._sqlite_insert(rows)
        else:
            # One statement for the batch; RETURNING names the rows inserted, where rowcount
            # cannot (it may be -1), and a conflicting id inserts nothing.
            statement = (
                postgresql.insert(DELIVERIES)
                .on_conflict_do_nothing()
                .returning(DELIVERIES.c.delivery_id)
            )
            with self._store.write() as session:
                inserted = set(session.execute(statement, rows).scalars())
        return first_copies([a.delivery.delivery_id for a in arrivals], inserted)

    def _sqlite_insert(self, rows: list[dict[str, Any]]) -> set[str]:
        """The same statement on SQLite's own cursor: at 500 deliveries/s in batches of one
        or two, the ORM's work per transaction cost more CPU than the rest of the ingest path,
        and it holds the GIL that the event loop needs. Values go through the columns' own
        bind processors, so what is stored is what the ORM would store.

        Which ids are new is read before the insert, in the same write transaction, rather
        than with ``RETURNING``: sqlite3 gives up and takes back the GIL for every row
        returned, and while the event loop is busy each time back costs a wait.
        """
        if self._sqlite_binds is None:
            dialect = self._store.engine.dialect
            self._sqlite_binds = [
                (name, DELIVERIES.c[name].type.dialect_impl(dialect).bind_processor(dialect))
                for name in rows[0]
            ]
        binds = self._sqlite_binds
        values: list[Any] = []
        for row in rows:
            values += [row[name] if bind is None else bind(row[name]) for name, bind in binds]
        ids = [row["delivery_id"] for row in rows]
        table, columns = DELIVERIES.name, ", ".join(f'"{name}"' for name, _ in binds)
        one = f"({', '.join('?' * len(binds))})"
        marks = ", ".join("?" * len(ids))
        stored = f"SELECT delivery_id FROM {table} WHERE delivery_id IN ({marks})"
        insert = (
            f"INSERT INTO {table} ({columns}) VALUES {', '.join([one] * len(rows))} "
            "ON CONFLICT DO NOTHING"
        )
        with self._store.sqlite_write() as cursor:
            before = {delivery_id for (delivery_id,) in cursor.execute(stored, ids)}
            cursor.execute(insert, values)
        return set(ids) - before

    def claim(self, worker_id: str, lease: timedelta, now: datetime) -> Delivery | None:
        """Lease the next due delivery to ``worker_id``, or ``None`` if nothing is due:
        first one whose lease ran out (its worker died), else the waiting one due first.

        Each lookup reads one index entry (``ix_deliveries_due`` for the waiting ones; few
        are running), however many deliveries wait.
        """
        D = DeliveryRow
        expired = select(D.delivery_id).where(D.state == "running", D.lease_expires_at <= now)
        waiting = (
            select(D.delivery_id)
            .where(text(WAITING_SQL), D.next_attempt_at <= now)
            .order_by(D.next_attempt_at, D.received_at)
        )
        # Idle workers look without taking the write lock, which ingest needs.
        with self._store.read() as session:
            lapsed = session.execute(expired.limit(1)).first() is not None
            if not lapsed and session.execute(waiting.limit(1)).first() is None:
                return None
        with self._store.write() as session:
            if lapsed:
                # A delivery whose worker keeps dying must not crash workers forever.
                session.execute(
                    update(D)
                    .where(D.state == "running", D.lease_expires_at <= now)
                    .where(D.attempts >= self.max_attempts)
                    .values(
                        state="dead",
                        finished_at=now,
                        lease_expires_at=None,
                        last_error=f"lease expired on each of {self.max_attempts} attempts",
                    )
                    .execution_options(synchronize_session=False)
                )
            for due in (expired, waiting) if lapsed else (waiting,):
                pick = due.limit(1).with_for_update(skip_locked=True).scalar_subquery()
                claim = (
                    update(D)
                    .where(D.delivery_id == pick)
                    .values(
                        state="running",
                        attempts=D.attempts + 1,
                        lease_owner=worker_id,
                        lease_expires_at=now + lease,
                    )
                    .returning(*DELIVERY_COLUMNS)
                    .execution_options(synchronize_session=False)
                )
                if (row := session.execute(claim).first()) is not None:
                    return _value(row)
            return None

    def renew(self, delivery: Delivery, lease: timedelta, now: datetime) -> bool:
        """Extend the lease of a delivery its worker is still handling; ``False`` if the
        lease was lost (another worker took it, or it finished)."""
        return self._finish(delivery, lease_expires_at=now + lease)

    def complete(self, delivery: Delivery, now: datetime, *, note: str | None = None) -> bool:
        """Mark done; ``False`` if the lease was lost to another worker (nothing changed)."""
        note = None if note is None else storable_error(note[:ERROR_TEXT_LIMIT])
        return self._finish(
            delivery, state="done", finished_at=now, lease_expires_at=None, last_error=note
        )

    def fail(
        self,
        delivery: Delivery,
        error: str,
        *,
        permanent: bool,
        now: datetime,
        retry_after: float | None = None,
    ) -> str | None:
        """Schedule a retry (``"failed"``) or dead-letter (``"dead"``) the delivery.

        Returns the new state, or ``None`` if the lease was lost (nothing changed).
        """
        error = storable_error(error[:ERROR_TEXT_LIMIT])
        if permanent or delivery.attempts >= self.max_attempts:
            ok = self._finish(
                delivery, state="dead", finished_at=now, lease_expires_at=None, last_error=error
            )
            return "dead" if ok else None
        delay = backoff_seconds(
            delivery.attempts, retry_after, self._rng, base=self._retry_base, cap=self._retry_cap
        )
        ok = self._finish(
            delivery,
            state="failed",
            next_attempt_at=now + timedelta(seconds=delay),
            lease_expires_at=None,
            last_error=error,
        )
        return "failed" if ok else None

    def _finish(self, delivery: Delivery, **values: Any) -> bool:
        """Change the delivery only while ``delivery``'s lease holder still holds it."""
        D = DeliveryRow
        fenced = (
            update(D)
            .where(D.delivery_id == delivery.delivery_id, D.state == "running")
            .where(D.lease_owner == delivery.lease_owner, D.attempts == delivery.attempts)
            .values(**values)
            .returning(D.delivery_id)
            .execution_options(synchronize_session=False)
        )
        with self._store.write() as session:
            return session.execute(fenced).first() is not None

    def retry(self, delivery_id: str, now: datetime) -> RetryResult:
        """Queue a failed or dead delivery again, now, with a fresh attempt budget."""
        D = DeliveryRow
        requeue = (
            update(D)
            .where(D.delivery_id == delivery_id, D.state.in_(("failed", "dead")))
            .values(state="queued", attempts=0, next_attempt_at=now, finished_at=None)
            .returning(D.delivery_id)
            .execution_options(synchronize_session=False)
        )
        with self._store.write() as session:
            if session.execute(requeue).first() is not None:
                return "requeued"
            return "not_found" if session.get(D, delivery_id) is None else "not_retryable"

    def get(self, delivery_id: str) -> Delivery | None:
        query = select(*DELIVERY_COLUMNS).where(DELIVERIES.c.delivery_id == delivery_id)
        with self._store.read() as session:
            row = session.execute(query).first()
            return None if row is None else _value(row)

    def list(self, failed_only: bool = False, limit: int = 100) -> Sequence[Delivery]:
        """Newest first; ``failed_only`` keeps those awaiting a retry and the dead letters."""
        query = select(*DELIVERY_COLUMNS).order_by(DELIVERIES.c.received_at.desc()).limit(limit)
        if failed_only:
            query = query.where(DELIVERIES.c.state.in_(("failed", "dead")))
        with self._store.read() as session:
            return [_value(row) for row in session.execute(query)]

    def depth(self) -> int:
        """Deliveries waiting to be processed (queued or awaiting a retry)."""
        return sum(count for state, count in self.counts().items() if state in WAITING_STATES)

    def counts(self) -> dict[str, int]:
        """How many deliveries are in each state."""
        query = select(DeliveryRow.state, func.count()).group_by(DeliveryRow.state)
        with self._store.read() as session:
            return {state: int(count) for state, count in session.execute(query).all()}
