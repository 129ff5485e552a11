"""ε-greedy over per-arm running mean rewards (a reference point, no context)."""

from __future__ import annotations

import numpy as np

from .base import ScoredPolicy

__all__ = ["EpsilonGreedy"]


class EpsilonGreedy(ScoredPolicy):
    """With probability ε random scores (a uniformly random arm before penalties), else the arm means;
    untried arms score 1 (optimistic start)."""

    name = "epsilon-greedy"

    def __init__(
        self, dimension: int, n_arms: int, config=None, seed: int | None = None, epsilon: float = 0.1
    ):
        super().__init__(dimension, n_arms, config, seed)
        self.epsilon = float(epsilon)
        self._rng = np.random.default_rng(self.seed)
        self.total = [0.0] * n_arms
        self.count = [0] * n_arms

    def _arm_scores(self, x) -> list:
        if self._rng.random() < self.epsilon:
            return self._rng.random(self.n_arms).tolist()
        return [s / n if n else 1.0 for s, n in zip(self.total, self.count, strict=True)]

    def _learn(self, arm: int, x, reward: float) -> None:
        self.total[arm] += reward
        self.count[arm] += 1

    def _new_arm(self) -> None:
        self.total.append(0.0)
        self.count.append(0)
