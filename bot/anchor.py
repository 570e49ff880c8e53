"""Anchors for the audit log's hash chain, outside what a database writer can forge.

The hash chain alone shows an edit only to someone who trusts the hashes: whoever can
write the database can edit an entry and recompute every hash after it, or delete the
newest entries, and the chain still holds. Two anchors close that:

**Seals, in the database.** Each entry the bot records carries a seal: HMAC-SHA256 over
the entry's id and hash, under a key derived (HKDF) from the webhook secret, which the
database does not hold. An entry's hash covers the one before it, so a seal vouches for
its entry and everything earlier. Rewriting, inserting or deleting an entry older than a
sealed one, or relinking the chain around a gap, needs new seals, which only the key can
make. Every replica holds the same settings, so each seals and checks with the same key,
and every replica sees the seals where they live: in the shared database.

**A checkpoint, in the data dir.** Deleting the newest entries leaves a shorter chain
whose seals are all genuine; nothing in the database can show that. So each replica
keeps in ``audit-anchor.json`` in its data dir the newest entry it sealed (id, hash,
seal), per database, and ``verify`` checks that entry is still there, unchanged. A
writer that finds its checkpoint gone or changed stops advancing it, so the evidence
stays until an operator looks (and the error is logged).

What this does not guarantee, honestly:

- Truncation shows only back to the checkpoint of the replica whose data dir ``verify``
  reads; entries other replicas sealed later are covered by their own files.
- Whoever can write both the database and that data dir (with SQLite they are one
  directory) can delete the newest entries and lower the checkpoint to match.
- Whoever knows the webhook secret can make seals, so can rewrite anything.
- Entries older than the first seal (written before sealing began, or under an earlier
  webhook secret) are vouched for only by the first seal after them, made by a writer
  that trusted what it found; stripping every seal from the whole log is caught only by
  the checkpoint.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import tempfile
import threading
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy.engine import URL

log = logging.getLogger(__name__)
ANCHOR_FILE = "audit-anchor.json"
SEAL_VERSION = "v1"
_HKDF_SALT = b"autostack audit log"
_HKDF_INFO = b"autostack audit seal v1"


class SealCheck(StrEnum):
    VALID = "valid"
    MISSING = "missing"
    FOREIGN = "foreign"  # made under another key (the webhook secret changed)
    INVALID = "invalid"  # under this key, and wrong: rewritten by someone without it


class Sealer:
    """Makes and checks seals; the key never leaves this object (nor its ``repr``)."""

    def __init__(self, key: bytes):
        self._key = key
        self.key_id = hmac.new(key, b"autostack audit key id", hashlib.sha256).hexdigest()[:8]

    @classmethod
    def from_secret(cls, secret: str) -> Sealer:
        """A sealer whose key is derived from ``secret`` (the webhook secret), so the seal
        key is not the secret itself and a leaked seal key does not forge webhooks."""
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=_HKDF_SALT, info=_HKDF_INFO)
        return cls(hkdf.derive(secret.encode()))

    def __repr__(self) -> str:
        return f"Sealer(key_id={self.key_id})"

    def seal(self, entry_id: int, entry_hash: str) -> str:
        return f"{SEAL_VERSION}:{self.key_id}:{self._mac(entry_id, entry_hash)}"

    def check(self, entry_id: int, entry_hash: str, seal: str | None) -> SealCheck:
        if not seal:
            return SealCheck.MISSING
        version, _, rest = seal.partition(":")
        key_id, _, mac = rest.partition(":")
        if version != SEAL_VERSION or key_id != self.key_id:
            return SealCheck.FOREIGN
        if hmac.compare_digest(mac, self._mac(entry_id, entry_hash)):
            return SealCheck.VALID
        return SealCheck.INVALID

    def _mac(self, entry_id: int, entry_hash: str) -> str:
        message = f"autostack audit entry\n{entry_id}\n{entry_hash}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Checkpoint:
    """The newest entry one replica sealed, as it was when sealed."""

    entry_id: int
    hash: str
    seal: str


class AnchorFileError(Exception):
    """The checkpoint file cannot be read: what it vouched for is unknown."""


def database_identity(url: URL) -> str:
    """The database a checkpoint belongs to: its URL without password, driver or options,
    so that one data dir used with two databases keeps one checkpoint for each."""
    bare = URL.create(
        url.get_backend_name(),
        username=url.username,
        host=url.host,
        port=url.port,
        database=url.database,
    )
    return bare.render_as_string(hide_password=False)


_file_locks: dict[Path, threading.Lock] = {}
_file_locks_guard = threading.Lock()


def _lock_for(path: Path) -> threading.Lock:
    with _file_locks_guard:
        return _file_locks.setdefault(path, threading.Lock())


class AnchorFile:
    """One database's checkpoint in ``<data dir>/audit-anchor.json``; it only moves up."""

    def __init__(self, data_dir: Path, database: str):
        self.path = Path(data_dir).resolve() / ANCHOR_FILE
        self.database = database
        self._lock = _lock_for(self.path)

    def read(self) -> Checkpoint | None:
        """This database's checkpoint, None when there is none yet."""
        entry = self._load().get(self.database)
        if entry is None:
            return None
        try:
            return Checkpoint(int(entry["id"]), str(entry["hash"]), str(entry["seal"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise AnchorFileError(f"{self.path}: the checkpoint is malformed") from exc

    def advance(self, checkpoint: Checkpoint) -> None:
        """Record ``checkpoint`` unless the file already names a newer entry; written to a
        temporary file and renamed, so a crash leaves the old checkpoint or the new one."""
        with self._lock:
            checkpoints = self._load()
            current = checkpoints.get(self.database)
            if current is not None and int(current.get("id", 0)) >= checkpoint.entry_id:
                return
            checkpoints[self.database] = {
                "id": checkpoint.entry_id,
                "hash": checkpoint.hash,
                "seal": checkpoint.seal,
            }
            self._write({"version": 1, "checkpoints": checkpoints})

    def _load(self) -> dict[str, dict[str, Any]]:
        try:
            document = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise AnchorFileError(f"{self.path} cannot be read: {type(exc).__name__}") from exc
        checkpoints = document.get("checkpoints") if isinstance(document, dict) else None
        if not isinstance(checkpoints, dict):
            raise AnchorFileError(f"{self.path} holds no checkpoints")
        return checkpoints

    def _write(self, document: dict[str, object]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=".audit-anchor-")
        try:
            with os.fdopen(handle, "w") as out:
                json.dump(document, out, indent=2, sort_keys=True)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
