"""Appendix — prior mismatch: how much does a wrong warm-up prior cost, and does n_eff matter?

Prior sets (:func:`build_prior_sets`)
-------------------------------------
The 8,373-prompt train split behind the released priors is not public, so every mismatched prior is
built from what exists (a deviation from the paper, which built them from train):

==============  ===========================================================================================
calibrated      the released ``priors_k3_d26.npz`` (A_off, b_off from the train split, plasticity 0.1)
inverted        the released train statistics with every reward replaced by 1 − r. Exact without the train
                rows: the bias is the last coordinate, so A_off[:, d] = p·(e_d + Σx) and
                b_inv = p·Σ(1 − r)x = A_off[:, d] − p·e_d − b_off (p = plasticity 0.1); A_off unchanged
mmlu_only       ``generate_warmup_priors`` (:func:`paretobandit.kernels.offline_statistics`, plasticity
                0.1) on the val rows whose ``source`` is ``mmlu`` (397 prompts on the full split)
gsm8k_only      the same on the val rows whose ``source`` is ``gsm8k`` (360 prompts)
random          the same on ALL val contexts with rewards drawn ``default_rng(random_seed).uniform(size=
                (n_val, K))`` (independent of the prompt and the arm)
==============  ===========================================================================================

Loading rescales every set to the same effective sample size n_eff keeping its prior mean θ_off
(SPEC §1.6), so only the prior *mean* differs between sets, and n_eff sets how hard it is to unlearn.
The val rows used by mmlu_only / gsm8k_only / random are also seen again during the online warm-up.

Protocol
--------
SPEC §2 trials at one budget (the moderate 6.62e-4 $/request by default; adaptive pacer, λ_c = 0, α
and γ of the router config), seeds ``9000 + i``: warm-up on the shuffled val split, then the shuffled
test split while learning. Every prior set × n_eff (plus a ``none`` reference: cold arms, same α) is
one block of the SAME batched simulation (per-run priors and n_eff). Metrics on test: mean reward,
cost/B, cumulative regret vs the per-prompt oracle, model shares; plus the regret of the val warm-up.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from .. import kernels
from ..errors import ConfigError, DimensionMismatchError
from ..sim import Priors, simulate, warmup_test_streams
from .budget_pacing import router_config
from .common import as_price_array, load_prior_arrays, parse_pacer, prepare_tables, resolve_priors
from .warmup_ablation import oracle_rewards

__all__ = ["PRIOR_SETS", "build_prior_sets", "invert_prior", "run_prior_mismatch"]

PRIOR_SETS = ("calibrated", "random", "mmlu_only", "gsm8k_only", "inverted")


def invert_prior(a_off, b_off, plasticity: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Statistics of the same contexts with rewards ``1 − r``: ``(A_off, A_off[:, :, d] − p·e_d − b_off)``.

    Requires the bias (constant 1) as the last context coordinate and the plasticity ``p`` the
    statistics were built with.
    """
    a = np.asarray(a_off, dtype=float)
    b = np.asarray(b_off, dtype=float)
    if a.ndim != 3 or b.shape != a.shape[:2]:
        raise DimensionMismatchError(f"A_off (K, d, d) and b_off (K, d) expected, got {a.shape}, {b.shape}")
    d = a.shape[-1]
    sum_x = a[:, :, d - 1].copy()                     # p·(e_d + Σx)
    sum_x[:, d - 1] -= plasticity
    return a.copy(), sum_x - b


def build_prior_sets(*, released, features_val, rewards_val, sources_val: Sequence[str],
                     models: Sequence[str], random_seed: int = 0, plasticity: float = 0.1,
                     sets: Sequence[str] = PRIOR_SETS) -> dict[str, Priors]:
    """The prior sets of the module docstring, aligned to ``models`` (column order).

    Parameters
    ----------
    released : path or (models, A_off, b_off)
        The released train priors.
    features_val, rewards_val : arrays (n, d), (n, K)
        Val contexts (bias last) and rewards, columns in ``models`` order.
    sources_val : sequence of str
        Benchmark of each val row (the reward table's ``source``).
    """
    models = [str(m) for m in models]
    x = np.asarray(features_val, dtype=float)
    r = np.asarray(rewards_val, dtype=float)
    src = np.asarray([str(s) for s in sources_val])
    if x.ndim != 2 or r.shape != (x.shape[0], len(models)) or src.shape != (x.shape[0],):
        raise DimensionMismatchError(f"val features {x.shape}, rewards {r.shape}, sources {src.shape} "
                                     f"must share rows (K = {len(models)})")
    unknown = [s for s in sets if s not in PRIOR_SETS]
    if unknown or not sets:
        raise ConfigError(f"unknown prior set(s) {unknown}; known: {list(PRIOR_SETS)}")
    if isinstance(released, (tuple, list)):
        rel_models, rel_a, rel_b = released
    else:
        rel_models, rel_a, rel_b = load_prior_arrays(released)
    out: dict[str, Priors] = {}
    for name in sets:
        if name == "calibrated":
            out[name] = resolve_priors((rel_models, rel_a, rel_b), models, x.shape[1])
        elif name == "inverted":
            inv = invert_prior(rel_a, rel_b, plasticity)
            out[name] = resolve_priors((rel_models, *inv), models, x.shape[1])
        elif name == "random":
            u = np.random.default_rng(int(random_seed)).uniform(size=r.shape)
            out[name] = Priors(*kernels.offline_statistics(x, u, plasticity))
        else:
            source = name.removesuffix("_only")
            rows = src == source
            if not rows.any():
                raise ConfigError(f"no val rows with source {source!r} for the {name} prior")
            out[name] = Priors(*kernels.offline_statistics(x[rows], r[rows], plasticity))
    return out


def _prior_mean(p: Priors) -> np.ndarray:
    """θ_off = A_off⁻¹ b_off per arm (K, d)."""
    a, b = np.asarray(p.a_off, dtype=float), np.asarray(p.b_off, dtype=float)
    return kernels.solve(a, b[..., None])[..., 0]      # fixed-order elimination: CPU independent


def run_prior_mismatch(*, features_val, rewards_val, costs_val, features_test, rewards_test, costs_test,
                       models: Sequence[str], prices, budget: float, seeds, prior_sets: Mapping[str, Priors],
                       n_effs: Sequence[float] = (10.0, 100.0, 1000.0), include_none: bool = True,
                       router_params: Mapping | None = None, pacer_params: Mapping | None = None) -> dict:
    """Every prior set × n_eff × seed (+ the ``none`` reference) at one budget; JSON-able per-seed metrics.

    Returns
    -------
    dict
        ``cells``: one per prior × n_eff (``n_eff`` None for ``none``) with ``per_seed`` lists
        (``mean_reward``, ``mean_cost``, ``cost_ratio``, ``test_regret``, ``warmup_regret``,
        ``warmup_mean_reward``, ``share`` per model); ``prior_implied_reward``: per set and model, the
        mean over test contexts of θ_offᵀx (what the prior predicts before any learning).
    """
    tables = prepare_tables(models, features_val, rewards_val, costs_val, features_test, rewards_test,
                            costs_test)
    models, feats, rewards, costs = tables.models, tables.feats, tables.rewards, tables.costs
    n_val, n_test, k, d = tables.n_val, tables.n_test, tables.k, tables.d
    price = as_price_array(prices, models)
    budget = float(budget)
    if not np.isfinite(budget) or budget <= 0:
        raise ConfigError(f"budget must be a positive number, got {budget!r}")
    seeds = [int(s) for s in seeds]
    n_effs = [float(v) for v in n_effs]
    if not seeds or not n_effs or not prior_sets or any(v <= 0 for v in n_effs):
        raise ConfigError("prior_mismatch needs seeds, prior sets and positive n_eff values")
    cfg = router_config(router_params)
    mode, pacer = parse_pacer(pacer_params)
    sets = {str(n): resolve_priors(p, models, d) for n, p in prior_sets.items()}

    blocks: list[tuple[str, float | None]] = [(n, v) for n in sets for v in n_effs]
    if include_none:
        blocks.append(("none", None))
    n_s = len(seeds)
    eye = np.broadcast_to(np.eye(d), (k, d, d))
    a_off = np.stack([sets[n].a_off if n in sets else eye for n, _ in blocks])
    b_off = np.stack([sets[n].b_off if n in sets else np.zeros((k, d)) for n, _ in blocks])
    mask = np.stack([np.ones(k, bool) if sets.get(n) is None or sets[n].mask is None
                     else np.asarray(sets[n].mask, bool) for n, _ in blocks])
    pri = Priors(a_off=np.repeat(a_off, n_s, axis=0), b_off=np.repeat(b_off, n_s, axis=0),
                 mask=np.repeat(mask, n_s, axis=0))
    n_eff = np.repeat([np.nan if v is None else v for _, v in blocks], n_s)
    base = warmup_test_streams(seeds, n_val, n_test)
    res = simulate(feats, rewards, costs, np.tile(base, (len(blocks), 1)), price, seeds=seeds * len(blocks),
                   n_eff=n_eff, budget=budget, pacer_mode=mode, priors=pri, config=cfg, pacer=pacer)

    streams = np.tile(base, (len(blocks), 1))
    regret = oracle_rewards(rewards)[streams] - res.reward
    cells = []
    for i, (name, v) in enumerate(blocks):
        rs = slice(i * n_s, (i + 1) * n_s)
        mean_cost = res.cost[rs, n_val:].mean(axis=1)
        cells.append({
            "prior": name,
            "n_eff": v,
            "per_seed": {
                "seed": seeds,
                "mean_reward": res.reward[rs, n_val:].mean(axis=1).tolist(),
                "warmup_mean_reward": res.reward[rs, :n_val].mean(axis=1).tolist(),
                "mean_cost": mean_cost.tolist(),
                "cost_ratio": (mean_cost / budget).tolist(),
                "test_regret": regret[rs, n_val:].sum(axis=1).tolist(),
                "warmup_regret": regret[rs, :n_val].sum(axis=1).tolist(),
                "share": {m: (res.arm[rs, n_val:] == j).mean(axis=1).tolist() for j, m in enumerate(models)},
            },
        })
    x_test = feats[n_val:]
    implied = {n: dict(zip(models, [float(kernels.matvec(x_test, th).mean()) for th in _prior_mean(p)],
                           strict=True))
               for n, p in sets.items()}
    return {
        "experiment": "prior_mismatch",
        "models": models,
        "n_val": int(n_val),
        "n_test": int(n_test),
        "seeds": seeds,
        "budget": budget,
        "n_effs": n_effs,
        "prior_sets": list(sets),
        "router_params": cfg.to_dict(),
        "pacer_params": {"mode": mode, "eta": pacer.eta, "ema": pacer.ema_alpha,
                         "lambda_cap": pacer.lambda_cap, "ceiling_multiplier": pacer.ceiling_multiplier},
        "oracle_mean_reward": float(oracle_rewards(rewards[n_val:]).mean()),
        "test_mean_reward": dict(zip(models, rewards[n_val:].mean(axis=0).tolist(), strict=True)),
        "prior_implied_reward": implied,
        "cells": cells,
    }
