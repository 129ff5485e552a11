"""Figures rendered from results JSON only (never from live simulation state).

Figure functions are registered per experiment with :func:`register`; :func:`render` draws all of an
experiment's figures into ``<results_dir>/figures/`` as PDF and PNG, so restyling a figure never re-runs
an experiment (``python -m paretobandit.workbench run --skip-run``).
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from . import style

__all__ = ["register", "figure_functions", "render", "band", "phase_spans", "legend_outside", "log_ticks",
           "mark_choice", "ordered_keys", "caption_note"]

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


# --- reusable drawing helpers ----------------------------------------------------------------------

def ordered_keys(mapping: Mapping[str, Any], order: Sequence[str] | None = None) -> list[str]:
    """Keys of ``mapping`` in the explicit ``order`` (unknown keys last, sorted), never dict order.

    Figures are drawn from the parsed JSON, whose keys are sorted; the order of budgets, conditions and
    phases must therefore come from a list stored in the JSON (e.g. the ``table`` rows).
    """
    order = list(order or ())
    known = [k for k in order if k in mapping]
    return known + sorted(k for k in mapping if k not in order)


def band(ax, x, mean, low=None, high=None, *, color=None, label: str | None = None, ls: str = "-",
         lw: float = 1.2, alpha: float = 0.18):
    """Draw ``mean`` over ``x`` with a shaded band between ``low`` and ``high`` (when given).

    Returns the line, so callers can build legends from it.
    """
    (line,) = ax.plot(x, mean, color=color, ls=ls, lw=lw, label=label)
    if low is not None and high is not None:
        ax.fill_between(x, low, high, color=line.get_color(), alpha=alpha, lw=0)
    return line


def phase_spans(ax, bounds: Sequence[Sequence[float]], names: Sequence[str], *, label_axes: bool = True,
                shade: float = 0.06) -> None:
    """Mark consecutive phases ``[(start, end), ...]``: alternate light shading, a solid boundary line
    and each phase's name centred above the panel (instead of bare dotted lines)."""
    import matplotlib.transforms as mtransforms

    trans = mtransforms.blended_transform_factory(ax.transData, ax.transAxes)
    for i, ((a, b), name) in enumerate(zip(bounds, names, strict=True)):
        if i % 2 == 1:
            ax.axvspan(a, b, color="0.0", alpha=shade, lw=0, zorder=0)
        if i > 0:
            ax.axvline(a, color="0.35", lw=0.8, zorder=1)
        if label_axes:
            ax.text((a + b) / 2, 1.01, name, transform=trans, ha="center", va="bottom", fontsize=6.5,
                    color="0.25")


def legend_outside(fig, handles=None, labels=None, *, ncol: int | None = None, title: str | None = None,
                   fontsize: float = 7):
    """One legend for the whole figure, below the axes, so it never covers data."""
    if handles is None:
        handles, labels = [], []
        for ax in fig.axes:
            for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
                if lab not in labels and not lab.startswith("_"):
                    handles.append(h)
                    labels.append(lab)
    n = len(labels)
    return fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), fontsize=fontsize,
                      ncol=ncol or min(n, 3), title=title, title_fontsize=fontsize, frameon=False)


def log_ticks(ax, axis: str = "y") -> None:
    """Readable log ticks: 1-2-5 majors labelled as plain numbers (0.5, 1, 2), minor ticks unlabelled."""
    from matplotlib import ticker

    target = ax.yaxis if axis == "y" else ax.xaxis
    target.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    target.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    target.set_minor_locator(ticker.LogLocator(base=10, subs=np.arange(2, 10) * 1.0))
    target.set_minor_formatter(ticker.NullFormatter())


def mark_choice(ax, x: float, y: float, label: str = "paper's configuration", **kwargs) -> None:
    """Ring the point ``(x, y)`` (the paper's choice) with a labelled marker."""
    ax.scatter([x], [y], s=kwargs.pop("s", 140), facecolors="none", edgecolors=kwargs.pop("color", "black"),
               linewidths=1.2, zorder=5, label=label, **kwargs)


def caption_note(fig, text: str, *, y: float = -0.02) -> None:
    """A small note under the figure (e.g. the CI method of the bands)."""
    fig.text(0.99, y, text, ha="right", va="top", fontsize=6, color="0.35")


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
    ax.set_xlabel("mean cost per request ($, log scale)")
    ax.set_ylabel("mean reward (test)")
    handles, labels = ax.get_legend_handles_labels()
    first = labels.index("ParetoBandit (paced)")
    order = [first] + [i for i in range(len(labels)) if i != first]
    n = len(results.get("seeds") or ())
    fig.tight_layout()
    legend_outside(fig, [handles[i] for i in order], [labels[i] for i in order], ncol=3,
                   title=f"error bars: 95% percentile-bootstrap CI over {n} seeds")
    return fig


def _named_budgets(ax, results: Mapping[str, Any]) -> None:
    """Vertical lines at the paper's named budgets (``config.experiment.named_budgets``), labelled."""
    import matplotlib.transforms as mtransforms

    named = ((results.get("config") or {}).get("experiment") or {}).get("named_budgets") or {}
    trans = mtransforms.blended_transform_factory(ax.transData, ax.transAxes)
    for name, value in sorted(named.items(), key=lambda kv: kv[1]):
        ax.axvline(value, color="0.6", lw=0.7, ls=":", zorder=0)
        ax.text(value, 0.35, f" {name}", transform=trans, rotation=90, ha="right", va="bottom", fontsize=6,
                color="0.35")


@register("budget_pacing", "utilisation")
def budget_pacing_utilisation(results: Mapping[str, Any]) -> plt.Figure:
    """Budget utilisation (mean cost / B) against the budget B, with the ceiling at 1."""
    pacer = _pacer_rows(results)
    fig, ax = plt.subplots()
    b = np.array([r["budget"] for r in pacer])
    u = np.array([r["utilisation"] for r in pacer])
    err = np.array([[r["utilisation"] - r["utilisation_ci_low"] for r in pacer],
                    [r["utilisation_ci_high"] - r["utilisation"] for r in pacer]])
    n = len(results.get("seeds") or ())
    ax.errorbar(b, u, yerr=err, marker="o", ms=4, capsize=2,
                label=f"ParetoBandit (paced), 95% bootstrap CI over {n} seeds")
    ax.axhline(1.0, color="0.3", ls="--", lw=1, label="budget ceiling")
    ax.set_xscale("log")
    _named_budgets(ax, results)
    ax.set_xlabel("budget B ($ per request, log scale; paper's named budgets dotted)")
    ax.set_ylabel("utilisation (mean cost / B)")
    ax.set_ylim(0, max(1.1, float(np.max(u + err[1])) * 1.05))
    ax.legend(fontsize=7, loc="lower left")
    return fig


@register("budget_pacing", "lambda")
def budget_pacing_lambda(results: Mapping[str, Any]) -> plt.Figure:
    """Pacer dual variable λ over the test stream, averaged over seeds, one line per budget."""
    traces = results["traces"]["lambda"]
    fig, ax = plt.subplots()
    colours = style.palette(len(traces))
    for colour, key in zip(colours, sorted(traces, key=lambda k: traces[k]["budget"]), strict=True):
        tr = traces[key]
        band(ax, np.asarray(tr["step"], dtype=float), tr["mean"], tr.get("low"), tr.get("high"),
             color=colour, label=f"B = {tr['budget']:.1e} $/req", alpha=0.15)
    ax.set_xlabel("test step")
    ax.set_ylabel("pacer λ")
    n = len(results.get("seeds") or ())
    fig.tight_layout()
    legend_outside(fig, ncol=4, title=f"mean over {n} seeds; band: 10th-90th percentile over seeds")
    return fig
