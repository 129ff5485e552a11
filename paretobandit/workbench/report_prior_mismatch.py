"""Appendix prior mismatch (§A4): statistics → summary (macros), ``summary.csv`` rows and figures.

Reads only the JSON-able output of :func:`paretobandit.experiments.prior_mismatch.run_prior_mismatch`;
the statistics are :func:`~paretobandit.experiments.prior_mismatch.analyse_prior_mismatch`. Summary
keys: ``<prior>.neff_<n>`` for the prior conditions, ``<baseline>`` for the no-prior baselines.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from ..experiments.prior_mismatch import analyse_prior_mismatch
from . import figures, style

__all__ = ["TABLE_COLUMNS", "cell_key", "summarise_prior_mismatch", "table_view"]

EXPERIMENT = "prior_mismatch"
TABLE_COLUMNS = [
    "prior",
    "n_eff",
    "alpha",
    "regret_median",
    "regret_median_ci_low",
    "regret_median_ci_high",
    "regret_mean",
    "regret_ci_low",
    "regret_ci_high",
    "regret_sd",
    "regret_se",
    "r200_mean",
    "r200_ci_low",
    "r200_ci_high",
    "mean_reward",
    "reward_ci_low",
    "reward_ci_high",
    "sign_wins_vs_tr",
    "sign_p_holm_vs_tr",
    "fisher_p_holm_vs_tr",
    "cat_count",
    "delta_median_vs_tr",
    "reduction_pct",
    "reduction_ci_low",
    "reduction_ci_high",
]


def cell_key(n_eff: float | None) -> str:
    """``neff_10`` for n_eff = 10 (``neff_1000`` …)."""
    return f"neff_{float(n_eff):g}".replace(".", "p")


def summarise_prior_mismatch(
    raw: Mapping[str, Any],
    *,
    catastrophic_factor: float = 2.0,
    catastrophic_reference: str = "tabula_rasa_matched",
    headline_baseline: str = "tabula_rasa",
    bootstrap: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
    """``(summary, rows, analysis)``: macros summary, one CSV row per condition, the full analysis.

    The ``*_vs_tr`` and ``reduction_*`` columns compare each prior condition with ``headline_baseline``
    (tests with the stored ``code`` catastrophic threshold); ``n_eff`` is empty for the baselines.
    """
    an = analyse_prior_mismatch(
        raw,
        catastrophic_factor=catastrophic_factor,
        catastrophic_reference=catastrophic_reference,
        headline_baseline=headline_baseline,
        bootstrap=bootstrap,
    )
    thr = an["thresholds"]["code"]
    vs_tr = {(t["prior"], t["n_eff"]): t for t in an["tests"]["code"][headline_baseline]}
    derived = {(t["prior"], t["n_eff"]): t for t in an["derived"]}
    alphas = {(c["prior"], c["n_eff"]): c["alpha"] for c in raw["cells"]}
    regrets = {(c["prior"], c["n_eff"]): np.asarray(c["per_seed"]["total_regret"]) for c in raw["cells"]}
    summary: dict[str, Any] = {}
    rows: list[dict[str, Any]] = []
    for c in an["conditions"]:
        kk = (c["prior"], c["n_eff"])
        tr, r2, rew = c["total_regret"], c["r_at"], c["mean_reward"]
        row: dict[str, Any] = {
            "prior": c["prior"],
            "n_eff": None if c["n_eff"] is None else int(c["n_eff"]),
            "alpha": alphas[kk],
            "regret_median": tr["median"],
            "regret_median_ci_low": tr["median_ci_low"],
            "regret_median_ci_high": tr["median_ci_high"],
            "regret_mean": tr["mean"],
            "regret_ci_low": tr["ci_low"],
            "regret_ci_high": tr["ci_high"],
            "regret_sd": tr["sd"],
            "regret_se": tr["se"],
            "r200_mean": r2["mean"],
            "r200_ci_low": r2["ci_low"],
            "r200_ci_high": r2["ci_high"],
            "mean_reward": rew["mean"],
            "reward_ci_low": rew["ci_low"],
            "reward_ci_high": rew["ci_high"],
            "cat_count": int((regrets[kk] > thr).sum()),
        }
        entry: dict[str, Any] = {
            "regret_median": tr["median"],
            "regret_median_ci_low": tr["median_ci_low"],
            "regret_median_ci_high": tr["median_ci_high"],
            "regret_mean": tr["mean"],
            "regret_sd": tr["sd"],
            "r_two_hundred": r2["mean"],
            "mean_reward": rew["mean"],
            "cat_count": row["cat_count"],
        }
        if kk in vs_tr:
            t, dv = vs_tr[kk], derived[kk]
            row.update(
                sign_wins_vs_tr=t["sign_wins"],
                sign_p_holm_vs_tr=t["sign_p_holm"],
                fisher_p_holm_vs_tr=t["fisher_p_holm"],
                delta_median_vs_tr=t["delta_median"],
                reduction_pct=dv["reduction_pct"],
                reduction_ci_low=dv["reduction_ci_low"],
                reduction_ci_high=dv["reduction_ci_high"],
            )
            entry.update(
                sign_wins=int(t["sign_wins"]),
                sign_pvalue_holm=t["sign_p_holm"],
                fisher_pvalue_holm=t["fisher_p_holm"],
                reduction_pct=dv["reduction_pct"],
                reduction_ci_low_pct=dv["reduction_ci_low"],
                reduction_ci_high_pct=dv["reduction_ci_high"],
                excess=dv["excess"],
                excess_ci_low=dv["excess_ci_low"],
                excess_ci_high=dv["excess_ci_high"],
                increase_pct=dv["increase_pct"],
            )
            summary.setdefault(c["prior"], {})[cell_key(c["n_eff"])] = entry
        else:
            summary[c["prior"]] = entry
        rows.append(row)
    btw = an["baseline_vs_baseline"]["code"]
    sd_lo, sd_hi = an["non_inverted_sd_range"] or (float("nan"), float("nan"))
    summary["headlines"] = {
        "n_seeds": len(raw["seeds"]),
        "n_test": int(raw["n_test"]),
        "tr_median": an["tr_median"],
        "cat_threshold_code": an["thresholds"]["code"],
        "cat_threshold_text": an["thresholds"]["text"],
        "tr_cat_count_text": int((regrets[(headline_baseline, None)] > an["thresholds"]["text"]).sum()),
        "tr_cat_count_code": int((regrets[(headline_baseline, None)] > an["thresholds"]["code"]).sum()),
        "matched_vs_tr_sign_pvalue": btw["sign_p"],
        "non_inverted_sd_min": sd_lo,
        "non_inverted_sd_max": sd_hi,
        "priors_beat_tr_median": int(sum(d["reduction_pct"] > 0 for d in an["derived"])),
        "n_prior_conditions": len(an["derived"]),
        **{f"neff_{name}": int(v)
           for name, v in zip(("weak", "medium", "strong"), raw["n_effs"], strict=False)},
    }
    return summary, rows, an


def table_view(rows: Sequence[Mapping[str, Any]]):
    """Headline pandas view: one row per condition (medians first)."""
    import pandas as pd

    df = pd.DataFrame(rows)
    df["n_eff"] = df["n_eff"].astype("Int64")
    return df.set_index(["prior", "n_eff"])[
        [
            "regret_median",
            "regret_median_ci_low",
            "regret_median_ci_high",
            "regret_mean",
            "regret_sd",
            "r200_mean",
            "mean_reward",
            "sign_wins_vs_tr",
            "sign_p_holm_vs_tr",
        ]
    ]


@figures.register(EXPERIMENT, "median_regret")
def median_regret(results: Mapping[str, Any]) -> plt.Figure:
    """Median total regret per prior level vs n_eff (95 % percentile-bootstrap median CIs, 20 seeds)."""
    rows = results["table"]
    priors = [p for p in results["per_seed"]["prior_levels"]]
    baselines = list(results["per_seed"]["baselines"])
    fig, ax = plt.subplots(figsize=(5.4, 3.4))
    colours = style.palette(len(priors))
    greys = ["0.25", "0.55", "0.75"]
    for j, b in enumerate(baselines):
        r = next(x for x in rows if x["prior"] == b)
        col = greys[j % len(greys)]
        ax.axhline(r["regret_median"], color=col, ls="--", lw=1.1, label=f"{b} (no prior)")
        ax.axhspan(r["regret_median_ci_low"], r["regret_median_ci_high"], color=col, alpha=0.15, lw=0)
    for j, p in enumerate(priors):
        sel = sorted((x for x in rows if x["prior"] == p), key=lambda x: x["n_eff"])
        n = np.array([x["n_eff"] for x in sel], dtype=float)
        med = np.array([x["regret_median"] for x in sel])
        err = np.array(
            [
                [x["regret_median"] - x["regret_median_ci_low"] for x in sel],
                [x["regret_median_ci_high"] - x["regret_median"] for x in sel],
            ]
        )
        ax.errorbar(
            n * (1 + 0.06 * (j - 2)),
            med,
            yerr=err,
            marker="o",
            ms=3.5,
            lw=1.2,
            capsize=2,
            color=colours[j],
            label=p + (" (paper's prior)" if p == "calibrated" else ""),
        )
    ax.set_xscale("log")
    ax.set_xticks([10, 100, 1000], ["10", "100", "1,000"])
    ax.set_xlabel("prior strength n_eff")
    ax.set_ylabel("median total test regret")
    ax.legend(
        fontsize=7,
        loc="center left",
        bbox_to_anchor=(1.02, 0.5),
        title="bars/bands: 95 % bootstrap CI of the median",
        title_fontsize=7,
    )
    return fig
