"""Per-run budget compliance (issue 13): pacer plug-ins × Exp 01–04, per seed (notebook 14).

Every run is one online :class:`~paretobandit.router.BanditRouter` driven by
:func:`paretobandit.sim.reference.run_router` with a pacer factory — the plug-in path, the same for the
paper's :class:`~paretobandit.pacer.BudgetPacer`, :class:`examples.pi_pacer.PIPacer` (the worked plug-in
example) and
:class:`~paretobandit.pacers.SpendGuardPacer`. Streams, seeds, priors, events and budgets are the
experiments' own (:func:`~paretobandit.sim.warmup_test_streams` for Exp 01 and 04,
:func:`~paretobandit.experiments.phased.three_phase_trial_streams` with the
:class:`~paretobandit.experiments.phased.PhaseShift` events for Exp 02/03 (condition ``paretobandit``:
router γ, λ_c = 0), :func:`~paretobandit.experiments.onboarding.scenario_events` for Exp 04).

Evaluation windows: the test split (Exp 01), each test phase (Exp 02/03), P2 (Exp 04). A cell is
*binding* when the paper's pacer spends ≥ 95 % of B there on average over seeds.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from ..errors import ConfigError
from ..pacer import BudgetPacer
from ..pacers import SpendGuardPacer
from ..sim import three_phase_prompts, warmup_test_streams
from ..sim.reference import run_router
from .budget_pacing import router_config
from .common import as_price_array, parse_pacer, parse_seeds, plugin_factory, stack_tables
from .onboarding import SCENARIOS, adoption_steps, scenario_events
from .phased import PhaseShift, effective_phase_length, phase_bounds, three_phase_trial_streams

#: The PI pacer of the comparison: the worked plug-in example (conf/pacer/pi.yaml uses the same class).
PI_TARGET = "examples.pi_pacer.PIPacer"

__all__ = ["BINDING_THRESHOLD", "PACER_NAMES", "RECOMMENDED", "SUMMARY_COLUMNS", "pacer_factories",
           "run_onboarding_compliance", "run_phased_compliance", "run_stationary_compliance",
           "summary_rows"]

#: Pacer names in the result table; the new pacer is the recommended one.
PACER_NAMES = ("paretobandit", "pi", "spend_guard")
RECOMMENDED = "spend_guard"
#: Share of B the paper's pacer must spend on average for a cell to count as binding.
BINDING_THRESHOLD = 0.95
SUMMARY_COLUMNS = ["pacer", "recommended", "scenario", "case", "budget", "phase", "binding",
                   "cost_ratio_mean", "cost_ratio_worst_seed", "mean_reward", "scenario_metric", "n_seeds"]


def pacer_factories(pacer_params: Mapping | None = None, pi_params: Mapping | None = None,
                    guard_params: Mapping | None = None) -> dict:
    """``{name: factory(budget=B)}`` for :data:`PACER_NAMES` from the configs of each pacer."""
    mode, pp = parse_pacer(pacer_params)
    return {
        "paretobandit": functools.partial(BudgetPacer, mode=mode, eta=pp.eta, ema_alpha=pp.ema_alpha,
                                          lambda_cap=pp.lambda_cap, ceiling_multiplier=pp.ceiling_multiplier),
        "pi": plugin_factory({"_target_": PI_TARGET, **dict(pi_params or {})}),
        "spend_guard": functools.partial(SpendGuardPacer, **dict(guard_params or {})),
    }


# ------------------------------------------------------------------------------------- runs
_SHARED: dict = {}


def _init(shared: dict) -> None:
    _SHARED.clear()
    _SHARED.update(shared)


def _one(job: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    stream, seed, budget, factory, events = job
    s = _SHARED
    cfg = s["config"]
    out = run_router(s["feats"], s["rewards"], s["costs"], stream, s["prices"], s["models"], seed=int(seed),
                     alpha=cfg.alpha, gamma=cfg.forgetting_factor, cost_penalty=cfg.cost_penalty,
                     budget=budget, priors_path=s["priors"], n_eff=cfg.prior_n_effective, events=events,
                     config=cfg, pacer_factory=factory)
    return out["arm"], out["reward"], out["cost"]


def _run(shared: dict, jobs: list, n_jobs: int) -> list:
    """Run ``jobs`` (stream, seed, budget, factory, events) with ``n_jobs`` processes (same results)."""
    if n_jobs <= 1 or len(jobs) < 2:
        _init(shared)
        return [_one(j) for j in jobs]
    import multiprocessing as mp
    ctx = mp.get_context("fork" if os.name == "posix" else "spawn")
    with ProcessPoolExecutor(max_workers=int(n_jobs), mp_context=ctx, initializer=_init,
                             initargs=(shared,)) as pool:
        return list(pool.map(_one, jobs, chunksize=max(1, len(jobs) // (4 * int(n_jobs)))))


def _check_pacers(factories: Mapping) -> dict:
    if not factories or any(not callable(f) for f in factories.values()):
        raise ConfigError(f"pacers must map names to pacer factories, got {factories!r}")
    return dict(factories)


def _shared(feats, rewards, costs, prices, models, router_params, priors) -> dict:
    return {"feats": feats, "rewards": rewards, "costs": costs, "prices": prices, "models": list(models),
            "config": router_config(router_params), "priors": None if priors is None else str(priors)}


def run_stationary_compliance(*, features_val, rewards_val, costs_val, features_test, rewards_test,
                              costs_test, models: Sequence[str], prices, budgets, seeds, pacers: Mapping,
                              router_params: Mapping | None = None, priors=None, n_jobs: int = 1) -> dict:
    """Exp 01 per pacer × budget × seed: test-split mean cost / B and mean reward (per seed)."""
    feats, rewards, costs, n_val, n_test = stack_tables(features_val, rewards_val, costs_val, features_test,
                                                         rewards_test, costs_test)
    models = [str(m) for m in models]
    price = as_price_array(prices, models)
    b = np.asarray(budgets, dtype=float).ravel()
    if b.size == 0 or not np.isfinite(b).all() or (b <= 0).any():
        raise ConfigError(f"budgets must be positive numbers, got {budgets!r}")
    seeds = parse_seeds(seeds)
    pacers = _check_pacers(pacers)
    streams = warmup_test_streams(seeds, n_val, n_test)
    jobs = [(streams[i], s, float(bv), f, ()) for f in pacers.values() for bv in b
            for i, s in enumerate(seeds)]
    out = _run(_shared(feats, rewards, costs, price, models, router_params, priors), jobs, n_jobs)
    cells, k = [], 0
    for name in pacers:
        for bv in b:
            runs = out[k:k + len(seeds)]
            k += len(seeds)
            cells.append({"pacer": name, "budget": float(bv), "budget_value": float(bv), "phase": "",
                          "cost_ratio": [float(c[n_val:].mean() / bv) for _, _, c in runs],
                          "mean_reward": [float(r[n_val:].mean()) for _, r, _ in runs]})
    return {"scenario": "budget_pacing", "seeds": seeds, "n_val": int(n_val), "n_test": int(n_test),
            "cells": cells}


def run_phased_compliance(*, scenario: str, features_val, rewards_val, costs_val, features_test, rewards_test,
                          costs_test, models: Sequence[str], prices, budgets: Mapping[str, float], seeds,
                          shift: PhaseShift, pacers: Mapping, phase_length: int = 608, phase_seed: int = 42,
                          router_params: Mapping | None = None, priors=None, n_jobs: int = 1) -> dict:
    """Exp 02/03 (condition ``paretobandit``) per pacer × budget × seed: per-phase cost / B and reward,
    P2 lift (P2 − P1 reward) and recovery ratio (P3 / P1 reward) per seed."""
    feats, rewards, costs, n_val, n_test = stack_tables(features_val, rewards_val, costs_val, features_test,
                                                         rewards_test, costs_test)
    models = [str(m) for m in models]
    price = as_price_array(prices, models)
    seeds = parse_seeds(seeds)
    pacers = _check_pacers(pacers)
    length = effective_phase_length(n_test, phase_length)
    phases = three_phase_prompts(n_test, length, phase_seed)
    bounds = phase_bounds(n_val, [len(p) for p in phases])
    streams = three_phase_trial_streams(seeds, n_val, phases)
    events = tuple(shift.events(bounds, price))
    jobs = [(streams[i], s, float(bv), f, events) for f in pacers.values() for bv in budgets.values()
            for i, s in enumerate(seeds)]
    out = _run(_shared(feats, rewards, costs, price, models, router_params, priors), jobs, n_jobs)
    cells, k = [], 0
    for name in pacers:
        for bname, bv in budgets.items():
            runs = out[k:k + len(seeds)]
            k += len(seeds)
            rew = np.array([[r[a:z].mean() for a, z in bounds] for _, r, _ in runs])      # (S, 3)
            cst = np.array([[c[a:z].mean() for a, z in bounds] for _, _, c in runs])
            lift = (rew[:, 1] - rew[:, 0]).tolist()
            recovery = (rew[:, 2] / rew[:, 0]).tolist()
            for j in range(len(bounds)):
                cells.append({"pacer": name, "budget": bname, "budget_value": float(bv), "phase": f"P{j + 1}",
                              "cost_ratio": (cst[:, j] / bv).tolist(), "mean_reward": rew[:, j].tolist(),
                              "reward_lift": lift, "recovery_ratio": recovery})
    return {"scenario": scenario, "seeds": seeds, "n_val": int(n_val), "phase_length": int(length),
            "cells": cells}


def run_onboarding_compliance(*, features_val, rewards_val, costs_val, features_test, rewards_test,
                              costs_test, models: Sequence[str], prices, new_model: str,
                              budgets: Mapping[str, float], seeds, pacers: Mapping,
                              cases: Sequence[str] = ("good_cheap", "bad_cheap"),
                              n_forced: int = 20, window: int = 100, threshold: float = 0.10,
                              sustain: int = 50, router_params: Mapping | None = None, priors=None,
                              n_jobs: int = 1) -> dict:
    """Exp 04 per pacer × scenario case × budget × seed: P2 cost / B, P2 reward and sustained adoption."""
    models = [str(m) for m in models]
    if new_model not in models:
        raise ConfigError(f"new_model {new_model!r} is not one of {models}")
    unknown = [c for c in cases if c not in SCENARIOS]
    if unknown or not cases:
        raise ConfigError(f"cases must be among {list(SCENARIOS)}, got {list(cases)}")
    j_new, k = models.index(new_model), len(models)
    rv, cv = np.asarray(rewards_val, dtype=float), np.asarray(costs_val, dtype=float)
    if rv.ndim == 2 and rv.shape[1] == k - 1:          # a K = 3 val table (as run_onboarding)
        rv, cv = np.insert(rv, j_new, 0.0, axis=1), np.insert(cv, j_new, 0.0, axis=1)
    feats, rewards, costs, n_val, n_test = stack_tables(features_val, rv, cv, features_test, rewards_test,
                                                         costs_test)
    order = [j for j in range(k) if j != j_new] + [j_new]          # the new arm last
    col_models = [models[j] for j in order]
    rewards, costs = rewards[:, order], costs[:, order]
    price = as_price_array(prices, models)[order]
    seeds = parse_seeds(seeds)
    pacers = _check_pacers(pacers)
    streams = warmup_test_streams(seeds, n_val, n_test)
    total = n_val + n_test
    ev = {c: tuple(scenario_events(SCENARIOS[c], arm=k - 1, start=n_val, stop=total, n_forced=n_forced,
                                   base_price=tuple(price[k - 1]))) for c in cases}
    jobs = [(streams[i], s, float(bv), f, ev[c]) for f in pacers.values() for c in cases
            for bv in budgets.values() for i, s in enumerate(seeds)]
    out = _run(_shared(feats, rewards, costs, price, col_models, router_params, priors), jobs, n_jobs)
    cells, pos = [], 0
    for name in pacers:
        for c in cases:
            for bname, bv in budgets.items():
                runs = out[pos:pos + len(seeds)]
                pos += len(seeds)
                chosen = np.stack([a[n_val:] == k - 1 for a, _, _ in runs])
                adopt = adoption_steps(chosen, n_forced=n_forced, window=window, threshold=threshold,
                                       sustain=sustain)
                cells.append({"pacer": name, "case": c, "budget": bname, "budget_value": float(bv),
                              "phase": "",
                              "cost_ratio": [float(x[n_val:].mean() / bv) for _, _, x in runs],
                              "mean_reward": [float(r[n_val:].mean()) for _, r, _ in runs],
                              "adopted": [bool(a >= 0) for a in adopt]})
    return {"scenario": "onboarding", "seeds": seeds, "n_val": int(n_val), "n_test": int(n_test),
            "new_model": new_model, "cells": cells}


# ------------------------------------------------------------------------------------- summary
def _metric(scenario: str, cell: Mapping) -> float | None:
    if scenario == "budget_drift":
        return float(np.mean(cell["reward_lift"]))
    if scenario == "quality_degradation":
        return float(np.mean(cell["recovery_ratio"]))
    if scenario == "onboarding":
        return float(np.sum(cell["adopted"]))
    return None


def summary_rows(results: Sequence[Mapping], recommended: str = RECOMMENDED,
                 reference: str = "paretobandit", threshold: float = BINDING_THRESHOLD) -> list[dict]:
    """One row per pacer × scenario × case × budget × phase (:data:`SUMMARY_COLUMNS`); ``binding`` from
    the ``reference`` pacer's mean cost / B in the same cell."""
    rows = []
    for res in results:
        scen = res["scenario"]
        key = lambda c: (c.get("case", ""), str(c["budget"]), c["phase"])  # noqa: E731
        ref = {key(c): float(np.mean(c["cost_ratio"])) for c in res["cells"] if c["pacer"] == reference}
        for c in res["cells"]:
            ratio = np.asarray(c["cost_ratio"], dtype=float)
            rows.append({
                "pacer": c["pacer"], "recommended": c["pacer"] == recommended, "scenario": scen,
                "case": c.get("case", ""), "budget": c["budget"], "phase": c["phase"],
                "binding": bool(ref.get(key(c), 0.0) >= threshold),
                "cost_ratio_mean": float(ratio.mean()), "cost_ratio_worst_seed": float(ratio.max()),
                "mean_reward": float(np.mean(c["mean_reward"])), "scenario_metric": _metric(scen, c),
                "n_seeds": int(ratio.size)})
    return rows
