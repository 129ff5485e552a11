"""Appendix — warm-up (cold-start) ablation, docs/PROTOCOLS.md §A3.

Split and stream
----------------
Test split only, learn and evaluate from step 1: there is NO val warm-up, so the regret includes the
cold-start transient. Per seed ``s = 9000 + i``: ``rng = default_rng(s)``; ``order =
rng.permutation(n_test)`` (the generator's first draw); the router's tie-break generator is a fresh
``default_rng(s)`` (the simulator's run seed). Random: ``rng.integers(0, K, size=n_test)`` continuing
the same generator after the permutation (:func:`cold_start_streams`).

Conditions (λ_c = 0 everywhere)
-------------------------------
=============  ==============================================================================
paretobandit   shipped priors, α = 0.01, n_eff = 1163.9, γ = 0.997 (the router config)
tabula_rasa    no priors (A = λ₀I, b = 0), α = 0.05, γ = 0.997
random         uniform arm per step, no learning (unconstrained regime only)
=============  ==============================================================================

Each learner runs in each regime: ``unconstrained`` (no pacer) and the ADAPTIVE pacer at the tight /
moderate / loose budget (fresh per trial). All learner runs are one batch of
:func:`paretobandit.sim.simulate`.

Metrics (:func:`trial_metrics`)
-------------------------------
Step regret = ``max_a r[i, a] − r[i, chosen]`` (quality-only oracle, also under budgets). Per seed:
total regret, R@200 (regret of the first 200 steps), mean reward, oracle agreement (share of the last
50 steps with ``|r_chosen − oracle| < 1e-9``). :func:`analyse_warmup_ablation` adds the per-condition
statistics and the paired tests of the protocol.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ..errors import ConfigError, DimensionMismatchError, InvalidInputError
from ..sim import simulate
from ..workbench import stats
from .budget_pacing import router_config
from .common import as_price_array, parse_pacer, parse_seeds, resolve_priors

__all__ = [
    "LEARNERS",
    "REGIMES",
    "analyse_warmup_ablation",
    "cold_start_streams",
    "condition_stats",
    "oracle_rewards",
    "run_warmup_ablation",
    "sampled_steps",
    "eval_table",
    "trial_metrics",
    "window_shares",
    "run_from_config",
]

LEARNERS = ("paretobandit", "tabula_rasa")
REGIMES = ("unconstrained", "tight", "moderate", "loose")


def oracle_rewards(rewards) -> np.ndarray:
    """Per-prompt oracle reward ``max_k r[i, k]`` of each table row."""
    r = np.asarray(rewards, dtype=float)
    if r.ndim != 2 or r.shape[0] == 0:
        raise DimensionMismatchError(f"rewards must be a non-empty (n, K) array, got {r.shape}")
    return r.max(axis=1)


def sampled_steps(n: int, n_points: int) -> np.ndarray:
    """Up to ``n_points`` evenly spaced step indices in ``[0, n)``, always including the last one."""
    return np.unique(np.linspace(0, n - 1, max(1, min(int(n_points), n))).round().astype(int))


def cold_start_streams(seeds: Sequence[int], n: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``(orders, random_arms)``, each (S, n): per seed ``g = default_rng(s)``, ``g.permutation(n)``,
    then ``g.integers(0, k, size=n)`` (the Random condition's arms, continuing ``g``)."""
    if int(n) < 1 or int(k) < 1:
        raise ConfigError(f"need n >= 1 prompts and k >= 1 arms, got n={n!r}, k={k!r}")
    orders, picks = [], []
    for s in parse_seeds(seeds):
        g = np.random.default_rng(s)
        orders.append(g.permutation(int(n)))
        picks.append(g.integers(0, int(k), size=int(n)))
    return np.stack(orders).astype(np.intp), np.stack(picks).astype(np.intp)


def eval_table(features, rewards, costs, models: Sequence[str]):
    """Validated test table ``(models, X, R, C)`` (rows aligned, one column per model, d ≥ 2)."""
    models = [str(m) for m in models]
    x, r, c = (np.asarray(a, dtype=float) for a in (features, rewards, costs))
    if x.ndim != 2 or r.ndim != 2 or r.shape[0] != x.shape[0] or c.shape != r.shape:
        raise DimensionMismatchError(
            f"features {x.shape}, rewards {r.shape}, costs {c.shape} must share rows"
        )
    if r.shape[1] != len(models):
        raise DimensionMismatchError(f"{len(models)} models but the tables have {r.shape[1]} columns")
    if x.shape[0] == 0:
        raise InvalidInputError("the test split must be non-empty")
    return models, x, r, c


def window_shares(arm: np.ndarray, k: int, window: int) -> np.ndarray:
    """(K, T) seed-mean share of each arm over the trailing ``window`` steps (fewer at the start)."""
    a = np.asarray(arm)
    onehot = (a[None, :, :] == np.arange(k)[:, None, None]).astype(float)  # (K, S, T)
    cum = np.cumsum(onehot, axis=2)
    lagged = np.concatenate([np.zeros(cum.shape[:2] + (int(window),)), cum], axis=2)[:, :, : a.shape[1]]
    counts = np.minimum(np.arange(1, a.shape[1] + 1), int(window))
    return ((cum - lagged) / counts).mean(axis=1)


def trial_metrics(
    regret: np.ndarray, reward: np.ndarray, hit: np.ndarray, *, r_at: int, agreement_window: int
) -> dict[str, list[float]]:
    """Per-seed metrics of (S, T) step arrays: ``total_regret``, ``r_at`` (Σ of the first ``r_at``
    steps), ``mean_reward`` and ``oracle_agreement`` (mean of ``hit`` over the last window)."""
    return {
        "total_regret": regret.sum(axis=1).tolist(),
        "r_at": regret[:, : int(r_at)].sum(axis=1).tolist(),
        "mean_reward": reward.mean(axis=1).tolist(),
        "oracle_agreement": hit[:, -int(agreement_window) :].mean(axis=1).tolist(),
    }


def _regimes(budgets: Mapping[str, float | None]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for name, b in budgets.items():
        if b is None:
            out[str(name)] = None
            continue
        v = float(b)
        if not np.isfinite(v) or v <= 0:
            raise ConfigError(f"budget {name!r} must be a positive number or null, got {b!r}")
        out[str(name)] = v
    if not out:
        raise ConfigError("at least one regime is needed")
    if sum(v is None for v in out.values()) != 1:
        raise ConfigError("exactly one regime must be unconstrained (budget null): Random runs there")
    return out


def run_warmup_ablation(
    *,
    features_test,
    rewards_test,
    costs_test,
    models: Sequence[str],
    prices,
    budgets: Mapping[str, float | None],
    seeds,
    priors,
    router_params: Mapping | None = None,
    tabula_rasa: Mapping | None = None,
    pacer_params: Mapping | None = None,
    r_at: int = 200,
    agreement_window: int = 50,
    agreement_tol: float = 1e-9,
    trace_points: int = 200,
    share_window: int = 50,
) -> dict:
    """Run every regime × condition × seed of §A3 on the test split; return JSON-able per-seed metrics.

    Parameters
    ----------
    features_test, rewards_test, costs_test : arrays
        Test table (columns follow ``models``; features with the bias last).
    prices : mapping or (K, 2) array
        Registry prices in $/M.
    budgets : mapping regime → $ per request or None
        Exactly one ``None`` (unconstrained, no pacer; the Random condition runs there).
    seeds : sequence of int
        Trial seeds (``9000 + i``).
    priors : path, Priors or (models, A, b)
        The shipped warm-up priors of the ParetoBandit condition.
    router_params, tabula_rasa, pacer_params : mapping
        ParetoBandit RouterConfig fields (λ_c defaults to 0); the ``alpha``/``gamma`` of the no-prior
        condition; the pacer mode and constants.
    r_at, agreement_window, agreement_tol : int, int, float
        R@``r_at``; oracle agreement over the last ``agreement_window`` steps with tolerance.
    trace_points, share_window : int
        Sampled steps of the stored per-seed cumulative-regret curves; window of the arm-share curves.

    Returns
    -------
    dict
        ``cells``: one per regime × condition with ``per_seed`` metrics (:func:`trial_metrics`) and
        ``curves`` (per-seed cumulative regret at ``steps``; seed-mean ``share_window`` arm shares).
    """
    models, x, r, c = eval_table(features_test, rewards_test, costs_test, models)
    n, k = r.shape
    if priors is None:
        raise ConfigError("the warm-up ablation needs the shipped priors of the ParetoBandit condition")
    if not 1 <= int(r_at) <= n or not 1 <= int(agreement_window) <= n:
        raise ConfigError(
            f"r_at and agreement_window must be in [1, {n}], got {r_at!r}, {agreement_window!r}"
        )
    price = as_price_array(prices, models)
    regimes = _regimes(budgets)
    seeds = parse_seeds(seeds)
    cfg = router_config(router_params)
    tr = {"alpha": 0.05, "gamma": 0.997, **dict(tabula_rasa or {})}
    mode, pacer = parse_pacer(pacer_params)
    pri = resolve_priors(priors, models, x.shape[1])

    n_s = len(seeds)
    orders, picks = cold_start_streams(seeds, n, k)
    blocks = [(g, cond) for g in regimes for cond in LEARNERS]
    setup = {
        "paretobandit": (cfg.alpha, cfg.forgetting_factor, cfg.prior_n_effective),
        "tabula_rasa": (float(tr["alpha"]), float(tr["gamma"]), np.nan),
    }
    res = simulate(
        x,
        r,
        c,
        np.tile(orders, (len(blocks), 1)),
        price,
        seeds=seeds * len(blocks),
        alpha=np.repeat([setup[cd][0] for _, cd in blocks], n_s),
        gamma=np.repeat([setup[cd][1] for _, cd in blocks], n_s),
        n_eff=np.repeat([setup[cd][2] for _, cd in blocks], n_s),
        budget=[regimes[g] for g, _ in blocks for _ in range(n_s)],
        pacer_mode=mode,
        priors=pri,
        config=cfg,
        pacer=pacer,
    )

    oracle = oracle_rewards(r)[orders]  # (S, n)
    steps = sampled_steps(n, trace_points)

    def cell(regime, cond, arm, reward, cost):
        regret = oracle - reward
        hit = np.abs(reward - oracle) < float(agreement_tol)
        per_seed = {
            "seed": seeds,
            **trial_metrics(regret, reward, hit, r_at=r_at, agreement_window=agreement_window),
            "mean_cost": cost.mean(axis=1).tolist(),
            "share": {m: (arm == j).mean(axis=1).tolist() for j, m in enumerate(models)},
        }
        shares = window_shares(arm, k, share_window)
        return {
            "regime": regime,
            "budget": regimes[regime],
            "condition": cond,
            "per_seed": per_seed,
            "curves": {
                "cum_regret": np.cumsum(regret, axis=1)[:, steps].tolist(),
                "share": {m: shares[j, steps].tolist() for j, m in enumerate(models)},
            },
        }

    cells = []
    for regime in regimes:
        for cond in LEARNERS:
            rs = slice(blocks.index((regime, cond)) * n_s, (blocks.index((regime, cond)) + 1) * n_s)
            cells.append(cell(regime, cond, res.arm[rs], res.reward[rs], res.cost[rs]))
        if regimes[regime] is None:
            cells.append(cell(regime, "random", picks, r[orders, picks], c[orders, picks]))
    return {
        "experiment": "warmup_ablation",
        "models": models,
        "n_test": int(n),
        "seeds": seeds,
        "budgets": regimes,
        "steps": steps.tolist(),
        "r_at": int(r_at),
        "agreement_window": int(agreement_window),
        "share_window": int(share_window),
        "router_params": cfg.to_dict(),
        "tabula_rasa": {"alpha": float(tr["alpha"]), "gamma": float(tr["gamma"]), "priors": False},
        "pacer_params": {
            "mode": mode,
            "eta": pacer.eta,
            "ema": pacer.ema_alpha,
            "lambda_cap": pacer.lambda_cap,
            "ceiling_multiplier": pacer.ceiling_multiplier,
        },
        "oracle_mean_reward": float(oracle_rewards(r).mean()),
        "cells": cells,
    }


# ------------------------------------------------------------------------------------- statistics
def condition_stats(values: Sequence[float], boot: Mapping) -> dict[str, float]:
    """mean, median, sd (ddof 0), se = sd/√n and the bootstrap CIs of the mean and the median."""
    v = np.asarray(values, dtype=float)
    sd = float(v.std(ddof=0))
    lo, hi = stats.bootstrap_stat_ci(v, "mean", **boot)
    mlo, mhi = stats.bootstrap_stat_ci(v, "median", **boot)
    return {
        "mean": float(v.mean()),
        "median": float(np.median(v)),
        "sd": sd,
        "se": sd / np.sqrt(v.size),
        "ci_low": lo,
        "ci_high": hi,
        "median_ci_low": mlo,
        "median_ci_high": mhi,
    }


def _paired_delta(tr: np.ndarray, w: np.ndarray, boot: Mapping, level: float) -> dict[str, float]:
    d = tr - w
    lo, hi = stats.bootstrap_stat_ci(d, "mean", **{**boot, "confidence_level": level})
    return {"mean": float(d.mean()), "ci_low": lo, "ci_high": hi}


def analyse_warmup_ablation(
    raw: Mapping, *, catastrophic_factor: float = 2.0, alpha: float = 0.05, bootstrap: Mapping | None = None
) -> dict:
    """§A3 statistics: per-condition summaries and the paired Warmup-vs-Tabula-Rasa tests per regime.

    Per regime (paired by seed index): sign test on ``TR − W`` total regret (ties removed, exact
    binomial, one-sided "greater"); catastrophic threshold ``catastrophic_factor`` × the median of the
    pooled 2·S learner regrets, Fisher exact one-sided "less" on the counts above it; Holm over the
    regimes per family; Δ = TR − W (total regret and R@200) with a percentile-bootstrap CI at the
    Bonferroni level ``1 − alpha/m``; regret reduction % = (1 − mean_W/mean_TR)·100; sd_TR/sd_W.
    """
    boot = {"n_resamples": 10_000, "seed": 42, **dict(bootstrap or {})}
    cells = {(c["regime"], c["condition"]): c["per_seed"] for c in raw["cells"]}
    conditions = {}
    for (regime, cond), ps in cells.items():
        conditions.setdefault(regime, {})[cond] = {
            "total_regret": condition_stats(ps["total_regret"], boot),
            "r_at": condition_stats(ps["r_at"], boot),
            "mean_reward": condition_stats(ps["mean_reward"], boot),
            "oracle_agreement": float(np.mean(ps["oracle_agreement"])),
        }
    regimes = list(raw["budgets"])
    level = stats.bonferroni_level(len(regimes), alpha)
    tests = {}
    for regime in regimes:
        w = np.asarray(cells[(regime, "paretobandit")]["total_regret"])
        t = np.asarray(cells[(regime, "tabula_rasa")]["total_regret"])
        sign = stats.sign_test(t - w, "greater")
        threshold = float(catastrophic_factor * np.median(np.concatenate([w, t])))
        w_cat, t_cat = int((w > threshold).sum()), int((t > threshold).sum())
        wr = np.asarray(cells[(regime, "paretobandit")]["r_at"])
        trr = np.asarray(cells[(regime, "tabula_rasa")]["r_at"])
        tests[regime] = {
            "sign_wins": sign["wins"],
            "sign_n": sign["n"],
            "sign_p": sign["p"],
            "cat_threshold": threshold,
            "cat_warmup": w_cat,
            "cat_tabula_rasa": t_cat,
            "fisher_p": stats.fisher_less(w_cat, w.size, t_cat, t.size),
            "delta_regret": _paired_delta(t, w, boot, level),
            "delta_r_at": _paired_delta(trr, wr, boot, level),
            "reduction_pct": float((1.0 - w.mean() / t.mean()) * 100.0),
            "sd_ratio": float(t.std(ddof=0) / w.std(ddof=0)) if w.std(ddof=0) > 0 else float("nan"),
        }
    for key, out in (("sign_p", "sign_p_holm"), ("fisher_p", "fisher_p_holm")):
        for regime, adj in zip(regimes, stats.holm([tests[g][key] for g in regimes]), strict=True):
            tests[regime][out] = adj
    return {"conditions": conditions, "tests": tests, "bonferroni_level": level}


#: ``experiment`` keys read after the run (summaries), not by :func:`run_warmup_ablation`.
REPORT_KEYS = ("bootstrap", "catastrophic_factor", "alpha")


def run_from_config(cfg, *, test=None) -> dict:
    """:func:`run_warmup_ablation` with every argument taken from the composed config ``cfg``
    (``test`` loaded when not given); :class:`~paretobandit.errors.ConfigError` for a missing or unread
    ``experiment`` key."""
    from .binding import Binding

    b = Binding(cfg, "warmup_ablation", REPORT_KEYS)
    exp = b.experiment
    (test,) = b.splits("test", given={"test": test})
    kwargs = dict(models=test.models, prices=b.prices(), budgets=exp.plain("budgets"), seeds=b.seeds(),
                  priors=b.priors(), router_params=b.router_params(), tabula_rasa=exp.plain("tabula_rasa"),
                  pacer_params=b.pacer_params(), r_at=exp["r_at"], agreement_window=exp["agreement_window"],
                  agreement_tol=exp["agreement_tol"], trace_points=exp["trace_points"],
                  share_window=exp["share_window"])
    b.check()
    return run_warmup_ablation(**b.table_kwargs(test=test), **kwargs)
