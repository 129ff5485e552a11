"""Three-phase non-stationary protocol (docs/PROTOCOLS.md §2) of Exp 02 (cost drift) and Exp 03 (degradation).

Phases
------
The test split is permuted once with ``default_rng(phase_seed = 42)``: P1 = its first ``L`` prompts,
P2 = the next ``L``, P3 = the P1 prompts again (within-subject). ``L = 608`` on the full split
(:func:`paretobandit.sim.three_phase_prompts`; :func:`effective_phase_length` shrinks it to
``n_test // 2`` on CI-sized splits).

Per-trial stream (one generator per seed, consumed in this order)
-----------------------------------------------------------------
::

    rng = numpy.random.default_rng(seed)
    val_order = rng.permutation(n_val)                 # online warm-up, the condition's own setup
    p1 = P1[rng.permutation(L)]; p2 = P2[rng.permutation(L)]; p3 = P3[rng.permutation(L)]
    stream = [val_order, n_val + p1, n_val + p2, n_val + p3]   # rows of the [val; test] stack

(:func:`three_phase_trial_streams`). The warm-up shuffle equals the first draw of the stationary
protocol (``trial_orders``); the phase shuffles continue the same generator. Note this differs from
:func:`paretobandit.sim.phase_streams`, which starts a fresh ``default_rng(seed)`` for the phases.
The router's tie-break generator is a separate ``default_rng(seed)`` (the simulator's per-run seed).

Scenario
--------
A :class:`PhaseShift` says what changes during P2 and is restored at the start of P3: registry prices
(``PriceChange`` at both boundaries), realised dataset costs (``CostTransform`` over P2) and observed
rewards (``RewardTransform.constant`` over P2). Metrics are computed on the three test phases only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..errors import ConfigError
from ..sim import (
    BatchSimulator,
    CostTransform,
    PriceChange,
    RewardTransform,
    three_phase_prompts,
)
from .budget_pacing import router_config
from .common import (
    as_price_array,
    pacer_record,
    parse_budgets,
    parse_pacer,
    parse_policy,
    parse_seeds,
    prepare_tables,
    resolve_priors,
    seed_band,
)
from .conditions import (
    LAMBDA_GRID,
    PENALTY_MODES,
    FitJob,
    fit_cost_penalty,
    get_conditions,
    parse_static_penalty,
    recalibrate_two_pass,
)

__all__ = ["PhaseShift", "effective_phase_length", "phase_bounds", "run_phased", "run_phased_variants",
           "three_phase_trial_streams", "windowed_mean",
    "phased_kwargs",
]

N_PHASES = 3


@dataclass(frozen=True)
class PhaseShift:
    """What changes during P2 (restored at P3).

    Attributes
    ----------
    prices : mapping arm → (input, output) $/M
        Registry repricing during P2 (the original prices come back at P3).
    cost_scale : mapping arm → float
        Realised dataset costs of the arm multiplied during P2.
    reward_value : mapping arm → float
        Observed reward of the arm set to this constant during P2.
    """

    prices: Mapping[int, tuple[float, float]] = field(default_factory=dict)
    cost_scale: Mapping[int, float] = field(default_factory=dict)
    reward_value: Mapping[int, float] = field(default_factory=dict)

    def events(self, bounds: Sequence[tuple[int, int]], base_prices: np.ndarray) -> list:
        """Simulator events for phase bounds ``[(start, stop)] * 3`` (stream positions)."""
        (_, _), (p2_start, p2_stop), (p3_start, _) = bounds
        out: list = []
        for arm, (pin, pout) in sorted(self.prices.items()):
            out.append(PriceChange(step=p2_start, arm=int(arm), input_cost_per_m=float(pin),
                                   output_cost_per_m=float(pout)))
            out.append(PriceChange(step=p3_start, arm=int(arm), input_cost_per_m=float(base_prices[arm, 0]),
                                   output_cost_per_m=float(base_prices[arm, 1])))
        for arm, scale in sorted(self.cost_scale.items()):
            out.append(CostTransform(arm=int(arm), start=p2_start, stop=p2_stop, scale=float(scale)))
        for arm, value in sorted(self.reward_value.items()):
            out.append(RewardTransform.constant(arm=int(arm), start=p2_start, stop=p2_stop,
                                                value=float(value)))
        return out

    def p2_prices(self, base_prices: np.ndarray) -> np.ndarray:
        p = np.array(base_prices, dtype=float)
        for arm, (pin, pout) in self.prices.items():
            p[arm] = (pin, pout)
        return p

    def p2_cost_scale(self, k: int) -> np.ndarray:
        s = np.ones(k)
        for arm, scale in self.cost_scale.items():
            s[arm] = scale
        return s

    def to_dict(self) -> dict:
        return {"prices": {str(a): list(map(float, v)) for a, v in sorted(self.prices.items())},
                "cost_scale": {str(a): float(v) for a, v in sorted(self.cost_scale.items())},
                "reward_value": {str(a): float(v) for a, v in sorted(self.reward_value.items())}}


def _band(series: np.ndarray) -> list[float]:
    """Half-width of the per-step seed band of an (S, T) series (:func:`seed_band`; symmetric, so the
    band is ``mean ± half``)."""
    low, high = seed_band(series)
    return ((high - low) / 2.0).tolist()


def effective_phase_length(n_test: int, phase_length: int) -> int:
    """``phase_length`` if two phases fit in the test split, else ``n_test // 2`` (CI-sized splits)."""
    if isinstance(phase_length, bool) or int(phase_length) < 1:
        raise ConfigError(f"phase_length must be a positive integer, got {phase_length!r}")
    return int(min(int(phase_length), int(n_test) // 2))


def three_phase_trial_streams(seeds: Sequence[int], n_val: int, phases: Sequence[np.ndarray]) -> np.ndarray:
    """(S, n_val + Σ|phase|) streams into ``[val; test]`` (see the module docstring for the exact draws)."""
    rows = []
    for s in seeds:
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 0:
            raise ConfigError(f"seeds must be non-negative integers, got {s!r}")
        rng = np.random.default_rng(int(s))
        parts = [rng.permutation(int(n_val))]
        parts += [int(n_val) + np.asarray(p)[rng.permutation(len(p))] for p in phases]
        rows.append(np.concatenate(parts))
    if not rows:
        raise ConfigError("at least one seed is needed")
    return np.stack(rows).astype(np.intp)


def phase_bounds(n_val: int, phase_lengths: Sequence[int]) -> list[tuple[int, int]]:
    """Stream positions ``[(start, stop)]`` of each test phase (after ``n_val`` warm-up steps)."""
    out, start = [], int(n_val)
    for n in phase_lengths:
        out.append((start, start + int(n)))
        start += int(n)
    return out


def windowed_mean(x: np.ndarray, window: int) -> np.ndarray:
    """Trailing mean over ``window`` steps along the last axis, full windows only: (..., T − window + 1)."""
    x = np.asarray(x, dtype=float)
    if window < 1 or window > x.shape[-1]:
        raise ConfigError(f"window must be in [1, {x.shape[-1]}], got {window}")
    c = np.cumsum(x, axis=-1)
    c = np.concatenate([np.zeros(x.shape[:-1] + (1,)), c], axis=-1)
    return (c[..., window:] - c[..., :-window]) / window


# ------------------------------------------------------------------------------------- protocol
def _plan(conditions, budgets: Mapping[str, float], n_seeds: int) -> list[tuple[str, str | None]]:
    """Blocks of ``n_seeds`` runs: ``(condition, budget name)``; budget-free conditions get one block."""
    blocks = []
    for c in conditions:
        if c.budgeted:
            blocks += [(c.name, b) for b in budgets]
        else:
            blocks.append((c.name, None))
    return blocks


def _fit_penalties(conds, penalty_mode, static, feats, rewards, costs, base_prices, shift, budgets, cfg, pri,
                   lambda_grid, fit_seeds, refit_seeds) -> dict | None:
    """The λ_c fits the conditions need: one batch each (``None`` when no condition has a static λ_c)."""
    k = rewards.shape[1]
    if penalty_mode == "static":
        if not any(c.refit for c in conds):
            return {"static": dict(static)}
        targets = [FitJob("p2", 1.0, shift.p2_prices(base_prices), shift.p2_cost_scale(k)),
                   FitJob("p3", 1.0, np.array(base_prices, dtype=float), np.ones(k))]
        gammas = {c.fit_gamma(cfg) for c in conds if c.refit}
        if gammas != {1.0}:
            raise ConfigError(f"the two-pass re-fit is defined for γ = 1 routers, got {sorted(gammas)}")
        return recalibrate_two_pass(features_val=feats, rewards_val=rewards, costs_val=costs,
                                    base_prices=base_prices, targets=targets, static=static, budgets=budgets,
                                    seeds=list(refit_seeds), config=cfg, priors=pri, grid=lambda_grid)
    # "fitted": each fitted γ under the base prices, plus the P2 prices for refits
    jobs, labels = [], set()
    for c in conds:
        if not c.fitted:
            continue
        g = c.fit_gamma(cfg)
        for scenario in ("base", "p2"):
            if scenario == "p2" and not c.refit:
                continue
            label = f"gamma={g:g}/{scenario}"
            if label not in labels:
                labels.add(label)
                p = base_prices if scenario == "base" else shift.p2_prices(base_prices)
                sc = np.ones(k) if scenario == "base" else shift.p2_cost_scale(k)
                jobs.append(FitJob(label, g, p, sc))
    if not jobs:
        return None
    return fit_cost_penalty(features_val=feats, rewards_val=rewards, costs_val=costs, jobs=jobs,
                            budgets=budgets, seeds=list(fit_seeds), config=cfg, priors=pri, grid=lambda_grid)


def run_phased(*, features_val, rewards_val, costs_val, features_test, rewards_test, costs_test,
               models: Sequence[str], prices, budgets: Mapping[str, float], seeds: Sequence[int],
               conditions: Sequence[str], shift: PhaseShift, phase_length: int = 608, phase_seed: int = 42,
               router_params: Mapping | None = None, pacer_params: Mapping | None = None, priors=None,
               lambda_grid: Sequence[float] = LAMBDA_GRID, fit_seeds: Sequence[int] = tuple(range(10)),
               penalty_mode: str = "fitted", static_penalty: Mapping[str, float] | None = None,
               refit_seeds: Sequence[int] = tuple(range(9500, 9510)), window: int = 50, late_steps: int = 200,
               trace_stride: int = 8,
               experiment: str = "phased", policy=None) -> dict:
    """Run every condition × budget × seed of a three-phase experiment; return JSON-able per-seed metrics.

    Parameters
    ----------
    features_*, rewards_*, costs_* : arrays
        Val and test tables (columns follow ``models``; features with the bias last).
    prices : mapping or (K, 2) array
        Initial registry prices in $/M.
    budgets : mapping name → $ per request
        e.g. ``{"tight": 3.0e-4, "moderate": 6.62e-4, "loose": 1.87e-3}``.
    seeds : sequence of int
        Trial seeds (``offset + i``).
    conditions : sequence of str
        Names from :data:`~paretobandit.experiments.conditions.CONDITIONS`.
    shift : PhaseShift
        The P2 change.
    phase_length, phase_seed : int
        Phase size (clamped by :func:`effective_phase_length`) and the phase permutation seed.
    router_params, pacer_params : mapping
        RouterConfig fields (``cost_penalty`` is set per condition) and pacer settings (``mode``, η, …).
    priors : path, Priors, (models, A, b) or None
        Warm-up priors.
    lambda_grid : sequence of float
        λ_c grid of the val fit and of the two-pass re-fit.
    penalty_mode : {"static", "fitted"}
        ``"static"`` (the paper): naive / forgetting / recalibrated-P1 use ``static_penalty[b]`` and
        recalibrated re-fits P2 and P3 with
        :func:`~paretobandit.experiments.conditions.recalibrate_two_pass` over ``refit_seeds``;
        ``"fitted"``: λ_c fitted on val over ``fit_seeds``
        (:func:`~paretobandit.experiments.conditions.fit_cost_penalty`; recalibrated re-fitted for P2
        only, P3 = P1).
    static_penalty : mapping budget name → λ_c
        The hand-set M_b (``"static"`` only).
    fit_seeds, refit_seeds : sequences of int
        Seeds of the single-pass val fit and of the two-pass re-fit.
    window, trace_stride : int
        Window of the windowed reward/cost/share series and the step between stored trace points.
    late_steps : int
        ``late_share`` is each model's share over the last ``late_steps`` steps of each phase.

    Returns
    -------
    dict
        ``cells``: one entry per condition × budget with ``per_seed`` metrics ``[phase][seed]``
        (``mean_reward``, ``mean_cost``, ``cost_ratio``, ``mean_lambda``, ``median_lambda``,
        ``mean_weight`` (λ_c + pacer λ), ``share`` and ``late_share`` per model), per-seed
        ``reward_lift`` (P2 − P1), ``recovery_ratio`` (P3/P1), windowed ``trough`` and
        ``trough_depth``, and seed-mean ``trace`` series; plus the λ_c fit and the protocol's parameters.
    """
    tables = prepare_tables(models, features_val, rewards_val, costs_val, features_test, rewards_test,
                            costs_test)
    models, feats, rewards, costs = tables.models, tables.feats, tables.rewards, tables.costs
    n_val, n_test = tables.n_val, tables.n_test
    base_prices = as_price_array(prices, models)
    budgets = parse_budgets(budgets)
    seeds = parse_seeds(seeds, required=False)
    conds = get_conditions(conditions)
    cfg = router_config(router_params)
    mode, pacer = parse_pacer(pacer_params)
    policy = parse_policy(policy) if policy is None or isinstance(policy, Mapping) else policy
    pri = resolve_priors(priors, models, feats.shape[1])
    length = effective_phase_length(n_test, phase_length)
    phases = three_phase_prompts(n_test, length, phase_seed)
    bounds = phase_bounds(n_val, [len(p) for p in phases])
    base_streams = three_phase_trial_streams(seeds, n_val, phases)
    n_s, n_t = len(seeds), base_streams.shape[1]

    if penalty_mode not in PENALTY_MODES:
        raise ConfigError(f"penalty_mode must be one of {PENALTY_MODES}, got {penalty_mode!r}")
    static = parse_static_penalty(static_penalty, budgets) if penalty_mode == "static" else None
    fit = _fit_penalties(conds, penalty_mode, static, feats[:n_val], rewards[:n_val], costs[:n_val],
                         base_prices, shift, budgets, cfg, pri, lambda_grid, fit_seeds, refit_seeds)

    def lam_c_of(c, b, phase: int) -> float:
        """λ_c of condition ``c`` at budget ``b`` in phase 0/1/2 (the warm-up uses phase 0's)."""
        if not c.fitted or b is None:
            return 0.0
        if penalty_mode == "static":
            if not c.refit or phase == 0:
                return static[b]
            return float(fit["targets"][("p2", "p3")[phase - 1]]["budgets"][b]["chosen"])
        scenario = "p2" if (c.refit and phase == 1) else "base"
        return float(fit["jobs"][f"gamma={c.fit_gamma(cfg):g}/{scenario}"]["chosen"][b])

    # ---- the batch: one block of n_s runs per (condition, budget)
    blocks = _plan(conds, budgets, n_s)
    by_name = {c.name: c for c in conds}
    n_runs = len(blocks) * n_s
    gamma = np.repeat([by_name[c].fit_gamma(cfg) for c, _ in blocks], n_s)
    budget = np.repeat([np.nan if (b is None or not by_name[c].pacer) else budgets[b] for c, b in blocks],
                       n_s)
    lam_phase = np.zeros((n_runs, N_PHASES))        # λ_c in P1, P2, P3 (warm-up uses P1's)
    for i, (c, b) in enumerate(blocks):
        cond = by_name[c]
        lam_phase[i * n_s:(i + 1) * n_s] = [lam_c_of(cond, b, j) for j in range(N_PHASES)]
    streams = np.tile(base_streams, (len(blocks), 1))
    sim = BatchSimulator(feats, rewards, costs, streams, base_prices, seeds=seeds * len(blocks), gamma=gamma,
                         cost_penalty=lam_phase[:, 0].copy(),
                         budget=[None if np.isnan(x) else x for x in budget],
                         pacer_mode=mode, priors=pri, config=cfg, pacer=pacer, policy=policy,
                         events=shift.events(bounds, base_prices))
    # The static weight of the recalibrated condition changes at the phase boundaries (the simulator has
    # no event for it: set the per-run weight between steps, exactly what the operator would do).
    for j, (_, stop) in enumerate(bounds):
        if j > 0 and not np.array_equal(lam_phase[:, j], lam_phase[:, j - 1]):
            sim.lam_c[:] = lam_phase[:, j]
        sim.run(stop - sim.step_index)
    res = sim.result()

    # ---- per-run metrics (test phases only)
    test = slice(n_val, n_t)
    lam_c_steps = np.repeat(lam_phase, [b - a for a, b in bounds], axis=1)   # (S, n_test_steps)
    pen = np.array([by_name[c].pacer for c, _ in blocks]).repeat(n_s)
    weight = lam_c_steps + np.where(pen[:, None] & (mode != "hard"), res.lam[:, test], 0.0)

    def per_phase(fn):
        return np.stack([fn(a, b) for a, b in bounds], axis=1)             # (S, 3)

    mean_reward = per_phase(lambda a, b: res.reward[:, a:b].mean(axis=1))
    mean_cost = per_phase(lambda a, b: res.cost[:, a:b].mean(axis=1))
    mean_lam = per_phase(lambda a, b: res.lam[:, a:b].mean(axis=1))
    median_lam = per_phase(lambda a, b: np.percentile(res.lam[:, a:b], 50, axis=1))
    mean_weight = per_phase(lambda a, b: weight[:, a - n_val:b - n_val].mean(axis=1))
    shares = {m: per_phase(lambda a, b, j=j: (res.arm[:, a:b] == j).mean(axis=1))
              for j, m in enumerate(models)}
    late = max(1, min(int(late_steps), length))
    late_shares = {m: per_phase(lambda a, b, j=j: (res.arm[:, b - late:b] == j).mean(axis=1))
                   for j, m in enumerate(models)}

    w = min(int(window), n_t - n_val)
    win_reward = windowed_mean(res.reward[:, test], w)                     # window ending at test step w-1+i
    p2_first_end = max(bounds[1][0] - n_val - (w - 1), 0)                  # windows ending in P2 or P3
    trough = win_reward[:, p2_first_end:].min(axis=1)
    trough_step = p2_first_end + win_reward[:, p2_first_end:].argmin(axis=1) + (w - 1)
    win_cost = windowed_mean(res.cost[:, test], w)
    win_share = {m: windowed_mean((res.arm[:, test] == j).astype(float), w) for j, m in enumerate(models)}
    win_weight = windowed_mean(weight, w)
    sample = np.arange(0, win_reward.shape[1], max(int(trace_stride), 1))

    cells = []
    for i, (c, b) in enumerate(blocks):
        rs = slice(i * n_s, (i + 1) * n_s)
        for bname in (budgets if b is None else [b]):
            bval = budgets[bname]
            r1, r2, r3 = mean_reward[rs].T
            cells.append({
                "condition": c,
                "budget": bname,
                "budget_value": bval,
                "cost_penalty": lam_phase[rs][0].tolist(),
                "per_seed": {
                    "seed": seeds,
                    "mean_reward": mean_reward[rs].T.tolist(),
                    "mean_cost": mean_cost[rs].T.tolist(),
                    "cost_ratio": (mean_cost[rs] / bval).T.tolist(),
                    "mean_lambda": mean_lam[rs].T.tolist(),
                    "median_lambda": median_lam[rs].T.tolist(),
                    "mean_weight": mean_weight[rs].T.tolist(),
                    "share": {m: shares[m][rs].T.tolist() for m in models},
                    "late_share": {m: late_shares[m][rs].T.tolist() for m in models},
                    "reward_lift": (r2 - r1).tolist(),
                    "recovery_ratio": (r3 / r1).tolist(),
                    "trough": trough[rs].tolist(),
                    "trough_depth": (r1 - trough[rs]).tolist(),
                    "trough_step": trough_step[rs].tolist(),
                },
                "trace": {
                    "test_step": (sample + w - 1).tolist(),
                    "reward": win_reward[rs][:, sample].mean(axis=0).tolist(),
                    "cost_ratio": (win_cost[rs][:, sample] / bval).mean(axis=0).tolist(),
                    "weight": win_weight[rs][:, sample].mean(axis=0).tolist(),
                    "share": {m: win_share[m][rs][:, sample].mean(axis=0).tolist() for m in models},
                    # Half-widths of the 95% t-interval of the seed mean at each stored step (figure bands).
                    "band": {
                        "method": "95% Student-t CI of the mean over seeds, per stored step",
                        "kind": "half_width",
                        "reward": _band(win_reward[rs][:, sample]),
                        "cost_ratio": _band(win_cost[rs][:, sample] / bval),
                        "weight": _band(win_weight[rs][:, sample]),
                        "share": {m: _band(win_share[m][rs][:, sample]) for m in models},
                    },
                },
            })
    return {
        "experiment": experiment,
        "models": models,
        "n_val": int(n_val),
        "n_test": int(n_test),
        "phase_length": int(length),
        "phase_seed": int(phase_seed),
        "phase_bounds_test": [[a - n_val, b - n_val] for a, b in bounds],
        "phase_prompts": {"p1": phases[0].tolist(), "p2": phases[1].tolist()},
        "seeds": seeds,
        "budgets": budgets,
        "conditions": [c.name for c in conds],
        "shift": shift.to_dict(),
        "window": int(w),
        "late_steps": int(late),
        "router_params": cfg.to_dict(),
        "pacer_params": pacer_record(mode, pacer),
        "priors": pri is not None,
        "penalty_mode": penalty_mode,
        "lambda_fit": fit,
        "cells": cells,
    }


def run_phased_variants(*, conditions: Sequence[str], penalty_mode: str = "static",
                        variants: Sequence[str] = (), **kwargs) -> dict:
    """:func:`run_phased` in ``penalty_mode`` (every condition), plus each mode in ``variants`` for the
    static-penalty conditions only (the others do not depend on it).

    Returns the main run's dict with ``variants = {mode: run_phased(...) dict}``.
    """
    variants = [str(v) for v in variants]
    bad = [v for v in variants if v not in PENALTY_MODES or v == penalty_mode]
    if bad or len(set(variants)) != len(variants):
        raise ConfigError(f"variants must be distinct penalty modes other than {penalty_mode!r} "
                          f"(from {PENALTY_MODES}), got {variants}")
    out = run_phased(conditions=conditions, penalty_mode=penalty_mode, **kwargs)
    static_conds = [c.name for c in get_conditions(conditions) if c.fitted]
    out["variants"] = {}
    if static_conds:
        for mode in variants:
            out["variants"][mode] = run_phased(conditions=static_conds, penalty_mode=mode, **kwargs)
    return out


def phased_kwargs(binding) -> dict:
    """Keyword arguments shared by the three-phase experiments (Exp 02, Exp 03), read from the config
    through a :class:`~paretobandit.experiments.binding.Binding`: everything but the tables, ``models``,
    the phase-shift scenario and ``refit_seeds``."""
    exp = binding.experiment
    fit = exp["lambda_fit"]
    return dict(prices=binding.prices(), budgets=exp.plain("budgets"), seeds=binding.seeds(),
                conditions=exp.plain("conditions"), phase_length=exp["phase_length"],
                phase_seed=exp["phase_seed"], router_params=binding.router_params(),
                pacer_params=binding.pacer_params(), policy=binding.policy(), priors=binding.priors(),
                lambda_grid=fit["grid"],
                fit_seeds=list(range(fit["seed_offset"], fit["seed_offset"] + fit["n_seeds"])),
                penalty_mode=exp["penalty_mode"], static_penalty=exp.plain("static_penalty"),
                variants=exp.plain("variants"), window=exp["window"], late_steps=exp["late_steps"],
                trace_stride=exp["trace_stride"])
