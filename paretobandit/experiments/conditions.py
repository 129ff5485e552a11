"""Baseline conditions of the non-stationary experiments (docs/PROTOCOLS.md §B0–§B2; usable by Exp 04).

Two configurations of the static-penalty baselines (``penalty_mode`` of
:func:`paretobandit.experiments.phased.run_phased`):

``"static"`` — the paper's (docs/PROTOCOLS.md §B1a/§B1b, upstream behaviour)
    =============  =======  ==========================================  ======
    condition      γ        λ_c in P1 / P2 / P3 (val warm-up = P1's)    pacer
    =============  =======  ==========================================  ======
    naive          1.0      M_b / M_b / M_b                             no
    recalibrated   1.0      M_b / R2_b / R3_b (two-pass re-fit)         no
    forgetting     router   M_b / M_b / M_b                             no
    paretobandit   router   0                                           yes
    unconstrained  router   0                                           no
    =============  =======  ==========================================  ======

    ``M_b`` are hand-set constants (tight 0.40 / moderate 0.30 / loose 0.10 in the presets): no
    procedure in the upstream code produces them (0.40 is not even on the grid), so they are inputs.

``"fitted"`` — the principled variant kept beside it (the workbench's own protocol before issue 10)
    naive / forgetting: λ_c fitted on val per budget (:func:`fit_cost_penalty`, one fresh-router pass
    per fit seed); recalibrated: P1 and P3 use the base-price fit, P2 a fit under the P2 prices.

Every condition starts from the same warm-up priors (n_eff, α from the router config).

λ_c fit (:func:`fit_cost_penalty`, ``"fitted"`` only)
---------------------------------------------------
For each *fit job* (a γ and a price scenario), each grid value λ_c ∈ :data:`LAMBDA_GRID` and each
fit seed ``s``: a fresh router with priors, that γ and λ_c, no pacer, learns online on the val split
in the order ``default_rng(s).permutation(n_val)`` (the docs/PROTOCOLS.md §2 warm-up order of seed ``s``); its
cost is the mean realised $ over the whole val stream. The grid's mean cost is averaged over the fit
seeds and, per budget B, the chosen λ_c is the grid value minimising ``|mean cost − B|`` (ties go to
the smaller λ_c). All jobs × grid × seeds run as ONE batch of the simulator (per-run ``gamma``,
``cost_penalty`` and prices; a price scenario's dataset costs are scaled with per-run
:class:`~paretobandit.sim.CostTransform` events over the whole val stream).

Two-pass re-fit (:func:`recalibrate_two_pass`, ``"static"`` recalibrated)
------------------------------------------------------------------------
Per target phase (P2: the P2 prices and val costs × the P2 cost scale; P3: the original prices and
costs), budget b and re-fit seed s (9500 … 9509): ``g = default_rng(s)``; a γ = 1 router with priors
and λ_c = M_b learns on val in the order ``g.permutation(n_val)`` (not scored); a copy per grid value
λ is repriced to the target, set to λ_c = λ and routes val again in the order of the second draw
``g.permutation(n_val)`` with online learning and the target's costs; its score is the mean realised
$ of that second pass. R_b = argmin_λ |mean_s cost − B_b| (first grid value on ties). The copies are
simulated as runs that share the first pass (same seed ⇒ same first pass, tie-break generator state
included), with the λ_c switch, a :class:`~paretobandit.sim.PriceChange` and a
:class:`~paretobandit.sim.CostTransform` at the second pass — bit for bit a deep copy.
"""


from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..config import RouterConfig
from ..errors import ConfigError, DimensionMismatchError
from ..sim import BatchSimulator, CostTransform, PriceChange, Priors, simulate

__all__ = ["CONDITIONS", "LAMBDA_GRID", "PENALTY_MODES", "Condition", "FitJob", "fit_cost_penalty",
           "get_conditions", "parse_static_penalty", "recalibrate_two_pass", "select_cost_penalty",
           "two_pass_orders", "val_orders"]

#: ``"static"``: the paper's hand-set M_b (+ two-pass re-fit); ``"fitted"``: λ_c fitted on val.
PENALTY_MODES = ("static", "fitted")

#: docs/PROTOCOLS.md §3: grid of static cost weights searched on val.
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
        Has a static λ_c per budget (the constant M_b, or fitted on val; else λ_c = 0).
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
    """(S, n_val): ``default_rng(s).permutation(n_val)`` per seed (the docs/PROTOCOLS.md §2 warm-up order)."""
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


def parse_static_penalty(static: Mapping[str, float] | None, budgets: Mapping[str, float]
                         ) -> dict[str, float]:
    """``{budget name: M_b}`` for every budget (finite, >= 0); a clear error otherwise."""
    if static is None:
        raise ConfigError("penalty_mode 'static' needs static_penalty {budget name: λ_c}")
    missing = [b for b in budgets if b not in static]
    if missing:
        raise ConfigError(f"static_penalty has no value for budget(s) {missing}")
    out = {}
    for b in budgets:
        v = static[b]
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) \
                or not np.isfinite(v) or v < 0:
            raise ConfigError(f"static_penalty[{b!r}] must be a finite number >= 0, got {v!r}")
        out[str(b)] = float(v)
    return out


def two_pass_orders(seeds: Sequence[int], n_val: int) -> np.ndarray:
    """(S, 2·n_val): per seed ``g = default_rng(s)``, ``[g.permutation(n_val), g.permutation(n_val)]``."""
    rows = []
    for s in seeds:
        g = np.random.default_rng(int(s))
        first = g.permutation(int(n_val))
        rows.append(np.concatenate([first, g.permutation(int(n_val))]))
    return np.stack(rows).astype(np.intp)


def recalibrate_two_pass(*, features_val, rewards_val, costs_val, base_prices, targets: Sequence[FitJob],
                         static: Mapping[str, float], budgets: Mapping[str, float], seeds: Sequence[int],
                         config: RouterConfig, priors: Priors | None, grid: Sequence[float] = LAMBDA_GRID
                         ) -> dict:
    """Two-pass re-fit of the recalibrated baseline's λ_c per target phase and budget (module docstring).

    Parameters
    ----------
    features_val, rewards_val, costs_val : arrays
        The val tables (both passes route over them).
    base_prices : (K, 2) array
        Registry prices of the first pass ($/M).
    targets : sequence of FitJob
        One per target phase: ``prices`` and ``cost_scale`` of the scored second pass; ``gamma`` is
        the router's γ in both passes (1.0 for the recalibrated baseline).
    static : mapping budget name → M_b
        λ_c of the first pass.
    budgets, seeds, config, priors, grid
        Budgets B_b, re-fit seeds (9500 … 9509), router config, warm-up priors and the λ grid.

    Returns
    -------
    dict
        ``{"grid", "seeds", "static", "targets": {label: {"gamma", "prices", "cost_scale",
        "budgets": {b: {"mean_cost": [per λ], "per_seed_cost": [[per seed] per λ], "chosen"}}}}}``.
    """
    feats = np.asarray(features_val, dtype=float)
    rewards = np.asarray(rewards_val, dtype=float)
    costs = np.asarray(costs_val, dtype=float)
    n_val, k = rewards.shape
    grid = [float(v) for v in grid]
    seeds = [int(s) for s in seeds]
    targets = list(targets)
    budgets = {str(b): float(v) for b, v in budgets.items()}
    static = parse_static_penalty(static, budgets)
    if not grid or not seeds or not targets or not budgets:
        raise ConfigError("recalibrate_two_pass needs a non-empty grid, seeds, targets and budgets")
    if len({t.label for t in targets}) != len(targets):
        raise ConfigError("re-fit target labels must be unique")
    base = np.asarray(base_prices, dtype=float).reshape(k, 2)
    names = list(budgets)
    n_b, n_t, n_g, n_s = len(names), len(targets), len(grid), len(seeds)
    block = n_g * n_s
    # run index = ((budget * n_t + target) * n_g + grid) * n_s + seed
    n_runs = n_b * n_t * block
    streams = np.tile(two_pass_orders(seeds, n_val), (n_b * n_t * n_g, 1))
    first_lam = np.repeat([static[b] for b in names], n_t * block)
    second_lam = np.tile(np.repeat(grid, n_s), n_b * n_t)
    gamma = np.tile(np.repeat([t.gamma for t in targets], block), n_b)
    events = []
    for i, tgt in enumerate(targets):
        runs = np.zeros(n_runs, dtype=bool)
        for jb in range(n_b):
            lo = (jb * n_t + i) * block
            runs[lo:lo + block] = True
        tp = np.asarray(tgt.prices, dtype=float).reshape(k, 2)
        for arm in np.flatnonzero((tp != base).any(axis=1)):
            events.append(PriceChange(step=n_val, arm=int(arm), input_cost_per_m=float(tp[arm, 0]),
                                      output_cost_per_m=float(tp[arm, 1]), runs=runs))
        scale = np.asarray(tgt.cost_scale, dtype=float).reshape(k)
        for arm in np.flatnonzero(scale != 1.0):
            events.append(CostTransform(arm=int(arm), start=n_val, stop=2 * n_val, scale=float(scale[arm]),
                                        runs=runs))
    sim = BatchSimulator(feats, rewards, costs, streams, base, seeds=seeds * (n_b * n_t * n_g), gamma=gamma,
                         cost_penalty=first_lam, budget=None, priors=priors, events=events, config=config)
    sim.run(n_val)
    sim.lam_c[:] = second_lam                     # r.λ_c ← λ on every copy, before the second pass
    res = sim.run(n_val)
    per_run = res.cost[:, n_val:].mean(axis=1).reshape(n_b, n_t, n_g, n_s)
    out = {}
    for i, tgt in enumerate(targets):
        per_budget = {}
        for jb, b in enumerate(names):
            mean_cost = per_run[jb, i].mean(axis=1)
            per_budget[b] = {"mean_cost": mean_cost.tolist(), "per_seed_cost": per_run[jb, i].tolist(),
                             "chosen": select_cost_penalty(grid, mean_cost, budgets[b])}
        out[tgt.label] = {"gamma": float(tgt.gamma),
                          "prices": np.asarray(tgt.prices, dtype=float).reshape(k, 2).tolist(),
                          "cost_scale": np.asarray(tgt.cost_scale, dtype=float).reshape(k).tolist(),
                          "budgets": per_budget}
    return {"grid": grid, "seeds": seeds, "static": static, "targets": out}
