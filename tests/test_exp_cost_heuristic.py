"""Appendix cost-heuristic validation (docs/PROTOCOLS.md §A2): hand-checked statistics, report, real data."""

from __future__ import annotations

import numpy as np
import pytest

from paretobandit.errors import DataError, DimensionMismatchError
from paretobandit.experiments.cost_heuristic import (
    CostTable,
    analyse_portfolio,
    cost_distribution,
    full_order_match,
    log_separation,
    pairwise_order,
    run_cost_heuristic,
    shared_subset,
    spearman_table,
)
from paretobandit.workbench.report_cost_heuristic import CHECKS, TABLE_COLUMNS, summarise_cost_heuristic
from paretobandit.workbench.results import dumps
from paretobandit.workbench.stats import wilson_interval

PRICES = np.array([[0.1, 0.1], [0.5, 1.5], [1.25, 10.0]])      # c̃ = 0, 1/3, 0.5834
# five prompts: matches the heuristic order on 1, 3 (tie a = b, stable sort) and 5
COSTS = np.array([[1.0, 2.0, 3.0], [1.0, 3.0, 2.0], [2.0, 2.0, 3.0], [3.0, 2.0, 1.0], [1.0, 2.0, 3.0]])
PROMPTS = ("one", "one two", "a b c", "w x y z", "v")


def _table(name="k3", costs=COSTS, prompts=PROMPTS, models=("a", "b", "c"), prices=PRICES):
    return CostTable(name, tuple(models), np.asarray(prices, dtype=float), tuple(prompts), np.asarray(costs))


# ------------------------------------------------------------------------------------- Wilson
def test_wilson_interval_hand_values():
    # 8/10, z = 1.96: centre 0.99208/1.38416, half-width 1.96·sqrt(0.025604)/1.38416
    lo, hi = wilson_interval(8, 10)
    assert (lo, hi) == pytest.approx((0.490157, 0.943319), abs=1e-6)
    lo, hi = wilson_interval(0, 10)                    # centre = half-width = 0.19208/1.38416
    assert lo == 0.0 and hi == pytest.approx(0.277540, abs=1e-6)
    lo, hi = wilson_interval(10, 10)
    assert lo == pytest.approx(1 - 0.277540, abs=1e-6) and hi == 1.0
    # 5/10, z = 1: centre (0.5 + 0.05)/1.1 = 0.5, half-width sqrt(0.025 + 0.0025)/1.1
    half = np.sqrt(0.0275) / 1.1
    assert wilson_interval(5, 10, z=1.0) == pytest.approx((0.5 - half, 0.5 + half), abs=1e-12)
    for bad in ((11, 10), (-1, 10), (1, 0), (1.5, 10), (True, 10)):
        with pytest.raises(ValueError):
            wilson_interval(*bad)


# ------------------------------------------------------------------------------------- statistics
def test_full_order_and_pairwise_hand_counts():
    assert full_order_match(COSTS, [0, 1, 2]).tolist() == [True, False, True, False, True]
    assert pairwise_order(COSTS, 0, 1) == {"less": 3, "ties": 1, "greater": 1, "n": 5}
    assert pairwise_order(COSTS, 0, 2) == {"less": 4, "ties": 0, "greater": 1, "n": 5}
    assert pairwise_order(COSTS, 1, 2) == {"less": 3, "ties": 0, "greater": 2, "n": 5}


def test_distribution_hand_values():
    d = cost_distribution(np.array([[1.0], [2.0], [3.0], [4.0]]))
    assert d["mean"] == [2.5] and d["std"][0] == pytest.approx(np.sqrt(1.25))         # ddof 0
    assert d["cv"][0] == pytest.approx(np.sqrt(1.25) / 2.5)
    assert (d["min"], d["p25"], d["p50"], d["p75"], d["max"]) == ([1.0], [1.75], [2.5], [3.25], [4.0])


def test_log_separation_hand_values():
    e = np.exp
    costs = np.array([[1.0, e(2), e(4)], [e(2), e(4), e(8)]])     # ln: means 1, 3, 6; sds 1, 1, 2
    sep = log_separation(costs, [0, 1, 2])
    assert sep["log_mean"] == pytest.approx([1, 3, 6]) and sep["log_std"] == pytest.approx([1, 1, 2])
    d = [p["cohen_d"] for p in sep["adjacent"]]
    assert d == pytest.approx([2.0, 3 / np.sqrt(2.5)])
    assert sep["total_range"] == pytest.approx(5.0)
    assert sep["within_fraction"] == pytest.approx([0.2, 0.2, 0.4])


def test_spearman_hand_value():
    # ranks (1, 2, 3) vs (1, 3, 2): ρ = 1 − 6·2/(3·8) = 0.5
    assert spearman_table([1, 2, 3], [1.0, 3.0, 2.0])["rho"] == pytest.approx(0.5)
    assert np.isnan(spearman_table([1, 1, 1], [1.0, 3.0, 2.0])["rho"])          # undefined, no warning


def test_shared_subset_keeps_order_and_counts():
    small = _table(prompts=("x", "y", "z", "u", "v"))
    large = _table(prompts=("z", "x", "q", "v", "w"))
    sub, dropped = shared_subset(small, large)
    assert sub.prompts == ("x", "z", "v") and dropped == 2
    assert np.array_equal(sub.costs, COSTS[[0, 2, 4]])


def test_analyse_portfolio_hand_values():
    out = analyse_portfolio(_table())
    assert out["heuristic_order"] == ["a", "b", "c"]
    assert out["normalised_cost"] == pytest.approx([0.0, 1 / 3, np.log(56.25) / np.log(1000)], abs=1e-12)
    fo = out["full_order"]
    assert (fo["matches"], fo["n"], fo["fraction"]) == (3, 5, 0.6)
    assert (fo["ci_low"], fo["ci_high"]) == pytest.approx(wilson_interval(3, 5))
    pw = {(p["cheap"], p["dear"]): p for p in out["pairwise"]}
    assert set(pw) == {("a", "b"), ("a", "c"), ("b", "c")}
    assert (pw["a", "b"]["fraction"], pw["a", "b"]["ties"], pw["a", "b"]["tie_fraction"]) == (0.6, 1, 0.2)
    assert pw["a", "c"]["fraction"] == 0.8 and pw["b", "c"]["fraction"] == 0.6
    # word counts 1, 2, 3, 4, 1 vs arm c's costs 3, 2, 3, 1, 3: average ranks (1.5, 3, 4, 5, 1.5) and
    # (4, 2, 4, 1, 4) ⇒ ρ = −6/sqrt(9.5 · 8)
    assert out["spearman_words"][2]["rho"] == pytest.approx(-6 / np.sqrt(76))
    assert [(p["cheap"], p["dear"]) for p in out["log_separation"]["adjacent"]] == [("a", "b"), ("b", "c")]
    # a catalog that swaps b and c: c̃ order a < c < b
    swapped = analyse_portfolio(_table(prices=PRICES[[0, 2, 1]]))
    assert swapped["heuristic_order"] == ["a", "c", "b"]
    assert swapped["full_order"]["matches"] == 1                              # only prompt 2 ([1, 3, 2])


def test_run_drops_nonpositive_and_aligns():
    k4_costs = np.column_stack([COSTS, COSTS[:, 1] * 1.5])
    prices4 = np.vstack([PRICES, [[0.3, 2.5]]])
    k4 = _table("k4", costs=k4_costs[[0, 1, 2, 3]], prompts=PROMPTS[:4], models=("a", "b", "c", "f"),
                prices=prices4)
    bad = COSTS.copy()
    bad[1, 0] = 0.0                                                           # prompt 2 has a zero cost
    raw = run_cost_heuristic({"k3": _table(costs=bad), "k4": k4}, align_to="k4")
    assert raw["rows"]["k3"] == {"loaded": 5, "dropped_nonpositive": 1, "dropped_unshared": 1, "analysed": 3}
    assert raw["rows"]["k4"]["analysed"] == 4
    assert raw["portfolios"]["k4"]["heuristic_order"] == ["a", "b", "f", "c"]
    assert dumps(raw) == dumps(run_cost_heuristic({"k3": _table(costs=bad), "k4": k4}, align_to="k4"))
    with pytest.raises(DataError):
        analyse_portfolio(_table(costs=bad))
    with pytest.raises(DimensionMismatchError):
        _table(costs=COSTS[:, :2])


def test_report_rows_and_headlines():
    k4 = _table("k4", costs=np.column_stack([COSTS, COSTS[:, 1] * 1.5]), models=("a", "b", "c", "f"),
                prices=np.vstack([PRICES, [[0.3, 2.5]]]))
    raw = run_cost_heuristic({"k3": _table(), "k4": k4}, align_to="k4")
    shorts = {"a": "llama", "b": "mistral", "c": "pro", "f": "flash"}
    summary, rows = summarise_cost_heuristic(raw, shorts=shorts, production_cost_penalty=0.3)
    assert all(list(r) == TABLE_COLUMNS for r in rows) and {r["check"] for r in rows} == set(CHECKS)
    by = {(r["portfolio"], r["check"], r["pair"]): r for r in rows}
    assert by["k3", "full_order", ""]["value"] == 0.6
    assert by["k3", "pairwise", "llama<mistral"]["ties"] == 1
    assert by["k4", "pairwise", "mistral<flash"]["value"] == 1.0              # flash = 1.5 × mistral
    assert ("k4", "cohen_d", "mistral<flash") in by and ("k4", "spearman_words", "flash") in by
    assert len([r for r in rows if r["portfolio"] == "k4" and r["check"] == "spearman_cross"]) == 6
    h = summary["headlines"]
    # 0.3 × (c̃_Flash − c̃_Mistral) = 0.3 × (0.3820 − 0.3333)
    assert h["penalty_gap_mistral_flash"] == pytest.approx(0.3 * (0.382 - 1 / 3), abs=1e-4)
    assert h["cohen_d_min"] <= h["cohen_d_max"] and h["n_excluded"] == 0
    assert summary["k4"]["heuristic_order"] == "llama, mistral, flash, pro"


# ------------------------------------------------------------------------------------- real tables
@pytest.mark.realdata
def test_real_val_tables():
    from paretobandit.data import data_root
    from paretobandit.experiments.cost_heuristic import load_cost_tables

    if not (data_root() / "rewards" / "val_k4.jsonl").is_file():
        pytest.skip("reference data missing: run `paretobandit data fetch`")
    specs = {"k3": {"table": "val", "catalog": "models_k3"},
             "k4": {"table": "val_k4", "catalog": "models_k4"}}
    raw = run_cost_heuristic(load_cost_tables(specs), align_to="k4")
    # §A2: 1,785 K = 3 prompts, 19 not in val_k4, both analysed on the shared 1,766; none non-positive
    assert raw["rows"]["k3"] == {"loaded": 1785, "dropped_nonpositive": 0, "dropped_unshared": 19,
                                 "analysed": 1766}
    k3, k4 = raw["portfolios"]["k3"], raw["portfolios"]["k4"]
    assert [round(c, 4) for c in k4["normalised_cost"]] == [0.0, 0.3333, 0.5834, 0.382]
    assert k4["heuristic_order"][2] == "google/gemini-2.5-flash"
    # the K = 3 order never flips per prompt; with Flash only Mistral < Flash does
    assert all(p["fraction"] > 0.99 for p in k3["pairwise"])
    mf = [p for p in k4["pairwise"]
          if p["dear"] == "google/gemini-2.5-flash" and p["cheap"].startswith("mistral")]
    assert mf[0]["fraction"] < 0.99
    assert all(p["fraction"] > 0.99 for p in k4["pairwise"] if p is not mf[0])
    assert k4["full_order"]["matches"] <= mf[0]["less"]
