"""Persistence: atomic pickle-free save, validated load, identical continuation after load."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
from _helpers_state import resign

from paretobandit import BanditRouter, FeatureService, SqliteContextStore
from paretobandit.errors import DuplicateFeedbackError, StateFileError
from paretobandit.persistence import snapshot_files


def _drive(router, rng, n, pending=None, feedback=True):
    """Route n requests; give feedback with a lag of 3; return the trace."""
    trace = []
    pending = pending if pending is not None else []
    for _ in range(n):
        v = rng.normal(size=25)
        model, log = router.route(v)
        trace.append((model, log.t, tuple(log.scores.values()), log.pacer_lambda))
        pending.append(log)
        if feedback and len(pending) > 3:
            old = pending.pop(0)
            r = float(rng.random())
            router.process_feedback(old.request_id, r, cost=old.cost_usd * 1.1)
    return trace, pending


def test_round_trip_continues_identically(tmp_path):
    router = BanditRouter.create(priors="none", budget=0.002, seed=42, alpha=0.2, cost_penalty=0.0)
    rng = np.random.default_rng(0)
    _, pending = _drive(router, rng, 300)
    router.register_model("extra", input_cost_per_m=0.2, output_cost_per_m=0.6, speed="fast")
    _, pending = _drive(router, rng, 50, pending)
    path = router.save(tmp_path / "state")
    assert path.suffix == ".json" and snapshot_files(path)[1].is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "temp files left behind"
    loaded = BanditRouter.load(path)
    assert json.dumps(loaded.state_dict()["meta"]["registry"]) == json.dumps(
        router.state_dict()["meta"]["registry"]
    )
    pending2 = [type(p)(**{f: getattr(p, f) for f in p.__slots__}) for p in pending]
    t1, _ = _drive(router, np.random.default_rng(9), 1000, pending)
    t2, _ = _drive(loaded, np.random.default_rng(9), 1000, pending2)
    assert t1 == t2
    s1, s2 = router.state_dict(), loaded.state_dict()
    for k in ("A", "A_inv", "b", "theta", "rho", "last_update", "last_played", "n_updates", "t"):
        np.testing.assert_array_equal(s1["arrays"][k], s2["arrays"][k])
    assert s1["meta"]["pacer"] == s2["meta"]["pacer"] and s1["meta"]["rng"] == s2["meta"]["rng"]


def test_saved_content_is_complete_and_pickle_free(tmp_path):
    router = BanditRouter.create(priors="none", budget=0.003, seed=1)
    _, log = router.route(np.ones(25))
    path = router.save(tmp_path / "s.json")
    meta = json.loads(path.read_text())
    for key in (
        "format",
        "version",
        "dimension",
        "registry",
        "config",
        "pacer",
        "counters",
        "rng",
        "feature_service",
        "context_store",
    ):
        assert key in meta
    assert meta["registry"]["google/gemini-2.5-pro"]["output_cost_per_m"] == 10.0
    assert meta["context_store"]["pending"]["ids"] == [log.request_id]
    npz = snapshot_files(path)[1]
    with zipfile.ZipFile(npz) as z:
        for name in z.namelist():
            assert z.read(name)[:6] == b"\x93NUMPY"
    with np.load(npz, allow_pickle=False) as z:
        assert z["pending_x"].shape == (1, 26)
    loaded = BanditRouter.load(path)
    loaded.process_feedback(log.request_id, 0.7)
    with pytest.raises(DuplicateFeedbackError):
        loaded.process_feedback(log.request_id, 0.7)


def test_applied_ids_survive_reload(tmp_path):
    router = BanditRouter.create(priors="none", seed=1)
    _, log = router.route(np.ones(25))
    router.process_feedback(log.request_id, 0.5)
    loaded = BanditRouter.load(router.save(tmp_path / "s"))
    with pytest.raises(DuplicateFeedbackError):
        loaded.process_feedback(log.request_id, 0.5)


def test_sqlite_store_reopened(tmp_path):
    store = SqliteContextStore(tmp_path / "ctx.db")
    router = BanditRouter.create(priors="none", seed=1, context_store=store)
    _, log = router.route(np.ones(25))
    path = router.save(tmp_path / "s")
    with pytest.raises(StateFileError, match="pass context_store="):  # a state file never opens a database
        BanditRouter.load(path)
    loaded = BanditRouter.load(path, context_store=SqliteContextStore(store.path))
    loaded.process_feedback(log.request_id, 0.5)


def test_atomic_overwrite(tmp_path):
    router = BanditRouter.create(priors="none", seed=1)
    router.save(tmp_path / "s")
    router.route(np.ones(25))
    router.save(tmp_path / "s")
    assert BanditRouter.load(tmp_path / "s").t == 1
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted(["s.json", snapshot_files(tmp_path / "s")[1].name]), names  # old arrays gone


def _tamper(path, fn):
    meta = json.loads(path.read_text())
    fn(meta)
    path.write_text(json.dumps(resign(meta)))


@pytest.fixture
def saved(tmp_path):
    router = BanditRouter.create(priors="none", seed=1)
    router.route(np.ones(25))
    return router.save(tmp_path / "s")


def test_truncated_json(saved):
    saved.write_text(saved.read_text()[:100])
    with pytest.raises(StateFileError, match="JSON"):
        BanditRouter.load(saved)


def test_truncated_npz(saved):
    npz = snapshot_files(saved)[1]
    npz.write_bytes(npz.read_bytes()[:-200])
    with pytest.raises(StateFileError):
        BanditRouter.load(saved)


@pytest.mark.parametrize(
    "change,match",
    [
        (lambda m: m.update(format="something-else"), "not a ParetoBandit"),
        (lambda m: m.update(version=99), "version"),
        (lambda m: m.update(dimension=10), "shape|more than"),
        (lambda m: m.update(models=m["models"][:2]), "shape|more than"),
        (lambda m: m["registry"].pop("google/gemini-2.5-pro"), "registry"),
        (lambda m: m["config"].update(alpha=-1), "alpha"),
        (lambda m: m.update(rng={"bit_generator": "nope"}), "rng"),
        (lambda m: m["pacer"] is None and m.update(pacer={"budget": -1}), "pacer"),
    ],
)
def test_tampered_json(saved, change, match):
    _tamper(saved, change)
    with pytest.raises(StateFileError, match=match):
        BanditRouter.load(saved)


def test_non_finite_arrays_rejected(tmp_path):
    router = BanditRouter.create(priors="none", seed=1)
    router._policy._c[0, 0] = np.nan
    with pytest.raises(StateFileError, match="NaN"):
        BanditRouter.load(router.save(tmp_path / "s"))


def test_other_dimension_feature_service(saved):
    with pytest.raises(StateFileError, match="dimension"):
        BanditRouter.load(saved, feature_service=FeatureService.for_precomputed(10))
