"""An already-extracted context for :meth:`BanditRouter.route <paretobandit.router.BanditRouter.route>`.

``router.route(ReplayContext(x, n_in))`` routes the context vector ``x`` (length ``router.dimension``,
bias last) as if the feature service had produced it, without calling the feature service; ``n_in`` is
the request's input-token estimate used for the cost estimate (0 for a vector request). The durable
journal replays routes this way (:mod:`paretobandit.durable`), and so can any caller that computed the
context itself.
"""

from __future__ import annotations

import numpy as np

from .errors import InvalidInputError

__all__ = ["ReplayContext"]


class ReplayContext:
    """A context vector ``x`` (copied as float64) and the input-token count ``n_in`` of one request.

    Raises
    ------
    InvalidInputError
        ``x`` is not a finite 1-D numeric vector, or ``n_in`` is not an int >= 0.
    """

    __slots__ = ("n_in", "x")

    def __init__(self, x, n_in: int = 0):
        try:
            vec = np.array(x, dtype=np.float64)
        except (TypeError, ValueError):
            raise InvalidInputError(f"ReplayContext needs a numeric vector, got {type(x).__name__}") from None
        if vec.ndim != 1 or not vec.size or not np.isfinite(vec).all():
            raise InvalidInputError(f"ReplayContext needs a finite non-empty 1-D vector, got {vec.shape}")
        if isinstance(n_in, bool) or not isinstance(n_in, (int, np.integer)) or n_in < 0:
            raise InvalidInputError(f"n_in must be an int >= 0, got {n_in!r}")
        self.x, self.n_in = vec, int(n_in)

    def __repr__(self) -> str:
        return f"ReplayContext(d={self.x.size}, n_in={self.n_in})"
