"""Arena (issue 12): summary scalars (→ LaTeX macros), ``summary.csv`` rows and the leaderboard figure.

Figure ``leaderboard`` (registered for ``arena``): one panel per scenario, each contender's mean reward
against its cost/B averaged over the scenario's budgets (all evaluated phases), log x-axis, with a
whisker from the mean to the worst seed's cost/B; colour = family.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from . import figures, style

__all__ = ["EXPERIMENT", "budget_means", "summarise_arena"]

EXPERIMENT = "arena"
FAMILY_ORDER = ("paretobandit", "library", "offline", "reference")
#: summary keys renamed for the macros' number format (cost/B is a utilisation, not a $ amount)
MACRO_KEYS = {"cost_ratio": "util", "cost_ratio_worst_seed": "util_worst_seed"}
SCENARIO_TITLES = {
    "exp01": "Exp 01 · stationary",
    "exp02": "Exp 02 · price cut",
    "exp03": "Exp 03 · degradation",
    "exp04": "Exp 04 · onboarding",
}


def _finite(xs) -> list[float]:
    return [float(x) for x in xs if x is not None and isinstance(x, (int, float)) and math.isfinite(x)]


def _mean(xs) -> float:
    v = _finite(xs)
    return float(np.mean(v)) if v else math.nan


def budget_means(rows: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """``{(scenario, contender): means over budgeted rows}`` (all phases; the unconstrained row apart)."""
    cells: dict[tuple[str, str], list] = {}
    free: dict[tuple[str, str], list] = {}
    for r in rows:
        if r.get("mean_reward") is None or not r.get("budget"):
            continue
        key = (r["scenario"], r["contender"])
        (free if r["budget"] == "unconstrained" else cells).setdefault(key, []).append(r)
    out = {}
    for key in sorted(set(cells) | set(free)):
        b, u = cells.get(key, []), free.get(key, [])
        first = (b or u)[0]
        out[key] = {
            "family": first["family"],
            "mean_reward": _mean(r["mean_reward"] for r in b),
            "cost_ratio": _mean(r["cost_ratio"] for r in b),
            "cost_ratio_worst_seed": max(_finite(r["cost_ratio_worst_seed"] for r in b), default=math.nan),
            "violation_share": _mean(r["violation_share"] for r in b),
            "regret": _mean(r["regret"] for r in b),
            "scenario_metric": _mean(r["scenario_metric"] for r in (b or u)),
            "unconstrained_reward": _mean(r["mean_reward"] for r in u),
            "route_p50_us": _mean(r["route_p50_us"] for r in (b or u)),
            "update_p50_us": _mean(r["update_p50_us"] for r in (b or u)),
        }
    return out


def summarise_arena(
    out: Mapping[str, Any], *, learning_families: Sequence[str] = ("paretobandit", "library", "offline")
) -> dict:
    """Scalars for the macros: per scenario and contender the budget means, plus headlines.

    ``headlines.learning_beat_random_exp01`` is 1 when every learning contender (and ε-greedy) has a
    higher unconstrained mean reward than uniform random on Exp 01.
    """
    means = budget_means(out["rows"])
    summary: dict[str, Any] = {}
    for (sc, name), m in means.items():
        summary.setdefault(sc, {})[name] = {MACRO_KEYS.get(k, k): v for k, v in m.items() if k != "family"}
    rnd = means.get(("exp01", "uniform-random"), {}).get("unconstrained_reward", math.nan)
    learners = {
        name: m["unconstrained_reward"]
        for (sc, name), m in means.items()
        if sc == "exp01"
        and (m["family"] in learning_families or name.startswith("epsilon-greedy"))
        and math.isfinite(m["unconstrained_reward"])
    }
    losers = sorted(n for n, v in learners.items() if not v > rnd)
    summary["headlines"] = {
        "n_contenders": len({name for _, name in means}),
        "n_rows": len(out["rows"]),
        "n_unavailable": len(out.get("unavailable", {})),
        "random_reward_exp01": rnd,
        "learning_beat_random_exp01": int(bool(learners) and not losers),
        "n_learning_below_random_exp01": len(losers),
        "wall_seconds": float(out["wall_seconds"]["total"]),
        "cpu_seconds": float(out.get("cpu_seconds", math.nan)),
        "max_replay_diff": max(out.get("replay_max_abs_diff", {}).values(), default=0.0),
    }
    return summary


@figures.register(EXPERIMENT, "leaderboard")
def leaderboard_figure(results: Mapping[str, Any]) -> plt.Figure:
    rows = results["table"]
    means = budget_means(rows)
    scenarios = sorted({k[0] for k in means})
    fig, axes = plt.subplots(
        1, max(len(scenarios), 1), figsize=(3.4 * max(len(scenarios), 1), 3.6), squeeze=False, sharey=True
    )
    colors = dict(zip(FAMILY_ORDER, style.palette(len(FAMILY_ORDER)), strict=True))
    for ax, sc in zip(axes[0], scenarios, strict=False):
        for (s, name), m in means.items():
            x, y, worst = m["cost_ratio"], m["mean_reward"], m["cost_ratio_worst_seed"]
            if s != sc or not (math.isfinite(x) and math.isfinite(y)):
                continue
            c = colors.get(m["family"], "grey")
            ax.plot([x, max(worst, x)], [y, y], color=c, lw=0.8, alpha=0.7)
            ax.plot(x, y, "o", ms=4, color=c)
            ax.annotate(name, (x, y), fontsize=5, xytext=(2, 2), textcoords="offset points")
        ax.axvline(1.0, color="k", lw=0.6, ls="--")
        ax.set_xscale("log")
        kind, _, sub = sc.partition("-")
        ax.set_title(SCENARIO_TITLES.get(kind, kind) + (f" · {sub}" if sub else ""), fontsize=8)
        ax.set_xlabel("cost / B (whisker: worst seed)")
    axes[0][0].set_ylabel("mean reward (mean over budgets)")
    handles = [plt.Line2D([], [], marker="o", ls="", color=colors[f], label=f) for f in FAMILY_ORDER]
    fig.legend(handles=handles, loc="lower center", ncol=len(FAMILY_ORDER), fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig
