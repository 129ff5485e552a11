"""Compiled (numba) inner loop of :class:`~paretobandit.sim.engine.BatchSimulator`.

:func:`advance` steps the runs of a batch through a *segment* of steps that contains no scenario
event (events are applied in Python at segment boundaries, :mod:`paretobandit.sim.compiled_driver`).
It implements docs/ALGORITHM.md ``route`` + ``feedback`` for the chosen arm of each run, with the
router's own equations: :mod:`paretobandit.kernels`' scalar functions (``ucb_score``,
``ceiling_eligible_into``, ``best_arm``, ``ridge_deficit``, ``corrupted_inverse``, ``stability_due``,
``unstable``, ``pacer_step``) are compiled here as they are, not re-written:

* scores ``s_a = θ_aᵀx + α·sqrt(max(inflation·xᵀA⁻¹x, 0)) − w·c̃_a`` with the router's staleness
  table, ``w = λ_c + λ`` (penalty modes) or ``λ_c``;
* eligibility by the hard ceiling ``p_a ≤ multiplier·p_max/(1 + λ)`` (dropped when it empties the
  set), intersected with the registered arms;
* the best eligible arm; scores within ``TIE_TOLERANCE`` of the best are ties;
* forgetting ``A ← gA, b ← gb, A⁻¹ ← A⁻¹/g, ρ ← gρ`` with ``g = γ^min(dt, cap)`` (the kernels'
  values, by table lookup); Sherman–Morrison; ``θ ← θ + u(r − xᵀθ)/den``; ``A ← A + xxᵀ``;
  ``b ← b + r·x``; the periodic stability check; the pacer step.

Numerics. The same operations in the same order as the router, except for the linear algebra, whose
loop form here changes results only by rounding (far inside the 1e-9 contract; the online router's
stacked GEMV uses BLAS): dot products are summed in a fixed interleaved order (:func:`_dot`;
no fastmath flag anywhere, so neither re-association nor FMA contraction: bit-identical on every
x86-64 CPU); ``A⁻¹x`` is computed as ``xᵀA⁻¹`` (``A⁻¹`` is symmetric), once per arm in the
route and reused, divided by the decay, by the update of the chosen arm; divisions become
multiplications by a reciprocal; and the forgetting of ``A⁻¹`` and ``A`` is deferred: each arm
carries pending factors ``c``, ``e`` (true ``A⁻¹ = c·stored``, ``A = e·stored``; the rank-one
updates are rescaled accordingly) that are applied (:func:`_fold`) before Python reads the arm, at
the end of the run's segment, and whenever they leave ``[1e-32, 1e32]``. ``A`` is kept current
here.

Runs are processed one after the other (run-major), so a run's ``A`` and ``A⁻¹`` (2·K·d² floats)
stay in cache for the whole segment; stream and outputs are run-major (S, n) buffers for the same
reason (a (T, S) array read down a column misses the cache at every step).

Python is needed for two rare things, which stay in the reference implementation. A run that meets
one is *parked* (its position, phase and reason stored in ``run_k``/``run_phase``/``run_code``)
and :func:`advance` moves on to the next run; it returns the number of parked runs, Python serves
all of them at once and calls :func:`advance` again, which resumes each one where it stopped:

``TIE``
    more than one arm tied at the top: Python calls :func:`kernels.pick_arm` with the run's own
    ``default_rng(seed)`` (so the generator is consumed exactly as in the router) on the run's
    ``scores``/``eligible`` rows, and sets the phase to ``OBSERVE`` with ``given_arm``.
``FLOOR``, ``CORRUPT``, ``STABILITY``
    a re-inversion repair (ridge floor after the decay; ``den < 1`` before Sherman–Morrison;
    ``trace(A⁻¹)`` above the limit after it). Python adds the ridge term to ``A`` and re-inverts it
    with :func:`kernels.inverse` (fixed-order Gauss–Jordan, stacked over the parked runs), sets
    ``θ = A⁻¹b`` and the phase to ``AFTER_FLOOR`` / ``AFTER_CORRUPT`` / ``AFTER_STABILITY``.

Compiled with ``cache=True`` (the machine code is stored in ``__pycache__``; the first call in a
fresh environment pays the compilation) and ``nogil=True`` (sub-batches step in parallel threads).
This module imports numba at import time; the engine imports it lazily and falls back to the generic path.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from .. import kernels
from .._numba_cache import invalidate_if_changed

invalidate_if_changed(__file__, kernels.__file__)  # the equations below are compiled from kernels.py

__all__ = ["AFTER_CORRUPT", "AFTER_FLOOR", "AFTER_STABILITY", "CORRUPT", "DONE", "FLOOR", "OBSERVE",
           "ROUTE", "STABILITY", "TIE", "advance", "inverse"]

# Why a run stopped (run_code): DONE = not parked.
DONE, TIE, FLOOR, CORRUPT, STABILITY = 0, 1, 2, 3, 4
# Where a run's current step resumes (run_phase).
ROUTE, OBSERVE, AFTER_FLOOR, AFTER_CORRUPT, AFTER_STABILITY = 0, 1, 2, 3, 4

# No fastmath anywhere: LLVM may neither re-associate nor contract a*b + c into an FMA, so every
# operation is one IEEE-754 operation in source order and the results are the same bits on every
# x86-64 CPU (NUMBA_CPU_NAME=generic or host; checked by tests/test_determinism.py).
_JIT = dict(nogil=True, cache=True)
# Small hot helpers are inlined at the Numba-IR level.
_JIT_INLINE = dict(_JIT, inline="always")
#: Pending factors of A⁻¹ (growing) and A (shrinking) are applied before they leave [1/max, max].
_SCALE_MAX = 1e32

# The router's equations, compiled from their one home (paretobandit.kernels) — not re-written here.
_ucb_score = nb.njit(**_JIT_INLINE)(kernels.ucb_score)
_ceiling_eligible_into = nb.njit(**_JIT_INLINE)(kernels.ceiling_eligible_into)
_best_arm = nb.njit(**_JIT_INLINE)(kernels.best_arm)
_pacer_step = nb.njit(**_JIT_INLINE)(kernels.pacer_step)
_ridge_deficit = nb.njit(**_JIT_INLINE)(kernels.ridge_deficit)
_corrupted_inverse = nb.njit(**_JIT_INLINE)(kernels.corrupted_inverse)
_stability_due = nb.njit(**_JIT_INLINE)(kernels.stability_due)
_unstable = nb.njit(**_JIT_INLINE)(kernels.unstable)


@nb.njit(**_JIT_INLINE)
def _dot(a, b):
    """``Σ a_i·b_i`` in a fixed order: four interleaved partial sums (lane ``i mod 4``), combined as
    ``(s0 + s1) + (s2 + s3)``, then the tail. The order is explicit, so vectorising it (four lanes)
    does not change a bit."""
    n = a.shape[0]
    s0 = s1 = s2 = s3 = 0.0
    i = 0
    while i + 4 <= n:
        s0 += a[i] * b[i]
        s1 += a[i + 1] * b[i + 1]
        s2 += a[i + 2] * b[i + 2]
        s3 += a[i + 3] * b[i + 3]
        i += 4
    acc = (s0 + s1) + (s2 + s3)
    while i < n:
        acc += a[i] * b[i]
        i += 1
    return acc


@nb.njit(**_JIT_INLINE)
def _vecmat(x, m, out):
    """``out ← xᵀm = Σ_i x_i·m[i, :]`` — row updates, no reduction (vectorises over the columns),
    four rows per pass over ``out``.

    For the symmetric ``A⁻¹`` this is ``A⁻¹x`` up to rounding.
    """
    n_rows, n_cols = m.shape
    for j in range(n_cols):
        out[j] = 0.0
    i = 0
    while i + 4 <= n_rows:
        x0, x1, x2, x3 = x[i], x[i + 1], x[i + 2], x[i + 3]
        m0, m1, m2, m3 = m[i], m[i + 1], m[i + 2], m[i + 3]
        for j in range(n_cols):
            out[j] += (x0 * m0[j] + x1 * m1[j]) + (x2 * m2[j] + x3 * m3[j])
        i += 4
    while i < n_rows:
        xi, mi = x[i], m[i]
        for j in range(n_cols):
            out[j] += xi * mi[j]
        i += 1


@nb.njit(**_JIT)
def _fold(ainv_flat, a_flat, ai_scale, a_scale, s, a):
    """Apply the pending factors of arm ``(s, a)``: ``A⁻¹ ← c·A⁻¹``, ``A ← e·A`` (then c = e = 1)."""
    c, e = ai_scale[s, a], a_scale[s, a]
    if c != 1.0:
        m = ainv_flat[s, a]
        for i in range(m.shape[0]):
            m[i] *= c
        ai_scale[s, a] = 1.0
    if e != 1.0:
        m = a_flat[s, a]
        for i in range(m.shape[0]):
            m[i] *= e
        a_scale[s, a] = 1.0


@nb.njit(**_JIT_INLINE)
def _route(s, t, x, ys, ainv, ai_scale, theta, last_update, last_played, lam, alpha, lam_c, uses_penalty,
           uses_ceiling, gamma_col, stale, cap, ncost, price_masked, pmax, active, multiplier, tol, scores,
           eligible):
    """Scores and eligibility of run ``s`` (into ``scores``/``eligible``); returns (n_tied, first).

    ``ys[a]`` receives ``xᵀA⁻¹_a`` (stored matrix, without its pending factor) of every eligible arm;
    the update of the chosen arm reuses it.
    """
    n_arms = scores.shape[0]
    lam_s = lam[s]
    # -- eligibility: the hard ceiling (kernels.ceiling_eligible_into) ∩ registered arms
    _ceiling_eligible_into(price_masked[s], pmax[s], lam_s if uses_ceiling[s] else 0.0, multiplier, eligible)
    for a in range(n_arms):
        eligible[a] = eligible[a] and active[s, a]
    # -- scores of the eligible arms (kernels.ucb_score on this run's products)
    weight = lam_c[s] + (lam_s if uses_penalty[s] else 0.0)
    g = gamma_col[s]
    for a in range(n_arms):
        if not eligible[a]:
            continue
        dt = t - max(last_update[s, a], last_played[s, a])
        infl = stale[g, min(dt, cap)]
        mean = _dot(theta[s, a], x)
        _vecmat(x, ainv[s, a], ys[a])
        scores[a] = _ucb_score(mean, ai_scale[s, a] * _dot(ys[a], x), infl, alpha[s], weight * ncost[s, a])
    # -- the best eligible arm and its ties (kernels.best_arm)
    return _best_arm(scores, eligible, tol)


@nb.njit(**_JIT)
def _advance_run(s, k, ph, given_arm, k1, base, tables, state, params, scenario, outputs, consts, scratch):
    """Run ``s`` from step ``k`` (resumed in phase ``ph``) up to ``k1``; returns ``(code, k)``.

    ``code`` is ``DONE`` (``k == k1``) or the reason the run stopped at step ``k``.
    """
    features, rewards, costs, streams = tables
    a_mat, ainv, ai_scale, a_scale, b, theta, rho, last_update, last_played, n_updates, lam, cost_ema = state
    (alpha, lam_c, gamma, budget, has_pacer, uses_penalty, uses_ceiling, gamma_col, stale, decay, ncost,
     price_masked, pmax, active) = params
    has_transforms, r_scale, r_shift, c_scale, forced_left, forced_arm = scenario
    out_arm, out_r, out_c, out_lam, out_forced = outputs
    tol, ridge, ridge_floor, stability_trace, multiplier, eta, ema_alpha, lambda_cap, cap, interval = consts
    scores, eligible, ys, u, v = scratch
    n_runs, n_arms, d = ainv.shape[0], ainv.shape[1], ainv.shape[2]
    ainv_flat = ainv.reshape(n_runs, n_arms, d * d)
    a_flat = a_mat.reshape(n_runs, n_arms, d * d)
    while k < k1:
        t = k + 1
        col = k - base                  # column of step k in the run-major buffers
        x = features[streams[s, col]]
        routed = ph == OBSERVE          # ys[s, arm] holds xᵀA⁻¹ of the chosen arm (before the decay)
        # ---------------------------------------------------------------- route + observe
        if ph <= OBSERVE:
            if ph == OBSERVE:
                arm = given_arm
            elif forced_left[s] > 0:
                arm = forced_arm[s]
                forced_left[s] -= 1
                out_forced[s, col] = True
            else:
                routed = True
                n_tied, arm = _route(s, t, x, ys[s], ainv, ai_scale, theta, last_update, last_played, lam,
                                     alpha, lam_c, uses_penalty, uses_ceiling, gamma_col, stale, int(cap),
                                     ncost, price_masked, pmax, active, multiplier, tol, scores[s],
                                     eligible[s])
                if n_tied > 1:
                    return TIE, k
            last_played[s, arm] = t
            cell = streams[s, col] * n_arms + arm
            reward = rewards[cell]
            cost = costs[cell]
            if has_transforms:
                reward = min(max(r_scale[s, arm] * reward + r_shift[s, arm], 0.0), 1.0)
                cost = c_scale[s, arm] * cost
            out_arm[s, col] = arm
            out_r[s, col] = reward
            out_c[s, col] = cost
            out_lam[s, col] = lam[s]
            # u = A⁻¹x of this step = (factor of A⁻¹ at the route / g)·ys[s, arm]
            u_factor = ai_scale[s, arm]
            # 1. forgetting (γ = 1 would give g = 1 exactly: skipped) + ridge floor check.
            #    A⁻¹ ← A⁻¹/g and A ← gA go into the arm's pending factors.
            if gamma[s] < 1.0:
                g = decay[gamma_col[s], min(max(t - last_update[s, arm], 0), int(cap))]
                rg = 1.0 / g
                u_factor *= rg
                for i in range(d):
                    b[s, arm, i] *= g
                c, e = ai_scale[s, arm] * rg, a_scale[s, arm] * g
                if c > _SCALE_MAX or e < 1.0 / _SCALE_MAX:      # keep the factors in range
                    _fold(ainv_flat, a_flat, ai_scale, a_scale, s, arm)
                    ai_flat, am_flat = ainv_flat[s, arm], a_flat[s, arm]
                    for i in range(d * d):
                        ai_flat[i] *= rg
                        am_flat[i] *= g
                else:
                    ai_scale[s, arm], a_scale[s, arm] = c, e
                rho[s, arm] = rho[s, arm] * g
                if _ridge_deficit(rho[s, arm], ridge, ridge_floor) > 0.0:
                    _fold(ainv_flat, a_flat, ai_scale, a_scale, s, arm)
                    return FLOOR, k
        arm = out_arm[s, col]
        reward = out_r[s, col]
        ai = ainv[s, arm]
        am = a_mat[s, arm]
        th = theta[s, arm]
        # ---------------------------------------------------------------- Sherman–Morrison
        if ph <= AFTER_CORRUPT:
            # 2.
            last_update[s, arm] = t
            # 3. u = A⁻¹x, den = 1 + xᵀu (a den < 1 is repaired in Python, then recomputed);
            #    right after the route, u comes from the route's xᵀA⁻¹
            c, e = ai_scale[s, arm], a_scale[s, arm]
            if routed:
                for i in range(d):
                    u[i] = ys[s, arm, i] * u_factor
            else:
                _vecmat(x, ai, u)
                for i in range(d):
                    u[i] *= c
            den = 1.0 + _dot(u, x)
            if ph <= AFTER_FLOOR and _corrupted_inverse(den):
                _fold(ainv_flat, a_flat, ai_scale, a_scale, s, arm)
                return CORRUPT, k
            resid = reward - _dot(th, x)
            q = resid / den
            # A⁻¹ − uuᵀ/den on the stored matrix (true = c·stored): stored − u·(u/(den·c))ᵀ;
            # A + xxᵀ likewise: stored + x·(x/e)ᵀ
            w = 1.0 / (den * c)
            for j in range(d):
                v[j] = u[j] * w
            re = 1.0 / e
            for i in range(d):
                ui = u[i]
                xi = x[i]
                xe = xi * re
                for j in range(d):
                    ai[i, j] = ai[i, j] - ui * v[j]
                    am[i, j] += xe * x[j]
                th[i] = th[i] + ui * q
                b[s, arm, i] += reward * xi
            n_updates[s, arm] += 1
            # 4. periodic stability check
            if _stability_due(n_updates[s, arm], int(interval)):
                trace = 0.0
                for i in range(d):
                    trace += ai[i, i]
                if _unstable(c * trace, stability_trace):
                    _fold(ainv_flat, a_flat, ai_scale, a_scale, s, arm)
                    return STABILITY, k
        # ---------------------------------------------------------------- 5. pacer
        if has_pacer[s]:
            lam[s], cost_ema[s] = _pacer_step(lam[s], cost_ema[s], out_c[s, col], budget[s], eta, ema_alpha,
                                              lambda_cap)
        k += 1
        ph = ROUTE
    for a in range(n_arms):             # the run's state is plain again when Python sees it
        _fold(ainv_flat, a_flat, ai_scale, a_scale, s, a)
    return DONE, k


@nb.njit(**_JIT)
def advance(k1, base, run_k, run_phase, run_code, given_arm, tables, state, params, scenario, outputs,
            consts, scratch):
    """Advance every run that is not parked and not finished up to step ``k1``.

    Parameters (arrays are modified in place)
    ----------
    k1, base : int
        End of the segment; step ``k`` is column ``k − base`` of the run-major buffers.
    run_k, run_phase, run_code, given_arm : (S,) int64
        Per run: current step, phase to resume it in, why it is parked (``DONE`` = not parked),
        and the chosen arm for the ``OBSERVE`` phase.
    tables : (features (n, d), rewards (n·K,), costs (n·K,), streams (S, m) row indices)
    state : (A, A⁻¹ (S, K, d, d), A⁻¹ factor, A factor (S, K), b, θ (S, K, d), ρ, last_update,
        last_played, n_updates (S, K), λ, cost EMA (S,))
    params : (α, λ_c, γ, B (S,), has_pacer, uses_penalty, uses_ceiling (S,) bool, γ index (S,),
        staleness table, decay table (G, cap + 1), c̃, masked prices (S, K), p_max (S,),
        registered (S, K) bool)
    scenario : (has_transforms, reward scale, reward shift, cost scale (S, K), forced pulls left,
        forced arm (S,))
    outputs : run-major (S, m) arm, reward, cost, λ, forced
    consts : (tie tolerance, λ₀, ridge floor, stability trace, ceiling multiplier, η, EMA weight,
        λ cap, staleness cap, stability interval) as floats
    scratch : (scores (S, K), eligible (S, K), xᵀA⁻¹ (S, K, d), u (d,), v (d,))

    Returns
    -------
    int
        Number of parked runs (0: every run reached ``k1``).
    """
    n_parked = 0
    for s in range(run_k.shape[0]):
        if run_code[s] != DONE or run_k[s] >= k1:
            continue
        code, k = _advance_run(s, run_k[s], run_phase[s], given_arm[s], k1, base, tables, state, params,
                               scenario, outputs, consts, scratch)
        run_k[s] = k
        run_code[s] = code
        n_parked += code != DONE
    return n_parked


@nb.njit(**_JIT)
def _gauss_jordan(aug, d):
    """In-place Gauss–Jordan elimination of (n, d, d + m) augmented systems with partial pivoting.

    Exactly the operations of :func:`paretobandit.kernels.solve`, in the same order (first maximal
    |pivot|; the pivot row divided by the pivot; every other row minus its factor times the pivot
    row, columns ≥ k), so the two give the same bits for finite input.
    """
    n, _, w = aug.shape
    for s in range(n):
        a = aug[s]
        for k in range(d):
            p = k
            best = abs(a[k, k])
            for i in range(k + 1, d):
                v = abs(a[i, k])
                if v > best:
                    best = v
                    p = i
            if p != k:
                for j in range(w):
                    tmp = a[k, j]
                    a[k, j] = a[p, j]
                    a[p, j] = tmp
            piv = a[k, k]
            for j in range(k, w):
                a[k, j] = a[k, j] / piv
            for i in range(d):
                if i == k:
                    continue
                f = a[i, k]
                for j in range(k, w):
                    a[i, j] = a[i, j] - f * a[k, j]


def inverse(a: np.ndarray) -> np.ndarray:
    """Inverse of (..., d, d) matrices: compiled :func:`paretobandit.kernels.inverse` (same bits)."""
    a = np.asarray(a, dtype=np.float64)
    d = a.shape[-1]
    lead = a.shape[:-2]
    aug = np.empty(lead + (d, 2 * d))
    aug[..., :d] = a
    aug[..., d:] = np.eye(d)
    flat = np.ascontiguousarray(aug.reshape(-1, d, 2 * d))
    _gauss_jordan(flat, d)
    return flat[:, :, d:].reshape(lead + (d, d))
