"""The plug-in API: the two things a researcher swaps — the *policy* and the *pacer*.

A plug-in is a small stateful class (in the style of scikit-learn / River): constructor arguments are its
settings, its learned state is explicit, and ``state_dict()`` / ``from_state()`` round-trip it through
JSON/``.npz``. A class written once runs unchanged in the online :class:`~paretobandit.router.BanditRouter`
and in the simulator (:func:`paretobandit.sim.simulate` with ``policy=`` / ``pacer=``) on every scenario —
reprices, reward/cost transforms, onboarding — because the simulator drives exactly the router's code path
for plug-ins that have no compiled kernel. The built-in :class:`~paretobandit.policy.LinUCBPolicy` and
:class:`~paretobandit.pacer.BudgetPacer` are plug-ins like any other; the simulator recognises them and
uses its compiled batch kernel (same decisions, ``tests/test_sim_exactness.py``).

How the router uses them, per request (docs/ALGORITHM.md)::

    mask  = pacer.eligible(prices_per_1k, p_max)              # None: every arm
    w     = config.cost_penalty + pacer.penalty_weight()
    s     = policy.scores(x, t, alpha, [w·c̃_a for each arm])  # under policy.lock
    arm   = kernels.pick_arm(s, mask, rng)                     # best eligible, seeded ties
    policy.touch(arm, t)
    ... feedback: policy.update(arm, x, reward)                # under policy.write_lock
                  pacer.step(realised_cost)

Factories. Where a plug-in is *configured* rather than built (``BanditRouter.create(policy=...)``, the
simulator, Hydra's ``_target_`` with ``_partial_: true``), give a callable: a policy factory is called as
``factory(dimension=d, n_arms=K, config=RouterConfig, seed=int | None)``, a pacer factory as
``factory(budget=B)``. A class whose constructor takes those keywords is its own factory.
"""

from __future__ import annotations

import math
import numbers
import threading
from typing import Any, Protocol, runtime_checkable

import numpy as np

from .errors import InvalidInputError, StateFileError

__all__ = ["Pacer", "PacerBase", "Policy", "PolicyBase", "check_cost"]


@runtime_checkable
class Pacer(Protocol):
    """How realised cost steers routing: a score penalty weight and/or a hard eligibility rule.

    Attributes
    ----------
    budget : float
        Target mean $ per request.
    lambda_ : float
        The current multiplier, reported in every :class:`~paretobandit.router.RoutingLog`.
    """

    budget: float
    lambda_: float

    def penalty_weight(self) -> float:
        """Weight added to the static cost weight λ_c on the normalised cost c̃ (0 for none)."""

    def eligible(self, prices: list[float], p_max: float) -> list[bool] | None:
        """Arms allowed by the budget, from their blended prices ($/1k) and the largest one; ``None``
        means every arm (the common, cheapest answer)."""

    def step(self, cost: float) -> None:
        """Learn from one realised cost (a finite float ≥ 0, validated by the caller)."""

    def state_dict(self) -> dict:
        """JSON-able settings and state; :meth:`from_state` inverts it."""

    @classmethod
    def from_state(cls, state: dict) -> Pacer:
        """Rebuild from :meth:`state_dict` output, validated (raises
        :class:`~paretobandit.errors.StateFileError`)."""


@runtime_checkable
class Policy(Protocol):
    """How arms are scored and learned, for a K-arm portfolio on d-dimensional contexts (bias last).

    Attributes
    ----------
    d : int
        Context dimension.
    n_arms : int
        Number of arms K (changes with :meth:`add_arm` / :meth:`remove_arm`).
    t : int
        Request counter, advanced by the router at each decision (before :meth:`scores` returns).
    lock, write_lock : locks
        The router scores under ``lock`` and applies feedback and registry changes under ``write_lock``;
        :meth:`update` must take ``lock`` itself around whatever :meth:`scores` reads.
    """

    d: int
    t: int
    lock: Any
    write_lock: Any

    @property
    def n_arms(self) -> int: ...

    def scores(self, x, t: int, alpha: float, penalty) -> tuple:
        """Scores of all arms for context ``x`` at request ``t`` (caller holds ``lock``).

        ``alpha`` is the exploration weight (0 inside :meth:`BanditRouter.exploit`), ``penalty`` the
        per-arm list ``w·c̃_a`` to subtract. Returns ``(scores: list[float], x·x: float)`` — the squared
        norm lets the router reject huge vectors without a second pass.
        """

    def touch(self, arm: int, t: int) -> None:
        """``arm`` was chosen at request ``t`` (caller holds ``lock``)."""

    def update(self, arm: int, x, reward: float) -> None:
        """Learn reward ``r ∈ [0, 1]`` of ``arm`` on context ``x`` (caller holds ``write_lock``)."""

    def add_arm(self, A=None, b=None, on_commit=None) -> None:
        """Append a cold arm (or one with prior ``A``, ``b``); call ``on_commit()`` under ``lock``."""

    def remove_arm(self, arm: int, on_commit=None) -> None:
        """Drop an arm's state; call ``on_commit()`` under ``lock``."""

    def set_prior(self, arm: int, A, b) -> None:
        """Replace an arm's statistics by a (rescaled) warm-up prior ``A = s·A_off + λ₀I``, ``b``."""

    def state_dict(self) -> dict:
        """Settings and learned state (arrays allowed); :meth:`from_state` inverts it."""


def check_cost(cost) -> float:
    """``cost`` as a float, or :class:`InvalidInputError` unless a finite number ≥ 0 ($)."""
    if (
        isinstance(cost, bool)
        or not isinstance(cost, numbers.Real)
        or not math.isfinite(cost)
        or cost < 0
    ):
        raise InvalidInputError(f"cost must be a finite number >= 0 ($), got {cost!r}")
    return float(cost)


class PacerBase:
    """Convenience base of a :class:`Pacer`: a no-op eligibility rule, λ as the penalty weight and a
    validating :meth:`update`. Subclasses set ``budget`` and ``lambda_`` and implement :meth:`step`,
    :meth:`state_dict` and :meth:`from_state`."""

    budget: float
    lambda_: float = 0.0

    def penalty_weight(self) -> float:
        """λ (override for a pacer that only sets eligibility)."""
        return self.lambda_

    def eligible(self, prices, p_max):
        """Every arm (override for a hard rule)."""
        return None

    def update(self, cost) -> float:
        """Validate one realised cost, :meth:`step`, and return the new λ."""
        self.step(check_cost(cost))
        return self.lambda_

    def step(self, cost: float) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


class PolicyBase:
    """Convenience base of a :class:`Policy` whose state is a few per-arm arrays.

    Gives the two locks, the request counter, ``last_played``, and — from the class attributes
    :attr:`arm_arrays` (names of arrays whose first axis is the arm) and :attr:`settings` (names of
    constructor keywords) plus :meth:`cold_arm` — generic :meth:`add_arm`, :meth:`remove_arm`,
    :meth:`state_dict` and :meth:`from_state` (validated). A subclass writes ``__init__``,
    :meth:`scores`, :meth:`update` and :meth:`cold_arm`; an ``rng`` attribute (a NumPy Generator) is
    saved and restored too.
    """

    arm_arrays: tuple[str, ...] = ()
    settings: tuple[str, ...] = ()

    def __init__(self, dimension: int, n_arms: int):
        self.d = int(dimension)
        self.t = 0
        self.lock = threading.Lock()
        self.write_lock = threading.RLock()
        self.last_played = [0] * int(n_arms)

    @property
    def n_arms(self) -> int:
        """Number of arms K."""
        return len(self.last_played)

    def touch(self, arm: int, t: int) -> None:
        """Record the pull."""
        self.last_played[arm] = t

    def set_prior(self, arm: int, A, b) -> None:
        """Priors are ignored unless a subclass uses them."""

    def cold_arm(self, A=None, b=None) -> dict:
        """``{name: row}`` of every :attr:`arm_arrays` entry for a new arm (prior ``A``, ``b`` if given)."""
        raise NotImplementedError

    def add_arm(self, A=None, b=None, on_commit=None) -> None:
        """Append :meth:`cold_arm`'s rows (``last_played = t``); ``on_commit()`` under :attr:`lock`."""
        rows = self.cold_arm(A, b)
        with self.write_lock, self.lock:
            for name in self.arm_arrays:
                setattr(self, name, np.concatenate([getattr(self, name), np.asarray(rows[name])[None]]))
            self.last_played.append(self.t)
            if on_commit is not None:
                on_commit()

    def remove_arm(self, arm: int, on_commit=None) -> None:
        """Drop row ``arm`` of every per-arm array; ``on_commit()`` under :attr:`lock`."""
        with self.write_lock, self.lock:
            for name in self.arm_arrays:
                setattr(self, name, np.delete(getattr(self, name), arm, axis=0))
            del self.last_played[arm]
            if on_commit is not None:
                on_commit()

    def state_dict(self) -> dict:
        """``{"settings", "d", "t", "last_played", "arrays", "rng"}`` — copies, JSON/npz-able."""
        with self.lock:
            state = {"settings": {k: getattr(self, k) for k in self.settings}, "d": self.d, "t": self.t,
                     "last_played": list(self.last_played),
                     "arrays": {k: np.array(getattr(self, k)) for k in self.arm_arrays}}
            rng = getattr(self, "rng", None)
            if rng is not None:
                state["rng"] = rng.bit_generator.state
            return state

    @classmethod
    def from_state(cls, state: dict):
        """Inverse of :meth:`state_dict`: every array must have one finite row per arm and keep the shape
        a fresh instance gives it; counters must be ints in ``[0, t]``. Raises :class:`StateFileError`."""
        try:
            played = [int(v) for v in state["last_played"]]
            t = int(state["t"])
            policy = cls(dimension=int(state["d"]), n_arms=len(played), **state["settings"])
            for name in cls.arm_arrays:
                value = np.array(state["arrays"][name], dtype=float)
                if value.shape != np.shape(getattr(policy, name)) or not np.isfinite(value).all():
                    raise ValueError(f"array {name!r} has shape {value.shape} or non-finite values")
                setattr(policy, name, value)
            if not 0 <= t <= 2**53 or any(not 0 <= v <= t for v in played):
                raise ValueError(f"counters outside [0, t={t}]")
            policy.t, policy.last_played = t, played
            if "rng" in state:
                policy.rng.bit_generator.state = state["rng"]
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise StateFileError(f"invalid {cls.__name__} state: {exc}") from None
        return policy
