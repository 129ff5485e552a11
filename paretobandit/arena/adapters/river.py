"""River's ``bandit.LinUCBDisjoint`` behind the Policy protocol.

Scores are the policy's own upper bounds ``μ + σ`` of each arm's ``BayesianLinearRegression``
(what ``LinUCBDisjoint._pull`` maximises); learning is ``LinUCBDisjoint.update``. Contexts are River
dicts ``{i: x_i}``.
"""

from __future__ import annotations

from .base import ScoredPolicy, require

__all__ = ["RiverLinUCB"]


class RiverLinUCB(ScoredPolicy):
    """River ``LinUCBDisjoint(alpha, beta)``; arms are created on first use, so onboarding is free."""

    name = "river-linucb"

    def __init__(
        self,
        dimension: int,
        n_arms: int,
        config=None,
        seed: int | None = None,
        alpha: float = 1.0,
        beta: float = 1.0,
    ):
        super().__init__(dimension, n_arms, config, seed)
        bandit = require("river.bandit")
        if not hasattr(bandit, "LinUCBDisjoint"):
            from ...errors import ConfigError

            raise ConfigError("the installed river has no bandit.LinUCBDisjoint")
        self.policy = bandit.LinUCBDisjoint(alpha=float(alpha), beta=float(beta), seed=self.seed)

    def _arm_scores(self, x) -> list:
        ctx = dict(enumerate(x.tolist()))
        regs = self.policy._bayes_lin_regs
        out = []
        for a in range(self.n_arms):
            dist = regs[a].predict_one(ctx, with_dist=True)
            out.append(dist.mu + dist.sigma)
        return out

    def _learn(self, arm: int, x, reward: float) -> None:
        self.policy.update(arm, dict(enumerate(x.tolist())), reward)

    def _new_arm(self) -> None:
        pass
