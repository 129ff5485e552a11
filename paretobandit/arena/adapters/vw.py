"""Vowpal Wabbit ``--cb_explore_adf --squarecb`` behind the Policy protocol.

VW returns a probability mass function over the actions. The adapter samples the library's action
from it (seeded) and scores that action 1 and every other action its probability, so with no penalty
the router routes exactly as VW explores, and the router's cost penalty / pacer ceiling can still
move the choice. Learning: the chosen action's cost ``−reward`` with its probability (IPS label).
"""

from __future__ import annotations

import numpy as np

from .base import ScoredPolicy, require

__all__ = ["VowpalSquareCB"]


class VowpalSquareCB(ScoredPolicy):
    """VW contextual bandit with action-dependent features (``-q sa``), SquareCB exploration."""

    name = "vw-squarecb"

    def __init__(
        self, dimension: int, n_arms: int, config=None, seed: int | None = None, gamma_scale: float = 10.0
    ):
        super().__init__(dimension, n_arms, config, seed)
        vw = require("vowpalwabbit")
        self.vw = vw.Workspace(
            f"--cb_explore_adf --squarecb --gamma_scale {float(gamma_scale)} -q sa --quiet "
            f"--random_seed {self.seed}"
        )
        self._rng = np.random.default_rng(self.seed)
        self._pmf: list | None = None

    def _example(self, x, label: tuple[int, float, float] | None = None) -> list[str]:
        shared = "shared |s " + " ".join(f"f{i}:{v:.6g}" for i, v in enumerate(x))
        lines = [shared]
        for a in range(self.n_arms):
            prefix = ""
            if label is not None and label[0] == a:
                prefix = f"0:{label[1]:.6g}:{label[2]:.6g} "
            lines.append(f"{prefix}|a arm{a}")
        return lines

    def _arm_scores(self, x) -> list:
        pmf = np.asarray(self.vw.predict(self._example(x)), dtype=float)
        pmf = pmf / pmf.sum()
        self._pmf = pmf.tolist()
        pick = int(self._rng.choice(self.n_arms, p=pmf))
        out = list(self._pmf)
        out[pick] = 1.0
        return out

    def _learn(self, arm: int, x, reward: float) -> None:
        p = self._pmf[arm] if self._pmf is not None and arm < len(self._pmf) else 1.0 / self.n_arms
        self.vw.learn(self._example(x, (arm, -reward, max(p, 1e-6))))

    def _new_arm(self) -> None:
        pass
