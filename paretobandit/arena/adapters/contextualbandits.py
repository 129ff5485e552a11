"""``contextualbandits.online.LinUCB`` behind the Policy protocol (scores: ``decision_function``)."""

from __future__ import annotations

import numpy as np

from .base import ScoredPolicy, require

__all__ = ["ContextualBanditsLinUCB"]


class ContextualBanditsLinUCB(ScoredPolicy):
    """contextualbandits ``LinUCB(nchoices=K, alpha)``; the context already carries the bias."""

    name = "contextualbandits-linucb"

    def __init__(
        self,
        dimension: int,
        n_arms: int,
        config=None,
        seed: int | None = None,
        alpha: float = 0.1,
        lambda_: float = 1.0,
    ):
        super().__init__(dimension, n_arms, config, seed)
        online = require("contextualbandits.online")
        # the library asserts random_state > 0
        self.model = online.LinUCB(
            nchoices=n_arms,
            alpha=float(alpha),
            lambda_=float(lambda_),
            fit_intercept=False,
            random_state=self.seed + 1,
        )
        self._fitted = False

    def _arm_scores(self, x) -> list:
        if not self._fitted:
            return [0.0] * self.n_arms
        return self.model.decision_function(np.asarray(x, dtype=float).reshape(1, -1))[0].tolist()

    def _learn(self, arm: int, x, reward: float) -> None:
        self.model.partial_fit(np.asarray(x, dtype=float).reshape(1, -1), np.array([arm]), np.array([reward]))
        self._fitted = True

    def _new_arm(self) -> None:
        self.model.add_arm()
