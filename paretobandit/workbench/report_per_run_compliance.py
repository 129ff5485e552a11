"""Notebook 14 (issue 13): run the per-run compliance ablation from the composed configs, summarise, plot.

:func:`run_all` composes each source experiment's own preset (budget_pacing, budget_drift,
quality_degradation, onboarding) for its data, seeds, priors, budgets and events, and runs every pacer
of ``conf/experiment/per_run_compliance.yaml`` through
:mod:`paretobandit.experiments.per_run_compliance`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from omegaconf import DictConfig, OmegaConf

from ..experiments import default_budgets
from ..experiments import per_run_compliance as prc
from ..experiments.budget_drift import drift_shift
from ..experiments.quality_degradation import degradation_shift
from . import figures, inputs
from .config import compose_run, repo_path

__all__ = ["EXPERIMENT", "SCENARIOS", "headlines", "run_all"]

EXPERIMENT = "per_run_compliance"
SCENARIOS = ("budget_pacing", "budget_drift", "quality_degradation", "onboarding")
PACER_LABELS = {"paretobandit": "paper's pacer", "pi": "PI", "spend_guard": "spend guard (new)"}


def _prices(cfg: DictConfig) -> dict:
    return {m.id: {"input_cost_per_m": m.input_cost_per_m, "output_cost_per_m": m.output_cost_per_m}
            for m in cfg.portfolio.models}


def _source(name: str, scale: str, overrides: Sequence[str]) -> tuple[DictConfig, Any, Any, dict]:
    cfg = compose_run(name, scale, list(overrides))
    if name == "onboarding":
        from .report_onboarding import load_onboarding_splits
        val, test = load_onboarding_splits(cfg)
    else:
        val, test = inputs.load_split(cfg, "val"), inputs.load_split(cfg, "test")
    priors = repo_path(cfg, cfg.router.priors) if cfg.router.priors else None
    tables = dict(features_val=val.features, rewards_val=val.rewards, costs_val=val.costs,
                  features_test=test.features, rewards_test=test.rewards, costs_test=test.costs,
                  models=test.models, prices=_prices(cfg), seeds=inputs.seeds(cfg),
                  router_params=dict(cfg.router.params), priors=priors)
    return cfg, val, test, tables


def run_all(cfg: DictConfig, scale: str, overrides: Sequence[str] = (), n_jobs: int = 1) -> list[dict]:
    """Every scenario of ``cfg.experiment.scenarios`` × pacer; one result dict per scenario."""
    exp = cfg.experiment
    src_over = list(exp.get("source_overrides") or [])
    out = []
    for scen in exp.scenarios:
        if scen not in SCENARIOS:
            raise ValueError(f"unknown scenario {scen!r}; known: {SCENARIOS}")
        scfg, val, test, tables = _source(scen, scale, src_over)
        pacers = prc.pacer_factories(OmegaConf.to_container(scfg.pacer),
                                     OmegaConf.to_container(exp.pi), OmegaConf.to_container(exp.spend_guard))
        sexp = scfg.experiment
        if scen == "budget_pacing":
            budgets = (list(sexp.budgets) if sexp.budgets is not None
                       else default_budgets(val.costs, sexp.n_budgets).tolist())
            res = prc.run_stationary_compliance(budgets=budgets, pacers=pacers, n_jobs=n_jobs, **tables)
        elif scen in ("budget_drift", "quality_degradation"):
            shift = (drift_shift(val.models, tables["prices"], sexp.drift.model,
                                 (sexp.drift.input_cost_per_m, sexp.drift.output_cost_per_m))
                     if scen == "budget_drift" else
                     degradation_shift(val.models, sexp.degradation.model, sexp.degradation.reward))
            res = prc.run_phased_compliance(scenario=scen, budgets=dict(sexp.budgets), shift=shift,
                                            pacers=pacers, phase_length=sexp.phase_length,
                                            phase_seed=sexp.phase_seed, n_jobs=n_jobs, **tables)
        else:
            budgets = {k: float(v) for k, v in sexp.budgets.items() if v is not None}
            ad = sexp.adoption
            res = prc.run_onboarding_compliance(
                new_model=sexp.new_model, budgets=budgets, pacers=pacers, cases=list(exp.onboarding_cases),
                n_forced=sexp.n_forced, window=ad.window, threshold=ad.threshold, sustain=ad.sustain,
                n_jobs=n_jobs, **tables)
        out.append(res)
    return out


def headlines(rows: Sequence[Mapping], reference: str = "paretobandit") -> dict:
    """Per scenario × pacer (scalars only): worst-seed and worst mean cost / B (``worst_seed_ratio``,
    ``max_mean_ratio``) over the binding cells, the
    largest mean-reward shortfall against ``reference`` over all cells, and the largest gap of the
    scenario metric (P2 lift, recovery ratio, adopted runs) to ``reference``'s."""
    def key(r):
        return (r["scenario"], r["case"], str(r["budget"]), r["phase"])

    ref = {key(r): r for r in rows if r["pacer"] == reference}
    out: dict = {}
    for scen in SCENARIOS:
        for pacer in prc.PACER_NAMES:
            mine = [r for r in rows if r["scenario"] == scen and r["pacer"] == pacer]
            sel = [r for r in mine if r["binding"]]
            if not sel:
                continue
            gaps = [abs(r["scenario_metric"] - ref[key(r)]["scenario_metric"]) for r in mine
                    if r["scenario_metric"] is not None and key(r) in ref]
            entry = {"worst_seed_ratio": max(r["cost_ratio_worst_seed"] for r in sel),
                     "max_mean_ratio": max(r["cost_ratio_mean"] for r in sel),
                     "max_reward_shortfall": max(ref[key(r)]["mean_reward"] - r["mean_reward"] for r in mine),
                     "n_binding_cells": len(sel)}
            if gaps:
                entry["max_metric_gap"] = max(gaps)
            out.setdefault(scen, {})[pacer] = entry
    return out


def _label(key: tuple) -> str:
    """``case/budget/phase`` of a cell key, numeric budgets as ``8.3e-05``."""
    case, budget, phase = key
    try:
        budget = f"{float(budget):.2g}"
    except ValueError:
        pass
    return "/".join(s for s in (case, budget, phase) if s)


@figures.register(EXPERIMENT, "cost_ratio")
def cost_ratio_figure(results: Mapping[str, Any]) -> plt.Figure:
    """Per-seed cost / B (strip) of every binding cell, one panel per scenario, pacers side by side."""
    raw = results["per_seed"]["results"]
    rows = results["table"]
    binding = {(r["scenario"], r["case"], str(r["budget"]), r["phase"]) for r in rows
               if r["binding"] and r["pacer"] == "paretobandit"}
    fig, axes = plt.subplots(1, len(raw), figsize=(3.6 * len(raw), 3.4), squeeze=False)
    pacers = list(prc.PACER_NAMES)
    for ax, res in zip(axes[0], raw, strict=True):
        scen = res["scenario"]
        labels, x = [], 0
        for c0 in res["cells"]:
            if c0["pacer"] != pacers[0]:
                continue
            key = (c0.get("case", ""), str(c0["budget"]), c0["phase"])
            if (scen, *key) not in binding:
                continue
            for i, p in enumerate(pacers):
                cell = next(c for c in res["cells"] if c["pacer"] == p
                            and (c.get("case", ""), str(c["budget"]), c["phase"]) == key)
                y = np.asarray(cell["cost_ratio"])
                jitter = np.linspace(-0.08, 0.08, y.size)
                ax.scatter(x + (i - 1) * 0.25 + jitter, y, s=6, color=f"C{i}",
                           label=PACER_LABELS[p] if x == 0 else None)
            labels.append(_label(key))
            x += 1
        ax.axhline(1.0, color="k", lw=0.6)
        ax.set_xticks(range(len(labels)), labels, rotation=60, ha="right", fontsize=6)
        ax.set_title(scen, fontsize=8)
        ax.set_ylabel("cost / B per seed")
    fig.tight_layout()                 # rotated tick labels inside the figure, the legend below them
    figures.legend_outside(fig)
    return fig


@figures.register(EXPERIMENT, "reward")
def reward_figure(results: Mapping[str, Any]) -> plt.Figure:
    """Per-seed mean reward (strip) of every cell, one panel per scenario."""
    raw = results["per_seed"]["results"]
    fig, axes = plt.subplots(1, len(raw), figsize=(3.6 * len(raw), 3.4), squeeze=False)
    pacers = list(prc.PACER_NAMES)
    for ax, res in zip(axes[0], raw, strict=True):
        def key(c):
            return (c.get("case", ""), str(c["budget"]), c["phase"])

        keys = [key(c) for c in res["cells"] if c["pacer"] == pacers[0]]
        for i, p in enumerate(pacers):
            cells = {key(c): c for c in res["cells"] if c["pacer"] == p}
            for x, k in enumerate(keys):
                y = np.asarray(cells[k]["mean_reward"])
                ax.scatter(x + (i - 1) * 0.25 + np.linspace(-0.08, 0.08, y.size), y, s=6, color=f"C{i}",
                           label=PACER_LABELS[p] if x == 0 else None)
        ax.set_xticks(range(len(keys)), [_label(k) for k in keys],
                      rotation=60, ha="right", fontsize=6)
        ax.set_title(res["scenario"], fontsize=8)
        ax.set_ylabel("mean reward per seed")
    fig.tight_layout()                 # rotated tick labels inside the figure, the legend below them
    figures.legend_outside(fig)
    return fig
