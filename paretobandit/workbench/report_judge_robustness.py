"""Appendix judge robustness (§A5): agreement + cross-judge regret → summary (macros), rows, figures.

Reads only the JSON-able outputs of :func:`~paretobandit.experiments.judge_robustness.agreement_analysis`
and :func:`~paretobandit.experiments.judge_robustness.run_cross_judge_regret`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from ..experiments.judge_robustness import regret_statistics
from . import figures, style

__all__ = ["TABLE_COLUMNS", "summarise_judge_robustness", "table_views"]

EXPERIMENT = "judge_robustness"
TABLE_COLUMNS = [
    "kind",
    "judge",
    "eval_judge",
    "budget",
    "method",
    "spearman",
    "kendall",
    "ccc",
    "pearson",
    "mad",
    "bias",
    "ba_low",
    "ba_high",
    "diff_p2_5",
    "diff_p97_5",
    "mean_reward",
    "ci_low",
    "ci_high",
    "capture_pct",
    "regret_mean",
    "regret_se",
    "regret_ci_low",
    "regret_ci_high",
    "reduction_pct",
    "reduction_ci_low",
    "reduction_ci_high",
    "ratio_to_r1",
    "ratio_ci_low",
    "ratio_ci_high",
    "random_compression_pct",
]


def summarise_judge_robustness(
    agreement: Mapping[str, Any],
    regret: Mapping[str, Any],
    *,
    shorts: Mapping[str, str],
    bootstrap: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """``(summary, rows, regret_rows)``: macros summary, ``summary.csv`` rows (kinds agreement, oracle,
    regret) and the regret statistics."""
    ref = agreement["reference"]
    rows: list[dict[str, Any]] = []
    summary: dict[str, Any] = {"agreement": {}, "oracle": {}, "ordering": {}, "regret": {}}
    for j, a in agreement["agreement"].items():
        rows.append({"kind": "agreement", "judge": j, "eval_judge": ref, **a})
        summary["agreement"][j] = dict(a)
    for o in agreement["oracle"]:
        rows.append({"kind": "oracle", **o})
        summary["oracle"].setdefault(o["judge"], {})[o["eval_judge"]] = {
            "mean_reward": o["mean_reward"],
            "capture_pct": o["capture_pct"],
        }
    for j, o in agreement["ordering"].items():
        summary["ordering"][j] = {
            "gap_mean": o["gap_mean"],
            "gap_median": o["gap_median"],
            "order": " > ".join(shorts.get(m, m) for m in o["order"]),
            "all_pairs_significant": bool(all(p["significant"] for p in o["pairs"])),
            **{f"mean_reward_{shorts.get(m, m)}": v for m, v in o["means"].items()},
        }
    reg = regret_statistics(regret, reference=ref, bootstrap=bootstrap)
    for r in reg:
        rows.append({"kind": "regret", "eval_judge": r["judge"], **r})
        entry = {k: v for k, v in r.items() if k not in ("judge", "budget", "method")}
        summary["regret"].setdefault(r["judge"], {}).setdefault(r["budget"], {})[r["method"]] = entry
    summary["panel"] = dict(agreement["panel"])
    summary["gap_bins"] = {
        f"bin_{i}": {k: v for k, v in b.items()} for i, b in enumerate(agreement["gap_bins"])
    }
    summary["oracle_lift"] = dict(agreement["oracle_lift"])
    tr = [r for r in reg if r["method"] == "tabula_rasa"]
    summary["headlines"] = {
        "n_prompts": int(agreement["n_prompts"]),
        "n_seeds": len(regret["seeds"]),
        "min_bonferroni_low": agreement["min_bonferroni_low"],
        "min_capture_pct": float(min(o["capture_pct"] for o in agreement["oracle"])),
        "tr_beats_random_all": bool(
            all(
                r["regret_mean"]
                < next(
                    x["regret_mean"]
                    for x in reg
                    if x["judge"] == r["judge"] and x["budget"] == r["budget"] and x["method"] == "random"
                )
                for r in tr
            )
        ),
        "min_reduction_pct": float(min(r["reduction_pct"] for r in tr)),
        "max_reduction_pct": float(max(r["reduction_pct"] for r in tr)),
    }
    return summary, rows, reg


def table_views(rows: Sequence[Mapping[str, Any]]):
    """``(agreement, oracle, regret)`` pandas views of the summary rows."""
    import pandas as pd

    df = pd.DataFrame(rows)
    ag = df[df.kind == "agreement"].set_index("judge")[
        ["pearson", "spearman", "kendall", "ccc", "bias", "mad", "diff_p2_5", "diff_p97_5"]
    ]
    orc = df[df.kind == "oracle"].pivot(index="judge", columns="eval_judge", values="capture_pct")
    reg = df[df.kind == "regret"].pivot_table(
        index=["eval_judge", "budget"], columns="method", values="regret_mean", sort=False
    )
    return ag, orc, reg


@figures.register(EXPERIMENT, "cross_judge_regret")
def cross_judge_regret(results: Mapping[str, Any]) -> plt.Figure:
    """Mean cold-start test regret per judge and budget, Tabula Rasa vs Random (95 % bootstrap CIs)."""
    reg = [r for r in results["table"] if r["kind"] == "regret"]
    judges = list(dict.fromkeys(r["eval_judge"] for r in reg))
    budgets = list(dict.fromkeys(r["budget"] for r in reg))
    fig, axes = plt.subplots(1, len(budgets), figsize=(2.8 * len(budgets), 3.0), sharey=True, squeeze=False)
    colours = style.palette(2)
    for ax, b in zip(axes[0], budgets, strict=True):
        for i, m in enumerate(("tabula_rasa", "random")):
            sel = [
                next(r for r in reg if r["eval_judge"] == j and r["budget"] == b and r["method"] == m)
                for j in judges
            ]
            mean = np.array([r["regret_mean"] for r in sel])
            err = np.array(
                [
                    [r["regret_mean"] - r["regret_ci_low"] for r in sel],
                    [r["regret_ci_high"] - r["regret_mean"] for r in sel],
                ]
            )
            ax.bar(
                np.arange(len(judges)) + (i - 0.5) * 0.38,
                mean,
                0.38,
                yerr=err,
                capsize=2,
                color=colours[i],
                label={"tabula_rasa": "Tabula Rasa", "random": "Random"}[m],
            )
        ax.set_xticks(np.arange(len(judges)), judges)
        bval = results["per_seed"]["budgets"].get(b)
        ax.set_title(b if bval is None else f"{b} (B = {bval:.3g} $/req)", fontsize=9)
    axes[0, 0].set_ylabel("cumulative test regret (own oracle)")
    axes[0, -1].legend(
        fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5), title="95 % bootstrap CI", title_fontsize=7
    )
    return fig


@figures.register(EXPERIMENT, "gap_concordance")
def gap_concordance(results: Mapping[str, Any]) -> plt.Figure:
    """Kendall's W of the three judges per R1-gap bin (bar) and best-model agreement with R1 (lines)."""
    bins = results["agreement"]["gap_bins"]
    labels = [f"[{b['low']:.2f}, {b['high']:.2f})" for b in bins]
    fig, ax = plt.subplots(figsize=(5.4, 3.2))
    ax.bar(range(len(bins)), [b["kendall_w"] for b in bins], color="0.75", label="Kendall W (3 judges)")
    keys = [k for k in bins[0] if k.startswith("best_agree_")]
    for c, k in zip(style.palette(len(keys)), keys, strict=True):
        ax.plot(
            range(len(bins)),
            [b[k] for b in bins],
            marker="o",
            color=c,
            label=f"best model = R1's ({k.removeprefix('best_agree_')})",
        )
    ax.set_xticks(range(len(bins)), labels, fontsize=7)
    ax.set_xlabel("R1 per-prompt gap (max − min)")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5))
    return fig
