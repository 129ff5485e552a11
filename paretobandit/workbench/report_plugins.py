"""Plug-ins beside ParetoBandit (notebook 13): summary, ``summary.csv`` rows, headlines and the figure.

Reads only the output of :func:`paretobandit.experiments.plugins.run_plugins`. Exp 01 cells are named
``budget_<i>`` with ``i`` the budget's 1-based number among Exp 01's seven (as notebook 01's
``pacer.budget_<i>``); Exp 03 cells by the named budget. ``util`` is cost/B (two decimals in the macros).

Figure ``routers`` (registered for ``plugins``): Exp 01 reward against cost/B per router, and Exp 03's
P2/P1 drop and P3/P1 recovery per router and budget.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from . import figures, style
from .report_nonstationary import PHASE_NAMES, cell_summary
from .stats import summarise

__all__ = ["TABLE_COLUMNS", "summarise_plugins", "strip_traces"]

EXPERIMENT = "plugins"
TABLE_COLUMNS = ["experiment", "router", "budget", "budget_value", "mean_reward", "reward_ci_low",
                 "reward_ci_high", "cost_ratio", "cost_ratio_ci_low", "cost_ratio_ci_high",
                 "worst_seed_cost_ratio", "reward_p1", "reward_p2", "reward_p3", "cost_ratio_p1",
                 "cost_ratio_p2", "cost_ratio_p3", "recovery_ratio", "recovery_ratio_ci_low",
                 "recovery_ratio_ci_high", "trough"]
LABELS = {"paretobandit": "ParetoBandit", "pi_pacer": "PI pacer", "thompson": "Thompson",
          "thompson_pi": "Thompson + PI"}


def strip_traces(raw: Mapping[str, Any]) -> dict[str, Any]:
    """``raw`` without the per-step series (λ trajectories, windowed traces, per-budget summaries) that
    neither the table nor the figure reads; every per-seed value is kept."""
    out = dict(raw)
    out["budget_pacing"] = {
        r: {**v, "per_budget": [{k: e[k] for k in ("budget", "per_seed")} for e in v["per_budget"]]}
        for r, v in raw["budget_pacing"].items()}
    out["quality_degradation"] = {
        r: {**v, "cells": [{k: x for k, x in c.items() if k != "trace"} for c in v["cells"]]}
        for r, v in raw["quality_degradation"].items()}
    return out


def _pacing_cell(entry: Mapping[str, Any], boot: Mapping[str, Any]) -> dict[str, float]:
    ps, budget = entry["per_seed"], float(entry["budget"])
    util = np.asarray(ps["mean_cost"], dtype=float) / budget
    rew, u = summarise(ps["mean_reward"], **boot), summarise(util, **boot)
    return {"budget": budget, "mean_reward": rew["mean"], "reward_ci_low": rew["ci_low"],
            "reward_ci_high": rew["ci_high"], "util": u["mean"], "util_ci_low": u["ci_low"],
            "util_ci_high": u["ci_high"], "worst_seed_util": float(util.max()), "n_seeds": rew["n"]}


def _degradation_cell(cell: Mapping[str, Any], shorts: Mapping[str, str], boot: Mapping[str, Any]
                      ) -> dict[str, float]:
    cs = cell_summary(cell, shorts, boot)
    out: dict[str, float] = {"budget": cs["budget"]}
    for j, phase in enumerate(PHASE_NAMES, start=1):
        out[f"reward_p{j}"] = cs[phase]["mean_reward"]
        out[f"util_p{j}"] = cs[phase]["util"]
    out["max_util"] = max(cs[p]["util"] for p in PHASE_NAMES)
    out["worst_seed_util"] = float(np.max(cell["per_seed"]["cost_ratio"]))
    out["drop_ratio"] = out["reward_p2"] / out["reward_p1"]
    for key in ("recovery_ratio", "recovery_ratio_ci_low", "recovery_ratio_ci_high", "trough"):
        out[key] = cs[key]
    return out


def summarise_plugins(raw: Mapping[str, Any], *, shorts: Mapping[str, str],
                      bootstrap: Mapping[str, Any] | None = None
                      ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Summary (``pacing.<router>.budget_<i>``, ``degradation.<router>.<budget>``, ``headlines``) and the
    table rows (one per experiment × router × budget, columns :data:`TABLE_COLUMNS`)."""
    boot = {"n_resamples": 10_000, "seed": 42, "confidence_level": 0.95, **dict(bootstrap or {})}
    routers = list(raw["routers"])
    numbers = list(raw["budget_numbers"])
    pacing: dict[str, Any] = {}
    degradation: dict[str, Any] = {}
    rows: list[dict[str, Any]] = []
    for r in routers:
        pacing[r] = {}
        for n, entry in zip(numbers, raw["budget_pacing"][r]["per_budget"], strict=True):
            c = _pacing_cell(entry, boot)
            pacing[r][f"budget_{n}"] = c
            rows.append({"experiment": "exp01", "router": r, "budget": f"B{n}", "budget_value": c["budget"],
                         "mean_reward": c["mean_reward"], "reward_ci_low": c["reward_ci_low"],
                         "reward_ci_high": c["reward_ci_high"], "cost_ratio": c["util"],
                         "cost_ratio_ci_low": c["util_ci_low"], "cost_ratio_ci_high": c["util_ci_high"],
                         "worst_seed_cost_ratio": c["worst_seed_util"]})
    for r in routers:
        exp03 = raw["quality_degradation"][r]
        cells = {c["budget"]: c for c in exp03["cells"] if c["condition"] == "paretobandit"}
        degradation[r] = {}
        for bname in exp03["budgets"]:
            c = _degradation_cell(cells[bname], shorts, boot)
            degradation[r][bname] = c
            rows.append({"experiment": "exp03", "router": r, "budget": bname, "budget_value": c["budget"],
                         "cost_ratio": c["max_util"], "worst_seed_cost_ratio": c["worst_seed_util"],
                         **{f"reward_p{j}": c[f"reward_p{j}"] for j in (1, 2, 3)},
                         **{f"cost_ratio_p{j}": c[f"util_p{j}"] for j in (1, 2, 3)},
                         **{k: c[k] for k in ("recovery_ratio", "recovery_ratio_ci_low",
                                              "recovery_ratio_ci_high", "trough")}})
    heads: dict[str, Any] = {
        "n_seeds_pacing": len(raw["budget_pacing"][routers[0]]["seeds"]),
        "n_seeds_degradation": len(raw["quality_degradation"][routers[0]]["seeds"]),
        "n_budgets_pacing": len(numbers),
    }
    for r in routers:
        heads[r] = {"pacing_max_util": max(c["util"] for c in pacing[r].values()),
                    "pacing_worst_seed_util": max(c["worst_seed_util"] for c in pacing[r].values()),
                    "degradation_max_util": max(c["max_util"] for c in degradation[r].values()),
                    "min_recovery_ratio": min(c["recovery_ratio"] for c in degradation[r].values())}
    return {"pacing": pacing, "degradation": degradation, "headlines": heads}, rows


def table_view(rows):
    """Two pandas views of the rows: Exp 01 (reward [CI], cost/B mean and worst seed) and Exp 03."""
    import pandas as pd

    df = pd.DataFrame(rows)
    e1 = df[df.experiment == "exp01"].set_index(["budget", "router"])[
        ["mean_reward", "reward_ci_low", "reward_ci_high", "cost_ratio", "worst_seed_cost_ratio"]]
    e3 = df[df.experiment == "exp03"].set_index(["budget", "router"])[
        ["reward_p1", "reward_p2", "reward_p3", "recovery_ratio", "recovery_ratio_ci_low",
         "recovery_ratio_ci_high", "cost_ratio", "worst_seed_cost_ratio"]]
    return e1, e3


def _rows(results: Mapping[str, Any], experiment: str) -> list[Mapping[str, Any]]:
    return [r for r in results.get("table", ()) if r["experiment"] == experiment]


@figures.register(EXPERIMENT, "routers")
def plugin_routers(results: Mapping[str, Any]) -> plt.Figure:
    """Left: Exp 01 reward against cost/B (95% bootstrap CIs), colour = router, marker = budget. Right:
    Exp 03 recovery P3/P1 (bars, 95% CI) and drop P2/P1 (markers) per named budget and router."""
    routers = list(dict.fromkeys(r["router"] for r in results["table"]))
    colors = dict(zip(routers, style.palette(len(routers)), strict=True))
    fig, (left, right) = plt.subplots(1, 2, figsize=(9.0, 3.4))
    numbers = list(dict.fromkeys(r["budget"] for r in _rows(results, "exp01")))
    markers = dict(zip(numbers, "os^Dvp<>", strict=False))
    for r in routers:
        for p in (x for x in _rows(results, "exp01") if x["router"] == r):
            err = [[p["mean_reward"] - p["reward_ci_low"]], [p["reward_ci_high"] - p["mean_reward"]]]
            left.errorbar([p["cost_ratio"]], [p["mean_reward"]], yerr=err, color=colors[r], ls="none",
                          marker=markers.get(p["budget"], "o"), ms=4, capsize=2, lw=0.9)
    for r in routers:
        left.plot([], [], color=colors[r], marker="s", ls="none", label=LABELS.get(r, r))
    for n in numbers:
        left.plot([], [], color="0.3", marker=markers.get(n, "o"), ls="none", label=f"Exp 01 {n}")
    left.axvline(1.0, color="0.4", lw=0.8, ls=":")
    left.set_xlabel("cost / B (mean over seeds)")
    left.set_ylabel("mean test reward")
    left.set_title("Exp 01: stationary pacing", fontsize=9)
    budgets = list(dict.fromkeys(r["budget"] for r in _rows(results, "exp03")))
    width = 0.8 / len(routers)
    lows = []
    for i, r in enumerate(routers):
        pts = {p["budget"]: p for p in _rows(results, "exp03") if p["router"] == r}
        xs = np.arange(len(budgets)) + (i - (len(routers) - 1) / 2) * width
        rec = [pts[b]["recovery_ratio"] for b in budgets]
        err = [[pts[b]["recovery_ratio"] - pts[b]["recovery_ratio_ci_low"] for b in budgets],
               [pts[b]["recovery_ratio_ci_high"] - pts[b]["recovery_ratio"] for b in budgets]]
        right.bar(xs, rec, width=width * 0.9, color=colors[r], yerr=err, capsize=1.5,
                  error_kw={"lw": 0.7})
        drop = [pts[b]["reward_p2"] / pts[b]["reward_p1"] for b in budgets]
        lows += drop + [pts[b]["recovery_ratio_ci_low"] for b in budgets]
        right.plot(xs, drop, ls="none",
                   marker="v", ms=4, color="0.15", label="_drop" if i else "P2 / P1 (drop)")
    right.axhline(1.0, color="0.4", lw=0.8, ls=":")
    right.set_xticks(np.arange(len(budgets)), budgets)
    right.set_ylim(min(0.9, min(lows) - 0.02), 1.05)
    right.set_ylabel("reward ratio to P1")
    right.set_title("Exp 03: recovery P3 / P1 (bars)", fontsize=9)
    figures.legend_outside(fig, ncol=4, title="95% percentile-bootstrap CIs over seeds")
    fig.tight_layout()
    return fig
