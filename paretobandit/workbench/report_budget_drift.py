"""Exp 02 (budget pacing under cost drift): summary, ``summary.csv`` rows, headlines and figures.

Figures (registered for ``budget_drift``): ``weight`` (penalty weight λ_c + λ over the test stream),
``cost_ratio`` (windowed cost / B) and ``pro_share`` (windowed share of the repriced model), one panel
per budget and one line per condition.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from . import figures
from .report_nonstationary import (
    BASE_COLUMNS,
    PHASE_NAMES,
    add_variants,
    binding_cells,
    plot_traces,
    summarise_phased,
)

__all__ = ["TABLE_COLUMNS", "summarise_budget_drift"]

EXPERIMENT = "budget_drift"
TABLE_COLUMNS = [*BASE_COLUMNS, "share_llama", "share_mistral", "share_pro", "reward_lift",
                 "reward_lift_ci_low", "reward_lift_ci_high", "variant"]
BASELINES = ("naive", "recalibrated", "forgetting", "unconstrained")


def _lift_columns(cs: Mapping[str, Any], phase: int) -> dict[str, float]:
    return {k: cs[k] for k in ("reward_lift", "reward_lift_ci_low", "reward_lift_ci_high")}


def summarise_budget_drift(raw: Mapping[str, Any], *, shorts: Mapping[str, str],
                           bootstrap: Mapping[str, Any] | None = None, tolerance: float = 0.05
                           ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Summary (cells + ``headlines``) and table rows of Exp 02.

    Headlines: ParetoBandit's largest |cost/B − 1| over binding cells (:func:`binding_cells`) and
    whether it is within ``tolerance``; its largest overshoot over all cells; every baseline's largest
    cost/B (overall and in P3); ParetoBandit's P2 − P1 reward lift per budget, its maximum and whether
    it is positive at every budget. Rows carry ``variant`` ("paper", or the name of a run in
    ``raw["variants"]``, e.g. "fitted"); a variant's cells go to ``summary["variant_<name>"]``.
    """
    summary, rows = summarise_phased(raw, shorts=shorts, bootstrap=bootstrap, row_extra=_lift_columns)
    bind = binding_cells(summary)
    pb = {b: summary[b]["paretobandit"] for b in summary}
    dev = [abs(pb[b][p]["util"] - 1.0) for b in bind for p in bind[b]]
    heads: dict[str, Any] = {
        "n_binding_cells": len(dev),
        "pb_max_abs_dev_binding_pct": 100.0 * max(dev) if dev else 0.0,
        "pb_within_tolerance_binding": bool(not dev or max(dev) <= tolerance),
        "pb_max_overshoot_pct": max(pb[b][p]["overshoot_pct"] for b in pb for p in PHASE_NAMES),
        "pb_lift_positive_all": bool(all(pb[b]["reward_lift"] > 0 for b in pb)),
        "pb_max_lift": max(pb[b]["reward_lift"] for b in pb),
        "pb_max_lift_budget": max(pb, key=lambda b: pb[b]["reward_lift"]),
    }
    for cond in BASELINES:
        if cond not in raw["conditions"]:
            continue
        heads[f"{cond}_max_util"] = max(summary[b][cond][p]["util"] for b in summary for p in PHASE_NAMES)
        heads[f"{cond}_max_util_phase_3"] = max(summary[b][cond]["phase_3"]["util"] for b in summary)
    summary["headlines"] = heads
    summary["binding"] = {b: ",".join(p.replace("phase_", "P") for p in ps) for b, ps in bind.items()}
    add_variants(raw, summary, rows, shorts=shorts, bootstrap=bootstrap, row_extra=_lift_columns)
    return summary, rows


def _pro(results: Mapping[str, Any]) -> str:
    return results["per_seed"]["drift_model"]


def _phases(results: Mapping[str, Any]) -> tuple[str, str, str]:
    short = _pro(results).split("/")[-1]
    return ("P1: catalog prices", f"P2: {short} repriced", "P3: prices restored")


def _band(*path: str):
    def get(tr: Mapping[str, Any]):
        node = tr.get("band")
        for key in path:
            node = None if node is None else node.get(key)
        return node
    return get


_FLOOR = 1e-3   # cost/B floor on the log axis (a window without spend would be log(0))


@figures.register(EXPERIMENT, "weight")
def drift_weight(results: Mapping[str, Any]) -> plt.Figure:
    """Cost-penalty weight λ_c + λ (pacer) over the test stream, with seed bands."""
    return plot_traces(results, lambda tr: tr["weight"], ylabel="penalty weight λ_c + λ",
                       phase_names=_phases(results), band=_band("weight"))


@figures.register(EXPERIMENT, "cost_ratio")
def drift_cost_ratio(results: Mapping[str, Any]) -> plt.Figure:
    """Windowed cost / B (log scale with 1-2-5 ticks), the budget ceiling at 1, with seed bands."""
    return plot_traces(results, lambda tr: np.maximum(tr["cost_ratio"], _FLOOR), ylabel="cost / B (windowed)",
                       ceiling=1.0, logy=True, phase_names=_phases(results), band=_band("cost_ratio"))


@figures.register(EXPERIMENT, "pro_share")
def drift_pro_share(results: Mapping[str, Any]) -> plt.Figure:
    """Windowed share of the repriced model, with seed bands."""
    pro = _pro(results)
    return plot_traces(results, lambda tr: tr["share"][pro], ylabel=f"{pro.split('/')[-1]} share (windowed)",
                       phase_names=_phases(results), band=_band("share", pro))


def table_view(rows: Sequence[Mapping[str, Any]]):
    """Compact pandas view: one row per budget × condition, phases side by side."""
    import pandas as pd

    df = pd.DataFrame(rows)
    if "variant" not in df:
        df["variant"] = "paper"
    idx = ["variant", "budget", "condition"]
    wide = df.pivot_table(index=idx, columns="phase",
                          values=["cost_ratio", "mean_reward", "mean_weight", "share_pro"], sort=False)
    wide.columns = [f"{m}_P{p}" for m, p in wide.columns]
    lift = df[df.phase == 1].set_index(idx)["reward_lift"]
    return wide.join(lift)
