"""Appendix prior mismatch (§A4): stored priors, conditions, paired tests and report."""

from __future__ import annotations

import numpy as np
import pytest
from _helpers import synthetic_split

from paretobandit.errors import ConfigError, DataError
from paretobandit.experiments.common import align_priors
from paretobandit.experiments.prior_mismatch import (
    analyse_prior_mismatch,
    load_prior_levels,
    run_prior_mismatch,
)
from paretobandit.experiments.warmup_ablation import cold_start_streams
from paretobandit.priors import save_priors
from paretobandit.sim import simulate
from paretobandit.workbench.config import compose

N_TEST = 60
SEEDS = [9000, 9001]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    _, test, (models, a_off, b_off) = synthetic_split(40, N_TEST)
    folder = tmp_path_factory.mktemp("priors")
    # stored file order differs from the table order: the loader must align by model id
    save_priors(folder / "good.npz", models[::-1], a_off[::-1], b_off[::-1])
    save_priors(folder / "bad.npz", models, a_off, -b_off)
    levels = load_prior_levels({"good": folder / "good.npz", "bad": folder / "bad.npz"}, test.models)
    raw = run_prior_mismatch(
        features_test=test.features,
        rewards_test=test.rewards,
        costs_test=test.costs,
        models=test.models,
        prices=test.prices,
        seeds=SEEDS,
        prior_levels=levels,
        n_effs=[10.0, 100.0],
        r_at=20,
    )
    return test, (models, a_off, b_off), levels, raw


def test_loader_aligns_by_model_id(setup):
    _, (models, a_off, b_off), levels, _ = setup
    assert np.array_equal(levels["good"].a_off, a_off) and np.array_equal(levels["good"].b_off, b_off)
    with pytest.raises(DataError):
        load_prior_levels({"x": "/nonexistent/priors.npz"}, models)


def test_conditions_equal_separate_runs(setup):
    test, (models, a_off, b_off), _, raw = setup
    assert [(c["prior"], c["n_eff"], c["alpha"]) for c in raw["cells"]] == [
        ("good", 10.0, 0.01),
        ("good", 100.0, 0.01),
        ("bad", 10.0, 0.01),
        ("bad", 100.0, 0.01),
        ("tabula_rasa", None, 0.05),
        ("tabula_rasa_matched", None, 0.01),
    ]
    orders, _ = cold_start_streams(SEEDS, N_TEST, 3)
    oracle = test.rewards.max(axis=1)[orders]
    pri = align_priors(models, a_off, -b_off, test.models)
    res = simulate(
        test.features,
        test.rewards,
        test.costs,
        orders,
        test.prices,
        seeds=SEEDS,
        alpha=0.01,
        gamma=0.997,
        n_eff=100.0,
        cost_penalty=0.0,
        budget=None,
        priors=pri,
    )
    assert raw["cells"][3]["per_seed"]["total_regret"] == pytest.approx(
        (oracle - res.reward).sum(axis=1).tolist(), rel=1e-12
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
    )
    assert raw["cells"][4]["per_seed"]["r_at"] == pytest.approx(
        (oracle - tr.reward)[:, :20].sum(axis=1).tolist()
    )


def _fake(regrets):
    return {
        "baselines": ["tabula_rasa", "tabula_rasa_matched"],
        "cells": [
            {"prior": p, "n_eff": n, "per_seed": {"total_regret": v, "r_at": v, "mean_reward": v}}
            for (p, n), v in regrets.items()
        ],
    }


def test_tests_and_derived_by_hand():
    raw = _fake(
        {
            ("good", 10.0): [5.0, 6.0, 7.0, 8.0],
            ("bad", 10.0): [30.0, 31.0, 9.0, 40.0],
            ("tabula_rasa", None): [10.0, 10.0, 10.0, 10.0],
            ("tabula_rasa_matched", None): [8.0, 9.0, 11.0, 12.0],
        }
    )
    an = analyse_prior_mismatch(raw, bootstrap={"n_resamples": 300})
    assert an["thresholds"] == {"code": 20.0, "text": 20.0}  # 2 × median(8, 9, 11, 12) = 2 × 10
    good, bad = an["tests"]["code"]["tabula_rasa"]
    # good: 4 wins of 4, two-sided p = 2/16; bad: 1 win of 4, two-sided p = 2·5/16 -> 0.625
    assert (good["sign_wins"], good["sign_p"]) == (4, pytest.approx(2 / 16))
    assert (bad["sign_wins"], bad["sign_p"]) == (1, pytest.approx(10 / 16))
    assert good["sign_p_holm"] == pytest.approx(0.25) and bad["sign_p_holm"] == pytest.approx(0.625)
    assert (bad["cat_cond"], bad["cat_base"]) == (3, 0)
    assert bad["fisher_p"] == pytest.approx(1.0)  # the condition has MORE catastrophes
    assert bad["delta_median"] == pytest.approx(np.median([20.0, 21.0, -1.0, 30.0]))
    d_good = next(d for d in an["derived"] if d["prior"] == "good")
    assert d_good["reduction_pct"] == pytest.approx((1 - 6.5 / 10) * 100)
    assert d_good["reduction_ci_low"] <= d_good["reduction_pct"] <= d_good["reduction_ci_high"]
    assert next(d for d in an["derived"] if d["prior"] == "bad")["excess"] == pytest.approx(30.5 - 10)


def test_errors(setup):
    test, _, levels, _ = setup
    kw = dict(
        features_test=test.features,
        rewards_test=test.rewards,
        costs_test=test.costs,
        models=test.models,
        prices=test.prices,
        seeds=SEEDS,
        prior_levels=levels,
    )
    with pytest.raises(ConfigError):
        run_prior_mismatch(**kw, n_effs=[0.0])
    with pytest.raises(ConfigError):
        run_prior_mismatch(**kw, r_at=0)


def test_preset_and_report(tmp_path, setup):
    exp = compose(["experiment=prior_mismatch", "scale=ci"]).experiment
    assert list(exp.priors) == ["calibrated", "random_1680", "mmlu_only", "gsm8k_only", "inverted"]
    assert list(exp.n_effs) == [10, 100, 1000] and exp.seed_offset == 9000
    assert exp.baselines.tabula_rasa.alpha == 0.05 and exp.baselines.tabula_rasa_matched.alpha == 0.01
    from paretobandit.workbench.publish import publish
    from paretobandit.workbench.report_prior_mismatch import TABLE_COLUMNS, summarise_prior_mismatch

    raw = setup[3]
    summary, rows, analysis = summarise_prior_mismatch(raw, bootstrap={"n_resamples": 300})
    assert [r["n_eff"] for r in rows] == [10, 100, 10, 100, None, None]
    for col in ("prior", "n_eff", "regret_median", "regret_mean", "regret_sd", "r200_mean", "mean_reward"):
        assert col in TABLE_COLUMNS
    cfg = compose(["experiment=prior_mismatch", "scale=ci"], root=tmp_path)
    publish(
        cfg,
        seeds=SEEDS,
        per_seed=raw,
        summary=summary,
        table=rows,
        columns=TABLE_COLUMNS,
        extra={"analysis": analysis},
    )
    out = tmp_path / "results" / "_ci" / "prior_mismatch"
    assert (out / "figures" / "median_regret.png").stat().st_size > 0
    tex = (tmp_path / "results" / "_ci" / "macros" / "prior_mismatch.tex").read_text()
    assert r"\newcommand{\AppPriorMismatchGoodNeffTenRegretMedian}" in tex
