"""The result of a batched simulation (:class:`SimResult`) and :func:`merge_results` of sub-batches.

Shared by :mod:`paretobandit.sim.engine` (which produces results) and :mod:`paretobandit.sim.parallel`
(which merges the results of sub-batches run in parallel), so neither imports the other's internals.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..errors import ConfigError

__all__ = ["SimResult", "merge_results"]


@dataclass
class SimResult:
    """Per-step outputs (shape (S, T)) and final state of a simulated batch.

    Attributes
    ----------
    arm : int16 (S, T)
        Chosen column at each step.
    reward, cost : float64 (S, T)
        Observed (transformed) reward and realised $ cost.
    lam : float64 (S, T)
        Pacer λ as it was at the decision (0 for runs without a pacer).
    forced : bool (S, T)
        Whether the step was a forced onboarding pull.
    final : dict of arrays
        Final state: ``A`` (S,K,d,d), ``ainv``, ``b`` (S,K,d), ``theta``, ``rho`` (S,K),
        ``last_update``, ``last_played``, ``n_updates`` (S,K), ``active`` (S,K), ``price`` (S,K)
        blended $/1k, ``lam``, ``cost_ema`` (S,), ``t`` (int), ``repairs`` (counts of ridge-floor,
        corrupted-inverse and stability re-inversions over the batch).
    """

    arm: np.ndarray
    reward: np.ndarray
    cost: np.ndarray
    lam: np.ndarray
    forced: np.ndarray
    final: dict = field(default_factory=dict)

    @property
    def n_runs(self) -> int:
        return self.arm.shape[0]

    def _window(self, a: np.ndarray, start: int, stop: int | None) -> np.ndarray:
        return a[:, start:stop]

    def mean_reward(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Per-run mean observed reward over steps ``[start, stop)``."""
        return self._window(self.reward, start, stop).mean(axis=1)

    def mean_cost(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Per-run mean realised $ cost over steps ``[start, stop)``."""
        return self._window(self.cost, start, stop).mean(axis=1)

    def median_lambda(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Per-run median of the decision-time λ over steps ``[start, stop)``."""
        return np.percentile(self._window(self.lam, start, stop), 50, axis=1)

    def share(self, arm: int, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Per-run fraction of steps in ``[start, stop)`` that chose ``arm``."""
        return (self._window(self.arm, start, stop) == arm).mean(axis=1)


def merge_results(parts: Sequence[SimResult]) -> SimResult:
    """Concatenate results of sub-batches (in run order) into one :class:`SimResult`."""
    if not parts:
        raise ConfigError("nothing to merge")
    if len(parts) == 1:
        return parts[0]
    final: dict = {}
    for key, value in parts[0].final.items():
        if key == "t":
            final[key] = value
        elif key == "repairs":
            final[key] = {name: sum(p.final[key][name] for p in parts) for name in value}
        else:
            final[key] = np.concatenate([p.final[key] for p in parts])
    return SimResult(*(np.concatenate([getattr(p, f) for p in parts])
                       for f in ("arm", "reward", "cost", "lam", "forced")), final=final)
