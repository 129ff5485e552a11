"""Appendix — recovery limit (notebook 07): summary, ``summary.csv`` rows and figures.

Reads only the JSON-able output of :func:`paretobandit.experiments.recovery_limit.run_recovery_limit`.
Horizons are named by their length in phases: ``h1`` = the first L steps of P3 (608 at full scale),
``h2`` = the first 2L (1,216). Levels are keyed ``level_05`` … ``level_85`` (the P2 reward × 100).
Cost/B is stored as ``util`` so the macro formatter prints two decimals. CIs: percentile bootstrap over
per-seed values (:func:`paretobandit.workbench.stats.summarise`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from . import figures, style
from .stats import summarise

__all__ = ["TABLE_COLUMNS", "level_key", "recovery_limit_level", "summarise_recovery_limit", "table_view"]

EXPERIMENT = "recovery_limit"
TABLE_COLUMNS = ["budget", "budget_value", "level", "horizon", "p3_steps", "recovery_ratio",
                 "recovery_ci_low", "recovery_ci_high", "full_recovery", "frac_seeds_full", "late_ratio",
                 "late_ci_low", "late_ci_high", "reward_p1", "reward_p2", "reward_p3", "util_p1", "util_p2",
                 "util_p3", "share_p1", "share_p2", "share_p3", "share_p3_last"]


def level_key(level: float) -> str:
    """``0.05`` → ``level_05`` (macro-friendly)."""
    return f"level_{int(round(100 * float(level))):02d}"


def recovery_limit_level(levels: Sequence[float], full: Sequence[bool]) -> float | None:
    """Smallest level ℓ such that every level ≥ ℓ recovers fully (None if the largest one does not)."""
    order = np.argsort(np.asarray(levels, dtype=float))
    limit = None
    for i in order[::-1]:
        if not full[i]:
            break
        limit = float(levels[i])
    return limit


def summarise_recovery_limit(raw: Mapping[str, Any], *, bootstrap: Mapping[str, Any] | None = None
                             ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Summary ``{budget: {h1|h2: {level_xx: {...}}}, "headlines"}``; one row per budget × level × horizon."""
    boot = {"n_resamples": 10_000, "seed": 42, "confidence_level": 0.95, **dict(bootstrap or {})}
    thr = float(raw["threshold"])
    length = int(raw["phase_length"])
    horizons = [int(h) for h in raw["horizons"]]
    cells = {(c["budget"], c["level"]): c for c in raw["cells"]}
    summary: dict[str, Any] = {}
    rows: list[dict[str, Any]] = []
    heads: dict[str, Any] = {"threshold": thr}
    for b, bval in raw["budgets"].items():
        entry: dict[str, Any] = {}
        for h in horizons:
            hname = f"h{h // length}"
            hentry: dict[str, Any] = {"p3_steps": h}
            full_flags = []
            for lv in raw["levels"]:
                ps = cells[(b, lv)]["per_seed"]
                rec = np.asarray(ps["recovery_ratio"][str(h)], dtype=float)
                s = summarise(rec, **boot)
                lt = summarise(ps["late_ratio"][str(h)], **boot)
                full = bool(s["mean"] >= thr)
                full_flags.append(full)
                hentry[level_key(lv)] = {"recovery": s["mean"], "recovery_ci_low": s["ci_low"],
                                         "recovery_ci_high": s["ci_high"], "full_recovery": full,
                                         "frac_seeds_full": float(np.mean(rec >= thr)),
                                         "late_recovery": lt["mean"]}
                mr, cr, sh = ps["mean_reward"], ps["cost_ratio"], ps["degraded_share"]
                rows.append({"budget": b, "budget_value": float(bval), "level": float(lv), "horizon": hname,
                             "p3_steps": h, "recovery_ratio": s["mean"], "recovery_ci_low": s["ci_low"],
                             "recovery_ci_high": s["ci_high"], "full_recovery": full,
                             "frac_seeds_full": float(np.mean(rec >= thr)), "late_ratio": lt["mean"],
                             "late_ci_low": lt["ci_low"], "late_ci_high": lt["ci_high"],
                             **{f"reward_{k}": float(np.mean(mr[k])) for k in ("p1", "p2", "p3")},
                             **{f"util_{k}": float(np.mean(cr[k])) for k in ("p1", "p2", "p3")},
                             **{f"share_{k}": float(np.mean(sh[k])) for k in ("p1", "p2", "p3", "p3_last")}})
            hentry["n_levels_full"] = int(sum(full_flags))
            limit = recovery_limit_level(raw["levels"], full_flags)
            hentry["limit_level"] = limit
            heads[f"{b}_{hname}_n_levels_full"] = int(sum(full_flags))
            heads[f"{b}_{hname}_limit_level"] = limit
            entry[hname] = hentry
        utils = [float(np.mean(cells[(b, lv)]["per_seed"]["cost_ratio"][k]))
                 for lv in raw["levels"] for k in ("p1", "p2", "p3")]
        entry["max_util"] = max(utils)
        summary[b] = entry
    heads["max_util"] = max(summary[b]["max_util"] for b in raw["budgets"])
    summary["headlines"] = heads
    return summary, rows


def table_view(rows: Sequence[Mapping[str, Any]]):
    """Pandas view: recovery ratio [CI] per budget × level, horizons side by side."""
    import pandas as pd

    df = pd.DataFrame(rows)
    wide = df.pivot_table(index=["budget", "level"], columns="horizon",
                          values=["recovery_ratio", "recovery_ci_low", "recovery_ci_high", "frac_seeds_full"],
                          sort=False)
    wide.columns = [f"{m}_{h}" for m, h in wide.columns]
    first = df[df.horizon == "h1"].set_index(["budget", "level"])[["reward_p1", "reward_p2", "share_p1",
                                                                     "share_p2", "util_p2"]]
    return first.join(wide)


@figures.register(EXPERIMENT, "recovery")
def recovery_figure(results: Mapping[str, Any]) -> plt.Figure:
    """Recovery ratio P3/P1 [95% CI] against Mistral's P2 reward, one panel per budget, one line per
    P3 horizon, with the full-recovery threshold dashed."""
    rows = results["table"]
    raw = results["per_seed"]
    budgets = list(raw["budgets"])
    horizons = list(dict.fromkeys(r["horizon"] for r in rows))
    fig, axes = plt.subplots(1, len(budgets), figsize=(4.2 * len(budgets), 3.2), sharey=True, squeeze=False)
    colours = style.palette(len(horizons))
    for ax, b in zip(axes[0], budgets, strict=True):
        for h, colour in zip(horizons, colours, strict=True):
            sel = sorted((r for r in rows if r["budget"] == b and r["horizon"] == h),
                         key=lambda r: r["level"])
            x = np.array([r["level"] for r in sel])
            y = np.array([r["recovery_ratio"] for r in sel])
            lo = np.array([r["recovery_ci_low"] for r in sel])
            hi = np.array([r["recovery_ci_high"] for r in sel])
            err = np.array([y - lo, hi - y])
            ax.errorbar(x, y, yerr=err, marker="o", ms=3, capsize=2, color=colour,
                        label=f"P3 = {sel[0]['p3_steps']} steps")
        ax.axhline(float(raw["threshold"]), color="0.3", ls="--", lw=0.9)
        ax.set_title(f"{b} (B = {raw['budgets'][b]:.2e})", fontsize=8)
        ax.set_xlabel("degraded model's P2 reward")
    axes[0][0].set_ylabel("recovery ratio P3 / P1")
    axes[0][-1].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


@figures.register(EXPERIMENT, "share_traces")
def share_traces(results: Mapping[str, Any]) -> plt.Figure:
    """Windowed share of the degraded model over the test stream, one line per level, one panel per budget."""
    traces = results["traces"]
    raw = results["per_seed"]
    budgets = list(raw["budgets"])
    levels = list(raw["levels"])
    fig, axes = plt.subplots(1, len(budgets), figsize=(4.2 * len(budgets), 3.2), sharey=True, squeeze=False)
    cmap = plt.get_cmap("viridis")
    for ax, b in zip(axes[0], budgets, strict=True):
        for i, lv in enumerate(levels):
            tr = traces[b][level_key(lv)]
            ax.plot(tr["test_step"], tr["degraded_share"], lw=0.9, color=cmap(i / max(len(levels) - 1, 1)),
                    label=f"{lv:.2f}")
        for a, _ in raw["phase_bounds_test"][1:]:
            ax.axvline(a, color="0.5", lw=0.8, ls=":")
        ax.set_title(f"{b} (B = {raw['budgets'][b]:.2e})", fontsize=8)
        ax.set_xlabel(f"test step (window {raw['window']})")
    axes[0][0].set_ylabel(f"{raw['degraded_model'].split('/')[-1]} share")
    axes[0][0].legend(fontsize=5, ncol=3, title="P2 reward", title_fontsize=6, loc="lower left")
    fig.tight_layout()
    return fig


def split_traces(raw: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(raw without per-cell traces, {budget: {level_key: trace}})``."""
    out = dict(raw)
    cells, traces = [], {}
    for c in raw["cells"]:
        cells.append({k: v for k, v in c.items() if k != "trace"})
        traces.setdefault(c["budget"], {})[level_key(c["level"])] = c["trace"]
    out["cells"] = cells
    return out, traces
