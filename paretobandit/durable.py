"""Durable mode: a write-ahead journal so that routed contexts and acknowledged feedback survive a crash.

Open with :meth:`paretobandit.router.BanditRouter.open` (or :func:`open_router`)::

    with BanditRouter.open("state/router", priors="none", budget=0.002, seed=0) as router:
        model, log = router.route(vector)
        router.process_feedback(log.request_id, reward=0.9)   # durable when this returns

Layout of ``directory``:

* ``journal.sqlite`` — SQLite in WAL mode with ``synchronous=FULL``. Table ``events`` holds one row per
  successful state-changing call since the last checkpoint (route, feedback, register, reprice, remove),
  committed (fsync'ed) *before* the call returns; table ``meta`` holds the name of the current checkpoint,
  the journal position it covers and the router's request-id prefix.
* ``checkpoint-<seq>-<token>.json`` / ``.npz`` — a :meth:`~BanditRouter.save` of the router after journal
  entry ``seq``. A new checkpoint is written beside the old one, fsync'ed, and only then made current by
  one SQLite transaction that also deletes the journal entries it covers; a crash at any point leaves a
  loadable (checkpoint, journal) pair. Orphaned checkpoint files are removed at the next open.

Recovery (:func:`open_router` on an existing directory): load the current checkpoint, then replay every
later journal entry through the ordinary router code. Routing is deterministic given the state and the
tie-break generator's saved state, so a replayed route must choose the journaled model at the journaled
``t`` with the journaled request id; any mismatch raises :class:`~paretobandit.errors.StateFileError`
(the journal does not belong to this checkpoint, or the code changed) instead of silently diverging.

Semantics
---------
* A call that returns has been journaled; a call that raises a typed validation error changed nothing and
  wrote nothing. A call interrupted by a crash is either fully journaled (and replayed) or absent.
* Feedback is applied at most once: its context is consumed from the context store, whose content is
  part of the checkpoint and rebuilt exactly by the replay, so re-sending an acknowledged feedback after a
  restart raises :class:`~paretobandit.errors.DuplicateFeedbackError` (or ``UnknownRequestError`` once
  the bounded record of applied ids has forgotten it) and is never applied twice.
* Request ids are ``<prefix><n>`` with a prefix fixed for the directory and the counter restored from the
  checkpoint, so ids handed out before a crash stay valid after it.
* One router per directory: an exclusive lock on ``<directory>/LOCK`` (released by the OS if the process
  dies) makes a second :func:`open_router` fail with :class:`~paretobandit.errors.StoreError`.
* Calls on one durable router are serialised (each one includes an fsync); the context store is always
  the in-memory store (the journal makes it durable), so ``context_store=`` is rejected.
* If a journal write fails, the in-memory state is ahead of the journal: the router refuses every further
  call with :class:`~paretobandit.errors.StoreError` until it is reopened (fail-stop; reopening recovers
  the journaled state).
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import threading
import time
from contextlib import nullcontext as _nullcontext
from pathlib import Path

import numpy as np

from .errors import ConfigError, ParetoBanditError, StateFileError, StoreError
from .router import BanditRouter

__all__ = ["DurableRouter", "JOURNAL_NAME", "open_router"]

JOURNAL_NAME = "journal.sqlite"
_CKPT_PREFIX = "checkpoint-"


class _Clock:
    """Wall clock of the context store: records the last value read; pinned to a journaled value in replay."""

    __slots__ = ("fixed", "last")

    def __init__(self):
        self.fixed: float | None = None
        self.last = 0.0

    def __call__(self) -> float:
        value = time.time() if self.fixed is None else self.fixed
        self.last = value
        return value


class _ReplayFeatures:
    """Feature service returning one journaled context (so replay needs no encoder call)."""

    def __init__(self, inner, x: np.ndarray):
        self._inner = inner
        self._x = x
        self.dimension = inner.dimension

    def extract(self, _ignored):
        return self._x

    def describe(self):
        return self._inner.describe()


class _Journal:
    """The SQLite write-ahead journal (one connection, autocommit; every append is its own transaction).

    Holds an exclusive ``flock`` on ``<directory>/LOCK`` while open, so a second router (in this or another
    process) cannot journal into the same directory; the OS releases it when the process dies.
    """

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
                "CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY AUTOINCREMENT, "
                "kind TEXT NOT NULL, request_id TEXT, ts REAL NOT NULL, payload TEXT NOT NULL, x BLOB)")
        except sqlite3.Error as exc:
            _unlock(self._lock_fd)
            raise StoreError(f"cannot open journal {self.path!r}: {exc}") from None
        if str(mode).lower() != "wal":
            self.close()
            raise StoreError(f"journal {self.path!r}: WAL journal mode unavailable (got {mode!r})")

    def get(self, key: str):
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def set(self, key: str, value) -> None:
        self.conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps(value)))

    def append(self, kind: str, request_id, ts: float, payload: dict, x) -> int:
        blob = None if x is None else np.ascontiguousarray(x, dtype="<f8").tobytes()
        cur = self.conn.execute(
            "INSERT INTO events (kind, request_id, ts, payload, x) VALUES (?, ?, ?, ?, ?)",
            (kind, request_id, ts, json.dumps(payload), blob))
        return int(cur.lastrowid)

    def last_seq(self) -> int:
        row = self.conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
        return 0 if row is None else int(row[0])

    def events_after(self, seq: int):
        return self.conn.execute("SELECT seq, kind, request_id, ts, payload, x FROM events WHERE seq > ? "
                                 "ORDER BY seq", (seq,)).fetchall()

    def commit_checkpoint(self, name: str, seq: int) -> None:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            self.set("checkpoint", {"name": name, "seq": seq})
            self.conn.execute("DELETE FROM events WHERE seq <= ?", (seq,))
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise

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
    fd = os.open(directory / "LOCK", os.O_RDWR | os.O_CREAT, 0o644)
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


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


class DurableRouter(BanditRouter):
    """A :class:`BanditRouter` whose state-changing calls are journaled before they return.

    Build with :meth:`BanditRouter.open` / :func:`open_router`, never directly. Every public method of
    :class:`BanditRouter` works unchanged; in addition :meth:`checkpoint` and :meth:`close` manage the
    directory, and the router is a context manager (``close()`` on exit).
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._dlock = threading.RLock()
        self._journal: _Journal | None = None
        self._directory: Path | None = None
        self._clock = _Clock()
        self._failed: BaseException | None = None
        self._closed = False
        self._ckpt_seq = 0
        self._ckpt_name: str | None = None

    # ------------------------------------------------------------------ introspection
    @property
    def directory(self) -> Path | None:
        """The durable directory."""
        return self._directory

    @property
    def journal_seq(self) -> int:
        """Number of state-changing calls journaled since the directory was created."""
        with self._dlock:
            self._usable()
            return self._journal.last_seq()

    @property
    def id_prefix(self) -> str:
        """Prefix of this directory's request ids (fixed for its lifetime)."""
        return self._id_prefix

    # ------------------------------------------------------------------ plumbing
    def _usable(self) -> None:
        if self._closed:
            raise StoreError(f"durable router {self._directory} is closed")
        if self._failed is not None:
            raise StoreError(f"durable router {self._directory} stopped after a journal write failed "
                             f"({self._failed}); reopen it to recover the journaled state")

    def _append(self, kind: str, request_id, build) -> None:
        """Journal an operation already applied in memory; on any failure stop the router (fail-stop).

        ``build()`` returns ``(payload dict, context vector or None)``; it runs inside the guard so that
        its errors stop the router too. The timestamp is the store clock's last reading (the put/take
        time when a TTL is set), taken before ``build`` runs.
        """
        try:
            ts = self._clock.last
            payload, x = build()
            self._journal.append(kind, request_id, ts, payload, x)
        except BaseException as exc:  # the in-memory state is now ahead of the journal
            self._failed = exc
            if not isinstance(exc, Exception):
                raise
            raise StoreError(f"journal write failed in {self._journal.path!r}: {exc}; the router now refuses "
                             "calls until reopened (the call was not made durable)") from None

    # ------------------------------------------------------------------ journaled operations
    def route(self, prompt_or_vector, max_cost=None, force_model=None):
        """:meth:`BanditRouter.route`, journaled (context, arguments and decision) before returning."""
        with self._dlock:
            self._usable()
            model, log = super().route(prompt_or_vector, max_cost=max_cost, force_model=force_model)

            def build():
                x = self._store.get(log.request_id)[0]  # the context exactly as stored for feedback
                return {
                    "model": model, "t": log.t, "cost": log.cost_usd,
                    "max_cost": None if max_cost is None else float(max_cost), "force_model": force_model,
                    "words": len(prompt_or_vector.split()) if isinstance(prompt_or_vector, str) else None,
                    "greedy": bool(getattr(self._local, "depth", 0)),
                }, x

            self._append("route", log.request_id, build)
            return model, log

    def process_feedback(self, request_id, reward, cost=None) -> None:
        """:meth:`BanditRouter.process_feedback`, journaled before returning (durable acknowledgement)."""
        with self._dlock:
            self._usable()
            super().process_feedback(request_id, reward, cost)
            self._append("feedback", request_id,
                         lambda: ({"reward": float(reward), "cost": _num(cost)}, None))

    def register_model(self, name, input_cost_per_m=None, output_cost_per_m=None, *, blended=None,
                       **metadata) -> None:
        """:meth:`BanditRouter.register_model`, journaled."""
        with self._dlock:
            self._usable()
            super().register_model(name, input_cost_per_m, output_cost_per_m, blended=blended, **metadata)
            self._append("register", None,
                         lambda: ({"name": name, "input": _num(input_cost_per_m),
                                   "output": _num(output_cost_per_m), "blended": _num(blended),
                                   "metadata": metadata}, None))

    def update_model_pricing(self, name, input_cost_per_m=None, output_cost_per_m=None, *,
                             blended=None) -> None:
        """:meth:`BanditRouter.update_model_pricing`, journaled."""
        with self._dlock:
            self._usable()
            super().update_model_pricing(name, input_cost_per_m, output_cost_per_m, blended=blended)
            self._append("reprice", None,
                         lambda: ({"name": name, "input": _num(input_cost_per_m),
                                   "output": _num(output_cost_per_m), "blended": _num(blended)}, None))

    def remove_model(self, name) -> None:
        """:meth:`BanditRouter.remove_model`, journaled."""
        with self._dlock:
            self._usable()
            super().remove_model(name)
            self._append("remove", None, lambda: ({"name": name}, None))

    # ------------------------------------------------------------------ replay
    def _replay(self, rows) -> int:
        """Re-apply journal rows through the base-class methods; verify every routing decision."""
        base = BanditRouter
        for seq, kind, request_id, ts, payload_json, blob in rows:
            payload = json.loads(payload_json)
            self._clock.fixed = ts
            try:
                if kind == "route":
                    x = np.frombuffer(blob, dtype="<f8").astype(float)
                    arg = " ".join(["w"] * payload["words"]) if payload["words"] is not None else x
                    fs = self._fs
                    self._fs = _ReplayFeatures(fs, x)
                    try:
                        with self.exploit() if payload["greedy"] else _nullcontext():
                            model, log = base.route(self, arg, payload["max_cost"], payload["force_model"])
                    finally:
                        self._fs = fs
                    got = (model, log.t, log.request_id, log.cost_usd)
                    want = (payload["model"], payload["t"], request_id, payload["cost"])
                    if got != want:
                        raise StateFileError(f"journal {self._journal.path}: replayed route #{seq} gave "
                                             f"(model, t, request_id, cost) = {got}, journal says {want}; "
                                             "the journal does not match the checkpoint")
                elif kind == "feedback":
                    base.process_feedback(self, request_id, payload["reward"], payload["cost"])
                elif kind == "register":
                    base.register_model(self, payload["name"], payload["input"], payload["output"],
                                        blended=payload["blended"], **payload["metadata"])
                elif kind == "reprice":
                    base.update_model_pricing(self, payload["name"], payload["input"], payload["output"],
                                              blended=payload["blended"])
                elif kind == "remove":
                    base.remove_model(self, payload["name"])
                else:
                    raise StateFileError(f"journal {self._journal.path}: unknown entry kind {kind!r} "
                                         f"at #{seq}")
            except StateFileError:
                raise
            except ParetoBanditError as exc:
                raise StateFileError(f"journal {self._journal.path}: replaying {kind} #{seq} failed "
                                     f"({type(exc).__name__}: {exc}); the journal does not match the "
                                     "checkpoint") from None
            finally:
                self._clock.fixed = None
        return len(rows)

    # ------------------------------------------------------------------ checkpoint / close
    def checkpoint(self) -> Path:
        """Save the state and truncate the journal it covers (crash-safe at every step).

        Returns
        -------
        Path
            The ``.json`` of the current checkpoint.
        """
        with self._dlock:
            self._usable()
            return self._checkpoint()

    def _checkpoint(self) -> Path:
        seq = self._journal.last_seq()
        if self._ckpt_name is not None and seq == self._ckpt_seq:
            return self._directory / f"{self._ckpt_name}.json"
        name = f"{_CKPT_PREFIX}{seq:012d}-{secrets.token_hex(4)}"
        try:
            self.save(self._directory / name)
            _fsync_dir(self._directory)
            self._journal.commit_checkpoint(name, seq)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"checkpoint of {self._directory} failed: {exc} (the previous checkpoint "
                             "and the journal are intact)") from None
        old = self._ckpt_name
        self._ckpt_name, self._ckpt_seq = name, seq
        if old is not None:
            _remove_checkpoint_files(self._directory, keep=name)
        return self._directory / f"{name}.json"

    def close(self, checkpoint: bool = True) -> None:
        """Checkpoint (unless ``checkpoint=False`` or the router has failed) and close the journal.

        Idempotent. Any later call raises :class:`~paretobandit.errors.StoreError`.
        """
        with self._dlock:
            if self._closed:
                return
            try:
                if checkpoint and self._failed is None:
                    self._checkpoint()
            finally:
                self._closed = True
                self._journal.close()

    def __enter__(self) -> DurableRouter:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def _num(value):
    return None if value is None else float(value)


def _remove_checkpoint_files(directory: Path, keep: str | None) -> None:
    for p in directory.glob(f"{_CKPT_PREFIX}*"):
        if p.suffix in (".json", ".npz") and p.stem != keep:
            try:
                p.unlink()
            except OSError:  # pragma: no cover - best effort
                pass
    for p in directory.glob(f".{_CKPT_PREFIX}*.tmp"):  # temp files of an interrupted save
        try:
            p.unlink()
        except OSError:  # pragma: no cover
            pass


def open_router(directory, **create_kwargs) -> DurableRouter:
    """Open the durable router in ``directory`` (created with ``BanditRouter.create`` if new).

    Parameters
    ----------
    directory : str or Path
        Folder holding the journal and checkpoints (created if absent).
    **create_kwargs
        Arguments of :meth:`BanditRouter.create`, used only when the directory is new; on reopen the state
        comes from the checkpoint and only ``feature_service`` is used (needed for custom encoders).
        ``context_store`` is not accepted (the journal is the durable store).

    Returns
    -------
    DurableRouter

    Raises
    ------
    ConfigError
        ``context_store`` given, or invalid create arguments.
    StateFileError
        The checkpoint is unreadable or the journal does not replay onto it.
    StoreError
        The journal cannot be opened or written.
    """
    if "context_store" in create_kwargs and create_kwargs["context_store"] is not None:
        raise ConfigError("durable mode keeps contexts in its own journal; context_store= is not accepted")
    create_kwargs.pop("context_store", None)
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create durable directory {directory}: {exc}") from None
    journal = _Journal(directory / JOURNAL_NAME)
    try:
        return _open(directory, journal, create_kwargs)
    except BaseException:
        journal.close()
        raise


def _open(directory: Path, journal: _Journal, create_kwargs: dict) -> DurableRouter:
    ckpt = journal.get("checkpoint")
    prefix = journal.get("id_prefix")
    if prefix is None:
        prefix = secrets.token_hex(4) + "-"
        journal.set("id_prefix", prefix)
    if ckpt is None:
        router = DurableRouter.create(**create_kwargs)
        seq = journal.last_seq()
        if seq:
            raise StateFileError(f"journal {journal.path} has {seq} entries but no checkpoint")
    else:
        router = DurableRouter.load(directory / f"{ckpt['name']}.json",
                                    feature_service=create_kwargs.get("feature_service"))
    router._directory = directory
    router._journal = journal
    router._id_prefix = prefix
    router._store._clock = router._clock
    if ckpt is None:
        router._checkpoint()
    else:
        router._ckpt_name, router._ckpt_seq = ckpt["name"], int(ckpt["seq"])
        router._replay(journal.events_after(router._ckpt_seq))
    _remove_checkpoint_files(directory, keep=router._ckpt_name)
    return router
