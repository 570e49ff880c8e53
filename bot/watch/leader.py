"""Which replica runs the watcher's passes: on PostgreSQL the one holding a session-level
advisory lock on a dedicated connection; on SQLite (one process) always this one."""

from __future__ import annotations

import contextlib
import logging

from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from bot.store import Store

log = logging.getLogger(__name__)
LOCK_NAME = "autostack-watcher"


class Leadership:
    """``acquire()`` before every pass: it keeps the lock while the connection lives and
    takes it over when the replica that held it is gone."""

    def __init__(self, store: Store):
        self.store = store
        self._connection: Connection | None = None

    @property
    def held(self) -> bool:
        return self.store.dialect != "postgresql" or self._connection is not None

    def acquire(self) -> bool:
        if self.store.dialect != "postgresql":
            return True
        if self._connection is not None and self._alive(self._connection):
            return True
        self._drop()
        try:
            connection = self.store.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        except DBAPIError as exc:
            log.warning("watcher leader lock: cannot connect: %s", type(exc).__name__)
            return False
        query = text("SELECT pg_try_advisory_lock(hashtext(:name))")
        try:
            got = bool(connection.execute(query, {"name": LOCK_NAME}).scalar())
        except DBAPIError:
            got = False
        if not got:
            connection.close()  # another replica leads; try again next pass
            return False
        log.info("this replica now runs the Argo CD watcher")
        self._connection = connection
        return True

    def release(self) -> None:
        connection = self._connection
        if connection is None:
            return
        try:
            unlock = text("SELECT pg_advisory_unlock(hashtext(:name))")
            connection.execute(unlock, {"name": LOCK_NAME})
        except DBAPIError:
            pass  # the session is gone, and its lock with it
        self._drop()

    def _alive(self, connection: Connection) -> bool:
        try:
            connection.execute(text("SELECT 1"))
            return True
        except DBAPIError:
            log.warning("watcher leader lock: the connection holding it was lost")
            return False

    def _drop(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(DBAPIError):
                self._connection.close()
            self._connection = None
