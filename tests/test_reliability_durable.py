"""Durable mode under SIGKILL: acknowledged feedback survives, none applies twice, the final state is exact.

A child process (``tests/_durable_child.py``) drives a deterministic stream of routes, lagged feedback
(some clamped rewards, some realised costs), max_cost and greedy routes, a runtime registration, a reprice
and a removal through ``BanditRouter.open``, checkpointing every 37 actions. The parent kills it with
SIGKILL at seeded random points (most after a random number of acknowledged actions plus a sub-millisecond
jitter, some during start-up/replay), reopens the directory after each kill and checks:

* every action acknowledged before the kill is in the recovered state (journal position > last ack, and at
  most one unacknowledged in-flight action beyond it);
* the recovered state is bit-identical to a plain in-memory router that applied exactly that prefix of the
  stream (same request-id prefix);
* re-sending any acknowledged feedback raises ``DuplicateFeedbackError`` and changes nothing;
* after the last kill the child finishes the stream and the final state equals the uninterrupted run.

Every fourth run checkpoints after each action, so those kills mostly land inside a checkpoint (seen as
leftover temporary or second checkpoint files before recovery cleans them up).
"""

from __future__ import annotations

import importlib.util
import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from paretobandit import BanditRouter
from paretobandit.errors import (
    ConfigError,
    DuplicateFeedbackError,
    ParetoBanditError,
    StateFileError,
    StoreError,
)

CHILD = Path(__file__).with_name("_durable_child.py")
_spec = importlib.util.spec_from_file_location("_durable_child", CHILD)
child = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(child)

N_KILLS = 22


def state_bytes(router) -> tuple[str, dict]:
    state = router.state_dict()
    meta = dict(state["meta"])
    arrays = {k: (v.dtype.str, v.shape, v.tobytes()) for k, v in state["arrays"].items()}
    return json.dumps(meta, sort_keys=True), arrays


def read_acks(path: Path) -> list[int]:
    if not path.exists():
        return []
    return [int(line) for line in path.read_text().split("\n") if line.strip()]


def _spawn(directory, ack_path, checkpoint_every=child.CHECKPOINT_EVERY):
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]),
               PB_CHECKPOINT_EVERY=str(checkpoint_every))
    return subprocess.Popen([sys.executable, str(CHILD), str(directory), str(ack_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def test_sigkill_recovery(tmp_path):
    acts = child.actions()
    directory, ack_path = tmp_path / "router", tmp_path / "acks.txt"
    rng = np.random.default_rng(2026)
    ref = BanditRouter.create(**child.CREATE_KWARGS)
    ref_pos = 0
    kills = mid_stream = interrupted_checkpoints = 0
    deadline = time.monotonic() + 150
    proc = None
    try:
        while True:
            assert time.monotonic() < deadline, "durable kill test ran too long"
            # every 4th run checkpoints after each action, so the kill most likely lands inside a checkpoint
            proc = _spawn(directory, ack_path, 1 if kills % 4 == 3 else child.CHECKPOINT_EVERY)
            if kills < N_KILLS:
                if kills % 7 == 6:  # anywhere: during start-up, open, replay or the first actions
                    time.sleep(float(rng.uniform(0.0, 0.8)))
                else:
                    ready, _, _ = select.select([proc.stdout], [], [], 60)
                    line = proc.stdout.readline() if ready else "(no output within 60 s)"
                    if not line.startswith("ready"):
                        proc.kill()
                        raise AssertionError((line, proc.stderr.read()))
                    target = len(read_acks(ack_path)) + int(rng.integers(1, 40))
                    while proc.poll() is None and len(read_acks(ack_path)) < target:
                        assert time.monotonic() < deadline, "child made no progress"
                        time.sleep(0.001)
                    time.sleep(float(rng.uniform(0.0, 0.004)))
                if proc.poll() is not None:  # finished the stream before the kill
                    assert proc.returncode == 0, proc.stderr.read()
                    break
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                kills += 1
            else:
                out, err = proc.communicate(timeout=120)
                assert proc.returncode == 0, err
                assert "done" in out
                break
            # ---- recover in this process and check
            interrupted_checkpoints += any(p.suffix == ".tmp" for p in directory.iterdir()) or len(
                [p for p in directory.glob("checkpoint-*.json")]) > 1
            acks = read_acks(ack_path)
            sessions = child.read_sessions(f"{ack_path}.sessions")
            route_at = {a[1]: i for i, a in enumerate(acts) if a[0] == "route"}

            def rid(j, sessions=sessions, route_at=route_at):
                return f"{child.action_prefix(sessions, route_at[j])}{j + 1}"

            router = BanditRouter.open(directory)
            try:
                k = router.journal_seq
                last = acks[-1] if acks else -1
                assert acks == sorted(set(acks)), "acks out of order or repeated"
                assert last + 1 <= k <= last + 2, f"journal position {k}, last ack {last}"
                assert router.id_prefix not in {p for _, p in sessions}, "a session prefix was reissued"
                mid_stream += 0 < k < len(acts)
                for j in range(ref_pos, k):
                    ref.id_prefix = child.action_prefix(sessions, j)  # the reference: the same ids
                    child.apply(ref, acts[j], rid)
                ref_pos = k
                before = state_bytes(router)
                assert before == state_bytes(ref), f"recovered state differs from the reference at {k}"
                for j in range(k):
                    if acts[j][0] == "feedback":
                        with pytest.raises(DuplicateFeedbackError):
                            child.apply(router, acts[j], rid)
                assert state_bytes(router) == before
            finally:
                router.close(checkpoint=False)
    finally:  # never leave a child behind on a failure
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
    print(f"durable: {kills} SIGKILLs, {mid_stream} recoveries mid-stream, {interrupted_checkpoints} "
          f"inside a checkpoint (leftover files), {len(acts)} actions")
    assert kills >= 20 and mid_stream >= 15, (kills, mid_stream)
    sessions = child.read_sessions(f"{ack_path}.sessions")
    route_at = {a[1]: i for i, a in enumerate(acts) if a[0] == "route"}
    for j in range(ref_pos, len(acts)):
        ref.id_prefix = child.action_prefix(sessions, j)
        child.apply(ref, acts[j], lambda r: f"{child.action_prefix(sessions, route_at[r])}{r + 1}")
    with BanditRouter.open(directory) as final:
        assert final.journal_seq == len(acts)
        assert state_bytes(final) == state_bytes(ref), "final state differs from the uninterrupted run"
    leftovers = sorted(p.name for p in directory.iterdir() if p.name.startswith("checkpoint-"))
    assert len(leftovers) == 2, leftovers  # exactly one checkpoint pair


def test_duplicate_feedback_across_restart_and_replay_check(tmp_path):
    d = tmp_path / "r"
    router = BanditRouter.open(d, priors="none", budget=0.002, seed=1)
    rng = np.random.default_rng(0)
    logs = [router.route(rng.normal(size=25))[1] for _ in range(5)]
    router.process_feedback(logs[0].request_id, 0.7)
    router.checkpoint()
    router.process_feedback(logs[1].request_id, 0.2)
    router.close(checkpoint=False)
    with pytest.raises(StoreError, match="closed"):
        router.route(rng.normal(size=25))
    again = BanditRouter.open(d)
    assert again.id_prefix != router.id_prefix  # a new session: new ids never equal old ones
    assert [log.request_id for log in logs][:2] == [f"{router.id_prefix}1", f"{router.id_prefix}2"]
    for log in logs[:2]:  # one covered by the checkpoint, one replayed from the journal
        with pytest.raises(DuplicateFeedbackError):
            again.process_feedback(log.request_id, 0.7)
    again.process_feedback(logs[2].request_id, 0.9)  # a pending context survived
    again.route(rng.normal(size=25))
    again.close(checkpoint=False)
    # tamper with the journal: a replayed decision that does not match must be refused, not applied
    import sqlite3

    from paretobandit.journal import _row_crc

    con = sqlite3.connect(d / "journal.sqlite")
    row = con.execute("SELECT seq, kind, request_id, ts, payload, x FROM events WHERE kind='route' "
                      "ORDER BY seq LIMIT 1").fetchone()
    payload = json.loads(row[4])
    payload["model"] = "someone-else"
    text = json.dumps(payload)
    con.execute("UPDATE events SET payload=? WHERE seq=?", (text, row[0]))
    con.commit()
    with pytest.raises(StateFileError, match="checksum"):  # a changed row fails its checksum ...
        BanditRouter.open(d)
    crc = _row_crc(row[0], row[1], row[2], row[3], text, row[5])
    con.execute("UPDATE events SET crc=? WHERE seq=?", (crc, row[0]))
    con.commit()
    con.close()
    with pytest.raises(StateFileError, match="does not match"):  # ... and a re-signed one fails the replay
        BanditRouter.open(d)


def test_open_rejects_context_store(tmp_path):
    from paretobandit import EphemeralContextStore

    with pytest.raises(ConfigError, match="context_store"):
        BanditRouter.open(tmp_path / "x", priors="none", context_store=EphemeralContextStore())


class _CountingEncoder:
    """Deterministic toy text encoder (hash of words) that counts its calls."""

    def __init__(self):
        self.calls = 0

    def __call__(self, texts):
        self.calls += 1
        out = np.zeros((len(texts), 6))
        for i, text in enumerate(texts):
            for w in text.split():
                out[i, sum(map(ord, w)) % 6] += 1.0
        return out


def _crash(router):
    """Simulate a crash: drop the router without a checkpoint (the journal is already durable)."""
    router.close(checkpoint=False)


def test_text_prompts_with_ttl_replay_without_reencoding(tmp_path):
    from paretobandit import FeatureService, RouterConfig

    enc = _CountingEncoder()
    fs = FeatureService(custom_encoder=enc, embedding_dim=6, pca_path=False)
    kwargs = {"feature_service": fs, "priors": "none", "budget": 0.001, "seed": 4,
              "config": RouterConfig(context_ttl=3600.0, alpha=0.3)}
    router = BanditRouter.open(tmp_path / "t", **kwargs)
    prompts = [" ".join(["word"] * (1 + 37 * i % 400) + [f"tok{i}"]) for i in range(40)]
    logs = []
    for i, p in enumerate(prompts):
        logs.append(router.route(p, max_cost=0.004 if i % 3 == 0 else None)[1])
        if i >= 2:
            router.process_feedback(logs[i - 2].request_id, (i % 7) / 6, cost=logs[i - 2].cost_usd * 0.9)
        if i == 20:
            router.checkpoint()
    with router.exploit():
        logs.append(router.route("greedy choice please")[1])
    expected = state_bytes(router)
    _crash(router)
    calls = enc.calls
    again = BanditRouter.open(tmp_path / "t", **kwargs)
    assert enc.calls == calls, "replay re-encoded prompts"
    assert state_bytes(again) == expected  # including the pending contexts' TTL timestamps
    again.process_feedback(logs[-1].request_id, 1.0)
    again.close()


def test_failed_journal_write_stops_the_router(tmp_path):
    router = BanditRouter.open(tmp_path / "f", priors="none", seed=0)
    _, log = router.route(np.zeros(25))
    router._journal.conn.close()  # simulate an unwritable journal
    with pytest.raises(StoreError, match="journal write failed"):
        router.process_feedback(log.request_id, 0.5)
    with pytest.raises(StoreError, match="reopen"):
        router.route(np.zeros(25))
    router.close()  # no checkpoint after a failure; releases the directory lock
    again = BanditRouter.open(tmp_path / "f")  # the un-journaled feedback is not there: it was never acked
    again.process_feedback(log.request_id, 0.5)
    again.close()


def test_directory_lock_and_rejected_calls_write_nothing(tmp_path):
    router = BanditRouter.open(tmp_path / "l", priors="none", budget=0.002, seed=0)
    conn = router._journal.conn
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    with pytest.raises(StoreError, match="already open"):
        BanditRouter.open(tmp_path / "l")
    _, log = router.route(np.zeros(25))
    seq = router.journal_seq
    for bad in (lambda: router.route(np.full(25, np.nan)), lambda: router.process_feedback("nope", 0.5),
                lambda: router.process_feedback(log.request_id, float("nan")),
                lambda: router.register_model("m"), lambda: router.remove_model("nope"),
                lambda: router.update_model_pricing("nope", blended=1.0),
                lambda: router.route(np.zeros(25), max_cost=1e-12)):
        with pytest.raises(ParetoBanditError):
            bad()
    assert router.journal_seq == seq
    router.close()
    router.close()  # idempotent
    BanditRouter.open(tmp_path / "l").close()  # the lock was released


def test_threads_on_a_durable_router_replay_exactly(tmp_path):
    import threading

    router = BanditRouter.open(tmp_path / "c", priors="none", budget=0.002, seed=5, alpha=0.2)
    errors = []

    def worker(k):
        rng = np.random.default_rng(k)
        try:
            for i in range(40):
                _, log = router.route(rng.normal(size=25))
                router.process_feedback(log.request_id, float(rng.random()))
                if k == 0 and i == 20:
                    router.checkpoint()
                if k == 1 and i == 10:
                    router.register_model("late", input_cost_per_m=0.3, output_cost_per_m=0.9)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    assert not errors and not any(th.is_alive() for th in threads)
    expected = state_bytes(router)
    _crash(router)
    with BanditRouter.open(tmp_path / "c") as again:
        assert state_bytes(again) == expected
