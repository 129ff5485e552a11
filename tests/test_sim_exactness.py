"""The contract: every run of the batched engine equals the online BanditRouter fed the same stream,
seed and events — decisions identical, rewards, costs, λ trajectory and final A, b within 1e-9.

Each scenario runs ≥ 3,000 steps; together they cover the three pacer modes, no pacer with a static
λ_c, γ = 1, priors on/off, every event type (repricing, reward transforms, cost transform,
onboarding with forced pulls), exact ties (tie-break generator consumed), the ridge floor, the
periodic stability re-inversion, the corrupted-inverse guard, many heterogeneous runs in one batch,
and (hypothesis) random combinations of parameters and events over 400 steps.

Every check runs against both simulator paths: the generic path (``compiled=False``, one router per run
driven through the public API — a separate loop from ``sim.reference.run_router``) and the numba kernel
(``compiled=True``, skipped when numba is not installed).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paretobandit.config import RouterConfig
from paretobandit.sim import CostTransform, Onboard, PriceChange, Priors, RewardTransform, simulate
from paretobandit.sim.engine import numba_available
from paretobandit.sim.synthetic import synthetic_tables

router_mod = pytest.importorskip("paretobandit.router", reason="the online BanditRouter is not available")
from paretobandit.priors import save_priors  # noqa: E402
from paretobandit.sim.reference import run_router  # noqa: E402

T = 3000
N_ROWS = 700
ATOL = 1e-9


BACKENDS = [pytest.param(False, id="generic"),
            pytest.param(True, id="numba",
                         marks=pytest.mark.skipif(not numba_available(), reason="numba is not installed"))]


@pytest.fixture(params=BACKENDS)
def compiled(request):
    """Path under test: False = generic (a router per run), True = numba kernel."""
    return request.param


@pytest.fixture(scope="module")
def router_runs():
    """Router results shared by both backends' tests (the router is the slow side)."""
    return {}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    k3 = synthetic_tables(N_ROWS, 26, 3, seed=0)
    k4 = synthetic_tables(N_ROWS, 26, 4, seed=0)
    zero = synthetic_tables(N_ROWS, 26, 3, seed=2)
    zero.rewards = np.zeros_like(zero.rewards)
    a_off, b_off = k3.priors(seed=1)
    path = save_priors(tmp_path_factory.mktemp("priors") / "p.npz", k3.models, a_off, b_off)
    # An indefinite prior for arm 0 (A[0, 0] < 0 after rescaling): the first updates of arm 0 hit the
    # corrupted-inverse guard (den < 1 → add ridge, re-invert).
    a_bad = a_off.copy()
    d = a_bad.shape[-1]
    a_bad[0, 0, :] = 0.0
    a_bad[0, :, 0] = 0.0
    a_bad[0, 0, 0] = -1.5 * a_bad[0, d - 1, d - 1] / 1163.9
    path_bad = save_priors(tmp_path_factory.mktemp("priors_bad") / "p.npz", k3.models, a_bad, b_off)
    stream = np.random.default_rng(5).integers(0, N_ROWS, T)
    return {"k3": k3, "k4": k4, "zero": zero, "a_off": a_off, "b_off": b_off, "path": path, "stream": stream,
            "a_bad": a_bad, "path_bad": path_bad}


BASE = dict(alpha=0.01, gamma=0.997, cost_penalty=0.0, budget=3e-4, pacer_mode="adaptive", priors=True)
DROP = 0.10 / 5.625

SCENARIOS = {
    "adaptive": {},
    "soft": dict(pacer_mode="soft"),
    "hard": dict(pacer_mode="hard", budget=1e-3),
    "loose_adaptive": dict(budget=5e-3),
    "no_pacer_static_lc": dict(budget=None, cost_penalty=0.3, priors=False, alpha=0.05),
    "gamma_one_cold": dict(gamma=1.0, priors=False, alpha=0.05),
    "fast_forgetting": dict(gamma=0.99, alpha=0.1),
    "price_drift": dict(events=[PriceChange(1000, 2, 0.10, 0.10), CostTransform(2, 1000, 2000, DROP),
                                PriceChange(2000, 2, 1.25, 10.0)]),
    "reward_constant": dict(events=[RewardTransform.constant(1, 1000, 2000, 0.75)]),
    "reward_scale_shift": dict(events=[RewardTransform.scaled(1, 500, 2500, 0.5),
                                       RewardTransform.shifted(0, 100, 2900, -0.3)]),
    "cost_scale_soft": dict(pacer_mode="soft", events=[CostTransform(0, 0, 3000, 10.0)]),
    "onboard_k4": dict(table="k4", priors=False, events=[Onboard(1500, 3, 20)]),
    "onboard_k4_priors_expensive": dict(table="k4", budget=1e-3, events=[
        Onboard(1200, 3, 20, input_cost_per_m=3.0, output_cost_per_m=25.0),
        CostTransform(3, 1200, 3000, 10.0)]),
    "ties_every_step": dict(table="zero", alpha=0.0, budget=None, priors=False),
    "ties_under_ceiling": dict(table="zero", alpha=0.0, pacer_mode="hard", budget=1e-3, priors=False),
    "stability_reinversion": dict(config=dict(stability_interval=50, stability_trace=0.5), priors=False),
    "corrupted_prior_inverse": dict(priors="bad", budget=None, alpha=0.05),
    # Arm 2 is priced out, then becomes free while the others' rewards drop to 0: its first update
    # comes ~800 steps late, so one decay factor is 0.9^800 < 1e-32 (the compiled step's deferred
    # factors leave their range and are applied eagerly) and the ridge floor fires at once.
    "long_unplayed_arm": dict(gamma=0.9, alpha=0.0, cost_penalty=0.3, budget=None, priors=False,
                              events=[PriceChange(0, 2, 200.0, 400.0), PriceChange(800, 2, 0.0, 0.0),
                                      RewardTransform.constant(0, 800, 3000, 0.0),
                                      RewardTransform.constant(1, 800, 3000, 0.0)]),
}

#: Repair paths each scenario must exercise (checked on the engine's counters).
MUST_REPAIR = {"adaptive": "ridge_floor", "fast_forgetting": "ridge_floor",
               "stability_reinversion": "stability", "corrupted_prior_inverse": "corrupted_inverse"}


def _spec(name):
    spec = {**BASE, "table": "k3", "events": [], "config": {}, **SCENARIOS[name]}
    return spec


def _priors_for(world, table, which=True):
    a, b = (world["a_bad"] if which == "bad" else world["a_off"]), world["b_off"]
    if table == "k4":   # the 4th arm has no prior: it starts cold when onboarded
        a = np.concatenate([a, np.eye(a.shape[-1])[None]])
        b = np.concatenate([b, np.zeros((1, b.shape[-1]))])
        return Priors(a, b, mask=np.array([True, True, True, False]))
    return Priors(a, b)


def _router(world, spec, seed, run_index=0, n_runs=1, events=None):
    tb = world[spec["table"]]
    return run_router(tb.features, tb.rewards, tb.costs, world["stream"], tb.prices, tb.models, seed=seed,
                      alpha=spec["alpha"], gamma=spec["gamma"], cost_penalty=spec["cost_penalty"],
                      budget=spec["budget"], pacer_mode=spec["pacer_mode"],
                      priors_path=(world["path_bad"] if spec["priors"] == "bad" else world["path"])
                      if spec["priors"] else None,
                      events=spec["events"] if events is None else events,
                      config=RouterConfig(**spec["config"]), run_index=run_index, n_runs=n_runs)


def _assert_equal_run(res, i, ref, k):
    arm = res.arm[i]
    mism = np.flatnonzero(arm != ref["arm"])
    assert mism.size == 0, f"first differing decision at step {mism[0]}"
    np.testing.assert_allclose(res.reward[i], ref["reward"], rtol=0, atol=ATOL)
    np.testing.assert_allclose(res.cost[i], ref["cost"], rtol=0, atol=ATOL)
    np.testing.assert_allclose(res.lam[i], ref["lam"], rtol=0, atol=ATOL)
    assert len(ref["models"]) == int(res.final["active"][i].sum())
    for j, m in enumerate(ref["models"]):
        np.testing.assert_allclose(res.final["A"][i, j], ref["A"][m], rtol=0, atol=ATOL)
        np.testing.assert_allclose(res.final["b"][i, j], ref["b"][m], rtol=0, atol=ATOL)
    np.testing.assert_allclose(res.final["lam"][i], ref["final_lam"], rtol=0, atol=ATOL)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_single_run_equals_router(world, router_runs, name, compiled):
    spec = _spec(name)
    tb = world[spec["table"]]
    seed = 11
    if name not in router_runs:
        router_runs[name] = _router(world, spec, seed)
    ref = router_runs[name]
    res = simulate(tb.features, tb.rewards, tb.costs, world["stream"], tb.prices, seeds=[seed],
                   alpha=spec["alpha"], gamma=spec["gamma"], cost_penalty=spec["cost_penalty"],
                   budget=spec["budget"], pacer_mode=spec["pacer_mode"],
                   priors=_priors_for(world, spec["table"], spec["priors"]) if spec["priors"] else None,
                   events=spec["events"], config=RouterConfig(**spec["config"]), compiled=compiled)
    assert res.arm.shape == (1, T)
    _assert_equal_run(res, 0, ref, tb.rewards.shape[1])
    if name in MUST_REPAIR:
        assert res.final["repairs"][MUST_REPAIR[name]] > 0
    if name == "long_unplayed_arm":
        assert np.flatnonzero(res.arm[0] == 2)[0] >= 700
    if name.startswith("ties"):
        # the tie-break generator really was exercised
        assert len(np.unique(res.arm[0])) > 1


def test_heterogeneous_batch_equals_router_per_run(world, router_runs, compiled):
    """One batch, per-run α, γ, λ_c, budget, mode, priors on/off, seeds and per-run events."""
    names = [n for n in sorted(SCENARIOS)
             if _spec(n)["table"] == "k3" and not _spec(n)["config"] and _spec(n)["priors"] != "bad"]
    specs = [_spec(n) for n in names]
    n_runs = len(specs)
    events = []
    for i, s in enumerate(specs):
        for ev in s["events"]:
            events.append(type(ev)(**{**ev.__dict__, "runs": [i]}))
    seeds = [100 + i for i in range(n_runs)]
    tb = world["k3"]
    res = simulate(tb.features, tb.rewards, tb.costs, np.tile(world["stream"], (n_runs, 1)), tb.prices,
                   seeds=seeds, alpha=[s["alpha"] for s in specs], gamma=[s["gamma"] for s in specs],
                   cost_penalty=[s["cost_penalty"] for s in specs], budget=[s["budget"] for s in specs],
                   pacer_mode=[s["pacer_mode"] for s in specs], priors=_priors_for(world, "k3"),
                   n_eff=[1163.9 if s["priors"] else None for s in specs], events=events,
                   compiled=compiled)
    for i, s in enumerate(specs):
        key = ("heterogeneous", i)
        if key not in router_runs:
            router_runs[key] = _router(world, s, seeds[i], run_index=i, n_runs=n_runs, events=events)
        _assert_equal_run(res, i, router_runs[key], 3)


# ----------------------------------------------------------------------------------- property-based


@st.composite
def _random_run(draw):
    n_steps = 400
    mode = draw(st.sampled_from(["adaptive", "soft", "hard", None]))
    spec = dict(alpha=draw(st.sampled_from([0.0, 0.01, 0.1, 0.5])),
                gamma=draw(st.sampled_from([0.95, 0.99, 0.997, 1.0])),
                cost_penalty=draw(st.sampled_from([0.0, 0.3])),
                budget=None if mode is None else draw(st.sampled_from([3e-5, 3e-4, 3e-3])),
                pacer_mode=mode or "adaptive", priors=draw(st.booleans()), config={},
                table=draw(st.sampled_from(["k3", "k4", "zero"])))
    k = 4 if spec["table"] == "k4" else 3
    events = []
    if spec["table"] == "k4":
        events.append(Onboard(draw(st.integers(0, 300)), 3, draw(st.integers(0, 30))))
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["price", "reward", "cost"]))
        arm = draw(st.integers(0, 2))
        start = draw(st.integers(0, n_steps - 2))
        stop = draw(st.integers(start + 1, n_steps))
        if kind == "price":
            events.append(PriceChange(start, arm, draw(st.sampled_from([0.01, 0.5, 20.0])),
                                      draw(st.sampled_from([0.01, 2.0, 40.0]))))
        elif kind == "reward" and not any(isinstance(e, RewardTransform) and e.arm == arm for e in events):
            events.append(RewardTransform(arm, start, stop, draw(st.sampled_from([0.0, 0.5, 1.0])),
                                          draw(st.sampled_from([-0.2, 0.0, 0.3]))))
        elif kind == "cost" and not any(isinstance(e, CostTransform) and e.arm == arm for e in events):
            events.append(CostTransform(arm, start, stop, draw(st.sampled_from([0.1, 10.0]))))
    spec["events"] = events
    return spec, k, draw(st.integers(0, 2**31 - 1))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=_random_run())
def test_random_configurations_equal_router(world, case):
    spec, k, seed = case
    tb = world[spec["table"]]
    stream = world["stream"][:400]
    local = dict(world, stream=stream)
    ref = _router(local, spec, seed)
    for compiled in [False] + ([True] if numba_available() else []):    # both backends, one router run
        res = simulate(tb.features, tb.rewards, tb.costs, stream, tb.prices, seeds=[seed],
                       alpha=spec["alpha"], gamma=spec["gamma"], cost_penalty=spec["cost_penalty"],
                       budget=spec["budget"], pacer_mode=spec["pacer_mode"],
                       priors=_priors_for(world, spec["table"]) if spec["priors"] else None,
                       events=spec["events"], compiled=compiled)
        _assert_equal_run(res, 0, ref, k)
