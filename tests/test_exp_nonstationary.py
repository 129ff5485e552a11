"""Exp 02/03 protocol: phases, streams, events, λ_c fit, conditions and metrics on small synthetic tables."""

from __future__ import annotations

import numpy as np
import pytest
from _helpers import synthetic_split, table_kwargs

from paretobandit.config import RouterConfig
from paretobandit.errors import ConfigError
from paretobandit.experiments.budget_drift import drift_shift, run_budget_drift
from paretobandit.experiments.conditions import (
    CONDITIONS,
    LAMBDA_GRID,
    FitJob,
    fit_cost_penalty,
    get_conditions,
    parse_static_penalty,
    recalibrate_two_pass,
    select_cost_penalty,
    two_pass_orders,
    val_orders,
)
from paretobandit.experiments.phased import (
    PhaseShift,
    effective_phase_length,
    phase_bounds,
    three_phase_trial_streams,
    windowed_mean,
)
from paretobandit.experiments.quality_degradation import degradation_shift, run_quality_degradation
from paretobandit.sim import (
    BatchSimulator,
    CostTransform,
    PriceChange,
    RewardTransform,
    simulate,
    three_phase_prompts,
)
from paretobandit.workbench.results import dumps

N_VAL, N_TEST, L = 80, 100, 30
BUDGETS = {"tight": 3e-4, "loose": 2e-3}
STATIC = {"tight": 0.4, "loose": 0.1}
REFIT_SEEDS = (9500, 9501)


@pytest.fixture(scope="module")
def tables():
    return synthetic_split(N_VAL, N_TEST)


def _kwargs(tables, seeds=(5, 6)):
    return dict(table_kwargs(tables), budgets=BUDGETS, seeds=list(seeds), phase_length=L,
                router_params={"alpha": 0.05}, lambda_grid=(0.0, 0.3, 1.0, 3.0),
                fit_seeds=(0, 1), penalty_mode="static", static_penalty=STATIC, refit_seeds=REFIT_SEEDS,
                variants=["fitted"], window=10, late_steps=10, trace_stride=5)


@pytest.fixture(scope="module")
def drift(tables):
    return run_budget_drift(drift_model="arm2", **_kwargs(tables))


# ------------------------------------------------------------------------------------- phases/streams
def test_phase_construction():
    p1, p2, p3 = three_phase_prompts(N_TEST, L, 42)
    perm = np.random.default_rng(42).permutation(N_TEST)
    assert np.array_equal(p1, perm[:L]) and np.array_equal(p2, perm[L:2 * L]) and np.array_equal(p3, p1)
    assert not set(p1) & set(p2)
    assert effective_phase_length(1824, 608) == 608 and effective_phase_length(300, 608) == 150
    with pytest.raises(ConfigError):
        effective_phase_length(100, 0)
    assert phase_bounds(10, [3, 3, 3]) == [(10, 13), (13, 16), (16, 19)]


def test_trial_streams_continue_one_generator():
    phases = three_phase_prompts(N_TEST, L, 42)
    streams = three_phase_trial_streams([7, 8], N_VAL, phases)
    assert streams.shape == (2, N_VAL + 3 * L)
    rng = np.random.default_rng(7)
    expected = [rng.permutation(N_VAL)] + [N_VAL + p[rng.permutation(L)] for p in phases]
    assert np.array_equal(streams[0], np.concatenate(expected))
    # warm-up is the stationary protocol's first draw; phases are permutations of P1, P2, P1
    assert np.array_equal(streams[1, :N_VAL], np.random.default_rng(8).permutation(N_VAL))
    (a1, b1), (a2, b2), (a3, b3) = phase_bounds(N_VAL, [L, L, L])
    assert sorted(streams[0, a1:b1] - N_VAL) == sorted(phases[0])
    assert sorted(streams[0, a2:b2] - N_VAL) == sorted(phases[1])
    assert sorted(streams[0, a3:b3] - N_VAL) == sorted(phases[0])
    assert not np.array_equal(streams[0, a1:b1], streams[0, a3:b3])      # P3 re-shuffled


# ------------------------------------------------------------------------------------- events
def test_event_placement():
    base = np.array([[0.1, 0.1], [0.5, 1.5], [1.25, 10.0]])
    shift = drift_shift(["a", "b", "c"], base, "c")
    assert shift.cost_scale[2] == pytest.approx(0.10 / 5.625)
    bounds = phase_bounds(N_VAL, [L, L, L])
    ev = shift.events(bounds, base)
    assert PriceChange(step=N_VAL + L, arm=2, input_cost_per_m=0.1, output_cost_per_m=0.1) in ev
    assert PriceChange(step=N_VAL + 2 * L, arm=2, input_cost_per_m=1.25, output_cost_per_m=10.0) in ev
    assert CostTransform(arm=2, start=N_VAL + L, stop=N_VAL + 2 * L, scale=0.10 / 5.625) in ev
    deg = degradation_shift(["a", "b", "c"], "b", 0.75).events(bounds, base)
    assert deg == [RewardTransform.constant(arm=1, start=N_VAL + L, stop=N_VAL + 2 * L, value=0.75)]
    with pytest.raises(ConfigError):
        drift_shift(["a"], base[:1], "zzz")


def test_degraded_rewards_only_in_p2(tables):
    val, test, _ = tables
    bounds = phase_bounds(0, [L, L, L])
    shift = PhaseShift(reward_value={1: 0.75}, cost_scale={1: 2.0})
    streams = np.stack([np.random.default_rng(s).permutation(N_TEST)[:3 * L] for s in range(3)])
    res = simulate(test.features, test.rewards, test.costs, streams, test.prices, seeds=range(3),
                   cost_penalty=0.0, alpha=0.5, events=shift.events(bounds, test.prices))
    rows = streams
    raw_r = test.rewards[rows, res.arm]
    raw_c = test.costs[rows, res.arm]
    in_p2 = np.zeros(3 * L, dtype=bool)
    in_p2[L:2 * L] = True
    hit = (res.arm == 1) & in_p2
    assert hit.any()
    assert np.all(res.reward[hit] == 0.75) and np.allclose(res.cost[hit], 2.0 * raw_c[hit])
    assert np.array_equal(res.reward[~hit], raw_r[~hit]) and np.array_equal(res.cost[~hit], raw_c[~hit])


# ------------------------------------------------------------------------------------- λ_c fit
def test_select_cost_penalty_picks_closest():
    grid = [0.0, 0.1, 0.3, 1.0]
    costs = [1e-2, 1e-3, 2e-4, 3e-5]
    assert select_cost_penalty(grid, costs, 8e-4) == 0.1
    assert select_cost_penalty(grid, costs, 3e-4) == 0.3
    assert select_cost_penalty(grid, costs, 1.0) == 0.0
    assert select_cost_penalty([0.0, 0.5], [1.0, 3.0], 2.0) == 0.0          # tie → smaller λ_c
    assert len(LAMBDA_GRID) == 11 and LAMBDA_GRID[0] == 0.0 and LAMBDA_GRID[-1] == 3.0


def test_fit_is_one_batch_equal_to_separate_runs(tables):
    val, _, priors = tables
    from paretobandit.experiments.common import resolve_priors

    pri = resolve_priors(priors, val.models, val.features.shape[1])
    cfg = RouterConfig(alpha=0.05, cost_penalty=0.0)
    jobs = [FitJob("g1", 1.0, val.prices, np.ones(3)),
            FitJob("g997/cheap", 0.997, val.prices * [[1], [1], [0.1]], np.array([1, 1, 0.1]))]
    fit = fit_cost_penalty(features_val=val.features, rewards_val=val.rewards, costs_val=val.costs, jobs=jobs,
                           budgets=BUDGETS, seeds=[0, 1], config=cfg, priors=pri, grid=[0.0, 0.5, 2.0])
    orders = val_orders([0, 1], N_VAL)
    costs = val.costs * [1, 1, 0.1]
    solo = simulate(val.features, val.rewards, costs, orders, val.prices * [[1], [1], [0.1]], seeds=[0, 1],
                    gamma=0.997, cost_penalty=0.5, priors=pri, config=cfg)
    job = fit["jobs"]["g997/cheap"]
    assert job["mean_cost"][1] == pytest.approx(solo.cost.mean(axis=1).mean(), rel=1e-12)
    for label, j in fit["jobs"].items():
        for name, b in BUDGETS.items():
            assert j["chosen"][name] == select_cost_penalty(fit["grid"], j["mean_cost"], b), label
    assert fit["jobs"]["g1"]["mean_cost"][0] >= fit["jobs"]["g1"]["mean_cost"][-1]


def test_conditions_table():
    assert list(CONDITIONS) == ["naive", "recalibrated", "forgetting", "paretobandit", "unconstrained"]
    cfg = RouterConfig()
    assert CONDITIONS["naive"].fit_gamma(cfg) == 1.0 and CONDITIONS["forgetting"].fit_gamma(cfg) == 0.997
    assert not CONDITIONS["unconstrained"].budgeted and CONDITIONS["paretobandit"].pacer
    with pytest.raises(ConfigError):
        get_conditions(["naive", "naive"])
    with pytest.raises(ConfigError):
        get_conditions(["oracle"])


# ------------------------------------------------------------------------------------- protocol/metrics
def test_drift_cells_and_metrics(drift):
    cells = {(c["budget"], c["condition"]): c for c in drift["cells"]}
    assert len(cells) == 5 * len(BUDGETS) and drift["phase_length"] == L
    assert drift["penalty_mode"] == "static"
    refit = drift["lambda_fit"]["targets"]
    assert set(refit) == {"p2", "p3"} and drift["lambda_fit"]["seeds"] == list(REFIT_SEEDS)
    for b, bval in BUDGETS.items():
        naive, recal = cells[(b, "naive")], cells[(b, "recalibrated")]
        r2, r3 = refit["p2"]["budgets"][b]["chosen"], refit["p3"]["budgets"][b]["chosen"]
        # paper: hand-set M_b for naive/forgetting/recalibrated-P1; re-fits at the P2 and P3 boundaries
        assert naive["cost_penalty"] == [STATIC[b]] * 3
        assert cells[(b, "forgetting")]["cost_penalty"] == [STATIC[b]] * 3
        assert recal["cost_penalty"] == [STATIC[b], r2, r3]
        # same seed, γ and λ_c until the P2 boundary ⇒ identical P1
        assert naive["per_seed"]["mean_cost"][0] == recal["per_seed"]["mean_cost"][0]
        assert cells[(b, "paretobandit")]["cost_penalty"] == [0.0] * 3
        for c in ("naive", "paretobandit", "unconstrained"):
            ps = cells[(b, c)]["per_seed"]
            r = np.array(ps["mean_reward"])
            assert np.allclose(ps["cost_ratio"], np.array(ps["mean_cost"]) / bval)
            assert np.allclose(ps["reward_lift"], r[1] - r[0])
            assert np.allclose(ps["recovery_ratio"], r[2] / r[0])
            shares = np.array([ps["share"][m] for m in drift["models"]])
            assert np.allclose(shares.sum(axis=0), 1.0)
            assert np.all(np.array(ps["trough"]) <= np.array(ps["mean_reward"]).max(axis=0) + 1e-12)
            if c != "paretobandit":                                   # no pacer ⇒ λ stays 0
                assert np.all(np.array(ps["mean_lambda"]) == 0.0)
    # unconstrained: the same runs against every budget
    a, b = (cells[(name, "unconstrained")]["per_seed"]["mean_cost"] for name in BUDGETS)
    assert a == b
    tr = cells[("tight", "paretobandit")]["trace"]
    assert len(tr["test_step"]) == len(tr["reward"]) == len(tr["share"]["arm2"])


def test_fitted_variant(drift):
    """Variant "fitted": the static-penalty conditions only, λ_c from the single-pass val fit."""
    v = drift["variants"]["fitted"]
    assert v["conditions"] == ["naive", "recalibrated", "forgetting"] and v["penalty_mode"] == "fitted"
    fit = v["lambda_fit"]["jobs"]
    assert set(fit) == {"gamma=1/base", "gamma=1/p2", "gamma=0.997/base"}
    cells = {(c["budget"], c["condition"]): c for c in v["cells"]}
    for b in BUDGETS:
        lam1, lam2 = fit["gamma=1/base"]["chosen"][b], fit["gamma=1/p2"]["chosen"][b]
        assert cells[(b, "recalibrated")]["cost_penalty"] == [lam1, lam2, lam1]
        assert cells[(b, "naive")]["cost_penalty"] == [lam1] * 3
        assert cells[(b, "forgetting")]["cost_penalty"] == [fit["gamma=0.997/base"]["chosen"][b]] * 3
    # same seeds and streams as the paper's runs: only λ_c differs, so equal λ_c ⇒ equal runs
    paper = {(c["budget"], c["condition"]): c for c in drift["cells"]}
    for key, cell in cells.items():
        if cell["cost_penalty"] == paper[key]["cost_penalty"]:
            assert cell["per_seed"] == paper[key]["per_seed"]


def test_static_penalty_is_the_constant(tables):
    """Static mode: naive with M_b = 0.4 is exactly a fitted-free γ = 1 router at λ_c = 0.4 (hand check
    of the run: its P1 cost equals a plain simulation of the same stream at λ_c = 0.4)."""
    kw = _kwargs(tables, seeds=(5,))
    out = run_budget_drift(drift_model="arm2", **{**kw, "conditions": ["naive"], "variants": []})
    cell = next(c for c in out["cells"] if c["budget"] == "tight")
    val, test, _ = tables
    from paretobandit.experiments.common import resolve_priors, stack_tables

    feats, rewards, costs, n_val, _ = stack_tables(val.features, val.rewards, val.costs, test.features,
                                                   test.rewards, test.costs)
    phases = three_phase_prompts(N_TEST, L, 42)
    stream = three_phase_trial_streams([5], N_VAL, phases)
    pri = resolve_priors(kw["priors"], val.models, feats.shape[1])
    ref = simulate(feats, rewards, costs, stream[:, :N_VAL + L], val.prices, seeds=[5], gamma=1.0,
                   cost_penalty=0.4, priors=pri, config=RouterConfig(alpha=0.05, cost_penalty=0.0))
    assert cell["per_seed"]["mean_cost"][0][0] == pytest.approx(ref.cost[0, N_VAL:].mean(), rel=1e-12)
    assert out["lambda_fit"] == {"static": {"tight": 0.4, "loose": 0.1}} and out["variants"] == {}


def test_parse_static_penalty():
    got = parse_static_penalty({"tight": 0.4, "loose": 0, "extra": 1.0}, BUDGETS)
    assert got == {"tight": 0.4, "loose": 0.0}
    for bad in (None, {"tight": 0.4}, {"tight": -0.1, "loose": 0.1}, {"tight": float("nan"), "loose": 0.1},
                {"tight": True, "loose": 0.1}):
        with pytest.raises(ConfigError):
            parse_static_penalty(bad, BUDGETS)


# ------------------------------------------------------------------------------------- two-pass re-fit
def test_two_pass_orders_are_two_draws_of_one_generator():
    o = two_pass_orders([9500, 9501], 7)
    g = np.random.default_rng(9500)
    first = g.permutation(7)
    assert np.array_equal(o[0], np.concatenate([first, g.permutation(7)]))
    assert o.shape == (2, 14) and not np.array_equal(o[0, :7], o[0, 7:])
    assert np.array_equal(o[1, :7], np.random.default_rng(9501).permutation(7))


def _pri(tables):
    from paretobandit.experiments.common import resolve_priors

    val, _, priors = tables
    return resolve_priors(priors, val.models, val.features.shape[1])


def test_two_pass_refit_equals_copied_router(tables):
    """Each (budget, target, λ, seed) score is the second-pass mean cost of ONE router that learned val
    at λ_c = M_b, was repriced, set to λ and re-routed val in the second permutation (a deep copy ≡ a
    run continued past the first pass)."""
    val, _, _ = tables
    pri, cfg = _pri(tables), RouterConfig(alpha=0.05, cost_penalty=0.0)
    scale = np.array([1.0, 1.0, 0.1])
    p2_prices = val.prices * np.array([[1.0], [1.0], [0.1]])
    targets = [FitJob("p2", 1.0, p2_prices, scale), FitJob("p3", 1.0, val.prices, np.ones(3))]
    grid = [0.0, 0.3, 2.0]
    out = recalibrate_two_pass(features_val=val.features, rewards_val=val.rewards, costs_val=val.costs,
                               base_prices=val.prices, targets=targets, static=STATIC, budgets=BUDGETS,
                               seeds=list(REFIT_SEEDS), config=cfg, priors=pri, grid=grid)
    assert out["static"] == STATIC and out["grid"] == grid
    stream = two_pass_orders([9501], N_VAL)
    for label in ("p2", "p3"):
        events = []
        if label == "p2":
            events = [PriceChange(step=N_VAL, arm=2, input_cost_per_m=float(p2_prices[2, 0]),
                                  output_cost_per_m=float(p2_prices[2, 1])),
                      CostTransform(arm=2, start=N_VAL, stop=2 * N_VAL, scale=0.1)]
        for b in BUDGETS:
            for gi, lam in enumerate(grid):
                one = BatchSimulator(val.features, val.rewards, val.costs, stream, val.prices, seeds=[9501],
                                     gamma=1.0, cost_penalty=STATIC[b], budget=None, priors=pri,
                                     events=events, config=cfg)
                one.run(N_VAL)
                one.lam_c[:] = lam
                res = one.run()
                got = out["targets"][label]["budgets"][b]["per_seed_cost"][gi][1]
                assert got == pytest.approx(res.cost[0, N_VAL:].mean(), rel=1e-12), (label, b, lam)
            e = out["targets"][label]["budgets"][b]
            assert e["mean_cost"] == pytest.approx(np.mean(e["per_seed_cost"], axis=1).tolist(), rel=1e-12)
            assert e["chosen"] == select_cost_penalty(grid, e["mean_cost"], BUDGETS[b])
    # the P2 target's scored pass sees arm 2 at a tenth of its cost: cheaper at λ = 0
    assert (out["targets"]["p2"]["budgets"]["tight"]["mean_cost"][0]
            < out["targets"]["p3"]["budgets"]["tight"]["mean_cost"][0])


def test_two_pass_refit_validation(tables):
    val, _, _ = tables
    kw = dict(features_val=val.features, rewards_val=val.rewards, costs_val=val.costs, base_prices=val.prices,
              targets=[FitJob("p3", 1.0, val.prices, np.ones(3))], budgets=BUDGETS, seeds=[1],
              config=RouterConfig(), priors=None)
    with pytest.raises(ConfigError):
        recalibrate_two_pass(static={"tight": 0.4}, **kw)
    with pytest.raises(ConfigError):
        recalibrate_two_pass(static=STATIC, grid=[], **kw)
    with pytest.raises(ConfigError):
        recalibrate_two_pass(static=STATIC, **{**kw, "targets": kw["targets"] * 2})


def test_windowed_mean():
    x = np.arange(10.0)[None, :]
    w = windowed_mean(x, 3)
    assert w.shape == (1, 8) and np.allclose(w[0], [1, 2, 3, 4, 5, 6, 7, 8])
    with pytest.raises(ConfigError):
        windowed_mean(x, 11)


def test_results_are_deterministic(tables, drift):
    again = run_budget_drift(drift_model="arm2", **_kwargs(tables))
    assert dumps(again) == dumps(drift)


def test_degradation_and_reports(tables, drift):
    from paretobandit.workbench.report_budget_drift import TABLE_COLUMNS as COLS2
    from paretobandit.workbench.report_budget_drift import summarise_budget_drift
    from paretobandit.workbench.report_nonstationary import split_traces
    from paretobandit.workbench.report_quality_degradation import TABLE_COLUMNS as COLS3
    from paretobandit.workbench.report_quality_degradation import summarise_quality_degradation

    shorts = {"arm0": "llama", "arm1": "mistral", "arm2": "pro"}
    boot = {"n_resamples": 200, "seed": 42}
    summary, rows = summarise_budget_drift(drift, shorts=shorts, bootstrap=boot)
    assert len(rows) == (5 + 3) * len(BUDGETS) * 3
    assert {"budget", "condition", "phase", "cost_ratio", "cost_ratio_ci_low", "cost_ratio_ci_high",
            "mean_reward", "reward_lift"} <= set(COLS2) <= set(rows[0])
    for r in rows:
        assert r["cost_ratio_ci_low"] <= r["cost_ratio"] <= r["cost_ratio_ci_high"]
    assert isinstance(summary["headlines"]["pb_lift_positive_all"], bool)

    # variant rows: 3 static-penalty conditions × budgets × phases, labelled
    assert sum(r["variant"] == "paper" for r in rows) == 5 * len(BUDGETS) * 3
    assert sum(r["variant"] == "fitted" for r in rows) == 3 * len(BUDGETS) * 3
    assert set(summary["variant_fitted"]) == set(BUDGETS)

    conds = ("naive", "paretobandit", "unconstrained")
    deg = run_quality_degradation(degraded_model="arm1", conditions=conds, **_kwargs(tables, seeds=(1,)))
    assert deg["lambda_fit"] == {"static": STATIC}
    assert set(deg["variants"]["fitted"]["lambda_fit"]["jobs"]) == {"gamma=1/base"}
    per_seed, traces = split_traces(deg)
    assert all("trace" not in c for c in per_seed["cells"]) and set(traces) == set(BUDGETS)
    assert all("trace" not in c for c in per_seed["variants"]["fitted"]["cells"])
    summary3, rows3 = summarise_quality_degradation(deg, shorts=shorts, bootstrap=boot)
    assert len(rows3) == 3 * len(BUDGETS) * 3 + len(BUDGETS) * 3
    assert {"mistral_share", "recovery_ratio"} <= set(COLS3) <= set(rows3[0])
    assert 0 <= summary3["headlines"]["pb_compliant_cells"] <= 3 * len(BUDGETS)


# ------------------------------------------------------------------------------------- real tables
def _real_val():
    from paretobandit.data import load_catalog, load_features, load_reward_table
    from paretobandit.errors import DataError
    from paretobandit.experiments.common import as_price_array, default_priors_path, resolve_priors

    try:
        table, feats = load_reward_table("val"), load_features("val")
        priors = resolve_priors(default_priors_path(), list(table.models), feats.shape[1])
        prices = as_price_array(load_catalog("models_k3"), list(table.models))
    except (DataError, FileNotFoundError, OSError) as exc:
        pytest.skip(f"reference data or feature cache missing: {exc}")
    return table, feats, priors, prices


def test_two_pass_refit_reproduces_the_published_p3_costs():
    """docs/PROTOCOLS.md §B1c: P3 re-fit at the tight budget (M_b = 0.40), seeds 9500–9509: mean
    second-pass cost 4.05e-3 / 7.63e-4 / 3.90e-4 at λ = 0.1 / 0.2 / 0.3, so R3 = 0.30."""
    table, feats, priors, prices = _real_val()
    out = recalibrate_two_pass(features_val=feats, rewards_val=table.rewards, costs_val=table.costs,
                               base_prices=prices, targets=[FitJob("p3", 1.0, prices, np.ones(3))],
                               static={"tight": 0.40}, budgets={"tight": 3.0e-4},
                               seeds=list(range(9500, 9510)),
                               config=RouterConfig(), priors=priors, grid=[0.1, 0.2, 0.3])
    e = out["targets"]["p3"]["budgets"]["tight"]
    assert e["mean_cost"] == pytest.approx([4.05e-3, 7.63e-4, 3.90e-4], rel=5e-3)
    assert e["chosen"] == 0.3


def test_penalty_mode_and_variant_validation(tables):
    kw = _kwargs(tables, seeds=(5,))
    for bad in ({"penalty_mode": "oracle"}, {"variants": ["static"]}, {"variants": ["fitted", "fitted"]},
                {"variants": ["nope"]}, {"static_penalty": None}, {"static_penalty": {"tight": 0.4}}):
        with pytest.raises(ConfigError):
            run_budget_drift(drift_model="arm2", **{**kw, **bad})
