"""Offline routers trained on the val split only (they never learn from test feedback).

* :class:`ThresholdRouter` (RouteLLM-style): a ridge quality predictor per model on the embeddings;
  route to the cheapest model whose predicted quality is within ``τ`` of the best prediction, ``τ``
  calibrated on val to each budget.
* :class:`KNNRouter` (RouterBench-style): quality of each model = mean reward of the ``k`` nearest
  val prompts (cosine); pick ``argmax q̂ − λ·ĉ/ĉ_max``, ``λ`` calibrated on val (leave-one-out).
* :class:`PortRouter` (PORT-style, training-free): nearest-neighbour estimates of quality *and* cost
  and a one-time dual price ``μ`` fitted on the first ``n_fit`` queries of the run (their estimated
  costs only), then ``argmax q̂ − μ·ĉ`` for the rest.

Cost estimates follow the registry: a model's val cost is scaled by (current / initial) blended
price, so a repricing (Exp 02) is seen, a silent quality change (Exp 03) is not. Each router has a
vectorised :meth:`decide` and a one-query :meth:`route_one` (the timed path; same arithmetic).
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError

__all__ = ["KNNRouter", "OFFLINE_ROUTERS", "PortRouter", "ThresholdRouter"]


def _unit(x: np.ndarray) -> np.ndarray:
    z = np.asarray(x, dtype=float)[..., :-1]  # drop the bias
    return z / np.maximum(np.linalg.norm(z, axis=-1, keepdims=True), 1e-12)


def _cheapest_setting(grid, val_cost_of, budget: float | None) -> float:
    """Smallest grid value whose val cost is within ``budget`` (the last one if none is)."""
    if budget is None:
        return float(grid[0])
    for g in grid:
        if val_cost_of(g) <= budget:
            return float(g)
    return float(grid[-1])


class _Offline:
    name = "offline"

    def fit(self, feats, rewards, costs, prices) -> _Offline:
        """Learn from the val tables; ``prices`` (K, 2) are the registry's initial $/M."""
        self.x_val = np.asarray(feats, dtype=float)
        self.r_val = np.asarray(rewards, dtype=float)
        self.c_val = np.asarray(costs, dtype=float)
        self.base_price = np.asarray(prices, dtype=float).sum(axis=1) / 2.0
        self.mean_cost = self.c_val.mean(axis=0)
        self._fit()
        return self

    def _fit(self) -> None:
        pass

    def calibrate(self, budget: float | None) -> _Offline:
        """Set the budget knob on val (``None``: quality only)."""
        self.setting = self._calibrate(budget)
        self.budget = budget
        return self

    def cost_estimate(self, rows_feats, price) -> np.ndarray:
        """(n, K) estimated $ per request under the blended prices ``price`` (n, K)."""
        return np.broadcast_to(self.mean_cost * (price / self.base_price), price.shape)

    def route_one(self, x, price_row) -> int:
        """The decision for one query (the latency path)."""
        return int(self.decide(np.asarray(x, dtype=float)[None, :], np.asarray(price_row)[None, :])[0])


class ThresholdRouter(_Offline):
    """RouteLLM-style threshold router over ridge quality predictions."""

    name = "routellm-threshold"
    grid = np.concatenate([np.linspace(0.0, 0.3, 61), [1.0]])

    def __init__(self, ridge: float = 1.0):
        self.ridge = float(ridge)

    def _fit(self) -> None:
        x = self.x_val
        self.w = np.linalg.solve(x.T @ x + self.ridge * np.eye(x.shape[1]), x.T @ self.r_val)

    def _choose(self, q, c, tau) -> np.ndarray:
        ok = q >= q.max(axis=1, keepdims=True) - tau
        return np.where(ok, c, np.inf).argmin(axis=1)

    def _calibrate(self, budget):
        q = self.x_val @ self.w
        c = np.broadcast_to(self.mean_cost, q.shape)
        rows = np.arange(q.shape[0])
        return _cheapest_setting(self.grid, lambda t: self.c_val[rows, self._choose(q, c, t)].mean(), budget)

    def decide(self, feats, price) -> np.ndarray:
        return self._choose(np.asarray(feats) @ self.w, self.cost_estimate(feats, price), self.setting)


class KNNRouter(_Offline):
    """RouterBench-style kNN router with a val-calibrated linear cost trade-off."""

    name = "knn"
    grid = np.concatenate([[0.0], np.geomspace(1e-3, 20.0, 60)])

    def __init__(self, k: int = 10):
        if k < 1:
            raise ConfigError(f"k must be >= 1, got {k}")
        self.k = int(k)

    def _fit(self) -> None:
        self.u_val = _unit(self.x_val)

    def neighbours(self, feats, exclude_self: bool = False) -> np.ndarray:
        sim = _unit(feats) @ self.u_val.T
        if exclude_self:
            np.fill_diagonal(sim, -np.inf)
        k = min(self.k, self.u_val.shape[0] - int(exclude_self))
        return np.argpartition(-sim, k - 1, axis=1)[:, :k]

    def quality(self, feats, exclude_self: bool = False) -> np.ndarray:
        return self.r_val[self.neighbours(feats, exclude_self)].mean(axis=1)

    def _choose(self, q, c, lam) -> np.ndarray:
        return (q - lam * c / self.mean_cost.max()).argmax(axis=1)

    def _calibrate(self, budget):
        q = self.quality(self.x_val, exclude_self=True)
        c = np.broadcast_to(self.mean_cost, q.shape)
        rows = np.arange(q.shape[0])
        return _cheapest_setting(self.grid, lambda g: self.c_val[rows, self._choose(q, c, g)].mean(), budget)

    def decide(self, feats, price) -> np.ndarray:
        return self._choose(self.quality(feats), self.cost_estimate(feats, price), self.setting)


class PortRouter(KNNRouter):
    """PORT-style training-free router: kNN quality and cost, one dual price fitted on the first queries."""

    name = "port"
    mu_grid = np.concatenate([[0.0], np.geomspace(1.0, 1e5, 81)])

    def __init__(self, k: int = 10, n_fit: int = 100):
        super().__init__(k)
        self.n_fit = int(n_fit)

    def cost_estimate(self, rows_feats, price) -> np.ndarray:
        c = self.c_val[self.neighbours(rows_feats)].mean(axis=1)
        return c * (price / self.base_price)

    def _calibrate(self, budget):
        return None  # μ is fitted on the run's first queries (fit_dual)

    def fit_dual(self, feats, price) -> float:
        """μ from the first ``n_fit`` queries: the smallest grid price whose estimated mean cost fits B."""
        f, p = np.asarray(feats)[: self.n_fit], np.asarray(price)[: self.n_fit]
        q, c = self.quality(f), self.cost_estimate(f, p)
        rows = np.arange(q.shape[0])
        self.setting = _cheapest_setting(
            self.mu_grid, lambda m: c[rows, (q - m * c).argmax(axis=1)].mean(), self.budget
        )
        return self.setting

    def _choose(self, q, c, mu) -> np.ndarray:
        return (q - mu * c).argmax(axis=1)


OFFLINE_ROUTERS = {cls.name: cls for cls in (ThresholdRouter, KNNRouter, PortRouter)}
