"""Confidence intervals over per-seed results."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from scipy import stats as _stats

__all__ = ["bootstrap_ci", "summarise", "summarise_metrics", "wilson_interval"]

N_RESAMPLES = 10_000
SEED = 42
CONFIDENCE = 0.95


def bootstrap_ci(values: Sequence[float], *, n_resamples: int = N_RESAMPLES, seed: int = SEED,
                 confidence_level: float = CONFIDENCE) -> tuple[float, float]:
    """Percentile-bootstrap confidence interval of the mean of ``values``.

    Uses :func:`scipy.stats.bootstrap` with ``method='percentile'`` and a fresh
    ``numpy.random.default_rng(seed)``, so the interval is a deterministic function of its inputs.

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
        Interval bounds. Degenerate input (one value, or all values equal) gives ``(mean, mean)``,
        where scipy would return NaN.
    """
    x = np.asarray(values, dtype=float).ravel()
    if x.size == 0:
        raise ValueError("values must hold at least one number, got an empty sequence")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"values must be finite, got {x.tolist()!r}")
    if np.ptp(x) == 0.0:
        return float(x[0]), float(x[0])
    res = _stats.bootstrap((x,), np.mean, n_resamples=n_resamples, confidence_level=confidence_level,
                           method="percentile", vectorized=True, rng=np.random.default_rng(seed))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


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
