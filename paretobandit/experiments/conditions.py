"""Baseline conditions of the non-stationary experiments (SPEC §3, Exp 02/03; usable by Exp 04).

=============  =======  =====================  ======  ==============================================
condition      γ        λ_c (static weight)    pacer   notes
=============  =======  =====================  ======  ==============================================
naive          1.0      fitted on val per B    no      plain LinUCB with a cost penalty
recalibrated   1.0      re-fitted per phase    no      naive + oracle price knowledge: at each phase
                                                       boundary λ_c is set to the value fitted on val
                                                       with the prices of the coming phase
forgetting     router   fitted on val per B    no      γ = 0.997 (the router's default)
paretobandit   router   0                      yes     ADAPTIVE pacer at B (ceiling + penalty)
unconstrained  router   0                      no      budget-independent (one run per seed)
=============  =======  =====================  ======  ==============================================

Every condition starts from the same warm-up priors (n_eff, α from the router config).

λ_c fit (:func:`fit_cost_penalty`)
----------------------------------
For each *fit job* (a γ and a price scenario), each grid value λ_c ∈ :data:`LAMBDA_GRID` and each
fit seed ``s``: a fresh router with priors, that γ and λ_c, no pacer, learns online on the val split
in the order ``default_rng(s).permutation(n_val)`` (the SPEC §2 warm-up order of seed ``s``); its
cost is the mean realised $ over the whole val stream. The grid's mean cost is averaged over the fit
seeds and, per budget B, the chosen λ_c is the grid value minimising ``|mean cost − B|`` (ties go to
the smaller λ_c). All jobs × grid × seeds run as ONE batch of the simulator (per-run ``gamma``,
``cost_penalty`` and prices; a price scenario's dataset costs are scaled with per-run
:class:`~paretobandit.sim.CostTransform` events over the whole val stream).

The fit seeds are a config choice; the presets use ``0 … 9`` (``lambda_fit.seed_offset = 0``,
``n_seeds = 10``), disjoint from every experiment's trial seeds (3000+, 6000+, 7000+, 8000+, 9000+).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..config import RouterConfig
from ..errors import ConfigError, DimensionMismatchError
from ..sim import CostTransform, Priors, simulate

__all__ = ["CONDITIONS", "LAMBDA_GRID", "Condition", "FitJob", "fit_cost_penalty", "get_conditions",
           "select_cost_penalty", "val_orders"]

#: SPEC §3: grid of static cost weights searched on val.
LAMBDA_GRID = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0)


@dataclass(frozen=True)
class Condition:
    """One baseline's router setup.

    Attributes
    ----------
    name : str
    gamma : float or None
        Forgetting factor; ``None`` = the router config's (0.997 in the paper).
    pacer : bool
        ADAPTIVE pacer at the budget (λ_c = 0).
    fitted : bool
        Static λ_c fitted on val per budget (else λ_c = 0).
    refit : bool
        λ_c re-fitted at each phase boundary with the coming phase's prices (oracle knowledge).
    budgeted : bool
        Whether runs depend on the budget (False: one run per seed serves every budget).
    """

    name: str
    gamma: float | None
    pacer: bool
    fitted: bool
    refit: bool = False

    @property
    def budgeted(self) -> bool:
        return self.pacer or self.fitted

    def fit_gamma(self, config: RouterConfig) -> float:
        """γ used in this condition's runs (and its λ_c fit)."""
        return float(config.forgetting_factor if self.gamma is None else self.gamma)


CONDITIONS: dict[str, Condition] = {
    "naive": Condition("naive", gamma=1.0, pacer=False, fitted=True),
    "recalibrated": Condition("recalibrated", gamma=1.0, pacer=False, fitted=True, refit=True),
    "forgetting": Condition("forgetting", gamma=None, pacer=False, fitted=True),
    "paretobandit": Condition("paretobandit", gamma=None, pacer=True, fitted=False),
    "unconstrained": Condition("unconstrained", gamma=None, pacer=False, fitted=False),
}


def get_conditions(names: Sequence[str]) -> list[Condition]:
    """Conditions by name, in the given order (unknown or repeated names are errors)."""
    names = [str(n) for n in names]
    unknown = [n for n in names if n not in CONDITIONS]
    if unknown:
        raise ConfigError(f"unknown condition(s) {unknown}; known: {list(CONDITIONS)}")
    if len(set(names)) != len(names) or not names:
        raise ConfigError(f"conditions must be a non-empty list without repeats, got {names}")
    return [CONDITIONS[n] for n in names]


@dataclass(frozen=True)
class FitJob:
    """A λ_c fit: γ = ``gamma`` under ``prices`` (K, 2) $/M, dataset costs × ``cost_scale`` (K,)."""

    label: str
    gamma: float
    prices: np.ndarray
    cost_scale: np.ndarray


def val_orders(seeds: Sequence[int], n_val: int) -> np.ndarray:
    """(S, n_val): ``default_rng(s).permutation(n_val)`` per seed (the SPEC §2 warm-up order)."""
    return np.stack([np.random.default_rng(int(s)).permutation(int(n_val)) for s in seeds]).astype(np.intp)


def select_cost_penalty(grid: Sequence[float], mean_costs: Sequence[float], budget: float) -> float:
    """Grid value whose mean cost is closest to ``budget`` (ties: the first, i.e. smaller, λ_c)."""
    g, c = np.asarray(grid, dtype=float), np.asarray(mean_costs, dtype=float)
    if g.shape != c.shape or g.size == 0:
        raise DimensionMismatchError(f"grid {g.shape} and mean_costs {c.shape} must be equal, non-empty")
    return float(g[int(np.argmin(np.abs(c - float(budget))))])


def fit_cost_penalty(*, features_val, rewards_val, costs_val, jobs: Sequence[FitJob],
                     budgets: Mapping[str, float], seeds: Sequence[int], config: RouterConfig,
                     priors: Priors | None, grid: Sequence[float] = LAMBDA_GRID) -> dict:
    """Fit static λ_c per fit job and budget with one batched simulation (see module docstring).

    Returns
    -------
    dict
        ``{"grid", "seeds", "jobs": {label: {"gamma", "prices", "cost_scale",
        "mean_cost": [per grid value], "per_seed_cost": [[per seed] per grid value],
        "chosen": {budget name: λ_c}}}}`` (JSON-able).
    """
    feats = np.asarray(features_val, dtype=float)
    rewards = np.asarray(rewards_val, dtype=float)
    costs = np.asarray(costs_val, dtype=float)
    n_val, k = rewards.shape
    grid = [float(v) for v in grid]
    seeds = [int(s) for s in seeds]
    jobs = list(jobs)
    if not grid or not seeds or not jobs:
        raise ConfigError("fit_cost_penalty needs a non-empty grid, seeds and jobs")
    if len({j.label for j in jobs}) != len(jobs):
        raise ConfigError("fit job labels must be unique")
    n_g, n_s, n_j = len(grid), len(seeds), len(jobs)
    orders = val_orders(seeds, n_val)
    # run index = (job * n_g + grid) * n_s + seed
    streams = np.tile(orders, (n_j * n_g, 1))
    run_seeds = seeds * (n_j * n_g)
    gamma = np.repeat([j.gamma for j in jobs], n_g * n_s)
    lam_c = np.tile(np.repeat(grid, n_s), n_j)
    prices = np.repeat(np.stack([np.asarray(j.prices, dtype=float).reshape(k, 2) for j in jobs]),
                       n_g * n_s, axis=0)
    events = []
    for i, job in enumerate(jobs):
        scale = np.asarray(job.cost_scale, dtype=float).reshape(k)
        runs = np.arange(i * n_g * n_s, (i + 1) * n_g * n_s)
        for arm in np.flatnonzero(scale != 1.0):
            events.append(CostTransform(arm=int(arm), start=0, stop=n_val, scale=float(scale[arm]),
                                        runs=runs))
    res = simulate(feats, rewards, costs, streams, prices, seeds=run_seeds, gamma=gamma, cost_penalty=lam_c,
                   budget=None, priors=priors, events=events, config=config)
    per_run = res.cost.mean(axis=1).reshape(n_j, n_g, n_s)
    out_jobs = {}
    for i, job in enumerate(jobs):
        mean_cost = per_run[i].mean(axis=1)
        out_jobs[job.label] = {
            "gamma": float(job.gamma),
            "prices": np.asarray(job.prices, dtype=float).reshape(k, 2).tolist(),
            "cost_scale": np.asarray(job.cost_scale, dtype=float).reshape(k).tolist(),
            "mean_cost": mean_cost.tolist(),
            "per_seed_cost": per_run[i].tolist(),
            "chosen": {name: select_cost_penalty(grid, mean_cost, b) for name, b in budgets.items()},
        }
    return {"grid": grid, "seeds": seeds, "jobs": out_jobs}
