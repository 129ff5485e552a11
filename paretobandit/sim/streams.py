"""Per-run prompt-index streams (docs/PROTOCOLS.md §2): warm-up + test orders and three-phase streams.

A stream is an integer array of row indices into the batch's (stacked) tables; a batch takes an
(S, T) array, one stream per run. Helpers here reproduce the paper's shuffles exactly.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from ..errors import ConfigError

__all__ = ["phase_streams", "three_phase_prompts", "trial_orders", "warmup_test_streams"]


def _seed_list(seeds: Iterable[int]) -> list[int]:
    out = []
    for s in seeds:
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 0:
            raise ConfigError(f"seeds must be non-negative integers, got {s!r}")
        out.append(int(s))
    if not out:
        raise ConfigError("at least one seed is needed")
    return out


def _count(name: str, n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ConfigError(f"{name} must be a non-negative integer, got {n!r}")
    return int(n)


def trial_orders(seed: int, n_val: int, n_test: int) -> tuple[np.ndarray, np.ndarray]:
    """``rng = default_rng(seed)``; ``val_order = rng.permutation(n_val)``; then ``test_order``.

    The exact docs/PROTOCOLS.md §2 trial shuffle (the router's tie-break generator is a separate one).
    """
    rng = np.random.default_rng(_seed_list([seed])[0])
    val_order = rng.permutation(_count("n_val", n_val))
    test_order = rng.permutation(_count("n_test", n_test))
    return val_order, test_order


def warmup_test_streams(seeds: Iterable[int], n_val: int, n_test: int) -> np.ndarray:
    """(S, n_val + n_test) streams into tables stacked as ``[val rows; test rows]``.

    Run ``i`` sees ``val_order`` then ``n_val + test_order`` from :func:`trial_orders` of ``seeds[i]``.
    """
    rows = []
    for s in _seed_list(seeds):
        val_order, test_order = trial_orders(s, n_val, n_test)
        rows.append(np.concatenate([val_order, n_val + test_order]))
    return np.stack(rows).astype(np.intp)


def three_phase_prompts(n_test: int, phase_len: int = 608, seed: int = 42) -> list[np.ndarray]:
    """The docs/PROTOCOLS.md §2 phases: permute ``range(n_test)`` with ``default_rng(seed)``; P1 = first
    ``phase_len``, P2 = next ``phase_len``, P3 = P1 again (within-subject). Returns [P1, P2, P3]."""
    n_test, phase_len = _count("n_test", n_test), _count("phase_len", phase_len)
    if 2 * phase_len > n_test:
        raise ConfigError(f"two phases of {phase_len} need {2 * phase_len} prompts, have {n_test}")
    perm = np.random.default_rng(seed).permutation(n_test)
    p1, p2 = perm[:phase_len], perm[phase_len:2 * phase_len]
    return [p1, p2, p1.copy()]


def phase_streams(phases: Sequence[np.ndarray], seeds: Iterable[int], offset: int = 0) -> np.ndarray:
    """(S, Σ len(phase)) streams: each phase re-shuffled per seed, phases concatenated.

    For seed ``s``: ``rng = default_rng(s)`` and phase ``j`` becomes ``phase_j[rng.permutation(len)]``
    (in phase order, one generator per run). ``offset`` is added to every index (e.g. ``n_val`` when
    the tables are stacked ``[val; test]``). Phase boundaries are the cumulative lengths.
    """
    arrays = [np.asarray(p) for p in phases]
    for p in arrays:
        if p.ndim != 1 or not np.issubdtype(p.dtype, np.integer):
            raise ConfigError("each phase must be a 1-D integer index array")
    rows = []
    for s in _seed_list(seeds):
        rng = np.random.default_rng(s)
        rows.append(np.concatenate([p[rng.permutation(p.size)] for p in arrays]) + offset)
    return np.stack(rows).astype(np.intp)
