"""Appendix warm-up ablation (§A3): test-only cold-start stream, metrics, paired tests and report."""

from __future__ import annotations

import numpy as np
import pytest
from _helpers import synthetic_split

from paretobandit.errors import ConfigError
from paretobandit.experiments.common import resolve_priors
from paretobandit.experiments.warmup_ablation import (
    analyse_warmup_ablation,
    cold_start_streams,
    oracle_rewards,
    run_warmup_ablation,
    sampled_steps,
    window_shares,
)
from paretobandit.sim import simulate
from paretobandit.workbench.config import compose

N_TEST = 80
BUDGETS = {"unconstrained": None, "tight": 3e-4}
SEEDS = [9000, 9001]


@pytest.fixture(scope="module")
def tables():
    return synthetic_split(40, N_TEST)


def _kwargs(tables):
    _, test, priors = tables
    return dict(
        features_test=test.features,
        rewards_test=test.rewards,
        costs_test=test.costs,
        models=test.models,
        prices=test.prices,
        priors=priors,
        budgets=BUDGETS,
        seeds=SEEDS,
        router_params={"alpha": 0.01, "forgetting_factor": 0.997, "prior_n_effective": 50.0},
        tabula_rasa={"alpha": 0.05, "gamma": 0.997},
        r_at=20,
        agreement_window=10,
        trace_points=20,
    )


@pytest.fixture(scope="module")
def raw(tables):
    return run_warmup_ablation(**_kwargs(tables))


def _cell(raw, regime, cond):
    return next(c for c in raw["cells"] if c["regime"] == regime and c["condition"] == cond)


def test_streams_are_the_first_permutation_then_integers():
    orders, picks = cold_start_streams([9000], 50, 3)
    g = np.random.default_rng(9000)
    assert np.array_equal(orders[0], g.permutation(50))  # first draw of the generator
    assert np.array_equal(picks[0], g.integers(0, 3, size=50))  # continuing the same generator


def test_cells(raw):
    assert [(c["regime"], c["condition"]) for c in raw["cells"]] == [
        ("unconstrained", "paretobandit"),
        ("unconstrained", "tabula_rasa"),
        ("unconstrained", "random"),
        ("tight", "paretobandit"),
        ("tight", "tabula_rasa"),
    ]  # Random: unconstrained only
    for c in raw["cells"]:
        assert c["per_seed"]["seed"] == SEEDS and len(c["curves"]["cum_regret"]) == len(SEEDS)
        assert np.asarray(c["curves"]["cum_regret"])[:, -1] == pytest.approx(c["per_seed"]["total_regret"])


def test_learners_equal_separate_test_only_runs(tables, raw):
    _, test, priors = tables
    orders, picks = cold_start_streams(SEEDS, N_TEST, 3)
    pri = resolve_priors(priors, test.models, test.features.shape[1])
    oracle = test.rewards.max(axis=1)[orders]
    pb = simulate(
        test.features,
        test.rewards,
        test.costs,
        orders,
        test.prices,
        seeds=SEEDS,
        alpha=0.01,
        gamma=0.997,
        n_eff=50.0,
        cost_penalty=0.0,
        budget=3e-4,
        priors=pri,
    )
    tr = simulate(
        test.features,
        test.rewards,
        test.costs,
        orders,
        test.prices,
        seeds=SEEDS,
        alpha=0.05,
        gamma=0.997,
        cost_penalty=0.0,
        budget=None,
        priors=None,
    )
    for res, cell in (
        (pb, _cell(raw, "tight", "paretobandit")),
        (tr, _cell(raw, "unconstrained", "tabula_rasa")),
    ):
        regret = oracle - res.reward
        ps = cell["per_seed"]
        assert ps["total_regret"] == pytest.approx(regret.sum(axis=1).tolist(), rel=1e-12)
        assert ps["r_at"] == pytest.approx(regret[:, :20].sum(axis=1).tolist(), rel=1e-12)
        hit = np.abs(res.reward - oracle) < 1e-9
        assert ps["oracle_agreement"] == pytest.approx(hit[:, -10:].mean(axis=1).tolist())
    rnd = _cell(raw, "unconstrained", "random")["per_seed"]
    r = test.rewards[orders, picks]
    assert rnd["mean_reward"] == pytest.approx(r.mean(axis=1).tolist())
    assert rnd["total_regret"] == pytest.approx((oracle - r).sum(axis=1).tolist())


def _fake(regimes):
    cells = []
    for regime, (w, t) in regimes.items():
        for cond, v in (("paretobandit", w), ("tabula_rasa", t)):
            cells.append(
                {
                    "regime": regime,
                    "condition": cond,
                    "per_seed": {
                        "total_regret": v,
                        "r_at": [x / 10 for x in v],
                        "mean_reward": [0.9] * len(v),
                        "oracle_agreement": [0.5] * len(v),
                    },
                }
            )
    return {"budgets": {g: None for g in regimes}, "cells": cells}


def test_paired_tests_by_hand():
    raw = _fake(
        {
            "a": ([9.0, 10.0, 11.0, 10.0], [20.0, 12.0, 10.0, 50.0]),
            "b": ([5.0, 6.0, 7.0, 8.0], [5.0, 6.0, 7.0, 8.0]),
        }
    )
    an = analyse_warmup_ablation(raw, bootstrap={"n_resamples": 200})
    a, b = an["tests"]["a"], an["tests"]["b"]
    # TR − W = [11, 2, −1, 40]: 3 wins of 4, one-sided P(X >= 3) = 5/16
    assert (a["sign_wins"], a["sign_n"], a["sign_p"]) == (3, 4, pytest.approx(5 / 16))
    assert (b["sign_wins"], b["sign_n"], b["sign_p"]) == (0, 0, 1.0)
    assert a["sign_p_holm"] == pytest.approx(5 / 8) and b["sign_p_holm"] == 1.0  # Holm over 2
    # pooled median of [9,10,11,10,20,12,10,50] = 10.5 -> threshold 21; only TR's 50 is above
    assert a["cat_threshold"] == 21.0 and (a["cat_warmup"], a["cat_tabula_rasa"]) == (0, 1)
    assert a["fisher_p"] == pytest.approx(0.5)  # [[0, 4], [1, 3]]: C(4,1)/C(8,1)
    assert a["reduction_pct"] == pytest.approx((1 - 10 / 23) * 100)
    assert a["delta_regret"]["mean"] == pytest.approx(13.0)
    assert a["delta_r_at"]["mean"] == pytest.approx(1.3)
    assert an["bonferroni_level"] == pytest.approx(0.975)
    c = an["conditions"]["a"]["paretobandit"]["total_regret"]
    assert c["sd"] == pytest.approx(np.sqrt(0.5)) and c["se"] == pytest.approx(np.sqrt(0.5) / 2)  # ddof 0


def test_helpers_and_errors(tables):
    assert oracle_rewards([[0.1, 0.5], [0.9, 0.2]]).tolist() == [0.5, 0.9]
    assert sampled_steps(3, 10).tolist() == [0, 1, 2]
    shares = window_shares(np.array([[0, 1, 1, 2]]), 3, 2)
    assert shares[:, 0].tolist() == [1, 0, 0] and shares[:, 3].tolist() == [0, 0.5, 0.5]
    kw = _kwargs(tables)
    with pytest.raises(ConfigError):
        run_warmup_ablation(**{**kw, "priors": None})
    with pytest.raises(ConfigError):
        run_warmup_ablation(**{**kw, "budgets": {"bad": -1.0, "u": None}})
    with pytest.raises(ConfigError, match="unconstrained"):
        run_warmup_ablation(**{**kw, "budgets": {"tight": 3e-4}})


def test_preset():
    exp = compose(["experiment=warmup_ablation", "scale=ci"]).experiment
    tr = compose(["router=tabula_rasa"]).router
    assert exp.tabula_rasa.alpha == tr.params.alpha == 0.05
    assert exp.tabula_rasa.gamma == tr.params.forgetting_factor == 0.997 and tr.priors is None
    assert exp.seed_offset == 9000 and list(exp.budgets) == ["unconstrained", "tight", "moderate", "loose"]
    assert exp.budgets.unconstrained is None and exp.budgets.moderate == 6.62e-4 and exp.r_at == 200


def test_report_and_publish(tmp_path, raw):
    from paretobandit.workbench.publish import publish
    from paretobandit.workbench.report_warmup_ablation import TABLE_COLUMNS, summarise_warmup_ablation

    summary, rows = summarise_warmup_ablation(raw, bootstrap={"n_resamples": 500})
    assert len(rows) == 5 and set(rows[0]) <= set(TABLE_COLUMNS)
    for col in (
        "regime",
        "condition",
        "regret_mean",
        "regret_sd",
        "regret_median",
        "r200_mean",
        "mean_reward",
        "sign_wins",
        "sign_p_holm",
    ):
        assert col in rows[0]
    cfg = compose(["experiment=warmup_ablation", "scale=ci"], root=tmp_path)
    out = tmp_path / "results" / "_ci" / "warmup_ablation"
    publish(cfg, seeds=SEEDS, per_seed=raw, summary=summary, table=rows, columns=TABLE_COLUMNS)
    first = (out / "results.json").read_bytes()
    publish(cfg, seeds=SEEDS, per_seed=raw, summary=summary, table=rows, columns=TABLE_COLUMNS)
    assert (out / "results.json").read_bytes() == first
    for fig in ("cumulative_regret", "arm_share"):
        assert (out / "figures" / f"{fig}.png").stat().st_size > 0
    tex = (tmp_path / "results" / "_ci" / "macros" / "warmup_ablation.tex").read_text()
    assert r"\newcommand{\AppWarmupTightTestsSignWins}" in tex
    assert r"\newcommand{\AppWarmupHeadlinesNSeeds}{2}" in tex


def test_deterministic(tables, raw):
    from paretobandit.workbench.results import dumps

    assert dumps(run_warmup_ablation(**_kwargs(tables))) == dumps(raw)
