"""Pure functions of the hyper-parameter optimisation (docs/PROTOCOLS.md §A1): objectives and knee selection.

Objective 1 is the normalised linear-cost area under the monotone upper hull of (cost, reward) points
(:func:`monotone_hull`, :func:`hull_auc`; the fixed models' reference range and AUC:
:func:`fixed_model_points`), with the trapezoid over ln B (:func:`log_budget_auc`) as a labelled extra.
Selection takes the knee of the (AUC, P2) Pareto frontier (:func:`pareto_front`, :func:`frontier_knee`);
:func:`knee_bootstrap` measures its stability over seed resamples. No simulation happens here: the runs
are :mod:`paretobandit.experiments.hyperparameter_sweep`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import ConfigError, DimensionMismatchError

__all__ = [
    "fixed_model_points",
    "frontier_knee",
    "hull_auc",
    "knee_bootstrap",
    "log_budget_auc",
    "monotone_hull",
    "pareto_front",
]


def log_budget_auc(rewards, budgets) -> np.ndarray:
    """Extra metric: normalised trapezoid of reward over ln(budget); ``rewards`` (..., n_budgets)."""
    b = np.asarray(budgets, dtype=float)
    r = np.asarray(rewards, dtype=float)
    if b.ndim != 1 or b.size < 2 or r.shape[-1] != b.size or (np.diff(b) <= 0).any() or (b <= 0).any():
        raise ConfigError("log_budget_auc needs >= 2 increasing positive budgets matching rewards' last axis")
    w = np.diff(np.log(b))
    return ((r[..., 1:] + r[..., :-1]) / 2 * w).sum(axis=-1) / w.sum()


def monotone_hull(costs, rewards) -> tuple[np.ndarray, np.ndarray]:
    """Monotone upper envelope: sort by cost ascending (ties: reward descending), keep a point iff its
    reward is strictly greater than every point kept so far. Returns ``(hull_costs, hull_rewards)``."""
    c, r = np.asarray(costs, dtype=float).ravel(), np.asarray(rewards, dtype=float).ravel()
    if c.shape != r.shape or not np.isfinite(c).all() or not np.isfinite(r).all():
        raise DimensionMismatchError(
            f"costs and rewards must be finite and of equal length: {c.shape}, {r.shape}"
        )
    hx: list[float] = []
    hy: list[float] = []
    for i in np.lexsort((-r, c)):
        if not hy or r[i] > hy[-1]:
            hx.append(float(c[i]))
            hy.append(float(r[i]))
    return np.asarray(hx), np.asarray(hy)


def hull_auc(costs, rewards, c_lo: float, c_hi: float) -> float:
    """Normalised area under the monotone hull of the points over ``[c_lo, c_hi]`` in linear cost.

    Trapezoid over ``{c_lo} ∪ {hull costs strictly inside} ∪ {c_hi}``, the hull read by linear
    interpolation with flat extrapolation beyond its ends (``numpy.interp``), divided by ``c_hi − c_lo``.
    0 when the range is empty (``c_hi <= c_lo``) or there are no points.
    """
    hx, hy = monotone_hull(costs, rewards)
    c_lo, c_hi = float(c_lo), float(c_hi)
    if hx.size == 0 or not c_hi > c_lo:
        return 0.0
    xs = np.concatenate([[c_lo], hx[(hx > c_lo) & (hx < c_hi)], [c_hi]])
    return float(np.trapezoid(np.interp(xs, hx, hy), xs) / (c_hi - c_lo))


def fixed_model_points(rewards, costs) -> dict:
    """Per-arm mean reward and cost of a split, the cost range ``[c_lo, c_hi]`` and the fixed-model AUC."""
    r, c = np.asarray(rewards, dtype=float), np.asarray(costs, dtype=float)
    if r.ndim != 2 or r.shape != c.shape or r.shape[0] == 0:
        raise DimensionMismatchError(
            f"rewards and costs must be equal (n, K) arrays, got {r.shape}, {c.shape}"
        )
    mr, mc = r.mean(axis=0), c.mean(axis=0)
    lo, hi = float(mc.min()), float(mc.max())
    return {
        "reward": mr.tolist(),
        "cost": mc.tolist(),
        "c_lo": lo,
        "c_hi": hi,
        "auc": hull_auc(mc, mr, lo, hi),
    }


def pareto_front(points) -> np.ndarray:
    """Boolean mask of the non-dominated rows of ``points`` (n, 2); both objectives maximised."""
    p = np.asarray(points, dtype=float)
    if p.ndim != 2 or p.shape[1] != 2 or p.shape[0] == 0 or not np.isfinite(p).all():
        raise DimensionMismatchError(f"points must be a finite (n, 2) array, got {p.shape}")
    ge = (p[None, :, :] >= p[:, None, :]).all(axis=2)  # ge[i, j]: j >= i in both
    gt = (p[None, :, :] > p[:, None, :]).any(axis=2)
    return ~(ge & gt).any(axis=1)


def frontier_knee(points) -> dict:
    """Knee of the Pareto frontier of ``points`` (n, 2) = (AUC, P2), both maximised (§A1 selection).

    Frontier ordered by AUC ascending; both objectives min–max normalised over the frontier points only
    (range + 1e-12); knee = the frontier point farthest from the chord joining the first and last
    frontier points (first maximum wins). One frontier point ⇒ it; two ⇒ the one closest to (1, 1).

    Returns
    -------
    dict
        ``knee`` (row index), ``frontier`` (row indices by AUC ascending), ``distance`` (per frontier point).
    """
    p = np.asarray(points, dtype=float)
    idx = np.flatnonzero(pareto_front(p))
    idx = idx[np.argsort(p[idx, 0], kind="stable")]
    f = p[idx]
    z = (f - f.min(axis=0)) / (np.ptp(f, axis=0) + 1e-12)
    if idx.size == 1:
        dist = np.zeros(1)
        k = 0
    elif idx.size == 2:
        dist = np.hypot(1.0 - z[:, 0], 1.0 - z[:, 1])
        k = int(np.argmin(dist))
    else:
        chord = z[-1] - z[0]
        rel = z - z[0]
        dist = np.abs(chord[0] * rel[:, 1] - chord[1] * rel[:, 0]) / max(float(np.hypot(*chord)), 1e-300)
        k = int(np.argmax(dist))
    return {"knee": int(idx[k]), "frontier": idx.tolist(), "distance": dist.tolist()}


def knee_bootstrap(
    auc,
    p2,
    cells: Sequence[tuple[float, float]],
    *,
    n_resamples: int = 2000,
    seed: int = 42,
    gamma_step: float = 0.001,
) -> dict:
    """Knee stability over seed resamples (§A1): ``default_rng(seed)``, ``n_resamples × choice(S, S)``.

    ``auc`` and ``p2`` are (n_cells, S) per-seed objectives, resampled with the same index vector (paired
    by index). Returns the knee index of every resample plus ``original`` (the full-sample knee),
    ``original_freq``, ``modal`` (index) and ``modal_freq``, ``n_distinct`` and ``neighbourhood_freq``
    (same α and |Δγ| ≤ ``gamma_step`` as the original knee).
    """
    a, q = np.asarray(auc, dtype=float), np.asarray(p2, dtype=float)
    if a.ndim != 2 or a.shape != q.shape or a.shape[0] != len(cells) or a.shape[1] == 0:
        raise DimensionMismatchError(
            f"auc and p2 must be (n_cells, S) with n_cells = {len(cells)}: {a.shape}, {q.shape}"
        )
    n_seeds = a.shape[1]
    original = frontier_knee(np.column_stack([a.mean(axis=1), q.mean(axis=1)]))["knee"]
    rng = np.random.default_rng(seed)
    knees = np.empty(int(n_resamples), dtype=int)
    for i in range(int(n_resamples)):
        ix = rng.choice(n_seeds, n_seeds)
        knees[i] = frontier_knee(np.column_stack([a[:, ix].mean(axis=1), q[:, ix].mean(axis=1)]))["knee"]
    counts = np.bincount(knees, minlength=len(cells))
    modal = int(np.argmax(counts))
    a0, g0 = cells[original]
    near = np.array(
        [
            abs(cells[k][0] - a0) < 1e-12 and abs(cells[k][1] - g0) <= gamma_step + 1e-9
            for k in range(len(cells))
        ]
    )
    return {
        "original": int(original),
        "original_freq": float(counts[original] / knees.size),
        "modal": modal,
        "modal_freq": float(counts[modal] / knees.size),
        "n_distinct": int((counts > 0).sum()),
        "neighbourhood_freq": float(near[knees].mean()),
        "counts": counts.tolist(),
    }
