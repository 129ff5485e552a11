"""Appendix cost-heuristic validation: rank agreement, per-prompt pairwise agreement, report, real data."""

from __future__ import annotations

import numpy as np
import pytest

from paretobandit.errors import DimensionMismatchError
from paretobandit.experiments.cost_heuristic import (
    cost_heuristic_table,
    pairwise_agreement,
    rank_agreement,
    run_cost_heuristic,
)
from paretobandit.kernels import blended_price, normalised_cost
from paretobandit.sim.synthetic import synthetic_tables
from paretobandit.workbench.report_cost_heuristic import TABLE_COLUMNS, summarise_cost_heuristic
from paretobandit.workbench.results import dumps

PRICES = {"a": (0.1, 0.1), "b": (0.5, 1.5), "c": (1.25, 10.0)}


def test_rank_agreement_values():
    same = rank_agreement([0.0, 0.3, 0.6], [1e-5, 1e-4, 1e-2])
    assert same["spearman"] == pytest.approx(1.0) and same["kendall"] == pytest.approx(1.0)
    assert same["orderings_agree"]
    swap = rank_agreement([0.0, 0.3, 0.6], [1e-5, 1e-2, 1e-4])
    assert swap["spearman"] == pytest.approx(0.5) and swap["kendall"] == pytest.approx(1 / 3)
    assert not swap["orderings_agree"]
    rev = rank_agreement([0.0, 0.3, 0.6, 0.9], [4, 3, 2, 1])
    assert rev["spearman"] == pytest.approx(-1.0) and rev["kendall"] == pytest.approx(-1.0)
    assert np.isnan(rank_agreement([1.0, 1.0], [1.0, 2.0])["spearman"])
    with pytest.raises(DimensionMismatchError):
        rank_agreement([1.0, 2.0], [1.0])


def test_pairwise_agreement_counts_ties_as_half():
    nc = [0.0, 0.5]
    costs = np.array([[1.0, 2.0], [2.0, 1.0], [1.0, 1.0], [0.0, 3.0]])
    assert pairwise_agreement(nc, costs) == pytest.approx((1 + 0 + 0.5 + 1) / 4)
    # equal c̃: no pair to judge
    assert np.isnan(pairwise_agreement([0.2, 0.2], costs))


def test_table_matches_kernels_and_spec_values():
    rng = np.random.default_rng(0)
    costs = np.column_stack([rng.lognormal(np.log(3e-5), 0.3, 50), rng.lognormal(np.log(5e-4), 0.3, 50),
                             rng.lognormal(np.log(1.5e-2), 0.3, 50)])
    t = cost_heuristic_table(models=["a", "b", "c"], prices=PRICES, costs=costs)
    pm = t["per_model"]
    # SPEC §1.3: Llama 0.000, Mistral 0.333, Pro 0.583
    assert [round(pm[m]["normalised_cost"], 3) for m in "abc"] == [0.0, 0.333, 0.583]
    p = blended_price(1.25, 10.0)
    assert pm["c"]["blended_price"] == pytest.approx(p)
    assert pm["c"]["normalised_cost"] == pytest.approx(float(normalised_cost(p)))
    assert pm["b"]["mean_cost"] == pytest.approx(costs[:, 1].mean())
    assert t["orderings_agree"] and t["spearman"] == pytest.approx(1.0)
    assert t["order_normalised_cost"] == ["a", "b", "c"] == t["order_mean_cost"]
    assert 0.99 < t["pairwise_agreement"] <= 1.0
    assert set(t["pairwise_by_pair"]) == {"a|b", "a|c", "b|c"}
    assert np.mean(list(t["pairwise_by_pair"].values())) == pytest.approx(t["pairwise_agreement"])
    # a swapped catalog is caught
    bad = cost_heuristic_table(models=["a", "b", "c"], prices={**PRICES, "b": (5.0, 50.0)}, costs=costs)
    assert not bad["orderings_agree"] and bad["spearman"] == pytest.approx(0.5)


def test_synthetic_run_report_and_determinism():
    val, test = synthetic_tables(60, d=4, k=3, seed=1), synthetic_tables(70, d=4, k=4, seed=2)
    prices4 = {f"arm{j}": tuple(test.prices[j]) for j in range(4)}
    tables = {"val": {"portfolio": "k3", "models": val.models, "prices": val.prices, "costs": val.costs},
              "test_k4": {"portfolio": "k4", "models": test.models, "prices": prices4, "costs": test.costs}}
    raw = run_cost_heuristic(tables)
    assert dumps(raw) == dumps(run_cost_heuristic(tables))
    shorts = {f"arm{j}": f"m{j}" for j in range(4)}
    summary, rows = summarise_cost_heuristic(raw, shorts=shorts)
    assert len(rows) == 3 + 4 and set(TABLE_COLUMNS) <= set(rows[0])
    assert summary["headlines"]["n_tables"] == 2
    assert summary["val"]["m0"]["ctilde"] == pytest.approx(raw["tables"]["val"]["per_model"]["arm0"]
                                                           ["normalised_cost"])
    assert isinstance(summary["headlines"]["all_orderings_agree"], bool)


@pytest.mark.realdata
def test_real_tables_order_as_catalog():
    from paretobandit.data import data_root
    from paretobandit.experiments.cost_heuristic import load_cost_tables

    if not (data_root() / "rewards" / "test_k4.jsonl").is_file():
        pytest.skip("reference data missing: run `paretobandit data fetch`")
    specs = {"test": {"portfolio": "k3", "catalog": "models_k3"},
             "test_k4": {"portfolio": "k4", "catalog": "models_k4"}}
    raw = run_cost_heuristic(load_cost_tables(specs))
    test = raw["tables"]["test"]["per_model"]
    # SPEC §2: test mean cost 2.9e-5 / 5.3e-4 / 1.5e-2 $; §1.3: Flash c̃ = 0.382
    assert test["meta-llama/llama-3.1-8b-instruct"]["mean_cost"] == pytest.approx(2.86e-5, rel=0.01)
    assert test["google/gemini-2.5-pro"]["mean_cost"] == pytest.approx(1.516e-2, rel=0.01)
    flash = raw["tables"]["test_k4"]["per_model"]["google/gemini-2.5-flash"]
    assert round(flash["normalised_cost"], 3) == 0.382
    assert all(t["orderings_agree"] for t in raw["tables"].values())
    # per prompt, Flash vs Mistral is the only pair that often disagrees with the catalog order
    pairs = raw["tables"]["test_k4"]["pairwise_by_pair"]
    flash_mistral = "mistralai/mistral-large-2512|google/gemini-2.5-flash"
    assert pairs[flash_mistral] < 1.0
    assert all(v > 0.99 for k, v in pairs.items() if k != flash_mistral)
