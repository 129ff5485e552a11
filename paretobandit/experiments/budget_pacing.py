"""Exp 01 — stationary budget pacing (docs/PROTOCOLS.md §3).

For every budget B and seed: a fresh router with warm-up priors, λ_c = 0 and an ADAPTIVE pacer at
B; learn online on the seed's shuffled val split, then route the seed's shuffled test split while
still learning. All budgets × seeds run as one batch of the simulator.

>>> # notebook usage (real data):
>>> # res = run_budget_pacing(features_val=fv, rewards_val=val.rewards, costs_val=val.costs,
>>> #                         features_test=ft, rewards_test=test.rewards, costs_test=test.costs,
>>> #                         models=val.models, prices=catalog, budgets=default_budgets(val.costs),
>>> #                         seeds=make_seeds(3000, 20), router_params=cfg.router.params,
>>> #                         pacer_params=cfg.pacer, priors=priors_path)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ..config import RouterConfig
from ..errors import ConfigError, DimensionMismatchError, InvalidInputError
from ..sim import simulate, warmup_test_streams
from .common import (
    as_price_array,
    pacer_record,
    parse_pacer,
    parse_policy,
    parse_seeds,
    prepare_tables,
    resolve_priors,
    summarise,
)

__all__ = ["default_budgets", "reference_points", "router_config", "run_budget_pacing", "run_from_config"]


def default_budgets(costs_val, n: int = 7) -> np.ndarray:
    """``geomspace(min, max of the per-model mean val cost, n)`` ($ per request)."""
    c = np.asarray(costs_val, dtype=float)
    if c.ndim != 2 or c.shape[0] == 0:
        raise DimensionMismatchError(f"costs_val must be a non-empty (n, K) array, got {c.shape}")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ConfigError(f"n must be a positive integer, got {n!r}")
    means = c.mean(axis=0)
    if means.min() <= 0:
        raise InvalidInputError("every model's mean val cost must be > 0 for a geometric budget grid")
    return np.geomspace(means.min(), means.max(), int(n))


def router_config(router_params: Mapping | None) -> RouterConfig:
    """RouterConfig from experiment parameters; ``cost_penalty`` defaults to 0 (the paper's λ_c)."""
    params = dict(router_params or {})
    if "gamma" in params:
        params["forgetting_factor"] = params.pop("gamma")
    params.setdefault("cost_penalty", 0.0)
    return RouterConfig.from_dict(params)


def _check_budgets(budgets) -> np.ndarray:
    b = np.asarray(budgets, dtype=float).ravel()
    if b.size == 0 or not np.isfinite(b).all() or (b <= 0).any():
        raise ConfigError(f"budgets must be a non-empty list of positive numbers, got {budgets!r}")
    return b


def _trajectory(lam_test: np.ndarray, n_points: int) -> dict:
    """Mean over seeds of λ per test step, sampled at ``n_points`` evenly spaced steps."""
    n = lam_test.shape[-1]
    steps = np.unique(np.linspace(0, n - 1, min(n_points, n)).round().astype(int))
    mean = lam_test.mean(axis=0)
    return {"test_step": steps.tolist(), "mean_lambda": mean[steps].tolist(),
            "p10_lambda": np.percentile(lam_test[:, steps], 10, axis=0).tolist(),
            "p90_lambda": np.percentile(lam_test[:, steps], 90, axis=0).tolist()}


def run_budget_pacing(*, features_val, rewards_val, costs_val, features_test, rewards_test, costs_test,
                      models: Sequence[str], prices, budgets, seeds, router_params: dict | None = None,
                      pacer_params: dict | None = None, priors=None, trajectory_points: int = 200,
                      n_resamples: int = 10_000, ci_seed: int = 42, n_jobs: int = 1,
                      backend: str = "threads", policy=None) -> dict:
    """Run Exp 01 for every budget × seed and return a JSON-able result.

    Parameters
    ----------
    features_val, features_test : array (n, d)
        Context vectors (bias last) of the val and test rows, in table order.
    rewards_val, costs_val, rewards_test, costs_test : array (n, K)
        Reward tables; columns follow ``models``.
    models : sequence of str
        Model ids of the columns (the router's registration order).
    prices : mapping or array (K, 2)
        Registry prices in $/M, e.g. the catalog ``{model: {input_cost_per_m, output_cost_per_m}}``.
    budgets : sequence of float
        Budgets B in $ per request (see :func:`default_budgets`).
    seeds : sequence of int
        Trial seeds (docs/PROTOCOLS.md §2: ``3000 + i``); each drives the val/test shuffle and the tie-break.
    router_params : dict
        RouterConfig fields (alpha, forgetting_factor, prior_n_effective, …); λ_c defaults to 0.
    pacer_params : dict
        ``mode`` (default adaptive), ``eta``, ``ema_alpha``, ``lambda_cap``, ``ceiling_multiplier``; or a
        plug-in pacer ``{"_target_": "pkg.Class", **kwargs}`` (:func:`~.common.parse_pacer`).
    priors : path, Priors, (models, A, b) or None
        Warm-up priors (mapped by model id); ``None`` = cold arms (tabula rasa).
    trajectory_points : int
        Number of test steps at which the mean λ trajectory is sampled.
    n_resamples, ci_seed : int
        Bootstrap settings of the confidence intervals (docs/PROTOCOLS.md §2: 10,000 and 42).
    policy : mapping or policy factory, optional
        A plug-in policy: ``{"_target_": ..., **kwargs}`` (the ``router.policy`` config) or a factory
        (:mod:`paretobandit.plugins`); ``None`` = the built-in LinUCB.
    n_jobs : int
        Parallel sub-batches for the simulator (results are identical for any value).
    backend : {"threads", "processes"}
        How the sub-batches run (see :mod:`paretobandit.sim.parallel`).

    Returns
    -------
    dict
        ``per_budget``: one entry per budget with ``per_seed`` lists (mean_reward, mean_cost,
        utilisation, median_lambda, overshoot = max(0, utilisation − 1), model shares), ``summary``
        (means with bootstrap CIs; ``overshoot`` of the seed-mean cost, ``max_seed_overshoot``) and
        a downsampled λ trajectory over the test steps (mean, p10, p90 over seeds); top level
        ``max_overshoot`` = worst budget's overshoot of the seed-mean cost (the paper's headline,
        docs/PROTOCOLS.md §3.1).
    """
    tables = prepare_tables(models, features_val, rewards_val, costs_val, features_test, rewards_test,
                            costs_test)
    models, feats, rewards, costs = tables.models, tables.feats, tables.rewards, tables.costs
    n_val, n_test = tables.n_val, tables.n_test
    price = as_price_array(prices, models)
    budgets = _check_budgets(budgets)
    seeds = parse_seeds(seeds)
    cfg = router_config(router_params)
    mode, pacer = parse_pacer(pacer_params)
    policy = parse_policy(policy) if policy is None or isinstance(policy, Mapping) else policy
    pri = resolve_priors(priors, models, feats.shape[1])

    n_b, n_s = budgets.size, len(seeds)
    base = warmup_test_streams(seeds, n_val, n_test)                 # (n_s, T)
    streams = np.tile(base, (n_b, 1))                                # run = i_budget * n_s + i_seed
    run_seeds = seeds * n_b
    run_budget = np.repeat(budgets, n_s)
    res = simulate(feats, rewards, costs, streams, price, seeds=run_seeds, budget=run_budget, pacer_mode=mode,
                   priors=pri, config=cfg, pacer=pacer, policy=policy, n_jobs=n_jobs, backend=backend)

    test = slice(n_val, None)
    mean_reward = res.reward[:, test].mean(axis=1).reshape(n_b, n_s)
    mean_cost = res.cost[:, test].mean(axis=1).reshape(n_b, n_s)
    median_lam = np.percentile(res.lam[:, test], 50, axis=1).reshape(n_b, n_s)
    arms_test = res.arm[:, test]
    shares = np.stack([(arms_test == k).mean(axis=1) for k in range(len(models))], axis=1)
    shares = shares.reshape(n_b, n_s, len(models))
    lam_test = res.lam[:, test].reshape(n_b, n_s, n_test)

    per_budget = []
    for i, b in enumerate(budgets):
        util = mean_cost[i] / b
        overshoot = np.maximum(util - 1.0, 0.0)
        per_budget.append({
            "budget": float(b),
            "per_seed": {
                "seed": list(seeds),
                "mean_reward": mean_reward[i].tolist(),
                "mean_cost": mean_cost[i].tolist(),
                "utilisation": util.tolist(),
                "median_lambda": median_lam[i].tolist(),
                "overshoot": overshoot.tolist(),
                "share": {m: shares[i, :, k].tolist() for k, m in enumerate(models)},
            },
            "summary": {
                "mean_reward": summarise(mean_reward[i], n_resamples, ci_seed),
                "mean_cost": summarise(mean_cost[i], n_resamples, ci_seed),
                "utilisation": summarise(util, n_resamples, ci_seed),
                "median_lambda": float(median_lam[i].mean()),
                "utilisation_of_mean_cost": float(mean_cost[i].mean() / b),
                "overshoot": float(max(0.0, mean_cost[i].mean() / b - 1.0)),
                "max_seed_overshoot": float(overshoot.max()),
                "share": {m: float(shares[i, :, k].mean()) for k, m in enumerate(models)},
            },
            "lambda_trajectory": _trajectory(lam_test[i], trajectory_points),
        })
    return {
        "experiment": "budget_pacing",
        "models": models,
        "n_val": int(n_val),
        "n_test": int(n_test),
        "seeds": list(seeds),
        "budgets": budgets.tolist(),
        "router_params": cfg.to_dict(),
        "pacer_params": pacer_record(mode, pacer),
        "priors": pri is not None,
        "per_budget": per_budget,
        # Exp 01 headline (docs/PROTOCOLS.md §3.1) "max overshoot over any ceiling": mean cost over seeds
        # vs B, worst budget.
        "max_overshoot": float(max(pb["summary"]["overshoot"] for pb in per_budget)),
        "max_seed_overshoot": float(max(pb["summary"]["max_seed_overshoot"] for pb in per_budget)),
    }


def reference_points(rewards_test, costs_test, models: Sequence[str], seeds) -> dict:
    """Fixed-model, uniform-random (seeded) and per-prompt-oracle points on the test split.

    Uniform random: for each seed, ``default_rng(seed).integers(K, size=n_test)`` picks the arms.
    Oracle: per prompt the best-reward arm, ties going to the cheapest of them.
    """
    r = np.asarray(rewards_test, dtype=float)
    c = np.asarray(costs_test, dtype=float)
    models = [str(m) for m in models]
    if r.ndim != 2 or c.shape != r.shape or r.shape[1] != len(models) or r.shape[0] == 0:
        raise DimensionMismatchError(f"rewards {r.shape} / costs {c.shape} must be (n, K={len(models)})")
    seeds = parse_seeds(seeds)
    n, k = r.shape
    fixed = {m: {"mean_reward": float(r[:, j].mean()), "mean_cost": float(c[:, j].mean())}
             for j, m in enumerate(models)}
    rand_r, rand_c = [], []
    rows = np.arange(n)
    for s in seeds:
        pick = np.random.default_rng(s).integers(k, size=n)
        rand_r.append(float(r[rows, pick].mean()))
        rand_c.append(float(c[rows, pick].mean()))
    best = r.max(axis=1, keepdims=True)
    cost_if_best = np.where(r >= best, c, np.inf)
    oracle_arm = cost_if_best.argmin(axis=1)
    return {
        "fixed": fixed,
        "random": {"mean_reward": float(np.mean(rand_r)), "mean_cost": float(np.mean(rand_c)),
                   "per_seed": {"seed": seeds, "mean_reward": rand_r, "mean_cost": rand_c}},
        "oracle": {"mean_reward": float(r[rows, oracle_arm].mean()),
                   "mean_cost": float(c[rows, oracle_arm].mean()),
                   "share": {m: float((oracle_arm == j).mean()) for j, m in enumerate(models)}},
    }


#: ``experiment`` keys read after the run (summaries, figures), not by :func:`run_budget_pacing`.
REPORT_KEYS = ("bootstrap", "named_budgets")


def run_from_config(cfg, *, val=None, test=None) -> dict:
    """:func:`run_budget_pacing` with every argument taken from the composed config ``cfg``.

    ``val`` / ``test`` are the portfolio's splits (:func:`paretobandit.workbench.inputs.load_split`),
    loaded here when not given. Raises :class:`~paretobandit.errors.ConfigError` for a missing key or an
    ``experiment`` key that nothing reads.
    """
    from .binding import Binding

    b = Binding(cfg, "budget_pacing", REPORT_KEYS)
    exp = b.experiment
    val, test = b.splits("val", "test", given={"val": val, "test": test})
    budgets = exp.get("budgets")
    n_budgets = exp["n_budgets"]
    kwargs = dict(models=val.models, prices=b.prices(),
                  budgets=list(budgets) if budgets is not None else default_budgets(val.costs, n_budgets),
                  seeds=b.seeds(), router_params=b.router_params(), pacer_params=b.pacer_params(),
                  policy=b.policy(),
                  priors=b.priors(), n_resamples=exp["bootstrap"]["n_resamples"],
                  ci_seed=exp["bootstrap"]["seed"])
    b.check()
    return run_budget_pacing(**b.table_kwargs(val, test), **kwargs)
