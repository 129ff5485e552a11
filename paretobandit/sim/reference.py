"""Drive an online :class:`~paretobandit.router.BanditRouter` through a simulated run.

The loop the engine must equal (and the baseline of the speed benchmark): one router per run, the
same stream, tie-break seed and events, route → reward/cost of the chosen arm from the tables (with
the events' transforms) → ``process_feedback``. Arms are named by ``models`` (column order).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..config import DEFAULT_N_EFF, PACER_DEFAULTS
from .events import CostTransform, Onboard, PriceChange, RewardTransform, run_mask

__all__ = ["run_router"]


def run_router(features, rewards, costs, stream, prices, models: Sequence[str], *, seed: int, alpha: float,
               gamma: float, cost_penalty: float, budget: float | None,
               pacer_mode: str = PACER_DEFAULTS["mode"], priors_path=None, n_eff: float = DEFAULT_N_EFF,
               events: Sequence = (), config=None, pacer=None, run_index: int = 0, n_runs: int = 1,
               return_router: bool = False, pacer_factory=None) -> dict:
    """Run one online router over ``stream``; returns per-step arm/reward/cost/λ and final A, b.

    ``events`` use the engine's definitions; only those whose ``runs`` include ``run_index`` (of a
    batch of ``n_runs``) apply. ``priors_path`` is a priors ``.npz`` (``None`` = cold).
    ``pacer_factory`` (called as ``pacer_factory(budget=budget)``) replaces the built-in pacer by any
    :class:`~paretobandit.plugins.Pacer` plug-in (``pacer_mode`` and ``pacer`` are then unused).
    """
    from ..config import RouterConfig
    from ..features import FeatureService
    from ..pacer import BudgetPacer
    from ..router import BanditRouter
    from .params import PacerParams

    cfg = config if config is not None else RouterConfig()
    pp = pacer if pacer is not None else PacerParams()
    x_all = np.asarray(features, dtype=float)
    r_all = np.asarray(rewards, dtype=float)
    c_all = np.asarray(costs, dtype=float)
    prices = np.asarray(prices, dtype=float)
    models = list(models)
    mine = [ev for ev in events if run_mask(ev.runs, n_runs)[run_index]]
    onboarded = {ev.arm for ev in mine if isinstance(ev, Onboard)}
    registry = {m: {"input_cost_per_m": float(prices[j, 0]), "output_cost_per_m": float(prices[j, 1])}
                for j, m in enumerate(models) if j not in onboarded}
    pacer_obj = None
    if budget is not None and pacer_factory is not None:
        pacer_obj = pacer_factory(budget=budget)
    elif budget is not None:
        pacer_obj = BudgetPacer(budget, mode=pacer_mode, eta=pp.eta, ema_alpha=pp.ema_alpha,
                                lambda_cap=pp.lambda_cap, ceiling_multiplier=pp.ceiling_multiplier)
    router = BanditRouter.create(
        model_registry=registry, feature_service=FeatureService.for_precomputed(x_all.shape[1] - 1),
        priors=str(priors_path) if priors_path is not None else "none", prior_n_effective=n_eff,
        alpha=alpha, forgetting_factor=gamma, cost_penalty=cost_penalty, budget=pacer_obj, seed=seed,
        config=cfg.replace(alpha=alpha, forgetting_factor=gamma, cost_penalty=cost_penalty,
                           prior_n_effective=n_eff))
    at_step: dict[int, list] = {}
    for ev in mine:
        if isinstance(ev, (PriceChange, Onboard)):
            at_step.setdefault(ev.step, []).append(ev)
    order = {Onboard: 0, PriceChange: 1}
    transforms = [ev for ev in mine if isinstance(ev, (RewardTransform, CostTransform))]
    n = len(stream)
    arm = np.zeros(n, dtype=np.int64)
    rew = np.zeros(n)
    cst = np.zeros(n)
    lam = np.zeros(n)
    index = {m: j for j, m in enumerate(models)}
    forced_left, forced_name = 0, None
    for k, i in enumerate(np.asarray(stream)):
        for ev in sorted(at_step.get(k, ()), key=lambda e: order[type(e)]):
            name = models[ev.arm]
            if isinstance(ev, Onboard):
                inp = ev.input_cost_per_m if ev.input_cost_per_m is not None else float(prices[ev.arm, 0])
                out = ev.output_cost_per_m if ev.output_cost_per_m is not None else float(prices[ev.arm, 1])
                router.register_model(name, inp, out)
                forced_left, forced_name = ev.n_forced, name
            else:
                router.update_model_pricing(name, ev.input_cost_per_m, ev.output_cost_per_m)
        force = forced_name if forced_left > 0 else None
        if forced_left > 0:
            forced_left -= 1
        model, log = router.route(x_all[i, :-1], force_model=force)
        j = index[model]
        r, c = r_all[i, j], c_all[i, j]
        for ev in transforms:
            if ev.arm == j and ev.start <= k < ev.stop:
                if isinstance(ev, RewardTransform):
                    r = ev.apply(r)
                else:
                    c = ev.apply(c)
        r, c = float(r), float(c)
        router.process_feedback(log.request_id, r, c)
        arm[k], rew[k], cst[k], lam[k] = j, r, c, log.pacer_lambda
    out = {"arm": arm, "reward": rew, "cost": cst, "lam": lam, "models": router.models}
    states = {m: router.arm_state(m) for m in router.models}
    out["A"] = {m: s["A"] for m, s in states.items()}
    out["b"] = {m: s["b"] for m, s in states.items()}
    out["final_lam"] = router.pacer.lambda_ if router.pacer is not None else 0.0
    if return_router:
        out["router"] = router
    return out
