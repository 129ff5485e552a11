"""The simulator's generic path: one online :class:`~paretobandit.router.BanditRouter` per run.

Used for plug-ins that have no compiled kernel (any :class:`~paretobandit.plugins.Policy` or
:class:`~paretobandit.plugins.Pacer` other than the built-in LinUCB / primal–dual pacer), and as the
reference path (``compiled=False`` or numba not installed). Each step of each run is what an operator's
server does: apply the scenario's events through the router's public API (``register_model`` with the
forced pulls of an onboarding, ``update_model_pricing``), ``route`` the request's vector, observe the
table's reward and cost of the chosen column (with the reward/cost transforms) and ``process_feedback`` —
so a plug-in behaves in the simulator exactly as in the router, by construction.

Columns are named ``arm0 … arm{K−1}``; a run's warm-up priors are installed with
:meth:`~paretobandit.router.BanditRouter.set_prior` (already rescaled to the run's ``n_eff``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .events import Onboard, PriceChange

if TYPE_CHECKING:  # pragma: no cover
    from .engine import BatchSimulator

__all__ = ["advance_generic", "final_state"]


def _name(col: int) -> str:
    return f"arm{col}"


def _build(sim: BatchSimulator) -> list:
    """One router per run, in the state the batch starts from (registered arms, priors, pacer)."""
    from ..features import FeatureService
    from ..pacer import BudgetPacer
    from ..router import BanditRouter

    fs = FeatureService.for_precomputed(sim.d - 1)
    routers = []
    for s in range(sim.n_runs):
        cfg = sim.config.replace(alpha=float(sim.alpha[s]), forgetting_factor=float(sim.gamma[s]),
                                 cost_penalty=float(sim.lam_c[s]))
        registry = {_name(j): {"input_cost_per_m": float(sim.prices_io[s, j, 0]),
                               "output_cost_per_m": float(sim.prices_io[s, j, 1])}
                    for j in range(sim.k) if sim.active[s, j]}
        pacer = None
        if sim.has_pacer[s]:
            budget = float(sim.budget[s])
            if sim.pacer_factory is not None:
                pacer = sim.pacer_factory(budget=budget)
            else:
                pp = sim.pacer
                mode = "adaptive" if sim.uses_ceiling[s] and sim.uses_penalty[s] else (
                    "hard" if sim.uses_ceiling[s] else "soft")
                pacer = BudgetPacer(budget, mode=mode, eta=pp.eta, ema_alpha=pp.ema_alpha,
                                    lambda_cap=pp.lambda_cap, ceiling_multiplier=pp.ceiling_multiplier)
        router = BanditRouter.create(model_registry=registry, feature_service=fs, priors="none", config=cfg,
                                     budget=pacer, seed=sim.seeds[s], policy=sim.policy_factory)
        for j in range(sim.k):
            if sim.active[s, j] and sim.prior_used[s, j]:
                router.set_prior(_name(j), sim.A[s, j], sim.b[s, j])
        routers.append(router)
    return routers


def _router_events(sim: BatchSimulator, step: int) -> None:
    """The registry side of the events at ``step`` (the engine's arrays handle transforms and pulls)."""
    for item in sim._point.get(step, ()):
        ev = item[0]
        if not isinstance(ev, (Onboard, PriceChange)):
            continue
        for s in np.flatnonzero(item[1]):
            router = sim._routers[s]
            if isinstance(ev, Onboard):
                given = ev.input_cost_per_m is not None
                inp = ev.input_cost_per_m if given else float(sim.prices_io[s, ev.arm, 0])
                out = ev.output_cost_per_m if given else float(sim.prices_io[s, ev.arm, 1])
                extra = ({} if ev.ceiling_cost_per_m is None
                         else {"ceiling_cost_per_m": float(ev.ceiling_cost_per_m)})
                router.register_model(_name(ev.arm), inp, out, **extra)
            else:
                router.update_model_pricing(_name(ev.arm), ev.input_cost_per_m, ev.output_cost_per_m)


def advance_generic(sim: BatchSimulator, stop: int) -> None:
    """Steps ``[sim.step_index, stop)`` of every run through its router."""
    if sim._routers is None:
        sim._routers = _build(sim)
    routers = sim._routers
    feats, r_tab, c_tab, k_arms = sim._x, sim._r, sim._c, sim.k
    for k in range(sim.step_index, stop):
        _router_events(sim, k)
        sim._apply_events(k)
        rows = sim._streams_t[k]
        for s, router in enumerate(routers):
            lam_c = float(sim.lam_c[s])
            if router.config.cost_penalty != lam_c:   # the operator changed λ_c between steps
                router.config = router.config.replace(cost_penalty=lam_c)
            i = rows[s]
            forced = sim._forced_left[s] > 0
            if forced:
                sim._forced_left[s] -= 1
                model, log = router.route(feats[i, :-1], force_model=_name(int(sim._forced_arm[s])))
            else:
                model, log = router.route(feats[i, :-1])
            j = int(model[3:])
            cell = i * k_arms + j
            reward, cost = r_tab[cell], c_tab[cell]
            if sim._has_transforms:
                reward = min(max(sim._r_scale[s, j] * reward + sim._r_shift[s, j], 0.0), 1.0)
                cost = sim._c_scale[s, j] * cost
            reward, cost = float(reward), float(cost)
            router.process_feedback(log.request_id, reward, cost)
            sim._out_arm[k, s] = j
            sim._out_r[k, s] = reward
            sim._out_c[k, s] = cost
            sim._out_lam[k, s] = log.pacer_lambda
            sim._out_forced[k, s] = forced
        sim.step_index = k + 1
        sim.t = k + 1


def final_state(sim: BatchSimulator) -> dict:
    """The batch's final state read back from the routers: the LinUCB arrays (column order; arms not
    registered keep their initial values) when every run uses LinUCB, each policy's ``state_dict()``
    otherwise, and the pacers' λ (and EMA where the pacer has one); ``repairs`` counts LinUCB's
    re-inversions (``None`` for other policies)."""
    from ..policy import LinUCBPolicy

    out = {"active": sim.active.copy(), "price": sim.price.copy(), "t": sim.t, "repairs": None}
    routers = sim._routers or []
    lam = np.zeros(sim.n_runs)
    ema = sim.budget.copy()
    for s, router in enumerate(routers):
        if router.pacer is not None:
            lam[s] = router.pacer.lambda_
            ema[s] = getattr(router.pacer, "cost_ema", np.nan)
    out["lam"], out["cost_ema"] = lam, ema
    if routers and not all(isinstance(r.policy, LinUCBPolicy) for r in routers):
        out["policy_state"] = [r.policy.state_dict() for r in routers]
        return out
    arrays = {name: getattr(sim, name).copy() for name in ("A", "ainv", "b", "theta", "rho", "last_update",
                                                            "last_played", "n_updates")}
    keys = {"A": "A", "ainv": "A_inv", "b": "b", "theta": "theta", "rho": "rho", "last_update": "last_update",
            "last_played": "last_played", "n_updates": "n_updates"}
    for s, router in enumerate(routers):
        state = router.policy.arrays()
        for pos, model in enumerate(router.models):
            j = int(model[3:])
            for name, key in keys.items():
                arrays[name][s, j] = state[key][pos]
    out.update(arrays)
    out["repairs"] = {kind: sum(r.policy.repairs[kind] for r in routers)
                      for kind in ("ridge_floor", "corrupted_inverse", "stability")}
    return out
