"""The router's mathematics as pure NumPy functions — the single home of every equation.

Each function works on one run (no leading dimensions) or on a batch of runs (any leading
dimensions ``...``), so the online :class:`~paretobandit.router.BanditRouter` and the batched
simulator call the *same* code. Shapes use ``K`` for arms and ``d`` for the context dimension.

The functions implement docs/PROTOCOLS.md §1.2–1.5 (ParetoBandit, Taberner-Miller 2026):

* arm score  ``s_a = θ_aᵀx + α·sqrt(v_a) − w·c̃_a``  with the staleness-inflated variance
  ``v_a = xᵀA_a⁻¹x / max(γ^min(dt_a, cap), 1/V_max)``;
* geometric forgetting ``A ← gA, b ← gb, A⁻¹ ← A⁻¹/g`` with ``g = γ^min(dt, cap)``;
* the Sherman–Morrison rank-one update of ``A⁻¹``;
* the primal–dual budget pacer step.

Nothing here validates its inputs: the public boundary does that once.

Machine independence. Everything that decides a routing decision is computed with operations whose
IEEE-754 result does not depend on the CPU: elementwise ``+ − × ÷ sqrt`` (correctly rounded on every
x86-64 SIMD width) in a fixed order. The transcendental functions, whose libm/SVML results differ
between instruction sets by an ulp, are replaced by correctly rounded exact arithmetic
(:func:`exact_power`, :func:`exact_log`), and the linear algebra on the decision path (prior
rescaling, re-inversions, ``θ = A⁻¹b``, warm-up Gram matrices) uses :func:`solve`, :func:`inverse`,
:func:`matvec` and :func:`gram` — fixed-order elementwise NumPy, never BLAS/LAPACK, whose kernels
(and hence roundings) are chosen per CPU. The scoring products of :func:`arm_scores` (NumPy
reference step) and the online router's GEMV still go through BLAS; the compiled simulator
(:mod:`paretobandit.sim._compiled`) does not.
"""

from __future__ import annotations

import decimal
import functools
import math
from fractions import Fraction

import numpy as np

#: Scores closer than this to the best score are ties (broken uniformly at random).
TIE_TOLERANCE = 1e-12


# --------------------------------------------------------------------------- costs
def blended_price(input_cost_per_m, output_cost_per_m):
    """Blended price in $ per 1k tokens: mean of input and output $/M, divided by 1000."""
    total = np.asarray(input_cost_per_m, dtype=float) + np.asarray(output_cost_per_m, dtype=float)
    return total / 2.0 / 1000.0


def normalised_cost(price_per_1k, floor=1e-4, ceil=0.10):
    """Log-normalised unit cost ``c̃ = clip((ln max(p, floor) − ln floor)/(ln ceil − ln floor), 0, 1)``."""
    p = np.maximum(np.asarray(price_per_1k, dtype=float), floor)
    log_p = np.vectorize(exact_log, otypes=[float])(p) if p.size else np.log(p)
    c = (log_p - exact_log(floor)) / (exact_log(ceil) - exact_log(floor))
    return np.clip(c, 0.0, 1.0)


def request_cost_estimate(input_cost_per_m, output_cost_per_m, n_input_tokens, n_output_tokens=600):
    """Estimated $ cost of one request: ``(in·n_in + out·n_out) / 1e6``."""
    return (
        np.asarray(input_cost_per_m, dtype=float) * n_input_tokens
        + np.asarray(output_cost_per_m, dtype=float) * n_output_tokens
    ) / 1e6


def estimate_input_tokens(prompt: str) -> int:
    """Token estimate used for the routing log: ``round(1.3 × whitespace-separated words)``."""
    return int(round(1.3 * len(prompt.split())))


# --------------------------------------------------------------------------- exact scalar functions
def exact_power(base: float, exponent: float) -> float:
    """``base ** exponent`` correctly rounded to float64, independent of libm and the CPU.

    Integer exponents are evaluated exactly with rationals; others with 60-digit decimals.
    """
    base = float(base)
    exponent = float(exponent)
    if exponent.is_integer() and base > 0.0:
        n = int(exponent)
        value = Fraction(base) ** n
        return float(value)
    with decimal.localcontext(decimal.Context(prec=60)):
        return float(decimal.Decimal(base) ** decimal.Decimal(exponent))


@functools.lru_cache(maxsize=4096)
def exact_log(value: float) -> float:
    """Natural logarithm of ``value > 0``, correctly rounded (60-digit decimals), CPU independent."""
    with decimal.localcontext(decimal.Context(prec=60)):
        return float(decimal.Decimal(float(value)).ln())


# --------------------------------------------------------------------------- forgetting
@functools.lru_cache(maxsize=256)
def _decay_table(gamma: float, cap: int) -> np.ndarray:
    num, den = gamma.as_integer_ratio()          # γ = num/den exactly; γ^k = num^k/den^k
    values = []
    pn, pd = 1, 1
    for _ in range(cap + 1):
        values.append(pn / pd)                   # int / int: correctly rounded in Python
        pn *= num
        pd *= den
    table = np.array(values, dtype=float)
    table.setflags(write=False)
    return table


def decay_table(gamma: float, cap: int = 1000) -> np.ndarray:
    """Read-only table ``T[k] = γ^k`` (correctly rounded) for ``k = 0..cap``: the single source of
    every forgetting factor (router, NumPy and compiled simulator)."""
    return _decay_table(float(gamma), int(cap))


def decay_factor(gamma, dt, cap=1000):
    """Forgetting factor ``g = γ^min(dt, cap)`` (``dt`` clipped below at 0), by :func:`decay_table` lookup.

    ``gamma`` is a scalar or an array broadcastable against ``dt``.
    """
    dt = np.minimum(np.maximum(np.asarray(dt), 0), cap).astype(np.intp)
    gamma_arr = np.asarray(gamma, dtype=float)
    if gamma_arr.ndim == 0:
        return decay_table(float(gamma_arr), cap)[dt]
    gamma_arr, dt = np.broadcast_arrays(gamma_arr, dt)
    out = np.empty(dt.shape)
    for g in np.unique(gamma_arr):
        sel = gamma_arr == g
        out[sel] = decay_table(float(g), cap)[dt[sel]]
    return out


def staleness_inflation(gamma, dt, v_max=200.0, cap=1000):
    """Multiplier ``1 / max(γ^min(dt, cap), 1/V_max)`` of the exploration variance.

    Equals 1 where ``dt <= 0`` or ``γ == 1`` (no staleness-driven re-exploration).
    """
    dt = np.asarray(dt)
    if np.all(np.asarray(gamma) >= 1.0):
        return np.ones(dt.shape)
    g = np.maximum(decay_factor(gamma, dt, cap), 1.0 / v_max)
    return np.where(dt > 0, 1.0 / g, 1.0)


# --------------------------------------------------------------------------- scoring
def arm_scores(theta, ainv, x, inflation, alpha, penalty_weight, ncost):
    """LinUCB scores of every arm.

    Parameters
    ----------
    theta : array (..., K, d)
        Ridge estimates ``A⁻¹b``.
    ainv : array (..., K, d, d)
        Inverse design matrices.
    x : array (..., d)
        Context vector of the request (bias last).
    inflation : array (..., K)
        Staleness multiplier of the variance (:func:`staleness_inflation`).
    alpha : float or array (...)
        Exploration weight.
    penalty_weight : float or array (...)
        Total cost weight ``λ_c + λ_t``.
    ncost : array (..., K)
        Normalised unit cost ``c̃`` of each arm.

    Returns
    -------
    scores : array (..., K)
    """
    xc = x[..., :, None]
    mean = (theta @ xc)[..., 0]
    var = ((ainv @ x[..., None, :, None])[..., 0] @ xc)[..., 0]
    bonus = np.sqrt(np.maximum(var * inflation, 0.0))
    alpha = np.asarray(alpha, dtype=float)[..., None]
    weight = np.asarray(penalty_weight, dtype=float)[..., None]
    return mean + alpha * bonus - weight * ncost


def ceiling_eligible(prices, p_max, lam, multiplier=1.0):
    """Hard budget ceiling: arm eligible iff ``p_a ≤ multiplier·p_max / (1 + λ)`` (only while ``λ > 0``).

    ``prices`` is (..., K), ``p_max`` and ``lam`` are (...). Where the ceiling would exclude every
    arm it is dropped (all arms eligible).
    """
    lam = np.asarray(lam, dtype=float)
    limit = np.asarray(multiplier * p_max, dtype=float) / (1.0 + lam)
    ok = (prices <= limit[..., None]) | (lam[..., None] <= 0.0)
    empty = ~ok.any(axis=-1, keepdims=True)
    return ok | empty


def tied_best(scores, eligible, tol=TIE_TOLERANCE):
    """Mask of eligible arms whose score is within ``tol`` of the best eligible score."""
    masked = np.where(eligible, scores, -np.inf)
    best = masked.max(axis=-1, keepdims=True)
    return eligible & (masked >= best - tol)


def pick_arm(scores, eligible, rng, tol=TIE_TOLERANCE) -> int:
    """Index of the best eligible arm of one run; ties broken uniformly with ``rng``.

    The generator is consumed only when there is a tie, so a run's random stream depends only on
    its own ties (the batched simulator relies on this to equal the online router).
    """
    ties = np.flatnonzero(tied_best(scores, eligible, tol))
    if ties.size == 1:
        return int(ties[0])
    return int(ties[rng.integers(ties.size)])


# --------------------------------------------------------------------------- updates
def sherman_morrison(ainv, x):
    """Rank-one update ``(A + xxᵀ)⁻¹`` from ``A⁻¹``; returns ``(new_ainv, u, denom)``.

    ``u = A⁻¹x`` and ``denom = 1 + xᵀA⁻¹x``; works on (..., d, d) / (..., d). A denominator
    below 1 signals a corrupted inverse (the caller re-inverts from ``A``).
    """
    u = (ainv @ x[..., :, None])[..., 0]
    denom = 1.0 + (u[..., None, :] @ x[..., :, None])[..., 0, 0]
    new = ainv - (u[..., :, None] * u[..., None, :]) / denom[..., None, None]
    return new, u, denom


def theta_update(theta, u, x, reward, denom):
    """Ridge estimate after the rank-one update: ``θ' = θ + u·(r − xᵀθ)/denom`` (O(d))."""
    resid = reward - (theta[..., None, :] @ x[..., :, None])[..., 0, 0]
    return theta + u * (resid / denom)[..., None]


# --------------------------------------------------------------------------- pacer
def pacer_step(lam, ema, cost, budget, eta=0.05, ema_alpha=0.05, lam_cap=5.0):
    """One primal–dual pacer step; returns ``(new_lambda, new_ema)``.

    ``c̄ ← (1 − a)·c̄ + a·c`` then ``λ ← min(cap, max(0, λ + η·(c̄/B − 1)))``.
    """
    new_ema = (1.0 - ema_alpha) * ema + ema_alpha * cost
    new_lam = np.minimum(lam_cap, np.maximum(0.0, lam + eta * (new_ema / budget - 1.0)))
    return new_lam, new_ema


# --------------------------------------------------------------------------- priors
def effective_sample_size(gamma: float, t_adapt: float = 500.0) -> float:
    """``n_eff = (γ^(−T) − 1)/(1 − γ)``: prior weight that forgetting erodes in ``T`` steps."""
    if gamma >= 1.0:
        return float(t_adapt)
    return float((exact_power(gamma, -t_adapt) - 1.0) / (1.0 - gamma))


def rescale_prior(a_off, b_off, n_eff, ridge=1.0):
    """Rescale offline statistics to ``n_eff`` pseudo-samples keeping the prior mean.

    ``s = n_eff / A_off[-1,-1]`` (the bias coordinate counts samples), ``θ_off = A_off⁻¹ b_off``,
    ``A = s·A_off + λ₀I``, ``b = s·b_off + λ₀·θ_off``. Works on (..., d, d) / (..., d).
    """
    a_off = np.asarray(a_off, dtype=float)
    b_off = np.asarray(b_off, dtype=float)
    d = a_off.shape[-1]
    s = n_eff / a_off[..., d - 1, d - 1]
    theta_off = solve(a_off, b_off[..., None])[..., 0]
    a = s[..., None, None] * a_off + ridge * np.eye(d)
    b = s[..., None] * b_off + ridge * theta_off
    return a, b


def offline_statistics(features, rewards, plasticity=0.1):
    """Full-information warm-up statistics ``A_off = p(I + Σxxᵀ)``, ``b_off = p·Σ r·x`` per arm.

    ``features`` (n, d) and ``rewards`` (n, K) → ``A_off`` (K, d, d), ``b_off`` (K, d).
    """
    x = np.asarray(features, dtype=float)
    r = np.asarray(rewards, dtype=float)
    d = x.shape[1]
    xx, rx = gram(x, r)
    a = np.broadcast_to(plasticity * (np.eye(d) + xx), (r.shape[1], d, d)).copy()
    b = plasticity * rx
    return a, b


# --------------------------------------------------------------------------- CPU-independent linear algebra
def matvec(m, v):
    """``m @ v`` for (..., n, d) and (..., d), summed left to right over ``d`` (no BLAS)."""
    m = np.asarray(m, dtype=float)
    v = np.asarray(v, dtype=float)
    acc = m[..., 0] * v[..., None, 0]
    for j in range(1, m.shape[-1]):
        acc = acc + m[..., j] * v[..., None, j]
    return acc


def solve(a, b):
    """Solve ``a @ y = b`` for (..., d, d) and (..., d, m) by Gauss–Jordan elimination with partial
    pivoting, in a fixed order of elementwise operations (no LAPACK): the same bits on every CPU.

    Singular systems give inf/NaN entries (callers re-regularise before they get there).
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    d = a.shape[-1]
    lead = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    m = b.shape[-1]
    aug = np.concatenate([np.broadcast_to(a, lead + (d, d)), np.broadcast_to(b, lead + (d, m))], axis=-1)
    aug = aug.reshape(-1, d, d + m)
    # Every operation below acts on one system at a time, so identical systems (e.g. one prior shared
    # by every run of a batch) are solved once: same bits, less work.
    first: dict[bytes, int] = {}
    keep: list[int] = []
    back = np.empty(aug.shape[0], dtype=np.intp)
    for i, row in enumerate(aug):
        j = first.setdefault(row.tobytes(), len(keep))
        if j == len(keep):
            keep.append(i)
        back[i] = j
    aug = aug[keep]
    idx = np.arange(aug.shape[0])
    with np.errstate(divide="ignore", invalid="ignore"):
        for k in range(d):
            p = k + np.argmax(np.abs(aug[:, k:, k]), axis=1)
            swap = p != k
            if swap.any():
                rows = idx[swap]
                pivot_rows = aug[rows, p[swap]].copy()
                aug[rows, p[swap]] = aug[rows, k]
                aug[rows, k] = pivot_rows
            aug[:, k, k:] = aug[:, k, k:] / aug[:, k, k, None]
            factor = aug[:, :, k].copy()
            factor[:, k] = 0.0
            aug[:, :, k:] = aug[:, :, k:] - factor[:, :, None] * aug[:, None, k, k:]
    return aug[back, :, d:].reshape(lead + (d, m))


def inverse(a):
    """Inverse of (..., d, d) matrices by :func:`solve` against the identity (no LAPACK)."""
    a = np.asarray(a, dtype=float)
    d = a.shape[-1]
    return solve(a, np.eye(d))


def gram(x, r):
    """``(Σ_i x_i x_iᵀ, Σ_i r_i x_iᵀ)`` for rows x (n, d), r (n, K), accumulated row after row (no BLAS).

    Returns (d, d) and (K, d) arrays.
    """
    x = np.asarray(x, dtype=float)
    r = np.asarray(r, dtype=float)
    d, k = x.shape[1], r.shape[1]
    xx = np.zeros((d, d))
    rx = np.zeros((k, d))
    for i in range(x.shape[0]):
        xi = x[i]
        xx += xi[:, None] * xi[None, :]
        rx += r[i][:, None] * xi[None, :]
    return xx, rx


# --------------------------------------------------------------------------- single-run fast paths
# Specialised variants for ONE run (no leading dimensions), used on the online router's hot path.
# They compute the same quantities as the generic functions above (tests assert equality); they
# avoid temporaries and repeated conversions because a NumPy call costs ~1 µs on small arrays.


def pacer_step_scalar(lam: float, ema: float, cost: float, budget: float, eta: float = 0.05,
                      ema_alpha: float = 0.05, lam_cap: float = 5.0) -> tuple[float, float]:
    """:func:`pacer_step` on Python floats (same IEEE operations in the same order, bit-identical)."""
    new_ema = (1.0 - ema_alpha) * ema + ema_alpha * cost
    new_lam = min(lam_cap, max(0.0, lam + eta * (new_ema / budget - 1.0)))
    return new_lam, new_ema


def staleness_table(gamma: float, v_max: float = 200.0, cap: int = 1000) -> np.ndarray:
    """Lookup table ``T[k] = staleness_inflation(γ, k, v_max, cap)`` for ``k = 0..cap``."""
    return staleness_inflation(gamma, np.arange(cap + 1), v_max, cap).astype(float)


def arm_scores_stacked(stack, x, inflation, alpha, penalty):
    """:func:`arm_scores` of one run from a stacked ``[A⁻¹_1; …; A⁻¹_K; θ]`` matrix.

    Parameters
    ----------
    stack : array (K·d + K, d)
        Rows ``a·d … a·d+d−1`` hold ``A_a⁻¹``; the last K rows hold ``θ_a``.
    x : array (d,)
    inflation : array (K,)
        Staleness multiplier (:func:`staleness_inflation`).
    alpha : float
    penalty : array (K,)
        ``w·c̃`` (penalty weight times normalised cost).

    Returns
    -------
    scores : array (K,)
        Equal to ``arm_scores(theta, ainv, x, inflation, alpha, w, c̃)`` up to rounding of the
        matrix products (one GEMV over all arms instead of K).
    """
    k = inflation.shape[0]
    d = x.shape[0]
    y = stack @ x
    var = y[: k * d].reshape(k, d) @ x
    var *= inflation
    np.maximum(var, 0.0, out=var)
    np.sqrt(var, out=var)
    if alpha != 1.0:
        var *= alpha
    var += y[k * d:]
    var -= penalty
    return var


def finish_scores(var, mean, inflation, alpha: float, penalty) -> list:
    """Scores from the per-arm products, in Python floats (cheapest for a handful of arms).

    ``var[a] = xᵀA_a⁻¹x``, ``mean[a] = θ_aᵀx``; returns
    ``mean + α·sqrt(max(var·inflation, 0)) − penalty`` per arm — the same IEEE operations as
    :func:`arm_scores` (NaN propagates), so the values are identical given the same products.
    """
    out = []
    sqrt = math.sqrt
    for a in range(len(var)):
        v = var[a] * inflation[a]
        if v < 0.0:
            v = 0.0
        out.append(mean[a] + alpha * sqrt(v) - penalty[a])
    return out


def finish_scores_stale(var, mean, last_touch, scale, t: int, table, cap: int, alpha: float, penalty) -> list:
    """:func:`finish_scores` with the staleness inflation looked up inline.

    ``inflation[a] = table[min(t − last_touch[a], cap)]·scale[a]`` with ``table`` from
    :func:`staleness_table` (as a list) and ``t > last_touch[a]``; ``scale`` is an extra per-arm
    multiplier of the variance (1 for plain A⁻¹). Same values as
    ``finish_scores(var, mean, inflation, alpha, penalty)``.
    """
    out = []
    append = out.append
    sqrt = math.sqrt
    tcap = table[cap]
    for v, m, lt, sc, p in zip(var, mean, last_touch, scale, penalty):  # noqa: B905 - all length K
        dt = t - lt
        v = v * ((table[dt] if dt < cap else tcap) * sc)
        if v < 0.0:
            v = 0.0
        append(m + alpha * sqrt(v) - p)
    return out


def arm_scores_stacked_list(stack, x, inflation, alpha: float, penalty) -> list:
    """:func:`arm_scores_stacked` finished by :func:`finish_scores` (lists in, list out)."""
    k = len(inflation)
    d = x.shape[0]
    y = stack @ x
    var = (y[: k * d].reshape(k, d) @ x).tolist()
    return finish_scores(var, y[k * d:].tolist(), inflation, alpha, penalty)
