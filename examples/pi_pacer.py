"""A PI-controller budget pacer, a Pacer plug-in: ``BanditRouter.create(budget=B, pacer=PIPacer)``,
``simulate(..., budget=B, pacer=PIPacer)`` or ``pacer=pi`` in Hydra (conf/pacer/pi.yaml)."""

from __future__ import annotations

import math

from paretobandit import kernels
from paretobandit.errors import ConfigError, StateFileError
from paretobandit.plugins import PacerBase

_SETTINGS = ("budget", "kp", "ki", "ema_alpha", "lambda_cap")


class PIPacer(PacerBase):
    """λ = clip(kp·e + ki·Σe, 0, cap) on the relative overspend e = c̄/B − 1 of a cost EMA c̄.

    λ weights the normalised cost in the score and, while λ > 0, sets the hard ceiling
    ``p ≤ p_max/(1 + λ)`` (:func:`paretobandit.kernels.ceiling_eligible_into`). The integral is clamped
    to ``[0, cap/ki]`` (anti-windup), so a long cheap phase cannot bank unlimited credit.
    """

    def __init__(self, budget, kp=0.5, ki=0.01, ema_alpha=0.05, lambda_cap=5.0):
        for name, value in zip(_SETTINGS, (budget, kp, ki, ema_alpha, lambda_cap), strict=True):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf:
                raise ConfigError(f"PIPacer {name} must be a finite number >= 0, got {value!r}")
        if budget <= 0 or not 0 < ema_alpha <= 1:
            raise ConfigError(f"PIPacer needs budget > 0, 0 < ema_alpha <= 1; got {budget!r}, {ema_alpha!r}")
        self.budget, self.kp, self.ki, self.ema_alpha, self.lambda_cap = map(
            float, (budget, kp, ki, ema_alpha, lambda_cap))
        self.lambda_, self.integral, self.cost_ema = 0.0, 0.0, self.budget

    def eligible(self, prices, p_max):
        out = [True] * len(prices)
        return out if kernels.ceiling_eligible_into(prices, p_max, self.lambda_, 1.0, out) else None

    def step(self, cost: float) -> None:
        self.cost_ema += self.ema_alpha * (cost - self.cost_ema)
        error = self.cost_ema / self.budget - 1.0
        self.integral = min(max(self.integral + error, 0.0), self.lambda_cap / self.ki) if self.ki else 0.0
        self.lambda_ = min(max(self.kp * error + self.ki * self.integral, 0.0), self.lambda_cap)

    def state_dict(self) -> dict:
        return {**{k: getattr(self, k) for k in _SETTINGS}, "lambda": self.lambda_,
                "integral": self.integral, "cost_ema": self.cost_ema}

    @classmethod
    def from_state(cls, state: dict) -> PIPacer:
        try:
            pacer = cls(**{k: state[k] for k in _SETTINGS})
            values = [float(state[k]) for k in ("lambda", "integral", "cost_ema")]
        except (KeyError, TypeError, ValueError, ConfigError) as exc:
            raise StateFileError(f"invalid PIPacer state: {exc}") from None
        if not (0 <= values[0] <= pacer.lambda_cap and values[1] >= 0 and 0 <= values[2] < math.inf):
            raise StateFileError(f"invalid PIPacer state: lambda, integral, cost_ema = {values}")
        pacer.lambda_, pacer.integral, pacer.cost_ema = values
        return pacer
