"""Exp 04 (runtime onboarding K = 3 → 4): per-seed metrics → summary, table rows, traces and figures.

Reads only the JSON-able output of :func:`paretobandit.experiments.onboarding.run_onboarding`; knows
nothing about how it was simulated. The figures (registered for experiment ``onboarding``) read only
the results document.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from . import figures, style
from .inputs import SplitArrays, load_split
from .stats import summarise

__all__ = ["TABLE_COLUMNS", "load_onboarding_splits", "split_traces", "summarise_onboarding"]

TABLE_COLUMNS = ["budget", "scenario", "budget_value", "cost_ratio", "cost_ratio_ci_low",
                 "cost_ratio_ci_high", "mean_reward", "reward_ci_low", "reward_ci_high", "mean_cost",
                 "flash_share",
                 "flash_share_last", "adoption_step", "adoption_step_mean", "adoption_step_mean_ci_low",
                 "adoption_step_mean_ci_high", "adoption_step_max",
                 "adopted_runs", "n_runs", "cost_ratio_post_forced", "switch_cost_ratio", "p1_cost_ratio",
                 "lambda_end_p1", "lambda_mean_p2", "lambda_peak_switch", "variant"]
PAPER_VARIANT = "paper"


def load_onboarding_splits(cfg) -> tuple[SplitArrays, SplitArrays]:
    """P1 (val) and P2 (test) arrays of the k4 portfolio; the P1 table may lack the new model.

    ``cfg.portfolio.val_split`` is ``val`` in the paper's configuration (the K = 3 table): the P1 arrays
    hold the other models only, in portfolio order, which ``run_onboarding`` accepts. With
    ``portfolio.val_split=val_k4`` (all four columns) the new model's column is never read in P1.
    """
    from paretobandit.data import load_features, load_reward_table

    test = load_split(cfg, "test")
    table = load_reward_table(cfg.portfolio.val_split)
    if cfg.experiment.new_model in table.models:
        return load_split(cfg, "val"), test
    models = tuple(m.id for m in cfg.portfolio.models if m.id != cfg.experiment.new_model)
    cols = [table.column(m) for m in models]
    limit = cfg.scale.get("max_val")
    rows = slice(None) if limit is None else slice(0, int(limit))
    features = load_features(cfg.portfolio.val_split)
    val = SplitArrays(name=table.name, models=models, features=np.ascontiguousarray(features[rows]),
                      rewards=np.ascontiguousarray(table.rewards[rows][:, cols]),
                      costs=np.ascontiguousarray(table.costs[rows][:, cols]))
    return val, test


def split_traces(raw: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(per_seed, traces)``: the protocol output without its traces, and the traces by cell.

    Traces are keyed ``"<scenario>/<budget>"`` and kept for the paper's runs only (the figures show
    the paper's configuration).
    """
    per_seed = {k: v for k, v in raw.items() if k != "cells"}
    per_seed["cells"] = [{k: v for k, v in c.items() if k != "traces"} for c in raw["cells"]]
    traces = {f"{c['scenario']}/{c['budget']}": c["traces"] for c in raw["cells"]
              if c.get("variant", PAPER_VARIANT) == PAPER_VARIANT}
    return per_seed, traces


def _step(x: float) -> int | float:
    """A median step: an int when it is a whole step (so its macro prints ``121``, not ``121.000``)."""
    x = float(x)
    return int(x) if x.is_integer() else x


def _stat(values, boot: Mapping[str, Any]) -> dict[str, float] | None:
    if values is None:
        return None
    return summarise(values, **boot)


def summarise_onboarding(raw: Mapping[str, Any], *, bootstrap: Mapping[str, Any] | None = None
                         ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Summaries with bootstrap CIs and the ``summary.csv`` rows of Exp 04.

    Parameters
    ----------
    raw : mapping
        Output of ``run_onboarding`` (``cells`` with ``scenario``, ``budget``, ``budget_value`` and
        ``per_seed`` lists).
    bootstrap : mapping, optional
        ``n_resamples``, ``seed``, ``confidence_level`` (docs/PROTOCOLS.md §2: 10,000, 42, 0.95).

    Returns
    -------
    summary : dict
        ``cells.<scenario>.<budget>`` scalars of the paper's runs (a variant's under
        ``variant_<name>.cells.<scenario>.<budget>``) (``utilisation`` = P2 mean cost / B with CI,
        ``mean_reward`` with CI, ``flash_share_pct``, ``flash_share_last_pct``, ``adopted_runs``,
        ``adoption_step_median``/``_mean`` (with a bootstrap CI over adopted runs)/``_max``, λ at
        the end of P1 and its P2 mean) and ``headlines``; scalars only, so each becomes a LaTeX
        macro. Missing values (no budget, no adopted run) are left out.
    rows : list of dict
        One row per variant × budget × scenario, columns :data:`TABLE_COLUMNS` (``variant`` =
        ``"paper"`` or the variant's name). Headlines are the paper's runs only.
    """
    boot = {"n_resamples": 10_000, "seed": 42, "confidence_level": 0.95, **dict(bootstrap or {})}
    cells: dict[str, dict[str, Any]] = {}
    rows: list[dict[str, Any]] = []
    adopted_by_scenario: dict[str, list[int]] = {}
    runs_by_scenario: dict[str, int] = {}
    variant_cells: dict[str, dict[str, dict[str, Any]]] = {}
    for cell in raw["cells"]:
        ps = cell["per_seed"]
        scen, bname = cell["scenario"], cell["budget"]
        variant = cell.get("variant", PAPER_VARIANT)
        steps = [int(a) for a in ps["adoption_step"] if a is not None]
        n = len(ps["adoption_step"])
        if variant == PAPER_VARIANT:
            adopted_by_scenario.setdefault(scen, []).extend(steps)
            runs_by_scenario[scen] = runs_by_scenario.get(scen, 0) + n
        reward = _stat(ps["mean_reward"], boot)
        cost = _stat(ps["mean_cost"], boot)
        ratio = _stat(ps.get("cost_ratio"), boot)
        p1_ratio = _stat(ps.get("p1_cost_ratio"), boot)
        out: dict[str, Any] = {
            "mean_reward": reward["mean"], "reward_ci_low": reward["ci_low"],
            "reward_ci_high": reward["ci_high"], "mean_cost": cost["mean"],
            "flash_share_pct": 100.0 * float(np.mean(ps["flash_share"])),
            "flash_share_post_forced_pct": 100.0 * float(np.mean(ps["flash_share_post_forced"])),
            "flash_share_last_pct": 100.0 * float(np.mean(ps["flash_share_last"])),
            "adopted_runs": len(steps), "n_runs": n,
            "lambda_end_p1": float(np.mean(ps["lambda_end_p1"])),
            "lambda_mean_p2": float(np.mean(ps["lambda_mean_p2"])),
            "lambda_peak_switch": float(np.mean(ps["lambda_peak_switch"])),
        }
        if ratio is not None:
            out.update(utilisation=ratio["mean"], utilisation_ci_low=ratio["ci_low"],
                       utilisation_ci_high=ratio["ci_high"], p1_utilisation=p1_ratio["mean"],
                       utilisation_post_forced=float(np.mean(ps["cost_ratio_post_forced"])),
                       switch_utilisation=float(np.mean(ps["switch_cost_ratio"])))
        if steps:
            step_stat = summarise(steps, **boot)
            out.update(adoption_step_median=_step(np.median(steps)), adoption_step_mean=step_stat["mean"],
                       adoption_step_mean_ci_low=step_stat["ci_low"],
                       adoption_step_mean_ci_high=step_stat["ci_high"], adoption_step_max=int(max(steps)))
        target = cells if variant == PAPER_VARIANT else variant_cells.setdefault(variant, {})
        target.setdefault(scen, {})[bname] = out
        rows.append({
            "budget": bname, "scenario": scen, "budget_value": cell.get("budget_value"),
            "cost_ratio": out.get("utilisation"), "cost_ratio_ci_low": out.get("utilisation_ci_low"),
            "cost_ratio_ci_high": out.get("utilisation_ci_high"),
            "mean_reward": reward["mean"], "reward_ci_low": reward["ci_low"],
            "reward_ci_high": reward["ci_high"], "mean_cost": cost["mean"],
            "flash_share": float(np.mean(ps["flash_share"])),
            "flash_share_last": float(np.mean(ps["flash_share_last"])),
            "adoption_step": out.get("adoption_step_median"),
            "adoption_step_mean": out.get("adoption_step_mean"),
            "adoption_step_mean_ci_low": out.get("adoption_step_mean_ci_low"),
            "adoption_step_mean_ci_high": out.get("adoption_step_mean_ci_high"),
            "adoption_step_max": out.get("adoption_step_max"), "adopted_runs": len(steps), "n_runs": n,
            "cost_ratio_post_forced": out.get("utilisation_post_forced"),
            "switch_cost_ratio": out.get("switch_utilisation"),
            "p1_cost_ratio": out.get("p1_utilisation"), "lambda_end_p1": out["lambda_end_p1"],
            "lambda_mean_p2": out["lambda_mean_p2"], "lambda_peak_switch": out["lambda_peak_switch"],
            "variant": variant,
        })
    headlines: dict[str, Any] = {}
    for scen, steps in adopted_by_scenario.items():
        h: dict[str, Any] = {"adopted_runs": len(steps), "n_runs": runs_by_scenario[scen]}
        if steps:
            h.update(adoption_step_median=_step(np.median(steps)), adoption_step_mean=float(np.mean(steps)),
                     adoption_step_max=int(max(steps)))
        headlines[scen] = h
    summary: dict[str, Any] = {"cells": cells, "headlines": headlines}
    for variant, vcells in variant_cells.items():
        summary[f"variant_{variant}"] = {"cells": vcells}
    return summary, rows


# --- figures (read the results document only) ----------------------------------------------------

def _layout(results: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    table = [r for r in results["table"] if r.get("variant", PAPER_VARIANT) == PAPER_VARIANT]
    scen = list(dict.fromkeys(r["scenario"] for r in table))
    budgets = list(dict.fromkeys(r["budget"] for r in table))
    return scen, budgets


def _search_start(results: Mapping[str, Any]) -> int | None:
    adoption = results.get("per_seed", {}).get("adoption", {})
    return adoption.get("search_start")


_SPREAD = "band: 10th-90th percentile over seeds"
_SCENARIOS = {"bad_cheap": "new model cheap, poor quality", "good_cheap": "new model cheap, good quality",
              "good_expensive": "new model expensive, good quality"}


def _budget_label(results: Mapping[str, Any], name: str) -> str:
    value = (results.get("per_seed", {}).get("budgets") or {}).get(name)
    return name if value is None else f"{name} (B = {value:.2e} $/req)"


def _scenario_title(name: str) -> str:
    return f"{name.replace('_', ' ')}: {_SCENARIOS[name]}" if name in _SCENARIOS else name.replace("_", " ")


@figures.register("onboarding", "flash_share")
def onboarding_flash_share(results: Mapping[str, Any]) -> plt.Figure:
    """Share of the new model in the last 100 selections over P2, one panel per scenario, one line
    per budget (mean over seeds, 10th–90th percentile band), the adoption threshold and the start of
    the adoption search labelled."""
    scen, budgets = _layout(results)
    traces = results["traces"]
    colours = style.palette(len(budgets))
    fig, axes = plt.subplots(1, len(scen), figsize=(4.0 * len(scen), 3.2), sharey=True, squeeze=False)
    adoption = results.get("per_seed", {}).get("adoption", {})
    start, threshold = adoption.get("search_start"), adoption.get("threshold", 0.10)
    for ax, s in zip(axes[0], scen, strict=True):
        for colour, b in zip(colours, budgets, strict=True):
            tr = traces.get(f"{s}/{b}")
            if not tr:
                continue
            sh = tr["share"]
            figures.band(ax, np.asarray(sh["p2_step"], dtype=float), sh["mean"], sh["p10"], sh["p90"],
                         color=colour, label=_budget_label(results, b), alpha=0.12)
        ax.axhline(threshold, color="0.3", ls="--", lw=0.8, label=f"adoption threshold ({threshold:g})")
        if start is not None:
            ax.axvspan(0, start, color="0.0", alpha=0.06, lw=0, label=f"forced exploration (first {start})")
        ax.set_title(_scenario_title(s), fontsize=8)
        ax.set_xlabel("P2 step (0 = new model registered)")
    axes[0][0].set_ylabel("new-model share of last 100")
    fig.tight_layout()
    figures.legend_outside(fig, ncol=3, title=f"mean over {len(results.get('seeds') or ())} seeds; {_SPREAD}")
    return fig


_SWITCH_XMAX = 800  # the switch figure shows P2 up to this step (the rest is steady state)


@figures.register("onboarding", "switch")
def onboarding_switch(results: Mapping[str, Any]) -> plt.Figure:
    """Cost / B (trailing mean) and pacer λ through the K = 3 → 4 switch, per scenario and budget
    (P2 shown up to step 800; mean over seeds with 10th–90th percentile bands)."""
    scen, budgets = _layout(results)
    traces = results["traces"]
    paced = [b for b in budgets if any(traces.get(f"{s}/{b}", {}).get("switch", {}).get("cost_ratio")
                                       for s in scen)]
    colours = style.palette(len(budgets))
    fig, axes = plt.subplots(2, len(scen), figsize=(4.0 * len(scen), 5.4), sharex=True, sharey="row",
                             squeeze=False)
    for col, s in enumerate(scen):
        top, bottom = axes[0][col], axes[1][col]
        for colour, b in zip(colours, budgets, strict=True):
            tr = traces.get(f"{s}/{b}")
            if not tr or b not in paced:
                continue
            sw = tr["switch"]
            step = np.asarray(sw["step"], dtype=float)
            cr, lam = sw["cost_ratio"], sw["lambda"]
            label = _budget_label(results, b)
            figures.band(top, step, cr["mean"], cr.get("p10"), cr.get("p90"), color=colour, lw=1.1,
                         label=label, alpha=0.12)
            figures.band(bottom, step, lam["mean"], lam.get("p10"), lam.get("p90"), color=colour, lw=1.1,
                         label=label, alpha=0.12)
        first = min((traces[f"{s}/{b}"]["switch"]["step"][0] for b in paced if f"{s}/{b}" in traces),
                    default=0)
        for ax in (top, bottom):
            figures.phase_spans(ax, [(first, 0), (0, _SWITCH_XMAX)],
                                ["P1: K = 3", "P2: new model added (K = 4)"], label_axes=ax is top)
        top.axhline(1.0, color="0.3", ls="--", lw=0.8, label="budget ceiling (cost = B)")
        top.set_title(_scenario_title(s), fontsize=8, pad=12)
        bottom.set_xlim(right=_SWITCH_XMAX)
        bottom.set_xlabel("step relative to registration")
    axes[0][0].set_ylabel("cost / B (trailing mean)")
    axes[1][0].set_ylabel("pacer λ")
    fig.tight_layout()
    figures.legend_outside(fig, ncol=3, title=f"mean over {len(results.get('seeds') or ())} seeds; {_SPREAD}")
    return fig
