"""Appendix prior mismatch: per-seed metrics → summary, ``summary.csv`` rows, headlines and figures.

Reads only the JSON-able output of :func:`paretobandit.experiments.prior_mismatch.run_prior_mismatch`.
Summary keys: ``<prior>.neff_<n>`` (``none`` has no n_eff); ``util`` = cost/B.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from . import figures, style
from .stats import summarise

__all__ = ["TABLE_COLUMNS", "cell_key", "summarise_prior_mismatch", "table_view"]

EXPERIMENT = "prior_mismatch"
TABLE_COLUMNS = ["prior", "n_eff", "mean_reward", "reward_ci_low", "reward_ci_high", "mean_cost",
                 "cost_ratio", "cost_ratio_ci_low", "cost_ratio_ci_high", "test_regret", "test_regret_ci_low",
                 "test_regret_ci_high", "warmup_regret", "warmup_mean_reward", "share_llama", "share_mistral",
                 "share_pro"]


def cell_key(n_eff: float | None) -> str:
    """``neff_10`` for n_eff = 10; ``no_prior`` for the cold reference."""
    return "no_prior" if n_eff is None else f"neff_{float(n_eff):g}".replace(".", "p")


def summarise_prior_mismatch(raw: Mapping[str, Any], *, shorts: Mapping[str, str],
                             bootstrap: Mapping[str, Any] | None = None
                             ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Summary ``{prior: {neff_<n>: …}, headlines}`` and one table row per prior × n_eff.

    Headlines: per n_eff, the reward gap calibrated − worst mismatched prior and which prior is worst;
    per mismatched prior, the reward gap to calibrated at the smallest and largest n_eff (does a larger
    n_eff make a wrong prior costlier?); the ``none`` reference's reward.
    """
    boot = {"n_resamples": 10_000, "seed": 42, "confidence_level": 0.95, **dict(bootstrap or {})}
    summary: dict[str, Any] = {}
    rows: list[dict[str, Any]] = []
    for cell in raw["cells"]:
        ps = cell["per_seed"]
        rew, util = summarise(ps["mean_reward"], **boot), summarise(ps["cost_ratio"], **boot)
        reg = summarise(ps["test_regret"], **boot)
        entry = {"mean_reward": rew["mean"], "reward_ci_low": rew["ci_low"], "reward_ci_high": rew["ci_high"],
                 "util": util["mean"], "util_ci_low": util["ci_low"], "util_ci_high": util["ci_high"],
                 "test_regret": reg["mean"], "test_regret_ci_low": reg["ci_low"],
                 "test_regret_ci_high": reg["ci_high"],
                 "warmup_regret": float(np.mean(ps["warmup_regret"])),
                 "warmup_mean_reward": float(np.mean(ps["warmup_mean_reward"])),
                 "mean_cost": float(np.mean(ps["mean_cost"]))}
        for model, short in shorts.items():
            entry[f"share_{short}"] = float(np.mean(ps["share"][model]))
        summary.setdefault(cell["prior"], {})[cell_key(cell["n_eff"])] = entry
        row = {"prior": cell["prior"], "n_eff": cell["n_eff"],
               **{k: v for k, v in entry.items() if not k.startswith("util")},
               "cost_ratio": entry["util"], "cost_ratio_ci_low": entry["util_ci_low"],
               "cost_ratio_ci_high": entry["util_ci_high"]}
        rows.append(row)
    heads: dict[str, Any] = {}
    mism = [p for p in raw["prior_sets"] if p != "calibrated"]
    n_effs = list(raw["n_effs"])
    if "calibrated" in summary:
        for v in n_effs:
            key = cell_key(v)
            cal = summary["calibrated"][key]["mean_reward"]
            if mism:
                worst = min(mism, key=lambda p: summary[p][key]["mean_reward"])
                heads[f"{key}_worst_prior"] = worst
                heads[f"{key}_worst_reward_gap"] = cal - summary[worst][key]["mean_reward"]
            heads[f"{key}_calibrated_reward"] = cal
        lo, hi = cell_key(min(n_effs)), cell_key(max(n_effs))
        for p in mism:
            cal_lo = summary["calibrated"][lo]["mean_reward"]
            cal_hi = summary["calibrated"][hi]["mean_reward"]
            heads[f"{p}_reward_gap_low_neff"] = cal_lo - summary[p][lo]["mean_reward"]
            heads[f"{p}_reward_gap_high_neff"] = cal_hi - summary[p][hi]["mean_reward"]
    heads["max_util"] = max(e["util"] for cells in summary.values() for e in cells.values())
    if "none" in summary:
        heads["no_prior_reward"] = summary["none"]["no_prior"]["mean_reward"]
    summary["headlines"] = heads
    return summary, rows


def table_view(rows: Sequence[Mapping[str, Any]]):
    """Pandas view: reward, cost/B and test regret per prior (rows) × n_eff (columns)."""
    import pandas as pd

    df = pd.DataFrame(rows)
    df["n_eff"] = df["n_eff"].map(lambda v: "–" if v is None or v != v else f"{v:g}")
    order = list(dict.fromkeys(df["prior"]))
    wide = df.pivot_table(index="prior", columns="n_eff", values=["mean_reward", "cost_ratio", "test_regret"],
                          sort=False)
    return wide.reindex(order)


@figures.register(EXPERIMENT, "reward")
def reward_by_prior(results: Mapping[str, Any]) -> plt.Figure:
    """Test reward (95% CI) per prior set against n_eff; the cold reference as a horizontal line."""
    rows = results["table"]
    priors = list(results["per_seed"]["prior_sets"])
    fig, ax = plt.subplots()
    for colour, p in zip(style.palette(len(priors)), priors, strict=True):
        sel = sorted((r for r in rows if r["prior"] == p), key=lambda r: r["n_eff"])
        x = np.array([r["n_eff"] for r in sel])
        y = np.array([r["mean_reward"] for r in sel])
        err = np.array([[r["mean_reward"] - r["reward_ci_low"] for r in sel],
                        [r["reward_ci_high"] - r["mean_reward"] for r in sel]])
        ax.errorbar(x, y, yerr=err, marker="o", ms=4, capsize=2, color=colour, label=p)
    cold = [r for r in rows if r["prior"] == "none"]
    if cold:
        ax.axhline(cold[0]["mean_reward"], color="0.4", ls=":", lw=1, label="no prior")
    ax.set_xscale("log")
    ax.set_xlabel("prior effective sample size n_eff")
    ax.set_ylabel("mean test reward")
    ax.legend(fontsize=7)
    return fig


@figures.register(EXPERIMENT, "cost_ratio")
def cost_by_prior(results: Mapping[str, Any]) -> plt.Figure:
    """Test cost/B per prior set against n_eff (the pacer's ceiling at 1)."""
    rows = results["table"]
    priors = list(results["per_seed"]["prior_sets"])
    fig, ax = plt.subplots()
    for colour, p in zip(style.palette(len(priors)), priors, strict=True):
        sel = sorted((r for r in rows if r["prior"] == p), key=lambda r: r["n_eff"])
        ax.plot([r["n_eff"] for r in sel], [r["cost_ratio"] for r in sel], marker="o", ms=4, color=colour,
                label=p)
    ax.axhline(1.0, color="0.3", ls="--", lw=1, label="budget ceiling")
    ax.set_xscale("log")
    ax.set_xlabel("prior effective sample size n_eff")
    ax.set_ylabel("test cost / B")
    ax.legend(fontsize=7)
    return fig
