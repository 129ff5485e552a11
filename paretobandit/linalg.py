"""CPU-independent arithmetic: correctly rounded ``x**y`` and ``ln x``, and fixed-order linear algebra.

Everything that decides a routing decision is computed with operations whose IEEE-754 result does not
depend on the CPU. The transcendental functions, whose libm/SVML results differ between instruction sets
by an ulp, are replaced by correctly rounded exact arithmetic (:func:`exact_power`, :func:`exact_log`),
and the linear algebra on the decision path (prior rescaling, re-inversions, ``θ = A⁻¹b``, warm-up Gram
matrices) uses :func:`solve`, :func:`inverse`, :func:`matvec` and :func:`gram` — fixed-order elementwise
NumPy, never BLAS/LAPACK, whose kernels (and hence roundings) are chosen per CPU. The compiled
simulator's :func:`paretobandit.sim._compiled.inverse` is the one accelerated twin of :func:`inverse`
(same operations, same bits; ``tests/test_determinism.py``).
"""

from __future__ import annotations

import decimal
import functools
from fractions import Fraction

import numpy as np

__all__ = ["exact_log", "exact_power", "gram", "inverse", "matvec", "solve"]


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
