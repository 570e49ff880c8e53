"""A small JSON document store on SQLite that keeps the sandbox's state across restarts.

Every GitHub object (account, repository, pull request, comment, ...) is one JSON document
keyed by ``(kind, key)``, optionally grouped by a ``scope`` (a repository, an issue) so lists
come back in creation order.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS docs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    scope TEXT NOT NULL DEFAULT '',
    data TEXT NOT NULL,
    UNIQUE (kind, key)
);
CREATE INDEX IF NOT EXISTS docs_scope ON docs (kind, scope, seq);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""

Doc = dict[str, Any]


class Store:
    """Thread-safe document store; one SQLite connection guarded by a re-entrant lock."""

    def __init__(self, path: Path):
        self.lock = threading.RLock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self.lock:
            self._db.close()

    def get(self, kind: str, key: object) -> Doc | None:
        with self.lock:
            row = self._db.execute(
                "SELECT data FROM docs WHERE kind = ? AND key = ?", (kind, str(key))
            ).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, kind: str, key: object, data: Doc, scope: object = "") -> Doc:
        """Insert or replace; a replaced document keeps its place in creation order."""
        text = json.dumps(data, separators=(",", ":"))
        with self.lock:
            self._db.execute(
                "INSERT INTO docs (kind, key, scope, data) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (kind, key) "
                "DO UPDATE SET data = excluded.data, scope = excluded.scope",
                (kind, str(key), str(scope), text),
            )
        return data

    def delete(self, kind: str, key: object) -> None:
        with self.lock:
            self._db.execute("DELETE FROM docs WHERE kind = ? AND key = ?", (kind, str(key)))

    def list(self, kind: str, scope: object | None = None) -> list[Doc]:
        with self.lock:
            if scope is None:
                rows = self._db.execute(
                    "SELECT data FROM docs WHERE kind = ? ORDER BY seq", (kind,)
                ).fetchall()
            else:
                rows = self._db.execute(
                    "SELECT data FROM docs WHERE kind = ? AND scope = ? ORDER BY seq",
                    (kind, str(scope)),
                ).fetchall()
        return [json.loads(row[0]) for row in rows]

    def next_id(self, name: str, start: int = 1) -> int:
        """The next value of a named counter, starting at ``start``."""
        with self.lock:
            self._db.execute(
                "INSERT INTO counters (name, value) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET value = value + 1",
                (name, start),
            )
            row = self._db.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
        return int(row[0])
