"""Appendix — recovery limit (notebook 07): summary, ``summary.csv`` rows and figures (docs/PROTOCOLS.md §A6).

Reads only the JSON-able output of :func:`paretobandit.experiments.recovery_limit.run_recovery_limit`.

Per level and horizon: phase means = means over seeds (sd ddof 0); recovery ratio = (seed-mean P3
reward) / (seed-mean P1 reward), a ratio of means; its CI = percentile bootstrap of the mean of the
per-seed ratios ``P3_s / P1_s`` (:func:`paretobandit.workbench.stats.bootstrap_ci`: 10,000 resamples,
seed 42). Degradation % = (P1 system reward − f) / P1 system reward · 100 with the router's seed-mean
P1 reward. Full recovery ≡ ratio ≥ threshold; the boundary (:func:`recovery_boundary`) interpolates
the degradation % at which the ratio crosses the threshold; the floor is the lowest ratio.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from . import figures, style
from .stats import bootstrap_ci

__all__ = [
    "TABLE_COLUMNS",
    "horizon_key",
    "level_key",
    "recovery_boundary",
    "split_traces",
    "summarise_recovery_limit",
    "table_view",
]

EXPERIMENT = "recovery_limit"
TABLE_COLUMNS = [
    "level",
    "p3_steps",
    "degradation_pct",
    "reward_p1",
    "reward_p2",
    "reward_p3",
    "recovery_ratio",
    "recovery_ci_low",
    "recovery_ci_high",
    "full_recovery",
    "reward_p1_sd",
    "reward_p2_sd",
    "reward_p3_sd",
    "degraded_mean_p2",
    "cost_p1",
    "cost_p2",
    "cost_p3",
    "share_p1",
    "share_p2",
    "share_p3",
    "lambda_p3",
    "v_p3",
]


def level_key(level: float) -> str:
    """``0.05`` → ``level_05`` (macro-friendly)."""
    return f"level_{int(round(100 * float(level))):02d}"


def horizon_key(p3_steps: int, phase_length: int) -> str:
    """``standard`` for a P3 of one phase, ``extended`` otherwise."""
    return "standard" if int(p3_steps) == int(phase_length) else "extended"


def recovery_boundary(
    degradation_pct: Sequence[float], ratio: Sequence[float], threshold: float = 0.97
) -> float | None:
    """Degradation % where the ratio crosses ``threshold``: sort by degradation ascending, take the first
    adjacent pair whose ratios bracket the threshold and interpolate linearly; ``None`` without a bracket."""
    d = np.asarray(degradation_pct, dtype=float)
    r = np.asarray(ratio, dtype=float)
    if d.shape != r.shape or d.ndim != 1:
        raise ValueError(f"degradation_pct and ratio must be equal 1-D arrays, got {d.shape}, {r.shape}")
    order = np.argsort(d, kind="stable")
    d, r = d[order], r[order]
    for i in range(d.size - 1):
        lo, hi = r[i] - threshold, r[i + 1] - threshold
        if lo * hi <= 0 and r[i] != r[i + 1]:
            return float(d[i] + (threshold - r[i]) * (d[i + 1] - d[i]) / (r[i + 1] - r[i]))
    return None


def summarise_recovery_limit(
    raw: Mapping[str, Any],
    *,
    threshold: float = 0.97,
    bound_level: float = 0.85,
    bootstrap: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Summary ``{standard|extended: {boundary_pct, floor, ..., level_xx: {...}}, headlines}``; one row per
    level × horizon (:data:`TABLE_COLUMNS`)."""
    boot = {"n_resamples": 10_000, "seed": 42, "confidence_level": 0.95, **dict(bootstrap or {})}
    arm = raw["models"].index(raw["degraded_model"])
    length = int(raw["phase_length"])
    summary: dict[str, Any] = {}
    rows: list[dict[str, Any]] = []
    heads: dict[str, Any] = {}
    for run in raw["runs"]:
        hkey = horizon_key(run["p3_steps"], length)
        entry: dict[str, Any] = {"p3_steps": int(run["p3_steps"])}
        degr, ratios = [], []
        for c in run["cells"]:
            ps = c["per_seed"]
            rew = {k: np.asarray(v, dtype=float) for k, v in ps["reward"].items()}
            p1 = float(rew["p1"].mean())
            ratio = float(rew["p3"].mean()) / p1
            lo, hi = bootstrap_ci(rew["p3"] / rew["p1"], **boot)
            deg = 100.0 * (p1 - c["level"]) / p1
            degr.append(deg)
            ratios.append(ratio)
            row = {
                "level": float(c["level"]),
                "p3_steps": int(run["p3_steps"]),
                "degradation_pct": deg,
                **{f"reward_{k}": float(v.mean()) for k, v in rew.items()},
                "recovery_ratio": ratio,
                "recovery_ci_low": lo,
                "recovery_ci_high": hi,
                "full_recovery": bool(ratio >= threshold),
                **{f"reward_{k}_sd": float(v.std(ddof=0)) for k, v in rew.items()},
                "degraded_mean_p2": float(c["degraded_mean_p2"]),
                **{f"cost_{k}": float(np.mean(v)) for k, v in ps["cost"].items()},
                **{f"share_{k}": float(np.mean(v[arm])) for k, v in ps["share"].items()},
                "lambda_p3": float(np.mean(ps["lambda_p3"])),
                "v_p3": float(np.mean(ps["v_p3"])),
            }
            rows.append(row)
            entry[level_key(c["level"])] = {
                "recovery_ratio": ratio,
                "recovery_pct": 100.0 * ratio,
                "ci_low_pct": 100.0 * lo,
                "ci_high_pct": 100.0 * hi,
                "degradation_pct": deg,
                "reward_p2": row["reward_p2"],
                "degraded_mean_p2": row["degraded_mean_p2"],
                "share_p2": row["share_p2"],
                "share_p3": row["share_p3"],
            }
        i_floor = int(np.argmin(ratios))
        entry["boundary_pct"] = recovery_boundary(degr, ratios, threshold)
        entry["floor"] = ratios[i_floor]
        entry["floor_pct"] = 100.0 * ratios[i_floor]
        entry["floor_level"] = float(run["cells"][i_floor]["level"])
        entry["n_levels_full"] = int(sum(r >= threshold for r in ratios))
        summary[hkey] = entry
        if hkey == "standard":
            p1_all = np.concatenate([c["per_seed"]["reward"]["p1"] for c in run["cells"]])
            heads["reward_p1"] = float(np.mean(p1_all))
            bound = [c for c in run["cells"] if np.isclose(c["level"], bound_level)]
            if bound:
                v_bar = float(np.mean(bound[0]["per_seed"]["v_p3"]))
                lam_bar = float(np.mean(bound[0]["per_seed"]["lambda_p3"]))
                rp = raw["router_params"]
                heads["bound_v"] = v_bar
                heads["bound_lambda"] = lam_bar
                heads["exploration_bound"] = float(rp["alpha"]) * np.sqrt(
                    float(rp["v_max"]) * v_bar
                ) - lam_bar * float(raw["delta_ncost"])
    gamma = float(raw["router_params"]["forgetting_factor"])
    heads.update(
        threshold=float(threshold),
        n_levels=len(raw["levels"]),
        n_seeds=len(raw["seeds"]),
        phase_length=length,
        budget=float(raw["budget"]),
        half_life=int(round(np.log(2.0) / (1.0 - gamma))) if gamma < 1 else None,
    )
    summary["headlines"] = heads
    return summary, rows


def table_view(rows: Sequence[Mapping[str, Any]]):
    """Pandas view: per level, P1/P2 rewards, degradation % and the recovery ratio of both horizons."""
    import pandas as pd

    df = pd.DataFrame(rows)
    wide = df.pivot_table(
        index="level",
        columns="p3_steps",
        values=["recovery_ratio", "recovery_ci_low", "recovery_ci_high", "reward_p3"],
        sort=True,
    )
    metrics = ["reward_p3", "recovery_ratio", "recovery_ci_low", "recovery_ci_high"]
    wide = wide[[(m, h) for h in sorted(df.p3_steps.unique()) for m in metrics]]
    wide.columns = [f"{m}_{h}" for m, h in wide.columns]
    first = df[df.p3_steps == df.p3_steps.min()].set_index("level")[
        ["degradation_pct", "reward_p1", "reward_p2", "degraded_mean_p2", "share_p2"]
    ]
    return first.join(wide)


@figures.register(EXPERIMENT, "recovery")
def recovery_figure(results: Mapping[str, Any]) -> plt.Figure:
    """Recovery ratio P3/P1 [95% percentile-bootstrap CI] against degradation %, one line per P3 horizon,
    the full-recovery threshold dashed and each horizon's boundary dotted."""
    rows = results["table"]
    summ = results["summary"]
    fig, ax = plt.subplots(figsize=(5.6, 3.6))
    steps = sorted({r["p3_steps"] for r in rows})
    for h, colour in zip(steps, style.palette(len(steps)), strict=True):
        sel = sorted((r for r in rows if r["p3_steps"] == h), key=lambda r: r["degradation_pct"])
        x = np.array([r["degradation_pct"] for r in sel])
        y = np.array([r["recovery_ratio"] for r in sel])
        err = np.array([y - [r["recovery_ci_low"] for r in sel], [r["recovery_ci_high"] for r in sel] - y])
        name = "standard" if h == min(steps) else "extended"
        ax.errorbar(x, y, yerr=err, marker="o", ms=3, capsize=2, color=colour, label=f"{name} P3 ({h} steps)")
        b = summ.get(name, {}).get("boundary_pct")
        if b is not None:
            ax.axvline(b, color=colour, ls=":", lw=1.0, label=f"boundary, {name}: {b:.1f}%")
    thr = summ["headlines"]["threshold"]
    ax.axhline(thr, color="0.3", ls="--", lw=0.9, label=f"full recovery (ratio {thr:g})")
    ax.set_xlabel("degradation % of the P1 system reward")
    ax.set_ylabel("recovery ratio P3 / P1\n(bars: 95% percentile-bootstrap CI)")
    ax.set_title(f"ParetoBandit, moderate budget (B = {summ['headlines']['budget']:.2e})", fontsize=8)
    ax.legend(fontsize=6.5, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    fig.tight_layout()
    return fig


@figures.register(EXPERIMENT, "traces")
def traces_figure(results: Mapping[str, Any]) -> plt.Figure:
    """Trailing-window reward over the test phases, one line per level with a 95% normal band across
    seeds (mean ± 1.96·sd/√n), one panel per P3 horizon; phases labelled."""
    raw = results["per_seed"]
    tr = results["traces"]
    n = len(raw["seeds"])
    fig, axes = plt.subplots(
        1, len(raw["runs"]), figsize=(5.0 * len(raw["runs"]), 3.4), sharey=True, squeeze=False
    )
    cmap = plt.get_cmap("viridis")
    levels = list(raw["levels"])
    for ax, run in zip(axes[0], raw["runs"], strict=True):
        steps = np.asarray(tr[str(run["p3_steps"])]["steps"])
        for i, lv in enumerate(levels):
            t = tr[str(run["p3_steps"])][level_key(lv)]
            m, half = np.asarray(t["mean"]), 1.96 * np.asarray(t["sd"]) / np.sqrt(n)
            colour = cmap(i / max(len(levels) - 1, 1))
            ax.plot(steps, m, lw=0.8, color=colour, label=f"f = {lv:.2f}")
            ax.fill_between(steps, m - half, m + half, color=colour, alpha=0.15, lw=0)
        for (a, b), name in zip(run["phase_bounds_test"], ("P1", "P2 (degraded)", "P3"), strict=True):
            if a:
                ax.axvline(a, color="0.5", lw=0.8, ls=":")
            ax.text(
                (a + b) / 2,
                1.0,
                name,
                transform=ax.get_xaxis_transform(),
                ha="center",
                va="bottom",
                fontsize=7,
            )
        ax.set_xlabel(f"test step (trailing window {raw['window']})")
        ax.set_title(f"P3 = {run['p3_steps']} steps", fontsize=8, pad=12)
    axes[0][0].set_ylabel("windowed reward")
    axes[0][-1].legend(
        fontsize=6,
        loc="upper left",
        bbox_to_anchor=(1.02, 1.0),
        frameon=False,
        title="failure level (band: 95% normal CI)",
        title_fontsize=6,
    )
    fig.tight_layout()
    return fig


def split_traces(raw: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(raw without per-cell traces, {p3_steps: {"steps", level_key: trace}})``."""
    out = dict(raw)
    runs, traces = [], {}
    for run in raw["runs"]:
        t = {"steps": run["trace_steps"]}
        cells = []
        for c in run["cells"]:
            cells.append({k: v for k, v in c.items() if k != "trace"})
            t[level_key(c["level"])] = c["trace"]
        runs.append({**{k: v for k, v in run.items() if k not in ("cells", "trace_steps")}, "cells": cells})
        traces[str(run["p3_steps"])] = t
    out["runs"] = runs
    return out, traces
