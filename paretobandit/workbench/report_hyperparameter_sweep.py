"""Appendix hyper-parameter sweep: per-seed objectives → grid summary, Pareto knee, table rows and figures.

Reads only the JSON-able output of
:func:`paretobandit.experiments.hyperparameter_sweep.run_hyperparameter_sweep`. The knee is computed on
the seed means of the two objectives with :func:`~paretobandit.experiments.hyperparameter_sweep.pareto_knee`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from ..experiments.hyperparameter_sweep import pareto_knee
from . import figures
from .stats import summarise

__all__ = ["TABLE_COLUMNS", "knee_stability", "summarise_hyperparameter_sweep", "table_view"]

EXPERIMENT = "hyperparameter_sweep"
TABLE_COLUMNS = ["alpha", "gamma", "auc", "auc_ci_low", "auc_ci_high", "degraded_reward",
                 "degraded_reward_ci_low", "degraded_reward_ci_high", "p1_reward", "p3_reward",
                 "p2_cost_ratio", "max_pacing_util", "auc_norm", "degraded_norm", "pareto", "knee_distance",
                 "knee", "knee_share"]


def knee_stability(raw: Mapping[str, Any], *, n_resamples: int = 1000, seed: int = 42) -> np.ndarray:
    """Share of seed-bootstrap resamples in which each cell is the knee (per cell, grid order).

    Seeds are resampled with ``default_rng(seed)``: objective 1's and objective 2's seeds independently,
    each the same draw for every cell (paired), then the knee of the resampled cell means is recomputed.
    """
    auc = np.array([c["per_seed"]["auc"] for c in raw["cells"]])                 # (cells, S1)
    deg = np.array([c["per_seed"]["degraded_reward"] for c in raw["cells"]])     # (cells, S2)
    rng = np.random.default_rng(seed)
    counts = np.zeros(auc.shape[0])
    for _ in range(int(n_resamples)):
        i1 = rng.integers(0, auc.shape[1], auc.shape[1])
        i2 = rng.integers(0, deg.shape[1], deg.shape[1])
        pts = np.stack([auc[:, i1].mean(axis=1), deg[:, i2].mean(axis=1)], axis=1)
        counts[pareto_knee(pts)["knee"]] += 1
    return counts / int(n_resamples)


def summarise_hyperparameter_sweep(raw: Mapping[str, Any], *, paper_knee: Sequence[float] = (0.01, 0.997),
                                   bootstrap: Mapping[str, Any] | None = None, knee_resamples: int = 1000
                                   ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Summary (``knee``, ``paper_cell``, ``extremes``, ``headlines``) and one table row per (α, γ) cell.

    ``paper_cell`` holds the published knee's objectives, its ranks (1 = best of the grid) and whether it
    is on our Pareto front; ``headlines.knee_agrees`` says whether our knee is the published one. Each
    row's ``knee_share`` is the share of seed-bootstrap resamples (:func:`knee_stability`, seed 42)
    in which that cell is the knee.
    """
    boot = {"n_resamples": 10_000, "seed": 42, "confidence_level": 0.95, **dict(bootstrap or {})}
    rows: list[dict[str, Any]] = []
    for cell in raw["cells"]:
        ps = cell["per_seed"]
        auc, deg = summarise(ps["auc"], **boot), summarise(ps["degraded_reward"], **boot)
        rows.append({
            "alpha": float(cell["alpha"]), "gamma": float(cell["gamma"]),
            "auc": auc["mean"], "auc_ci_low": auc["ci_low"], "auc_ci_high": auc["ci_high"],
            "degraded_reward": deg["mean"], "degraded_reward_ci_low": deg["ci_low"],
            "degraded_reward_ci_high": deg["ci_high"],
            "p1_reward": float(np.mean(ps["p_reward"][0])), "p3_reward": float(np.mean(ps["p_reward"][2])),
            "p2_cost_ratio": float(np.mean(ps["p_cost_ratio"][1])),
            "max_pacing_util": float(np.max(np.mean(ps["pacing_cost_ratio"], axis=1))),
        })
    pts = np.array([[r["auc"], r["degraded_reward"]] for r in rows])
    kn = pareto_knee(pts)
    front = set(kn["front"])
    share = (knee_stability(raw, n_resamples=knee_resamples, seed=int(boot["seed"])) if knee_resamples
             else None)
    for i, r in enumerate(rows):
        r["auc_norm"], r["degraded_norm"] = kn["normalised"][i]
        r["pareto"] = i in front
        r["knee_distance"] = kn["distance"].get(i)
        r["knee"] = i == kn["knee"]
        r["knee_share"] = None if share is None else float(share[i])

    def brief(i: int) -> dict[str, Any]:
        r = rows[i]
        return {k: r[k] for k in ("alpha", "gamma", "auc", "degraded_reward")}

    rank_auc = (-pts[:, 0]).argsort(kind="stable").argsort() + 1
    rank_deg = (-pts[:, 1]).argsort(kind="stable").argsort() + 1
    paper = [i for i, r in enumerate(rows) if np.isclose(r["alpha"], paper_knee[0])
             and np.isclose(r["gamma"], paper_knee[1])]
    summary: dict[str, Any] = {"knee": {**brief(kn["knee"]),
                                        "knee_share_pct": 100.0 * (rows[kn["knee"]]["knee_share"] or 0.0)},
                               "best_auc": brief(kn["extremes"][0]),
                               "best_degraded": brief(kn["extremes"][1])}
    heads: dict[str, Any] = {"n_cells": len(rows), "n_pareto": len(front),
                             "max_p2_util": max(r["p2_cost_ratio"] for r in rows),
                             "max_pacing_util": max(r["max_pacing_util"] for r in rows)}
    if paper:
        i = paper[0]
        summary["paper_cell"] = {**brief(i), "rank_auc": int(rank_auc[i]), "rank_degraded": int(rank_deg[i]),
                                 "on_front": i in front,
                                 "knee_share_pct": 100.0 * (rows[i]["knee_share"] or 0.0)}
        heads["knee_agrees"] = bool(kn["knee"] == i)
    summary["headlines"] = heads
    return summary, rows


def table_view(rows: Sequence[Mapping[str, Any]], value: str):
    """Pandas grid of ``value`` with α as rows and γ as columns."""
    import pandas as pd

    df = pd.DataFrame(rows)
    return df.pivot_table(index="alpha", columns="gamma", values=value, sort=True)


def _heatmap(results: Mapping[str, Any], value: str, label: str) -> plt.Figure:
    rows = results["table"]
    alphas = sorted({r["alpha"] for r in rows})
    gammas = sorted({r["gamma"] for r in rows})
    grid = np.full((len(alphas), len(gammas)), np.nan)
    for r in rows:
        grid[alphas.index(r["alpha"]), gammas.index(r["gamma"])] = r[value]
    fig, ax = plt.subplots(figsize=(5.6, 3.6))
    im = ax.imshow(grid, cmap="viridis", aspect="auto")
    for i in range(len(alphas)):
        for j in range(len(gammas)):
            ax.text(j, i, f"{grid[i, j]:.3f}", ha="center", va="center", fontsize=6, color="w")
    for r in rows:
        if r["knee"]:
            ax.add_patch(plt.Rectangle((gammas.index(r["gamma"]) - 0.5, alphas.index(r["alpha"]) - 0.5), 1, 1,
                                       fill=False, ec="red", lw=2))
    ax.set_xticks(range(len(gammas)), [f"{g:g}" for g in gammas], fontsize=7)
    ax.set_yticks(range(len(alphas)), [f"{a:g}" for a in alphas], fontsize=7)
    ax.set_xlabel("γ")
    ax.set_ylabel("α")
    ax.grid(False)
    fig.colorbar(im, ax=ax, label=label)
    return fig


@figures.register(EXPERIMENT, "auc_grid")
def auc_grid(results: Mapping[str, Any]) -> plt.Figure:
    """Budget-pacing AUC over the α × γ grid (red box: our knee)."""
    return _heatmap(results, "auc", "budget-pacing AUC")


@figures.register(EXPERIMENT, "degraded_grid")
def degraded_grid(results: Mapping[str, Any]) -> plt.Figure:
    """Degraded-phase (P2) reward over the α × γ grid (red box: our knee)."""
    return _heatmap(results, "degraded_reward", "P2 reward (Mistral degraded)")


@figures.register(EXPERIMENT, "pareto")
def pareto(results: Mapping[str, Any]) -> plt.Figure:
    """The two objectives of every cell, the Pareto front, our knee and the published knee."""
    rows = results["table"]
    fig, ax = plt.subplots()
    ax.scatter([r["auc"] for r in rows], [r["degraded_reward"] for r in rows], s=12, color="0.6",
               label="cells")
    front = sorted((r for r in rows if r["pareto"]), key=lambda r: r["auc"])
    ax.plot([r["auc"] for r in front], [r["degraded_reward"] for r in front], "o-", ms=4,
            label="Pareto front")
    for r in front:
        ax.annotate(f"α={r['alpha']:g}, γ={r['gamma']:g}", (r["auc"], r["degraded_reward"]), fontsize=5,
                    xytext=(3, 3), textcoords="offset points")
    knee = next(r for r in rows if r["knee"])
    ax.scatter([knee["auc"]], [knee["degraded_reward"]], s=90, facecolors="none", edgecolors="red", lw=1.5,
               label="knee (ours)", zorder=3)
    pc = results["summary"].get("paper_cell")
    if pc:
        ax.scatter([pc["auc"]], [pc["degraded_reward"]], marker="x", s=50, color="k", label="α=0.01, γ=0.997",
                   zorder=4)
    ax.set_xlabel("budget-pacing AUC (mean reward over log-budget)")
    ax.set_ylabel("degraded-phase reward (P2)")
    ax.legend(fontsize=7)
    return fig
