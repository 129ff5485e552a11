"""Fault injection for the durability promises (issue 14): nothing acknowledged is lost, nothing crafted is
believed, every fault is a typed error.

Random faults (SIGKILL points, bit flips, truncation points) are parametrised over many seeded trials, in
the spirit of SQLite's crash and corruption tests. Children are ``os.fork()``-ed (no re-import), so the
whole file runs in well under a minute.
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import resource
import signal
import sqlite3
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from _helpers_state import resign, rewrite_state

from paretobandit import BanditRouter, BudgetPacer, EphemeralContextStore, RouterConfig, SqliteContextStore
from paretobandit.errors import (
    ConfigError,
    DuplicateFeedbackError,
    InvalidInputError,
    ParetoBanditError,
    StateFileError,
    StoreError,
    UnknownModelError,
)
from paretobandit.persistence import snapshot_files

KW = {"priors": "none", "budget": 0.002, "seed": 3, "alpha": 0.1}
TRIALS = 24


def _vec(rng):
    return rng.normal(size=25)


def _drive(router, n, seed=0, feedback=True):
    rng = np.random.default_rng(seed)
    logs = []
    for _ in range(n):
        _, log = router.route(_vec(rng))
        logs.append(log)
        if feedback and len(logs) > 2:
            router.process_feedback(logs[-3].request_id, float(rng.random()))
    return logs


def _state(router):
    s = router.state_dict()
    return json.dumps(s["meta"], sort_keys=True), {k: v.tobytes() for k, v in s["arrays"].items()}


def _fork(fn) -> int:
    """Run ``fn()`` in a forked child that exits with its return code (never returns into pytest)."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        code = 1
        try:
            code = int(fn() or 0)
        except BaseException as exc:
            os.write(2, f"child failed: {type(exc).__name__}: {exc}\n".encode())
        finally:
            os._exit(code)
    return pid


def _wait(pid) -> int:
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


# ====================================================================================== data loss
@pytest.mark.parametrize("how", ["deleted", "emptied", "fresh-database"])
def test_open_refuses_checkpoints_without_their_journal_and_deletes_nothing(tmp_path, how):
    d = tmp_path / "r"
    with BanditRouter.open(d, **KW) as router:
        _drive(router, 20)
    journal = d / "journal.sqlite"
    if how == "deleted":
        journal.unlink()
    elif how == "emptied":
        journal.write_bytes(b"")
    else:
        journal.unlink()
        sqlite3.connect(journal).execute("CREATE TABLE t (x)").connection.commit()
    (d / "checkpoint-000000000099-deadbeef.json").write_text("{}")  # a file we did not write
    before = sorted(p.name for p in d.iterdir())
    with pytest.raises(StateFileError, match="refusing to start afresh"):
        BanditRouter.open(d, **KW)
    after = sorted(p.name for p in d.iterdir())
    assert [n for n in before if n.startswith("checkpoint-")] == [
        n for n in after if n.startswith("checkpoint-")]


def test_fork_after_open_fails_stop_in_the_child(tmp_path):
    d = tmp_path / "r"
    router = BanditRouter.open(d, **KW)
    logs = _drive(router, 5)

    def child():
        try:
            router.route(np.ones(25))
        except StoreError as exc:
            assert "after forking" in str(exc)
        else:
            return 2
        router.close()  # only marks the child's copy closed
        return 0

    assert _wait(_fork(child)) == 0
    _, log = router.route(np.ones(25))  # the parent is unaffected
    router.process_feedback(log.request_id, 0.5)
    ids = {lg.request_id for lg in logs} | {log.request_id}
    router.close()
    with BanditRouter.open(d) as again:
        assert again.journal_seq == 5 + 3 + 2
        _, new = again.route(np.ones(25))
        assert new.request_id not in ids


@pytest.mark.parametrize("trial", range(TRIALS))
def test_sigkill_during_save_over_a_snapshot_leaves_one_loadable(tmp_path, trial):
    rng = np.random.default_rng(trial)
    router = BanditRouter.create(**KW)
    _drive(router, 30)
    stem = tmp_path / "s"
    router.save(stem)

    def child():
        k = 0
        while True:  # keep replacing the snapshot with newer states
            router.route(np.ones(25))
            router.save(stem)
            k += 1

    pid = _fork(child)
    time.sleep(float(rng.uniform(0.005, 0.25)))
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    loaded = BanditRouter.load(stem)  # the previous or the new snapshot, never neither
    assert loaded.t >= router.t
    npz = [p for p in tmp_path.iterdir() if p.suffix == ".npz"]
    assert snapshot_files(stem)[1] in npz


def test_feedback_is_all_or_nothing_when_the_update_fails(monkeypatch):
    router = BanditRouter.create(**KW)
    logs = _drive(router, 10, feedback=False)
    before = _state(router)

    def boom(*args, **kwargs):
        raise FloatingPointError("injected")

    monkeypatch.setattr(router._policy, "update", boom)
    with pytest.raises(FloatingPointError):
        router.process_feedback(logs[0].request_id, 0.4)
    assert _state(router) == before  # not consumed, not marked applied, nothing changed
    monkeypatch.undo()
    router.process_feedback(logs[0].request_id, 0.4)  # can be re-sent and is applied once
    with pytest.raises(DuplicateFeedbackError):
        router.process_feedback(logs[0].request_id, 0.4)


@pytest.mark.parametrize("kwargs,match", [
    ({"forgetting_factor": 0.4}, "underflow"),  # 0.4^1000 underflows to 0: feedback divided by zero
    ({"forgetting_factor": 0.49}, "underflow"),
    ({"staleness_cap": 1000.0}, "integer"),  # a float cap indexed a list and failed mid-feedback
    ({"stability_interval": 10.0}, "integer"),
])
def test_parameters_that_broke_feedback_are_rejected_up_front(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        RouterConfig(**kwargs)
    with pytest.raises(ConfigError, match=match):
        RouterConfig().replace(**kwargs)


def test_small_gamma_with_a_long_gap_applies_feedback():
    router = BanditRouter.create(priors="none", seed=0, forgetting_factor=0.5)
    _, log = router.route(np.ones(25), force_model="google/gemini-2.5-pro")
    for _ in range(1500):
        router.route(np.ones(25), force_model="meta-llama/llama-3.1-8b-instruct")
    router.process_feedback(log.request_id, 0.9)  # decay 0.5^1000 ≈ 9e-302: finite, applied
    st = router.arm_state("google/gemini-2.5-pro")
    assert st["n_updates"] == 1 and np.isfinite(st["A_inv"]).all()
    np.testing.assert_allclose(st["A_inv"] @ st["A"], np.eye(26), atol=1e-8)


def test_durable_unexpected_failure_stops_and_keeps_the_checkpoint(tmp_path, monkeypatch):
    d = tmp_path / "r"
    router = BanditRouter.open(d, **KW)
    logs = _drive(router, 10, feedback=False)
    router.checkpoint()
    seq = router.journal_seq
    monkeypatch.setattr(router._policy, "update", lambda *a: 1 / 0)
    with pytest.raises(StoreError, match="ZeroDivisionError"):
        router.process_feedback(logs[0].request_id, 0.4)
    with pytest.raises(StoreError, match="stopped"):
        router.route(np.ones(25))
    router.close()  # no checkpoint of a failed router
    with BanditRouter.open(d) as again:
        assert again.journal_seq == seq
        again.process_feedback(logs[0].request_id, 0.4)  # the feedback was not lost


def test_checkpoint_refuses_an_invalid_in_memory_state(tmp_path):
    d = tmp_path / "r"
    router = BanditRouter.open(d, **KW)
    _drive(router, 10)
    good = router.checkpoint()
    router.route(np.ones(25))
    router._policy._M[0] *= 3.0  # a corrupted inverse (A⁻¹ no longer inverts A)
    with pytest.raises(StoreError, match="refused"):
        router.checkpoint()
    router.close()
    assert good.is_file()
    with BanditRouter.open(d) as again:  # the previous checkpoint + journal replay: consistent again
        assert again.journal_seq == 10 + 8 + 1  # routes, feedbacks, the last route


def test_concurrent_cli_feedback_on_one_state_file(tmp_path):
    router = BanditRouter.create(**KW)
    logs = _drive(router, 8, feedback=False)
    state = tmp_path / "s"
    router.save(state)
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    procs = [subprocess.Popen([sys.executable, "-m", "paretobandit", "feedback", log.request_id, "0.5",
                               "--state", str(state)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
             for log in logs]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    final = BanditRouter.load(state)
    assert final.state_dict()["meta"]["counters"]["n_feedback"] == 8  # none lost
    for log in logs:
        with pytest.raises(DuplicateFeedbackError):
            final.process_feedback(log.request_id, 0.5)


# ================================================================================ silent corruption
@pytest.fixture
def snapshot(tmp_path):
    router = BanditRouter.create(**KW)
    _drive(router, 40, feedback=True)
    path = router.save(tmp_path / "s")
    return router, path


@pytest.mark.parametrize("trial", range(TRIALS))
@pytest.mark.parametrize("which", ["json", "npz"])
def test_bit_flip_in_a_snapshot_is_detected(snapshot, trial, which):
    router, path = snapshot
    target = path if which == "json" else snapshot_files(path)[1]
    data = bytearray(target.read_bytes())
    rng = np.random.default_rng(trial)
    pos = int(rng.integers(len(data)))
    data[pos] ^= 1 << int(rng.integers(8))
    target.write_bytes(bytes(data))
    try:
        loaded = BanditRouter.load(path)
    except StateFileError:
        return
    assert _state(loaded)[1] == _state(router)[1] and loaded.state_dict()["meta"]["pacer"] == \
        router.state_dict()["meta"]["pacer"], f"a flipped bit at {pos} loaded silently as a different state"


@pytest.mark.parametrize("trial", range(8))
def test_truncated_snapshot_is_detected(snapshot, trial):
    _, path = snapshot
    target = path if trial % 2 else snapshot_files(path)[1]
    data = target.read_bytes()
    target.write_bytes(data[: int(np.random.default_rng(trial).integers(len(data)))])
    with pytest.raises(StateFileError):
        BanditRouter.load(path)


def _journaled_dir(tmp_path, n=40):
    d = tmp_path / "r"
    router = BanditRouter.open(d, **KW)
    logs = _drive(router, n)
    ref = _state(router)
    router.close(checkpoint=False)  # the entries stay in the journal
    return d, logs, ref


def test_changed_journal_row_is_refused(tmp_path):
    d, _, _ = _journaled_dir(tmp_path)
    con = sqlite3.connect(d / "journal.sqlite")
    seq, payload = con.execute("SELECT seq, payload FROM events WHERE kind='feedback' LIMIT 1").fetchone()
    p = json.loads(payload)
    p["reward"] = round(p["reward"] + 0.1, 6)  # a flipped reward digit
    con.execute("UPDATE events SET payload=? WHERE seq=?", (json.dumps(p), seq))
    con.commit()
    con.close()
    with pytest.raises(StateFileError, match="checksum"):
        BanditRouter.open(d)


@pytest.mark.parametrize("trial", range(TRIALS))
def test_bit_flip_or_truncation_in_the_journal_is_a_state_file_error(tmp_path, trial):
    d, _, ref = _journaled_dir(tmp_path)
    journal = d / "journal.sqlite"
    data = bytearray(journal.read_bytes())
    rng = np.random.default_rng(100 + trial)
    if trial % 4 == 3:
        data = data[: int(rng.integers(len(data)))]
    else:
        for _ in range(1 + trial % 3):
            pos = int(rng.integers(len(data)))
            data[pos] ^= 1 << int(rng.integers(8))
    journal.write_bytes(bytes(data))
    try:
        router = BanditRouter.open(d)
    except StateFileError:
        return
    except ParetoBanditError as exc:  # e.g. a damaged page SQLite reports as I/O: typed, never raw
        assert isinstance(exc, StoreError), exc
        return
    try:  # the flip hit unused bytes: the recovered state must be exactly the journaled one
        assert _state(router) == ref
    finally:
        router.close(checkpoint=False)


@pytest.mark.parametrize("trial", range(6))
def test_lost_wal_never_reissues_request_ids(tmp_path, trial):
    d = tmp_path / "r"
    with BanditRouter.open(d, **KW) as router:
        _drive(router, 5)
    ids_file = tmp_path / "ids"

    def child():
        r = BanditRouter.open(d)
        with open(ids_file, "w") as fh:
            for log in _drive(r, 10 + trial, seed=trial):
                fh.write(log.request_id + "\n")
        os._exit(0)  # crash: the WAL is not checkpointed into the database

    assert _wait(_fork(child)) == 0
    handed_out = set(ids_file.read_text().split())
    assert (d / "journal.sqlite-wal").is_file()
    (d / "journal.sqlite-wal").unlink()  # the WAL is lost
    (d / "journal.sqlite-shm").unlink(missing_ok=True)
    with BanditRouter.open(d) as again:
        new = {again.route(np.ones(25))[1].request_id for _ in range(30)}
    assert not new & handed_out


def _crafted(path, change_meta=None, change_arrays=None, extra=None):
    return rewrite_state(path, change_meta=change_meta, change_arrays=change_arrays, extra_members=extra)


def _bad_inverse(a):  # consistent with the raw arrays, but not an inverse of A
    a["raw_M"][0] *= 1.5
    a["A_inv"] = a["raw_M"] * a["raw_scales"][:, 0, None, None]


def _neg_pulls(m):
    m["counters"]["pulls"][m["models"][0]] = -4


def _huge_counter(m):
    m["counters"]["next_request"] = 2**63 - 5


def _text_cost(m):
    m["context_store"]["pending"]["meta"][0]["cost"] = "0.1"


def _neg_n_updates(a):
    a["n_updates"][0] = -1


@pytest.mark.parametrize("meta_change,array_change,match", [
    (None, _bad_inverse, "not the inverse"),
    (_neg_pulls, None, "pulls"),
    (_huge_counter, None, "next_request"),
    (_text_cost, None, "cost"),
    (None, _neg_n_updates, "n_updates"),
])
def test_crafted_snapshot_meaning_is_validated(snapshot, meta_change, array_change, match):
    _, path = snapshot
    _crafted(path, meta_change, array_change)
    with pytest.raises(StateFileError, match=match):
        BanditRouter.load(path)


def test_extra_or_oversized_archive_member_refused_before_decompressing(snapshot):
    _, path = snapshot
    _crafted(path, extra={"bomb": np.zeros(3)})
    with pytest.raises(StateFileError, match="members"):
        BanditRouter.load(path)
    router, path = snapshot
    path = router.save(path)
    npz = snapshot_files(path)[1]
    with zipfile.ZipFile(npz) as z:
        members = {n: z.read(n) for n in z.namelist()}
    members["b.npy"] = members["b.npy"] + b"\0" * (200 * 2**20)  # ... followed by 200 MB of zeros
    with zipfile.ZipFile(npz, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for n, blob in members.items():
            z.writestr(n, blob)
    import hashlib

    meta = json.loads(path.read_text())
    meta["npz_sha256"] = hashlib.sha256(npz.read_bytes()).hexdigest()
    path.write_text(json.dumps(resign(meta)))
    assert npz.stat().st_size < 2 * 2**20  # a small file ...
    with pytest.raises(StateFileError, match="declares"):  # ... refused from its declared size
        BanditRouter.load(path)


def test_loading_has_no_side_effects(snapshot, tmp_path):
    _, path = snapshot
    evil_db = tmp_path / "elsewhere" / "evil.db"
    evil_db.parent.mkdir()
    _crafted(path, lambda m: m.update(context_store={"kind": "sqlite", "path": str(evil_db), "ttl": None}),
             lambda a: a.pop("pending_x"))
    with pytest.raises(StateFileError, match="context_store="):
        BanditRouter.load(path)
    assert not evil_db.exists()
    model_dir = tmp_path / "some-model"
    model_dir.mkdir()
    _crafted(path, lambda m: m.update(
        context_store={"kind": "ephemeral", "ttl": None, "max_applied": 100000,
                       "pending": {"ids": [], "meta": [], "created": []}, "applied": []},
        feature_service={"kind": "minilm", "dimension": 26, "embedding_dim": 384, "bias": "last",
                         "model": str(model_dir), "whiten": True, "pca": None}),
        lambda a: a.update(pending_x=np.zeros((0, 26))))
    with pytest.raises(StateFileError, match="feature_service="):
        BanditRouter.load(path)


def test_sqlite_store_path_is_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    store = SqliteContextStore("rel.db")
    assert store.describe()["path"] == str(tmp_path / "rel.db")
    store.close()


def test_exploit_is_per_asyncio_task():
    router = BanditRouter.create(priors="none", seed=0, alpha=1.0)
    twin = BanditRouter.create(priors="none", seed=0, alpha=1.0)
    x = np.ones(25)

    async def greedy_task(entered, release):
        with router.exploit():
            entered.set()
            await release.wait()
            return router.route(x)[1].scores

    async def main():
        entered, release = asyncio.Event(), asyncio.Event()
        task = asyncio.create_task(greedy_task(entered, release))
        await entered.wait()
        other = router.route(x)[1].scores  # another task of the same loop, outside exploit()
        release.set()
        return other, await task

    other, greedy = asyncio.run(main())
    explore = twin.route(x)[1].scores
    with twin.exploit():
        exploit = twin.route(x)[1].scores
    assert other == explore and other != exploit
    assert set(greedy) == set(exploit)


# ======================================================================= clear errors, bounded growth
def test_open_on_an_unwritable_directory_is_a_store_error(tmp_path, monkeypatch):
    d = tmp_path / "r"
    d.mkdir()
    (d / "LOCK").mkdir()  # the lock file cannot be created (as with a read-only directory)
    with pytest.raises(StoreError, match="lock file"):
        BanditRouter.open(d, **KW)
    real_open = os.open

    def read_only(path, flags, *args):
        if str(path).endswith("LOCK") and flags & os.O_CREAT:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", read_only)
    with pytest.raises(StoreError, match="Permission denied"):
        BanditRouter.open(tmp_path / "ro", **KW)


@pytest.mark.parametrize("bad", [[[1.0, 2.0], [3.0]], [1.0] * 24 + [[1.0]], [[1.0] * 25, [1.0] * 25]])
def test_ragged_or_nested_input_is_typed(bad):
    router = BanditRouter.create(priors="none", seed=0)
    with pytest.raises(InvalidInputError):
        router.route(bad)


def test_checkpoint_on_a_full_disk_is_typed_and_keeps_the_previous(tmp_path, monkeypatch):
    import paretobandit.persistence as persistence

    d = tmp_path / "r"
    router = BanditRouter.open(d, **KW)
    _drive(router, 10)
    good = router.checkpoint()
    router.route(np.ones(25))

    def full(target, data):
        raise OSError(errno.ENOSPC, "No space left on device", str(target))

    monkeypatch.setattr(persistence, "atomic_write_bytes", full)
    with pytest.raises(StoreError, match="disk full"):
        router.checkpoint()
    monkeypatch.undo()
    router.route(np.ones(25))  # the router keeps working; the journal holds everything
    seq = router.journal_seq
    router.close(checkpoint=False)
    assert good.is_file()
    with BanditRouter.open(d) as again:
        assert again.journal_seq == seq


def test_journal_write_on_a_full_disk_is_typed_and_recoverable(tmp_path):
    d = tmp_path / "r"
    with BanditRouter.open(d, **KW) as router:
        _drive(router, 5)
    acks = tmp_path / "acks"

    def child():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        r = BanditRouter.open(d, checkpoint_every=None)
        limit = max(p.stat().st_size for p in d.iterdir() if p.is_file()) + 64 * 1024
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        rng = np.random.default_rng(0)
        n = 0
        try:
            while True:
                r.route(_vec(rng))
                n += 1
                acks.write_text(str(n))
        except StoreError as exc:
            return 0 if "journal write failed" in str(exc) else 3
        except BaseException as exc:
            os.write(2, repr(exc).encode())
            return 4

    assert _wait(_fork(child)) == 0
    with BanditRouter.open(d) as again:  # every acknowledged route is there
        assert again.journal_seq == 5 + 3 + int(acks.read_text())  # nothing more, nothing less


def test_numpy_scalars_are_accepted():
    cfg = RouterConfig(alpha=np.float32(0.05), staleness_cap=np.int64(500),
                       forgetting_factor=np.float64(0.99))
    assert type(cfg.alpha) is float and type(cfg.staleness_cap) is int and abs(cfg.alpha - 0.05) < 1e-7
    json.dumps(cfg.to_dict())
    pacer = BudgetPacer(np.float32(0.002), eta=np.float64(0.1))
    pacer.update(np.float32(0.001))
    EphemeralContextStore(ttl=np.float32(5), max_applied=np.int64(10))
    router = BanditRouter.create(priors="none", seed=np.int64(0), budget=np.float32(0.002), config=cfg)
    model, _ = router.route(np.ones(25), force_model=np.str_("google/gemini-2.5-pro"))
    assert model == "google/gemini-2.5-pro" and type(model) is str


def test_automatic_checkpoints_and_wal_truncation(tmp_path):
    d = tmp_path / "r"
    with BanditRouter.open(d, checkpoint_every=50, **KW) as router:
        _drive(router, 100)
        con = sqlite3.connect(d / "journal.sqlite")
        left = con.execute("SELECT COUNT(*) FROM events").fetchone()[0]
        con.close()
        assert left < 50 and router.journal_seq > 150
        router.checkpoint()
        assert (d / "journal.sqlite-wal").stat().st_size == 0  # truncated by the checkpoint
    with BanditRouter.open(d, checkpoint_every=None, checkpoint_bytes=20_000, **KW) as router:
        _drive(router, 60)
        con = sqlite3.connect(d / "journal.sqlite")
        assert con.execute("SELECT COUNT(*) FROM events").fetchone()[0] < 100
        con.close()
    with pytest.raises(ConfigError, match="checkpoint_every"):
        BanditRouter.open(tmp_path / "x", checkpoint_every=0)


def test_replay_is_streamed(tmp_path):
    from paretobandit.durable import _Journal

    d, _, _ = _journaled_dir(tmp_path, n=10)
    journal = _Journal(d / "journal.sqlite")
    try:
        rows = journal.events_after(0)
        assert iter(rows) is rows and not isinstance(rows, list)  # a generator, not a fetchall
        assert sum(1 for _ in rows) == journal.seq
    finally:
        journal.close()


def test_pending_contexts_of_removed_models_are_dropped():
    router = BanditRouter.create(priors="none", seed=0)
    router.register_model("x", blended=0.1)
    logs = [router.route(np.ones(25), force_model="x")[1] for _ in range(5)]
    _, keep = router.route(np.ones(25))
    assert len(router.context_store) == 6
    router.remove_model("x")
    assert len(router.context_store) == 1
    with pytest.raises(UnknownModelError, match="removed"):
        router.process_feedback(logs[0].request_id, 0.5)
    router.process_feedback(keep.request_id, 0.5)


def test_sqlite_applied_record_is_pruned(tmp_path):
    store = SqliteContextStore(tmp_path / "c.db", max_applied=10)
    store._conn.execute("PRAGMA synchronous=OFF")  # speed only: 2,100 fsyncs are not what is tested
    for i in range(2100):
        store.put(f"r{i}", np.ones(3), {"model": "m", "cost": 0.0})
        store.take(f"r{i}")
    n = store._conn.execute("SELECT COUNT(*) FROM applied").fetchone()[0]
    assert n <= 10 + 1024
    with pytest.raises(DuplicateFeedbackError):
        store.take("r2099")
    store.close()


def test_superseded_checkpoint_left_by_a_crash_is_removed_at_open(tmp_path, monkeypatch):
    import paretobandit.durable as durable

    d = tmp_path / "r"
    router = BanditRouter.open(d, **KW)
    _drive(router, 5)
    first = router.checkpoint()
    _drive(router, 5, seed=1)
    monkeypatch.setattr(durable, "_remove_checkpoint", lambda *a: None)  # crash between commit and cleanup
    second = router.checkpoint()
    router.close(checkpoint=False)
    monkeypatch.undo()
    assert first.is_file() and second.is_file()
    (d / "checkpoint-000000000001-0badf00d.json").write_text("{}")  # not ours: must stay
    with BanditRouter.open(d):
        pass
    assert not first.exists() and second.is_file()
    assert (d / "checkpoint-000000000001-0badf00d.json").is_file()
