"""Stateful fuzzing of the public router API with hypothesis.

A :class:`RuleBasedStateMachine` mixes valid and invalid calls — route (good, NaN, huge, wrong-length
vectors; ``max_cost``; greedy ``exploit()``), feedback (pending, duplicate and unknown ids; good, clamped,
NaN and non-numeric rewards; good and bad costs), register/remove/reprice (new, existing, unknown names;
good and bad prices), and a save/load round trip that continues on the loaded router. After every step:

* ``A⁻¹`` matches ``A`` (``A⁻¹A ≈ I``) and ``θ`` matches ``A⁻¹b`` for every arm;
* every array and the pacer state are finite; λ is in ``[0, cap]``;
* the registry, the policy arrays and the pull counters agree on the set (and order) of models;
* a call that raised changed nothing (full state compared), and the error is a ``ParetoBanditError``;
* a feedback already applied is never applied again (``DuplicateFeedbackError``, pacer count unchanged).

Small dimension (d = 5) and γ = 0.9 so that forgetting, the ridge floor and re-inversions happen within a
few dozen steps.

A second machine runs a durable router (``BanditRouter.open``) next to an in-memory shadow fed the same
calls, with random checkpoints and crash/reopen (journal replay) steps: outcomes and full state must match.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, invariant, rule

from paretobandit import BanditRouter, FeatureService
from paretobandit.errors import DuplicateFeedbackError, ParetoBanditError, UnknownModelError

pytestmark = [pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning"),  # huge vectors
              pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")]  # NaN vectors

DIM = 4
NAMES = ["a", "b", "c", "d", "e"]
finite = st.floats(-3, 3, allow_nan=False, allow_infinity=False)
good_vec = st.lists(finite, min_size=DIM, max_size=DIM).map(np.array)
bad_vec = st.one_of(
    st.just(np.full(DIM, np.nan)), st.just(np.r_[np.ones(DIM - 1), np.inf]), st.just(np.full(DIM, 1e200)),
    st.just(np.ones(DIM + 1)), st.just(np.ones((2, DIM))), st.just(None), st.just("prompt"),
    st.just(np.array(["x"] * DIM, dtype=object)),
)
reward = st.one_of(st.floats(-0.5, 1.5, allow_nan=False),
                   st.sampled_from([np.nan, np.inf, "0.5", None, True]))
cost = st.one_of(st.none(), st.floats(0, 0.01), st.sampled_from([-1.0, np.nan, np.inf, "x"]))
price = st.one_of(st.floats(0, 20, allow_nan=False), st.sampled_from([-1.0, np.nan, np.inf, "1", None]))
max_cost = st.one_of(st.none(), st.floats(1e-7, 0.02), st.sampled_from([0.0, -1.0, np.nan, np.inf]))


def snapshot(router):
    state = router.state_dict()
    arrays = {k: (v.dtype.str, v.shape, v.tobytes()) for k, v in state["arrays"].items()}
    return json.dumps(state["meta"], sort_keys=True), arrays


class RouterMachine(RuleBasedStateMachine):
    pending = Bundle("pending")
    applied = Bundle("applied")

    def __init__(self):
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="pb-fuzz-"))
        self.router = BanditRouter.create(
            model_registry={"a": {"input_cost_per_m": 0.1, "output_cost_per_m": 0.2},
                            "b": {"input_cost_per_m": 1.0, "output_cost_per_m": 3.0},
                            "c": {"blended": 8.0}},
            feature_service=FeatureService.for_precomputed(DIM), priors="none", alpha=0.2,
            forgetting_factor=0.9, cost_penalty=0.1, budget=0.0008, seed=0)
        self.applied_ids: set[str] = set()

    def _call(self, fn, *args, **kwargs):
        """Run ``fn``; on error check it is typed and that nothing changed. Returns (ok, result)."""
        before = snapshot(self.router)
        try:
            return True, fn(*args, **kwargs)
        except ParetoBanditError:
            assert snapshot(self.router) == before, f"state changed by a rejected {fn.__name__}"
            return False, None

    # ------------------------------------------------------------------ routing
    @rule(target=pending, v=good_vec, cap=max_cost, greedy=st.booleans())
    def route(self, v, cap, greedy):
        if greedy:
            with self.router.exploit():
                ok, out = self._call(self.router.route, v, max_cost=cap)
        else:
            ok, out = self._call(self.router.route, v, max_cost=cap)
        if cap is None or (isinstance(cap, float) and np.isfinite(cap) and cap >= 0.02):
            assert ok, "a valid route was rejected"
        return out[1].request_id if ok else "never-routed"

    @rule(v=bad_vec)
    def route_bad(self, v):
        ok, _ = self._call(self.router.route, v)
        assert not ok

    @rule(target=pending, v=good_vec)
    def forced_pull(self, v):
        name = self.router.models[-1]
        ok, out = self._call(self.router.route, v, force_model=name)
        assert ok and out[0] == name
        return out[1].request_id

    # ------------------------------------------------------------------ feedback
    @rule(target=applied, rid=consumes(pending), r=reward, c=cost)
    def feedback(self, rid, r, c):
        n_before = self.router.pacer.n_updates
        ok, _ = self._call(self.router.process_feedback, rid, r, cost=c)
        if ok:
            assert rid not in self.applied_ids, f"feedback for {rid} applied twice"
            self.applied_ids.add(rid)
            assert self.router.pacer.n_updates == n_before + 1
        return rid if ok else "never-applied"

    @rule(rid=applied, r=st.floats(0, 1))
    def duplicate_feedback(self, rid, r):
        if rid not in self.applied_ids:
            return
        before = snapshot(self.router)
        try:
            self.router.process_feedback(rid, r)
        except DuplicateFeedbackError:
            pass
        else:
            raise AssertionError(f"duplicate feedback for {rid} was applied")
        assert snapshot(self.router) == before

    @rule(rid=st.text(max_size=8), r=st.floats(0, 1))
    def unknown_feedback(self, rid, r):
        ok, _ = self._call(self.router.process_feedback, rid, r)
        assert not ok

    # ------------------------------------------------------------------ registry
    @rule(name=st.sampled_from(NAMES), inp=price, out=price)
    def register(self, name, inp, out):
        existed = name in self.router.models
        ok, _ = self._call(self.router.register_model, name, input_cost_per_m=inp, output_cost_per_m=out)
        if ok:
            assert not existed and self.router.models[-1] == name
            st_ = self.router.arm_state(name)
            np.testing.assert_array_equal(st_["A"], np.eye(DIM + 1))
            assert st_["last_update"] == st_["last_played"] == self.router.t

    @rule(name=st.sampled_from(NAMES))
    def remove(self, name):
        before = list(self.router.models)
        ok, _ = self._call(self.router.remove_model, name)
        assert ok == (name in before and len(before) > 1)
        if ok:
            assert self.router.models == [m for m in before if m != name]

    @rule(name=st.sampled_from(NAMES), blended=price)
    def reprice(self, name, blended):
        ok, _ = self._call(self.router.update_model_pricing, name, blended=blended)
        if ok:
            assert self.router.registry.get(name).input_cost_per_m == float(blended)

    @rule(rid=pending)
    def feedback_after_removal_is_rejected_or_applied_once(self, rid):
        try:
            self.router.process_feedback(rid, 0.5)
        except UnknownModelError:
            return
        except ParetoBanditError:
            return
        assert rid not in self.applied_ids
        self.applied_ids.add(rid)

    # ------------------------------------------------------------------ persistence
    @rule()
    def save_load(self):
        before = snapshot(self.router)
        path = self.router.save(self.tmp / "state")
        loaded = BanditRouter.load(path)
        assert snapshot(loaded) == before
        self.router = loaded

    # ------------------------------------------------------------------ invariants
    @invariant()
    def linear_algebra_consistent(self):
        arrays = self.router.state_dict()["arrays"]
        eye = np.eye(DIM + 1)
        for name in ("A", "A_inv", "b", "theta", "rho"):
            assert np.isfinite(arrays[name]).all(), name
        for k in range(arrays["A"].shape[0]):
            a, ainv = arrays["A"][k], arrays["A_inv"][k]
            scale = max(1.0, float(np.abs(a).max()) * float(np.abs(ainv).max()))
            assert np.abs(ainv @ a - eye).max() < 1e-8 * scale, f"A_inv does not match A for arm {k}"
            np.testing.assert_allclose(arrays["theta"][k], np.linalg.solve(a, arrays["b"][k]), rtol=1e-6,
                                       atol=1e-8)

    @invariant()
    def pacer_in_range(self):
        p = self.router.pacer
        assert 0.0 <= p.lambda_ <= p.lambda_cap
        assert np.isfinite(p.cost_ema) and p.cost_ema >= 0

    @invariant()
    def registry_and_bandit_agree(self):
        state = self.router.state_dict()
        models = self.router.models
        assert models == list(state["meta"]["registry"]) == state["meta"]["models"]
        assert state["arrays"]["A"].shape[0] == len(models) == len(state["arrays"]["b"])
        assert set(state["meta"]["counters"]["pulls"]) == set(models)
        assert self.router.t == int(state["arrays"]["t"])

    def teardown(self):
        for p in self.tmp.glob("*"):
            p.unlink()
        self.tmp.rmdir()


# no shrinking phase: it can take minutes on this state machine; the failing step list is printed anyway
RouterMachine.TestCase.settings = settings(max_examples=100, stateful_step_count=50, deadline=None,
                                           phases=[Phase.explicit, Phase.reuse, Phase.generate],
                                           suppress_health_check=[HealthCheck.too_slow])
TestRouterFuzz = RouterMachine.TestCase


class DurableMachine(RuleBasedStateMachine):
    """Durable router vs an in-memory shadow fed the same calls, with checkpoints and crash/reopen.

    Invariant: after every step (including a crash — the router dropped without a checkpoint — and a
    reopen that replays the journal) the durable router's full state equals the shadow's, and every call
    had the same outcome (same model and request id, or the same error type) on both.
    """

    pending = Bundle("d_pending")

    def __init__(self):
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="pb-dfuzz-"))
        kwargs = {"model_registry": {"a": {"input_cost_per_m": 0.1, "output_cost_per_m": 0.2},
                                     "b": {"input_cost_per_m": 1.0, "output_cost_per_m": 3.0}},
                  "priors": "none", "alpha": 0.2, "forgetting_factor": 0.9, "budget": 0.0008, "seed": 1}
        self.router = BanditRouter.open(self.tmp / "d", feature_service=FeatureService.for_precomputed(DIM),
                                        **kwargs)
        self.shadow = BanditRouter.create(feature_service=FeatureService.for_precomputed(DIM), **kwargs)
        self.shadow.id_prefix = self.router.id_prefix

    def _both(self, name, *args, **kwargs):
        out = []
        for r in (self.router, self.shadow):
            try:
                res = getattr(r, name)(*args, **kwargs)
                out.append(("ok", (res[0], res[1].request_id) if name == "route" else None))
            except ParetoBanditError as exc:
                out.append(("error", type(exc).__name__))
        assert out[0] == out[1], f"{name}: durable {out[0]} vs in-memory {out[1]}"
        return out[0]

    @rule(target=pending, v=st.one_of(good_vec, bad_vec), cap=max_cost)
    def route(self, v, cap):
        status, res = self._both("route", v, max_cost=cap)
        return res[1] if status == "ok" else "never-routed"

    @rule(rid=st.one_of(pending, st.just("unknown")), r=reward, c=cost)
    def feedback(self, rid, r, c):
        self._both("process_feedback", rid, r, cost=c)

    @rule(name=st.sampled_from(NAMES[:4]), blended=price)
    def register(self, name, blended):
        self._both("register_model", name, blended=blended, tier="x")

    @rule(name=st.sampled_from(NAMES[:4]), blended=price)
    def reprice(self, name, blended):
        self._both("update_model_pricing", name, blended=blended)

    @rule(name=st.sampled_from(NAMES[:4]))
    def remove(self, name):
        self._both("remove_model", name)

    @rule()
    def checkpoint(self):
        self.router.checkpoint()

    @rule()
    def crash_and_reopen(self):
        self.router.close(checkpoint=False)
        self.router = BanditRouter.open(self.tmp / "d", feature_service=FeatureService.for_precomputed(DIM))
        self.shadow.id_prefix = self.router.id_prefix  # every open starts a session with new request ids

    @invariant()
    def same_state_as_shadow(self):
        assert snapshot(self.router) == snapshot(self.shadow)

    def teardown(self):
        self.router.close(checkpoint=False)
        for p in sorted(self.tmp.rglob("*"), reverse=True):
            p.rmdir() if p.is_dir() else p.unlink()
        self.tmp.rmdir()


DurableMachine.TestCase.settings = settings(max_examples=40, stateful_step_count=30, deadline=None,
                                            phases=[Phase.explicit, Phase.reuse, Phase.generate],
                                            suppress_health_check=[HealthCheck.too_slow])
TestDurableFuzz = DurableMachine.TestCase
