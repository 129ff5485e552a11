"""Appendix — judge robustness, docs/PROTOCOLS.md §A5.

The cross-judge files ``cross_judge_{judge}_{split}.jsonl`` hold 2,000 prompts (672 val + 1,328 test, the
same prompts in the same order for every judge) × 3 models scored by DeepSeek-R1 (``r1``, the dataset
reward), GPT-4.1-mini (``gpt_mini``) and Claude-3.7-Sonnet (``claude``).

(I) Agreement — :func:`agreement_analysis`, on the POOLED 2,000 prompts (val then test)
    per-response agreement with R1 over the 6,000 cells (Pearson, Spearman, Kendall τ-b, Lin's CCC with
    ddof-1 moments, bias, MAD, Bland–Altman limits and empirical 2.5/97.5 % differences); the expected-reward
    ordering with bootstrap CIs of per-prompt pair differences (95 % and Bonferroni 1 − 0.05/9); gap
    statistics; the cross-judge oracle matrix (argmax in arm order, first maximum) with capture % from
    4-dp rounded means and the oracle lift; the three-judge panel (margins, compression, SNR, actionable
    share); and the R1-gap-binned Kendall-W table (:func:`kendall_w`, no tie correction).
(II) Cold-start regret — :func:`run_cross_judge_regret`
    Tabula Rasa only (α = 0.05, γ = 0.997, λ_c = 0) under each judge's rewards; budgets unconstrained and
    the ADAPTIVE pacer at tight / moderate / loose. Per seed ``s = 11000 + i``: tie-break generator
    ``default_rng(s + 1,000,000)``; burn-in on val in ``default_rng(s).permutation(672)`` order (learning
    and pacer, no metrics); test order ``default_rng(s + 2,000,000).permutation(1328)``; regret vs the
    judge's own per-prompt oracle. Random: ``default_rng(s).choice(3, 1328)`` (a fresh generator) in the
    same test order, no pacer, the same numbers for every budget. One set of features (R1's prompts).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import combinations

import numpy as np
from scipy import stats as sps

from ..errors import ConfigError, DataError, DimensionMismatchError
from ..sim import simulate
from ..workbench import stats
from .budget_pacing import router_config
from .common import as_price_array, parse_pacer, parse_seeds

__all__ = [
    "GAP_BINS",
    "JUDGES",
    "agreement_analysis",
    "load_judge_features",
    "kendall_w",
    "lins_ccc",
    "load_judge_tables",
    "regret_statistics",
    "run_cross_judge_regret",
    "run_judge_robustness",
    "run_from_config",
]

JUDGES = ("r1", "gpt_mini", "claude")
GAP_BINS = (0.0, 0.05, 0.10, 0.20, 0.30, 1.00)


def lins_ccc(x: Sequence[float], y: Sequence[float]) -> float:
    """Lin's concordance ``2·s_xy / (s_x² + s_y² + (x̄ − ȳ)²)`` with ddof-1 (co)variances (§A5)."""
    x, y = np.asarray(x, dtype=float).ravel(), np.asarray(y, dtype=float).ravel()
    if x.shape != y.shape or x.size < 2:
        raise DimensionMismatchError(
            f"need two equal-length samples of >= 2 values, got {x.shape}, {y.shape}"
        )
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ConfigError("lins_ccc needs finite values")
    sxy = np.cov(x, y, ddof=1)[0, 1]
    den = x.var(ddof=1) + y.var(ddof=1) + (x.mean() - y.mean()) ** 2
    return float(2.0 * sxy / den) if den > 0 else float("nan")


def kendall_w(ranks: np.ndarray) -> np.ndarray:
    """Kendall's W per prompt of (n_prompts, m raters, n items) ranks, no tie correction:
    ``W = 12·S / (m²(n³ − n))`` with ``S`` the squared deviations of the rank sums from their mean."""
    r = np.asarray(ranks, dtype=float)
    if r.ndim != 3:
        raise DimensionMismatchError(f"ranks must be (prompts, raters, items), got {r.shape}")
    _, m, n = r.shape
    tot = r.sum(axis=1)
    s = ((tot - tot.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)
    return 12.0 * s / (m * m * (n**3 - n))


def load_judge_tables(
    pattern: str,
    *,
    judges: Sequence[str] = JUDGES,
    splits: Sequence[str] = ("val", "test"),
    models: Sequence[str] | None = None,
    max_rows: int | None = None,
) -> dict:
    """``{split: {judge: {prompts, rewards (n, K), costs (n, K)}}, "models"}`` from ``pattern.format(judge,
    split)`` table names/paths, columns in ``models`` order (default: the first table's); every judge of a
    split must have the same prompts in the same order. ``max_rows`` keeps the first rows (CI scale)."""
    from ..data import load_reward_table

    rows = slice(None) if max_rows is None else slice(0, int(max_rows))
    out: dict = {}
    for split in splits:
        ref = None
        for judge in judges:
            t = load_reward_table(str(pattern).format(judge=judge, split=split))
            models = list(t.models) if models is None else [str(m) for m in models]
            cols = [t.column(m) for m in models]
            if ref is None:
                ref = t.prompts
            elif t.prompts != ref:
                raise DataError(f"{split}: judge {judge!r} does not have the same prompts in the same order")
            out.setdefault(str(split), {})[str(judge)] = {
                "prompts": t.prompts[rows],
                "rewards": t.rewards[rows][:, cols],
                "costs": t.costs[rows][:, cols],
            }
    out["models"] = models
    return out


def load_judge_features(
    pattern: str,
    *,
    judge: str = "r1",
    splits: Sequence[str] = ("val", "test"),
    max_rows: int | None = None,
) -> dict[str, np.ndarray]:
    """Features of the cross-judge prompts, ``{split: (n, d)}``, from the canonical feature artifact.

    The prompts of ``pattern.format(judge=judge, split=...)`` are looked up by prompt hash in the
    ``judges`` set of the canonical artifact (:mod:`paretobandit.canonical`: MiniLM → reference PCA →
    whitening → bias, made once, checksummed), so no machine re-embeds them. ``max_rows`` keeps the
    first rows.
    """
    from ..data import load_features

    names = [str(pattern).format(judge=judge, split=s) for s in splits]
    rows = slice(None) if max_rows is None else slice(0, int(max_rows))
    return {s: load_features(n)[rows] for s, n in zip(splits, names, strict=True)}


# ------------------------------------------------------------------------------------- (I) agreement
def _agreement(judge: np.ndarray, ref: np.ndarray) -> dict:
    x, y = ref.ravel(), judge.ravel()
    diff = y - x
    sd = float(diff.std(ddof=1))
    lo, hi = np.percentile(diff, [2.5, 97.5])
    return {
        "pearson": float(sps.pearsonr(x, y).statistic),
        "spearman": float(sps.spearmanr(x, y).statistic),
        "kendall": float(sps.kendalltau(x, y).statistic),
        "ccc": lins_ccc(x, y),
        "bias": float(diff.mean()),
        "mad": float(np.abs(diff).mean()),
        "ba_low": float(diff.mean() - 1.96 * sd),
        "ba_high": float(diff.mean() + 1.96 * sd),
        "diff_p2_5": float(lo),
        "diff_p97_5": float(hi),
    }


def _snr(margin: np.ndarray) -> float:
    """mean / sd (ddof 0) of per-prompt margins; NaN when every margin is equal."""
    sd = float(margin.std(ddof=0))
    return float(margin.mean() / sd) if sd > 0 else float("nan")


def _margin(r: np.ndarray) -> np.ndarray:
    s = np.sort(r, axis=1)
    return s[:, -1] - s[:, -2]


def agreement_analysis(
    rewards: Mapping[str, np.ndarray],
    models: Sequence[str],
    *,
    reference: str = "r1",
    gap_bins: Sequence[float] = GAP_BINS,
    actionable_margin: float = 0.05,
    alpha: float = 0.05,
    bootstrap: Mapping | None = None,
) -> dict:
    """Part (I) of §A5 on pooled ``{judge: (n, K)}`` reward tables (module docstring)."""
    boot = {"n_resamples": 10_000, "seed": 42, **dict(bootstrap or {})}
    judges = list(rewards)
    if reference not in judges:
        raise ConfigError(f"reference judge {reference!r} not among {judges}")
    r = {j: np.asarray(v, dtype=float) for j, v in rewards.items()}
    shapes = {v.shape for v in r.values()}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2 or next(iter(shapes))[1] != len(models):
        raise DimensionMismatchError(f"judge tables must share one (n, K={len(models)}) shape, got {shapes}")
    ref = r[reference]
    agreement = {j: _agreement(r[j], ref) for j in judges if j != reference}

    n_pairs = len(judges) * len(list(combinations(range(len(models)), 2)))
    level = stats.bonferroni_level(n_pairs, alpha)
    ordering = {}
    for j in judges:
        means = r[j].mean(axis=0)
        order = np.argsort(-means, kind="stable")
        pairs = []
        for a, b in combinations(order, 2):  # (higher, lower) by mean
            d = r[j][:, a] - r[j][:, b]
            lo, hi = stats.bootstrap_stat_ci(d, "mean", **boot)
            blo, bhi = stats.bootstrap_stat_ci(d, "mean", **{**boot, "confidence_level": level})
            pairs.append(
                {
                    "higher": models[a],
                    "lower": models[b],
                    "mean_diff": float(d.mean()),
                    "ci_low": lo,
                    "ci_high": hi,
                    "bonf_low": blo,
                    "bonf_high": bhi,
                    "significant": bool(blo > 0),
                }
            )
        gap = r[j].max(axis=1) - r[j].min(axis=1)
        ordering[j] = {
            "means": dict(zip(models, means.tolist(), strict=True)),
            "order": [models[i] for i in order],
            "pairs": pairs,
            "gap_mean": float(gap.mean()),
            "gap_median": float(np.median(gap)),
        }
    min_bonf = float(min(p["bonf_low"] for o in ordering.values() for p in o["pairs"]))

    choice = {j: np.argmax(r[j], axis=1) for j in judges}  # first maximum = cheaper arm
    idx = np.arange(ref.shape[0])
    own = {j: round(float(r[j].max(axis=1).mean()), 4) for j in judges}
    oracle = []
    for t in judges:
        for e in judges:
            v = r[e][idx, choice[t]]
            lo, hi = stats.bootstrap_stat_ci(v, "mean", **boot)
            oracle.append(
                {
                    "judge": t,
                    "eval_judge": e,
                    "mean_reward": float(v.mean()),
                    "ci_low": lo,
                    "ci_high": hi,
                    "capture_pct": round(float(v.mean()), 4) / own[e] * 100.0,
                }
            )
    lift = {j: float(r[j].max(axis=1).mean() - r[j].mean(axis=0).max()) for j in judges}

    panel = np.mean([r[j] for j in judges], axis=0)
    m_ref, m_pan = _margin(ref), _margin(panel)
    gap_ref = ref.max(axis=1) - ref.min(axis=1)
    gap_pan = panel.max(axis=1) - panel.min(axis=1)
    panel_stats = {
        "margin_r1": float(m_ref.mean()),
        "margin_panel": float(m_pan.mean()),
        "compression_pct": float((1.0 - m_pan.mean() / m_ref.mean()) * 100.0),
        "fraction_compressed_pct": float((gap_pan < gap_ref).mean() * 100.0),
        "best_agreement_pct": float((np.argmax(panel, axis=1) == choice[reference]).mean() * 100.0),
        "snr_r1": _snr(m_ref),
        "snr_panel": _snr(m_pan),
        "actionable_r1_pct": float((m_ref >= actionable_margin).mean() * 100.0),
        "actionable_panel_pct": float((m_pan >= actionable_margin).mean() * 100.0),
    }

    ranks = np.stack([sps.rankdata(r[j], axis=1) for j in judges], axis=1)  # (n, m, K), average ranks
    w = kendall_w(ranks)
    edges = np.asarray(gap_bins, dtype=float)
    which = np.clip(np.searchsorted(edges, gap_ref, side="right") - 1, 0, len(edges) - 2)
    bins = []
    for b in range(len(edges) - 1):
        sel = which == b
        row = {
            "low": float(edges[b]),
            "high": float(edges[b + 1]),
            "n": int(sel.sum()),
            "kendall_w": float(w[sel].mean()) if sel.any() else float("nan"),
        }
        for j in judges:
            if j != reference:
                row[f"best_agree_{j}"] = (
                    float((choice[j][sel] == choice[reference][sel]).mean()) if sel.any() else float("nan")
                )
        bins.append(row)
    return {
        "n_prompts": int(ref.shape[0]),
        "reference": reference,
        "agreement": agreement,
        "ordering": ordering,
        "bonferroni_level": level,
        "min_bonferroni_low": min_bonf,
        "oracle": oracle,
        "oracle_lift": lift,
        "panel": panel_stats,
        "gap_bins": bins,
    }


# ------------------------------------------------------------------------------------- (II) regret
def run_cross_judge_regret(
    tables: Mapping,
    features: Mapping[str, np.ndarray],
    *,
    prices,
    seeds,
    budgets: Mapping[str, float | None],
    judges: Sequence[str] = JUDGES,
    tabula_rasa: Mapping | None = None,
    router_params: Mapping | None = None,
    pacer_params: Mapping | None = None,
    tiebreak_offset: int = 1_000_000,
    test_order_offset: int = 2_000_000,
) -> dict:
    """Part (II) of §A5: Tabula Rasa and Random cold-start regret under each judge (module docstring).

    Parameters
    ----------
    tables : output of :func:`load_judge_tables` (``val`` and ``test`` splits)
    features : ``{"val": (n_val, d), "test": (n_test, d)}`` (one set, shared by all judges)
    budgets : mapping name → $ per request or None (no pacer)

    Returns
    -------
    dict
        ``cells``: one per judge × budget × method with per-seed ``total_regret``, ``mean_reward``.
    """
    models = list(tables["models"])
    seeds = parse_seeds(seeds)
    xv, xt = np.asarray(features["val"], dtype=float), np.asarray(features["test"], dtype=float)
    feats = np.vstack([xv, xt])
    n_val, n_test, k = xv.shape[0], xt.shape[0], len(models)
    price = as_price_array(prices, models)
    tr = {"alpha": 0.05, "gamma": 0.997, **dict(tabula_rasa or {})}
    cfg = router_config(router_params)
    mode, pacer = parse_pacer(pacer_params)
    names = [str(b) for b in budgets]
    bvals = [None if budgets[b] is None else float(budgets[b]) for b in budgets]
    n_s = len(seeds)
    streams = np.stack(
        [
            np.concatenate(
                [
                    np.random.default_rng(s).permutation(n_val),
                    n_val + np.random.default_rng(s + test_order_offset).permutation(n_test),
                ]
            )
            for s in seeds
        ]
    ).astype(np.intp)
    picks = np.stack([np.random.default_rng(s).choice(k, n_test) for s in seeds])
    test_rows = streams[:, n_val:] - n_val
    cells = []
    for j in judges:
        rv, rt = tables["val"][j]["rewards"], tables["test"][j]["rewards"]
        cv, ct = tables["val"][j]["costs"], tables["test"][j]["costs"]
        if rv.shape != (n_val, k) or rt.shape != (n_test, k):
            raise DimensionMismatchError(
                f"judge {j!r}: reward tables {rv.shape}/{rt.shape} do not match the "
                f"features ({n_val}/{n_test} rows, K = {k})"
            )
        rewards, costs = np.vstack([rv, rt]), np.vstack([cv, ct])
        res = simulate(
            feats,
            rewards,
            costs,
            np.tile(streams, (len(names), 1)),
            price,
            seeds=[s + tiebreak_offset for s in seeds] * len(names),
            alpha=float(tr["alpha"]),
            gamma=float(tr["gamma"]),
            budget=[b for b in bvals for _ in range(n_s)],
            pacer_mode=mode,
            priors=None,
            config=cfg,
            pacer=pacer,
        )
        oracle = rt.max(axis=1)[test_rows]
        rand = rt[test_rows, picks]
        for i, b in enumerate(names):
            reward = res.reward[i * n_s : (i + 1) * n_s, n_val:]
            cells.append(
                {
                    "judge": j,
                    "budget": b,
                    "budget_value": bvals[i],
                    "method": "tabula_rasa",
                    "per_seed": {
                        "seed": seeds,
                        "total_regret": (oracle - reward).sum(axis=1).tolist(),
                        "mean_reward": reward.mean(axis=1).tolist(),
                        "mean_cost": res.cost[i * n_s : (i + 1) * n_s, n_val:].mean(axis=1).tolist(),
                    },
                }
            )
            cells.append(
                {
                    "judge": j,
                    "budget": b,
                    "budget_value": bvals[i],
                    "method": "random",
                    "per_seed": {
                        "seed": seeds,
                        "total_regret": (oracle - rand).sum(axis=1).tolist(),
                        "mean_reward": rand.mean(axis=1).tolist(),
                    },
                }
            )
    return {
        "models": models,
        "n_val": int(n_val),
        "n_test": int(n_test),
        "seeds": seeds,
        "judges": list(judges),
        "budgets": dict(zip(names, bvals, strict=True)),
        "tabula_rasa": {"alpha": float(tr["alpha"]), "gamma": float(tr["gamma"])},
        "cells": cells,
    }


def regret_statistics(raw: Mapping, *, reference: str = "r1", bootstrap: Mapping | None = None) -> list[dict]:
    """Per (judge, budget, method): mean regret, se (ddof 1), bootstrap CI; for Tabula Rasa also the
    reduction vs Random (CI = bootstrap of per-seed ``(1 − TR_s/Rand_s)·100``), the ratio to the reference
    judge (CI = bootstrap of per-seed ratios) and the Random-regret compression vs the reference."""
    boot = {"n_resamples": 10_000, "seed": 42, **dict(bootstrap or {})}
    cell = {
        (c["judge"], c["budget"], c["method"]): np.asarray(c["per_seed"]["total_regret"])
        for c in raw["cells"]
    }
    out = []
    for (j, b, m), v in cell.items():
        lo, hi = stats.bootstrap_stat_ci(v, "mean", **boot)
        row = {
            "judge": j,
            "budget": b,
            "method": m,
            "regret_mean": float(v.mean()),
            "regret_se": float(v.std(ddof=1) / np.sqrt(v.size)) if v.size > 1 else float("nan"),
            "regret_ci_low": lo,
            "regret_ci_high": hi,
        }
        if m == "tabula_rasa":
            rnd, ref = cell[(j, b, "random")], cell[(reference, b, "tabula_rasa")]
            red = (1.0 - v / rnd) * 100.0
            rlo, rhi = stats.bootstrap_stat_ci(red, "mean", **boot)
            ratio = v / ref
            qlo, qhi = stats.bootstrap_stat_ci(ratio, "mean", **boot)
            row.update(
                reduction_pct=float((1.0 - v.mean() / rnd.mean()) * 100.0),
                reduction_ci_low=rlo,
                reduction_ci_high=rhi,
                ratio_to_r1=float(v.mean() / ref.mean()),
                ratio_ci_low=qlo,
                ratio_ci_high=qhi,
            )
        else:
            ref = cell[(reference, b, "random")]
            row["random_compression_pct"] = float((1.0 - v.mean() / ref.mean()) * 100.0)
        out.append(row)
    return out


def run_judge_robustness(
    tables: Mapping,
    features: Mapping[str, np.ndarray],
    *,
    prices,
    seeds,
    budgets: Mapping[str, float | None],
    judges: Sequence[str] = JUDGES,
    reference: str = "r1",
    gap_bins: Sequence[float] = GAP_BINS,
    actionable_margin: float = 0.05,
    alpha: float = 0.05,
    bootstrap: Mapping | None = None,
    **regret_kwargs,
) -> dict:
    """Both parts of §A5: ``{"agreement": agreement_analysis(pooled splits), "regret":
    run_cross_judge_regret(...)}``; the agreement pools the splits of ``tables`` in their order."""
    splits = [s for s in tables if s != "models"]
    pooled = {j: np.vstack([tables[s][j]["rewards"] for s in splits]) for j in judges}
    agreement = agreement_analysis(
        pooled,
        tables["models"],
        reference=reference,
        gap_bins=gap_bins,
        actionable_margin=actionable_margin,
        alpha=alpha,
        bootstrap=bootstrap,
    )
    regret = run_cross_judge_regret(
        tables, features, prices=prices, seeds=seeds, budgets=budgets, judges=judges, **regret_kwargs
    )
    return {"agreement": agreement, "regret": regret}


#: ``experiment`` keys read after the run (summaries), not by :func:`run_judge_robustness`.
REPORT_KEYS = ("shorts",)


def run_from_config(cfg, *, tables=None, features=None) -> dict:
    """:func:`run_judge_robustness` with every argument taken from the composed config ``cfg``; the
    judge tables and features (:func:`load_judge_tables`, :func:`load_judge_features`) are loaded when
    not given. :class:`~paretobandit.errors.ConfigError` for a missing or unread ``experiment`` key."""
    from .binding import Binding

    b = Binding(cfg, "judge_robustness", REPORT_KEYS)
    exp = b.experiment
    pattern, splits, max_rows = exp["file_pattern"], exp["splits"], exp.get("max_rows")
    judges = exp["judges"]
    if tables is None:
        tables = load_judge_tables(pattern, judges=judges, splits=splits, models=b.models(),
                                   max_rows=max_rows)
    if features is None:
        features = load_judge_features(pattern, judge=exp["reference"], splits=splits, max_rows=max_rows)
    kwargs = dict(prices=b.prices(), seeds=b.seeds(), budgets=exp.plain("budgets"), judges=judges,
                  reference=exp["reference"], gap_bins=exp["gap_bins"],
                  actionable_margin=exp["actionable_margin"], alpha=exp["alpha"],
                  bootstrap=exp.plain("bootstrap"), tabula_rasa=exp.plain("tabula_rasa"),
                  router_params=b.router_params(), pacer_params=b.pacer_params(),
                  tiebreak_offset=exp["tiebreak_offset"], test_order_offset=exp["test_order_offset"])
    b.check()
    return run_judge_robustness(tables, features, **kwargs)
