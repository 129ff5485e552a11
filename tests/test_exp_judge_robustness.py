"""Appendix judge robustness: Lin's CCC, best-arm choice, pairwise agreement, report, real data."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from paretobandit.errors import ConfigError, DataError, DimensionMismatchError
from paretobandit.experiments.judge_robustness import (
    best_arm_choice,
    judge_summary,
    lins_ccc,
    pair_agreement,
    run_judge_robustness,
)
from paretobandit.workbench.report_judge_robustness import TABLE_COLUMNS, summarise_judge_robustness
from paretobandit.workbench.results import dumps


# ------------------------------------------------------------------------------------- Lin's CCC
def test_ccc_known_values():
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    assert lins_ccc(x, x) == pytest.approx(1.0)
    assert lins_ccc(x, -x) == pytest.approx(-1.0 * 2 * x.var() / (2 * x.var() + (2 * x.mean()) ** 2))
    # shift by c: 2s²/(2s² + c²); population variance of 1..5 is 2
    assert lins_ccc(x, x + 1.0) == pytest.approx(4.0 / (4.0 + 1.0))
    # scale: y = 2x → 2·2s²/(s² + 4s² + (x̄)²) = 8/(2 + 8 + 9)
    assert lins_ccc(x, 2 * x) == pytest.approx(8.0 / 19.0)
    # hand formula on random data; symmetric; ≤ |Pearson|
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=200), rng.normal(size=200) * 0.5 + 0.3
    sab = np.mean((a - a.mean()) * (b - b.mean()))
    assert lins_ccc(a, b) == pytest.approx(2 * sab / (a.var() + b.var() + (a.mean() - b.mean()) ** 2))
    assert lins_ccc(a, b) == pytest.approx(lins_ccc(b, a))
    assert abs(lins_ccc(a, b)) <= abs(stats.pearsonr(a, b).statistic) + 1e-12
    # equal means and variances ⇒ CCC = Pearson
    z = (b - b.mean()) / b.std() * a.std() + a.mean()
    assert lins_ccc(a, z) == pytest.approx(stats.pearsonr(a, z).statistic)


def test_ccc_edge_cases():
    assert np.isnan(lins_ccc([1.0, 1.0], [1.0, 1.0]))
    assert lins_ccc([1.0, 1.0], [0.0, 0.0]) == 0.0
    with pytest.raises(DimensionMismatchError):
        lins_ccc([1.0, 2.0], [1.0])
    with pytest.raises(ConfigError):
        lins_ccc([1.0, np.nan], [1.0, 2.0])


# ------------------------------------------------------------------------------------- per-judge / pairs
def test_best_arm_choice_breaks_ties_towards_tie_order():
    r = np.array([[0.5, 0.9, 0.9], [1.0, 1.0, 1.0], [0.2, 0.1, 0.3]])
    assert best_arm_choice(r, [0, 1, 2]).tolist() == [1, 0, 2]
    assert best_arm_choice(r, [2, 1, 0]).tolist() == [2, 2, 2]
    with pytest.raises(ConfigError):
        best_arm_choice(r, [0, 0, 1])


def test_judge_summary_and_pair():
    r = np.array([[0.5, 0.9, 0.8], [0.7, 0.6, 1.0], [0.4, 0.8, 0.8]])
    s = judge_summary(["a", "b", "c"], r)
    assert s["ordering"] == ["c", "b", "a"] and s["oracle"] == pytest.approx((0.9 + 1.0 + 0.8) / 3)
    assert s["best_fixed_capture"] == pytest.approx(r[:, 2].mean() / s["oracle"])
    same = pair_agreement(["a", "b", "c"], r, r, [0, 1, 2])
    assert same["pooled"]["ccc"] == pytest.approx(1.0) and same["cross_oracle_capture"] == pytest.approx(1.0)
    assert same["orderings_agree"] and same["best_set_overlap"] == 1.0
    other = r[:, ::-1].copy()
    p = pair_agreement(["a", "b", "c"], r, other, [0, 1, 2])
    choice = best_arm_choice(other, [0, 1, 2])
    assert p["follow_b_reward"] == pytest.approx(r[np.arange(3), choice].mean())
    assert p["pooled"]["spearman"] == pytest.approx(stats.spearmanr(r.ravel(), other.ravel()).statistic)
    assert p["pooled"]["kendall"] == pytest.approx(stats.kendalltau(r.ravel(), other.ravel()).statistic)


def _tables(n=40, seed=0):
    rng = np.random.default_rng(seed)
    base = np.clip(np.array([0.8, 0.9, 0.93]) + rng.normal(scale=0.1, size=(n, 3)), 0, 1)
    costs = np.tile([3e-5, 5e-4, 1.5e-2], (n, 1))
    prompts = [f"p{i}" for i in range(n)]
    out = {}
    for split, shift in (("val", 0.0), ("test", 0.01)):
        out[split] = {j: {"models": ["l", "m", "p"], "prompts": prompts, "costs": costs,
                          "rewards": np.round(np.clip(base + shift + noise * rng.normal(size=base.shape),
                                                      0, 1) * 20) / 20}
                      for j, noise in (("r1", 0.0), ("gpt_mini", 0.05), ("claude", 0.1))}
    return out


def test_run_report_and_determinism():
    tables = _tables()
    raw = run_judge_robustness(tables)
    assert dumps(raw) == dumps(run_judge_robustness(_tables()))
    assert set(raw["splits"]) == {"val", "test"} and len(raw["splits"]["val"]["pairs"]) == 6
    pairs = raw["splits"]["val"]["pairs"]
    assert pairs["r1|gpt_mini"]["pooled"]["ccc"] == pytest.approx(pairs["gpt_mini|r1"]["pooled"]["ccc"])
    summary, rows = summarise_judge_robustness(raw, shorts={"l": "llama", "m": "mistral", "p": "pro"})
    assert len(rows) == 2 * (3 + 3) and set(rows[0]) <= set(TABLE_COLUMNS) >= set(rows[-1])
    h = summary["headlines"]
    assert -1 <= h["min_ccc"] <= h["max_ccc"] <= 1 and 0 < h["min_cross_capture"] <= 1
    assert summary["test"]["r1_vs_claude"]["capture_a_following_b"] == pytest.approx(
        raw["splits"]["test"]["pairs"]["r1|claude"]["cross_oracle_capture"])


def test_misaligned_judges_are_rejected():
    tables = _tables()
    tables["val"]["claude"] = {**tables["val"]["claude"], "prompts": tables["val"]["claude"]["prompts"][::-1]}
    with pytest.raises(DataError):
        run_judge_robustness(tables)
    with pytest.raises(ConfigError):
        run_judge_robustness(_tables(), judges=["r1"])
    with pytest.raises(ConfigError):
        run_judge_robustness(_tables(), judges=["r1", "gemini"])


@pytest.mark.realdata
def test_real_judges():
    from paretobandit.data import data_root
    from paretobandit.experiments.judge_robustness import load_judge_tables

    root = data_root() / "judges"
    if not (root / "cross_judge_claude_test.jsonl").is_file():
        pytest.skip("reference data missing: run `paretobandit data fetch`")
    raw = run_judge_robustness(load_judge_tables(str(root / "cross_judge_{judge}_{split}.jsonl")))
    test = raw["splits"]["test"]
    assert test["n"] == 1328 and raw["splits"]["val"]["n"] == 672
    # every judge ranks Pro > Mistral > Llama on both splits
    assert all(s["orderings_agree_all"] for s in raw["splits"].values())
    assert test["judges"]["r1"]["ordering"][0] == "google/gemini-2.5-pro"
    for pair in test["pairs"].values():
        assert 0.3 < pair["pooled"]["ccc"] < 1.0
