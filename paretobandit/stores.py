"""Context stores: keep each routed request's context until its (delayed) feedback arrives.

A store maps ``request_id → (x, meta)``. Feedback is applied exactly once: :meth:`take` removes the
context and records the id as applied in one atomic step, so a second feedback for the same id
raises :class:`~paretobandit.errors.DuplicateFeedbackError` (or, once the bounded record of applied
ids has forgotten it, :class:`~paretobandit.errors.UnknownRequestError`) — it is never applied twice.

Two implementations with the same interface:

* :class:`EphemeralContextStore` — in-process dict; pending contexts are saved with the router.
* :class:`SqliteContextStore` — durable SQLite file (WAL journal, ``synchronous=FULL``), shareable
  between processes and surviving restarts.

A TTL (seconds, wall clock) is enforced on read: an expired context is deleted and reported as
unknown.
"""

from __future__ import annotations

import json
import math
import numbers
import os
import sqlite3
import threading
import time
from collections import OrderedDict

import numpy as np

from .errors import (
    ConfigError,
    DuplicateFeedbackError,
    StateFileError,
    StoreError,
    UnknownModelError,
    UnknownRequestError,
)

__all__ = ["EphemeralContextStore", "SqliteContextStore"]

#: Largest counter or bound accepted from a state file (integers stay exact in float64 and JSON).
MAX_COUNT = 2**53


def _check_ttl(ttl):
    if ttl is None:
        return None
    if isinstance(ttl, bool) or not isinstance(ttl, numbers.Real) or not math.isfinite(ttl) or ttl <= 0:
        raise ConfigError(f"ttl must be None or a finite number of seconds > 0, got {ttl!r}")
    return float(ttl)


def _check_bound(name, value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 0 <= value <= MAX_COUNT:
        raise ConfigError(f"{name} must be an int in [0, 2^53], got {value!r}")
    return int(value)


def check_pending_meta(request_id, meta, where: str = "state") -> None:
    """Raise :class:`StateFileError` unless ``meta`` is what :meth:`BanditRouter.route` stores."""
    if not (isinstance(request_id, str) and isinstance(meta, dict) and isinstance(meta.get("model"), str)):
        raise StateFileError(f"{where}: malformed pending context {request_id!r}: {meta!r:.200}")
    cost, arm = meta.get("cost"), meta.get("arm")
    if isinstance(cost, bool) or not isinstance(cost, (int, float)) or not math.isfinite(cost) or cost < 0:
        raise StateFileError(f"{where}: pending context {request_id!r} has cost {cost!r} "
                             "(a finite number >= 0 is required)")
    if arm is not None and (isinstance(arm, bool) or not isinstance(arm, int) or not 0 <= arm <= MAX_COUNT):
        raise StateFileError(f"{where}: pending context {request_id!r} has arm id {arm!r}")


class EphemeralContextStore:
    """Thread-safe in-memory context store.

    Parameters
    ----------
    ttl : float, optional
        Seconds after which a pending context expires (``None`` = never).
    max_applied : int
        Bound on the record of applied request ids (oldest forgotten first). Memory is
        O(pending + max_applied); the default 100,000 ids take about 10 MB. A duplicate feedback for an
        id older than that raises :class:`UnknownRequestError` instead of
        :class:`DuplicateFeedbackError` — either way it is not applied.
    clock : callable
        Wall-clock source (seconds), injectable for tests.
    """

    kind = "ephemeral"

    def __init__(self, ttl=None, max_applied: int = 100_000, clock=time.time):
        self.ttl = _check_ttl(ttl)
        self.max_applied = _check_bound("max_applied", max_applied)
        self.clock = clock
        self._lock = threading.Lock()
        self._pending: dict[str, tuple[np.ndarray, dict, float, int]] = {}  # x, meta, created, put order
        self._seq = 0
        self._last_id: str | None = None  # id and entry of the last take, for untake()
        self._last_entry: tuple | None = None
        # applied (value None) or retired ids (value: the removed model), oldest first
        self._applied: OrderedDict[str, str | None] = OrderedDict()
        self._puts = 0

    @property
    def clock(self):
        """Wall-clock source (seconds since the epoch) used for TTLs; replaceable (durable replay pins it)."""
        return self._clock

    @clock.setter
    def clock(self, clock) -> None:
        if not callable(clock):
            raise ConfigError(f"clock must be callable, got {clock!r}")
        self._clock = clock

    def __len__(self) -> int:
        return len(self._pending)

    def put(self, request_id: str, x: np.ndarray, meta: dict) -> None:
        """Keep ``x`` (not copied: the caller must not mutate it) and ``meta`` under ``request_id``."""
        now = self._clock() if self.ttl is not None else 0.0
        with self._lock:
            self._seq += 1
            self._pending[request_id] = (x, meta, now, self._seq)
            if self.ttl is not None:
                self._puts += 1
                if self._puts % 4096 == 0:
                    self._purge_locked(now)

    def _lookup_locked(self, request_id):
        entry = self._pending.get(request_id)
        if entry is None:
            if request_id in self._applied:
                removed = self._applied[request_id]
                if removed is not None:
                    raise UnknownModelError(f"request {request_id!r} was routed to {removed!r}, which has "
                                            "since been removed; the feedback is not applied")
                raise DuplicateFeedbackError(f"feedback for request {request_id!r} was already applied")
            raise UnknownRequestError(
                f"unknown request id {request_id!r} (never routed, expired or forgotten)"
            )
        if self.ttl is not None and self._clock() - entry[2] > self.ttl:
            del self._pending[request_id]
            raise UnknownRequestError(f"request {request_id!r} expired (ttl {self.ttl} s)")
        return entry

    def get(self, request_id: str) -> tuple[np.ndarray, dict]:
        """The pending ``(x, meta)``; raises if unknown, expired or already applied. Does not consume."""
        with self._lock:
            entry = self._lookup_locked(request_id)
            return entry[0], entry[1]

    def take(self, request_id: str, check=None) -> tuple[np.ndarray, dict]:
        """Remove and return ``(x, meta)`` and record the id as applied (atomic).

        ``check(request_id, x, meta)``, if given, runs first and may raise to leave the context pending.
        """
        with self._lock:
            entry = self._lookup_locked(request_id)
            x, meta = entry[0], entry[1]
            if check is not None:
                check(request_id, x, meta)
            del self._pending[request_id]
            self._last_id, self._last_entry = request_id, entry
            if self.max_applied:  # (_record_locked, inlined)
                applied = self._applied
                applied[request_id] = None
                if len(applied) > self.max_applied:
                    applied.popitem(last=False)
            return x, meta

    def _record_locked(self, request_id, removed) -> None:
        if self.max_applied:
            self._applied[request_id] = removed
            if len(self._applied) > self.max_applied:
                self._applied.popitem(last=False)

    def untake(self, request_id: str, x: np.ndarray, meta: dict) -> None:
        """Undo a :meth:`take` whose feedback could not be applied: the context is pending again."""
        with self._lock:
            self._applied.pop(request_id, None)
            if self._last_id == request_id:  # back in its place, with its creation time
                self._pending[request_id] = self._last_entry
                self._pending = dict(sorted(self._pending.items(), key=lambda kv: kv[1][3]))
            else:
                self._seq += 1
                now = self._clock() if self.ttl is not None else 0.0
                self._pending[request_id] = (x, meta, now, self._seq)

    def retire_arm(self, arm_uid: int, model: str) -> int:
        """Drop the pending contexts routed to arm ``arm_uid`` (a removed ``model``); returns how many.

        Their ids stay in the bounded record, so a late feedback still raises :class:`UnknownModelError`.
        """
        with self._lock:
            gone = [k for k, e in self._pending.items() if e[1].get("arm") == arm_uid]
            for k in gone:
                del self._pending[k]
                self._record_locked(k, model)
            return len(gone)

    def discard(self, request_id: str) -> None:
        """Forget a pending context without marking it applied (no error if absent)."""
        with self._lock:
            self._pending.pop(request_id, None)

    def _purge_locked(self, now) -> int:
        stale = [k for k, e in self._pending.items() if now - e[2] > self.ttl]
        for k in stale:
            del self._pending[k]
        return len(stale)

    def purge_expired(self) -> int:
        """Delete every expired context now; returns how many."""
        if self.ttl is None:
            return 0
        with self._lock:
            return self._purge_locked(self._clock())

    # ------------------------------------------------------------------ serialisation
    def describe(self) -> dict:
        """JSON-able description (kind and settings)."""
        return {"kind": self.kind, "ttl": self.ttl, "max_applied": self.max_applied}

    def state_dict(self) -> dict:
        """Settings, pending contexts and the applied-id record.

        ``{"settings": describe(), "ids", "x" (n, d) array, "meta", "created", "applied" (ids, oldest
        first), "retired" ({id: removed model})}``.
        """
        with self._lock:
            ids = list(self._pending)
            entries = [self._pending[k] for k in ids]
            applied = list(self._applied)
            retired = {k: v for k, v in self._applied.items() if v is not None}
        xs = np.array([e[0] for e in entries], dtype=float) if entries else np.zeros((0, 0))
        return {
            "settings": self.describe(),
            "ids": ids,
            "x": xs,
            "meta": [e[1] for e in entries],
            "created": [e[2] for e in entries],
            "applied": applied,
            "retired": retired,
        }

    export_state = state_dict

    @classmethod
    def from_state(cls, state: dict, dimension: int | None = None, clock=time.time) -> EphemeralContextStore:
        """A store rebuilt from :meth:`state_dict` output, validated.

        Raises
        ------
        StateFileError
            Malformed settings, ids (non-str or repeated), contexts (shape, NaN), metadata (cost not a
            finite number >= 0) or timestamps; more applied ids than ``max_applied``.
        """
        try:
            settings = state.get("settings") or {}
            store = cls(ttl=settings.get("ttl"), max_applied=settings.get("max_applied", 100_000),
                        clock=clock)
            ids, metas, created = state["ids"], state["meta"], state["created"]
            applied, retired = state.get("applied", []), state.get("retired", {})
            x = np.asarray(state["x"])
        except StateFileError:
            raise
        except (ConfigError, KeyError, TypeError, AttributeError, ValueError) as exc:
            raise StateFileError(f"invalid context store state ({type(exc).__name__}: {exc})") from None
        if not (isinstance(ids, list) and isinstance(metas, list) and isinstance(created, list)
                and len(ids) == len(metas) == len(created)) or len(set(map(str, ids))) != len(ids):
            raise StateFileError("invalid context store state: ids, meta and created must be lists of one "
                                 "length, with unique ids")
        n = len(ids)
        if n and (x.ndim != 2 or x.shape[0] != n or x.dtype.kind != "f" or not np.isfinite(x).all()
                  or (dimension is not None and x.shape[1] != dimension)):
            raise StateFileError(f"pending contexts have shape {x.shape} ({x.dtype}), expected ({n}, "
                                 f"{dimension if dimension is not None else 'd'}) finite floats")
        for rid, meta, ts in zip(ids, metas, created, strict=True):
            check_pending_meta(rid, meta)
            if isinstance(ts, bool) or not isinstance(ts, (int, float)) or not math.isfinite(ts):
                raise StateFileError(f"pending context {rid!r} has creation time {ts!r}")
        if not isinstance(applied, list) or not all(isinstance(k, str) for k in applied) \
                or len(set(applied)) != len(applied) or len(applied) > max(store.max_applied, 0):
            count = len(applied) if isinstance(applied, list) else applied
            raise StateFileError(f"invalid applied-id record ({count!r}"
                                 f" entries, max_applied {store.max_applied})")
        if not isinstance(retired, dict) or not all(isinstance(v, str) for v in retired.values()) \
                or not set(retired) <= set(applied):
            raise StateFileError("invalid retired-id record")
        store._pending = {rid: (np.array(x[i], dtype=float), dict(metas[i]), float(created[i]), i + 1)
                          for i, rid in enumerate(ids)}
        store._seq = len(ids)
        store._applied = OrderedDict((rid, retired.get(rid)) for rid in applied)
        return store

    def import_state(self, state: dict) -> None:
        """Replace the content with :meth:`state_dict` output (validated as :meth:`from_state`)."""
        other = type(self).from_state({**state, "settings": self.describe()}, clock=self._clock)
        with self._lock:
            self._pending, self._applied, self._seq = other._pending, other._applied, other._seq


class SqliteContextStore:
    """Durable context store in a SQLite file (WAL journal, ``synchronous=FULL``).

    Parameters
    ----------
    path : str or Path
        Database file (created if absent).
    ttl : float, optional
        Seconds after which a pending context expires; checked on every read.
    timeout : float
        Seconds to wait for a lock held by another connection before failing with :class:`StoreError`.
    clock : callable
        Wall-clock source, injectable for tests.

    Notes
    -----
    Every write commits before returning; any SQLite failure raises :class:`StoreError` and leaves the
    caller's operation undone. One connection is shared by the threads of this process under a lock.
    """

    kind = "sqlite"

    def __init__(self, path, ttl=None, timeout: float = 5.0, clock=time.time, max_applied: int = 1_000_000):
        try:
            self.path = os.path.abspath(os.fspath(path))  # a later chdir must not move the database
        except TypeError:
            raise ConfigError(f"path must be a str or os.PathLike, got {path!r}") from None
        self.ttl = _check_ttl(ttl)
        self.max_applied = _check_bound("max_applied", max_applied)
        self._clock = clock
        self._takes = 0
        self._lock = threading.Lock()
        try:
            self._conn = sqlite3.connect(
                self.path, timeout=timeout, check_same_thread=False, isolation_level=None
            )
            mode = self._conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS pending (request_id TEXT PRIMARY KEY, x BLOB NOT NULL, "
                "meta TEXT NOT NULL, created REAL NOT NULL)"
            )
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS applied (request_id TEXT PRIMARY KEY, applied REAL)"
            )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open context store {self.path!r}: {exc}") from None
        if str(mode).lower() != "wal":
            raise StoreError(f"context store {self.path!r}: WAL journal mode unavailable (got {mode!r})")

    def pragma(self, name: str):
        """Current value of a PRAGMA (e.g. ``journal_mode``, ``synchronous``)."""
        with self._lock:
            return self._conn.execute(f"PRAGMA {name}").fetchone()[0]

    def __len__(self) -> int:
        with self._lock:
            return self._conn.execute("SELECT COUNT(*) FROM pending").fetchone()[0]

    def put(self, request_id: str, x: np.ndarray, meta: dict) -> None:
        """Store ``x`` and ``meta`` (JSON) under ``request_id``; raises :class:`StoreError` on failure."""
        blob = np.ascontiguousarray(x, dtype="<f8").tobytes()
        try:
            with self._lock:
                self._conn.execute(
                    "INSERT OR REPLACE INTO pending VALUES (?, ?, ?, ?)",
                    (request_id, blob, json.dumps(meta), self._clock()),
                )
        except (sqlite3.Error, TypeError, ValueError) as exc:
            raise StoreError(f"cannot write context {request_id!r} to {self.path!r}: {exc}") from None

    def _lookup_locked(self, request_id):
        row = self._conn.execute(
            "SELECT x, meta, created FROM pending WHERE request_id = ?", (request_id,)
        ).fetchone()
        if row is None:
            if self._conn.execute("SELECT 1 FROM applied WHERE request_id = ?", (request_id,)).fetchone():
                raise DuplicateFeedbackError(f"feedback for request {request_id!r} was already applied")
            raise UnknownRequestError(f"unknown request id {request_id!r} (never routed or expired)")
        if self.ttl is not None and self._clock() - row[2] > self.ttl:
            self._conn.execute("DELETE FROM pending WHERE request_id = ?", (request_id,))
            raise UnknownRequestError(f"request {request_id!r} expired (ttl {self.ttl} s)")
        return np.frombuffer(row[0], dtype="<f8").astype(float), json.loads(row[1])

    def get(self, request_id: str) -> tuple[np.ndarray, dict]:
        """The pending ``(x, meta)``; raises if unknown, expired or already applied. Does not consume."""
        try:
            with self._lock:
                return self._lookup_locked(request_id)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read context {request_id!r} from {self.path!r}: {exc}") from None

    def take(self, request_id: str, check=None) -> tuple[np.ndarray, dict]:
        """Remove and return ``(x, meta)`` and record the id as applied, in one transaction.

        ``check(request_id, x, meta)``, if given, runs first and may raise to leave the context pending.
        """
        try:
            with self._lock:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    result = self._lookup_locked(request_id)
                    if check is not None:
                        check(request_id, *result)
                    self._conn.execute("DELETE FROM pending WHERE request_id = ?", (request_id,))
                    self._conn.execute(
                        "INSERT OR REPLACE INTO applied VALUES (?, ?)", (request_id, self._clock())
                    )
                    self._takes += 1
                    if self._takes % 1024 == 0:  # bounded record: keep the newest max_applied ids
                        self._conn.execute(
                            "DELETE FROM applied WHERE rowid <= (SELECT MAX(rowid) FROM applied) - ?",
                            (self.max_applied,))
                    self._conn.execute("COMMIT")
                    return result
                except UnknownRequestError:
                    self._conn.execute("COMMIT")  # keep the deletion of an expired context
                    raise
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
        except sqlite3.Error as exc:
            raise StoreError(f"cannot consume context {request_id!r} in {self.path!r}: {exc}") from None

    def untake(self, request_id: str, x: np.ndarray, meta: dict) -> None:
        """Undo a :meth:`take` whose feedback could not be applied: the context is pending again."""
        blob = np.ascontiguousarray(x, dtype="<f8").tobytes()
        try:
            with self._lock:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    self._conn.execute("DELETE FROM applied WHERE request_id = ?", (request_id,))
                    self._conn.execute("INSERT OR REPLACE INTO pending VALUES (?, ?, ?, ?)",
                                       (request_id, blob, json.dumps(meta), self._clock()))
                    self._conn.execute("COMMIT")
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
        except sqlite3.Error as exc:
            raise StoreError(f"cannot restore context {request_id!r} in {self.path!r}: {exc}") from None

    def discard(self, request_id: str) -> None:
        """Forget a pending context without marking it applied."""
        try:
            with self._lock:
                self._conn.execute("DELETE FROM pending WHERE request_id = ?", (request_id,))
        except sqlite3.Error as exc:
            raise StoreError(f"cannot delete context {request_id!r} in {self.path!r}: {exc}") from None

    def purge_expired(self) -> int:
        """Delete every expired context now; returns how many."""
        if self.ttl is None:
            return 0
        try:
            with self._lock:
                cur = self._conn.execute("DELETE FROM pending WHERE created < ?", (self._clock() - self.ttl,))
                return cur.rowcount
        except sqlite3.Error as exc:
            raise StoreError(f"cannot purge {self.path!r}: {exc}") from None

    def describe(self) -> dict:
        """JSON-able description (kind, absolute path, ttl, max_applied)."""
        return {"kind": self.kind, "path": self.path, "ttl": self.ttl, "max_applied": self.max_applied}

    def state_dict(self) -> dict:
        """``{"settings": describe()}``: the content lives in the database, not in a router snapshot."""
        return {"settings": self.describe()}

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()
