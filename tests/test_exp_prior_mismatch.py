"""Appendix prior mismatch: prior construction, per-run priors in one batch, metrics, report (synthetic)."""

from __future__ import annotations

import numpy as np
import pytest

from paretobandit import kernels
from paretobandit.errors import ConfigError
from paretobandit.experiments.prior_mismatch import (
    PRIOR_SETS,
    build_prior_sets,
    invert_prior,
    run_prior_mismatch,
)
from paretobandit.sim import Priors, simulate, warmup_test_streams
from paretobandit.sim.synthetic import synthetic_tables
from paretobandit.workbench.config import compose

N_VAL, N_TEST = 60, 70
SEEDS = [9000, 9001]
BUDGET = 6.62e-4


@pytest.fixture(scope="module")
def tables():
    val = synthetic_tables(N_VAL, d=6, k=3, seed=1)
    test = synthetic_tables(N_TEST, d=6, k=3, seed=2)
    train = synthetic_tables(150, d=6, k=3, seed=3)
    a_off, b_off = kernels.offline_statistics(train.features, train.rewards, 0.1)
    # released file order differs from the tables' (like priors_k3_d26.npz): reversed
    released = (val.models[::-1], a_off[::-1], b_off[::-1])
    sources = np.array(["mmlu", "gsm8k", "arc"])[np.arange(N_VAL) % 3].tolist()
    return val, test, train, released, sources


@pytest.fixture(scope="module")
def sets(tables):
    val, _, _, released, sources = tables
    return build_prior_sets(released=released, features_val=val.features, rewards_val=val.rewards,
                            sources_val=sources, models=val.models, random_seed=0)


def test_inverted_prior_is_exact(tables):
    _, _, train, _, _ = tables
    a, b = kernels.offline_statistics(train.features, train.rewards, 0.1)
    a_inv, b_inv = invert_prior(a, b, 0.1)
    a_ref, b_ref = kernels.offline_statistics(train.features, 1.0 - train.rewards, 0.1)
    assert np.array_equal(a_inv, a) and np.allclose(b_inv, b_ref, atol=1e-10) and np.allclose(a_ref, a)


def test_prior_sets(tables, sets):
    val, _, train, _, sources = tables
    assert list(sets) == list(PRIOR_SETS)
    a, b = kernels.offline_statistics(train.features, train.rewards, 0.1)
    assert np.allclose(sets["calibrated"].a_off, a) and np.allclose(sets["calibrated"].b_off, b)  # realigned
    assert np.allclose(sets["inverted"].b_off, invert_prior(a, b)[1])
    rows = np.array(sources) == "gsm8k"
    ref = kernels.offline_statistics(val.features[rows], val.rewards[rows], 0.1)
    assert np.array_equal(sets["gsm8k_only"].a_off, ref[0])
    assert np.array_equal(sets["gsm8k_only"].b_off, ref[1])
    u = np.random.default_rng(0).uniform(size=val.rewards.shape)
    assert np.array_equal(sets["random"].b_off, kernels.offline_statistics(val.features, u, 0.1)[1])
    with pytest.raises(ConfigError):
        build_prior_sets(released=tables[3], features_val=val.features, rewards_val=val.rewards,
                         sources_val=["arc"] * N_VAL, models=val.models, sets=["mmlu_only"])
    with pytest.raises(ConfigError):
        build_prior_sets(released=tables[3], features_val=val.features, rewards_val=val.rewards,
                         sources_val=sources, models=val.models, sets=["oracle"])


@pytest.fixture(scope="module")
def raw(tables, sets):
    val, test, _, _, _ = tables
    return run_prior_mismatch(features_val=val.features, rewards_val=val.rewards, costs_val=val.costs,
                              features_test=test.features, rewards_test=test.rewards, costs_test=test.costs,
                              models=val.models, prices=val.prices, budget=BUDGET, seeds=SEEDS,
                              prior_sets=sets, n_effs=[10, 1000], router_params={"alpha": 0.01})


def test_cells_equal_separate_runs(tables, sets, raw):
    val, test, _, _, _ = tables
    blocks = [(c["prior"], c["n_eff"]) for c in raw["cells"]]
    assert blocks == [(p, v) for p in PRIOR_SETS for v in (10.0, 1000.0)] + [("none", None)]
    feats = np.vstack([val.features, test.features])
    rewards, costs = np.vstack([val.rewards, test.rewards]), np.vstack([val.costs, test.costs])
    streams = warmup_test_streams(SEEDS, N_VAL, N_TEST)
    oracle = rewards.max(axis=1)
    for (prior, n_eff) in (("inverted", 1000.0), ("mmlu_only", 10.0), ("none", None)):
        pri = None if prior == "none" else sets[prior]
        res = simulate(feats, rewards, costs, streams, val.prices, seeds=SEEDS, alpha=0.01, cost_penalty=0.0,
                       budget=BUDGET, priors=pri, n_eff=n_eff)
        ps = next(c for c in raw["cells"] if c["prior"] == prior and c["n_eff"] == n_eff)["per_seed"]
        assert ps["mean_reward"] == pytest.approx(res.reward[:, N_VAL:].mean(axis=1).tolist(), rel=1e-12)
        util = res.cost[:, N_VAL:].mean(axis=1) / BUDGET
        assert ps["cost_ratio"] == pytest.approx(util.tolist(), rel=1e-12)
        regret = oracle[streams] - res.reward
        assert ps["test_regret"] == pytest.approx(regret[:, N_VAL:].sum(axis=1).tolist(), rel=1e-12)
    implied = raw["prior_implied_reward"]
    assert implied["inverted"]["arm0"] == pytest.approx(
        1 - implied["calibrated"]["arm0"], abs=0.05)      # mean of (1 − r) ≈ 1 − mean of r


def test_errors(tables, sets):
    val, test, _, _, _ = tables
    kw = dict(features_val=val.features, rewards_val=val.rewards, costs_val=val.costs,
              features_test=test.features, rewards_test=test.rewards, costs_test=test.costs,
              models=val.models, prices=val.prices, seeds=SEEDS, prior_sets=sets)
    with pytest.raises(ConfigError):
        run_prior_mismatch(budget=-1.0, **kw)
    with pytest.raises(ConfigError):
        run_prior_mismatch(budget=BUDGET, n_effs=[0.0], **kw)
    assert isinstance(sets["random"], Priors)


def test_preset():
    exp = compose(["experiment=prior_mismatch", "scale=ci"]).experiment
    assert list(exp.prior_sets) == list(PRIOR_SETS) and list(exp.n_effs) == [10, 100, 1000]
    assert exp.seed_offset == 9000 and exp.budget == 6.62e-4 and exp.budget_name == "moderate"


def test_report_and_publish(tmp_path, raw):
    from paretobandit.workbench.publish import publish
    from paretobandit.workbench.report_prior_mismatch import TABLE_COLUMNS, cell_key, summarise_prior_mismatch

    assert cell_key(10.0) == "neff_10" and cell_key(None) == "no_prior" and cell_key(0.5) == "neff_0p5"
    shorts = {"arm0": "llama", "arm1": "mistral", "arm2": "pro"}
    summary, rows = summarise_prior_mismatch(raw, shorts=shorts)
    assert len(rows) == 11 and set(rows[0]) == set(TABLE_COLUMNS)
    h = summary["headlines"]
    worst = h["neff_1000_worst_prior"]
    assert h["neff_1000_worst_reward_gap"] == pytest.approx(
        summary["calibrated"]["neff_1000"]["mean_reward"] - summary[worst]["neff_1000"]["mean_reward"])
    assert "no_prior_reward" in h
    cfg = compose(["experiment=prior_mismatch", "scale=ci"], root=tmp_path)
    out = tmp_path / "results" / "_ci" / "prior_mismatch"
    for _ in range(2):
        publish(cfg, seeds=SEEDS, per_seed=raw, summary=summary, table=rows, columns=TABLE_COLUMNS)
        data = (out / "results.json").read_bytes()
    publish(cfg, seeds=SEEDS, per_seed=raw, summary=summary, table=rows, columns=TABLE_COLUMNS)
    assert (out / "results.json").read_bytes() == data
    for fig in ("reward", "cost_ratio"):
        assert (out / "figures" / f"{fig}.png").stat().st_size > 0
    tex = (tmp_path / "results" / "_ci" / "macros" / "prior_mismatch.tex").read_text()
    assert r"\newcommand{\AppPriorMismatchCalibratedNeffTenMeanReward}" in tex
