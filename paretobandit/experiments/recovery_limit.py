"""Appendix — recovery limit under quality degradation (docs/PROTOCOLS.md §A6; notebook 07).

Router: ParetoBandit (warm-up priors, the router config's α, γ and n_eff), λ_c = 0, adaptive pacer at one
budget (the moderate one). Tie-break generator ``default_rng(seed)``.

Phases (fixed across seeds; :func:`recovery_phases`): the test split permuted once with
``default_rng(42)``; P1 = its first ``L`` = 608 prompts, P2 = the next 608, *extra* = the remaining 608.
Standard P3 = the P1 prompts (608 steps); extended P3 = P1 ∪ extra (1,216 distinct prompts,
concatenated in that order before shuffling). The two horizons are separate runs.

Degradation (P2 only, the degraded model only, cost unchanged): a mean shift with clipping,
``r' = clip(r + (f − mean(r_P2)), 0, 1)`` where ``r_P2`` are the degraded model's table rewards on the P2
prompts (:func:`degradation_delta`), so the realised mean is ≥ f.

Per trial (seed ``s``): ``rng = default_rng(s)``; burn-in on the full val split in ``rng.permutation``
order, then P1, P2 and P3 each in ``rng.permutation`` order from the same generator
(:func:`paretobandit.experiments.phased.three_phase_trial_streams`). Just before the first P3 step the
run's λ and ``xᵀA⁻¹x`` of the degraded arm at the first P3 prompt are recorded (diagnostics).

Metrics per seed and phase: mean observed reward (P2 with the degraded rewards), mean cost, arm shares;
a trailing-window reward every ``trace_every`` steps. The level summaries (ratio of seed means, the
degradation %, boundary and floor) live in :mod:`paretobandit.workbench.report_recovery_limit`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from .. import kernels
from ..errors import ConfigError
from ..sim import BatchSimulator, RewardTransform
from .budget_pacing import router_config
from .common import as_price_array, parse_pacer, parse_seeds, prepare_tables, resolve_priors
from .phased import effective_phase_length, three_phase_trial_streams, windowed_mean

__all__ = ["DEFAULT_LEVELS", "degradation_delta", "recovery_phases", "run_recovery_limit", "run_from_config"]

#: §A6: the 11 failure levels f.
DEFAULT_LEVELS = (0.05, 0.10, 0.20, 0.30, 0.40, 0.50, 0.60, 0.70, 0.75, 0.80, 0.85)


def recovery_phases(n_test: int, phase_length: int = 608, seed: int = 42) -> dict[str, np.ndarray]:
    """``{"p1", "p2", "extra"}`` test-row indices: ``default_rng(seed).permutation(n_test)`` split at
    ``L`` and ``2L`` (extra = the rest, truncated to ``L`` rows). ``L`` shrinks to ``n_test // 3`` on
    CI-sized splits so that the extended P3 fits."""
    length = effective_phase_length(n_test, phase_length)
    length = min(length, int(n_test) // 3)
    perm = np.random.default_rng(int(seed)).permutation(int(n_test))
    return {"p1": perm[:length], "p2": perm[length : 2 * length], "extra": perm[2 * length : 3 * length]}


def degradation_delta(rewards, level: float) -> float:
    """Mean shift ``f − mean(r)`` moving the degraded model's P2 rewards ``r`` to mean ``f`` (pre-clip)."""
    r = np.asarray(rewards, dtype=float).ravel()
    if r.size == 0 or not np.isfinite(r).all():
        raise ConfigError("degradation needs a non-empty array of finite rewards")
    f = float(level)
    if not 0.0 <= f <= 1.0:
        raise ConfigError(f"failure level must be in [0, 1], got {level!r}")
    return f - float(np.clip(r, 0.0, 1.0).mean())


def _trace(x: np.ndarray, window: int, every: int) -> tuple[np.ndarray, np.ndarray]:
    """Trailing ``window`` mean sampled every ``every`` steps: (sample steps (end of window), values)."""
    w = min(int(window), x.shape[1])
    win = windowed_mean(x, w)
    idx = np.arange(0, win.shape[1], max(int(every), 1))
    return idx + w - 1, win[:, idx]


def run_recovery_limit(
    *,
    features_val,
    rewards_val,
    costs_val,
    features_test,
    rewards_test,
    costs_test,
    models: Sequence[str],
    prices,
    budget: float,
    seeds: Sequence[int],
    degraded_model: str = "mistralai/mistral-large-2512",
    levels: Sequence[float] = DEFAULT_LEVELS,
    phase_length: int = 608,
    phase_seed: int = 42,
    router_params: Mapping | None = None,
    pacer_params: Mapping | None = None,
    priors=None,
    window: int = 50,
    trace_every: int = 20,
) -> dict:
    """Every level × horizon (standard, extended P3) × seed; JSON-able per-seed metrics.

    Returns
    -------
    dict
        ``runs``: one entry per horizon (``p3_steps`` = L, 2L) with ``cells`` per level holding
        ``per_seed`` ``reward``/``cost`` ``{p1, p2, p3}``, ``share`` ``{phase: [arm][seed]}``,
        ``lambda_p3`` and ``v_p3`` (diagnostics), and a ``trace`` (window mean and sd over seeds).
    """
    models = [str(m) for m in models]
    if degraded_model not in models:
        raise ConfigError(f"degraded model {degraded_model!r} is not in the portfolio {models}")
    arm = models.index(degraded_model)
    tables = prepare_tables(
        models, features_val, rewards_val, costs_val, features_test, rewards_test, costs_test
    )
    n_val, n_test = tables.n_val, tables.n_test
    levels = [float(v) for v in levels]
    if not levels or len(set(levels)) != len(levels) or any(not 0.0 <= v <= 1.0 for v in levels):
        raise ConfigError(f"levels must be distinct rewards in [0, 1], got {levels}")
    b = float(budget)
    if not np.isfinite(b) or b <= 0:
        raise ConfigError(f"budget must be a positive number, got {budget!r}")
    seeds = parse_seeds(seeds)
    price = as_price_array(prices, models)
    cfg = router_config(router_params)
    mode, pacer = parse_pacer(pacer_params)
    pri = resolve_priors(priors, models, tables.d)
    ph = recovery_phases(n_test, phase_length, phase_seed)
    length = ph["p1"].size
    if ph["extra"].size < length:
        raise ConfigError(f"the extended P3 needs 3 x {length} test prompts, have {n_test}")
    r_p2 = tables.rewards[n_val + ph["p2"], arm]
    deltas = [degradation_delta(r_p2, f) for f in levels]
    realised = [float(np.clip(np.clip(r_p2, 0, 1) + d, 0.0, 1.0).mean()) for d in deltas]
    n_s, n_l = len(seeds), len(levels)
    ncost = kernels.normalised_cost(
        kernels.blended_price(price[:, 0], price[:, 1]), cfg.cost_floor, cfg.cost_ceil
    )
    p2_start, p3_start = n_val + length, n_val + 2 * length

    runs = []
    for p3 in (ph["p1"], np.concatenate([ph["p1"], ph["extra"]])):
        base = three_phase_trial_streams(seeds, n_val, [ph["p1"], ph["p2"], p3])
        events = [
            RewardTransform.shifted(
                arm=arm, start=p2_start, stop=p3_start, delta=d, runs=np.arange(i * n_s, (i + 1) * n_s)
            )
            for i, d in enumerate(deltas)
        ]
        sim = BatchSimulator(
            tables.feats,
            tables.rewards,
            tables.costs,
            np.tile(base, (n_l, 1)),
            price,
            seeds=seeds * n_l,
            budget=b,
            pacer_mode=mode,
            priors=pri,
            config=cfg,
            pacer=pacer,
            events=events,
        )
        at_p3 = sim.run(p3_start)
        x = tables.feats[np.tile(base, (n_l, 1))[:, p3_start]]  # first P3 prompt per run
        ainv = at_p3.final["ainv"][:, arm]
        v_p3 = np.einsum("si,sij,sj->s", x, ainv, x)
        del at_p3
        res = sim.run()
        stop = p3_start + p3.size
        seg = {"p1": slice(n_val, p2_start), "p2": slice(p2_start, p3_start), "p3": slice(p3_start, stop)}
        reward = {k: res.reward[:, s].mean(axis=1) for k, s in seg.items()}
        cost = {k: res.cost[:, s].mean(axis=1) for k, s in seg.items()}
        share = {
            k: np.stack([(res.arm[:, s] == a).mean(axis=1) for a in range(len(models))])
            for k, s in seg.items()
        }
        steps, win = _trace(res.reward[:, n_val:stop], window, trace_every)
        lam_p3 = res.lam[:, p3_start]
        cells = []
        for i, f in enumerate(levels):
            rs = slice(i * n_s, (i + 1) * n_s)
            cells.append(
                {
                    "level": f,
                    "delta": deltas[i],
                    "degraded_mean_p2": realised[i],
                    "per_seed": {
                        "reward": {k: v[rs].tolist() for k, v in reward.items()},
                        "cost": {k: v[rs].tolist() for k, v in cost.items()},
                        "share": {k: v[:, rs].tolist() for k, v in share.items()},
                        "lambda_p3": lam_p3[rs].tolist(),
                        "v_p3": v_p3[rs].tolist(),
                    },
                    "trace": {"mean": win[rs].mean(axis=0).tolist(), "sd": win[rs].std(axis=0).tolist()},
                }
            )
        runs.append(
            {
                "p3_steps": int(p3.size),
                "trace_steps": steps.tolist(),
                "phase_bounds_test": [[0, length], [length, 2 * length], [2 * length, 2 * length + p3.size]],
                "cells": cells,
            }
        )
        del res, sim
    return {
        "experiment": "recovery_limit",
        "models": models,
        "degraded_model": degraded_model,
        "levels": levels,
        "budget": b,
        "n_val": int(n_val),
        "n_test": int(n_test),
        "phase_length": int(length),
        "phase_seed": int(phase_seed),
        "seeds": seeds,
        "window": int(min(window, 2 * length + length)),
        "trace_every": int(trace_every),
        "router_params": cfg.to_dict(),
        "pacer_params": {
            "mode": mode,
            "eta": pacer.eta,
            "ema": pacer.ema_alpha,
            "lambda_cap": pacer.lambda_cap,
            "ceiling_multiplier": pacer.ceiling_multiplier,
        },
        "priors": pri is not None,
        "delta_ncost": float(ncost[arm] - ncost.min()),
        "runs": runs,
    }


#: ``experiment`` keys read after the run (summaries), not by :func:`run_recovery_limit`.
REPORT_KEYS = ("bootstrap", "threshold", "bound_level", "budget_name")


def run_from_config(cfg, *, val=None, test=None) -> dict:
    """:func:`run_recovery_limit` with every argument taken from the composed config ``cfg``
    (``val`` / ``test`` loaded when not given); :class:`~paretobandit.errors.ConfigError` for a missing
    or unread ``experiment`` key."""
    from .binding import Binding

    b = Binding(cfg, "recovery_limit", REPORT_KEYS)
    exp = b.experiment
    val, test = b.splits("val", "test", given={"val": val, "test": test})
    kwargs = dict(models=val.models, prices=b.prices(), budget=exp["budget"], seeds=b.seeds(),
                  degraded_model=exp["degraded_model"], levels=exp["levels"],
                  phase_length=exp["phase_length"], phase_seed=exp["phase_seed"],
                  router_params=b.router_params(), pacer_params=b.pacer_params(), priors=b.priors(),
                  window=exp["window"], trace_every=exp["trace_every"])
    b.check()
    return run_recovery_limit(**b.table_kwargs(val, test), **kwargs)
