"""Appendix warm-up ablation: protocol, regret, conditions and report on small synthetic tables."""

from __future__ import annotations

import numpy as np
import pytest
from _helpers import synthetic_split, table_kwargs

from paretobandit.errors import ConfigError
from paretobandit.experiments.common import resolve_priors
from paretobandit.experiments.warmup_ablation import (
    oracle_rewards,
    random_picks,
    run_warmup_ablation,
    sampled_steps,
)
from paretobandit.sim import simulate, warmup_test_streams
from paretobandit.workbench.config import compose

N_VAL, N_TEST = 60, 80
BUDGETS = {"tight": 3e-4, "unconstrained": None}
SEEDS = [9000, 9001]


@pytest.fixture(scope="module")
def tables():
    return synthetic_split(N_VAL, N_TEST)


def _kwargs(tables):
    return dict(table_kwargs(tables), budgets=BUDGETS, seeds=SEEDS,
                router_params={"alpha": 0.01, "forgetting_factor": 0.997, "prior_n_effective": 50.0},
                tabula_rasa={"alpha": 0.05, "gamma": 0.997}, trace_points=20)


@pytest.fixture(scope="module")
def raw(tables):
    return run_warmup_ablation(**_kwargs(tables))


def _cell(raw, budget, cond):
    return next(c for c in raw["cells"] if c["budget"] == budget and c["condition"] == cond)


def test_cells_and_shapes(raw):
    assert [(c["budget"], c["condition"]) for c in raw["cells"]] == [
        (b, c) for b in BUDGETS for c in ("paretobandit", "tabula_rasa", "random")]
    for c in raw["cells"]:
        ps = c["per_seed"]
        assert len(ps["test_regret"]) == len(SEEDS) and ps["seed"] == SEEDS
        shares = np.array([ps["share"][m] for m in raw["models"]])
        assert np.allclose(shares.sum(axis=0), 1.0)
        assert (ps["cost_ratio"] is None) == (c["budget_value"] is None)
        assert c["trace"]["step"][-1] == N_VAL + N_TEST - 1
        # cumulative regret at the last step = warm-up + test regret (seed mean)
        total = np.mean(ps["warmup_regret"]) + np.mean(ps["test_regret"])
        assert c["trace"]["cum_regret"][-1] == pytest.approx(total)


def test_learners_equal_separate_runs(tables, raw):
    val, test, priors = tables
    feats = np.vstack([val.features, test.features])
    rewards, costs = np.vstack([val.rewards, test.rewards]), np.vstack([val.costs, test.costs])
    streams = warmup_test_streams(SEEDS, N_VAL, N_TEST)
    oracle = oracle_rewards(rewards)
    pri = resolve_priors(priors, val.models, feats.shape[1])
    pb = simulate(feats, rewards, costs, streams, val.prices, seeds=SEEDS, alpha=0.01, gamma=0.997,
                  n_eff=50.0, cost_penalty=0.0, budget=3e-4, priors=pri)
    tr = simulate(feats, rewards, costs, streams, val.prices, seeds=SEEDS, alpha=0.05, gamma=0.997,
                  cost_penalty=0.0, budget=None, priors=None)
    pairs = ((pb, _cell(raw, "tight", "paretobandit")), (tr, _cell(raw, "unconstrained", "tabula_rasa")))
    for res, cell in pairs:
        regret = oracle[streams] - res.reward
        ps = cell["per_seed"]
        assert ps["test_regret"] == pytest.approx(regret[:, N_VAL:].sum(axis=1).tolist(), rel=1e-12)
        assert ps["warmup_regret"] == pytest.approx(regret[:, :N_VAL].sum(axis=1).tolist(), rel=1e-12)
        assert ps["mean_reward"] == pytest.approx(res.reward[:, N_VAL:].mean(axis=1).tolist(), rel=1e-12)


def test_random_condition(tables, raw):
    _, test, _ = tables
    picks = random_picks(SEEDS, N_VAL, N_TEST, 3)
    rng = np.random.default_rng(SEEDS[0])
    rng.permutation(N_VAL)
    rng.permutation(N_TEST)
    assert np.array_equal(picks[0], rng.integers(3, size=N_VAL + N_TEST))
    a, b = (_cell(raw, bud, "random")["per_seed"] for bud in BUDGETS)
    assert a["test_regret"] == b["test_regret"]                       # budget-independent
    streams = warmup_test_streams(SEEDS, N_VAL, N_TEST)
    rows = streams[:, N_VAL:] - N_VAL
    r = test.rewards[rows, picks[:, N_VAL:]]
    assert a["mean_reward"] == pytest.approx(r.mean(axis=1).tolist())
    assert a["test_regret"] == pytest.approx((test.rewards.max(axis=1)[rows] - r).sum(axis=1).tolist())
    assert raw["oracle_mean_reward"] == pytest.approx(test.rewards.max(axis=1).mean())


def test_helpers_and_errors(tables):
    assert oracle_rewards([[0.1, 0.5], [0.9, 0.2]]).tolist() == [0.5, 0.9]
    s = sampled_steps(100, 7)
    assert s[0] == 0 and s[-1] == 99 and len(s) == 7
    assert sampled_steps(3, 10).tolist() == [0, 1, 2]
    kw = _kwargs(tables)
    with pytest.raises(ConfigError):
        run_warmup_ablation(**{**kw, "priors": None})
    with pytest.raises(ConfigError):
        run_warmup_ablation(**{**kw, "budgets": {"bad": -1.0}})


def test_preset_tabula_rasa_matches_router_preset():
    exp = compose(["experiment=warmup_ablation", "scale=ci"]).experiment
    tr = compose(["router=tabula_rasa"]).router
    assert exp.tabula_rasa.alpha == tr.params.alpha == 0.05
    assert exp.tabula_rasa.gamma == tr.params.forgetting_factor == 0.997 and tr.priors is None
    assert exp.seed_offset == 9000 and list(exp.budgets) == ["tight", "moderate", "loose", "unconstrained"]
    assert exp.budgets.unconstrained is None and exp.budgets.moderate == 6.62e-4


def test_report_and_publish(tmp_path, raw):
    from paretobandit.workbench.publish import publish
    from paretobandit.workbench.report_warmup_ablation import (
        TABLE_COLUMNS,
        split_traces,
        summarise_warmup_ablation,
    )

    shorts = {"arm0": "llama", "arm1": "mistral", "arm2": "pro"}
    per_seed, traces = split_traces(raw)
    assert all("trace" not in c for c in per_seed["cells"]) and set(traces) == set(BUDGETS)
    summary, rows = summarise_warmup_ablation(raw, shorts=shorts)
    assert len(rows) == 6 and set(rows[0]) == set(TABLE_COLUMNS)
    s = summary["tight"]
    assert summary["headlines"]["tight_regret_ratio_tr"] == pytest.approx(
        s["paretobandit"]["test_regret"] / s["tabula_rasa"]["test_regret"])
    rnd = s["random"]
    assert rnd["test_regret_ci_low"] <= rnd["test_regret"] <= rnd["test_regret_ci_high"]
    assert "util" in s["paretobandit"] and "util" not in summary["unconstrained"]["paretobandit"]
    cfg = compose(["experiment=warmup_ablation", "scale=ci"], root=tmp_path)
    out = tmp_path / "results" / "_ci" / "warmup_ablation"
    publish(cfg, seeds=SEEDS, per_seed=per_seed, summary=summary, table=rows, columns=TABLE_COLUMNS,
            extra={"traces": traces})
    first = (out / "results.json").read_bytes()
    publish(cfg, seeds=SEEDS, per_seed=per_seed, summary=summary, table=rows, columns=TABLE_COLUMNS,
            extra={"traces": traces})
    assert (out / "results.json").read_bytes() == first
    for fig in ("cumulative_regret", "test_regret"):
        assert (out / "figures" / f"{fig}.png").stat().st_size > 0
    tex = (tmp_path / "results" / "_ci" / "macros" / "warmup_ablation.tex").read_text()
    assert r"\newcommand{\AppWarmupTightParetobanditTestRegret}" in tex
    assert r"\newcommand{\AppWarmupHeadlinesPriorsBeatTabulaRasaAll}" in tex
