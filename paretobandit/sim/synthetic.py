"""Small synthetic reward tables for tests, examples and benchmarks (no real data needed)."""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError

__all__ = ["SyntheticTables", "synthetic_tables"]

#: The paper's K = 3 portfolio prices ($/M input, output) and a 4th arm like Gemini-2.5-Flash.
PAPER_PRICES = np.array([[0.1, 0.1], [0.5, 1.5], [1.25, 10.0], [0.3, 2.5]])


class SyntheticTables:
    """Features (n, d) with bias last, rewards (n, K) in [0, 1], costs (n, K) in $, prices (K, 2) $/M."""

    def __init__(self, features, rewards, costs, prices, models):
        self.features, self.rewards, self.costs = features, rewards, costs
        self.prices, self.models = prices, models

    def priors(self, n_rows: int = 300, seed: int = 1, plasticity: float = 0.1):
        """Offline warm-up statistics ``(A_off, b_off)`` from ``n_rows`` fresh synthetic rows."""
        from .. import kernels

        extra = synthetic_tables(n_rows, self.features.shape[1], self.rewards.shape[1], seed=seed)
        return kernels.offline_statistics(extra.features, extra.rewards, plasticity)


def synthetic_tables(n: int = 600, d: int = 26, k: int = 3, seed: int = 0) -> SyntheticTables:
    """Linear-in-context rewards with noise, cheap-to-expensive arms, paper-like $ costs.

    Arm ``a`` has mean reward rising with ``a`` (a cheap weak arm, stronger expensive arms) and a cost
    per request of about ``3e-5 · 20^a`` $ with log-normal noise.
    """
    for name, v, low in (("n", n, 1), ("d", d, 2), ("k", k, 1)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low:
            raise ConfigError(f"{name} must be an integer >= {low}, got {v!r}")
    if k > len(PAPER_PRICES):
        raise ConfigError(f"synthetic tables support up to {len(PAPER_PRICES)} arms")
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, d - 1))
    features = np.concatenate([z, np.ones((n, 1))], axis=1)
    w = rng.normal(scale=0.08, size=(k, d - 1))
    base = np.array([0.78, 0.90, 0.93, 0.88])[:k]
    rewards = np.clip(base + z @ w.T + rng.normal(scale=0.1, size=(n, k)), 0.0, 1.0)
    rewards = np.round(rewards * 4) / 4          # judge-like quarter steps (creates exact ties)
    scale = np.array([3e-5, 5e-4, 1.5e-2, 2e-3])[:k]
    costs = scale * rng.lognormal(sigma=0.5, size=(n, k))
    models = [f"arm{a}" for a in range(k)]
    return SyntheticTables(features, rewards, costs, PAPER_PRICES[:k].copy(), models)
