"""Compiled (numba) inner loop of :class:`~paretobandit.sim.engine.BatchSimulator`.

One function, :func:`advance`, steps every run of a batch through a *segment* of steps that contains
no scenario event (events are applied in Python at segment boundaries, exactly as in the NumPy
step). It implements docs/ALGORITHM.md ``route`` + ``feedback`` for the chosen arm of each run, in
the same order and with the same element-wise IEEE expressions as the NumPy reference path
(``BatchSimulator._step_numpy`` and the kernels in :mod:`paretobandit.kernels`):

* scores ``s_a = θ_aᵀx + α·sqrt(max(inflation·xᵀA⁻¹x, 0)) − w·c̃_a`` with the router's staleness
  table, ``w = λ_c + λ`` (penalty modes) or ``λ_c``;
* eligibility by the hard ceiling ``p_a ≤ multiplier·p_max/(1 + λ)`` (dropped when it empties the
  set), intersected with the registered arms;
* the best eligible arm; scores within ``TIE_TOLERANCE`` of the best are ties;
* forgetting ``A ← gA, b ← gb, A⁻¹ ← A⁻¹/g, ρ ← gρ`` with ``g = γ^min(dt, cap)``;
  Sherman–Morrison; ``θ ← θ + u(r − xᵀθ)/den``; ``A ← A + xxᵀ``; ``b ← b + r·x``; the periodic
  stability check; the pacer step.

``A`` itself is kept up to date here (two cheap d×d passes over data already in cache), unlike the
NumPy step, which logs A's updates and replays them only when a repair or the result needs ``A``.

Numerics: the reference's operations in the reference's order, except three rewrites that change
results only by rounding (far inside the 1e-9 contract — the online router's own stacked GEMV
differs from NumPy's batched matmul in the same way): dot products are summed in vectorised order
(``fastmath={"reassoc"}`` on :func:`_dot`/:func:`_matvec` only); the variance is computed as
``Σ_ij A⁻¹_ij·(x xᵀ)_ij`` with ``x xᵀ`` formed once per step for all arms; and the element-wise
divisions of the update (``A⁻¹/g``, ``uuᵀ/den``) multiply by ``1/g`` and ``u/den``. Divisions are
the costliest instruction here (two d×d of them per run-step).

Runs are processed one after the other (run-major), so a run's ``A``, ``A⁻¹`` (2·K·d² floats) stay
in cache for the whole segment; the stream and the per-step outputs are run-major (S, n) buffers
for the same reason (a (T, S) array read down a column misses the cache at every step).

The kernel hands control back to Python — returning ``(code, run, step)`` — for the rare things
that must stay in the reference implementation:

``TIE``
    more than one arm tied at the top: Python calls :func:`kernels.pick_arm` with the run's own
    ``default_rng(seed)`` (so the generator is consumed exactly as in the router) and resumes the
    step at ``OBSERVE`` with the chosen arm. ``scores``/``eligible`` hold that run's step.
``FLOOR``, ``CORRUPT``, ``STABILITY``
    a re-inversion repair (ridge floor after the decay; ``den < 1`` before Sherman–Morrison;
    ``trace(A⁻¹)`` above the limit after it). Python adds the ridge term to ``A``, re-inverts it
    with NumPy (:meth:`BatchSimulator._repair`, shared with the NumPy step) and resumes at the next
    phase (``AFTER_FLOOR`` / ``AFTER_CORRUPT`` /
    ``AFTER_STABILITY``).

Compiled with ``cache=True`` (the machine code is stored in ``__pycache__``; the first call in a
fresh environment pays the compilation) and ``nogil=True`` (sub-batches step in parallel threads).
This module imports numba at import time; the engine imports it lazily and falls back to NumPy.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

__all__ = ["AFTER_CORRUPT", "AFTER_FLOOR", "AFTER_STABILITY", "CORRUPT", "DONE", "FLOOR", "OBSERVE",
           "ROUTE", "STABILITY", "TIE", "advance"]

# Return codes of advance().
DONE, TIE, FLOOR, CORRUPT, STABILITY = 0, 1, 2, 3, 4
# Entry phases of a step (where advance() resumes the step of run ``s_start`` at ``k_start``).
ROUTE, OBSERVE, AFTER_FLOOR, AFTER_CORRUPT, AFTER_STABILITY = 0, 1, 2, 3, 4

_JIT = dict(nogil=True, cache=True)
#: Pending factors of A⁻¹ (growing) and A (shrinking) are applied before they leave [1/max, max].
_SCALE_MAX = 1e32
# Dot products may be summed in any order (vectorised); nothing else is re-associated.
_JIT_DOT = dict(_JIT, fastmath={"reassoc"})


@nb.njit(**_JIT_DOT)
def _dot(a, b):
    acc = 0.0
    for i in range(a.shape[0]):
        acc += a[i] * b[i]
    return acc


@nb.njit(**_JIT)
def _vecmat(x, m, out):
    """``out ← xᵀm = Σ_i x_i·m[i, :]`` — row updates, no reduction (vectorises over the columns).

    For the symmetric ``A⁻¹`` this is ``A⁻¹x`` up to rounding.
    """
    for j in range(m.shape[1]):
        out[j] = 0.0
    for i in range(m.shape[0]):
        xi = x[i]
        for j in range(m.shape[1]):
            out[j] += xi * m[i, j]


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


@nb.njit(**_JIT)
def _route(s, t, x, ys, ainv, ai_scale, theta, last_update, last_played, lam, alpha, lam_c, uses_penalty,
           uses_ceiling, gamma_col, stale, cap, ncost, price_masked, pmax, active, multiplier, tol, scores,
           eligible):
    """Scores and eligibility of run ``s`` (into ``scores``/``eligible``); returns (n_tied, first).

    ``ys[a]`` receives ``xᵀA⁻¹_a`` (stored matrix, without its pending factor) of every eligible arm;
    the update of the chosen arm reuses it.
    """
    n_arms = scores.shape[0]
    lam_s = lam[s]
    # -- eligibility: hard ceiling (kernels.ceiling_eligible) ∩ registered arms
    lam_ceiling = lam_s if uses_ceiling[s] else 0.0
    limit = (multiplier * pmax[s]) / (1.0 + lam_ceiling)
    any_ok = False
    for a in range(n_arms):
        ok = (price_masked[s, a] <= limit) or (lam_ceiling <= 0.0)
        eligible[a] = ok
        any_ok = any_ok or ok
    for a in range(n_arms):
        eligible[a] = (eligible[a] or not any_ok) and active[s, a]
    # -- scores of the eligible arms (kernels.arm_scores)
    weight = lam_c[s] + (lam_s if uses_penalty[s] else 0.0)
    g = gamma_col[s]
    for a in range(n_arms):
        if not eligible[a]:
            continue
        dt = t - max(last_update[s, a], last_played[s, a])
        infl = stale[g, min(dt, cap)]
        mean = _dot(theta[s, a], x)
        _vecmat(x, ainv[s, a], ys[a])
        var = ai_scale[s, a] * _dot(ys[a], x) * infl
        if var < 0.0:          # max(var, 0) keeping NaN, like np.maximum
            var = 0.0
        scores[a] = mean + alpha[s] * math.sqrt(var) - weight * ncost[s, a]
    # -- ties (kernels.tied_best): NaN among the eligible scores makes the best NaN (nothing ties)
    best = -np.inf
    for a in range(n_arms):
        if eligible[a]:
            v = scores[a]
            if v != v:
                best = np.nan
                break
            if v > best:
                best = v
    n_tied, first = 0, 0
    for a in range(n_arms):
        if eligible[a] and scores[a] >= best - tol:
            if n_tied == 0:
                first = a
            n_tied += 1
    return n_tied, first


@nb.njit(**_JIT)
def advance(k0, k1, s_start, k_start, phase, given_arm, base,
            # tables; streams (S, n) run-major: column k − base is step k
            features, rewards, costs, streams,
            # arm state (S, K, ...) and pacer state (S,)
            a_mat, ainv, ai_scale, a_scale, b, theta, rho, last_update, last_played, n_updates, lam, cost_ema,
            # per-run parameters
            alpha, lam_c, gamma, budget, has_pacer, uses_penalty, uses_ceiling, gamma_col, stale, decay,
            ncost, price_masked, pmax, active,
            # scenario state of the segment
            has_transforms, r_scale, r_shift, c_scale, forced_left, forced_arm,
            # outputs (S, n) run-major, column k − base (the engine transposes them into its (T, S) arrays)
            out_arm, out_r, out_c, out_lam, out_forced,
            # constants: (tol, ridge, ridge_floor, stability_trace, multiplier, eta, ema_alpha, lambda_cap)
            consts, cap, stability_interval,
            # scratch
            scores, eligible, ys, u, v):
    """Advance runs ``s_start …`` through steps ``[k0, k1)``; run ``s_start`` starts at ``k_start``
    in ``phase`` (``given_arm`` is its choice when ``phase == OBSERVE``).

    Returns ``(DONE, S, k1)`` when every run finished the segment, otherwise ``(code, s, k)``: run
    ``s`` needs Python at step ``k`` (see the module docstring).
    """
    tol, ridge, ridge_floor, stability_trace = consts[0], consts[1], consts[2], consts[3]
    multiplier, eta, ema_alpha, lambda_cap = consts[4], consts[5], consts[6], consts[7]
    n_runs, n_arms = ainv.shape[0], ainv.shape[1]
    d = features.shape[1]
    ainv_flat = ainv.reshape(n_runs, n_arms, d * d)
    a_flat = a_mat.reshape(n_runs, n_arms, d * d)
    for s in range(s_start, n_runs):
        k = k_start if s == s_start else k0
        ph = phase if s == s_start else ROUTE
        while k < k1:
            t = k + 1
            col = k - base                  # column of step k in the run-major buffers
            x = features[streams[s, col]]
            routed = ph == OBSERVE          # ys[arm] holds xᵀA⁻¹ of the chosen arm (before the decay)
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
                    n_tied, arm = _route(s, t, x, ys, ainv, ai_scale, theta, last_update, last_played, lam,
                                         alpha, lam_c, uses_penalty, uses_ceiling, gamma_col, stale, cap,
                                         ncost, price_masked, pmax, active, multiplier, tol, scores,
                                         eligible)
                    if n_tied > 1:
                        return TIE, s, k
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
                # u = A⁻¹x of this step = (factor of A⁻¹ at the route / g)·ys[arm]
                u_factor = ai_scale[s, arm]
                # 1. forgetting (γ = 1 would give g = 1 exactly: skipped) + ridge floor check.
                #    A⁻¹ ← A⁻¹/g and A ← gA go into the arms' pending factors.
                if gamma[s] < 1.0:
                    g = decay[gamma_col[s], min(max(t - last_update[s, arm], 0), cap)]
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
                    if rho[s, arm] < ridge_floor * ridge:
                        _fold(ainv_flat, a_flat, ai_scale, a_scale, s, arm)
                        return FLOOR, s, k
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
                        u[i] = ys[arm, i] * u_factor
                else:
                    _vecmat(x, ai, u)
                    for i in range(d):
                        u[i] *= c
                den = 1.0 + _dot(u, x)
                if ph <= AFTER_FLOOR and den < 1.0:
                    _fold(ainv_flat, a_flat, ai_scale, a_scale, s, arm)
                    return CORRUPT, s, k
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
                if n_updates[s, arm] % stability_interval == 0:
                    trace = 0.0
                    for i in range(d):
                        trace += ai[i, i]
                    if c * trace > stability_trace:
                        _fold(ainv_flat, a_flat, ai_scale, a_scale, s, arm)
                        return STABILITY, s, k
            # ---------------------------------------------------------------- 5. pacer
            if has_pacer[s]:
                ema = (1.0 - ema_alpha) * cost_ema[s] + ema_alpha * out_c[s, col]
                lam[s] = min(lambda_cap, max(0.0, lam[s] + eta * (ema / budget[s] - 1.0)))
                cost_ema[s] = ema
            k += 1
            ph = ROUTE
        for a in range(n_arms):             # the run's state is plain again when Python sees it
            _fold(ainv_flat, a_flat, ai_scale, a_scale, s, a)
    return DONE, n_runs, k1
