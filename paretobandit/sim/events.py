"""Scenario events of a simulated batch: repricing, reward/cost transforms, onboarding.

Every event names an arm by its column in the batch's tables and a *step*: the 0-based position in
the run's stream. Point events (:class:`PriceChange`, :class:`Onboard`) take effect just before the
request at ``step`` is routed; range events (:class:`RewardTransform`, :class:`CostTransform`) act on
the feedback of every request at positions ``start <= step < stop``. ``runs`` restricts an event to
some runs of the batch (a sequence of run indices or a boolean mask of length S; ``None`` = all).

The router-side meaning of each event (what an online deployment does at that moment):

* :class:`PriceChange` — ``router.update_model_pricing(name, input, output)``: blended price,
  normalised cost ``c̃`` and the hard-ceiling ``p_max`` change for the next route.
* :class:`RewardTransform` — the environment changes: the observed reward of the arm becomes
  ``clip(scale·r + shift, 0, 1)`` (:meth:`RewardTransform.constant`, :meth:`~RewardTransform.scaled`,
  :meth:`~RewardTransform.shifted`).
* :class:`CostTransform` — the realised $ cost of the arm is multiplied by ``scale``.
* :class:`Onboard` — ``router.register_model(name, input, output)`` (cold arm, ``last_update =
  last_played = t``) followed by ``n_forced`` routes forced to the new arm (positions ``step …
  step + n_forced − 1``), each with the usual bandit and pacer update. Before ``step`` the arm is
  not registered: never eligible, not part of ``p_max``.

Example
-------
>>> from paretobandit.sim import PriceChange, RewardTransform, CostTransform
>>> drop = 0.10 / 5.625                                    # Pro at 0.10/0.10 $/M during P2
>>> events = [PriceChange(step=608, arm=2, input_cost_per_m=0.10, output_cost_per_m=0.10),
...           CostTransform(arm=2, start=608, stop=1216, scale=drop),
...           PriceChange(step=1216, arm=2, input_cost_per_m=1.25, output_cost_per_m=10.0)]
>>> degrade = RewardTransform.constant(arm=1, start=608, stop=1216, value=0.75)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validate import integer, number
from ..errors import ConfigError

__all__ = ["CostTransform", "Event", "Onboard", "PriceChange", "RewardTransform", "run_mask"]


def _check_int(name: str, value: Any, low: int = 0) -> int:
    return integer(name, value, low=low)


def _check_float(name: str, value: Any, low: float | None = None) -> float:
    return number(name, value, low=low, to_float=True)


def run_mask(runs: Any, n_runs: int) -> np.ndarray:
    """Boolean mask (S,) of the runs an event applies to (``None`` = every run)."""
    if runs is None:
        return np.ones(n_runs, dtype=bool)
    arr = np.asarray(runs)
    if arr.dtype == bool:
        if arr.shape != (n_runs,):
            raise ConfigError(f"event run mask must have shape ({n_runs},), got {arr.shape}")
        return arr.copy()
    if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer) and arr.size:
        raise ConfigError(f"event runs must be run indices or a boolean mask, got {runs!r}")
    if arr.size and (arr.min() < 0 or arr.max() >= n_runs):
        raise ConfigError(f"event run index out of range [0, {n_runs}): {runs!r}")
    mask = np.zeros(n_runs, dtype=bool)
    mask[arr.astype(np.intp)] = True
    return mask


@dataclass(frozen=True)
class PriceChange:
    """Reprice ``arm`` to ``(input_cost_per_m, output_cost_per_m)`` $/M before the route at ``step``."""

    step: int
    arm: int
    input_cost_per_m: float
    output_cost_per_m: float
    runs: Any = None

    def __post_init__(self) -> None:
        _check_int("PriceChange.step", self.step)
        _check_int("PriceChange.arm", self.arm)
        _check_float("PriceChange.input_cost_per_m", self.input_cost_per_m, 0.0)
        _check_float("PriceChange.output_cost_per_m", self.output_cost_per_m, 0.0)


@dataclass(frozen=True)
class RewardTransform:
    """Observed reward of ``arm`` becomes ``clip(scale·r + shift, 0, 1)`` for steps in ``[start, stop)``."""

    arm: int
    start: int
    stop: int
    scale: float = 1.0
    shift: float = 0.0
    runs: Any = None

    def __post_init__(self) -> None:
        _check_int("RewardTransform.arm", self.arm)
        _check_int("RewardTransform.start", self.start)
        _check_int("RewardTransform.stop", self.stop)
        if self.stop <= self.start:
            raise ConfigError(f"RewardTransform needs start < stop, got [{self.start}, {self.stop})")
        _check_float("RewardTransform.scale", self.scale)
        _check_float("RewardTransform.shift", self.shift)

    @classmethod
    def constant(cls, arm: int, start: int, stop: int, value: float, runs: Any = None) -> RewardTransform:
        """Every reward of ``arm`` in the range is ``value`` (e.g. Exp 03: Mistral := 0.75)."""
        return cls(arm, start, stop, scale=0.0, shift=_check_float("value", value), runs=runs)

    @classmethod
    def scaled(cls, arm: int, start: int, stop: int, factor: float, runs: Any = None) -> RewardTransform:
        """Rewards multiplied by ``factor`` (then clipped), e.g. Exp 04 bad_cheap: × 0.5."""
        return cls(arm, start, stop, scale=factor, shift=0.0, runs=runs)

    @classmethod
    def shifted(cls, arm: int, start: int, stop: int, delta: float, runs: Any = None) -> RewardTransform:
        """Rewards shifted by ``delta`` and clipped to [0, 1] (mean-shift degradation)."""
        return cls(arm, start, stop, scale=1.0, shift=delta, runs=runs)

    def apply(self, reward):
        """The transformed reward(s) — the same arithmetic the engine uses."""
        return np.clip(self.scale * np.asarray(reward, dtype=float) + self.shift, 0.0, 1.0)


@dataclass(frozen=True)
class CostTransform:
    """Realised $ cost of ``arm`` multiplied by ``scale`` for steps in ``[start, stop)``."""

    arm: int
    start: int
    stop: int
    scale: float
    runs: Any = None

    def __post_init__(self) -> None:
        _check_int("CostTransform.arm", self.arm)
        _check_int("CostTransform.start", self.start)
        _check_int("CostTransform.stop", self.stop)
        if self.stop <= self.start:
            raise ConfigError(f"CostTransform needs start < stop, got [{self.start}, {self.stop})")
        _check_float("CostTransform.scale", self.scale, 0.0)

    def apply(self, cost):
        """The transformed cost(s) — the same arithmetic the engine uses."""
        return self.scale * np.asarray(cost, dtype=float)


@dataclass(frozen=True)
class Onboard:
    """Register ``arm`` (cold) before the route at ``step``, then force it for ``n_forced`` routes.

    ``input_cost_per_m``/``output_cost_per_m`` are its registry prices; ``None`` keeps the prices
    given to the simulator for that column. ``ceiling_cost_per_m`` is the blended $/M the hard pacer
    ceiling uses for the arm (eligibility and ``p_max``): ``None`` = (input + output)/2, the price
    that also sets ``c̃``. A different value models a registry whose ``blended_cost_per_m`` field
    disagrees with its input/output prices (the upstream good_expensive quirk, docs/PROTOCOLS.md §B3).
    """

    step: int
    arm: int
    n_forced: int = 20
    input_cost_per_m: float | None = None
    output_cost_per_m: float | None = None
    runs: Any = None
    ceiling_cost_per_m: float | None = None

    def __post_init__(self) -> None:
        _check_int("Onboard.step", self.step)
        _check_int("Onboard.arm", self.arm)
        _check_int("Onboard.n_forced", self.n_forced)
        if (self.input_cost_per_m is None) != (self.output_cost_per_m is None):
            raise ConfigError("Onboard needs both input_cost_per_m and output_cost_per_m, or neither")
        if self.input_cost_per_m is not None:
            _check_float("Onboard.input_cost_per_m", self.input_cost_per_m, 0.0)
            _check_float("Onboard.output_cost_per_m", self.output_cost_per_m, 0.0)
        if self.ceiling_cost_per_m is not None:
            _check_float("Onboard.ceiling_cost_per_m", self.ceiling_cost_per_m, 0.0)


Event = PriceChange | RewardTransform | CostTransform | Onboard
