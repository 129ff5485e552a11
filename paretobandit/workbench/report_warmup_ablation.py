"""Appendix warm-up ablation (§A3): statistics → summary (macros), ``summary.csv`` rows and figures.

Reads only the JSON-able output of :func:`paretobandit.experiments.warmup_ablation.run_warmup_ablation`;
the statistics are :func:`~paretobandit.experiments.warmup_ablation.analyse_warmup_ablation`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from ..experiments.warmup_ablation import analyse_warmup_ablation
from . import figures, style

__all__ = ["TABLE_COLUMNS", "summarise_warmup_ablation", "table_view"]

EXPERIMENT = "warmup_ablation"
TABLE_COLUMNS = [
    "regime",
    "budget",
    "condition",
    "regret_mean",
    "regret_sd",
    "regret_se",
    "regret_median",
    "regret_ci_low",
    "regret_ci_high",
    "r200_mean",
    "r200_sd",
    "r200_ci_low",
    "r200_ci_high",
    "mean_reward",
    "oracle_agreement",
    "sign_wins",
    "sign_n",
    "sign_p",
    "sign_p_holm",
    "cat_threshold",
    "cat_count",
    "fisher_p",
    "fisher_p_holm",
    "delta_regret_mean",
    "delta_regret_ci_low",
    "delta_regret_ci_high",
    "delta_r200_mean",
    "delta_r200_ci_low",
    "delta_r200_ci_high",
    "reduction_pct",
]
_LABELS = {
    "paretobandit": "ParetoBandit (warm-up priors)",
    "tabula_rasa": "Tabula Rasa (no priors)",
    "random": "Uniform random",
}


def summarise_warmup_ablation(
    raw: Mapping[str, Any],
    *,
    catastrophic_factor: float = 2.0,
    alpha: float = 0.05,
    bootstrap: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Summary ``{regime: {condition: …, tests: …}, headlines}`` and one CSV row per regime × condition.

    The test columns (``sign_*``, ``fisher_*``, ``delta_*``, ``reduction_pct``) are filled on the
    ParetoBandit row of each regime (the comparison Warmup vs Tabula Rasa); ``cat_count`` on both
    learner rows.
    """
    an = analyse_warmup_ablation(
        raw, catastrophic_factor=catastrophic_factor, alpha=alpha, bootstrap=bootstrap
    )
    summary: dict[str, Any] = {}
    rows: list[dict[str, Any]] = []
    for cell in raw["cells"]:
        regime, cond = cell["regime"], cell["condition"]
        c = an["conditions"][regime][cond]
        tr, r2 = c["total_regret"], c["r_at"]
        row: dict[str, Any] = {
            "regime": regime,
            "budget": cell["budget"],
            "condition": cond,
            "regret_mean": tr["mean"],
            "regret_sd": tr["sd"],
            "regret_se": tr["se"],
            "regret_median": tr["median"],
            "regret_ci_low": tr["ci_low"],
            "regret_ci_high": tr["ci_high"],
            "r200_mean": r2["mean"],
            "r200_sd": r2["sd"],
            "r200_ci_low": r2["ci_low"],
            "r200_ci_high": r2["ci_high"],
            "mean_reward": c["mean_reward"]["mean"],
            "oracle_agreement": c["oracle_agreement"],
        }
        t = an["tests"].get(regime)
        if t is not None and cond in ("paretobandit", "tabula_rasa"):
            row["cat_threshold"] = t["cat_threshold"]
            row["cat_count"] = t["cat_warmup" if cond == "paretobandit" else "cat_tabula_rasa"]
        if t is not None and cond == "paretobandit":
            row.update(
                sign_wins=t["sign_wins"],
                sign_n=t["sign_n"],
                sign_p=t["sign_p"],
                sign_p_holm=t["sign_p_holm"],
                fisher_p=t["fisher_p"],
                fisher_p_holm=t["fisher_p_holm"],
                delta_regret_mean=t["delta_regret"]["mean"],
                delta_regret_ci_low=t["delta_regret"]["ci_low"],
                delta_regret_ci_high=t["delta_regret"]["ci_high"],
                delta_r200_mean=t["delta_r_at"]["mean"],
                delta_r200_ci_low=t["delta_r_at"]["ci_low"],
                delta_r200_ci_high=t["delta_r_at"]["ci_high"],
                reduction_pct=t["reduction_pct"],
            )
        rows.append(row)
        summary.setdefault(regime, {})[cond] = {
            "regret": tr["mean"],
            "regret_sd": tr["sd"],
            "regret_median": tr["median"],
            "regret_ci_low": tr["ci_low"],
            "regret_ci_high": tr["ci_high"],
            "r_two_hundred": r2["mean"],
            "r_two_hundred_ci_low": r2["ci_low"],
            "r_two_hundred_ci_high": r2["ci_high"],
            "mean_reward": c["mean_reward"]["mean"],
            "oracle_agreement_pct": 100.0 * c["oracle_agreement"],
        }
    for regime, t in an["tests"].items():
        summary[regime]["tests"] = {
            "sign_wins": int(t["sign_wins"]),
            "sign_n": int(t["sign_n"]),
            "sign_pvalue_holm": t["sign_p_holm"],
            "fisher_pvalue_holm": t["fisher_p_holm"],
            "cat_warmup": int(t["cat_warmup"]),
            "cat_tabula_rasa": int(t["cat_tabula_rasa"]),
            "cat_threshold": t["cat_threshold"],
            "delta_regret": t["delta_regret"]["mean"],
            "delta_regret_ci_low": t["delta_regret"]["ci_low"],
            "delta_regret_ci_high": t["delta_regret"]["ci_high"],
            "delta_r_two_hundred": t["delta_r_at"]["mean"],
            "delta_r_two_hundred_ci_low": t["delta_r_at"]["ci_low"],
            "delta_r_two_hundred_ci_high": t["delta_r_at"]["ci_high"],
            "reduction_pct": t["reduction_pct"],
            "sd_ratio": t["sd_ratio"],
        }
    tests = an["tests"].values()
    summary["headlines"] = {
        "n_seeds": len(raw["seeds"]),
        "n_test": int(raw["n_test"]),
        "r_at": int(raw["r_at"]),
        "bonferroni_level_pct": 100.0 * an["bonferroni_level"],
        **{f"budget_{g}": b for g, b in raw["budgets"].items() if b is not None},
        "oracle_mean_reward": float(raw["oracle_mean_reward"]),
        "warmup_wins_all": bool(all(t["delta_regret"]["mean"] > 0 for t in tests)),
        "min_reduction_pct": float(min(t["reduction_pct"] for t in tests)),
        "max_reduction_pct": float(max(t["reduction_pct"] for t in tests)),
    }
    return summary, rows


def table_view(rows: Sequence[Mapping[str, Any]]):
    """Headline pandas view: one row per regime × condition."""
    import pandas as pd

    return pd.DataFrame(rows).set_index(["regime", "condition"])[
        [
            "regret_mean",
            "regret_sd",
            "regret_median",
            "r200_mean",
            "mean_reward",
            "oracle_agreement",
            "sign_wins",
            "sign_p_holm",
            "fisher_p_holm",
            "reduction_pct",
        ]
    ]


def _band(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seed mean and normal 95 % band (mean ± 1.96·sd/√S, ddof 0) of (S, T) curves."""
    m = values.mean(axis=0)
    half = 1.96 * values.std(axis=0, ddof=0) / np.sqrt(values.shape[0])
    return m, m - half, m + half


@figures.register(EXPERIMENT, "cumulative_regret")
def cumulative_regret(results: Mapping[str, Any]) -> plt.Figure:
    """Cumulative test regret from step 1 per regime: seed mean with a 95 % normal band; R@200 marked."""
    raw = results["per_seed"]
    steps = np.asarray(raw["steps"]) + 1
    regimes = list(raw["budgets"])
    fig, axes = plt.subplots(1, len(regimes), figsize=(3.0 * len(regimes), 3.0), sharey=True, squeeze=False)
    colours = dict(zip(_LABELS, style.palette(len(_LABELS)), strict=True))
    for ax, regime in zip(axes[0], regimes, strict=True):
        for cell in (c for c in raw["cells"] if c["regime"] == regime):
            m, lo, hi = _band(np.asarray(cell["curves"]["cum_regret"]))
            col = colours[cell["condition"]]
            ax.plot(steps, m, color=col, lw=1.3, label=_LABELS[cell["condition"]])
            ax.fill_between(steps, lo, hi, color=col, alpha=0.25, lw=0)
        ax.axvline(int(raw["r_at"]), color="0.4", ls=":", lw=1)
        b = raw["budgets"][regime]
        ax.set_title(regime if b is None else f"{regime} (B = {b:.3g} $/req)", fontsize=9)
        ax.set_xlabel("test step (no warm-up)")
    axes[0, 0].set_ylabel("cumulative regret vs oracle")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(
        handles,
        labels,
        loc="upper center",
        ncol=3,
        fontsize=8,
        bbox_to_anchor=(0.5, 1.08),
        title="seed mean, band = 95 % normal CI (20 seeds); dotted = step 200 (R@200)",
        title_fontsize=7,
    )
    return fig


@figures.register(EXPERIMENT, "arm_share")
def arm_share(results: Mapping[str, Any]) -> plt.Figure:
    """Unconstrained regime: seed-mean share of each arm over the trailing window, per learner."""
    raw = results["per_seed"]
    steps = np.asarray(raw["steps"]) + 1
    learners = [c for c in raw["cells"] if c["budget"] is None and c["condition"] != "random"]
    fig, axes = plt.subplots(1, len(learners), figsize=(3.3 * len(learners), 2.8), sharey=True, squeeze=False)
    colours = style.palette(len(raw["models"]))
    for ax, cell in zip(axes[0], learners, strict=True):
        for j, m in enumerate(raw["models"]):
            ax.plot(steps, cell["curves"]["share"][m], color=colours[j], lw=1.2, label=m.split("/")[-1])
        ax.set_title(_LABELS[cell["condition"]], fontsize=9)
        ax.set_xlabel("test step")
        ax.set_ylim(0, 1)
    axes[0, 0].set_ylabel(f"share (last {raw['share_window']} steps, seed mean)")
    axes[0, -1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5))
    return fig
