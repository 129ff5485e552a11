"""Bayesian linear-regression Thompson sampling, a Policy plug-in: ``BanditRouter.create(policy=
ThompsonPolicy)``, ``simulate(..., policy=ThompsonPolicy)``, or ``router=thompson`` in Hydra."""

from __future__ import annotations

import numpy as np

from paretobandit.kernels import inverse, matvec
from paretobandit.plugins import PolicyBase


class ThompsonPolicy(PolicyBase):
    """Posterior θ_a ~ N(A_a⁻¹b_a, v²A_a⁻¹) with A_a = λ₀I + Σxxᵀ, b_a = Σr·x (no forgetting).

    The score of arm a is one draw of θ_aᵀx ~ N(θ̂_aᵀx, v²·xᵀA_a⁻¹x) minus the cost penalty (the
    posterior mean when ``alpha == 0``, i.e. inside ``exploit()``). Fixed-order products
    (:func:`paretobandit.kernels.matvec`) keep decisions independent of the CPU's BLAS.
    """

    arm_arrays = ("ainv", "b", "theta")
    settings = ("v", "ridge", "seed")

    def __init__(self, dimension, n_arms, config=None, seed=None, v=0.05, ridge=1.0):
        super().__init__(dimension, n_arms)
        self.v, self.ridge, self.seed = float(v), float(ridge), seed
        self.rng = np.random.default_rng(seed)
        self.ainv = np.tile(np.eye(self.d) / self.ridge, (n_arms, 1, 1))
        self.b, self.theta = np.zeros((n_arms, self.d)), np.zeros((n_arms, self.d))

    def cold_arm(self, A=None, b=None):
        ainv = np.eye(self.d) / self.ridge if A is None else inverse(A)
        b = np.zeros(self.d) if b is None else np.asarray(b, dtype=float)
        return {"ainv": ainv, "b": b, "theta": matvec(ainv, b)}

    def set_prior(self, arm, A, b):
        rows = self.cold_arm(A, b)
        with self.lock:
            self.ainv[arm], self.b[arm], self.theta[arm] = rows["ainv"], rows["b"], rows["theta"]

    def scores(self, x, t, alpha, penalty):
        var, mean = matvec(matvec(self.ainv, x), x), matvec(self.theta, x)
        z = self.rng.standard_normal(self.n_arms) if alpha > 0 else np.zeros(self.n_arms)
        score = mean + self.v * np.sqrt(np.maximum(var, 0.0)) * z - np.asarray(penalty)
        return score.tolist(), float(matvec(x[None], x)[0])

    def update(self, arm, x, reward):
        with self.lock:
            u = matvec(self.ainv[arm], x)
            self.ainv[arm] -= np.outer(u, u) / (1.0 + matvec(u[None], x)[0])
            self.b[arm] += reward * x
            self.theta[arm] = matvec(self.ainv[arm], self.b[arm])
