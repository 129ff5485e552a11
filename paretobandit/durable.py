"""Durable mode: a write-ahead journal so that routed contexts and acknowledged feedback survive a crash.

Open with :meth:`paretobandit.router.BanditRouter.open`::

    with BanditRouter.open("state/router", priors="none", budget=0.002, seed=0) as router:
        model, log = router.route(vector)
        router.process_feedback(log.request_id, reward=0.9)   # durable when this returns

Layout of ``directory``:

* ``journal.sqlite`` — SQLite in WAL mode with ``synchronous=FULL``. Table ``events`` holds one row per
  successful state-changing call since the last checkpoint (route, feedback, register, reprice, remove),
  committed (fsync'ed) *before* the call returns, each with a checksum over its sequence number and
  content; table ``meta`` holds the journal format, the current checkpoint, the checkpoint being written
  or just superseded (its files are recognised as ours and removed after a crash), the directory's id
  prefix and the current session, every value checksummed.
* ``checkpoint-<seq>-<token>.json`` + its ``.npz`` — a snapshot (:mod:`paretobandit.persistence`) of the
  router after journal entry ``seq``. A new checkpoint is written beside the old one, fsync'ed and
  validated, and only then made current by one SQLite transaction that also deletes the journal entries
  it covers; the WAL is then truncated. A crash at any point leaves a loadable (checkpoint, journal) pair.

Recovery (opening an existing directory): load the current checkpoint, then replay every later journal
entry (streamed, not loaded at once) through the ordinary router code. Routing is deterministic given the
state and the tie-break generator's saved state, so a replayed route must choose the journaled model at the
journaled ``t`` with the journaled request id; any mismatch, checksum failure or malformed row raises
:class:`~paretobandit.errors.StateFileError` instead of silently diverging.

Semantics
---------
* A call that returns has been journaled; a call that raises a typed validation error changed nothing and
  wrote nothing. A call interrupted by a crash is either fully journaled (and replayed) or absent.
* Feedback is applied at most once (the consumed context is part of the checkpoint and of the replay).
* Request ids are ``<directory prefix><session>-<n>``: every open starts a new random session, so an id is
  never handed out twice, even if the journal's WAL was lost and the counter went back.
* ``open()`` refuses a directory holding checkpoints that no journal names (a lost or emptied journal)
  instead of starting afresh, and never deletes a file it did not write, except the files of a checkpoint
  attempt the journal records as its own and abandoned.
* One router per directory: an exclusive lock on ``<directory>/LOCK``. A router used in a process forked
  after ``open()`` refuses every call (open it after forking).
* If a journal write or an update fails unexpectedly, the in-memory state may be ahead of the journal: the
  router refuses every further call with :class:`~paretobandit.errors.StoreError` and ``close()`` does not
  checkpoint (fail-stop; reopening recovers the journaled state).

This module does not import :mod:`paretobandit.router`: :class:`DurableMixin` is combined with
``BanditRouter`` there (``paretobandit.router.DurableRouter``). It uses only the router's public API
(``route`` with a :class:`~paretobandit.replay.ReplayContext`, ``state_dict``, ``load``, ``create``,
``id_prefix``, ``exploiting``, ``context_store``); :func:`open_directory` hands the opened journal to the
new router with :meth:`DurableMixin.bind_journal`. The journal file itself (SQLite schema, row and value
checksums, directory lock) is :mod:`paretobandit.journal`.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import secrets
import sqlite3
import threading
import time
from contextlib import nullcontext as _nullcontext
from pathlib import Path

import numpy as np

from . import kernels
from ._atomic import fsync_dir
from .errors import ConfigError, ParetoBanditError, StateFileError, StoreError
from .journal import JOURNAL_FORMAT, JOURNAL_NAME, _Journal
from .replay import ReplayContext

__all__ = ["JOURNAL_FORMAT", "JOURNAL_NAME", "DurableMixin", "ReplayContext", "open_directory"]

logger = logging.getLogger(__name__)

_CKPT_PREFIX = "checkpoint-"
_CKPT_NAME = re.compile(r"checkpoint-\d{12}-[0-9a-f]{8}")


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


def _num(value):
    return None if value is None else float(value)


def _cause(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC or "full" in str(exc).lower():
        return f"disk full ({exc})"
    return f"{type(exc).__name__}: {exc}"


class DurableMixin:
    """Journaling for a :class:`~paretobandit.router.BanditRouter` (combined as ``DurableRouter``).

    Every public state-changing method journals its call before returning; :meth:`checkpoint` and
    :meth:`close` manage the directory, and the router is a context manager (``close()`` on exit).
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._dlock = threading.RLock()
        self._journal: _Journal | None = None
        self._directory: Path | None = None
        self._clock = _Clock()
        self._failed: BaseException | None = None
        self._closed = False
        self._pid = os.getpid()
        self._ckpt_seq = 0
        self._ckpt_name: str | None = None
        self._auto_every: int | None = None
        self._auto_bytes: int | None = None
        self._since = 0
        self._since_bytes = 0

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
            return self._journal.seq

    def bind_journal(self, journal: _Journal, directory: Path, *, checkpoint_every=None,
                     checkpoint_bytes=None) -> None:
        """Continue the open ``journal`` of ``directory`` with this router (what :func:`open_directory` does).

        The router must be the directory's current checkpoint, freshly loaded, or a new router for an empty
        journal. A new directory gets its first checkpoint; otherwise every entry after the checkpoint is
        replayed and verified. Then a new id session starts (``id_prefix`` =
        ``<directory prefix><session>-``) and an interrupted checkpoint attempt of ours is removed.

        Raises
        ------
        ConfigError
            The router is already bound to a journal.
        StateFileError
            The journal does not replay onto this router.
        """
        if self._journal is not None:
            raise ConfigError(f"this router is already bound to the journal of {self._directory}")
        ckpt, writing = journal.get("checkpoint"), journal.get("writing")
        dir_prefix = journal.get("id_prefix")
        if dir_prefix is None:
            dir_prefix = secrets.token_hex(4) + "-"
            journal.set("id_prefix", dir_prefix)
        self._directory, self._journal = directory, journal
        self._auto_every = None if checkpoint_every is None else int(checkpoint_every)
        self._auto_bytes = None if checkpoint_bytes is None else int(checkpoint_bytes)
        self.context_store.clock = self._clock
        if ckpt is None:
            self._checkpoint()
        else:
            self._ckpt_name, self._ckpt_seq = ckpt["name"], int(ckpt["seq"])
            self._replay(journal.events_after(self._ckpt_seq))
        # a new session: ids handed out from now on never equal one handed out before (even after a lost WAL)
        self.id_prefix = f"{dir_prefix}{secrets.token_hex(4)}-"
        journal.set("session", {"prefix": self.id_prefix, "pid": os.getpid(), "opened": time.time()})
        if isinstance(writing, str) and writing != self._ckpt_name and _CKPT_NAME.fullmatch(writing):
            _remove_checkpoint(directory, writing)  # our own interrupted checkpoint attempt
            journal.delete("writing")

    # ------------------------------------------------------------------ plumbing
    def _usable(self) -> None:
        if self._pid != os.getpid():
            raise StoreError(f"durable router {self._directory} was opened in process {self._pid} and is "
                             f"used in the forked process {os.getpid()}; open the router after forking "
                             "(e.g. in a post-fork hook), never share one across a fork")
        if self._closed:
            raise StoreError(f"durable router {self._directory} is closed")
        if self._failed is not None:
            raise StoreError(f"durable router {self._directory} stopped after a failure ({self._failed}); "
                             "reopen it to recover the journaled state")

    def _run(self, op, *args, **kwargs):
        """Run a base-class operation; an unexpected (untyped) failure stops the router (fail-stop)."""
        try:
            return op(*args, **kwargs)
        except ParetoBanditError:
            raise
        except Exception as exc:
            self._failed = exc
            raise StoreError(f"durable router {self._directory}: {type(exc).__name__}: {exc}; the router now "
                             "refuses calls until reopened (the call was not made durable)") from exc

    def _append(self, kind: str, request_id, build) -> None:
        """Journal an operation already applied in memory; on any failure stop the router (fail-stop)."""
        try:
            ts = self._clock.last
            payload, x = build()
            size = self._journal.append(kind, request_id, ts, payload, x)
        except BaseException as exc:  # the in-memory state is now ahead of the journal
            self._failed = exc
            if not isinstance(exc, Exception):
                raise
            raise StoreError(f"journal write failed in {self._journal.path!r}: {_cause(exc)}; the router now "
                             "refuses calls until reopened (the call was not made durable)") from None
        self._since += 1
        self._since_bytes += size
        if (self._auto_every is not None and self._since >= self._auto_every) or (
                self._auto_bytes is not None and self._since_bytes >= self._auto_bytes):
            try:
                self._checkpoint()
            except StoreError as exc:  # the call itself is durable; retry after as many entries again
                logger.warning("automatic checkpoint of %s failed: %s", self._directory, exc)
                self._since = self._since_bytes = 0

    # ------------------------------------------------------------------ journaled operations
    def route(self, prompt_or_vector, max_cost=None, force_model=None):
        """:meth:`BanditRouter.route`, journaled (context, arguments and decision) before returning."""
        with self._dlock:
            self._usable()
            model, log = self._run(super().route, prompt_or_vector, max_cost=max_cost,
                                   force_model=force_model)

            def build():
                x = self.context_store.get(log.request_id)[0]  # the context exactly as stored for feedback
                text = isinstance(prompt_or_vector, str)
                n_in = kernels.estimate_input_tokens(prompt_or_vector) if text else 0
                return {
                    "model": model, "t": log.t, "cost": log.cost_usd, "prefix": self.id_prefix,
                    "max_cost": None if max_cost is None else float(max_cost),
                    "force_model": None if force_model is None else str(force_model),
                    "n_in": int(n_in), "greedy": self.exploiting,
                }, x

            self._append("route", log.request_id, build)
            return model, log

    def process_feedback(self, request_id, reward, cost=None) -> None:
        """:meth:`BanditRouter.process_feedback`, journaled before returning (durable acknowledgement)."""
        with self._dlock:
            self._usable()
            self._run(super().process_feedback, request_id, reward, cost)
            self._append("feedback", request_id,
                         lambda: ({"reward": float(reward), "cost": _num(cost)}, None))

    def register_model(self, name, input_cost_per_m=None, output_cost_per_m=None, *, blended=None,
                       **metadata) -> None:
        """:meth:`BanditRouter.register_model`, journaled."""
        with self._dlock:
            self._usable()
            self._run(super().register_model, name, input_cost_per_m, output_cost_per_m, blended=blended,
                      **metadata)
            self._append("register", None,
                         lambda: ({"name": str(name), "input": _num(input_cost_per_m),
                                   "output": _num(output_cost_per_m), "blended": _num(blended),
                                   "metadata": metadata}, None))

    def update_model_pricing(self, name, input_cost_per_m=None, output_cost_per_m=None, *,
                             blended=None) -> None:
        """:meth:`BanditRouter.update_model_pricing`, journaled."""
        with self._dlock:
            self._usable()
            self._run(super().update_model_pricing, name, input_cost_per_m, output_cost_per_m,
                      blended=blended)
            self._append("reprice", None,
                         lambda: ({"name": str(name), "input": _num(input_cost_per_m),
                                   "output": _num(output_cost_per_m), "blended": _num(blended)}, None))

    def remove_model(self, name) -> None:
        """:meth:`BanditRouter.remove_model`, journaled."""
        with self._dlock:
            self._usable()
            self._run(super().remove_model, name)
            self._append("remove", None, lambda: ({"name": str(name)}, None))

    # ------------------------------------------------------------------ replay
    def _replay_one(self, seq, kind, request_id, payload, blob) -> None:
        base = super()
        if kind == "route":
            d = self.dimension
            if not isinstance(blob, bytes) or len(blob) != 8 * d:
                raise StateFileError(f"journal {self._journal.path}: route #{seq} has a context of "
                                     f"{0 if blob is None else len(blob)} bytes, expected {8 * d}")
            x = np.frombuffer(blob, dtype="<f8").astype(float)
            self.id_prefix = payload["prefix"]  # the session the route was made in
            with self.exploit() if payload["greedy"] else _nullcontext():
                model, log = base.route(ReplayContext(x, int(payload["n_in"])), payload["max_cost"],
                                        payload["force_model"])
            got = (model, log.t, log.request_id, log.cost_usd)
            want = (payload["model"], payload["t"], request_id, payload["cost"])
            if got != want:
                raise StateFileError(f"journal {self._journal.path}: replayed route #{seq} gave "
                                     f"(model, t, request_id, cost) = {got}, journal says {want}; "
                                     "the journal does not match the checkpoint")
        elif kind == "feedback":
            base.process_feedback(request_id, payload["reward"], payload["cost"])
        elif kind == "register":
            base.register_model(payload["name"], payload["input"], payload["output"],
                                blended=payload["blended"], **payload["metadata"])
        elif kind == "reprice":
            base.update_model_pricing(payload["name"], payload["input"], payload["output"],
                                      blended=payload["blended"])
        elif kind == "remove":
            base.remove_model(payload["name"])
        else:
            raise StateFileError(f"journal {self._journal.path}: unknown entry kind {kind!r} at #{seq}")

    def _replay(self, rows) -> int:
        """Re-apply journal rows through the base-class methods; verify every routing decision."""
        n = 0
        for seq, kind, request_id, ts, payload, blob in rows:
            self._clock.fixed = ts
            try:
                self._replay_one(seq, kind, request_id, payload, blob)
            except StateFileError:
                raise
            except (ParetoBanditError, KeyError, TypeError, ValueError, AttributeError,
                    ArithmeticError) as exc:
                raise StateFileError(f"journal {self._journal.path}: replaying {kind} #{seq} failed "
                                     f"({type(exc).__name__}: {exc}); the journal does not match the "
                                     "checkpoint") from None
            finally:
                self._clock.fixed = None
            n += 1
        return n

    # ------------------------------------------------------------------ checkpoint / close
    def checkpoint(self) -> Path:
        """Save the state and truncate the journal it covers (crash-safe at every step).

        Returns
        -------
        Path
            The ``.json`` of the current checkpoint.

        Raises
        ------
        StoreError
            The checkpoint could not be written (e.g. disk full; the message names the cause) or the
            in-memory state failed validation (the router then stops); the previous checkpoint and the
            journal are intact.
        """
        with self._dlock:
            self._usable()
            return self._checkpoint()

    def _checkpoint(self) -> Path:
        from ._state import check_router_meta
        from .persistence import write_state
        from .policy import validate_state

        seq = self._journal.seq
        if self._ckpt_name is not None and seq == self._ckpt_seq:
            return self._directory / f"{self._ckpt_name}.json"
        state = self.state_dict()
        try:
            check_router_meta(state["meta"])
            problem = validate_state(state["arrays"])
        except StateFileError as exc:
            problem = str(exc)
        if problem:  # never let a corrupt in-memory state replace a good checkpoint
            self._failed = StateFileError(problem)
            raise StoreError(f"checkpoint of {self._directory} refused: the in-memory state is invalid "
                             f"({problem}); the router stops, reopen it to recover the journaled state")
        name = f"{_CKPT_PREFIX}{seq:012d}-{secrets.token_hex(4)}"
        try:
            self._journal.set("writing", name)
            write_state(state, self._directory / name)
            fsync_dir(self._directory)
            self._journal.commit_checkpoint(name, seq, self._ckpt_name)
        except (OSError, sqlite3.Error, StateFileError) as exc:
            raise StoreError(f"checkpoint of {self._directory} failed: {_cause(exc)} (the previous "
                             "checkpoint and the journal are intact)") from None
        old = self._ckpt_name
        self._ckpt_name, self._ckpt_seq = name, seq
        self._since = self._since_bytes = 0
        if old is not None:
            _remove_checkpoint(self._directory, old)
        return self._directory / f"{name}.json"

    def close(self, checkpoint: bool = True) -> None:
        """Checkpoint (unless ``checkpoint=False`` or the router has failed) and close the journal.

        Idempotent. Any later call raises :class:`~paretobandit.errors.StoreError`. In a process forked
        after ``open()`` it only marks this copy closed (the parent's files are left alone).
        """
        with self._dlock:
            if self._closed:
                return
            if self._pid != os.getpid():
                self._closed = True
                return
            try:
                if checkpoint and self._failed is None:
                    self._checkpoint()
            finally:
                self._closed = True
                self._journal.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def _remove_checkpoint(directory: Path, name: str) -> None:
    """Delete the files of checkpoint ``name`` (its ``.json``, its ``.npz``, temporary files of its save)."""
    if not _CKPT_NAME.fullmatch(name):  # pragma: no cover - names come from the journal, checksummed
        return
    for p in directory.iterdir():
        if p.name == f"{name}.json" or (p.name.startswith(f"{name}.") and p.suffix == ".npz") \
                or p.name.startswith(f".{name}."):
            try:
                p.unlink()
            except OSError:  # pragma: no cover - best effort
                pass


def open_directory(router_cls, directory, *, checkpoint_every=10_000, checkpoint_bytes=64 * 2**20,
                   create_kwargs=None):
    """Open the durable router in ``directory`` (created with ``router_cls.create`` if new).

    Parameters
    ----------
    router_cls : type
        ``paretobandit.router.DurableRouter`` (``BanditRouter.open`` passes it).
    directory : str or Path
        Folder holding the journal and checkpoints (created if absent).
    checkpoint_every, checkpoint_bytes : int or None
        Take a checkpoint automatically after this many journal entries / bytes of journal.
    create_kwargs : dict
        Arguments of :meth:`BanditRouter.create`, used only when the directory is new; on reopen the state
        comes from the checkpoint and only ``feature_service`` is used (needed for custom encoders).
        ``context_store`` is not accepted (the journal is the durable store).

    Raises
    ------
    ConfigError
        ``context_store`` given, bad bounds, or invalid create arguments.
    StateFileError
        Checkpoints exist that no journal names, or the checkpoint or journal is corrupt or does not replay.
    StoreError
        The directory cannot be created, locked or written.
    """
    create_kwargs = dict(create_kwargs or {})
    if create_kwargs.get("context_store") is not None:
        raise ConfigError("durable mode keeps contexts in its own journal; context_store= is not accepted")
    create_kwargs.pop("context_store", None)
    for label, bound in (("checkpoint_every", checkpoint_every), ("checkpoint_bytes", checkpoint_bytes)):
        if bound is not None and (isinstance(bound, bool) or not isinstance(bound, (int, np.integer))
                                  or bound < 1):
            raise ConfigError(f"{label} must be None or an int >= 1, got {bound!r}")
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create durable directory {directory}: {exc}") from None
    journal_path = directory / JOURNAL_NAME
    checkpoints = sorted(p.name[:-5] for p in directory.glob(f"{_CKPT_PREFIX}*.json"))
    if checkpoints and (not journal_path.is_file() or journal_path.stat().st_size == 0):
        raise StateFileError(f"durable directory {directory} holds checkpoints ({', '.join(checkpoints)}) "
                             f"but no journal: refusing to start afresh over them; restore {JOURNAL_NAME} "
                             "(or move the checkpoints away to start a new router)")
    journal = _Journal(journal_path)
    try:
        router = _base_router(router_cls, directory, journal, checkpoints, create_kwargs)
        router.bind_journal(journal, directory, checkpoint_every=checkpoint_every,
                            checkpoint_bytes=checkpoint_bytes)
    except BaseException:
        journal.close()
        raise
    return router


def _base_router(router_cls, directory: Path, journal: _Journal, checkpoints: list, create_kwargs: dict):
    """The router the journal continues: a new one (empty directory) or its current checkpoint."""
    ckpt = journal.get("checkpoint")
    writing = journal.get("writing")
    if ckpt is None:
        foreign = [c for c in checkpoints if c != writing]
        if foreign:
            raise StateFileError(f"journal {journal.path} names no checkpoint but the directory holds "
                                 f"{', '.join(foreign)}: refusing to start afresh over them (the journal was "
                                 "lost or emptied); restore it or move the checkpoints away")
        if journal.count_after(0):
            raise StateFileError(f"journal {journal.path} has entries but no checkpoint")
    else:
        if not isinstance(ckpt, dict) or not isinstance(ckpt.get("name"), str) \
                or not _CKPT_NAME.fullmatch(ckpt["name"]) or not isinstance(ckpt.get("seq"), int):
            raise StateFileError(f"journal {journal.path}: invalid checkpoint record {ckpt!r}")
        return router_cls.load(directory / f"{ckpt['name']}.json",
                               feature_service=create_kwargs.get("feature_service"))
    return router_cls.create(**create_kwargs)
