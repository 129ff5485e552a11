"""Appendix hyper-parameter optimisation (§A1): hull AUC, n_eff, knee, bootstrap, protocol, report."""

from __future__ import annotations

import numpy as np
import pytest
from _helpers import synthetic_split, table_kwargs

from paretobandit.data import data_root, load_reward_table
from paretobandit.errors import ConfigError, DimensionMismatchError
from paretobandit.experiments.hyperparameter_sweep import (
    fixed_model_points,
    frontier_knee,
    hull_auc,
    knee_bootstrap,
    log_budget_auc,
    monotone_hull,
    n_eff_for_gamma,
    run_hyperparameter_sweep,
)
from paretobandit.sim import RewardTransform, simulate
from paretobandit.workbench.report_hyperparameter_sweep import (
    TABLE_COLUMNS,
    normal_ci,
    short_name,
    summarise_hyperparameter_sweep,
)

N_VAL, N_TEST = 45, 40  # burn-in 15, eval 30 (mid 15); test mid 20
TARGETS = [1e-4, 6e-4, 3e-3]
NAMED = {"tight": 2e-4, "loose": 2e-3}
OFFSETS = {"val_auc": 0, "val_failure": 2000, "test": 1000}
ALPHAS, GAMMAS = [0.01, 0.3], [0.99, 1.0]


# ------------------------------------------------------------------------------------- pure functions
def test_n_eff_for_gamma_protocol_values():
    gammas = [0.994, 0.995, 0.996, 0.997, 0.998, 0.999, 1.0]
    assert [n_eff_for_gamma(g) for g in gammas] == [3211.3, 2251.8, 1604.7, 1163.9, 860.5, 649.1, 500.0]
    assert n_eff_for_gamma(1.0, 250) == 250.0
    with pytest.raises(ConfigError):
        n_eff_for_gamma(1.2)


def test_monotone_hull_keeps_strict_improvements_only():
    hx, hy = monotone_hull([2, 1, 2, 3, 4], [0.4, 0.5, 0.6, 0.7, 0.7])
    np.testing.assert_array_equal(hx, [1, 2, 3])  # (2, 0.4) and the flat (4, 0.7) dropped
    np.testing.assert_array_equal(hy, [0.5, 0.6, 0.7])
    with pytest.raises(DimensionMismatchError):
        monotone_hull([1, 2], [0.5])


def test_hull_auc_linear_cost_with_flat_extrapolation():
    # hull (1, .5), (3, .7) over [0, 4]: flat .5 on [0, 1], trapezoid on [1, 3], flat .7 on [3, 4]
    assert hull_auc([1, 3], [0.5, 0.7], 0.0, 4.0) == pytest.approx((0.5 + 1.2 + 0.7) / 4)
    # range inside the hull: interpolated ends, (0.55 + 0.65)/2
    assert hull_auc([1, 3], [0.5, 0.7], 1.5, 2.5) == pytest.approx(0.6)
    # dominated points never raise the area
    assert hull_auc([1, 3, 2], [0.5, 0.7, 0.1], 0.0, 4.0) == pytest.approx(0.6)
    assert hull_auc([1, 3], [0.5, 0.7], 2.0, 2.0) == 0.0


def test_log_budget_auc_extra():
    assert log_budget_auc([0.0, 1.0, 1.0], [1e-4, 1e-3, 1e-2]) == pytest.approx(0.75)
    with pytest.raises(ConfigError):
        log_budget_auc([1, 2], [2e-4, 1e-4])


def test_frontier_knee_normalises_over_the_frontier_only():
    # frontier A(0, 1), B(.2, .9), C(.8, .7), D(1, 0); E is dominated and far below
    pts = np.array([[0.0, 1.0], [0.2, 0.9], [0.8, 0.7], [1.0, 0.0], [0.1, -2.0]])
    out = frontier_knee(pts)
    assert out["frontier"] == [0, 1, 2, 3]
    # normalised = raw here (ranges 1); chord (1, -1): distance = |rx + ry| / sqrt 2
    np.testing.assert_allclose(out["distance"], [0.0, 0.1 / np.sqrt(2), 0.5 / np.sqrt(2), 0.0], atol=1e-9)
    assert out["knee"] == 2
    # one point: it; two points: closest to (1, 1) after normalisation (a tie -> the lower AUC)
    assert frontier_knee([[0.5, 0.5], [0.4, 0.4]])["knee"] == 0
    assert frontier_knee([[0.9, 0.1], [0.1, 0.9]])["knee"] == 1


def test_knee_bootstrap_pairs_auc_and_p2_by_seed_index():
    # 3 cells, 2 seeds. Seed 0: cell 0 dominates; seed 1: cell 1 dominates; cell 2 always dominated.
    auc = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]])
    p2 = auc.copy()
    cells = [(0.01, 0.997), (0.01, 0.998), (0.5, 0.994)]
    out = knee_bootstrap(auc, p2, cells, n_resamples=200, seed=7)
    rng = np.random.default_rng(7)
    draws = [rng.choice(2, 2) for _ in range(200)]
    # resample (0,0) -> cell 0; (1,1) -> cell 1; mixed -> cells 0 and 1 tie at (.5, .5): both on the
    # frontier, two points -> the first (lower index at equal AUC)
    expect = np.array([1 if (d == 1).all() else 0 for d in draws])
    assert out["counts"] == [int((expect == 0).sum()), int((expect == 1).sum()), 0]
    assert out["original"] == 0 and out["n_distinct"] == 2
    assert out["neighbourhood_freq"] == pytest.approx(1.0)  # same α, |Δγ| = 0.001
    with pytest.raises(DimensionMismatchError):
        knee_bootstrap(auc[:, :1], p2, cells)


def test_fixed_model_points():
    r = np.array([[0.8, 0.9], [0.6, 1.0]])
    c = np.array([[1.0, 3.0], [1.0, 5.0]])
    out = fixed_model_points(r, c)
    assert out["c_lo"] == 1.0 and out["c_hi"] == 4.0
    assert out["auc"] == pytest.approx((0.7 + 0.95) / 2)


HAVE_DATA = (data_root() / "rewards" / "val.jsonl").is_file()


@pytest.mark.realdata
@pytest.mark.skipif(not HAVE_DATA, reason="reference data missing (paretobandit data fetch)")
def test_fixed_model_auc_on_the_real_tables():
    val, test = load_reward_table("val"), load_reward_table("test")
    v = fixed_model_points(val.rewards[595:], val.costs[595:])
    t = fixed_model_points(test.rewards, test.costs)
    assert v["auc"] == pytest.approx(0.92925, abs=5e-6)  # published references (§A1)
    assert t["auc"] == pytest.approx(0.925342, abs=2e-6)
    assert v["c_lo"] == pytest.approx(3.0e-5, rel=2e-2) and v["c_hi"] == pytest.approx(0.014721, rel=1e-4)
    assert t["c_hi"] == pytest.approx(0.015156, rel=1e-4)


# ------------------------------------------------------------------------------------- protocol
@pytest.fixture(scope="module")
def tables():
    return synthetic_split(N_VAL, N_TEST)


def _run(tables, **kw):
    args = dict(
        alphas=ALPHAS,
        gammas=GAMMAS,
        budget_targets=TARGETS,
        named_budgets=NAMED,
        seed_offsets=OFFSETS,
        n_seeds=2,
        failure_model=tables[0].models[1],
        t_adapt_grid=[250, 500],
        bootstrap_resamples=50,
        chunk_size=7,
    )
    return run_hyperparameter_sweep(**{**table_kwargs(tables), **args, **kw})


@pytest.fixture(scope="module")
def raw(tables):
    return _run(tables)


def test_structure_and_splits(raw):
    assert raw["n_burnin"] == 15 and raw["n_eval"] == 30 and raw["n_test"] == N_TEST
    pb, tr = raw["variants"]["paretobandit"], raw["variants"]["tabula_rasa"]
    assert [c["n_eff"] for c in pb["cells"]] == [n_eff_for_gamma(g) for g in GAMMAS] * 2
    assert {c["n_eff"] for c in tr["cells"]} == {1.0}
    c = pb["cells"][0]["per_seed"]
    assert np.shape(c["reward"]) == (3, 2) and np.shape(c["p2"]) == (2, 2) and len(c["auc"]) == 2
    assert set(pb["cross_arm"]) == {"val", "test"} and len(pb["cross_arm"]["test"]) == 3
    assert set(raw["t_adapt_sensitivity"]) == {"250", "500"}
    # T = 500 reuses the main Objective-1 AUCs
    assert (
        raw["t_adapt_sensitivity"]["500"]["cells"][1]["per_seed"]["auc"] == pb["cells"][1]["per_seed"]["auc"]
    )


def test_objectives_equal_hand_built_runs(tables, raw):
    """Cell (0.3, 0.99) of paretobandit against direct simulations with hand-built streams and events."""
    val, _, (pm, a_off, b_off) = tables
    from paretobandit.experiments.common import resolve_priors

    pri = resolve_priors((pm, a_off, b_off), val.models, val.features.shape[1])
    cell = next(
        c for c in raw["variants"]["paretobandit"]["cells"] if c["alpha"] == 0.3 and c["gamma"] == 0.99
    )
    for budget_i, budget in enumerate(TARGETS):
        for si, seed in enumerate([0, 1]):
            rng = np.random.default_rng(seed)
            stream = np.concatenate([rng.permutation(15), 15 + rng.permutation(30)])
            res = simulate(
                val.features,
                val.rewards,
                val.costs,
                stream[None],
                val.prices,
                seeds=[seed],
                alpha=0.3,
                gamma=0.99,
                budget=budget,
                priors=pri,
                n_eff=n_eff_for_gamma(0.99),
                cost_penalty=0.0,
            )
            assert cell["per_seed"]["reward"][budget_i][si] == pytest.approx(
                res.reward[0, 15:].mean(), abs=1e-12
            )
            assert cell["per_seed"]["cost"][budget_i][si] == pytest.approx(res.cost[0, 15:].mean(), abs=1e-15)
    seed = 2001
    rng = np.random.default_rng(seed)
    stream = np.concatenate([rng.permutation(15), 15 + rng.permutation(30)])
    ev = [RewardTransform.constant(arm=1, start=15 + 15, stop=45, value=0.5)]
    res = simulate(
        val.features,
        val.rewards,
        val.costs,
        stream[None],
        val.prices,
        seeds=[seed],
        alpha=0.3,
        gamma=0.99,
        budget=NAMED["loose"],
        priors=pri,
        n_eff=n_eff_for_gamma(0.99),
        cost_penalty=0.0,
        events=ev,
    )
    assert cell["per_seed"]["p2"][1][1] == pytest.approx(res.reward[0, 30:].mean(), abs=1e-12)
    assert cell["per_seed"]["p1"][1][1] == pytest.approx(res.reward[0, 15:30].mean(), abs=1e-12)
    fixed = fixed_model_points(val.rewards[15:], val.costs[15:])
    expect = hull_auc(
        np.array(cell["per_seed"]["cost"])[:, 0],
        np.array(cell["per_seed"]["reward"])[:, 0],
        fixed["c_lo"],
        fixed["c_hi"],
    )
    assert cell["per_seed"]["auc"][0] == pytest.approx(expect)


def test_deterministic_and_chunk_independent(tables, raw):
    again = _run(tables, chunk_size=1000)
    assert again["variants"] == raw["variants"]


def test_bad_input(tables):
    with pytest.raises(ConfigError):
        _run(tables, failure_model="nope")
    with pytest.raises(ConfigError):
        _run(tables, variants=["greedy"])
    with pytest.raises(ConfigError):
        _run(tables, t_adapt_grid=[250, 1000])
    with pytest.raises(ConfigError):
        _run(tables, priors=None)
    with pytest.raises(ConfigError):
        _run(tables, chunk_size=0)


# ------------------------------------------------------------------------------------- report
def test_normal_ci_and_names():
    s = normal_ci([1.0, 2.0, 3.0])
    assert s["mean"] == 2.0 and s["sd"] == 1.0
    assert s["ci_high"] - s["mean"] == pytest.approx(1.96 / np.sqrt(3))
    assert normal_ci([1.0, 3.0, 1.0, 3.0], n=1)["ci_low"] == pytest.approx(
        2.0 - 1.96 * np.std([1, 3, 1, 3], ddof=1)
    )
    assert short_name("google/gemini-2.5-pro") == "gemini"


def test_summary_rows_contract(raw):
    summary, rows = summarise_hyperparameter_sweep(raw)
    assert len(rows) == 2 * len(ALPHAS) * len(GAMMAS)
    assert set(TABLE_COLUMNS) <= set(rows[0])
    for v in ("paretobandit", "tabula_rasa"):
        vr = [r for r in rows if r["variant"] == v]
        knees = [r for r in vr if r["knee"]]
        assert len(knees) == 1 and knees[0]["pareto"]
        assert knees[0]["test_auc"] == pytest.approx(np.mean(raw["variants"][v]["test"]["auc"]))
        assert all(r["test_auc"] is None for r in vr if not r["knee"])
        assert sum(r["knee_freq"] for r in vr) == pytest.approx(1.0)
        best = max(vr, key=lambda r: r["auc"])
        assert best["auc_best"]
        assert summary[v]["auc_sacrifice_pct"] == pytest.approx(
            100 * (best["auc"] - knees[0]["auc"]) / best["auc"]
        )
    r0 = rows[0]
    ps = raw["variants"]["paretobandit"]["cells"][0]["per_seed"]
    assert r0["p2_reward"] == pytest.approx(np.mean(ps["p2"]))
    assert r0["p2_sd"] == pytest.approx(np.std(np.ravel(ps["p2"]), ddof=1))


def test_t_adapt_summary(raw):
    summary, _ = summarise_hyperparameter_sweep(raw)
    ta = summary["t_adapt"]
    assert ta["t250"]["t"] == 250 and ta["t500"]["t"] == 500
    g = [
        raw["t_adapt_sensitivity"][k]["cells"][raw["t_adapt_sensitivity"][k]["knee"]]["gamma"]
        for k in ("250", "500")
    ]
    assert ta["stable"] == (abs(g[1] - g[0]) <= 0.001 + 1e-9)
    assert ta["t250"]["n_eff"] == f"{n_eff_for_gamma(g[0], 250):.1f}"
    assert summary["headlines"]["n_cells"] == 4 and summary["headlines"]["failure_reward"] == "0.5"
    # principled extra: failure 0.50; at T = 500 it is the main Objective 2 (same runs)
    sens = raw["t_adapt_sensitivity"]["500"]
    main = raw["variants"]["paretobandit"]["cells"]
    assert [c["per_seed"]["p2_principled"] for c in sens["cells"]] == [c["per_seed"]["p2"] for c in main]
    assert sens["knee_principled"] == raw["variants"]["paretobandit"]["knee"]
    assert "t250" in summary["t_adapt_principled"]
