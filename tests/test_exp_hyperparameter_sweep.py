"""Appendix α × γ sweep: AUC, Pareto front and knee, equality with Exp 01/03, report (synthetic tables)."""

from __future__ import annotations

import numpy as np
import pytest
from _helpers import synthetic_split, table_kwargs

from paretobandit.errors import ConfigError, DimensionMismatchError
from paretobandit.experiments.budget_pacing import run_budget_pacing
from paretobandit.experiments.hyperparameter_sweep import (
    log_budget_auc,
    pareto_front,
    pareto_knee,
    run_hyperparameter_sweep,
)
from paretobandit.experiments.quality_degradation import run_quality_degradation
from paretobandit.workbench.config import compose

N_VAL, N_TEST, L = 50, 60, 20
BUDGETS = [1e-4, 6e-4, 3e-3]
ALPHAS, GAMMAS = [0.01, 0.3], [0.99, 1.0]
P_SEEDS, D_SEEDS = [3000, 3001], [6000, 6001]


# ------------------------------------------------------------------------------------- pure functions
def test_log_budget_auc():
    b = [1e-4, 1e-3, 1e-2]
    assert log_budget_auc([0.8, 0.8, 0.8], b) == pytest.approx(0.8)
    assert log_budget_auc([0.0, 1.0, 1.0], b) == pytest.approx(0.75)   # equal log steps: (0.5 + 1)/2
    # unequal steps weight by ln-budget width
    assert log_budget_auc([0.0, 0.0, 1.0], [1.0, np.e ** 3, np.e ** 4]) == pytest.approx(0.5 * 1 / 4)
    assert log_budget_auc(np.ones((2, 3, 3)), b).shape == (2, 3)
    with pytest.raises(ConfigError):
        log_budget_auc([1, 2], [2e-4, 1e-4])


def test_pareto_front_and_knee():
    pts = np.array([[0.0, 1.0], [1.0, 0.0], [0.6, 0.6], [0.5, 0.5], [0.2, 0.9], [0.6, 0.6]])
    front = pareto_front(pts)
    assert front.tolist() == [True, True, True, False, True, True]
    kn = pareto_knee(pts)
    assert kn["knee"] == 2                              # farthest from the chord; duplicate tie → first
    assert kn["extremes"] == [1, 0]
    assert kn["front"][0] == 1 and set(kn["front"]) == {0, 1, 2, 4, 5}
    # the distance is measured on min-max normalised objectives: rescaling one objective changes nothing
    assert pareto_knee(pts * [100.0, 1.0])["knee"] == 2
    assert pareto_knee([[0.3, 0.4]])["knee"] == 0                       # one cell
    assert pareto_knee([[1.0, 0.0], [0.0, 1.0]])["knee"] in (0, 1)      # two-point front: sum tie → first
    assert pareto_knee([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])["knee"] == 0   # collinear: largest sum, first
    assert pareto_knee([[0.2, 0.2], [0.9, 0.9], [0.5, 0.1]])["knee"] == 1   # one dominant cell
    with pytest.raises(DimensionMismatchError):
        pareto_front(np.ones((3, 3)))


# ------------------------------------------------------------------------------------- protocol
@pytest.fixture(scope="module")
def tables():
    return synthetic_split(N_VAL, N_TEST)


def _tables_kwargs(tables):
    return table_kwargs(tables)


@pytest.fixture(scope="module")
def raw(tables):
    return run_hyperparameter_sweep(**_tables_kwargs(tables), alphas=ALPHAS, gammas=GAMMAS,
                                    pacing_budgets=BUDGETS, pacing_seeds=P_SEEDS, degradation_budget=6e-4,
                                    degradation_seeds=D_SEEDS, degraded_model="arm1", degraded_reward=0.75,
                                    phase_length=L, router_params={"prior_n_effective": 80.0})


def test_cells_equal_exp01_and_exp03(tables, raw):
    assert [(c["alpha"], c["gamma"]) for c in raw["cells"]] == [(a, g) for a in ALPHAS for g in GAMMAS]
    cell = raw["cells"][3]                               # α = 0.3, γ = 1.0
    params = {"alpha": 0.3, "forgetting_factor": 1.0, "prior_n_effective": 80.0}
    exp01 = run_budget_pacing(**_tables_kwargs(tables), budgets=BUDGETS, seeds=P_SEEDS, router_params=params,
                              n_resamples=10)
    for i, pb in enumerate(exp01["per_budget"]):
        assert cell["per_seed"]["pacing_reward"][i] == pytest.approx(pb["per_seed"]["mean_reward"], rel=1e-12)
        assert cell["per_seed"]["pacing_cost_ratio"][i] == pytest.approx(pb["per_seed"]["utilisation"],
                                                                          rel=1e-12)
    exp03 = run_quality_degradation(**_tables_kwargs(tables), budgets={"moderate": 6e-4}, seeds=D_SEEDS,
                                    conditions=["paretobandit"], degraded_model="arm1", phase_length=L,
                                    router_params=params)
    ps = exp03["cells"][0]["per_seed"]
    assert np.allclose(cell["per_seed"]["p_reward"], ps["mean_reward"], rtol=1e-12, atol=0)
    assert cell["per_seed"]["degraded_reward"] == pytest.approx(ps["mean_reward"][1], rel=1e-12)
    assert np.allclose(cell["per_seed"]["p_cost_ratio"], ps["cost_ratio"], rtol=1e-12, atol=0)
    auc = log_budget_auc(np.array(cell["per_seed"]["pacing_reward"]).T, BUDGETS)
    assert cell["per_seed"]["auc"] == pytest.approx(auc.tolist())


def test_errors(tables):
    kw = dict(**_tables_kwargs(tables), pacing_budgets=BUDGETS, pacing_seeds=P_SEEDS, degradation_budget=6e-4,
              degradation_seeds=D_SEEDS, degraded_model="arm1")
    with pytest.raises(ConfigError):
        run_hyperparameter_sweep(alphas=[0.1, 0.1], gammas=GAMMAS, **kw)
    with pytest.raises(ConfigError):
        run_hyperparameter_sweep(alphas=ALPHAS, gammas=[1.2], **kw)
    with pytest.raises(ConfigError):
        run_hyperparameter_sweep(alphas=ALPHAS, gammas=GAMMAS, **{**kw, "degraded_model": "zzz"})


def test_preset():
    exp = compose(["experiment=hyperparameter_sweep", "scale=ci"]).experiment
    assert list(exp.alphas) == [0.01, 0.05, 0.1, 0.25, 0.5, 1.0]
    assert list(exp.gammas) == [0.994, 0.995, 0.996, 0.997, 0.998, 0.999, 1.0]
    assert exp.pacing.seed_offset == 3000 and exp.degradation.seed_offset == 6000
    assert exp.degradation.budget == 6.62e-4
    assert exp.paper_knee.alpha == 0.01 and exp.paper_knee.gamma == 0.997


def test_report_and_publish(tmp_path, raw):
    from paretobandit.workbench.publish import publish
    from paretobandit.workbench.report_hyperparameter_sweep import (
        TABLE_COLUMNS,
        knee_stability,
        summarise_hyperparameter_sweep,
    )

    summary, rows = summarise_hyperparameter_sweep(raw, paper_knee=(0.01, 0.99), knee_resamples=50)
    assert len(rows) == 4 and set(rows[0]) == set(TABLE_COLUMNS)
    assert sum(r["knee"] for r in rows) == 1 and all(r["pareto"] for r in rows if r["knee"])
    assert sum(r["knee_share"] for r in rows) == pytest.approx(1.0)
    share = knee_stability(raw, n_resamples=50, seed=42)
    assert np.allclose(share, [r["knee_share"] for r in rows])
    knee = next(r for r in rows if r["knee"])
    assert summary["headlines"]["knee_agrees"] == (knee["alpha"] == 0.01 and knee["gamma"] == 0.99)
    assert summary["paper_cell"]["rank_auc"] in range(1, 5)
    cfg = compose(["experiment=hyperparameter_sweep", "scale=ci"], root=tmp_path)
    out = tmp_path / "results" / "_ci" / "hyperparameter_sweep"
    publish(cfg, seeds=P_SEEDS + D_SEEDS, per_seed=raw, summary=summary, table=rows, columns=TABLE_COLUMNS)
    first = (out / "results.json").read_bytes()
    publish(cfg, seeds=P_SEEDS + D_SEEDS, per_seed=raw, summary=summary, table=rows, columns=TABLE_COLUMNS)
    assert (out / "results.json").read_bytes() == first
    for fig in ("auc_grid", "degraded_grid", "pareto"):
        assert (out / "figures" / f"{fig}.png").stat().st_size > 0
    tex = (tmp_path / "results" / "_ci" / "macros" / "hyperparameter_sweep.tex").read_text()
    assert r"\newcommand{\AppSweepKneeAlpha}" in tex and r"\newcommand{\AppSweepHeadlinesKneeAgrees}" in tex
