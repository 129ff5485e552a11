"""Per-run phase means and the arena's summary rows (the columns of ``results/arena/summary.csv``)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from ..experiments.common import bootstrap_ci
from .scenarios import Scenario

__all__ = ["COLUMNS", "TOLERANCE", "oracle_runs", "phase_means", "summary_rows"]

COLUMNS = [
    "contender",
    "family",
    "scenario",
    "budget",
    "phase",
    "mean_reward",
    "reward_ci_low",
    "reward_ci_high",
    "cost_ratio",
    "cost_ratio_worst_seed",
    "violation_share",
    "regret",
    "scenario_metric",
    "route_p50_us",
    "update_p50_us",
    "form",
    "budget_value",
    "n_seeds",
    "note",
]
#: a seed is a violation when its cost/B exceeds 1 + TOLERANCE
TOLERANCE = 0.05


def phase_means(scenario: Scenario, values: np.ndarray) -> np.ndarray:
    """(P,) means of a per-step series over the scenario's phases (stream positions)."""
    return np.array([np.asarray(values)[a:b].mean() for _, a, b in scenario.phases])


def oracle_runs(scenario: Scenario) -> np.ndarray:
    """(S, P) per-prompt oracle reward: the best realised reward of each step (events applied)."""
    out = []
    for run in range(len(scenario.seeds)):
        r, _, _ = scenario.step_tables(run)
        out.append(phase_means(scenario, r.max(axis=1)))
    return np.stack(out)


def scenario_metric(scenario: Scenario, reward: np.ndarray, per_run=None) -> float:
    """Seed mean of Exp 02's P2 lift (P2 − P1), Exp 03's recovery ratio (P3 / P1) or Exp 04's adoption
    step (``per_run``: one value per run, NaN = not adopted; mean over adopted runs); NaN for Exp 01."""
    if per_run is not None:
        v = np.asarray(per_run, dtype=float)
        return float(np.nanmean(v)) if np.isfinite(v).any() else math.nan
    if scenario.metric == "p2_lift":
        return float((reward[:, 1] - reward[:, 0]).mean())
    if scenario.metric == "recovery_ratio":
        return float((reward[:, 2] / reward[:, 0]).mean())
    return math.nan


def _p50_us(ns: Sequence[float] | None) -> float:
    return float(np.median(ns) / 1e3) if ns is not None and len(ns) else math.nan


def summary_rows(
    scenario: Scenario, result: Mapping, oracle: np.ndarray, *, n_resamples: int = 10_000, ci_seed: int = 42
) -> list[dict]:
    """Rows of one contender result ``{contender, family, form, budget, runs: [run index], reward (S', P),
    cost (S', P), route_ns, update_ns, note}``. A budget-free result (``budget`` None) gets one row per
    budget (its cost against each B) plus an ``unconstrained`` row."""
    runs = list(result["runs"])
    reward, cost = np.asarray(result["reward"], dtype=float), np.asarray(result["cost"], dtype=float)
    orc = oracle[runs]
    labels = [result["budget"]] if result["budget"] is not None else [*scenario.budgets, None]
    metric = scenario_metric(scenario, reward, result.get("metric_runs"))
    rows = []
    for label in labels:
        b = scenario.budgets.get(label, math.nan) if label is not None else math.nan
        for p, (phase, _, _) in enumerate(scenario.phases):
            r, c = reward[:, p], cost[:, p]
            lo, hi = bootstrap_ci(r, n_resamples, ci_seed)
            ratio = c / b
            rows.append(
                {
                    "contender": result["contender"],
                    "family": result["family"],
                    "scenario": scenario.name,
                    "budget": label if label is not None else "unconstrained",
                    "phase": phase,
                    "mean_reward": float(r.mean()),
                    "reward_ci_low": lo,
                    "reward_ci_high": hi,
                    "cost_ratio": float(c.mean() / b),
                    "cost_ratio_worst_seed": float(ratio.max()),
                    "violation_share": float((ratio > 1 + TOLERANCE).mean())
                    if label is not None
                    else math.nan,
                    "regret": float((orc[:, p] - r).mean()),
                    "scenario_metric": metric,
                    "route_p50_us": _p50_us(result.get("route_ns")),
                    "update_p50_us": _p50_us(result.get("update_ns")),
                    "form": result.get("form", ""),
                    "budget_value": b,
                    "n_seeds": len(runs),
                    "note": result.get("note", ""),
                }
            )
    return rows
