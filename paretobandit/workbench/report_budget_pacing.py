"""Exp 01 (stationary budget pacing): per-seed metrics → summary, table rows and λ traces.

Reads only the JSON-able output of :func:`paretobandit.experiments.budget_pacing.run_budget_pacing` and
``reference_points``; knows nothing about how they were simulated.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .stats import summarise

__all__ = ["TABLE_COLUMNS", "strip_protocol_summaries", "summarise_budget_pacing"]

TABLE_COLUMNS = ["method", "budget", "mean_reward", "reward_ci_low", "reward_ci_high", "mean_cost",
                 "cost_ci_low", "cost_ci_high", "utilisation", "utilisation_ci_low", "utilisation_ci_high",
                 "median_lambda", "pct_reference_quality", "pct_reference_cost", "pct_oracle"]
_METRICS = ("mean_reward", "mean_cost", "utilisation", "median_lambda")


def strip_protocol_summaries(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Copy of the protocol output without its own per-budget ``summary`` blocks.

    The results file keeps one set of aggregates, computed by :func:`summarise_budget_pacing` with
    ``scipy.stats.bootstrap``; the per-seed values they come from are kept as returned.
    """
    out = dict(raw)
    out["per_budget"] = [{k: v for k, v in e.items() if k != "summary"} for e in raw["per_budget"]]
    return out


def _per_budget(raw: Mapping[str, Any]) -> list[dict[str, Any]]:
    """``[{budget, <metric>: per-seed list, lambda_trajectory}]`` from the protocol output."""
    out = []
    for entry in raw["per_budget"]:
        flat = {"budget": float(entry["budget"]), "lambda_trajectory": entry.get("lambda_trajectory")}
        flat.update({k: v for k, v in entry.get("per_seed", entry).items() if k in _METRICS})
        out.append(flat)
    return out


def _trace(entry: Mapping[str, Any]) -> dict[str, Any] | None:
    traj = entry.get("lambda_trajectory")
    if not traj:
        return None
    return {"budget": entry["budget"], "step": list(traj["test_step"]), "mean": list(traj["mean_lambda"]),
            "low": list(traj["p10_lambda"]), "high": list(traj["p90_lambda"])}


def _reference_means(entry: Mapping[str, Any]) -> dict[str, float]:
    return {k: float(np.mean(entry[k])) for k in ("mean_reward", "mean_cost") if k in entry}


def summarise_budget_pacing(raw: Mapping[str, Any], references: Mapping[str, Any], *,
                            models: Sequence[str], shorts: Sequence[str], reference_model: str,
                            bootstrap: Mapping[str, Any] | None = None
                            ) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
    """Summaries with bootstrap CIs, the ``summary.csv`` rows and the λ traces of Exp 01.

    Parameters
    ----------
    raw : mapping
        Output of ``run_budget_pacing``: ``per_budget`` entries with ``budget``, ``per_seed``
        (``mean_reward``, ``mean_cost``, ``utilisation``, ``median_lambda`` lists) and optionally
        ``lambda_trajectory`` (``test_step``, ``mean_lambda``, ``p10_lambda``, ``p90_lambda``).
    references : mapping
        Output of ``reference_points``: ``fixed`` (by model id), ``random`` and ``oracle``, each with
        ``mean_reward`` and ``mean_cost`` (scalars or per-seed lists).
    models, shorts : sequences of str
        Portfolio model ids and their short names (used in macro names).
    reference_model : str
        Model the headline percentages compare with (the paper: Gemini-2.5-Pro).
    bootstrap : mapping, optional
        ``n_resamples``, ``seed``, ``confidence_level`` for :func:`~paretobandit.workbench.stats.summarise`.

    Returns
    -------
    summary : dict
        ``pacer.budget_<i>`` (1-based, ascending budgets), ``fixed.<short>``, ``random``, ``oracle``,
        ``headlines``; scalars only, so every value can become a LaTeX macro.
    rows : list of dict
        One row per condition, columns :data:`TABLE_COLUMNS`.
    traces : dict
        ``lambda.budget_<i>`` = {budget, step, mean, low, high} (mean and 10th/90th percentile of λ
        over seeds at sampled test steps).
    """
    boot = {"n_resamples": 10_000, "seed": 42, "confidence_level": 0.95, **dict(bootstrap or {})}
    short = dict(zip(models, shorts, strict=True))
    fixed = {m: _reference_means(references["fixed"][m]) for m in models}
    ref = fixed[reference_model]
    oracle = _reference_means(references["oracle"])
    random = _reference_means(references["random"])

    entries = sorted(_per_budget(raw), key=lambda e: float(e["budget"]))
    pacer: dict[str, Any] = {}
    rows: list[dict[str, Any]] = []
    traces: dict[str, Any] = {}
    for i, entry in enumerate(entries, start=1):
        budget = float(entry["budget"])
        if "utilisation" not in entry:
            entry["utilisation"] = (np.asarray(entry["mean_cost"], dtype=float) / budget).tolist()
        s = {m: summarise(entry[m], **boot) for m in _METRICS if m in entry}
        cell = {"budget": budget, "n_seeds": s["mean_reward"]["n"]}
        for m, key in (("mean_reward", "reward"), ("mean_cost", "cost"), ("utilisation", "utilisation")):
            cell[m] = s[m]["mean"]
            cell[f"{key}_ci_low"] = s[m]["ci_low"]
            cell[f"{key}_ci_high"] = s[m]["ci_high"]
        if "median_lambda" in s:
            cell["median_lambda"] = s["median_lambda"]["mean"]
        cell["overshoot_pct"] = max(0.0, (cell["utilisation"] - 1.0) * 100.0)
        cell["max_seed_overshoot_pct"] = max(0.0, (float(np.max(entry["utilisation"])) - 1.0) * 100.0)
        cell["pct_reference_quality"] = 100.0 * cell["mean_reward"] / ref["mean_reward"]
        cell["pct_reference_cost"] = 100.0 * cell["mean_cost"] / ref["mean_cost"]
        cell["savings_vs_reference_pct"] = 100.0 - cell["pct_reference_cost"]
        cell["pct_oracle"] = 100.0 * cell["mean_reward"] / oracle["mean_reward"]
        key = f"budget_{i}"
        pacer[key] = cell
        rows.append({"method": "pacer", **{c: cell.get(c) for c in TABLE_COLUMNS if c != "method"}})
        trace = _trace(entry)
        if trace is not None:
            traces[key] = trace

    for name, point in [*((f"fixed:{m}", fixed[m]) for m in models), ("random", random), ("oracle", oracle)]:
        rows.append({"method": name, "mean_reward": point["mean_reward"], "mean_cost": point["mean_cost"],
                     "pct_reference_quality": 100.0 * point["mean_reward"] / ref["mean_reward"],
                     "pct_reference_cost": 100.0 * point["mean_cost"] / ref["mean_cost"],
                     "pct_oracle": 100.0 * point["mean_reward"] / oracle["mean_reward"]})

    cells = list(pacer.values())
    headlines = {
        "n_budgets": len(cells),
        "max_overshoot_pct": max(c["overshoot_pct"] for c in cells),
        "max_seed_overshoot_pct": max(c["max_seed_overshoot_pct"] for c in cells),
        "max_utilisation": max(c["utilisation"] for c in cells),
        "loosest_pct_oracle": cells[-1]["pct_oracle"],
        "min_budget": cells[0]["budget"],
        "max_budget": cells[-1]["budget"],
    }
    summary = {"pacer": pacer, "fixed": {short[m]: fixed[m] for m in models}, "random": random,
               "oracle": oracle, "headlines": headlines}
    return summary, rows, {"lambda": traces}
