"""Figures rendered from results JSON only (never from live simulation state).

Figure functions are registered per experiment with :func:`register`; :func:`render` draws all of an
experiment's figures into ``<results_dir>/figures/`` as PDF and PNG, so restyling a figure never re-runs
an experiment (``python -m paretobandit.workbench run --skip-run``).
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from . import style

__all__ = ["register", "figure_functions", "render"]

FigureFn = Callable[[Mapping[str, Any]], "plt.Figure"]
_REGISTRY: dict[str, dict[str, FigureFn]] = {}


def register(experiment: str, name: str) -> Callable[[FigureFn], FigureFn]:
    """Decorator registering ``fn(results) -> Figure`` as figure ``name`` of ``experiment``."""
    def deco(fn: FigureFn) -> FigureFn:
        _REGISTRY.setdefault(experiment, {})[name] = fn
        return fn
    return deco


def figure_functions(experiment: str) -> dict[str, FigureFn]:
    """Registered figures of ``experiment`` (empty when it has none).

    Figures may be registered here or in the experiment's report module
    ``paretobandit.workbench.report_<experiment>``, which is imported first if it exists.
    """
    module = f"{__package__}.report_{experiment}"
    if importlib.util.find_spec(module) is not None:
        importlib.import_module(module)
    return dict(_REGISTRY.get(experiment, {}))


def render(results: Mapping[str, Any], out_dir: Path | str) -> list[Path]:
    """Draw every registered figure of ``results["experiment"]`` into ``out_dir``; return the files."""
    style.apply()
    written: list[Path] = []
    for name, fn in sorted(figure_functions(results["experiment"]).items()):
        written += style.save(fn(results), out_dir, name)
    return written


# --- Exp 01: stationary budget pacing -------------------------------------------------------------

def _pacer_rows(results: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [r for r in results["table"] if r["method"] == "pacer"]


@register("budget_pacing", "frontier")
def budget_pacing_frontier(results: Mapping[str, Any]) -> plt.Figure:
    """Quality–cost frontier of the pacer over budgets, with fixed models, random and oracle as points."""
    rows = results["table"]
    pacer = _pacer_rows(results)
    fig, ax = plt.subplots()
    cost = np.array([r["mean_cost"] for r in pacer])
    reward = np.array([r["mean_reward"] for r in pacer])
    err = np.array([[r["mean_reward"] - r["reward_ci_low"] for r in pacer],
                    [r["reward_ci_high"] - r["mean_reward"] for r in pacer]])
    ax.errorbar(cost, reward, yerr=err, marker="o", ms=4, lw=1.5, capsize=2, label="ParetoBandit (paced)")
    markers = {"random": "s", "oracle": "*"}
    for r in rows:
        if r["method"] == "pacer":
            continue
        label = r["method"].split(":", 1)[-1].split("/")[-1]
        ax.scatter([r["mean_cost"]], [r["mean_reward"]], marker=markers.get(r["method"], "D"), s=36,
                   zorder=3, label=label)
    ax.set_xscale("log")
    ax.set_xlabel("mean cost per request ($)")
    ax.set_ylabel("mean reward (test)")
    handles, labels = ax.get_legend_handles_labels()
    first = labels.index("ParetoBandit (paced)")
    order = [first] + [i for i in range(len(labels)) if i != first]
    ax.legend([handles[i] for i in order], [labels[i] for i in order], fontsize=7, loc="lower right")
    return fig


@register("budget_pacing", "utilisation")
def budget_pacing_utilisation(results: Mapping[str, Any]) -> plt.Figure:
    """Budget utilisation (mean cost / B) against the budget B, with the ceiling at 1."""
    pacer = _pacer_rows(results)
    fig, ax = plt.subplots()
    b = np.array([r["budget"] for r in pacer])
    u = np.array([r["utilisation"] for r in pacer])
    err = np.array([[r["utilisation"] - r["utilisation_ci_low"] for r in pacer],
                    [r["utilisation_ci_high"] - r["utilisation"] for r in pacer]])
    ax.errorbar(b, u, yerr=err, marker="o", ms=4, capsize=2)
    ax.axhline(1.0, color="0.3", ls="--", lw=1, label="budget ceiling")
    ax.set_xscale("log")
    ax.set_xlabel("budget B ($ per request)")
    ax.set_ylabel("utilisation (mean cost / B)")
    ax.set_ylim(0, max(1.1, float(np.max(u + err[1])) * 1.05))
    ax.legend(fontsize=7)
    return fig


@register("budget_pacing", "lambda")
def budget_pacing_lambda(results: Mapping[str, Any]) -> plt.Figure:
    """Pacer dual variable λ over the test stream, averaged over seeds, one line per budget."""
    traces = results["traces"]["lambda"]
    fig, ax = plt.subplots()
    colours = style.palette(len(traces))
    for colour, key in zip(colours, sorted(traces, key=lambda k: traces[k]["budget"]), strict=True):
        tr = traces[key]
        step = np.asarray(tr["step"], dtype=float)
        ax.plot(step, tr["mean"], color=colour, lw=1.2, label=f"B = {tr['budget']:.1e}")
        if "low" in tr and "high" in tr:
            ax.fill_between(step, tr["low"], tr["high"], color=colour, alpha=0.15, lw=0)
    ax.set_xlabel("test step")
    ax.set_ylabel("pacer λ")
    ax.legend(fontsize=6, ncol=2)
    return fig
