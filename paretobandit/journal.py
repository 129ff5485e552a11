"""The durable directory's write-ahead journal: ``journal.sqlite`` (format, checksums, IO) and its lock.

Table ``events`` holds one row per journaled call (``seq``, ``kind``, ``request_id``, ``ts``, JSON
``payload``, the context as little-endian float64 ``x``) with a blake2b checksum over its sequence number
and content; table ``meta`` holds checksummed JSON values (``format``, ``checkpoint``, ``writing``,
``id_prefix``, ``session``). SQLite runs in WAL mode with ``synchronous=FULL``, one connection in
autocommit, so every append is its own fsync'ed transaction. Corruption raises
:class:`~paretobandit.errors.StateFileError`, other SQLite failures :class:`~paretobandit.errors.StoreError`.

What the rows mean (routing, replay, checkpoints) is :mod:`paretobandit.durable`'s concern.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
from pathlib import Path

import numpy as np

from .errors import ParetoBanditError, StateFileError, StoreError

__all__ = ["JOURNAL_FORMAT", "JOURNAL_NAME"]

logger = logging.getLogger(__name__)

JOURNAL_NAME = "journal.sqlite"
JOURNAL_FORMAT = {"name": "paretobandit-journal", "version": 2}
_BATCH = 512


def _row_crc(seq: int, kind: str, request_id, ts: float, payload: str, blob) -> str:
    h = hashlib.blake2b(digest_size=12)
    h.update(f"{seq}\x00{kind}\x00{request_id}\x00{ts!r}\x00{payload}\x00".encode())
    if blob is not None:
        h.update(blob)
    return h.hexdigest()


def _value_crc(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


def _sqlite_error(path: str, what: str, exc: sqlite3.Error) -> ParetoBanditError:
    """Corruption (a ``DatabaseError`` that is not operational) is a StateFileError; the rest StoreError."""
    if isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.OperationalError):
        return StateFileError(f"journal {path!r} is corrupt ({what}: {exc})")
    return StoreError(f"journal {path!r}: {what} failed ({exc})")


class _Journal:
    """The SQLite write-ahead journal (one connection, autocommit; every append is its own transaction)."""

    def __init__(self, path: Path):
        self.path = str(path)
        self._lock_fd = _lock_directory(path.parent)
        try:
            self.conn = sqlite3.connect(self.path, timeout=10.0, isolation_level=None,
                                        check_same_thread=False)
            mode = self.conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            self.conn.execute("PRAGMA synchronous=FULL")
            self.conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            self.conn.execute(
                "CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY, kind TEXT NOT NULL, "
                "request_id TEXT, ts REAL NOT NULL, payload TEXT NOT NULL, x BLOB, crc TEXT NOT NULL)")
            columns = [r[1] for r in self.conn.execute("PRAGMA table_info(events)")]
            if str(mode).lower() != "wal":
                raise StoreError(f"journal {self.path!r}: WAL journal mode unavailable (got {mode!r})")
            if "crc" not in columns:
                raise StateFileError(f"journal {self.path!r} was written by an older version (no row "
                                     "checksums); open it with that version and close it, or start a new "
                                     "directory")
            fmt = self.get("format")
            if fmt is None:
                self.set("format", JOURNAL_FORMAT)
            elif fmt != JOURNAL_FORMAT:
                raise StateFileError(f"journal {self.path!r} has format {fmt!r}, this library writes "
                                     f"{JOURNAL_FORMAT}")
            row = self.conn.execute("SELECT MAX(seq) FROM events").fetchone()
            base = self.get("checkpoint")
            self.seq = max(int(row[0] or 0), int(base["seq"]) if isinstance(base, dict) else 0)
        except BaseException as exc:
            self._abort()
            if isinstance(exc, sqlite3.Error):
                raise _sqlite_error(self.path, "open", exc) from None
            raise

    def _abort(self) -> None:
        conn = getattr(self, "conn", None)
        if conn is not None:
            conn.close()
        _unlock(self._lock_fd)
        self._lock_fd = None

    def get(self, key: str):
        try:
            row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        except sqlite3.Error as exc:
            raise _sqlite_error(self.path, f"reading {key}", exc) from None
        if row is None:
            return None
        try:
            wrapped = json.loads(row[0])
            text = wrapped["json"]
            ok = wrapped["crc"] == _value_crc(text)
            value = json.loads(text)
        except (ValueError, TypeError, KeyError):
            ok = False
        if not ok:
            raise StateFileError(f"journal {self.path!r}: meta entry {key!r} is corrupt (checksum)")
        return value

    def set(self, key: str, value) -> None:
        text = json.dumps(value, sort_keys=True)
        self.conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                          (key, json.dumps({"json": text, "crc": _value_crc(text)})))

    def append(self, kind: str, request_id, ts: float, payload: dict, x) -> int:
        blob = None if x is None else np.ascontiguousarray(x, dtype="<f8").tobytes()
        text = json.dumps(payload)
        seq = self.seq + 1
        self.conn.execute("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?)",
                          (seq, kind, request_id, ts, text, blob,
                           _row_crc(seq, kind, request_id, ts, text, blob)))
        self.seq = seq
        return len(text) + (0 if blob is None else len(blob)) + 64

    def delete(self, key: str) -> None:
        """Remove meta entry ``key`` (no-op if absent)."""
        self.conn.execute("DELETE FROM meta WHERE key = ?", (key,))

    def count_after(self, seq: int) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM events WHERE seq > ?", (seq,)).fetchone()[0])

    def events_after(self, seq: int):
        """Rows after ``seq``, streamed in batches, each checked (checksum, contiguity, types)."""
        expect = seq + 1
        try:
            cur = self.conn.execute("SELECT seq, kind, request_id, ts, payload, x, crc FROM events "
                                    "WHERE seq > ? ORDER BY seq", (seq,))
            while rows := cur.fetchmany(_BATCH):
                for row in rows:
                    seq_, kind, rid, ts, text, blob, crc = row
                    if seq_ != expect:
                        raise StateFileError(f"journal {self.path!r}: entry #{expect} is missing "
                                             f"(next is #{seq_})")
                    if not (isinstance(kind, str) and isinstance(ts, float) and isinstance(text, str)
                            and (rid is None or isinstance(rid, str))
                            and (blob is None or isinstance(blob, bytes))
                            and crc == _row_crc(seq_, kind, rid, ts, text, blob)):
                        raise StateFileError(f"journal {self.path!r}: entry #{seq_} is corrupt (checksum)")
                    try:
                        payload = json.loads(text)
                    except ValueError:
                        payload = None
                    if not isinstance(payload, dict):
                        raise StateFileError(f"journal {self.path!r}: entry #{seq_} has a malformed payload")
                    expect += 1
                    yield seq_, kind, rid, ts, payload, blob
        except sqlite3.Error as exc:
            raise _sqlite_error(self.path, "replay", exc) from None

    def commit_checkpoint(self, name: str, seq: int, previous: str | None) -> None:
        """Make ``name`` current; ``writing`` then names the superseded checkpoint (ours, to delete)."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            self.set("checkpoint", {"name": name, "seq": seq})
            if previous is None:
                self.delete("writing")
            else:
                self.set("writing", previous)
            self.conn.execute("DELETE FROM events WHERE seq <= ?", (seq,))
            self.conn.execute("COMMIT")
        except BaseException:
            if self.conn.in_transaction:  # SQLite may already have rolled back (e.g. SQLITE_FULL)
                self.conn.execute("ROLLBACK")
            raise
        try:  # bound the WAL: copy it into the database and truncate it (best effort)
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as exc:  # pragma: no cover - e.g. disk full: the next checkpoint retries
            logger.warning("journal %s: WAL truncation failed (%s)", self.path, exc)

    def close(self) -> None:
        try:
            self.conn.close()
        finally:
            _unlock(self._lock_fd)
            self._lock_fd = None


def _lock_directory(directory: Path):
    """Exclusive, non-blocking lock of a durable directory (``None`` where ``fcntl`` is unavailable)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - non-POSIX platforms: no cross-process protection
        return None
    try:
        fd = os.open(directory / "LOCK", os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StoreError(f"cannot open the lock file of durable directory {directory}: {exc}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise StoreError(f"durable directory {directory} is already open (in this or another process); "
                         "close that router first") from None
    return fd


def _unlock(fd) -> None:
    if fd is not None:
        os.close(fd)  # closing the descriptor releases the flock
