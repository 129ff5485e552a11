"""Optional numba acceleration of the router's per-arm loops for large portfolios.

For more than :data:`paretobandit.policy.SMALL_K` arms a Python loop over the arms costs more than
the matrix products; when numba is importable, :func:`ucb_scores` runs the very same
:func:`paretobandit.kernels.ucb_score` (compiled as-is, like the simulator's kernel) over arrays.
Without numba the policy keeps the pure-Python loop (same values).
"""

from __future__ import annotations

import numba as nb

from . import kernels
from ._numba_cache import invalidate_if_changed
from .kernels import ucb_score

invalidate_if_changed(__file__, kernels.__file__)  # ucb_score is compiled from kernels.py

_score = nb.njit(inline="always", cache=True)(ucb_score)


@nb.njit(cache=True, nogil=True)
def ucb_scores(var, mean, last_touch, scale, t, table, cap, alpha, penalty, out):
    """``out[a] = ucb_score(mean[a], var[a], table[min(t − last_touch[a], cap)]·scale[a], α, penalty[a])``."""
    tcap = table[cap]
    for a in range(out.shape[0]):
        dt = t - last_touch[a]
        out[a] = _score(mean[a], var[a], (table[dt] if dt < cap else tcap) * scale[a], alpha, penalty[a])
