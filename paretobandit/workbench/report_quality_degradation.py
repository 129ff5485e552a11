"""Exp 03 (silent quality degradation): summary, ``summary.csv`` rows, headlines and figures.

Figures (registered for ``quality_degradation``): ``reward`` (windowed reward) and ``mistral_share``
(windowed share of the degraded model), one panel per budget and one line per condition.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt

from . import figures
from .report_nonstationary import BASE_COLUMNS, PHASE_NAMES, add_variants, plot_traces, summarise_phased

__all__ = ["TABLE_COLUMNS", "summarise_quality_degradation"]

EXPERIMENT = "quality_degradation"
TABLE_COLUMNS = [*BASE_COLUMNS, "share_llama", "share_mistral", "share_pro", "mistral_share",
                 "mistral_late_share", "recovery_ratio", "recovery_ratio_ci_low", "recovery_ratio_ci_high",
                 "trough", "trough_ci_low", "trough_ci_high", "trough_depth", "trough_step", "variant"]


def _make_extra(short: str):
    def extra(cs: Mapping[str, Any], phase: int) -> dict[str, float]:
        e = cs[PHASE_NAMES[phase - 1]]
        out = {"mistral_share": e[f"share_{short}"], "mistral_late_share": e.get(f"late_share_{short}")}
        out.update({k: cs[k] for k in ("recovery_ratio", "recovery_ratio_ci_low", "recovery_ratio_ci_high",
                                       "trough", "trough_ci_low", "trough_ci_high", "trough_depth",
                                       "trough_step")})
        return out
    return extra


def summarise_quality_degradation(raw: Mapping[str, Any], *, shorts: Mapping[str, str],
                                  bootstrap: Mapping[str, Any] | None = None, tolerance: float = 0.05
                                  ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Summary (cells + ``headlines``) and table rows of Exp 03.

    Headlines: ParetoBandit's largest cost/B over the 9 budget × phase cells and whether all are within
    ``1 + tolerance``; whether the degraded model's share falls P1 → P2 at every budget and comes back
    (late-P3 share above late-P2 share) at every budget; ParetoBandit's recovery ratio per budget.
    Rows carry ``variant`` as in :func:`~paretobandit.workbench.report_nonstationary.add_variants`.
    """
    degraded = raw["degraded_model"]
    short = shorts[degraded]
    summary, rows = summarise_phased(raw, shorts=shorts, bootstrap=bootstrap, row_extra=_make_extra(short))
    budgets = list(raw["budgets"])
    pb = {b: summary[b]["paretobandit"] for b in budgets}
    share, late = f"share_{short}", f"late_share_{short}"
    utils = [pb[b][p]["util"] for b in budgets for p in PHASE_NAMES]
    heads: dict[str, Any] = {
        "pb_max_util": max(utils),
        "pb_compliant_cells": sum(u <= 1.0 + tolerance for u in utils),
        "pb_compliant_all": bool(all(u <= 1.0 + tolerance for u in utils)),
        "pb_share_falls_all": bool(all(pb[b]["phase_2"][share] < pb[b]["phase_1"][share] for b in budgets)),
        "pb_share_recovers_all": bool(all(pb[b]["phase_3"][late] > pb[b]["phase_2"][late] for b in budgets)),
        "pb_min_recovery_ratio": min(pb[b]["recovery_ratio"] for b in budgets),
    }
    for cond in raw["conditions"]:
        heads[f"{cond}_max_util"] = max(summary[b][cond][p]["util"] for b in budgets for p in PHASE_NAMES)
    summary["headlines"] = heads
    add_variants(raw, summary, rows, shorts=shorts, bootstrap=bootstrap, row_extra=_make_extra(short))
    return summary, rows


def _phases(results: Mapping[str, Any]) -> tuple[str, str, str]:
    short = results["per_seed"]["degraded_model"].split("/")[-1]
    return ("P1: normal quality", f"P2: {short} degraded", "P3: quality restored")


@figures.register(EXPERIMENT, "reward")
def degradation_reward(results: Mapping[str, Any]) -> plt.Figure:
    """Windowed observed reward over the test stream, with seed bands."""
    return plot_traces(results, lambda tr: tr["reward"], ylabel="reward (windowed)",
                       phase_names=_phases(results), band=lambda tr: (tr.get("band") or {}).get("reward"))


@figures.register(EXPERIMENT, "mistral_share")
def degradation_share(results: Mapping[str, Any]) -> plt.Figure:
    """Windowed share of the degraded model, with seed bands."""
    model = results["per_seed"]["degraded_model"]
    label = f"{model.split('/')[-1]} share (windowed)"
    return plot_traces(results, lambda tr: tr["share"][model], ylabel=label, phase_names=_phases(results),
                       band=lambda tr: ((tr.get("band") or {}).get("share") or {}).get(model))


def table_view(rows: Sequence[Mapping[str, Any]]):
    """Compact pandas view: one row per budget × condition, phases side by side."""
    import pandas as pd

    df = pd.DataFrame(rows)
    if "variant" not in df:
        df["variant"] = "paper"
    idx = ["variant", "budget", "condition"]
    wide = df.pivot_table(index=idx, columns="phase",
                          values=["cost_ratio", "mean_reward", "mistral_share"], sort=False)
    wide.columns = [f"{m}_P{p}" for m, p in wide.columns]
    extra = df[df.phase == 1].set_index(idx)[["recovery_ratio", "trough", "trough_depth"]]
    return wide.join(extra)
