"""Appendix — hyper-parameter sweep: α × γ, two objectives and the Pareto knee.

For every cell (α, γ) of the grid (SPEC: α ∈ {0.01, 0.05, 0.1, 0.25, 0.5, 1.0} × γ ∈ {0.994, …, 0.999,
1.0}) the ParetoBandit router (warm-up priors with the config's n_eff — fixed at 1163.9 in every cell,
so only α and γ vary —, λ_c = 0, adaptive pacer) is scored on two objectives, both maximised:

1. **Budget-pacing AUC** — Exp 01's protocol (SPEC §2 trials, seeds ``3000 + i``) at Exp 01's 7
   budgets B_1 < … < B_7; per seed the mean test reward r_i at each budget, and
   ``AUC = Σ_i ½(r_i + r_{i+1})·(ln B_{i+1} − ln B_i) / (ln B_7 − ln B_1)``: the trapezoidal area under the
   reward–log-budget curve normalised by the log-budget range (a reward between the worst and best
   budget's reward; equal to the plain mean of r_i up to the half weight of the two end budgets).
2. **Degraded-phase reward** — Exp 03's protocol (three phases, seeds ``6000 + i``, Mistral's
   observed reward 0.75 during P2) at the moderate budget: the mean observed reward over P2.

The seeds are those of Exp 01 and Exp 03, so the cell (0.01, 0.997) reproduces their ParetoBandit
numbers exactly. Objective 1 runs as one batched simulation per α (7 γ × 7 budgets × seeds runs each),
objective 2 as one batch of all 42 cells × seeds (per-run α and γ).

Pareto knee (:func:`pareto_knee`)
---------------------------------
Each objective is min–max normalised over the grid cells. The Pareto front is the set of
non-dominated cells. Its two extremes are the front's best cell on objective 1 and its best cell on
objective 2; the knee is the front cell with the largest perpendicular distance to the straight line
joining the extremes (the "maximum distance to the chord" rule). Degenerate fronts: one cell → that
cell; all distances 0 (two cells, or collinear) → the cell with the largest sum of normalised
objectives. Remaining ties go to the first cell in grid order (α, then γ).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ..errors import ConfigError, DimensionMismatchError
from ..sim import simulate, three_phase_prompts, warmup_test_streams
from .budget_pacing import router_config
from .common import as_price_array, parse_pacer, prepare_tables, resolve_priors
from .phased import effective_phase_length, phase_bounds, three_phase_trial_streams
from .quality_degradation import degradation_shift

__all__ = ["log_budget_auc", "pareto_front", "pareto_knee", "run_hyperparameter_sweep"]


def log_budget_auc(rewards, budgets) -> np.ndarray:
    """Normalised trapezoidal area under reward vs ln(budget); ``rewards`` (..., n_budgets)."""
    b = np.asarray(budgets, dtype=float)
    r = np.asarray(rewards, dtype=float)
    if b.ndim != 1 or b.size < 2 or r.shape[-1] != b.size or (np.diff(b) <= 0).any() or (b <= 0).any():
        raise ConfigError("log_budget_auc needs >= 2 increasing positive budgets matching rewards' last axis")
    w = np.diff(np.log(b))
    return ((r[..., 1:] + r[..., :-1]) / 2 * w).sum(axis=-1) / w.sum()


def pareto_front(points) -> np.ndarray:
    """Boolean mask of the non-dominated rows of ``points`` (n, 2); both objectives maximised."""
    p = np.asarray(points, dtype=float)
    if p.ndim != 2 or p.shape[1] != 2 or p.shape[0] == 0 or not np.isfinite(p).all():
        raise DimensionMismatchError(f"points must be a finite (n, 2) array, got {p.shape}")
    ge = (p[None, :, :] >= p[:, None, :]).all(axis=2)          # ge[i, j]: j >= i in both
    gt = (p[None, :, :] > p[:, None, :]).any(axis=2)
    return ~(ge & gt).any(axis=1)


def pareto_knee(points) -> dict:
    """Knee of the Pareto front of ``points`` (n, 2) by the max-distance-to-chord rule (module docstring).

    Returns
    -------
    dict
        ``knee`` (row index), ``front`` (row indices, by objective 1 descending), ``extremes``
        (row indices of the best-objective-1 and best-objective-2 front cells), ``normalised`` (n, 2)
        and ``distance`` (per front row, to the chord).
    """
    p = np.asarray(points, dtype=float)
    mask = pareto_front(p)
    lo, span = p.min(axis=0), np.ptp(p, axis=0)
    z = (p - lo) / np.where(span > 0, span, 1.0)
    idx = np.flatnonzero(mask)
    # extremes: best on one objective, the other as tie-break; first in grid order on full ties
    e1 = idx[np.lexsort((-z[idx, 1], -z[idx, 0]))[0]]
    e2 = idx[np.lexsort((-z[idx, 0], -z[idx, 1]))[0]]
    chord = z[e2] - z[e1]
    length = float(np.hypot(*chord))
    if length > 0:
        rel = z[idx] - z[e1]
        dist = np.abs(chord[0] * rel[:, 1] - chord[1] * rel[:, 0]) / length
    else:
        dist = np.zeros(idx.size)
    if dist.max() > 1e-12:
        knee = idx[int(np.argmax(dist))]
    else:
        knee = idx[int(np.argmax(z[idx].sum(axis=1)))]
    order = idx[np.lexsort((-z[idx, 1], -z[idx, 0]))]
    return {"knee": int(knee), "front": order.tolist(), "extremes": [int(e1), int(e2)],
            "normalised": z.tolist(), "distance": {int(i): float(v) for i, v in zip(idx, dist, strict=True)}}


def _grid(values, name: str, low: float, high: float | None) -> list[float]:
    v = [float(x) for x in values]
    if not v or len(set(v)) != len(v) or any(not np.isfinite(x) or x < low or (high is not None and x > high)
                                             for x in v):
        raise ConfigError(f"{name} must be distinct numbers in [{low}, {high}], got {values!r}")
    return v


def run_hyperparameter_sweep(*, features_val, rewards_val, costs_val, features_test, rewards_test, costs_test,
                             models: Sequence[str], prices, alphas, gammas, pacing_budgets, pacing_seeds,
                             degradation_budget: float, degradation_seeds,
                             degraded_model: str = "mistralai/mistral-large-2512",
                             degraded_reward: float = 0.75, phase_length: int = 608, phase_seed: int = 42,
                             router_params: Mapping | None = None, pacer_params: Mapping | None = None,
                             priors=None) -> dict:
    """Both objectives for every (α, γ) cell × seed; JSON-able per-seed metrics (see the module docstring).

    Returns
    -------
    dict
        ``cells``: one per (α, γ) in grid order (α outer) with ``per_seed`` lists: ``pacing_reward`` and
        ``pacing_cost_ratio`` ``[budget][seed]``, ``auc`` ``[seed]``; ``p_reward`` and
        ``p_cost_ratio`` ``[phase][seed]`` of the degradation runs, ``degraded_reward`` (= P2 reward).
    """
    tables = prepare_tables(models, features_val, rewards_val, costs_val, features_test, rewards_test,
                            costs_test)
    models, feats, rewards, costs = tables.models, tables.feats, tables.rewards, tables.costs
    n_val, n_test = tables.n_val, tables.n_test
    price = as_price_array(prices, models)
    alphas = _grid(alphas, "alphas", 0.0, None)
    gammas = _grid(gammas, "gammas", 0.0, 1.0)
    budgets = np.sort(np.asarray(pacing_budgets, dtype=float).ravel())
    if budgets.size < 2 or (budgets <= 0).any() or not np.isfinite(budgets).all():
        raise ConfigError("pacing_budgets must be >= 2 positive numbers")
    p_seeds = [int(s) for s in pacing_seeds]
    d_seeds = [int(s) for s in degradation_seeds]
    if not p_seeds or not d_seeds:
        raise ConfigError("pacing_seeds and degradation_seeds must be non-empty")
    cfg = router_config(router_params)
    mode, pacer = parse_pacer(pacer_params)
    pri = resolve_priors(priors, models, feats.shape[1])
    n_a, n_g, n_b, n_ps, n_ds = len(alphas), len(gammas), budgets.size, len(p_seeds), len(d_seeds)

    # ---- objective 1: one batch per α; run = (γ·n_b + budget)·n_ps + seed
    base = warmup_test_streams(p_seeds, n_val, n_test)
    pacing_reward = np.empty((n_a, n_g, n_b, n_ps))
    pacing_cost = np.empty((n_a, n_g, n_b, n_ps))
    streams = np.tile(base, (n_g * n_b, 1))
    gamma_runs = np.repeat(gammas, n_b * n_ps)
    budget_runs = np.tile(np.repeat(budgets, n_ps), n_g)
    for i, a in enumerate(alphas):
        res = simulate(feats, rewards, costs, streams, price, seeds=p_seeds * (n_g * n_b), alpha=a,
                       gamma=gamma_runs, budget=budget_runs, pacer_mode=mode, priors=pri, config=cfg,
                       pacer=pacer)
        pacing_reward[i] = res.reward[:, n_val:].mean(axis=1).reshape(n_g, n_b, n_ps)
        pacing_cost[i] = res.cost[:, n_val:].mean(axis=1).reshape(n_g, n_b, n_ps)
        del res
    auc = log_budget_auc(np.moveaxis(pacing_reward, 2, -1), budgets)          # (n_a, n_g, n_ps)

    # ---- objective 2: one batch of every cell; run = (α·n_g + γ)·n_ds + seed
    length = effective_phase_length(n_test, phase_length)
    phases = three_phase_prompts(n_test, length, phase_seed)
    bounds = phase_bounds(n_val, [len(p) for p in phases])
    shift = degradation_shift(models, degraded_model, degraded_reward)
    d_streams = np.tile(three_phase_trial_streams(d_seeds, n_val, phases), (n_a * n_g, 1))
    res = simulate(feats, rewards, costs, d_streams, price, seeds=d_seeds * (n_a * n_g),
                   alpha=np.repeat(alphas, n_g * n_ds), gamma=np.tile(np.repeat(gammas, n_ds), n_a),
                   budget=float(degradation_budget), pacer_mode=mode, priors=pri, config=cfg, pacer=pacer,
                   events=shift.events(bounds, price))
    p_reward = np.stack([res.reward[:, a:b].mean(axis=1) for a, b in bounds], axis=1)   # (runs, 3)
    p_cost = np.stack([res.cost[:, a:b].mean(axis=1) for a, b in bounds], axis=1) / float(degradation_budget)
    p_reward = p_reward.reshape(n_a, n_g, n_ds, 3)
    p_cost = p_cost.reshape(n_a, n_g, n_ds, 3)
    del res

    cells = []
    for i, a in enumerate(alphas):
        for j, g in enumerate(gammas):
            cells.append({
                "alpha": a,
                "gamma": g,
                "per_seed": {
                    "pacing_reward": pacing_reward[i, j].tolist(),
                    "pacing_cost_ratio": (pacing_cost[i, j] / budgets[:, None]).tolist(),
                    "auc": auc[i, j].tolist(),
                    "p_reward": p_reward[i, j].T.tolist(),
                    "p_cost_ratio": p_cost[i, j].T.tolist(),
                    "degraded_reward": p_reward[i, j, :, 1].tolist(),
                },
            })
    return {
        "experiment": "hyperparameter_sweep",
        "models": models,
        "n_val": int(n_val),
        "n_test": int(n_test),
        "alphas": alphas,
        "gammas": gammas,
        "pacing_budgets": budgets.tolist(),
        "pacing_seeds": p_seeds,
        "degradation_budget": float(degradation_budget),
        "degradation_seeds": d_seeds,
        "degraded_model": str(degraded_model),
        "degraded_reward": float(degraded_reward),
        "phase_length": int(length),
        "phase_seed": int(phase_seed),
        "router_params": cfg.to_dict(),
        "pacer_params": {"mode": mode, "eta": pacer.eta, "ema": pacer.ema_alpha,
                         "lambda_cap": pacer.lambda_cap, "ceiling_multiplier": pacer.ceiling_multiplier},
        "priors": pri is not None,
        "cells": cells,
    }
