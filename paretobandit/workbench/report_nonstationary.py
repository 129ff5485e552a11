"""Three-phase experiments (Exp 02/03): per-seed metrics → summary, ``summary.csv`` rows, traces, figures.

Reads only the JSON-able output of :func:`paretobandit.experiments.phased.run_phased` (via
``run_budget_drift`` / ``run_quality_degradation``); knows nothing about how it was simulated.

Conventions
-----------
* ``cost_ratio`` = mean realised cost of the phase / B (per seed; mean and 95% percentile-bootstrap CI
  over seeds, :func:`paretobandit.workbench.stats.summarise`: 10,000 resamples, seed 42). The
  unconstrained condition is budget-free: the same runs are reported against every budget.
* Summary keys (→ LaTeX macros) use ``util`` for cost/B so the macro formatter prints two decimals.
* A budget × phase cell is *binding* when the unconstrained router spends more than B in it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from . import figures, style
from .stats import summarise

__all__ = ["BASE_COLUMNS", "PAPER_VARIANT", "PHASE_NAMES", "add_variants", "binding_cells", "cell_summary",
           "plot_traces", "split_traces", "summarise_phased"]

PHASE_NAMES = ("phase_1", "phase_2", "phase_3")
#: ``variant`` of the rows of the paper's configuration (hand-set λ_c of the static-penalty baselines).
PAPER_VARIANT = "paper"
BASE_COLUMNS = ["budget", "budget_value", "condition", "phase", "cost_ratio", "cost_ratio_ci_low",
                "cost_ratio_ci_high", "mean_reward", "reward_ci_low", "reward_ci_high", "mean_cost",
                "lambda_c", "mean_lambda", "median_lambda", "mean_weight"]
_CONDITION_LABELS = {"naive": "Naive (γ=1, λ_c)", "recalibrated": "Recalibrated (oracle λ_c)",
                     "forgetting": "Forgetting (γ=0.997, λ_c)", "paretobandit": "ParetoBandit (pacer)",
                     "unconstrained": "Unconstrained"}
# Static-λ_c baselines often overlap (same fitted λ_c): dashes keep them apart.
_LINESTYLES = {"recalibrated": "--", "forgetting": "-."}


def split_traces(raw: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(raw without the per-cell traces, {budget: {condition: trace}})``: traces are kept once.

    Only the main run's traces are kept (the figures show the paper's configuration); the cells of
    ``raw["variants"]`` lose theirs.
    """
    out = dict(raw)
    cells, traces = [], {}
    for cell in raw["cells"]:
        cells.append({k: v for k, v in cell.items() if k != "trace"})
        if "trace" in cell:
            traces.setdefault(cell["budget"], {})[cell["condition"]] = cell["trace"]
    out["cells"] = cells
    if raw.get("variants"):
        out["variants"] = {
            name: {**v, "cells": [{k: x for k, x in c.items() if k != "trace"} for c in v["cells"]]}
            for name, v in raw["variants"].items()}
    return out, traces


def _boot(values, boot: Mapping[str, Any]) -> dict[str, float]:
    return summarise(np.asarray(values, dtype=float), **boot)


def cell_summary(cell: Mapping[str, Any], shorts: Mapping[str, str], boot: Mapping[str, Any]
                 ) -> dict[str, Any]:
    """Per-phase means/CIs and the per-seed derived metrics of one condition × budget cell."""
    ps = cell["per_seed"]
    out: dict[str, Any] = {"budget": float(cell["budget_value"])}
    for j, phase in enumerate(PHASE_NAMES):
        util = _boot(ps["cost_ratio"][j], boot)
        rew = _boot(ps["mean_reward"][j], boot)
        entry = {"util": util["mean"], "util_ci_low": util["ci_low"], "util_ci_high": util["ci_high"],
                 "overshoot_pct": max(0.0, 100.0 * (util["mean"] - 1.0)),
                 "mean_reward": rew["mean"], "reward_ci_low": rew["ci_low"], "reward_ci_high": rew["ci_high"],
                 "mean_cost": float(np.mean(ps["mean_cost"][j])),
                 "lambda_c": float(cell["cost_penalty"][j]),
                 "mean_lambda": float(np.mean(ps["mean_lambda"][j])),
                 "median_lambda": float(np.mean(ps["median_lambda"][j])),
                 "mean_weight": float(np.mean(ps["mean_weight"][j]))}
        for model, short in shorts.items():
            entry[f"share_{short}"] = float(np.mean(ps["share"][model][j]))
            if "late_share" in ps:
                entry[f"late_share_{short}"] = float(np.mean(ps["late_share"][model][j]))
        out[phase] = entry
    for key in ("reward_lift", "recovery_ratio", "trough", "trough_depth"):
        s = _boot(ps[key], boot)
        out[key] = s["mean"]
        out[f"{key}_ci_low"] = s["ci_low"]
        out[f"{key}_ci_high"] = s["ci_high"]
    out["trough_step"] = float(np.mean(ps["trough_step"]))
    return out


def binding_cells(summary: Mapping[str, Any], reference: str = "unconstrained") -> dict[str, list[str]]:
    """``{budget: [phase names]}`` where the ``reference`` condition's cost/B exceeds 1."""
    out = {}
    for bname, conds in summary.items():
        ref = conds.get(reference)
        if ref is None:
            continue
        out[bname] = [p for p in PHASE_NAMES if ref[p]["util"] > 1.0]
    return out


def summarise_phased(raw: Mapping[str, Any], *, shorts: Mapping[str, str],
                     bootstrap: Mapping[str, Any] | None = None,
                     row_extra: Callable[[Mapping[str, Any], int], Mapping[str, Any]] | None = None
                     ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Cell summaries ``{budget: {condition: cell_summary}}`` and the ``summary.csv`` rows.

    Parameters
    ----------
    raw : mapping
        Protocol output (``cells`` with ``per_seed``).
    shorts : mapping model id → short name
        Used in share column and macro names.
    bootstrap : mapping, optional
        ``n_resamples``, ``seed``, ``confidence_level``.
    row_extra : callable ``(cell_summary, phase_index) -> mapping``, optional
        Experiment-specific columns of each row.
    """
    boot = {"n_resamples": 10_000, "seed": 42, "confidence_level": 0.95, **dict(bootstrap or {})}
    budgets = list(raw["budgets"])
    conditions = list(raw["conditions"])
    cells = {(c["budget"], c["condition"]): c for c in raw["cells"]}
    summary: dict[str, Any] = {}
    rows: list[dict[str, Any]] = []
    for bname in budgets:
        summary[bname] = {}
        for cond in conditions:
            cs = cell_summary(cells[(bname, cond)], shorts, boot)
            summary[bname][cond] = cs
            for j, phase in enumerate(PHASE_NAMES, start=1):
                e = cs[phase]
                row = {"budget": bname, "budget_value": cs["budget"], "condition": cond, "phase": j,
                       "cost_ratio": e["util"], "cost_ratio_ci_low": e["util_ci_low"],
                       "cost_ratio_ci_high": e["util_ci_high"], "mean_reward": e["mean_reward"],
                       "reward_ci_low": e["reward_ci_low"], "reward_ci_high": e["reward_ci_high"],
                       "mean_cost": e["mean_cost"], "lambda_c": e["lambda_c"],
                       "mean_lambda": e["mean_lambda"],
                       "median_lambda": e["median_lambda"], "mean_weight": e["mean_weight"]}
                row.update({k: v for k, v in e.items() if k.startswith(("share_", "late_share_"))})
                if row_extra is not None:
                    row.update(row_extra(cs, j))
                rows.append(row)
    return summary, rows


def add_variants(raw: Mapping[str, Any], summary: dict[str, Any], rows: list[dict[str, Any]], *,
                 shorts: Mapping[str, str], bootstrap: Mapping[str, Any] | None = None,
                 row_extra: Callable[[Mapping[str, Any], int], Mapping[str, Any]] | None = None) -> None:
    """Label ``rows`` as the paper's (``variant = "paper"``) and append the rows of every run in
    ``raw["variants"]`` (``variant`` = its name); their cell summaries go to ``summary["variant_<name>"]``.
    """
    for row in rows:
        row["variant"] = PAPER_VARIANT
    for name, vraw in (raw.get("variants") or {}).items():
        vsum, vrows = summarise_phased(vraw, shorts=shorts, bootstrap=bootstrap, row_extra=row_extra)
        for row in vrows:
            row["variant"] = str(name)
        rows.extend(vrows)
        summary[f"variant_{name}"] = vsum


# ------------------------------------------------------------------------------------- figures
def _order(results: Mapping[str, Any], key: str) -> list[str]:
    """Budgets or conditions in table order (the protocol's), not the JSON's sorted key order."""
    return list(dict.fromkeys(r[key] for r in results.get("table", ())))


def plot_traces(results: Mapping[str, Any], series: Callable[[Mapping[str, Any]], Sequence[float]], *,
                ylabel: str, ceiling: float | None = None, conditions: Sequence[str] | None = None,
                logy: bool = False, phase_names: Sequence[str] = ("P1", "P2", "P3"),
                band: Callable[[Mapping[str, Any]], Mapping[str, Sequence[float]] | None] | None = None,
                ceiling_label: str = "budget ceiling (cost = B)") -> plt.Figure:
    """One panel per budget: ``series(trace)`` over the test stream for every condition.

    ``band(trace)`` returns the half-width of the trace's seed band (``mean ± half``, drawn shaded;
    ``None`` for no band); the phases are
    shaded and named (``phase_names``); one legend below the panels, titled with the band's CI method.
    Budgets and conditions keep the protocol's order (from ``results["table"]``).
    """
    traces = results["traces"]
    raw = results["per_seed"]
    budgets = [b for b in figures.ordered_keys(raw["budgets"], _order(results, "budget")) if b in traces]
    conds = list(conditions or figures.ordered_keys(dict.fromkeys(raw["conditions"]),
                                                    _order(results, "condition")))
    names = [*_CONDITION_LABELS, *(c for c in raw["conditions"] if c not in _CONDITION_LABELS)]
    colours = dict(zip(names, style.palette(len(names)), strict=True))   # same colour in every experiment
    fig, axes = plt.subplots(1, len(budgets), figsize=(4.2 * len(budgets), 3.2), sharey=True, squeeze=False)
    n_seeds = len(results.get("seeds") or ())
    method, clipped = None, False
    bounds = [tuple(ab) for ab in raw["phase_bounds_test"]]   # test-step ranges of P1, P2, P3
    means: list[np.ndarray] = []
    for ax, bname in zip(axes[0], budgets, strict=True):
        for cond in conds:
            tr = traces[bname].get(cond)
            if tr is None:
                continue
            mean = np.asarray(series(tr), dtype=float)
            half = band(tr) if band is not None else None
            edges: tuple = ()
            if half is not None:
                low, high = mean - np.asarray(half), mean + np.asarray(half)
                if logy:   # a t-interval reaching 0 has no place on a log axis: no band there
                    keep = low > 0
                    low, high = np.where(keep, low, np.nan), np.where(keep, high, np.nan)
                    clipped = clipped or not keep.all()
                edges = (low, high)
            means.append(mean)
            method = method or (tr.get("band") or {}).get("method")
            figures.band(ax, tr["test_step"], mean, *edges,
                         color=colours[cond], ls=_LINESTYLES.get(cond, "-"), lw=1.1,
                         label=_CONDITION_LABELS.get(cond, cond))
        figures.phase_spans(ax, bounds, phase_names)
        if ceiling is not None:
            ax.axhline(ceiling, color="0.2", lw=0.9, ls="--", label=ceiling_label)
        if logy:
            ax.set_yscale("log")
            figures.log_ticks(ax, "y")
        ax.set_title(f"{bname} budget: B = {raw['budgets'][bname]:.2e} $/request", fontsize=8, pad=12)
        ax.set_xlabel(f"test step (windowed mean over {raw['window']} steps)")
    if logy and means:   # the means set the (shared) range, not a band reaching towards 0
        values = np.concatenate(means)
        positive = values[values > 0]
        if positive.size:
            axes[0][0].set_ylim(float(positive.min()) / 1.5, float(positive.max()) * 1.5)
    axes[0][0].set_ylabel(ylabel)
    fig.tight_layout()
    title = None
    if method:
        title = f"mean over {n_seeds} seeds; band: {method}" if n_seeds else f"band: {method}"
        if clipped:
            title += " (not drawn where it reaches 0 on the log axis)"
    figures.legend_outside(fig, ncol=3, title=title)
    return fig
