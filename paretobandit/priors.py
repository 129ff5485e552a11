"""Warm-start priors: offline full-information statistics, their file format and loading
(docs/PROTOCOLS.md §1.6).

File format — ``<name>.npz`` read with ``allow_pickle=False``, plus an optional sibling ``<name>.json``
holding metadata:

=========  ============  ==========================================================
key        shape         meaning
=========  ============  ==========================================================
``models`` (K,) str      model names, one per arm
``A``      (K, d, d)     ``A_off = p·(I + Σ xxᵀ)`` (p = plasticity)
``b``      (K, d)        ``b_off = p·Σ r·x``
=========  ============  ==========================================================

Loading rescales to an effective sample size ``n_eff`` keeping the prior mean
(:func:`paretobandit.kernels.rescale_prior`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from . import kernels
from ._atomic import atomic_write
from ._validate import number
from .errors import DataError, InvalidInputError

__all__ = [
    "DEFAULT_PRIORS_NAME",
    "default_priors_path",
    "generate_warmup_priors",
    "load_priors",
    "save_priors",
]

#: File name of the paper's K = 3, d = 26 priors.
DEFAULT_PRIORS_NAME = "priors_k3_d26.npz"


def default_priors_path() -> Path | None:
    """Where the paper's priors are read from, the one search order of the package (router and experiments).

    The copy shipped in the package (``paretobandit/resources/artifacts/priors_k3_d26.npz``,
    checksum-verified), else ``$PARETOBANDIT_DATA/artifacts/priors_k3_d26.npz`` if it exists, else
    ``<repo>/data/raw/artifacts/priors_k3_d26.npz`` if it exists, else ``None``."""
    from .canonical import artifact_path

    packaged = artifact_path(DEFAULT_PRIORS_NAME)
    if packaged is not None:
        return packaged
    env = os.environ.get("PARETOBANDIT_DATA")
    candidates = []
    if env:
        candidates.append(Path(env) / "artifacts" / DEFAULT_PRIORS_NAME)
    candidates.append(
        Path(__file__).resolve().parent.parent / "data" / "raw" / "artifacts" / DEFAULT_PRIORS_NAME
    )
    for path in candidates:
        if path.is_file():
            return path
    return None


def _validate_stats(models, a_off, b_off, source: str):
    if a_off.ndim != 3 or a_off.shape[1] != a_off.shape[2]:
        raise DataError(f"{source}: A must have shape (K, d, d), got {a_off.shape}")
    k, d, _ = a_off.shape
    if b_off.shape != (k, d):
        raise DataError(f"{source}: b must have shape ({k}, {d}), got {b_off.shape}")
    if len(models) != k or len(set(models)) != k:
        raise DataError(f"{source}: need {k} distinct model names, got {list(models)}")
    if not (np.isfinite(a_off).all() and np.isfinite(b_off).all()):
        raise DataError(f"{source}: A or b contains NaN or Inf")
    if np.any(a_off[:, d - 1, d - 1] <= 0):
        raise DataError(f"{source}: the bias entry A[:, -1, -1] (sample count) must be > 0")


def load_priors(path, n_effective: float | None = None, ridge: float = 1.0):
    """Read a priors file.

    Parameters
    ----------
    path : str or Path
        The ``.npz`` file (its sibling ``.json``, if present, is read as metadata).
    n_effective : float, optional
        If given, return the rescaled ``A = s·A_off + λ₀I``, ``b = s·b_off + λ₀θ_off`` instead of
        the raw offline statistics.
    ridge : float
        λ₀ used by the rescaling.

    Returns
    -------
    models : list of str
    A : ndarray (K, d, d)
    b : ndarray (K, d)
    meta : dict
        The JSON metadata (empty if there is no sibling file), plus ``"path"``.

    Raises
    ------
    DataError
        Missing, unreadable or malformed file.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"priors file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = {"models", "A", "b"} - set(z.files)
            if missing:
                raise DataError(f"{path}: missing key(s) {sorted(missing)}; expected models, A, b")
            models = [str(m) for m in z["models"].tolist()]
            a_off = np.array(z["A"], dtype=float)
            b_off = np.array(z["b"], dtype=float)
    except DataError:
        raise
    except Exception as exc:  # zipfile.BadZipFile, ValueError (pickled object arrays), OSError ...
        raise DataError(f"cannot read priors file {path}: {exc}") from None
    _validate_stats(models, a_off, b_off, str(path))
    meta: dict = {}
    sidecar = path.with_suffix(".json")
    if sidecar.is_file():
        try:
            meta = json.loads(sidecar.read_text())
        except (OSError, ValueError) as exc:
            raise DataError(f"cannot read priors metadata {sidecar}: {exc}") from None
        if not isinstance(meta, dict):
            raise DataError(f"{sidecar}: metadata must be a JSON object")
    meta = {**meta, "path": str(path)}
    if n_effective is not None:
        n_effective = number("n_effective", n_effective, low=0.0, low_open=True, to_float=True)
        a_off, b_off = kernels.rescale_prior(a_off, b_off, n_effective, ridge)
    return models, a_off, b_off, meta


def save_priors(path, models: Sequence[str], A, b, meta: Mapping | None = None) -> Path:
    """Write ``path`` (``.npz``: models, A, b) and its sibling ``.json`` (``meta``) atomically.

    Returns the ``.npz`` path.
    """
    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_suffix(".npz")
    a_off = np.asarray(A, dtype=float)
    b_off = np.asarray(b, dtype=float)
    models = [str(m) for m in models]
    _validate_stats(models, a_off, b_off, "save_priors")
    meta = dict(meta or {})
    meta.setdefault("models", models)
    meta.setdefault("context_dim", int(a_off.shape[-1]))
    path.parent.mkdir(parents=True, exist_ok=True)
    for target, writer in (
        (path, lambda f: np.savez(f, models=np.array(models), A=a_off, b=b_off)),
        (path.with_suffix(".json"), lambda f: f.write(json.dumps(meta, indent=1, sort_keys=True).encode())),
    ):
        atomic_write(target, writer)
    return path


def _check_plasticity(plasticity) -> float:
    return number("plasticity", plasticity, low=0.0, low_open=True, to_float=True)


def _from_arrays(X, R, models, plasticity):
    x = np.asarray(X, dtype=float)
    r = np.asarray(R, dtype=float)
    if x.ndim != 2 or x.shape[0] == 0:
        raise InvalidInputError(f"X must be a non-empty 2-D array (n, d), got shape {x.shape}")
    if r.ndim != 2 or r.shape[0] != x.shape[0]:
        raise InvalidInputError(f"R must have shape (n={x.shape[0]}, K), got {r.shape}")
    if not (np.isfinite(x).all() and np.isfinite(r).all()):
        raise InvalidInputError("X and R must be finite (no NaN/Inf)")
    k = r.shape[1]
    if models is None:
        models = [f"arm_{i}" for i in range(k)]
    models = [str(m) for m in models]
    if len(models) != k or len(set(models)) != k:
        raise InvalidInputError(f"models must be {k} distinct names (one per column of R), got {models}")
    a_off, b_off = kernels.offline_statistics(x, r, plasticity)
    return models, a_off, b_off


def _from_rows(rows, feature_service, plasticity):
    rows = list(rows)
    if not rows:
        raise InvalidInputError("rows is empty: need at least one labelled prompt")
    models: list[str] = []
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping) or "prompt" not in row or not isinstance(row.get("arms"), Mapping):
            raise InvalidInputError(
                f"rows[{i}] must be a dict with 'prompt' and 'arms' {{model: {{'reward': r}}}}"
            )
        if i == 0:
            models = list(row["arms"])
        elif list(row["arms"]) != models and set(row["arms"]) != set(models):
            raise InvalidInputError(
                f"rows[{i}] labels models {sorted(row['arms'])}, expected {sorted(models)} "
                "(full information: every arm on every prompt)"
            )
    if not models:
        raise InvalidInputError("rows[0]['arms'] is empty")
    x = np.stack([feature_service.extract(row["prompt"]) for row in rows])
    r = np.empty((len(rows), len(models)))
    for i, row in enumerate(rows):
        for j, m in enumerate(models):
            entry = row["arms"][m]
            value = entry.get("reward") if isinstance(entry, Mapping) else entry
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
                raise InvalidInputError(f"rows[{i}]['arms'][{m!r}]['reward'] must be a number, got {value!r}")
            r[i, j] = value
    return _from_arrays(x, r, models, plasticity)


def generate_warmup_priors(data, rewards_or_features=None, models=None, plasticity: float = 0.1):
    """Offline full-information warm-up statistics ``A_off = p(I + Σxxᵀ)``, ``b_off = p·Σ r·x``.

    Two call forms (dispatch on the first argument):

    * ``generate_warmup_priors(X, R, models=None, plasticity=0.1)`` — ``X`` (n, d) contexts with the
      bias already appended, ``R`` (n, K) rewards, ``models`` K names (default ``arm_0 …``);
    * ``generate_warmup_priors(rows, feature_service, plasticity=0.1)`` — ``rows`` an iterable of dicts
      ``{"prompt": ..., "arms": {model: {"reward": r}}}`` (a reward table), featurised with
      ``feature_service.extract``.

    Returns
    -------
    models : list of str
    A_off : ndarray (K, d, d)
    b_off : ndarray (K, d)
    """
    plasticity = _check_plasticity(plasticity)
    if isinstance(data, np.ndarray) or (
        isinstance(data, Sequence) and data and not isinstance(data[0], Mapping)
    ):
        if rewards_or_features is None:
            raise InvalidInputError("generate_warmup_priors(X, R): R (n, K rewards) is required")
        return _from_arrays(data, rewards_or_features, models, plasticity)
    if rewards_or_features is None or not hasattr(rewards_or_features, "extract"):
        raise InvalidInputError(
            "generate_warmup_priors(rows, feature_service): a feature service with "
            "extract() is required for reward-table rows"
        )
    return _from_rows(data, rewards_or_features, plasticity)
