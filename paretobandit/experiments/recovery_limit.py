"""Appendix — recovery limit (SPEC §3, Appendix; notebook 07).

The Exp 03 three-phase protocol (:mod:`paretobandit.experiments.phased`: test permuted with
``default_rng(42)``, P1 = first ``L`` = 608 prompts, P2 = next 608, P3 = the P1 prompts) for the
ParetoBandit condition (pacer at each budget, λ_c = 0, γ from the router config), with Mistral's P2
reward *set* to a constant: every observed P2 reward of the degraded model is ``level``
(:meth:`paretobandit.sim.RewardTransform.constant`, exactly as Exp 03 sets it to 0.75), for
``level ∈ {0.05, 0.15, …, 0.85}``. The constant is the mean of the degraded reward by construction
(zero variance); costs and prices are unchanged and the router is not told.

Long P3
-------
P3 lasts ``n_p3_repeats × L`` steps: the P1 prompts re-shuffled ``n_p3_repeats`` times (independent
permutations, drawn in order from the trial generator). The first ``L`` steps of P3 are therefore
exactly the Exp 03 P3 (and their decisions cannot depend on what comes later), so one run gives both
the 608-step recovery (P3 steps ``[0, L)``) and the 1,216-step recovery (P3 steps ``[0, 2L)`` with the
default ``n_p3_repeats = 2``).

Per-trial stream (one generator per seed)::

    rng = default_rng(seed)
    val_order = rng.permutation(n_val)
    p1 = P1[rng.permutation(L)]; p2 = P2[rng.permutation(L)]
    p3 = concat(P1[rng.permutation(L)] for _ in range(n_p3_repeats))

which for ``n_p3_repeats = 1`` is :func:`~paretobandit.experiments.phased.three_phase_trial_streams`.

Metrics per run: mean reward of P1, P2 and each P3 horizon ``h·L`` (h = 1 … n_p3_repeats); the
recovery ratio ``P3[:h·L] reward / P1 reward``; the late ratio ``P3[(h−1)L : hL] / P1``; cost/B per
phase; the degraded model's share per phase (P3 over its full length and over its last ``L`` steps).
*Full recovery* of a cell (level × budget × horizon) = seed-mean recovery ratio ≥ ``threshold`` (0.97);
the per-seed fraction ≥ threshold is reported too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ..errors import ConfigError
from ..sim import BatchSimulator, RewardTransform, three_phase_prompts
from .budget_pacing import router_config
from .common import as_price_array, parse_budgets, parse_pacer, parse_seeds, prepare_tables, resolve_priors
from .phased import effective_phase_length, windowed_mean

__all__ = ["DEFAULT_LEVELS", "recovery_streams", "run_recovery_limit"]

#: SPEC §3 appendix: Mistral's P2 reward mean 0.05, 0.15, …, 0.85.
DEFAULT_LEVELS = tuple(round(0.05 + 0.1 * i, 2) for i in range(9))


def recovery_streams(seeds: Sequence[int], n_val: int, p1: np.ndarray, p2: np.ndarray,
                     n_p3_repeats: int) -> np.ndarray:
    """(S, n_val + (2 + n_p3_repeats)·L) streams into ``[val; test]`` (module docstring)."""
    if isinstance(n_p3_repeats, bool) or int(n_p3_repeats) < 1:
        raise ConfigError(f"n_p3_repeats must be a positive integer, got {n_p3_repeats!r}")
    p1, p2 = np.asarray(p1), np.asarray(p2)
    rows = []
    for s in seeds:
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 0:
            raise ConfigError(f"seeds must be non-negative integers, got {s!r}")
        rng = np.random.default_rng(int(s))
        parts = [rng.permutation(int(n_val)), n_val + p1[rng.permutation(len(p1))],
                 n_val + p2[rng.permutation(len(p2))]]
        parts += [n_val + p1[rng.permutation(len(p1))] for _ in range(int(n_p3_repeats))]
        rows.append(np.concatenate(parts))
    if not rows:
        raise ConfigError("at least one seed is needed")
    return np.stack(rows).astype(np.intp)


def run_recovery_limit(*, features_val, rewards_val, costs_val, features_test, rewards_test, costs_test,
                       models: Sequence[str], prices, budgets: Mapping[str, float], seeds: Sequence[int],
                       degraded_model: str = "mistralai/mistral-large-2512",
                       levels: Sequence[float] = DEFAULT_LEVELS, phase_length: int = 608,
                       phase_seed: int = 42, n_p3_repeats: int = 2, threshold: float = 0.97,
                       router_params: Mapping | None = None, pacer_params: Mapping | None = None,
                       priors=None, window: int = 50, trace_stride: int = 16) -> dict:
    """Run every degradation level × budget × seed (ParetoBandit condition); JSON-able per-seed metrics.

    Parameters are those of :func:`paretobandit.experiments.phased.run_phased` plus ``degraded_model``,
    ``levels`` (constant P2 rewards), ``n_p3_repeats`` (P3 length in units of L) and ``threshold``
    (full recovery). Returns ``{"cells": [{"level", "budget", "per_seed": {...}, "trace": {...}}], ...}``.
    """
    models = [str(m) for m in models]
    if degraded_model not in models:
        raise ConfigError(f"degraded model {degraded_model!r} is not in the portfolio {models}")
    arm = models.index(degraded_model)
    tables = prepare_tables(models, features_val, rewards_val, costs_val, features_test, rewards_test,
                            costs_test)
    feats, rewards, costs = tables.feats, tables.rewards, tables.costs
    n_val, n_test = tables.n_val, tables.n_test
    levels = [float(v) for v in levels]
    if not levels or any(not 0.0 <= v <= 1.0 for v in levels) or len(set(levels)) != len(levels):
        raise ConfigError(f"levels must be distinct rewards in [0, 1], got {levels}")
    budgets = parse_budgets(budgets)
    seeds = parse_seeds(seeds, required=False)
    base_prices = as_price_array(prices, models)
    cfg = router_config(router_params)
    mode, pacer = parse_pacer(pacer_params)
    pri = resolve_priors(priors, models, feats.shape[1])
    length = effective_phase_length(n_test, phase_length)
    p1, p2, _ = three_phase_prompts(n_test, length, phase_seed)
    reps = int(n_p3_repeats)
    base = recovery_streams(seeds, n_val, p1, p2, reps)
    n_s = len(seeds)
    blocks = [(lv, b) for lv in levels for b in budgets]
    n_runs = len(blocks) * n_s
    p2_start, p3_start = n_val + length, n_val + 2 * length
    events = [RewardTransform.constant(arm=arm, start=p2_start, stop=p3_start, value=lv,
                                       runs=np.arange(i * n_s, (i + 1) * n_s))
              for i, (lv, _) in enumerate(blocks)]
    budget = np.repeat([budgets[b] for _, b in blocks], n_s)
    sim = BatchSimulator(feats, rewards, costs, np.tile(base, (len(blocks), 1)), base_prices,
                         seeds=seeds * len(blocks), cost_penalty=np.zeros(n_runs), budget=budget.tolist(),
                         pacer_mode=mode, priors=pri, config=cfg, pacer=pacer, events=events)
    res = sim.run()

    def seg(a: int, b: int) -> slice:
        return slice(n_val + a, n_val + b)

    phase = {"p1": seg(0, length), "p2": seg(length, 2 * length), "p3": seg(2 * length, (2 + reps) * length)}
    r1 = res.reward[:, phase["p1"]].mean(axis=1)
    mean_reward = {k: res.reward[:, s].mean(axis=1) for k, s in phase.items()}
    cost_ratio = {k: res.cost[:, s].mean(axis=1) / budget for k, s in phase.items()}
    share = {k: (res.arm[:, s] == arm).mean(axis=1) for k, s in phase.items()}
    p3_last = seg((1 + reps) * length, (2 + reps) * length)
    share["p3_last"] = (res.arm[:, p3_last] == arm).mean(axis=1)
    horizons = [h * length for h in range(1, reps + 1)]
    recovery = {h: res.reward[:, seg(2 * length, 2 * length + h)].mean(axis=1) / r1 for h in horizons}
    late = {h: res.reward[:, seg(length + h, 2 * length + h)].mean(axis=1) / r1 for h in horizons}
    test = slice(n_val, n_val + (2 + reps) * length)
    w = min(int(window), (2 + reps) * length)
    win = windowed_mean(res.reward[:, test], w)
    win_share = windowed_mean((res.arm[:, test] == arm).astype(float), w)
    sample = np.arange(0, win.shape[1], max(int(trace_stride), 1))

    cells = []
    for i, (lv, b) in enumerate(blocks):
        rs = slice(i * n_s, (i + 1) * n_s)
        cells.append({
            "level": lv, "budget": b, "budget_value": budgets[b],
            "per_seed": {
                "seed": seeds,
                "mean_reward": {k: v[rs].tolist() for k, v in mean_reward.items()},
                "cost_ratio": {k: v[rs].tolist() for k, v in cost_ratio.items()},
                "degraded_share": {k: v[rs].tolist() for k, v in share.items()},
                "recovery_ratio": {str(h): v[rs].tolist() for h, v in recovery.items()},
                "late_ratio": {str(h): v[rs].tolist() for h, v in late.items()},
            },
            "trace": {"test_step": (sample + w - 1).tolist(),
                      "reward": win[rs][:, sample].mean(axis=0).tolist(),
                      "degraded_share": win_share[rs][:, sample].mean(axis=0).tolist()},
        })
    return {
        "experiment": "recovery_limit",
        "models": models,
        "degraded_model": degraded_model,
        "levels": levels,
        "n_val": int(n_val),
        "n_test": int(n_test),
        "phase_length": int(length),
        "phase_seed": int(phase_seed),
        "n_p3_repeats": reps,
        "horizons": horizons,
        "threshold": float(threshold),
        "phase_bounds_test": [[0, length], [length, 2 * length], [2 * length, (2 + reps) * length]],
        "seeds": seeds,
        "budgets": budgets,
        "window": int(w),
        "router_params": cfg.to_dict(),
        "pacer_params": {"mode": mode, "eta": pacer.eta, "ema": pacer.ema_alpha,
                         "lambda_cap": pacer.lambda_cap, "ceiling_multiplier": pacer.ceiling_multiplier},
        "priors": pri is not None,
        "cells": cells,
    }
