"""The router's equations — each in exactly one place (docs/ALGORITHM.md, "Where each equation lives").

The decision and learning rules are written once, as plain-Python scalar functions that numba can
compile (no NumPy calls, no allocation): the online :class:`~paretobandit.router.BanditRouter` calls
them as they are, and the compiled simulator (:mod:`paretobandit.sim._compiled`) compiles these very
functions with ``numba.njit`` — so a one-line change here changes the router and the simulator alike.
They implement docs/PROTOCOLS.md §1.2–1.5 (ParetoBandit, Taberner-Miller 2026):

* the arm score ``s_a = θ_aᵀx + α·sqrt(v_a) − w·c̃_a`` with the staleness-inflated variance
  ``v_a = xᵀA_a⁻¹x / max(γ^min(dt_a, cap), 1/V_max)`` (:func:`ucb_score`, :func:`staleness_inflation`);
* the hard ceiling ``p_a ≤ m·p_max/(1 + λ)`` (:func:`ceiling_eligible_into`);
* the best arm and its ties (:func:`best_arm`, :func:`break_tie`);
* geometric forgetting ``g = γ^min(dt, cap)`` (:func:`decay_table`) with the ridge floor
  (:func:`ridge_deficit`), the corrupted-inverse guard and the stability check;
* the Sherman–Morrison update of ``A⁻¹`` and ``θ`` (:func:`sherman_morrison_inplace`, BLAS in place;
  the compiled simulator's loop form is its one accelerated twin, checked equal in the tests);
* the primal–dual pacer step (:func:`pacer_step`).

Nothing here validates its inputs: the public boundary does that once. Machine independence: every
function on the decision path uses only ``+ − × ÷ sqrt`` and comparisons in a fixed order (correctly
rounded on every x86-64 SIMD width); powers and logarithms come from :mod:`paretobandit.linalg`.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy.linalg.blas import daxpy, dger, dsyr

from .linalg import exact_log, exact_power, gram, inverse, matvec, solve

__all__ = [
    "TIE_TOLERANCE", "best_arm", "blended_price", "break_tie", "ceiling_eligible", "ceiling_eligible_into",
    "corrupted_inverse", "decay_factor", "decay_table", "effective_sample_size", "estimate_input_tokens",
    "exact_log", "exact_power", "gram", "inverse", "matvec", "normalised_cost", "offline_statistics",
    "pacer_step", "pick_arm", "request_cost_estimate", "rescale_prior", "ridge_deficit",
    "sherman_morrison_inplace", "solve", "stability_due", "staleness_inflation", "staleness_table",
    "ucb_score", "unstable",
]

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


def staleness_table(gamma: float, v_max: float = 200.0, cap: int = 1000) -> np.ndarray:
    """Lookup table ``T[k] = staleness_inflation(γ, k, v_max, cap)`` for ``k = 0..cap``."""
    return staleness_inflation(gamma, np.arange(cap + 1), v_max, cap).astype(float)


def ridge_deficit(rho: float, ridge: float, ridge_floor: float) -> float:
    """Ridge floor: ``λ₀ − ρ`` when the decayed ridge ``ρ`` fell below ``ridge_floor·λ₀`` (then
    ``A ← A + (λ₀ − ρ)I`` is re-inverted and ``ρ ← λ₀``), else 0."""
    return ridge - rho if rho < ridge_floor * ridge else 0.0


def staleness_inflation(gamma, dt, v_max=200.0, cap=1000):
    """Multiplier ``1 / max(γ^min(dt, cap), 1/V_max)`` of the exploration variance.

    Equals 1 where ``dt <= 0`` or ``γ == 1`` (no staleness-driven re-exploration).
    """
    dt = np.asarray(dt)
    if np.all(np.asarray(gamma) >= 1.0):
        return np.ones(dt.shape)
    g = np.maximum(decay_factor(gamma, dt, cap), 1.0 / v_max)
    return np.where(dt > 0, 1.0 / g, 1.0)


# ------------------------------------------------------------------- decision (scalar, compiled as-is)
def ucb_score(mean: float, var: float, inflation: float, alpha: float, penalty: float) -> float:
    """One arm's score ``mean + α·sqrt(max(var·inflation, 0)) − penalty``.

    ``mean = θᵀx``, ``var = xᵀA⁻¹x``, ``inflation`` the staleness multiplier (times any lazy scale of
    ``A⁻¹``), ``penalty = w·c̃``. NaN propagates (``max`` keeps it, as NumPy's ``maximum`` does).
    """
    v = var * inflation
    if v < 0.0:
        v = 0.0
    return mean + alpha * math.sqrt(v) - penalty


def ceiling_eligible_into(prices, p_max: float, lam: float, multiplier: float, out) -> int:
    """Hard budget ceiling: ``out[a] ← p_a ≤ multiplier·p_max/(1 + λ)`` while ``λ > 0``; returns how
    many arms it excludes.

    Every arm is eligible while ``λ ≤ 0``, and when the ceiling would exclude every arm (it is then
    dropped). ``prices`` and ``out`` are sequences of length K (lists or arrays).
    """
    n = len(prices)
    if lam <= 0.0:
        for a in range(n):
            out[a] = True
        return 0
    limit = (multiplier * p_max) / (1.0 + lam)
    kept = 0
    for a in range(n):
        ok = prices[a] <= limit
        out[a] = ok
        if ok:
            kept += 1
    if kept == 0:
        for a in range(n):
            out[a] = True
        return 0
    return n - kept


def ceiling_eligible(prices, p_max, lam, multiplier=1.0):
    """:func:`ceiling_eligible_into` over arrays: ``prices`` (..., K), ``p_max`` and ``lam`` (...)."""
    prices = np.asarray(prices, dtype=float)
    lead = prices.shape[:-1]
    p_max = np.broadcast_to(np.asarray(p_max, dtype=float), lead)
    lam = np.broadcast_to(np.asarray(lam, dtype=float), lead)
    out = np.empty(prices.shape, dtype=bool)
    for i in np.ndindex(lead):
        ceiling_eligible_into(prices[i], float(p_max[i]), float(lam[i]), multiplier, out[i])
    return out


def best_arm(scores, eligible, tol: float):
    """``(n_tied, first)``: how many eligible arms score within ``tol`` of the best eligible score,
    and the first of them. A NaN among the eligible scores makes the best NaN (nothing ties:
    ``(0, 0)``)."""
    best = -math.inf
    for a in range(len(scores)):
        if eligible[a]:
            v = scores[a]
            if v != v:
                best = math.nan
                break
            if v > best:
                best = v
    n_tied = 0
    first = 0
    for a in range(len(scores)):
        if eligible[a] and scores[a] >= best - tol:
            if n_tied == 0:
                first = a
            n_tied += 1
    return n_tied, first


def break_tie(scores, eligible, tol: float, rng) -> int:
    """One of the tied best eligible arms, uniformly with ``rng`` (one ``rng.integers`` draw)."""
    best = max(scores[a] for a in range(len(scores)) if eligible[a])
    ties = [a for a in range(len(scores)) if eligible[a] and scores[a] >= best - tol]
    return ties[int(rng.integers(len(ties)))]


def pick_arm(scores, eligible, rng, tol=TIE_TOLERANCE) -> int:
    """Index of the best eligible arm of one run; ties broken uniformly with ``rng``.

    The generator is consumed only when there is a tie, so a run's random stream depends only on
    its own ties (the simulator relies on this to equal the online router). ``eligible`` is a
    sequence of bools or ``True`` (every arm).
    """
    if eligible is True:
        eligible = [True] * len(scores)
    n_tied, first = best_arm(scores, eligible, tol)
    if n_tied <= 1:
        return int(first)
    return break_tie(scores, eligible, tol, rng)


# --------------------------------------------------------------------------- learning
def corrupted_inverse(den: float) -> bool:
    """Sherman–Morrison guard: ``1 + xᵀA⁻¹x < 1`` means ``A⁻¹`` is no longer positive definite
    (``A ← A + λ₀I`` is re-inverted and the update retried)."""
    return den < 1.0


def stability_due(n_updates: int, interval: int) -> bool:
    """Whether the periodic stability check runs after an arm's ``n_updates``-th update."""
    return n_updates % interval == 0


def unstable(trace: float, limit: float) -> bool:
    """Stability check: re-regularise (``A ← A + λ₀I``, re-invert) when ``trace(A⁻¹) > limit``."""
    return trace > limit


def sherman_morrison_inplace(m, theta, n, c, x, reward: float, s: float, sig: float, beta: float,
                             force: bool = False):
    """Rank-one update of one arm in place, on the lazily scaled arrays ``A⁻¹ = s·M``, ``A = σ·N``,
    ``b = β·c`` (docs/ALGORITHM.md feedback step 3).

    ``u = s·Mx``, ``den = 1 + xᵀu``; ``M ← M − s·(Mx)(Mx)ᵀ/den`` (so ``A⁻¹ ← A⁻¹ − uuᵀ/den``),
    ``θ ← θ + u·(r − xᵀθ)/den``, ``N ← N + xxᵀ/σ`` (lower triangle only), ``c ← c + (r/β)·x``.
    Returns the denominator, or ``None`` with nothing changed when
    :func:`corrupted_inverse` (unless ``force``). BLAS level 2 in place (``dger``, ``dsyr``, ``daxpy``).
    """
    mx = m.dot(x)
    den = 1.0 + s * float(mx.dot(x))
    if corrupted_inverse(den) and not force:
        return None
    resid = reward - float(theta.dot(x))
    dger(-s / den, mx, mx, a=m.T, overwrite_a=1)  # A⁻¹ ← A⁻¹ − uuᵀ/den
    daxpy(mx, theta, a=s * resid / den)  # θ ← θ + u(r − xᵀθ)/den
    dsyr(1.0 / sig, x, a=n.T, lower=0, overwrite_a=1)  # A ← A + xxᵀ (lower half)
    daxpy(x, c, a=reward / beta)  # b ← b + r·x
    return den


# --------------------------------------------------------------------------- pacer
def pacer_step(lam: float, ema: float, cost: float, budget: float, eta: float = 0.05,
               ema_alpha: float = 0.05, lam_cap: float = 5.0):
    """One primal–dual pacer step on floats; returns ``(new_lambda, new_ema)``.

    ``c̄ ← (1 − a)·c̄ + a·c`` then ``λ ← min(cap, max(0, λ + η·(c̄/B − 1)))``.
    """
    new_ema = (1.0 - ema_alpha) * ema + ema_alpha * cost
    new_lam = min(lam_cap, max(0.0, lam + eta * (new_ema / budget - 1.0)))
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
