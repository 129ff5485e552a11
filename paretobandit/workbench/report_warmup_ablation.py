"""Appendix warm-up ablation: per-seed metrics → summary, ``summary.csv`` rows, headlines and figures.

Reads only the JSON-able output of
:func:`paretobandit.experiments.warmup_ablation.run_warmup_ablation`. Summary keys use ``util`` for
cost/B (two decimals in macros); regrets are sums over steps (reward units).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from . import figures, style
from .report_nonstationary import split_traces  # same cell/trace layout (re-exported)
from .stats import summarise

__all__ = ["TABLE_COLUMNS", "split_traces", "summarise_warmup_ablation", "table_view"]

EXPERIMENT = "warmup_ablation"
TABLE_COLUMNS = ["budget", "budget_value", "condition", "test_regret", "test_regret_ci_low",
                 "test_regret_ci_high", "mean_regret", "mean_reward", "reward_ci_low", "reward_ci_high",
                 "mean_cost", "cost_ratio", "cost_ratio_ci_low", "cost_ratio_ci_high", "warmup_regret",
                 "warmup_regret_ci_low", "warmup_regret_ci_high", "share_llama", "share_mistral", "share_pro"]
_LABELS = {"paretobandit": "ParetoBandit (priors)", "tabula_rasa": "Tabula rasa (no priors)",
           "random": "Uniform random"}


def summarise_warmup_ablation(raw: Mapping[str, Any], *, shorts: Mapping[str, str],
                              bootstrap: Mapping[str, Any] | None = None
                              ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Summary ``{budget: {condition: …}, headlines}`` and one table row per budget × condition.

    Headlines per budget: ``<budget>_regret_ratio_tr`` = ParetoBandit's test regret / tabula rasa's,
    ``<budget>_regret_ratio_random`` = ParetoBandit's / random's; ``priors_beat_tabula_rasa_all``
    (ParetoBandit's mean test regret below tabula rasa's at every budget) and the same for the val
    warm-up regret.
    """
    boot = {"n_resamples": 10_000, "seed": 42, "confidence_level": 0.95, **dict(bootstrap or {})}
    n_test = int(raw["n_test"])
    summary: dict[str, Any] = {}
    rows: list[dict[str, Any]] = []
    for cell in raw["cells"]:
        ps = cell["per_seed"]
        reg, rew = summarise(ps["test_regret"], **boot), summarise(ps["mean_reward"], **boot)
        wu = summarise(ps["warmup_regret"], **boot)
        entry: dict[str, Any] = {
            "test_regret": reg["mean"], "test_regret_ci_low": reg["ci_low"],
            "test_regret_ci_high": reg["ci_high"],
            "mean_regret": reg["mean"] / n_test,
            "mean_reward": rew["mean"], "reward_ci_low": rew["ci_low"], "reward_ci_high": rew["ci_high"],
            "mean_cost": float(np.mean(ps["mean_cost"])),
            "warmup_regret": wu["mean"], "warmup_regret_ci_low": wu["ci_low"],
            "warmup_regret_ci_high": wu["ci_high"],
        }
        if ps.get("cost_ratio") is not None:
            u = summarise(ps["cost_ratio"], **boot)
            entry.update(util=u["mean"], util_ci_low=u["ci_low"], util_ci_high=u["ci_high"])
        for model, short in shorts.items():
            entry[f"share_{short}"] = float(np.mean(ps["share"][model]))
        summary.setdefault(cell["budget"], {})[cell["condition"]] = entry
        row = {"budget": cell["budget"], "budget_value": cell["budget_value"], "condition": cell["condition"],
               **{k: v for k, v in entry.items() if not k.startswith("util")}}
        row.update(cost_ratio=entry.get("util"), cost_ratio_ci_low=entry.get("util_ci_low"),
                   cost_ratio_ci_high=entry.get("util_ci_high"))
        rows.append(row)
    budgets = list(raw["budgets"])
    heads: dict[str, Any] = {}
    for b in budgets:
        s = summary[b]
        heads[f"{b}_regret_ratio_tr"] = s["paretobandit"]["test_regret"] / s["tabula_rasa"]["test_regret"]
        heads[f"{b}_regret_ratio_random"] = s["paretobandit"]["test_regret"] / s["random"]["test_regret"]
        heads[f"{b}_regret_saved_vs_tr"] = s["tabula_rasa"]["test_regret"] - s["paretobandit"]["test_regret"]
    heads["priors_beat_tabula_rasa_all"] = bool(all(
        summary[b]["paretobandit"]["test_regret"] < summary[b]["tabula_rasa"]["test_regret"]
        for b in budgets))
    heads["priors_beat_tabula_rasa_warmup_all"] = bool(all(
        summary[b]["paretobandit"]["warmup_regret"] < summary[b]["tabula_rasa"]["warmup_regret"]
        for b in budgets))
    heads["learners_beat_random_all"] = bool(all(
        summary[b][c]["test_regret"] < summary[b]["random"]["test_regret"]
        for b in budgets for c in ("paretobandit", "tabula_rasa")))
    heads["oracle_mean_reward"] = float(raw["oracle_mean_reward"])
    summary["headlines"] = heads
    return summary, rows


def table_view(rows: Sequence[Mapping[str, Any]]):
    """Compact pandas view: one row per budget × condition."""
    import pandas as pd

    df = pd.DataFrame(rows)
    return df.set_index(["budget", "condition"])[["test_regret", "test_regret_ci_low", "test_regret_ci_high",
                                                  "mean_reward", "cost_ratio", "warmup_regret"]]


@figures.register(EXPERIMENT, "cumulative_regret")
def cumulative_regret(results: Mapping[str, Any]) -> plt.Figure:
    """Seed-mean cumulative regret over the val warm-up and the test stream, one panel per budget."""
    traces = results["traces"]
    n_val = int(results["per_seed"]["n_val"])
    budgets = list(results["per_seed"]["budgets"])
    fig, axes = plt.subplots(1, len(budgets), figsize=(3.0 * len(budgets), 3.0), sharey=True, squeeze=False)
    colours = dict(zip(_LABELS, style.palette(len(_LABELS)), strict=True))
    for ax, b in zip(axes[0], budgets, strict=True):
        for cond, tr in traces[b].items():
            ax.plot(np.asarray(tr["step"]) + 1, tr["cum_regret"], color=colours[cond], lw=1.3,
                    label=_LABELS.get(cond, cond))
        ax.axvline(n_val, color="0.4", ls=":", lw=1)
        ax.set_title(b, fontsize=9)
        ax.set_xlabel("step (val warm-up, then test)")
    axes[0, 0].set_ylabel("cumulative regret vs oracle")
    axes[0, 0].legend(fontsize=7)
    return fig


@figures.register(EXPERIMENT, "test_regret")
def test_regret_bars(results: Mapping[str, Any]) -> plt.Figure:
    """Cumulative test regret with 95% CIs, grouped by budget."""
    rows = results["table"]
    budgets = list(results["per_seed"]["budgets"])
    conds = list(results["per_seed"]["conditions"])
    fig, ax = plt.subplots()
    width = 0.8 / len(conds)
    colours = style.palette(len(conds))
    for j, cond in enumerate(conds):
        sel = [next(r for r in rows if r["budget"] == b and r["condition"] == cond) for b in budgets]
        mean = np.array([r["test_regret"] for r in sel])
        err = np.array([[r["test_regret"] - r["test_regret_ci_low"] for r in sel],
                        [r["test_regret_ci_high"] - r["test_regret"] for r in sel]])
        ax.bar(np.arange(len(budgets)) + (j - (len(conds) - 1) / 2) * width, mean, width, yerr=err,
               capsize=2, color=colours[j], label=_LABELS.get(cond, cond))
    ax.set_xticks(np.arange(len(budgets)), budgets)
    ax.set_ylabel("cumulative test regret")
    ax.legend(fontsize=7)
    return fig
