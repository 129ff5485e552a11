"""The arena's one online loop: a :class:`~paretobandit.router.BanditRouter` per run, timed.

Same semantics as :func:`paretobandit.sim.reference.run_router` (route → realised reward/cost of the
chosen arm after the events' transforms → ``process_feedback``; repricing before the route at its
step), plus the wall time of every ``route`` and ``process_feedback`` call. Any policy plug-in runs
here unchanged, which is how library adapters get the router's cost penalty and pacer.
"""

from __future__ import annotations

import time

import numpy as np

from ..sim import Onboard, PriceChange
from .scenarios import Scenario

__all__ = ["make_router", "run_online"]


def make_router(
    scenario: Scenario,
    *,
    seed: int,
    config,
    budget: float | None = None,
    pacer_params=None,
    pacer_mode: str = "adaptive",
    policy=None,
    priors=None,
):
    """A router over the scenario's portfolio (d from the features), optionally paced at ``budget``."""
    from ..features import FeatureService
    from ..pacer import BudgetPacer
    from ..router import BanditRouter

    registry = {
        m: {
            "input_cost_per_m": float(scenario.prices[j, 0]),
            "output_cost_per_m": float(scenario.prices[j, 1]),
        }
        for j, m in enumerate(scenario.models)
        if j in scenario.initial_arms  # runtime arms are registered by their Onboard event
    }
    pacer = None
    if budget is not None:
        pp = pacer_params
        pacer = BudgetPacer(
            budget,
            mode=pacer_mode,
            eta=pp.eta,
            ema_alpha=pp.ema_alpha,
            lambda_cap=pp.lambda_cap,
            ceiling_multiplier=pp.ceiling_multiplier,
        )
    return BanditRouter.create(
        model_registry=registry,
        feature_service=FeatureService.for_precomputed(scenario.feats.shape[1] - 1),
        priors=str(priors) if priors is not None else "none",
        prior_n_effective=config.prior_n_effective,
        alpha=config.alpha,
        forgetting_factor=config.forgetting_factor,
        cost_penalty=config.cost_penalty,
        budget=pacer,
        seed=seed,
        config=config,
        policy=policy,
    )


def run_online(scenario: Scenario, run: int, router) -> dict:
    """Drive ``router`` through run ``run``; per-step ``arm``, ``reward``, ``cost`` and the ``route_ns``
    / ``update_ns`` timings (``time.perf_counter_ns``)."""
    rows = scenario.streams[run]
    x_all = np.ascontiguousarray(scenario.feats[:, :-1])
    r_tab, c_tab, _ = scenario.step_tables(run)
    reprice: dict[int, list] = {}
    for ev in scenario.events:
        if isinstance(ev, (PriceChange, Onboard)):
            reprice.setdefault(ev.step, []).append(ev)
    forced_left, forced = 0, None
    n = rows.size
    arm = np.zeros(n, dtype=np.int64)
    route_ns = np.zeros(n, dtype=np.int64)
    update_ns = np.zeros(n, dtype=np.int64)
    index = {m: j for j, m in enumerate(scenario.models)}
    clock = time.perf_counter_ns
    for k in range(n):
        for ev in sorted(reprice.get(k, ()), key=lambda e: not isinstance(e, Onboard)):
            name = scenario.models[ev.arm]
            if isinstance(ev, Onboard):
                inp = (
                    ev.input_cost_per_m
                    if ev.input_cost_per_m is not None
                    else float(scenario.prices[ev.arm, 0])
                )
                out = (
                    ev.output_cost_per_m
                    if ev.output_cost_per_m is not None
                    else float(scenario.prices[ev.arm, 1])
                )
                router.register_model(name, inp, out)
                forced_left, forced = ev.n_forced, name
            else:
                router.update_model_pricing(name, ev.input_cost_per_m, ev.output_cost_per_m)
        force = forced if forced_left > 0 else None
        forced_left = max(forced_left - 1, 0)
        x = x_all[rows[k]]
        t0 = clock()
        model, log = router.route(x, force_model=force)
        t1 = clock()
        j = index[model]
        router.process_feedback(log.request_id, float(r_tab[k, j]), float(c_tab[k, j]))
        t2 = clock()
        arm[k], route_ns[k], update_ns[k] = j, t1 - t0, t2 - t1
    steps = np.arange(n)
    return {
        "arm": arm,
        "reward": r_tab[steps, arm],
        "cost": c_tab[steps, arm],
        "route_ns": route_ns,
        "update_ns": update_ns,
    }
