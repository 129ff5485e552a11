"""What a routing decision is made from and what it reports: the immutable registry view the router
scores against, the :class:`RoutingLog` it returns, and the request-time input checks."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from . import kernels
from ._validate import number
from .errors import DimensionMismatchError, InvalidInputError
from .registry import ModelRegistry

__all__ = ["CEILING_KEY", "RegistryView", "RoutingLog", "as_context", "check_number"]

NUMBER = (int, float, np.integer, np.floating)
F64 = np.dtype(np.float64)
INF = math.inf


@dataclass(slots=True)
class RoutingLog:
    """What :meth:`BanditRouter.route` decided and why.

    Attributes
    ----------
    request_id : str
        Key for :meth:`BanditRouter.process_feedback`.
    model : str
        Chosen model.
    cost_usd : float
        Estimated $ of this request for the chosen model: ``(in·n_in + out·n_out)/1e6`` with
        ``n_in = round(1.3 × words)`` for a prompt and ``n_in = 0`` for a vector input, ``n_out`` =
        ``config.output_tokens`` (600).
    scores : dict
        ``{model: score}`` for every registered model (empty for a forced pull).
    eligible : list
        Models allowed by the pacer ceiling and ``max_cost`` (all of them when no constraint binds).
    pacer_lambda : float
        Pacer λ used for the decision (0 without a pacer).
    t : int
        Request counter at the decision.
    """

    request_id: str
    model: str
    cost_usd: float
    scores: dict = field(default_factory=dict)
    eligible: list = field(default_factory=list)
    pacer_lambda: float = 0.0
    t: int = 0


#: Registry metadata key: the blended $/M the pacer's hard ceiling uses for a model (default: its price).
CEILING_KEY = "ceiling_cost_per_m"


class RegistryView:
    """Immutable snapshot of the registry arrays used by :meth:`BanditRouter.route`."""

    __slots__ = (
        "price_list",
        "names",
        "index",
        "inp",
        "out",
        "price",
        "ncost",
        "p_max",
        "est0",
        "est0_list",
        "all_names",
        "all_true",
        "ncost_list",
    )

    def __init__(self, registry: ModelRegistry, output_tokens: int):
        arr = registry.arrays()
        self.names = tuple(registry.names)
        self.all_names = list(self.names)
        self.index = {n: i for i, n in enumerate(self.names)}
        self.inp, self.out, self.price, self.ncost = arr["input"], arr["output"], arr["price"], arr["ncost"]
        self.p_max = float(registry.p_max)
        self.est0 = kernels.request_cost_estimate(self.inp, self.out, 0, output_tokens)
        self.est0_list = self.est0.tolist()
        # $/1k the pacer's eligibility compares: the blended price, unless the registry entry carries its
        # own ``ceiling_cost_per_m`` (a blended $/M field that disagrees with its input/output prices)
        self.price_list = [
            float(spec.metadata[CEILING_KEY]) / 1000.0 if CEILING_KEY in spec.metadata else p
            for spec, p in zip(registry.specs(), self.price.tolist(), strict=True)
        ]
        if self.price_list:
            self.p_max = max(self.price_list)
        self.ncost_list = self.ncost.tolist()
        self.all_true = [True] * len(self.names)


def check_number(name, value, *, positive=False, nonneg=False) -> float:
    """A request-time number (``max_cost``, ``cost``, ...) as a float; :class:`InvalidInputError` if not."""
    low = 0.0 if positive or nonneg else None
    return number(name, value, low=low, low_open=positive, to_float=True, error=InvalidInputError)


def as_context(x, d: int) -> np.ndarray:
    """``x`` as a finite float64 vector of length ``d`` (for :meth:`BanditRouter.update`)."""
    try:
        vec = np.array(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidInputError(f"context must be a numeric vector, got {type(x).__name__}") from None
    if vec.shape != (d,):
        raise DimensionMismatchError(f"context must have shape ({d},) (bias last), got {vec.shape}")
    if not np.isfinite(vec).all() or not float(vec @ vec) <= 1e12:
        raise InvalidInputError("context contains NaN/Inf or has norm above 1e6")
    return vec
