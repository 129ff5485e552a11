"""Base of the arena's policy plug-ins: a library (or a baseline) behind the
:class:`~paretobandit.plugins.Policy` protocol, so the router's static cost penalty and the budget pacer
steer it like LinUCB.

``scores()`` returns the library's own per-arm scores minus the router's penalty ``w·c̃_a``; the
router then applies the pacer's hard ceiling and picks the best eligible arm. The router's ``alpha``
is not used: each library keeps its own exploration setting.
"""

from __future__ import annotations

import importlib

from ...errors import ConfigError, InvalidInputError
from ...plugins import PolicyBase

__all__ = ["ScoredPolicy", "require"]


def require(module: str, extra: str = "arena"):
    """Import ``module`` or raise :class:`ConfigError` naming the pip extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ConfigError(
            f"{module} is not installed ({exc}); install it with `pip install -e '.[{extra}]'`"
        ) from None


class ScoredPolicy(PolicyBase):
    """A Policy whose subclasses implement ``_arm_scores(x) -> list[float]``, ``_learn(arm, x, r)``
    and ``_new_arm()``."""

    name = "scored"

    def __init__(self, dimension: int, n_arms: int, config=None, seed: int | None = None):
        super().__init__(dimension, n_arms)
        self.seed = 0 if seed is None else int(seed)

    def scores(self, x, t: int, alpha: float, penalty) -> tuple:
        s = self._arm_scores(x)
        xx = float(x @ x)
        return [float(v) - p for v, p in zip(s, penalty, strict=True)], xx

    def update(self, arm: int, x, reward: float) -> None:
        if not 0 <= arm < self.n_arms:
            raise InvalidInputError(f"arm {arm} out of range [0, {self.n_arms})")
        with self.lock:
            self._learn(int(arm), x, float(reward))

    def add_arm(self, A=None, b=None, on_commit=None) -> None:
        with self.lock:
            self._new_arm()
            self.last_played.append(self.t)
            if on_commit is not None:
                on_commit()

    def remove_arm(self, arm: int, on_commit=None) -> None:
        raise ConfigError(f"{self.name} cannot remove an arm at runtime")

    def state_dict(self) -> dict:
        return {"policy": self.name, "d": self.d, "n_arms": self.n_arms, "t": self.t, "seed": self.seed}

    # subclasses ---------------------------------------------------------------------------------
    def _arm_scores(self, x) -> list:  # pragma: no cover - abstract
        raise NotImplementedError

    def _learn(self, arm: int, x, reward: float) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _new_arm(self) -> None:
        raise ConfigError(f"{self.name} cannot add an arm at runtime")
