"""Independent NumPy reference of the router's equations, for tests only.

Written straight from docs/PROTOCOLS.md §1.2–1.5 with array operations (batched over leading
dimensions), deliberately *not* sharing code with :mod:`paretobandit.kernels`, so that a test comparing
the package with it compares two implementations, not one with itself.
"""

from __future__ import annotations

import numpy as np

TIE = 1e-12


def arm_scores(theta, ainv, x, inflation, alpha, penalty_weight, ncost):
    """``θᵀx + α·sqrt(max(inflation·xᵀA⁻¹x, 0)) − w·c̃`` for (..., K, d) / (..., K, d, d) / (..., d)."""
    xc = x[..., :, None]
    mean = (theta @ xc)[..., 0]
    var = ((ainv @ x[..., None, :, None])[..., 0] @ xc)[..., 0]
    bonus = np.sqrt(np.maximum(var * inflation, 0.0))
    alpha = np.asarray(alpha, float)[..., None]
    return mean + alpha * bonus - np.asarray(penalty_weight, float)[..., None] * ncost


def ceiling(prices, p_max, lam, multiplier=1.0):
    """Eligible iff ``p ≤ m·p_max/(1 + λ)`` while λ > 0; all arms if that leaves none."""
    lam = np.asarray(lam, float)
    ok = (prices <= (multiplier * np.asarray(p_max, float) / (1.0 + lam))[..., None]) | (lam[..., None] <= 0)
    return ok | ~ok.any(axis=-1, keepdims=True)


def pick(scores, eligible, rng):
    """Best eligible arm, ties (within 1e-12) uniformly with one ``rng.integers`` draw."""
    masked = np.where(eligible, scores, -np.inf)
    ties = np.flatnonzero(eligible & (masked >= masked.max() - TIE))
    return int(ties[0]) if ties.size == 1 else int(ties[rng.integers(ties.size)])


def sherman_morrison(ainv, x):
    """``(A + xxᵀ)⁻¹`` from ``A⁻¹``: returns ``(new, u = A⁻¹x, den = 1 + xᵀu)``."""
    u = ainv @ x
    den = 1.0 + x @ u
    return ainv - np.outer(u, u) / den, u, den


def theta_update(theta, u, x, reward, den):
    """``θ + u·(r − xᵀθ)/den``."""
    return theta + u * ((reward - x @ theta) / den)


def pacer_step(lam, ema, cost, budget, eta=0.05, ema_alpha=0.05, lam_cap=5.0):
    """``c̄ ← (1−a)c̄ + a·c``; ``λ ← clip(λ + η(c̄/B − 1), 0, cap)``."""
    ema = (1.0 - ema_alpha) * ema + ema_alpha * cost
    return np.clip(lam + eta * (ema / budget - 1.0), 0.0, lam_cap), ema
