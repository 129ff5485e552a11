"""Appendix recovery limit: streams, per-level degradation, equality with Exp 03, metrics and report."""

from __future__ import annotations

import numpy as np
import pytest
from _helpers import synthetic_split, table_kwargs

from paretobandit.errors import ConfigError
from paretobandit.experiments.phased import three_phase_trial_streams
from paretobandit.experiments.quality_degradation import run_quality_degradation
from paretobandit.experiments.recovery_limit import DEFAULT_LEVELS, recovery_streams, run_recovery_limit
from paretobandit.sim import three_phase_prompts
from paretobandit.workbench.report_recovery_limit import (
    TABLE_COLUMNS,
    level_key,
    recovery_limit_level,
    split_traces,
    summarise_recovery_limit,
)
from paretobandit.workbench.results import dumps

N_VAL, N_TEST, L = 80, 100, 30
BUDGETS = {"tight": 3e-4, "loose": 2e-3}
LEVELS = (0.25, 0.75)


@pytest.fixture(scope="module")
def tables():
    return synthetic_split(N_VAL, N_TEST)


def _kwargs(tables, seeds=(5, 6)):
    return dict(table_kwargs(tables), budgets=BUDGETS, seeds=list(seeds), phase_length=L,
                router_params={"alpha": 0.05}, window=10)


@pytest.fixture(scope="module")
def raw(tables):
    return run_recovery_limit(degraded_model="arm1", levels=LEVELS, trace_stride=5, **_kwargs(tables))


def test_levels_and_streams():
    assert DEFAULT_LEVELS == (0.05, 0.15, 0.25, 0.35, 0.45, 0.55, 0.65, 0.75, 0.85)
    p1, p2, p3 = three_phase_prompts(N_TEST, L, 42)
    one = recovery_streams([7, 8], N_VAL, p1, p2, 1)
    assert np.array_equal(one, three_phase_trial_streams([7, 8], N_VAL, [p1, p2, p3]))
    two = recovery_streams([7, 8], N_VAL, p1, p2, 2)
    assert two.shape == (2, N_VAL + 4 * L) and np.array_equal(two[:, :N_VAL + 3 * L], one)
    tail = two[0, N_VAL + 3 * L:] - N_VAL
    assert sorted(tail) == sorted(p1)
    assert not np.array_equal(tail, two[0, N_VAL + 2 * L:N_VAL + 3 * L] - N_VAL)
    with pytest.raises(ConfigError):
        recovery_streams([7], N_VAL, p1, p2, 0)


def test_degradation_only_acts_from_p2(tables):
    raw = run_recovery_limit(degraded_model="arm1", levels=[0.0, 1.0], budgets={"loose": 2e-3},
                             **{k: v for k, v in _kwargs(tables, seeds=(3,)).items() if k != "budgets"})
    low, high = (c["per_seed"] for c in raw["cells"])
    assert low["mean_reward"]["p1"] == high["mean_reward"]["p1"]
    assert low["degraded_share"]["p1"] == high["degraded_share"]["p1"]
    assert low["mean_reward"]["p2"] != high["mean_reward"]["p2"]
    with pytest.raises(ConfigError):
        run_recovery_limit(degraded_model="zzz", **_kwargs(tables))
    with pytest.raises(ConfigError):
        run_recovery_limit(degraded_model="arm1", levels=[1.5], **_kwargs(tables))


def test_first_p3_phase_equals_exp03(tables, raw):
    """At level 0.75 the first L steps of P3 are Exp 03's P3: same rewards, costs and recovery ratio."""
    deg = run_quality_degradation(degraded_model="arm1", degraded_reward=0.75, conditions=["paretobandit"],
                                  **_kwargs(tables))
    for c in raw["cells"]:
        if c["level"] != 0.75:
            continue
        ref = next(x for x in deg["cells"] if x["budget"] == c["budget"])["per_seed"]
        ps = c["per_seed"]
        assert ps["recovery_ratio"][str(L)] == ref["recovery_ratio"]
        assert ps["mean_reward"]["p1"] == ref["mean_reward"][0]
        assert ps["mean_reward"]["p2"] == ref["mean_reward"][1]
        assert ps["cost_ratio"]["p2"] == ref["cost_ratio"][1]


def test_metrics_and_determinism(tables, raw):
    assert raw["horizons"] == [L, 2 * L] and len(raw["cells"]) == len(LEVELS) * len(BUDGETS)
    for c in raw["cells"]:
        ps = c["per_seed"]
        r1 = np.array(ps["mean_reward"]["p1"])
        rec1, rec2 = np.array(ps["recovery_ratio"][str(L)]), np.array(ps["recovery_ratio"][str(2 * L)])
        late2 = np.array(ps["late_ratio"][str(2 * L)])
        # P3 over 2L = mean of its two halves
        assert np.allclose(rec2, (rec1 + late2) / 2)
        assert np.allclose(np.array(ps["mean_reward"]["p3"]) / r1, rec2)
        assert np.allclose(ps["late_ratio"][str(L)], rec1)
    again = run_recovery_limit(degraded_model="arm1", levels=LEVELS, trace_stride=5, **_kwargs(tables))
    assert dumps(again) == dumps(raw)


def test_report(raw):
    per_seed, traces = split_traces(raw)
    assert all("trace" not in c for c in per_seed["cells"])
    assert set(traces["tight"]) == {"level_25", "level_75"}
    summary, rows = summarise_recovery_limit(raw, bootstrap={"n_resamples": 200, "seed": 42})
    assert len(rows) == len(LEVELS) * len(BUDGETS) * 2 and set(rows[0]) <= set(TABLE_COLUMNS)
    for r in rows:
        assert r["recovery_ci_low"] <= r["recovery_ratio"] <= r["recovery_ci_high"]
        assert r["full_recovery"] == (r["recovery_ratio"] >= 0.97)
    e = summary["tight"]["h2"]["level_75"]
    cell = next(c for c in raw["cells"] if c["budget"] == "tight" and c["level"] == 0.75)
    assert e["recovery"] == pytest.approx(np.mean(cell["per_seed"]["recovery_ratio"][str(2 * L)]))
    assert level_key(0.05) == "level_05" and level_key(0.85) == "level_85"


def test_recovery_limit_level():
    lv = [0.05, 0.15, 0.25, 0.35]
    assert recovery_limit_level(lv, [False, True, True, True]) == 0.15
    assert recovery_limit_level(lv, [True, False, True, True]) == 0.25
    assert recovery_limit_level(lv, [True, True, True, False]) is None
    assert recovery_limit_level(lv[::-1], [True, True, True, False]) == 0.15
