"""MABWiser (``mabwiser``) LinUCB and LinTS behind the Policy protocol.

The MAB object is built and grown with MABWiser's public API (``MAB``, ``add_arm``). Per request the
adapter calls the per-arm estimators MABWiser's own ``predict_expectations`` / ``partial_fit`` call
(``mab._imp.arm_to_model[arm].predict`` / ``.fit``): the public ``partial_fit`` re-fits every arm
through joblib with a deep copy per arm (≈ 2 ms per update here), the estimator call is the same
arithmetic for the one arm that changed (checked in ``tests/test_arena.py``).
"""

from __future__ import annotations

import numpy as np

from .base import ScoredPolicy, require

__all__ = ["MabwiserLinTS", "MabwiserLinUCB"]


class _Mabwiser(ScoredPolicy):
    regression = "ucb"

    def __init__(
        self,
        dimension: int,
        n_arms: int,
        config=None,
        seed: int | None = None,
        alpha: float = 0.1,
        l2_lambda: float = 1.0,
    ):
        super().__init__(dimension, n_arms, config, seed)
        mab = require("mabwiser.mab")
        lp = mab.LearningPolicy.LinUCB if self.regression == "ucb" else mab.LearningPolicy.LinTS
        self.alpha, self.l2_lambda = float(alpha), float(l2_lambda)
        self.mab = mab.MAB(
            arms=list(range(n_arms)),
            learning_policy=lp(alpha=self.alpha, l2_lambda=self.l2_lambda),
            seed=self.seed,
        )
        # an empty first fit initialises every arm's ridge state (A = λI, b = 0) with d features
        self.mab.fit(decisions=[0], rewards=[0.0], contexts=np.zeros((1, dimension)))
        self._models = self.mab._imp.arm_to_model

    def _arm_scores(self, x) -> list:
        row = np.asarray(x, dtype=float).reshape(1, -1)
        return [float(self._models[a].predict(row)[0]) for a in range(self.n_arms)]

    def _learn(self, arm: int, x, reward: float) -> None:
        self._models[arm].fit(np.asarray(x, dtype=float).reshape(1, -1), np.array([reward]))

    def _new_arm(self) -> None:
        self.mab.add_arm(self.n_arms)
        self._models[self.n_arms].init(self.d)


class MabwiserLinUCB(_Mabwiser):
    """MABWiser ``LearningPolicy.LinUCB`` (disjoint ridge regression + α·√(xᵀA⁻¹x))."""

    name = "mabwiser-linucb"
    regression = "ucb"


class MabwiserLinTS(_Mabwiser):
    """MABWiser ``LearningPolicy.LinTS`` (a sampled ridge coefficient per arm and request)."""

    name = "mabwiser-lints"
    regression = "ts"
