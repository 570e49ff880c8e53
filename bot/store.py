"""The bot's database: SQLAlchemy models, engine set-up, migrations and deployment locks.

SQLite (the default) runs in WAL mode and takes its write lock at ``BEGIN`` so that
read-then-write transactions never fail half-way; writers in one process queue on a lock of
their own first. PostgreSQL relies on row locks.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple, cast

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    create_engine,
    event,
    func,
    select,
    text,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from bot.core.events import JSONText

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
DELIVERY_STATES = ("queued", "running", "done", "failed", "dead")
AUDIT_KINDS = ("command", "decision", "action")
_WRITE = "autostack_write"
BUSY_TIMEOUT_SECONDS = 30
# Write-ahead log sizes, in pages (4 KiB) or frames (a page each). ``WalCheckpointer`` starts
# the log afresh once it holds CHECKPOINT_RESTART_FRAMES; SQLite's own checkpoint, which runs
# inside a commit, is kept only as a backstop for processes that run no checkpointer.
CHECKPOINT_RESTART_FRAMES = 4096
WAL_AUTOCHECKPOINT_PAGES = 4 * CHECKPOINT_RESTART_FRAMES
JOURNAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024
log = logging.getLogger(__name__)


def _json_serializer(value: Any) -> str:
    return str(value) if isinstance(value, JSONText) else json.dumps(value)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, stored naive in both databases."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use the Clock")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


WAITING_SQL = "state IN ('queued', 'failed')"
"""Deliveries waiting for a worker, as literal SQL: a query uses the partial index of them
only when its WHERE repeats this very term, values included."""


class Base(DeclarativeBase):
    pass


class DeliveryRow(Base):
    __tablename__ = "deliveries"
    __table_args__ = (
        CheckConstraint(f"state IN {DELIVERY_STATES}", name="ck_deliveries_state"),
        # Running deliveries by the end of their lease; counts by state read it alone. Not
        # (state, ...): SQLite's planner would take it for the waiting ones, and sort them.
        Index("ix_deliveries_lease", "lease_expires_at", "state"),
        # Waiting deliveries in the order workers take them (see migration 0004).
        Index(
            "ix_deliveries_due",
            "next_attempt_at",
            "received_at",
            sqlite_where=text(WAITING_SQL),
            postgresql_where=text(WAITING_SQL),
        ),
    )

    delivery_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    event: Mapped[str] = mapped_column(String(64))
    action: Mapped[str | None] = mapped_column(String(64))
    installation_id: Mapped[int | None] = mapped_column(BigInteger)
    repository: Mapped[str | None] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    state: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AuditRow(Base):
    """Append-only; ``hash`` covers ``prev_hash`` and the entry, so edits break the chain."""

    __tablename__ = "audit_log"
    __table_args__ = (
        CheckConstraint(f"kind IN {AUDIT_KINDS}", name="ck_audit_log_kind"),
        Index("ix_audit_log_app_env", "app", "env"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(200))
    delivery_id: Mapped[str | None] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16))
    app: Mapped[str | None] = mapped_column(String(100))
    env: Mapped[str | None] = mapped_column(String(100))
    summary: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Unique: two entries claiming the same predecessor would be a fork in the chain.
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    # HMAC over id and hash under a key the database does not hold; see bot/anchor.py.
    seal: Mapped[str | None] = mapped_column(String(100))


class LockRow(Base):
    """One row per app+env: who holds the deployment lock, and until when."""

    __tablename__ = "locks"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(200))
    acquired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class LockWaiterRow(Base):
    """A ticket waiting for a lock; ``id`` order is queue order (assigned under the row lock)."""

    __tablename__ = "lock_waiters"
    __table_args__ = (UniqueConstraint("key", "ticket", name="uq_lock_waiters_key_ticket"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(ForeignKey("locks.key", ondelete="CASCADE"))
    ticket: Mapped[str] = mapped_column(String(200))
    enqueued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ttl_seconds: Mapped[float] = mapped_column(Float)


DEPLOYMENT_STATES = (
    "waiting_for_build",
    "queued",
    "committing",
    "awaiting_merge",
    "syncing",
    "succeeded",
    "failed",
    "superseded",
    "timed_out",
)


class DeploymentRow(Base):
    """One deployment (or rollback) of an app to an environment, from request to verdict.

    Argo CD stays the record of truth for what runs; this row tracks the work AutoStack is
    doing, so a restarted bot resumes following where it left off.
    """

    __tablename__ = "deployments"
    __table_args__ = (
        CheckConstraint(f"state IN {DEPLOYMENT_STATES}", name="ck_deployments_state"),
        # A retried delivery finds the deployment it created instead of making another.
        UniqueConstraint("delivery_id", "app", "env", name="uq_deployments_delivery"),
        Index("ix_deployments_app_env_state", "app", "env", "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))  # deploy | promote | rollback | auto
    app: Mapped[str] = mapped_column(String(100))
    env: Mapped[str] = mapped_column(String(100))
    app_repo: Mapped[str] = mapped_column(String(200))
    source_sha: Mapped[str | None] = mapped_column(String(40))
    image: Mapped[str | None] = mapped_column(String(500))
    requested_by: Mapped[str] = mapped_column(String(200))
    delivery_id: Mapped[str] = mapped_column(String(100))
    issue_number: Mapped[int | None] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(32))
    message: Mapped[str | None] = mapped_column(Text)
    gitops_sha: Mapped[str | None] = mapped_column(String(40))
    gitops_pr: Mapped[int | None] = mapped_column(Integer)
    github_deployment_id: Mapped[int | None] = mapped_column(BigInteger)
    check_run_id: Mapped[int | None] = mapped_column(BigInteger)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    deadline: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class HoldRow(Base):
    """Automatic deploys to an app and environment paused after a rollback, until someone
    deploys explicitly, so merge-to-deploy does not undo the rollback."""

    __tablename__ = "holds"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)  # "<app>/<env>"
    reason: Mapped[str] = mapped_column(Text)
    set_by: Mapped[str] = mapped_column(String(200))
    set_at: Mapped[datetime] = mapped_column(UTCDateTime)


def normalize_url(url: str) -> str:
    """Point bare PostgreSQL URLs at psycopg 3, the driver we ship."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(url: str) -> Engine:
    """An engine for ``url`` with the connection settings the queue depends on."""
    url = normalize_url(url)
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True, json_serializer=_json_serializer)
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_SECONDS},
        json_serializer=_json_serializer,
    )
    event.listen(engine, "connect", _sqlite_connect)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy emit BEGIN itself (see _sqlite_begin) instead of pysqlite's lazy one.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_SECONDS * 1000}")
    cursor.execute("PRAGMA foreign_keys=ON")
    # FULL: an acknowledged delivery must survive a power cut; GitHub will not resend it.
    cursor.execute("PRAGMA synchronous=FULL")
    # A commit that takes the log past wal_autocheckpoint pages also copies the log into the
    # database file and fsyncs it while its callers wait; WalCheckpointer does that beside the
    # writers instead, so this only bounds the log where none runs. After a checkpoint the
    # log file is cut back to journal_size_limit.
    cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
    cursor.execute(f"PRAGMA journal_size_limit={JOURNAL_SIZE_LIMIT_BYTES}")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    # IMMEDIATE takes the write lock up front, so a transaction that reads and then writes
    # waits its turn (busy_timeout) instead of failing with SQLITE_BUSY half-way through.
    immediate = connection.get_execution_options().get(_WRITE, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision; safe to run from several processes at once."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.execution_options(**{_WRITE: True}).begin() as connection:
        if connection.dialect.name == "postgresql":
            # Serialize replicas that start together; the lock ends with the transaction.
            connection.execute(text("SELECT pg_advisory_xact_lock(hashtext('autostack-migrate'))"))
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


class WriteTurns:
    """The turn to write to one SQLite database in this process: a re-entrant lock whose
    urgent callers (the webhook's batches, which requests wait for) go before the others
    (workers' claims and completions, which can wait a few milliseconds).

    SQLite's busy handler polls with sleeps of up to 100 ms, so a writer that finds the
    database locked may sleep long after the lock is free; threads waiting here are woken
    as soon as it is released. Other processes still meet the busy handler.
    """

    def __init__(self) -> None:
        self._changed = threading.Condition(threading.Lock())
        self._owner: int | None = None
        self._depth = 0
        self._urgent_waiting = 0
        self._waiting = 0

    def acquire(self, *, urgent: bool = False, timeout: float | None = None) -> bool:
        """Take the turn (again, if this thread holds it); False once ``timeout`` passed."""
        me = threading.get_ident()
        with self._changed:
            if self._owner == me:
                self._depth += 1
                return True
            self._urgent_waiting += urgent
            self._waiting += 1
            try:
                free = self._changed.wait_for(
                    lambda: self._owner is None and (urgent or not self._urgent_waiting),
                    timeout,
                )
            finally:
                self._urgent_waiting -= urgent
                self._waiting -= 1
            if not free:
                return False
            self._owner, self._depth = me, 1
            return True

    def release(self) -> None:
        with self._changed:
            if self._owner != threading.get_ident():
                raise RuntimeError("release of a write turn this thread does not hold")
            self._depth -= 1
            if not self._depth:
                self._owner = None
                self._changed.notify_all()

    def held(self) -> bool:
        """Whether some thread holds the turn now."""
        with self._changed:
            return self._owner is not None

    def waiting(self) -> int:
        """How many threads wait for the turn."""
        with self._changed:
            return self._waiting


_sqlite_write_turns: dict[str, WriteTurns] = {}
_sqlite_write_turns_guard = threading.Lock()


def _write_turns_for(engine: Engine) -> WriteTurns | None:
    """One ``WriteTurns`` per SQLite database file in this process; ``None`` for PostgreSQL."""
    if engine.dialect.name != "sqlite":
        return None
    database = engine.url.database or ""
    key = str(Path(database).resolve()) if database not in ("", ":memory:") else str(id(engine))
    with _sqlite_write_turns_guard:
        return _sqlite_write_turns.setdefault(key, WriteTurns())


class Store:
    """Owns the engine; ``write()`` and ``read()`` are transactions that commit on success."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self._writer = sessionmaker(engine.execution_options(**{_WRITE: True}))
        self._reader = sessionmaker(engine)
        self._write_turns = _write_turns_for(engine)

    @classmethod
    def open(cls, url: str) -> Store:
        return cls(make_engine(url))

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def migrate(self) -> None:
        migrate(self.engine)

    @contextmanager
    def write(self) -> Iterator[Session]:
        with self._turn_to_write(), self._writer.begin() as session:
            yield session

    @contextmanager
    def _turn_to_write(self, *, urgent: bool = False) -> Iterator[None]:
        turns = self._write_turns
        if turns is None:
            yield
            return
        # Bounded like SQLite's own wait, so a stuck writer fails callers instead of hanging.
        if not turns.acquire(urgent=urgent, timeout=BUSY_TIMEOUT_SECONDS):
            busy = sqlite3.OperationalError("database is locked")
            raise OperationalError("BEGIN IMMEDIATE", None, busy)
        try:
            yield
        finally:
            turns.release()

    @contextmanager
    def sqlite_write(self) -> Iterator[sqlite3.Cursor]:
        """SQLite only: ``write()`` on the DBAPI cursor, for a hot path of a few plain
        statements, where the ORM's own work per transaction (about 0.4 ms of CPU) would
        outweigh SQLite's. sqlite3's errors come out as SQLAlchemy's, as from ``write()``.
        It is the webhook's path: it takes its turn to write before ``write()`` callers."""
        if self.dialect != "sqlite":
            raise TypeError(f"sqlite_write() on a {self.dialect} store")
        with self._turn_to_write(urgent=True):
            pooled = self.engine.raw_connection()
            connection = cast(sqlite3.Connection, pooled.driver_connection)
            try:
                cursor = connection.execute("BEGIN IMMEDIATE")
                try:
                    yield cursor
                    cursor.execute("COMMIT")
                finally:
                    if connection.in_transaction:  # an error, or a failed COMMIT
                        connection.rollback()
            except sqlite3.Error as exc:
                raise DBAPIError.instance(None, None, exc, sqlite3.Error) from exc
            finally:
                pooled.close()

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._reader.begin() as session:
            yield session

    def checkpoint(self) -> tuple[int, int]:
        """SQLite: a PASSIVE checkpoint, which never waits for writers or readers;
        ``(frames in the write-ahead log, frames of them copied into the database)``."""
        connection = self.engine.raw_connection()
        try:
            cursor = connection.cursor()
            _busy, frames, copied = cursor.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            cursor.close()
        finally:
            connection.close()
        return int(frames), int(copied)

    def ping(self) -> None:
        """Raise if the database cannot answer a query."""
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()


class WalCheckpointer:
    """Copies SQLite's write-ahead log into the database file from a thread of its own.

    Left to SQLite, the commit that takes the log past ``wal_autocheckpoint`` pages copies
    it all and fsyncs the database file before it returns, while every delivery of its batch
    waits for its acknowledgement. Here a PASSIVE checkpoint runs every ``interval`` seconds
    beside the writers (they never wait for it) and copies what was committed since the last
    one. The log only starts again from its beginning when a writer finds it fully copied,
    which writers that keep appending prevent; so once it holds ``restart_frames`` frames,
    passes follow each other until one finds at most ``tail_frames`` new frames, and the
    frames written during that short pass are copied while this process's writers are held
    back (other processes' writers are not, and may defer the restart); the next commit then
    starts the log afresh. Durability does not depend on any of this: a commit is on disk once its
    log frames are (``synchronous=FULL``).
    """

    def __init__(
        self,
        store: Store,
        *,
        interval: float = 0.1,
        restart_frames: int = CHECKPOINT_RESTART_FRAMES,
        tail_frames: int = 64,
    ):
        self._store = store
        self._interval = interval
        self._restart_frames = restart_frames
        self._tail_frames = tail_frames
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread; PostgreSQL checkpoints on its own, so there nothing starts."""
        if self._store.dialect != "sqlite" or self._thread is not None:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="wal-checkpoint", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def run_once(self) -> tuple[int, int]:
        """One pass; ``(frames in the log, frames copied)`` as the last checkpoint left it."""
        frames, copied = self._store.checkpoint()
        if frames < self._restart_frames:
            return frames, copied
        # A pass sees the log as it was when it began, and writers append meanwhile. Each
        # further pass copies what came during the one before, and takes less time; the
        # last, with writers held back, copies the rest (little, and nothing when idle).
        for _ in range(3):
            previous = copied
            frames, copied = self._store.checkpoint()
            if copied - previous <= self._tail_frames:
                break
        with self._store._turn_to_write():
            return self._store.checkpoint()

    def _run(self) -> None:
        while not self._stopping.wait(self._interval):
            try:
                self.run_once()
            except Exception as exc:  # e.g. the disk is full: commits report it; retry later
                log.warning("sqlite checkpoint failed: %s", type(exc).__name__)


Position = int
"""0: the ticket holds the lock; n > 0: it waits behind n tickets (the holder included)."""


class Handover(NamedTuple):
    key: str
    released: str
    next_holder: str | None


class DeployLocks:
    """Per app+env deployment locks: one holder, the rest wait in order, across restarts."""

    def __init__(self, store: Store):
        self._store = store

    def acquire_or_enqueue(
        self, key: str, ticket: str, *, now: datetime, ttl: timedelta
    ) -> Position:
        """Take the lock for ``ticket`` or queue it; asking again returns the same answer."""
        with self._store.write() as session:
            lock = _lock_row(session, key)
            if lock.holder is not None and _expired(lock, now):
                _hand_over(session, lock, now)
            if lock.holder is None:
                _take(lock, ticket, now, ttl.total_seconds())
                return 0
            position = _position(session, lock, ticket)
            if position is not None:
                return position
            waiter = LockWaiterRow(
                key=key, ticket=ticket, enqueued_at=now, ttl_seconds=ttl.total_seconds()
            )
            session.add(waiter)
            session.flush()
            return _waiters_ahead(session, key, waiter.id) + 1

    def release(self, key: str, ticket: str, *, now: datetime) -> str | None:
        """Give up the lock (or leave the queue); returns the ticket that holds it now."""
        with self._store.write() as session:
            lock = _lock_row(session, key)
            if lock.holder == ticket:
                _hand_over(session, lock, now)
            else:
                waiting = select(LockWaiterRow).where(
                    LockWaiterRow.key == key, LockWaiterRow.ticket == ticket
                )
                for waiter in session.scalars(waiting):
                    session.delete(waiter)
            return lock.holder

    def expire(self, now: datetime) -> list[Handover]:
        """Release every lock held past its deadline; each handover names the next holder."""
        with self._store.write() as session:
            stale = select(LockRow).where(LockRow.expires_at <= now).with_for_update()
            handovers = []
            for lock in session.scalars(stale).all():
                released = lock.holder or ""
                _hand_over(session, lock, now)
                handovers.append(Handover(lock.key, released, lock.holder))
            return handovers

    def position(self, key: str, ticket: str) -> Position | None:
        """Where ``ticket`` stands for ``key``; ``None`` if it neither holds nor waits."""
        with self._store.read() as session:
            lock = session.get(LockRow, key)
            return None if lock is None else _position(session, lock, ticket)

    def holder(self, key: str) -> str | None:
        with self._store.read() as session:
            lock = session.get(LockRow, key)
            return None if lock is None else lock.holder


def _lock_row(session: Session, key: str) -> LockRow:
    """The lock's row, created if new, locked until the transaction ends."""
    insert = _insert_for(session)
    session.execute(insert(LockRow).values(key=key).on_conflict_do_nothing())
    query = select(LockRow).where(LockRow.key == key).with_for_update()
    return session.scalars(query).one()


def _insert_for(session: Session) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert


def _expired(lock: LockRow, now: datetime) -> bool:
    return lock.expires_at is not None and lock.expires_at <= now


def _take(lock: LockRow, ticket: str, now: datetime, ttl_seconds: float) -> None:
    lock.holder, lock.acquired_at = ticket, now
    lock.expires_at = now + timedelta(seconds=ttl_seconds)


def _hand_over(session: Session, lock: LockRow, now: datetime) -> None:
    query = (
        select(LockWaiterRow)
        .where(LockWaiterRow.key == lock.key)
        .order_by(LockWaiterRow.id)
        .limit(1)
    )
    waiter = session.scalars(query).first()
    if waiter is None:
        lock.holder = lock.acquired_at = lock.expires_at = None
        return
    _take(lock, waiter.ticket, now, waiter.ttl_seconds)
    session.delete(waiter)
    session.flush()


def _position(session: Session, lock: LockRow, ticket: str) -> Position | None:
    if lock.holder == ticket:
        return 0
    query = select(LockWaiterRow.id).where(
        LockWaiterRow.key == lock.key, LockWaiterRow.ticket == ticket
    )
    waiter_id = session.scalars(query).first()
    return None if waiter_id is None else _waiters_ahead(session, lock.key, waiter_id) + 1


def _waiters_ahead(session: Session, key: str, waiter_id: int) -> int:
    query = select(func.count()).where(LockWaiterRow.key == key, LockWaiterRow.id < waiter_id)
    return int(session.scalar(query) or 0)


class DriftRow(Base):
    """What the watcher knows about one Application's drift, kept across restarts: since
    when it has been OutOfSync with nothing deploying, and whether its issue is open."""

    __tablename__ = "drift"

    application: Mapped[str] = mapped_column(String(200), primary_key=True)  # "<app>-<env>"
    out_of_sync_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    issue_open: Mapped[bool] = mapped_column(Boolean, default=False)
    issue_digest: Mapped[str | None] = mapped_column(String(64))  # of the last body posted
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class HandledCommentRow(Base):
    """A comment command and the delivery that took it on. GitHub's comment id is the key:
    another delivery of the same comment (the same signed body posted again under a new
    delivery id) finds the row and does nothing, while the delivery that took it on may be
    retried and finish its work."""

    __tablename__ = "handled_comments"

    comment_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    delivery_id: Mapped[str] = mapped_column(String(100))
    repository: Mapped[str] = mapped_column(String(200))
    handled_at: Mapped[datetime] = mapped_column(UTCDateTime)


def claim_comment(
    store: Store, comment_id: int, *, delivery_id: str, repository: str, now: datetime
) -> str:
    """Take comment ``comment_id`` on for ``delivery_id`` unless a delivery has already;
    returns the delivery that holds it (``delivery_id`` itself when this one may go on).
    Two deliveries claiming at once get the same answer: the insert that loses the race on
    the key does nothing (SQLite's write lock, PostgreSQL's ``ON CONFLICT`` wait)."""
    with store.write() as session:
        insert = _insert_for(session)
        session.execute(
            insert(HandledCommentRow)
            .values(
                comment_id=comment_id,
                delivery_id=delivery_id,
                repository=repository,
                handled_at=now,
            )
            .on_conflict_do_nothing()
        )
        query = select(HandledCommentRow.delivery_id).where(
            HandledCommentRow.comment_id == comment_id
        )
        return session.scalars(query).one()
