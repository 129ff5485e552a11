"""Appendix — warm-up ablation: cumulative regret of warm-up priors vs tabula rasa vs uniform random.

Conditions
----------
=============  =========================================================================================
paretobandit   the router of every experiment: warm-up priors (n_eff from the router config, 1163.9),
               α and γ from the router config (0.01, 0.997), λ_c = 0
tabula_rasa    no priors (every arm cold: ``A = λ₀I, b = 0``), α = 0.05, γ = 0.997 (SPEC §1.8; the
               ``router/tabula_rasa`` preset), λ_c = 0
random         uniform random arm at every step (no learning, no pacer; budget-independent)
=============  =========================================================================================

Each learning condition runs at every budget of the preset; a budget of ``None`` means no pacer
(unconstrained). All learning runs are ONE batch of the simulator (per-run α, γ, n_eff — NaN = no
priors — and budget).

Trial protocol (SPEC §2, "every trial")
---------------------------------------
``rng = default_rng(seed)``; ``val_order = rng.permutation(n_val)``; ``test_order =
rng.permutation(n_test)``. Every condition — including tabula rasa — first learns online on the shuffled
val split with its pacer active, then routes the shuffled test split while still learning: the val
warm-up stream is part of each condition, so tabula rasa differs from ParetoBandit only by the
offline priors (and its α). The random condition draws its arms with the same generator, continued:
``picks = rng.integers(K, size=n_val + n_test)`` (one pick per stream step).

Regret
------
Per step: ``regret_t = max_k r[row_t, k] − r[row_t, a_t]`` (the per-prompt oracle reward of SPEC §2,
0.963 on test, minus the reward of the chosen arm). The oracle ignores cost, so at a binding budget
the regret includes the price of the constraint. ``test_regret`` = Σ over the test steps (the
headline); ``warmup_regret`` = Σ over the val warm-up steps (where the priors matter most).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ..errors import ConfigError, DimensionMismatchError
from ..sim import simulate, warmup_test_streams
from .budget_pacing import router_config
from .common import as_price_array, parse_pacer, parse_seeds, prepare_tables, resolve_priors

__all__ = ["LEARNERS", "oracle_rewards", "random_picks", "run_warmup_ablation", "sampled_steps"]

LEARNERS = ("paretobandit", "tabula_rasa")


def oracle_rewards(rewards) -> np.ndarray:
    """Per-prompt oracle reward ``max_k r[i, k]`` of each table row."""
    r = np.asarray(rewards, dtype=float)
    if r.ndim != 2 or r.shape[0] == 0:
        raise DimensionMismatchError(f"rewards must be a non-empty (n, K) array, got {r.shape}")
    return r.max(axis=1)


def random_picks(seeds: Sequence[int], n_val: int, n_test: int, k: int) -> np.ndarray:
    """(S, n_val + n_test) uniform random arms: the trial generator continued after its two permutations."""
    rows = []
    for s in seeds:
        rng = np.random.default_rng(int(s))
        rng.permutation(int(n_val))
        rng.permutation(int(n_test))
        rows.append(rng.integers(int(k), size=int(n_val) + int(n_test)))
    return np.stack(rows).astype(np.intp)


def sampled_steps(n: int, n_points: int) -> np.ndarray:
    """Up to ``n_points`` evenly spaced step indices in ``[0, n)``, always including the last one."""
    return np.unique(np.linspace(0, n - 1, max(1, min(int(n_points), n))).round().astype(int))


def _budgets(budgets: Mapping[str, float | None]) -> dict[str, float | None]:
    out = {}
    for name, b in budgets.items():
        if b is None:
            out[str(name)] = None
            continue
        v = float(b)
        if not np.isfinite(v) or v <= 0:
            raise ConfigError(f"budget {name!r} must be a positive number or null, got {b!r}")
        out[str(name)] = v
    if not out:
        raise ConfigError("at least one budget is needed")
    return out


def run_warmup_ablation(*, features_val, rewards_val, costs_val, features_test, rewards_test, costs_test,
                        models: Sequence[str], prices, budgets: Mapping[str, float | None], seeds,
                        router_params: Mapping | None = None, tabula_rasa: Mapping | None = None,
                        pacer_params: Mapping | None = None, priors=None, trace_points: int = 200) -> dict:
    """Run the warm-up ablation for every condition × budget × seed; return JSON-able per-seed metrics.

    Parameters
    ----------
    features_*, rewards_*, costs_* : arrays
        Val and test tables (columns follow ``models``; features with the bias last).
    prices : mapping or (K, 2) array
        Registry prices in $/M.
    budgets : mapping name → $ per request or None
        ``None`` = no pacer (unconstrained).
    seeds : sequence of int
        Trial seeds (SPEC: ``9000 + i``).
    router_params : mapping
        RouterConfig fields of the ParetoBandit condition (λ_c defaults to 0).
    tabula_rasa : mapping
        ``alpha`` and ``gamma`` of the no-prior condition (default 0.05 and 0.997).
    pacer_params : mapping
        ``mode`` and pacer constants.
    priors : path, Priors, (models, A, b)
        Warm-up priors of the ParetoBandit condition (required).
    trace_points : int
        Points of the stored seed-mean cumulative-regret curves.

    Returns
    -------
    dict
        ``cells``: one per budget × condition with ``per_seed`` lists (``test_regret``,
        ``warmup_regret``, ``mean_reward``, ``mean_cost``, ``cost_ratio`` (None when unconstrained),
        ``share`` per model) and ``trace`` (seed-mean cumulative regret over the whole stream at sampled
        steps); ``oracle_mean_reward`` of the test split.
    """
    tables = prepare_tables(models, features_val, rewards_val, costs_val, features_test, rewards_test,
                            costs_test)
    models, feats, rewards, costs = tables.models, tables.feats, tables.rewards, tables.costs
    n_val, n_test, k = tables.n_val, tables.n_test, tables.k
    if priors is None:
        raise ConfigError("the warm-up ablation needs the warm-up priors of the ParetoBandit condition")
    price = as_price_array(prices, models)
    budgets = _budgets(budgets)
    seeds = parse_seeds(seeds)
    cfg = router_config(router_params)
    tr = {"alpha": 0.05, "gamma": 0.997, **dict(tabula_rasa or {})}
    mode, pacer = parse_pacer(pacer_params)
    pri = resolve_priors(priors, models, feats.shape[1])

    n_s = len(seeds)
    base = warmup_test_streams(seeds, n_val, n_test)                   # (S, n_val + n_test)
    blocks = [(c, b) for b in budgets for c in LEARNERS]
    setup = {"paretobandit": (cfg.alpha, cfg.forgetting_factor, cfg.prior_n_effective),
             "tabula_rasa": (float(tr["alpha"]), float(tr["gamma"]), np.nan)}
    alpha = np.repeat([setup[c][0] for c, _ in blocks], n_s)
    gamma = np.repeat([setup[c][1] for c, _ in blocks], n_s)
    n_eff = np.repeat([setup[c][2] for c, _ in blocks], n_s)
    budget = [budgets[b] for _, b in blocks for _ in range(n_s)]
    res = simulate(feats, rewards, costs, np.tile(base, (len(blocks), 1)), price, seeds=seeds * len(blocks),
                   alpha=alpha, gamma=gamma, n_eff=n_eff, budget=budget, pacer_mode=mode, priors=pri,
                   config=cfg, pacer=pacer)

    oracle = oracle_rewards(rewards)
    picks = random_picks(seeds, n_val, n_test, k)
    rand_reward = rewards[base, picks]
    rand_cost = costs[base, picks]
    steps = sampled_steps(n_val + n_test, trace_points)

    def metrics(stream, arm, reward, cost, bval):
        regret = oracle[stream] - reward                                  # (S, T)
        cum = np.cumsum(regret, axis=1)
        mean_cost = cost[:, n_val:].mean(axis=1)
        return {
            "per_seed": {
                "seed": seeds,
                "test_regret": regret[:, n_val:].sum(axis=1).tolist(),
                "warmup_regret": regret[:, :n_val].sum(axis=1).tolist(),
                "mean_reward": reward[:, n_val:].mean(axis=1).tolist(),
                "warmup_mean_reward": reward[:, :n_val].mean(axis=1).tolist(),
                "mean_cost": mean_cost.tolist(),
                "cost_ratio": None if bval is None else (mean_cost / bval).tolist(),
                "share": {m: (arm[:, n_val:] == j).mean(axis=1).tolist() for j, m in enumerate(models)},
            },
            "trace": {"step": steps.tolist(), "cum_regret": cum[:, steps].mean(axis=0).tolist()},
        }

    cells = []
    for bname, bval in budgets.items():
        for c in LEARNERS:
            i = blocks.index((c, bname))
            rs = slice(i * n_s, (i + 1) * n_s)
            cell = metrics(base, res.arm[rs], res.reward[rs], res.cost[rs], bval)
            cells.append({"condition": c, "budget": bname, "budget_value": bval, **cell})
        cell = metrics(base, picks, rand_reward, rand_cost, bval)
        cells.append({"condition": "random", "budget": bname, "budget_value": bval, **cell})
    return {
        "experiment": "warmup_ablation",
        "models": models,
        "n_val": int(n_val),
        "n_test": int(n_test),
        "seeds": seeds,
        "budgets": budgets,
        "conditions": [*LEARNERS, "random"],
        "router_params": cfg.to_dict(),
        "tabula_rasa": {"alpha": float(tr["alpha"]), "gamma": float(tr["gamma"]), "priors": False},
        "pacer_params": {"mode": mode, "eta": pacer.eta, "ema": pacer.ema_alpha,
                         "lambda_cap": pacer.lambda_cap, "ceiling_multiplier": pacer.ceiling_multiplier},
        "oracle_mean_reward": float(oracle[n_val:].mean()),
        "oracle_warmup_mean_reward": float(oracle[:n_val].mean()),
        "cells": cells,
    }
