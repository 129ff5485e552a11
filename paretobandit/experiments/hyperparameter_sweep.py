"""Appendix — hyper-parameter optimisation: the T_adapt-constrained Pareto knee (docs/PROTOCOLS.md §A1).

Splits
------
Selection uses val only: ``burn-in`` = the first ``⌊n_val / 3⌋`` rows of val in file order (595),
``eval`` = the remaining rows (1,190). The held-out report burns in on the full val split and evaluates on
test. Both are passed to the simulator as a ``[burn-in; eval]`` stack, so the per-seed stream is
:func:`paretobandit.sim.warmup_test_streams`: ``rng = default_rng(s)``, ``perm(n_burnin)`` then
``perm(n_eval)``; the tie-break generator is a separate ``default_rng(s)``.

Grid and variants
-----------------
α × γ (42 cells) for two variants: *paretobandit* (warm-up priors with ``n_eff`` derived from γ,
:func:`n_eff_for_gamma`, T_adapt = 500) and *tabula_rasa* (no priors). λ_c = 0, adaptive pacer.

Objective 1 — budget-paced Pareto AUC (:func:`hull_auc`)
--------------------------------------------------------
Per seed and each of the 7 budget targets, a fresh router gives the point (mean eval cost, mean eval
reward); the seed's AUC is the normalised linear-cost area under the monotone upper hull of the 7 points
over the fixed models' eval-cost range, flat beyond the hull's ends. Config score = mean over seeds.
The trapezoid of reward over ln B (:func:`log_budget_auc`) is kept as a labelled extra.

Objective 2 — catastrophic-failure reward
-----------------------------------------
At each of the 3 named budgets, Phase 1 = first half of the eval order, Phase 2 = second half, where
every reward of the failure arm (Mistral) is the constant 0.50. Score = mean Phase-2 reward over the
3 × n_seeds runs; per-seed P2 = mean over the budgets (used by the bootstrap).

Selection (:func:`frontier_knee`), knee bootstrap (:func:`knee_bootstrap`), cross-arm validation,
T_adapt sensitivity (failure reward 0.75) and the knee's held-out test AUC follow §A1 point by point;
:func:`run_hyperparameter_sweep` runs them all as batched simulations. The objective and selection math
lives in :mod:`paretobandit.experiments.pareto_knee` (re-exported here); this module plans and runs the
simulations.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..config import n_eff_for_gamma
from ..errors import ConfigError, InvalidInputError
from ..sim import RewardTransform, simulate, warmup_test_streams
from .budget_pacing import router_config
from .common import as_price_array, parse_budgets, parse_pacer, parse_seeds, prepare_tables, resolve_priors
from .pareto_knee import (
    fixed_model_points,
    frontier_knee,
    hull_auc,
    knee_bootstrap,
    log_budget_auc,
    monotone_hull,
    pareto_front,
)

__all__ = [
    "VARIANTS",
    "fixed_model_points",
    "frontier_knee",
    "hull_auc",
    "knee_bootstrap",
    "log_budget_auc",
    "monotone_hull",
    "n_eff_for_gamma",
    "pareto_front",
    "run_hyperparameter_sweep",
    "run_from_config",
]

#: The two variants of §A1 (``True`` = warm-up priors with derived n_eff).
VARIANTS = {"paretobandit": True, "tabula_rasa": False}


# ------------------------------------------------------------------------------------- batched runs
@dataclass(frozen=True)
class _Block:
    """Runs of one configuration: every budget × seed, optionally with a failure arm in Phase 2."""

    alpha: float
    gamma: float
    n_eff: float | None  # None = no priors (tabula rasa)
    budgets: tuple[float, ...]
    seeds: tuple[int, ...]
    fail_arm: int = -1
    fail_value: float = 0.0


@dataclass(frozen=True)
class _Env:
    """Shared inputs of every batch."""

    price: np.ndarray
    cfg: object
    mode: str
    pacer: object
    priors: object
    chunk_size: int
    n_jobs: int


def _run_blocks(tables, blocks: Sequence[_Block], env: _Env) -> list[dict[str, np.ndarray]]:
    """Simulate every block on ``tables`` (``[burn-in; eval]``); per block (n_budgets, n_seeds) arrays of
    the eval mean ``reward`` and ``cost`` and the mean reward of the eval halves ``p1`` / ``p2``."""
    n_burn, n_eval = tables.n_val, tables.n_test
    mid = n_eval // 2
    runs = [(bi, j, s) for bi, bl in enumerate(blocks) for j in range(len(bl.budgets)) for s in bl.seeds]
    if not runs:
        return []
    uniq = sorted({s for _, _, s in runs})
    base = warmup_test_streams(uniq, n_burn, n_eval)
    row = {s: i for i, s in enumerate(uniq)}
    n = len(runs)
    out = {k: np.empty(n) for k in ("reward", "cost", "p1", "p2")}
    for lo in range(0, n, env.chunk_size):
        part = runs[lo : lo + env.chunk_size]
        bl = [blocks[bi] for bi, _, _ in part]
        fail = np.array([b.fail_arm for b in bl])
        value = np.array([b.fail_value for b in bl])
        events = [
            RewardTransform.constant(
                arm=int(a),
                start=n_burn + mid,
                stop=n_burn + n_eval,
                value=float(v),
                runs=np.flatnonzero((fail == a) & (value == v)),
            )
            for a, v in sorted({(int(a), float(v)) for a, v in zip(fail, value, strict=True) if a >= 0})
        ]
        res = simulate(
            tables.feats,
            tables.rewards,
            tables.costs,
            base[[row[s] for _, _, s in part]],
            env.price,
            seeds=[s for _, _, s in part],
            alpha=[b.alpha for b in bl],
            gamma=[b.gamma for b in bl],
            budget=[b.budgets[j] for b, (_, j, _) in zip(bl, part, strict=True)],
            n_eff=[b.n_eff for b in bl],
            pacer_mode=env.mode,
            priors=env.priors,
            events=events,
            config=env.cfg,
            pacer=env.pacer,
            n_jobs=env.n_jobs,
        )
        r, c = res.reward[:, n_burn:], res.cost[:, n_burn:]
        sl = slice(lo, lo + len(part))
        out["reward"][sl], out["cost"][sl] = r.mean(axis=1), c.mean(axis=1)
        out["p1"][sl], out["p2"][sl] = r[:, :mid].mean(axis=1), r[:, mid:].mean(axis=1)
        del res, r, c
    results, start = [], 0
    for bl in blocks:
        shape = (len(bl.budgets), len(bl.seeds))
        stop = start + shape[0] * shape[1]
        results.append({k: v[start:stop].reshape(shape) for k, v in out.items()})
        start = stop
    return results


def _seed_aucs(res: Mapping[str, np.ndarray], fixed: Mapping) -> list[float]:
    """Per-seed hull AUC from a block's (n_budgets, n_seeds) eval means."""
    return [
        hull_auc(res["cost"][:, s], res["reward"][:, s], fixed["c_lo"], fixed["c_hi"])
        for s in range(res["cost"].shape[1])
    ]


def _grid(values, name: str, low: float, high: float | None) -> list[float]:
    v = [float(x) for x in values]
    if (
        not v
        or len(set(v)) != len(v)
        or any(not np.isfinite(x) or x < low or (high is not None and x > high) for x in v)
    ):
        raise ConfigError(f"{name} must be distinct numbers in [{low}, {high}], got {values!r}")
    return v


def run_hyperparameter_sweep(
    *,
    features_val,
    rewards_val,
    costs_val,
    features_test,
    rewards_test,
    costs_test,
    models: Sequence[str],
    prices,
    alphas,
    gammas,
    budget_targets,
    named_budgets: Mapping[str, float],
    seed_offsets: Mapping[str, int],
    n_seeds: int,
    failure_model: str = "mistralai/mistral-large-2512",
    failure_reward: float = 0.5,
    sensitivity_failure_reward: float = 0.75,
    sensitivity_principled: bool = True,
    t_adapt: float = 500.0,
    t_adapt_grid: Sequence[float] = (250.0, 500.0, 1000.0),
    n_eff_decimals: int = 1,
    burnin_divisor: int = 3,
    variants: Sequence[str] = tuple(VARIANTS),
    bootstrap_resamples: int = 2000,
    bootstrap_seed: int = 42,
    gamma_step: float = 0.001,
    router_params: Mapping | None = None,
    pacer_params: Mapping | None = None,
    priors=None,
    chunk_size: int = 2000,
    n_jobs: int = 1,
) -> dict:
    """Every stage of §A1 as batched simulations; JSON-able per-seed results (module docstring).

    Parameters
    ----------
    features_*, rewards_*, costs_* : arrays
        Val and test tables (columns follow ``models``, rows in file order).
    budget_targets : sequence of float
        Objective 1's 7 budgets ($/request).
    named_budgets : mapping
        Objective 2's budgets (tight, moderate, loose).
    seed_offsets : mapping
        ``val_auc``, ``val_failure`` and ``test`` offsets; seeds are ``offset + i``, ``i < n_seeds``.
    failure_model, failure_reward, sensitivity_failure_reward : str, float, float
        Objective 2's failure arm and constant reward; the reward of the T_adapt sensitivity (0.75: what
        the published table used).
    sensitivity_principled : bool
        Also run the T_adapt sensitivity with Objective 2's own ``failure_reward`` (the protocol the text
        describes), reported beside the published setting as ``knee_principled``.
    t_adapt, t_adapt_grid, n_eff_decimals : float, sequence, int
        n_eff derivation and the sensitivity's T values.
    burnin_divisor : int
        Selection burn-in = the first ``n_val // burnin_divisor`` val rows.
    variants : sequence of str
        Names from :data:`VARIANTS`.
    bootstrap_resamples, bootstrap_seed, gamma_step : int, int, float
        Knee bootstrap (and its γ neighbourhood; also the sensitivity's stability step).
    chunk_size, n_jobs : int
        Runs per simulator batch, and threads per batch (results do not depend on either).

    Returns
    -------
    dict
        ``variants[name]`` with ``cells`` (per-seed ``auc``, ``auc_log_budget``, ``reward``/``cost``
        ``[budget][seed]``, ``p1``/``p2`` ``[named budget][seed]``), ``knee``, ``frontier``, ``auc_best``,
        ``bootstrap``, ``cross_arm`` and ``test``; ``t_adapt_sensitivity``; ``fixed`` reference points.
    """
    models = [str(m) for m in models]
    if failure_model not in models:
        raise ConfigError(f"failure model {failure_model!r} is not in the portfolio {models}")
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown or not variants:
        raise ConfigError(f"variants must be among {sorted(VARIANTS)}, got {list(variants)}")
    heldout = prepare_tables(
        models, features_val, rewards_val, costs_val, features_test, rewards_test, costs_test
    )
    n_burn = heldout.n_val // int(burnin_divisor)
    if not 0 < n_burn < heldout.n_val - 1:
        raise InvalidInputError(
            f"val split of {heldout.n_val} rows is too small for a burn-in of 1/{burnin_divisor}"
        )
    fv, rv, cv = (
        heldout.feats[: heldout.n_val],
        heldout.rewards[: heldout.n_val],
        heldout.costs[: heldout.n_val],
    )
    selection = prepare_tables(
        models, fv[:n_burn], rv[:n_burn], cv[:n_burn], fv[n_burn:], rv[n_burn:], cv[n_burn:]
    )
    alphas = _grid(alphas, "alphas", 0.0, None)
    gammas = _grid(gammas, "gammas", 1e-9, 1.0)
    targets = np.sort(np.asarray(budget_targets, dtype=float).ravel())
    if targets.size < 2 or not np.isfinite(targets).all() or (targets <= 0).any():
        raise ConfigError("budget_targets must be >= 2 positive numbers")
    targets_t = tuple(float(b) for b in targets)
    named = parse_budgets(named_budgets)
    named_t = tuple(named.values())
    offs = {k: int(seed_offsets[k]) for k in ("val_auc", "val_failure", "test")}
    seeds = {k: tuple(parse_seeds(range(v, v + int(n_seeds)))) for k, v in offs.items()}
    t_grid = [float(t) for t in t_adapt_grid]
    if float(t_adapt) not in t_grid:
        raise ConfigError(f"t_adapt_grid {t_grid} must contain t_adapt = {t_adapt}")
    env_cfg = router_config(router_params)
    mode, pacer = parse_pacer(pacer_params)
    pri = resolve_priors(priors, models, heldout.d)
    if pri is None and any(VARIANTS[v] for v in variants):
        raise ConfigError("the paretobandit variant needs warm-up priors")
    if isinstance(chunk_size, bool) or int(chunk_size) < 1:
        raise ConfigError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    env = _Env(as_price_array(prices, models), env_cfg, mode, pacer, pri, int(chunk_size), int(n_jobs))
    fail_arm = models.index(failure_model)
    cells = [(a, g) for a in alphas for g in gammas]
    fixed = {
        "val_eval": fixed_model_points(selection.rewards[n_burn:], selection.costs[n_burn:]),
        "test": fixed_model_points(heldout.rewards[heldout.n_val :], heldout.costs[heldout.n_val :]),
    }

    def neff(variant_priors: bool, g: float, t: float) -> float | None:
        return n_eff_for_gamma(g, t, n_eff_decimals) if variant_priors else None

    # ---- stage 1: every selection-split run in one plan
    plan: list[_Block] = []
    keys: list[tuple] = []
    for v in variants:
        for a, g in cells:
            ne = neff(VARIANTS[v], g, t_adapt)
            plan.append(_Block(a, g, ne, targets_t, seeds["val_auc"]))
            keys.append(("obj1", v, a, g))
            plan.append(_Block(a, g, ne, named_t, seeds["val_failure"], fail_arm, float(failure_reward)))
            keys.append(("obj2", v, a, g))
    if "paretobandit" in variants:
        for t in t_grid:
            for a, g in cells:
                ne = n_eff_for_gamma(g, t, n_eff_decimals)
                if t != float(t_adapt):
                    plan.append(_Block(a, g, ne, targets_t, seeds["val_auc"]))
                    keys.append(("sens1", t, a, g))
                plan.append(
                    _Block(
                        a, g, ne, named_t, seeds["val_failure"], fail_arm, float(sensitivity_failure_reward)
                    )
                )
                keys.append(("sens2", t, a, g))
                if sensitivity_principled and t != float(t_adapt):
                    plan.append(
                        _Block(a, g, ne, named_t, seeds["val_failure"], fail_arm, float(failure_reward))
                    )
                    keys.append(("sens2p", t, a, g))
    stage1 = dict(zip(keys, _run_blocks(selection, plan, env), strict=True))

    out_variants: dict[str, dict] = {}
    for v in variants:
        rows = []
        for a, g in cells:
            o1, o2 = stage1[("obj1", v, a, g)], stage1[("obj2", v, a, g)]
            ne = neff(VARIANTS[v], g, t_adapt)
            rows.append(
                {
                    "alpha": a,
                    "gamma": g,
                    "n_eff": 1.0 if ne is None else ne,
                    "per_seed": {
                        "auc": _seed_aucs(o1, fixed["val_eval"]),
                        "auc_log_budget": log_budget_auc(o1["reward"].T, targets).tolist(),
                        "reward": o1["reward"].tolist(),
                        "cost": o1["cost"].tolist(),
                        "p1": o2["p1"].tolist(),
                        "p2": o2["p2"].tolist(),
                    },
                }
            )
        auc = np.array([r["per_seed"]["auc"] for r in rows])
        p2 = np.array([np.mean(r["per_seed"]["p2"], axis=0) for r in rows])  # per-seed: mean over budgets
        sel = frontier_knee(np.column_stack([auc.mean(axis=1), p2.mean(axis=1)]))
        boot = knee_bootstrap(
            auc, p2, cells, n_resamples=bootstrap_resamples, seed=bootstrap_seed, gamma_step=gamma_step
        )
        out_variants[v] = {
            "cells": rows,
            "knee": sel["knee"],
            "frontier": sel["frontier"],
            "frontier_distance": sel["distance"],
            "auc_best": int(np.argmax(auc.mean(axis=1))),
            "bootstrap": boot,
        }

    sensitivity: dict[str, dict] = {}
    if "paretobandit" in variants:
        pb = out_variants["paretobandit"]["cells"]
        for t in t_grid:
            rows = []
            for i, (a, g) in enumerate(cells):
                auc_s = (
                    pb[i]["per_seed"]["auc"]
                    if t == float(t_adapt)
                    else _seed_aucs(stage1[("sens1", t, a, g)], fixed["val_eval"])
                )
                per_seed = {"auc": auc_s, "p2": stage1[("sens2", t, a, g)]["p2"].tolist()}
                if sensitivity_principled:
                    key = ("obj2", "paretobandit", a, g) if t == float(t_adapt) else ("sens2p", t, a, g)
                    per_seed["p2_principled"] = stage1[key]["p2"].tolist()
                rows.append(
                    {
                        "alpha": a,
                        "gamma": g,
                        "n_eff": n_eff_for_gamma(g, t, n_eff_decimals),
                        "per_seed": per_seed,
                    }
                )
            entry: dict = {"t_adapt": t, "cells": rows}
            for suffix, p2_key in (("", "p2"), ("_principled", "p2_principled")):
                if p2_key not in rows[0]["per_seed"]:
                    continue
                pts = np.column_stack(
                    [
                        [np.mean(r["per_seed"]["auc"]) for r in rows],
                        [np.mean(r["per_seed"][p2_key]) for r in rows],
                    ]
                )
                sel = frontier_knee(pts)
                entry[f"knee{suffix}"], entry[f"frontier{suffix}"] = sel["knee"], sel["frontier"]
            sensitivity[f"{t:g}"] = entry

    # ---- stage 2: the selected configurations: cross-arm validation (val, test) and held-out test AUC
    plan_val: list[_Block] = []
    plan_test: list[_Block] = []
    keys_val: list[tuple] = []
    keys_test: list[tuple] = []
    for v in variants:
        a, g = cells[out_variants[v]["knee"]]
        ne = neff(VARIANTS[v], g, t_adapt)
        for arm in range(len(models)):
            plan_val.append(_Block(a, g, ne, named_t, seeds["val_failure"], arm, float(failure_reward)))
            keys_val.append((v, arm))
            plan_test.append(_Block(a, g, ne, named_t, seeds["test"], arm, float(failure_reward)))
            keys_test.append(("cross", v, arm))
        plan_test.append(_Block(a, g, ne, targets_t, seeds["test"]))
        keys_test.append(("auc", v, None))
    res_val = dict(zip(keys_val, _run_blocks(selection, plan_val, env), strict=True))
    res_test = dict(zip(keys_test, _run_blocks(heldout, plan_test, env), strict=True))
    for v in variants:
        out_variants[v]["cross_arm"] = {
            split: {
                models[arm]: {"p1": res[key(arm)]["p1"].tolist(), "p2": res[key(arm)]["p2"].tolist()}
                for arm in range(len(models))
            }
            for split, res, key in (
                ("val", res_val, lambda arm, v=v: (v, arm)),
                ("test", res_test, lambda arm, v=v: ("cross", v, arm)),
            )
        }
        t = res_test[("auc", v, None)]
        out_variants[v]["test"] = {
            "auc": _seed_aucs(t, fixed["test"]),
            "auc_log_budget": log_budget_auc(t["reward"].T, targets).tolist(),
            "reward": t["reward"].tolist(),
            "cost": t["cost"].tolist(),
        }

    return {
        "experiment": "hyperparameter_sweep",
        "models": models,
        "n_burnin": int(n_burn),
        "n_eval": int(selection.n_test),
        "n_val": int(heldout.n_val),
        "n_test": int(heldout.n_test),
        "alphas": alphas,
        "gammas": gammas,
        "budget_targets": list(targets_t),
        "named_budgets": named,
        "seed_offsets": offs,
        "n_seeds": int(n_seeds),
        "failure_model": failure_model,
        "failure_reward": float(failure_reward),
        "sensitivity_failure_reward": float(sensitivity_failure_reward),
        "sensitivity_principled": bool(sensitivity_principled),
        "t_adapt": float(t_adapt),
        "t_adapt_grid": t_grid,
        "gamma_step": float(gamma_step),
        "bootstrap": {"n_resamples": int(bootstrap_resamples), "seed": int(bootstrap_seed)},
        "router_params": env_cfg.to_dict(),
        "pacer_params": {
            "mode": mode,
            "eta": pacer.eta,
            "ema": pacer.ema_alpha,
            "lambda_cap": pacer.lambda_cap,
            "ceiling_multiplier": pacer.ceiling_multiplier,
        },
        "fixed": fixed,
        "variants": out_variants,
        "t_adapt_sensitivity": sensitivity,
    }


#: ``experiment`` keys read after the run (summaries), not by :func:`run_hyperparameter_sweep`.
REPORT_KEYS = ("paper_knee", "normal_ci_z")


def run_from_config(cfg, *, val=None, test=None) -> dict:
    """:func:`run_hyperparameter_sweep` with every argument taken from the composed config ``cfg``
    (``val`` / ``test`` loaded when not given); :class:`~paretobandit.errors.ConfigError` for a missing
    or unread ``experiment`` key."""
    from .binding import Binding

    b = Binding(cfg, "hyperparameter_sweep", REPORT_KEYS)
    exp = b.experiment
    val, test = b.splits("val", "test", given={"val": val, "test": test})
    boot = exp["knee_bootstrap"]
    kwargs = dict(models=val.models, prices=b.prices(), alphas=exp["alphas"], gammas=exp["gammas"],
                  budget_targets=exp["budget_targets"], named_budgets=exp.plain("named_budgets"),
                  seed_offsets=exp.plain("seed_offsets"), n_seeds=exp["n_seeds"],
                  failure_model=exp["failure_model"], failure_reward=exp["failure_reward"],
                  sensitivity_failure_reward=exp["sensitivity_failure_reward"],
                  sensitivity_principled=exp["sensitivity_principled"], t_adapt=exp["t_adapt"],
                  t_adapt_grid=exp["t_adapt_grid"], n_eff_decimals=exp["n_eff_decimals"],
                  burnin_divisor=exp["burnin_divisor"], variants=exp["variants"],
                  bootstrap_resamples=boot["n_resamples"], bootstrap_seed=boot["seed"],
                  gamma_step=boot["gamma_step"], router_params=b.router_params(),
                  pacer_params=b.pacer_params(), priors=b.priors(), chunk_size=exp["chunk_size"],
                  n_jobs=exp["n_jobs"])
    b.check()
    return run_hyperparameter_sweep(**b.table_kwargs(val, test), **kwargs)
