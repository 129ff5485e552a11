"""Online primal–dual budget pacer (docs/PROTOCOLS.md §1.4).

Constraint: average realised $ per request ≤ B, with no horizon. State ``λ₀ = 0``, ``c̄₀ = B``; on each
feedback with realised cost ``c``::

    c̄ ← (1 − a)·c̄ + a·c ;    λ ← min(cap, max(0, λ + η·(c̄/B − 1)))

(:func:`paretobandit.kernels.pacer_step`). λ is used at the next routing decision: as a score penalty
``λ·c̃`` (SOFT), as a hard price ceiling ``p ≤ m·p_max/(1 + λ)`` (HARD,
:func:`paretobandit.kernels.ceiling_eligible_into`), or both (ADAPTIVE, the default).

:class:`BudgetPacer` is the built-in :class:`~paretobandit.plugins.Pacer` plug-in.
"""

from __future__ import annotations

import enum
import math
import threading

from . import kernels
from ._validate import number
from .config import PACER_DEFAULTS
from .errors import ConfigError, StateFileError
from .plugins import PacerBase

__all__ = ["BudgetPacer", "PacingMode", "pacer_settings"]


class PacingMode(str, enum.Enum):
    """How the pacer's λ acts on routing."""

    HARD = "hard"  #: eligibility ceiling only
    SOFT = "soft"  #: score penalty λ·c̃ only
    ADAPTIVE = "adaptive"  #: both (default)


def pacer_settings(eta=PACER_DEFAULTS["eta"], ema_alpha=PACER_DEFAULTS["ema_alpha"],
                   lambda_cap=PACER_DEFAULTS["lambda_cap"],
                   ceiling_multiplier=PACER_DEFAULTS["ceiling_multiplier"]) -> dict:
    """The pacer constants validated (one check for :class:`BudgetPacer` and the simulator's
    ``PacerParams``): ``η > 0``, ``0 < a ≤ 1``, ``cap ≥ 0``, ``multiplier > 0``; :class:`ConfigError`."""
    return {"eta": number("eta", eta, low=0.0, low_open=True, to_float=True),
            "ema_alpha": number("ema_alpha", ema_alpha, low=0.0, high=1.0, low_open=True, to_float=True),
            "lambda_cap": number("lambda_cap", lambda_cap, low=0.0, to_float=True),
            "ceiling_multiplier": number("ceiling_multiplier", ceiling_multiplier, low=0.0, low_open=True,
                                         to_float=True)}


class BudgetPacer(PacerBase):
    """Adaptive dual variable λ keeping the mean $ per request at or below ``budget``.

    Parameters
    ----------
    budget : float
        Target average cost B in $ per request (> 0).
    mode : PacingMode or str
        ``"adaptive"`` (default), ``"soft"`` or ``"hard"``.
    eta : float
        Dual learning rate η (default 0.05).
    ema_alpha : float
        EMA weight of the realised cost (default 0.05), in (0, 1].
    lambda_cap : float
        Upper bound of λ (default 5.0).
    ceiling_multiplier : float
        Multiplier of ``p_max`` in the hard ceiling (default 1.0).

    Notes
    -----
    Thread-safe: :meth:`update` and :meth:`state_dict` hold the pacer's own lock; reading
    :attr:`lambda_` is a single attribute read.
    """

    def __init__(
        self,
        budget,
        mode=PACER_DEFAULTS["mode"],
        eta=PACER_DEFAULTS["eta"],
        ema_alpha=PACER_DEFAULTS["ema_alpha"],
        lambda_cap=PACER_DEFAULTS["lambda_cap"],
        ceiling_multiplier=PACER_DEFAULTS["ceiling_multiplier"],
    ):
        self.budget = number("budget", budget, low=0.0, low_open=True, to_float=True)
        try:
            self.mode = PacingMode(mode)
        except ValueError:
            raise ConfigError(f"mode must be one of {[m.value for m in PacingMode]}, got {mode!r}") from None
        settings = pacer_settings(eta, ema_alpha, lambda_cap, ceiling_multiplier)
        self.eta, self.ema_alpha = settings["eta"], settings["ema_alpha"]
        self.lambda_cap, self.ceiling_multiplier = settings["lambda_cap"], settings["ceiling_multiplier"]
        self._lock = threading.Lock()
        self.lambda_ = 0.0
        self.cost_ema = self.budget
        self.n_updates = 0

    # ------------------------------------------------------------------ behaviour
    @property
    def uses_penalty(self) -> bool:
        """Whether λ enters the score as a penalty (SOFT, ADAPTIVE)."""
        return self.mode is not PacingMode.HARD

    @property
    def uses_ceiling(self) -> bool:
        """Whether λ sets a hard price ceiling (HARD, ADAPTIVE)."""
        return self.mode is not PacingMode.SOFT

    def penalty_weight(self) -> float:
        """λ if the mode uses the penalty, else 0."""
        return self.lambda_ if self.mode is not PacingMode.HARD else 0.0

    def eligible(self, prices, p_max):
        """The hard ceiling (HARD, ADAPTIVE while λ > 0): a list of bools, or ``None`` for every arm."""
        lam = self.lambda_
        if lam <= 0.0 or self.mode is PacingMode.SOFT:
            return None
        out = [True] * len(prices)
        if kernels.ceiling_eligible_into(prices, p_max, lam, self.ceiling_multiplier, out) == 0:
            return None
        return out

    def step(self, cost: float) -> float:
        """One pacer step on a validated cost (:meth:`update` validates)."""
        with self._lock:
            self.lambda_, self.cost_ema = kernels.pacer_step(
                self.lambda_, self.cost_ema, cost, self.budget, self.eta, self.ema_alpha, self.lambda_cap
            )
            self.n_updates += 1
            return self.lambda_

    def reset(self) -> None:
        """Back to ``λ = 0``, ``c̄ = B``."""
        with self._lock:
            self.lambda_, self.cost_ema, self.n_updates = 0.0, self.budget, 0

    # ------------------------------------------------------------------ serialisation
    def state_dict(self) -> dict:
        """JSON-able configuration and state."""
        with self._lock:
            return {
                "budget": self.budget,
                "mode": self.mode.value,
                "eta": self.eta,
                "ema_alpha": self.ema_alpha,
                "lambda_cap": self.lambda_cap,
                "ceiling_multiplier": self.ceiling_multiplier,
                "lambda": self.lambda_,
                "cost_ema": self.cost_ema,
                "n_updates": self.n_updates,
            }

    to_dict = state_dict

    @classmethod
    def from_state(cls, data: dict) -> BudgetPacer:
        """Inverse of :meth:`state_dict`, validated (settings as the constructor; ``0 <= λ <= cap``,
        ``c̄ >= 0`` finite, ``0 <= n_updates <= 2^53``); malformed data raises :class:`StateFileError`."""
        if not isinstance(data, dict):
            raise StateFileError(f"invalid pacer state: expected a mapping, got {type(data).__name__}")
        try:
            pacer = cls(
                data["budget"],
                data["mode"],
                data["eta"],
                data["ema_alpha"],
                data["lambda_cap"],
                data["ceiling_multiplier"],
            )
            lam, ema, n = data["lambda"], data["cost_ema"], data["n_updates"]
        except (KeyError, TypeError, ConfigError) as exc:
            raise StateFileError(f"invalid pacer state: {exc}") from None
        for label, v in (("lambda", lam), ("cost_ema", ema)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise StateFileError(f"invalid pacer state: {label} = {v!r}")
        if lam > pacer.lambda_cap or isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= 2**53:
            raise StateFileError(f"invalid pacer state: lambda={lam!r}, n_updates={n!r}")
        pacer.lambda_, pacer.cost_ema, pacer.n_updates = float(lam), float(ema), n
        return pacer

    from_dict = from_state

    def __repr__(self) -> str:
        return (
            f"BudgetPacer(budget={self.budget!r}, mode={self.mode.value!r}, lambda={self.lambda_:.4f}, "
            f"cost_ema={self.cost_ema:.6g})"
        )
