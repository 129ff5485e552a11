"""Notebook 00: a compact description of the feature caches (shapes and a few rounded statistics)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["describe_features"]


def describe_features(matrices: Mapping[str, np.ndarray]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Summary (by split) and table rows for ``{split: (n, d) feature matrix}``.

    Statistics: rows, dimension, whether the last column is the constant 1.0 bias, mean and standard
    deviation of the non-bias coordinates (whitened PCA coordinates have variance near 1).
    """
    summary: dict[str, Any] = {}
    rows = []
    for split, x in matrices.items():
        x = np.asarray(x, dtype=float)
        body = x[:, :-1]
        cell = {"n_rows": int(x.shape[0]), "dim": int(x.shape[1]),
                "bias_last": bool(np.all(x[:, -1] == 1.0)),
                "mean": float(body.mean()), "std": float(body.std())}
        summary[split] = cell
        rows.append({"split": split, **cell})
    return summary, rows
