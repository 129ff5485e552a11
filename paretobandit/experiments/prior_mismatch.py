"""Appendix — prior-mismatch sensitivity, docs/PROTOCOLS.md §A4.

Regime and stream
-----------------
Unconstrained (no pacer), λ_c = 0, test split only, learn-and-evaluate from step 1 (no val warm-up):
the trial loop of §A3 (:func:`paretobandit.experiments.warmup_ablation.cold_start_streams`; seeds
``9000 + i``, order = first permutation of ``default_rng(s)``, tie-break generator a fresh
``default_rng(s)``).

Priors
------
The five prior-quality levels are stored statistics (``A_off = 0.1·(I + Σxxᵀ)``, ``b_off = 0.1·Σrx``
over train rows), read with :func:`paretobandit.priors.load_priors` from a path each:
``calibrated`` (the shipped ``priors_k3_d26.npz``), ``random_1680``, ``mmlu_only``, ``gsm8k_only``,
``inverted`` (the upstream authors' ``priors_mismatch_*.npz``). n_eff enters only through the loading
rescale ``s = n_eff / A_off[d, d]``.

Conditions (17)
---------------
Each prior × n_eff ∈ {10, 100, 1000} with α = 0.01, γ = 0.997; ``tabula_rasa`` (production baseline,
no priors, α = 0.05) and ``tabula_rasa_matched`` (no priors, α = 0.01). One batch of the simulator
(per-run priors, α and n_eff).

Statistics (:func:`analyse_prior_mismatch`)
-------------------------------------------
Per condition: total regret, R@200, mean reward — mean, median, sd (ddof 0), se, bootstrap CIs of the
mean and the median. Each prior condition vs each baseline (paired by seed): two-sided exact sign test
(wins = seeds with lower regret than the baseline, ties removed); Fisher exact one-sided "less" on
catastrophic seeds (threshold 2 × median of the γ-matched TR — the stored code; the text's
2 × median of the production TR is reported beside it as ``text`` variant); Holm over the 15 comparisons
per baseline and family; Δmean, Δmedian of the per-seed differences. Derived numbers vs the production
TR median: reduction % with a paired bootstrap CI (one index matrix for both arrays), excess and
increase %.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ..errors import ConfigError
from ..priors import load_priors
from ..sim import Priors, simulate
from ..workbench import stats
from .budget_pacing import router_config
from .common import align_priors, as_price_array, parse_seeds
from .warmup_ablation import cold_start_streams, condition_stats, eval_table, oracle_rewards, trial_metrics

__all__ = ["BASELINES", "PRIOR_LEVELS", "analyse_prior_mismatch", "load_prior_levels", "run_from_config",
           "run_prior_mismatch"]

PRIOR_LEVELS = ("calibrated", "random_1680", "mmlu_only", "gsm8k_only", "inverted")
BASELINES = ("tabula_rasa", "tabula_rasa_matched")


def load_prior_levels(paths: Mapping[str, str], models: Sequence[str]) -> dict[str, Priors]:
    """``{level: Priors}`` in ``models`` column order, each read from its path by
    :func:`paretobandit.priors.load_priors` (raw offline statistics; no rescaling here)."""
    if not paths:
        raise ConfigError("at least one prior level is needed")
    out = {}
    for name, path in paths.items():
        prior_models, a_off, b_off, _ = load_priors(path)
        missing = [m for m in models if m not in prior_models]
        if missing:
            raise ConfigError(f"prior {name!r} ({path}) has no statistics for {missing}")
        out[str(name)] = align_priors(prior_models, a_off, b_off, models)
    return out


def run_prior_mismatch(
    *,
    features_test,
    rewards_test,
    costs_test,
    models: Sequence[str],
    prices,
    seeds,
    prior_levels: Mapping[str, Priors],
    n_effs: Sequence[float] = (10.0, 100.0, 1000.0),
    alpha: float = 0.01,
    gamma: float = 0.997,
    baselines: Mapping[str, Mapping] | None = None,
    router_params: Mapping | None = None,
    r_at: int = 200,
) -> dict:
    """Every prior level × n_eff and every no-prior baseline × seed of §A4; JSON-able per-seed metrics.

    Parameters
    ----------
    features_test, rewards_test, costs_test : arrays
        Test table (columns follow ``models``; features with the bias last).
    prices : mapping or (K, 2) array
        Registry prices in $/M (no pacer runs; prices do not enter the score at λ_c = 0).
    seeds : sequence of int
        Trial seeds (``9000 + i``).
    prior_levels : mapping name → Priors
        Offline statistics in column order (:func:`load_prior_levels`).
    n_effs, alpha, gamma : floats
        Prior strengths and the α, γ of the prior conditions.
    baselines : mapping name → {alpha, gamma}
        No-prior conditions (default: ``tabula_rasa`` α = 0.05 and ``tabula_rasa_matched`` α = 0.01).
    router_params : mapping
        Other RouterConfig fields (λ_c defaults to 0).
    r_at : int
        R@``r_at``.

    Returns
    -------
    dict
        ``cells``: one per condition (``prior``, ``n_eff`` — None for baselines —, ``alpha``,
        ``per_seed`` metrics of :func:`~paretobandit.experiments.warmup_ablation.trial_metrics`).
    """
    models, x, r, c = eval_table(features_test, rewards_test, costs_test, models)
    n, k = r.shape
    d = x.shape[1]
    price = as_price_array(prices, models)
    seeds = parse_seeds(seeds)
    n_effs = [float(v) for v in n_effs]
    if not n_effs or any(not np.isfinite(v) or v <= 0 for v in n_effs) or not prior_levels:
        raise ConfigError("prior_mismatch needs prior levels and positive n_eff values")
    if not 1 <= int(r_at) <= n:
        raise ConfigError(f"r_at must be in [1, {n}], got {r_at!r}")
    base = {
        "tabula_rasa": {"alpha": 0.05, "gamma": 0.997},
        "tabula_rasa_matched": {"alpha": 0.01, "gamma": 0.997},
    }
    if baselines is not None:
        base = {str(b): dict(v) for b, v in baselines.items()}
    cfg = router_config(router_params)
    for name, p in prior_levels.items():
        if np.shape(p.a_off) != (k, d, d):
            raise ConfigError(f"prior {name!r} must be (K={k}, d={d}, d) statistics, got {np.shape(p.a_off)}")

    blocks = [(name, v, float(alpha), float(gamma)) for name in prior_levels for v in n_effs]
    blocks += [(b, None, float(v["alpha"]), float(v["gamma"])) for b, v in base.items()]
    n_s = len(seeds)
    eye = np.broadcast_to(np.eye(d), (k, d, d))
    a_off = np.stack([prior_levels[nm].a_off if v is not None else eye for nm, v, _, _ in blocks])
    b_off = np.stack(
        [prior_levels[nm].b_off if v is not None else np.zeros((k, d)) for nm, v, _, _ in blocks]
    )
    mask = np.stack(
        [
            np.ones(k, bool)
            if v is None or prior_levels[nm].mask is None
            else np.asarray(prior_levels[nm].mask, bool)
            for nm, v, _, _ in blocks
        ]
    )
    pri = Priors(
        a_off=np.repeat(a_off, n_s, axis=0),
        b_off=np.repeat(b_off, n_s, axis=0),
        mask=np.repeat(mask, n_s, axis=0),
    )
    orders, _ = cold_start_streams(seeds, n, k)
    res = simulate(
        x,
        r,
        c,
        np.tile(orders, (len(blocks), 1)),
        price,
        seeds=seeds * len(blocks),
        alpha=np.repeat([b[2] for b in blocks], n_s),
        gamma=np.repeat([b[3] for b in blocks], n_s),
        n_eff=np.repeat([np.nan if b[1] is None else b[1] for b in blocks], n_s),
        budget=None,
        priors=pri,
        config=cfg,
    )
    oracle = oracle_rewards(r)[orders]
    cells = []
    for i, (name, v, a, g) in enumerate(blocks):
        rs = slice(i * n_s, (i + 1) * n_s)
        reward = res.reward[rs]
        hit = np.abs(reward - oracle) < 1e-9
        cells.append(
            {
                "prior": name,
                "n_eff": v,
                "alpha": a,
                "gamma": g,
                "per_seed": {
                    "seed": seeds,
                    **trial_metrics(oracle - reward, reward, hit, r_at=r_at, agreement_window=min(50, n)),
                },
            }
        )
    return {
        "experiment": "prior_mismatch",
        "models": models,
        "n_test": int(n),
        "seeds": seeds,
        "prior_levels": list(prior_levels),
        "baselines": list(base),
        "n_effs": n_effs,
        "r_at": int(r_at),
        "router_params": cfg.to_dict(),
        "oracle_mean_reward": float(oracle_rewards(r).mean()),
        "cells": cells,
    }


def _compare(cond: np.ndarray, ref: np.ndarray, threshold: float) -> dict:
    sign = stats.sign_test(ref - cond, "two-sided")  # win: cond has the lower regret
    cat_c, cat_r = int((cond > threshold).sum()), int((ref > threshold).sum())
    diff = cond - ref
    return {
        "sign_wins": sign["wins"],
        "sign_n": sign["n"],
        "sign_p": sign["p"],
        "cat_cond": cat_c,
        "cat_base": cat_r,
        "fisher_p": stats.fisher_less(cat_c, cond.size, cat_r, ref.size),
        "delta_mean": float(diff.mean()),
        "delta_median": float(np.median(diff)),
    }


def analyse_prior_mismatch(
    raw: Mapping,
    *,
    catastrophic_factor: float = 2.0,
    catastrophic_reference: str = "tabula_rasa_matched",
    headline_baseline: str = "tabula_rasa",
    bootstrap: Mapping | None = None,
) -> dict:
    """§A4 statistics (module docstring): per-condition summaries, the pairwise tests against each
    baseline with Holm per baseline and family, and the derived numbers vs ``headline_baseline``.

    ``catastrophic_reference`` is the baseline whose median sets the stored threshold; the ``text``
    variant uses ``headline_baseline`` instead.
    """
    boot = {"n_resamples": 10_000, "seed": 42, **dict(bootstrap or {})}
    key = {(c["prior"], c["n_eff"]): c for c in raw["cells"]}
    regret = {kk: np.asarray(c["per_seed"]["total_regret"]) for kk, c in key.items()}
    conditions = [
        {
            "prior": c["prior"],
            "n_eff": c["n_eff"],
            "total_regret": condition_stats(c["per_seed"]["total_regret"], boot),
            "r_at": condition_stats(c["per_seed"]["r_at"], boot),
            "mean_reward": condition_stats(c["per_seed"]["mean_reward"], boot),
        }
        for c in raw["cells"]
    ]
    baselines = list(raw["baselines"])
    if catastrophic_reference not in baselines or headline_baseline not in baselines:
        raise ConfigError(
            f"baselines {baselines} must include {catastrophic_reference!r} and {headline_baseline!r}"
        )
    thresholds = {
        "code": float(catastrophic_factor * np.median(regret[(catastrophic_reference, None)])),
        "text": float(catastrophic_factor * np.median(regret[(headline_baseline, None)])),
    }
    priors = [kk for kk in key if kk[1] is not None]
    tests: dict = {}
    for variant, thr in thresholds.items():
        for b in baselines:
            ref = regret[(b, None)]
            rows = {kk: _compare(regret[kk], ref, thr) for kk in priors}
            for fam in ("sign_p", "fisher_p"):
                for kk, adj in zip(priors, stats.holm([rows[kk][fam] for kk in priors]), strict=True):
                    rows[kk][f"{fam}_holm"] = adj
            tests.setdefault(variant, {})[b] = [
                {"prior": kk[0], "n_eff": kk[1], **v} for kk, v in rows.items()
            ]
    between = {
        v: _compare(regret[(baselines[1], None)], regret[(baselines[0], None)], thr)
        for v, thr in thresholds.items()
    }
    tr = regret[(headline_baseline, None)]
    tr_med = float(np.median(tr))
    derived = []
    for kk in priors:
        cond = regret[kk]
        red_lo, red_hi = stats.paired_bootstrap_ci(
            cond, tr, lambda a, b: (1.0 - np.median(a, axis=1) / np.median(b, axis=1)) * 100.0, **boot
        )
        exc_lo, exc_hi = stats.paired_bootstrap_ci(
            cond, tr, lambda a, b: np.median(a, axis=1) - np.median(b, axis=1), **boot
        )
        med = float(np.median(cond))
        derived.append(
            {
                "prior": kk[0],
                "n_eff": kk[1],
                "reduction_pct": (1.0 - med / tr_med) * 100.0,
                "reduction_ci_low": red_lo,
                "reduction_ci_high": red_hi,
                "excess": med - tr_med,
                "excess_ci_low": exc_lo,
                "excess_ci_high": exc_hi,
                "increase_pct": (med / tr_med - 1.0) * 100.0,
            }
        )
    sds = [float(regret[kk].std(ddof=0)) for kk in priors if kk[0] != "inverted"]
    return {
        "conditions": conditions,
        "thresholds": thresholds,
        "tests": tests,
        "baseline_vs_baseline": between,
        "derived": derived,
        "headline_baseline": headline_baseline,
        "tr_median": tr_med,
        "non_inverted_sd_range": [min(sds), max(sds)] if sds else None,
    }


#: ``experiment`` keys read after the run (summaries), not by :func:`run_prior_mismatch`.
REPORT_KEYS = ("bootstrap", "catastrophic_factor", "catastrophic_reference", "headline_baseline")


def run_from_config(cfg, *, test=None) -> dict:
    """:func:`run_prior_mismatch` with every argument taken from the composed config ``cfg`` (``test``
    loaded when not given; the prior levels read from ``experiment.priors``);
    :class:`~paretobandit.errors.ConfigError` for a missing or unread ``experiment`` key."""
    from .binding import Binding

    b = Binding(cfg, "prior_mismatch", REPORT_KEYS)
    exp = b.experiment
    (test,) = b.splits("test", given={"test": test})
    levels = load_prior_levels({k: b.path(v) for k, v in exp.plain("priors").items()}, test.models)
    kwargs = dict(models=test.models, prices=b.prices(), seeds=b.seeds(), prior_levels=levels,
                  n_effs=exp["n_effs"], alpha=exp["alpha"], gamma=exp["gamma"],
                  baselines=exp.plain("baselines"), router_params=b.router_params(), r_at=exp["r_at"])
    b.check()
    return run_prior_mismatch(**b.table_kwargs(test=test), **kwargs)
