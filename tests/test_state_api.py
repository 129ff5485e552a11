"""The public state API: a committed v2 snapshot still loads, every router counter survives
``state_dict``/``from_state``, and persistence/durable never reach into other objects' privates."""

from __future__ import annotations

import ast
import copy
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from paretobandit import BanditRouter, FeatureService, kernels
from paretobandit.errors import ConfigError, InvalidInputError, StateFileError

FIXTURE = Path(__file__).parent / "data" / "state_v2"
PACKAGE = Path(__file__).resolve().parents[1] / "paretobandit"


def _build_fixture_router():
    """The router saved in ``tests/data/state_v2`` (same calls, same seed; written by the v2 code)."""
    r = BanditRouter.create(feature_service=FeatureService.for_precomputed(3), priors="none", budget=0.002,
                            seed=7)
    r.register_model("extra", blended=0.5, speed="fast")
    rng = np.random.default_rng(3)
    logs = [r.route(rng.normal(size=3))[1] for _ in range(12)]
    for log in logs[:8]:
        r.process_feedback(log.request_id, reward=float(rng.uniform(-0.1, 1.0)))
    r.update_model_pricing("extra", 0.2, 0.8)
    return r, logs


def _same_state(a: dict, b: dict, skip=("context_store",)) -> None:
    assert set(a["arrays"]) == set(b["arrays"])
    for k in a["arrays"]:
        x, y = np.asarray(a["arrays"][k]), np.asarray(b["arrays"][k])
        if x.dtype.kind == "f":  # BLAS rank-one updates: the last bit may differ between CPUs
            np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-14, err_msg=k)
        else:
            np.testing.assert_array_equal(x, y, err_msg=k)
    ma = {k: v for k, v in a["meta"].items() if k not in skip}
    mb = {k: v for k, v in b["meta"].items() if k not in skip}
    assert json.dumps(ma, sort_keys=True) == json.dumps(mb, sort_keys=True)


def test_committed_v2_snapshot_loads_and_matches_a_rebuilt_router(tmp_path):
    shutil.copytree(FIXTURE, tmp_path / "s")
    loaded = BanditRouter.load(tmp_path / "s" / "router.json",
                               feature_service=FeatureService.for_precomputed(3))
    rebuilt, logs = _build_fixture_router()
    _same_state(loaded.state_dict(), rebuilt.state_dict())
    # the pending contexts came back: the same ids, the same stored vectors (ids carry a random prefix)
    pend_l = loaded.state_dict()["meta"]["context_store"]["pending"]
    assert [i.rsplit("-", 1)[1] for i in pend_l["ids"]] == [log.request_id.rsplit("-", 1)[1]
                                                          for log in logs[8:]]
    assert loaded.counters() == rebuilt.counters() and loaded.counters()["n_feedback"] == 8
    # and both continue identically
    rng1, rng2 = np.random.default_rng(5), np.random.default_rng(5)
    assert [loaded.route(rng1.normal(size=3))[0] for _ in range(20)] == \
        [rebuilt.route(rng2.normal(size=3))[0] for _ in range(20)]


def test_counters_round_trip_through_state_dict():
    router, _ = _build_fixture_router()
    state = router.state_dict()
    again = BanditRouter.from_state(copy.deepcopy(state))
    assert again.counters() == router.counters()
    _same_state(again.state_dict(), state, skip=())
    c = router.counters()
    assert c["next_request"] == 13 and c["t"] == 12 and sum(c["pulls"].values()) == 12
    assert set(c["arm_uid"]) == set(router.models) and c["next_uid"] == 4


@pytest.mark.parametrize("change, match", [
    (lambda m: m.update(warned_clamp="yes"), "warned_clamp"),
    (lambda m: m["counters"].update(next_uid=2), "arm ids"),
    (lambda m: m["counters"].update(n_feedback=99), "do not add up"),
    (lambda m: m["counters"]["pulls"].pop("extra"), "pulls"),
])
def test_from_state_validates_the_router_section(change, match):
    router, _ = _build_fixture_router()
    state = copy.deepcopy(router.state_dict())
    change(state["meta"])
    with pytest.raises(StateFileError, match=match):
        BanditRouter.from_state(state)


def test_id_prefix_is_settable_and_validated():
    router = BanditRouter.create(priors="none", seed=0)
    router.id_prefix = "req-"
    assert router.route(np.ones(25))[1].request_id == "req-1"
    for bad in ("", 3, "a b", "x" * 200):
        with pytest.raises(ConfigError):
            router.id_prefix = bad
    assert router.id_prefix == "req-"


def _foreign_private_accesses(path: Path) -> list[str]:
    """``obj._name`` in ``path`` where ``obj`` is not ``self``/``cls`` (dunders and ``super()`` aside)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.Attribute) or not node.attr.startswith("_") or node.attr.startswith("__"):
            continue
        base = node.value
        if isinstance(base, ast.Name) and base.id in ("self", "cls"):
            continue
        if isinstance(base, ast.Call) and isinstance(base.func, ast.Name) and base.func.id == "super":
            continue
        found.append(f"{path.name}:{node.lineno}: {ast.unparse(node)}")
    return found


@pytest.mark.parametrize("name", ["persistence.py", "durable.py", "journal.py"])
def test_no_access_to_other_objects_privates(name):
    assert _foreign_private_accesses(PACKAGE / name) == []


def test_the_private_access_check_catches_one(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f(router, self):\n    self._ok = router._pulls\n    os._exit(0)\n")
    assert _foreign_private_accesses(bad) == ["bad.py:2: router._pulls", "bad.py:3: os._exit"]


def test_route_takes_an_extracted_context_without_the_feature_service():
    from paretobandit.replay import ReplayContext

    calls = []

    def enc(prompts):
        calls.append(list(prompts))
        return np.array([[len(p), 1.0] for p in prompts], dtype=float)

    a, b = (BanditRouter.create(feature_service=FeatureService(custom_encoder=enc, embedding_dim=2,
                                                               pca_path=False), priors="none", seed=3)
            for _ in range(2))
    x = a.feature_service.extract("hello world")
    n_in = kernels.estimate_input_tokens("hello world")
    calls.clear()
    for _ in range(5):
        ma, la = a.route("hello world")
        mb, lb = b.route(ReplayContext(x, n_in=n_in))
        assert (ma, la.scores, la.cost_usd) == (mb, lb.scores, lb.cost_usd)
        a.process_feedback(la.request_id, 0.3)
        b.process_feedback(lb.request_id, 0.3)
    assert len(calls) == 5  # only router a asked its feature service
    for bad in ([np.nan, 1.0, 1.0], [[1.0]], "abc"):
        with pytest.raises(InvalidInputError):
            ReplayContext(bad)
    with pytest.raises(InvalidInputError):
        ReplayContext(x, n_in=-1)


def test_exploiting_is_per_thread():
    import threading

    router = BanditRouter.create(priors="none", seed=0)
    seen = []
    with router.exploit():
        worker = threading.Thread(target=lambda: seen.append(router.exploiting))
        worker.start()
        worker.join()
        assert router.exploiting
    assert not router.exploiting and seen == [False]


def test_a_durable_router_binds_one_journal_only(tmp_path):
    from paretobandit.durable import _Journal

    with BanditRouter.open(tmp_path / "d", priors="none", seed=0) as router:
        other = _Journal(tmp_path / "elsewhere.sqlite")  # its own directory lock: tmp_path/LOCK
        try:
            with pytest.raises(ConfigError, match="already bound"):
                router.bind_journal(other, tmp_path)
        finally:
            other.close()
        router.route(np.ones(25))
