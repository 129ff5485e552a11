"""Confidence intervals and tests over per-seed results (docs/PROTOCOLS.md §A0.4; one home for all).

* :func:`bootstrap_indices` — the (n_resamples, n) index matrix ``default_rng(seed).integers(0, n, ...)``
  drawn once; :func:`bootstrap_stat_ci` (mean or median; percentile CI, numpy linear interpolation),
  :func:`paired_bootstrap_ci` (one matrix applied to two paired arrays) use it;
  :func:`bootstrap_ci` / :func:`summarise` are the mean version (scipy, the same draws).
* :func:`bonferroni_level` (``1 − 0.05/m``), :func:`holm` (step-down adjusted p-values),
  :func:`normal_ci` (``mean ± 1.96·sd/√n``), :func:`wilson_interval`
  (score interval of a proportion, z = 1.96).
* :func:`sign_test` (exact binomial, ties removed) and :func:`fisher_less` (one-sided Fisher exact).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from scipy import stats as _stats

__all__ = ["bonferroni_level", "bootstrap_ci", "bootstrap_indices", "bootstrap_stat_ci", "fisher_less",
           "holm", "normal_ci", "paired_bootstrap_ci", "sign_test", "summarise", "summarise_metrics",
           "wilson_interval"]

N_RESAMPLES = 10_000
SEED = 42
CONFIDENCE = 0.95


def bootstrap_ci(values: Sequence[float], *, n_resamples: int = N_RESAMPLES, seed: int = SEED,
                 confidence_level: float = CONFIDENCE) -> tuple[float, float]:
    """Percentile-bootstrap confidence interval of the mean of ``values``.

    The mean version of :func:`bootstrap_stat_ci`: the index matrix of :func:`bootstrap_indices`
    (``default_rng(seed)``; the same draws as :func:`scipy.stats.bootstrap` with
    ``method='percentile'``), so the interval is a deterministic function of its inputs.

    Parameters
    ----------
    values : sequence of float
        One value per seed (e.g. each seed's mean reward). Non-finite values are an error.
    n_resamples : int
        Bootstrap resamples (paper: 10,000).
    seed : int
        Seed of the resampling generator (paper: 42).
    confidence_level : float
        Two-sided coverage (paper: 0.95).

    Returns
    -------
    (low, high) : tuple of float
        Interval bounds. Degenerate input (one value, or all values equal) gives ``(mean, mean)``.
    """
    x = _finite_1d(values)
    if np.ptp(x) == 0.0:
        return float(x[0]), float(x[0])
    return bootstrap_stat_ci(x, "mean", n_resamples=n_resamples, seed=seed, confidence_level=confidence_level)


def summarise(values: Sequence[float], **kwargs) -> dict[str, float]:
    """Mean, bootstrap CI, standard deviation and count of per-seed ``values``.

    Keyword arguments are passed to :func:`bootstrap_ci`.
    """
    x = np.asarray(values, dtype=float).ravel()
    low, high = bootstrap_ci(x, **kwargs)
    constant = np.ptp(x) == 0.0
    return {"mean": float(x[0]) if constant else float(np.mean(x)), "ci_low": low, "ci_high": high,
            "std": 0.0 if constant else float(np.std(x, ddof=1)), "n": int(x.size)}


def summarise_metrics(per_seed: Mapping[str, Sequence[float]], **kwargs) -> dict[str, dict[str, float]]:
    """Apply :func:`summarise` to every metric of a ``{metric: per-seed values}`` mapping."""
    return {name: summarise(vals, **kwargs) for name, vals in per_seed.items()}


# ------------------------------------------------------------------------------------- §A0.4 helpers
_STATISTICS = {"mean": np.mean, "median": np.median}


def _finite_1d(values, name: str = "values") -> np.ndarray:
    x = np.asarray(values, dtype=float).ravel()
    if x.size == 0:
        raise ValueError(f"{name} must hold at least one number, got an empty sequence")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} must be finite, got {x.tolist()!r}")
    return x


def _check_level(level: float) -> float:
    level = float(level)
    if not 0.0 < level < 1.0:
        raise ValueError(f"confidence level must be in (0, 1), got {level!r}")
    return level


def bootstrap_indices(n: int, *, n_resamples: int = N_RESAMPLES, seed: int = SEED) -> np.ndarray:
    """The resampling index matrix: ``default_rng(seed).integers(0, n, size=(n_resamples, n))``."""
    if isinstance(n, bool) or int(n) != n or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if isinstance(n_resamples, bool) or int(n_resamples) != n_resamples or n_resamples < 1:
        raise ValueError(f"n_resamples must be a positive integer, got {n_resamples!r}")
    return np.random.default_rng(seed).integers(0, int(n), size=(int(n_resamples), int(n)))


def _percentile_ci(samples: np.ndarray, level: float) -> tuple[float, float]:
    lo, hi = np.percentile(samples, [100 * (1 - level) / 2, 100 * (1 + level) / 2])
    return float(lo), float(hi)


def bootstrap_stat_ci(values: Sequence[float], statistic: str = "mean", *, n_resamples: int = N_RESAMPLES,
                      seed: int = SEED, confidence_level: float = CONFIDENCE) -> tuple[float, float]:
    """Percentile-bootstrap CI of the mean or median of per-seed ``values`` (§A0.4).

    The statistic is taken over each row of :func:`bootstrap_indices`; the bounds are the
    ``(1 − level)/2`` and ``(1 + level)/2`` percentiles (numpy linear interpolation).
    """
    if statistic not in _STATISTICS:
        raise ValueError(f"statistic must be one of {sorted(_STATISTICS)}, got {statistic!r}")
    x = _finite_1d(values)
    level = _check_level(confidence_level)
    idx = bootstrap_indices(x.size, n_resamples=n_resamples, seed=seed)
    return _percentile_ci(_STATISTICS[statistic](x[idx], axis=1), level)


def paired_bootstrap_ci(x: Sequence[float], y: Sequence[float], statistic, *, n_resamples: int = N_RESAMPLES,
                        seed: int = SEED, confidence_level: float = CONFIDENCE) -> tuple[float, float]:
    """Percentile-bootstrap CI of ``statistic(x_boot, y_boot)`` with ONE index matrix for both arrays.

    ``statistic`` maps two (n_resamples, n) arrays (the same resampled seed indices) to one value per
    row, e.g. ``lambda a, b: 1 - np.median(a, axis=1) / np.median(b, axis=1)``.
    """
    xa, ya = _finite_1d(x, "x"), _finite_1d(y, "y")
    if xa.shape != ya.shape:
        raise ValueError(f"paired samples must have equal length, got {xa.size} and {ya.size}")
    level = _check_level(confidence_level)
    idx = bootstrap_indices(xa.size, n_resamples=n_resamples, seed=seed)
    stat = np.asarray(statistic(xa[idx], ya[idx]), dtype=float)
    if stat.shape != (idx.shape[0],):
        raise ValueError(f"statistic must return one value per resample ({idx.shape[0]}), got {stat.shape}")
    return _percentile_ci(stat, level)


def bonferroni_level(m: int, alpha: float = 0.05) -> float:
    """Bonferroni-widened two-sided confidence level ``1 − alpha/m`` for ``m`` simultaneous intervals."""
    if isinstance(m, bool) or int(m) != m or m < 1:
        raise ValueError(f"m must be a positive integer, got {m!r}")
    return 1.0 - float(alpha) / int(m)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm step-down adjusted p-values, in the input order.

    Sorted ascending ``p_(1) ≤ … ≤ p_(m)``: ``adj_(k) = max_{j ≤ k} min(1, (m − j + 1)·p_(j))``.
    """
    p = _finite_1d(pvalues, "pvalues")
    if (p < 0).any() or (p > 1).any():
        raise ValueError(f"p-values must be in [0, 1], got {p.tolist()!r}")
    m = p.size
    order = np.argsort(p, kind="stable")
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    adj = np.empty(m)
    adj[order] = np.maximum.accumulate(scaled)
    return adj.tolist()


def normal_ci(mean: float, sd: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """Normal-approximation interval ``mean ± z·sd/√n`` (used where only sd is stored)."""
    if isinstance(n, bool) or int(n) != n or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    half = float(z) * float(sd) / np.sqrt(int(n))
    return float(mean) - half, float(mean) + half


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion ``successes / n`` (docs/PROTOCOLS.md §A2).

    centre = (p̂ + z²/2n)/(1 + z²/n), half-width = z·sqrt(p̂(1 − p̂)/n + z²/4n²)/(1 + z²/n), clipped to
    [0, 1]. ``z = 1.96`` as in the protocol (not the exact 97.5 % normal quantile).
    """
    if isinstance(successes, bool) or isinstance(n, bool):
        raise ValueError("successes and n must be integers, not booleans")
    k, n = int(successes), int(n)
    if n <= 0 or not 0 <= k <= n or k != successes or n != int(n):
        raise ValueError(f"need integers 0 <= successes <= n, n > 0; got successes={successes!r}, n={n!r}")
    if not np.isfinite(z) or z <= 0:
        raise ValueError(f"z must be a positive finite number, got {z!r}")
    p = k / n
    den = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


def sign_test(differences: Sequence[float], alternative: str = "greater") -> dict[str, float]:
    """Exact sign test of paired differences: wins = #(d > 0), ties (d == 0) removed.

    ``alternative="greater"`` tests "wins exceed half" (one-sided), ``"two-sided"`` the symmetric
    alternative (scipy's exact binomial test with p = 1/2). Returns ``{wins, n, p}``; with no
    non-tied pair ``p`` is 1.
    """
    d = _finite_1d(differences, "differences")
    wins, n = int((d > 0).sum()), int((d != 0).sum())
    p = 1.0 if n == 0 else float(_stats.binomtest(wins, n, 0.5, alternative=alternative).pvalue)
    return {"wins": wins, "n": n, "p": p}


def fisher_less(bad_a: int, n_a: int, bad_b: int, n_b: int) -> float:
    """One-sided ("less") Fisher exact p of ``[[bad_a, n_a − bad_a], [bad_b, n_b − bad_b]]``:
    group a has the lower odds of a bad outcome."""
    for k, n in ((bad_a, n_a), (bad_b, n_b)):
        if not 0 <= k <= n:
            raise ValueError(f"counts must satisfy 0 <= bad <= n, got {k!r}/{n!r}")
    table = [[int(bad_a), int(n_a) - int(bad_a)], [int(bad_b), int(n_b) - int(bad_b)]]
    return float(_stats.fisher_exact(table, alternative="less").pvalue)
