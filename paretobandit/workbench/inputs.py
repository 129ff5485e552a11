"""Load an experiment's data arrays as its config asks (portfolio order, scale limits)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from omegaconf import DictConfig

__all__ = ["SplitArrays", "load_split", "seeds"]


@dataclass(frozen=True)
class SplitArrays:
    """Features, rewards and costs of one split, columns in portfolio order.

    Attributes
    ----------
    name : str
        Split (reward table) name.
    models : tuple of str
        Model ids, in the order of ``cfg.portfolio.models``.
    features : ndarray (n, d)
    rewards, costs : ndarray (n, K)
    """

    name: str
    models: tuple[str, ...]
    features: np.ndarray
    rewards: np.ndarray
    costs: np.ndarray

    def __len__(self) -> int:
        return self.rewards.shape[0]


def load_split(cfg: DictConfig, which: str) -> SplitArrays:
    """Load the portfolio's ``which`` split (``"val"`` or ``"test"``) from the data caches.

    The split name comes from ``cfg.portfolio.<which>_split``; rows are truncated to the first
    ``cfg.scale.max_<which>`` prompts when that is set (CI scale), so shuffling stays per seed.
    """
    from paretobandit.data import load_features, load_reward_table

    split = cfg.portfolio[f"{which}_split"]
    table = load_reward_table(split)
    features = load_features(split)
    models = tuple(m.id for m in cfg.portfolio.models)
    cols = [table.column(m) for m in models]
    limit = cfg.scale.get(f"max_{which}")
    rows = slice(None) if limit is None else slice(0, int(limit))
    return SplitArrays(name=split, models=models, features=np.ascontiguousarray(features[rows]),
                       rewards=np.ascontiguousarray(table.rewards[rows][:, cols]),
                       costs=np.ascontiguousarray(table.costs[rows][:, cols]))


def seeds(cfg: DictConfig) -> list[int]:
    """Trial seeds ``seed_offset + i`` for ``i < n_seeds`` of the composed experiment."""
    exp = cfg.experiment
    return [int(exp.seed_offset) + i for i in range(int(exp.n_seeds))]
