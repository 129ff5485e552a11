"""Appendix recovery limit (§A6): phases, mean-shift degradation, two horizons, boundary/floor, report."""

from __future__ import annotations

import numpy as np
import pytest
from _helpers import synthetic_split, table_kwargs

from paretobandit.data import data_root, load_reward_table
from paretobandit.errors import ConfigError
from paretobandit.experiments.recovery_limit import (
    DEFAULT_LEVELS,
    degradation_delta,
    recovery_phases,
    run_recovery_limit,
)
from paretobandit.sim import three_phase_prompts
from paretobandit.workbench.report_recovery_limit import (
    TABLE_COLUMNS,
    level_key,
    recovery_boundary,
    split_traces,
    summarise_recovery_limit,
)
from paretobandit.workbench.results import dumps

N_VAL, N_TEST, L = 40, 60, 20
SEEDS = [7000, 7001, 7002]
LEVELS = [0.1, 0.6]


def test_default_levels():
    assert DEFAULT_LEVELS == (0.05, 0.10, 0.20, 0.30, 0.40, 0.50, 0.60, 0.70, 0.75, 0.80, 0.85)


def test_recovery_phases_split_one_permutation():
    ph = recovery_phases(60, 20, 42)
    p1, p2, p3 = three_phase_prompts(60, 20, 42)
    np.testing.assert_array_equal(ph["p1"], p1)  # the Exp 02/03 phases
    np.testing.assert_array_equal(ph["p2"], p2)
    all_rows = np.concatenate([ph["p1"], ph["p2"], ph["extra"]])
    assert sorted(all_rows.tolist()) == list(range(60))  # extra = the 20 prompts in neither phase
    assert recovery_phases(30, 608)["p1"].size == 10  # clamped to n_test // 3


def test_degradation_delta_is_a_mean_shift():
    r = np.array([0.2, 0.4, 0.9])
    d = degradation_delta(r, 0.1)
    assert d == pytest.approx(-0.4)
    shifted = np.clip(r + d, 0, 1)  # [0, 0, 0.5]: clipping lifts the realised mean
    assert shifted.mean() == pytest.approx(0.5 / 3) and shifted.mean() >= 0.1
    with pytest.raises(ConfigError):
        degradation_delta(r, 1.5)


def test_recovery_boundary_interpolates_in_degradation():
    assert recovery_boundary([30, 10, 20], [0.90, 0.99, 0.98]) == pytest.approx(21.25)
    assert recovery_boundary([10, 20], [0.99, 0.98]) is None
    assert recovery_boundary([10, 20, 30], [0.99, 0.96, 0.98]) == pytest.approx(10 + 10 * 0.02 / 0.03)


HAVE_DATA = (data_root() / "rewards" / "test.jsonl").is_file()


@pytest.mark.realdata
@pytest.mark.skipif(not HAVE_DATA, reason="reference data missing (paretobandit data fetch)")
def test_realised_degraded_means_on_the_real_table():
    t = load_reward_table("test")
    r = t.rewards[recovery_phases(len(t))["p2"], t.models.index("mistralai/mistral-large-2512")]
    real = {f: np.clip(r + degradation_delta(r, f), 0, 1).mean() for f in (0.05, 0.5)}
    assert real[0.05] == pytest.approx(0.0755, abs=5e-5) and real[0.5] == pytest.approx(0.5003, abs=5e-5)


@pytest.fixture(scope="module")
def raw():
    tables = synthetic_split(N_VAL, N_TEST)
    return run_recovery_limit(
        **table_kwargs(tables),
        budget=6.62e-4,
        seeds=SEEDS,
        degraded_model="arm1",
        levels=LEVELS,
        phase_length=L,
        window=10,
        trace_every=5,
    )


def test_two_horizons_share_p1_and_p2(raw):
    std, ext = raw["runs"]
    assert (std["p3_steps"], ext["p3_steps"]) == (L, 2 * L)
    for cs, ce in zip(std["cells"], ext["cells"], strict=True):
        # the same generator draws P1 and P2 in both runs; only P3 differs
        assert cs["per_seed"]["reward"]["p1"] == ce["per_seed"]["reward"]["p1"]
        assert cs["per_seed"]["reward"]["p2"] == ce["per_seed"]["reward"]["p2"]
        assert cs["per_seed"]["reward"]["p3"] != ce["per_seed"]["reward"]["p3"]
    # P1 precedes the degradation: identical for every level
    assert std["cells"][0]["per_seed"]["reward"]["p1"] == std["cells"][1]["per_seed"]["reward"]["p1"]
    for c in std["cells"]:
        shares = np.array(c["per_seed"]["share"]["p2"])
        np.testing.assert_allclose(shares.sum(axis=0), 1.0)
        assert c["degraded_mean_p2"] >= c["level"] - 1e-12
    assert raw["delta_ncost"] == pytest.approx(1 / 3, abs=1e-12)
    assert len(std["trace_steps"]) == len(std["cells"][0]["trace"]["mean"])


def test_deterministic(raw):
    tables = synthetic_split(N_VAL, N_TEST)
    again = run_recovery_limit(
        **table_kwargs(tables),
        budget=6.62e-4,
        seeds=SEEDS,
        degraded_model="arm1",
        levels=LEVELS,
        phase_length=L,
        window=10,
        trace_every=5,
    )
    assert dumps(again) == dumps(raw)


def test_bad_input():
    tables = synthetic_split(N_VAL, N_TEST)
    kw = dict(**table_kwargs(tables), seeds=SEEDS, phase_length=L)
    with pytest.raises(ConfigError):
        run_recovery_limit(**kw, budget=1e-3, degraded_model="nope")
    with pytest.raises(ConfigError):
        run_recovery_limit(**kw, budget=1e-3, degraded_model="arm1", levels=[0.5, 0.5])
    with pytest.raises(ConfigError):
        run_recovery_limit(**kw, budget=0.0, degraded_model="arm1")


def _fake_raw():
    """One horizon, one level, two seeds: P1 (0.8, 0.9), P2 (0.5, 0.6), P3 (0.8, 0.81)."""
    ps = {
        "reward": {"p1": [0.8, 0.9], "p2": [0.5, 0.6], "p3": [0.8, 0.81]},
        "cost": {"p1": [1e-4, 1e-4], "p2": [2e-4, 2e-4], "p3": [1e-4, 3e-4]},
        "share": {k: [[0.5, 0.5], [0.5, 0.5]] for k in ("p1", "p2", "p3")},
        "lambda_p3": [0.2, 0.4],
        "v_p3": [0.01, 0.03],
    }
    return {
        "models": ["a", "b"],
        "degraded_model": "b",
        "levels": [0.5],
        "budget": 6.62e-4,
        "seeds": [0, 1],
        "phase_length": 4,
        "window": 2,
        "delta_ncost": 1 / 3,
        "router_params": {"alpha": 0.01, "v_max": 200.0, "forgetting_factor": 0.997},
        "runs": [
            {
                "p3_steps": 4,
                "trace_steps": [1],
                "phase_bounds_test": [[0, 4], [4, 8], [8, 12]],
                "cells": [
                    {
                        "level": 0.5,
                        "degraded_mean_p2": 0.51,
                        "per_seed": ps,
                        "trace": {"mean": [0.8], "sd": [0.0]},
                    }
                ],
            }
        ],
    }


def test_summary_hand_values():
    summary, rows = summarise_recovery_limit(_fake_raw(), threshold=0.97, bound_level=0.5)
    (row,) = rows
    assert set(TABLE_COLUMNS) <= set(row)
    assert row["recovery_ratio"] == pytest.approx(0.805 / 0.85)  # ratio of seed means
    assert row["degradation_pct"] == pytest.approx(100 * (0.85 - 0.5) / 0.85)
    assert row["reward_p1_sd"] == pytest.approx(0.05)  # ddof 0
    assert not row["full_recovery"]
    lo, hi = row["recovery_ci_low"], row["recovery_ci_high"]
    assert 0.8 / 0.9 - 1e-12 <= lo <= hi <= 1.0 + 1e-12  # bootstrap of per-seed ratios
    s = summary["standard"]
    assert s["floor"] == pytest.approx(0.805 / 0.85) and s["boundary_pct"] is None
    assert s[level_key(0.5)]["recovery_pct"] == pytest.approx(100 * 0.805 / 0.85)
    h = summary["headlines"]
    assert h["half_life"] == 231
    assert h["exploration_bound"] == pytest.approx(0.01 * np.sqrt(200 * 0.02) - 0.3 / 3)


def test_split_traces(raw):
    per_seed, traces = split_traces(raw)
    assert all("trace" not in c for run in per_seed["runs"] for c in run["cells"])
    assert set(traces) == {str(L), str(2 * L)}
    assert set(traces[str(L)]) == {"steps", *(level_key(v) for v in LEVELS)}
