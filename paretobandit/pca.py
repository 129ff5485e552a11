"""PCA artifacts for the feature pipeline: load (validated, pickle-free) and train.

File format (``.npz``, read with ``allow_pickle=False``):

==========================  ==========  ===============================================
key                         shape       meaning
==========================  ==========  ===============================================
``components``              (k, D)      principal axes (rows), as scikit-learn's ``components_``
``mean``                    (D,)        embedding mean subtracted before projection
``explained_variance``      (k,)        variance along each axis (> 0), used for whitening
``explained_variance_ratio``(k,)        fraction of total variance per axis
``n_samples``               ()          number of embeddings the PCA was fitted on
==========================  ==========  ===============================================

The file is not whitened; :meth:`PCAArtifact.project` whitens on request.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._atomic import atomic_write
from .encoder import MiniLMEncoder, check_batch_size, checked_embeddings, validate_prompts
from .errors import ConfigError, FeatureError, InvalidInputError

__all__ = ["PCA_KEYS", "PCAArtifact", "load_pca", "save_pca", "train_pca", "train_pca_from_embeddings"]

PCA_KEYS = ("components", "mean", "explained_variance", "explained_variance_ratio", "n_samples")


@dataclass(frozen=True)
class PCAArtifact:
    """A validated PCA projection (see the module docstring for the fields)."""

    components: np.ndarray
    mean: np.ndarray
    explained_variance: np.ndarray
    explained_variance_ratio: np.ndarray
    n_samples: int
    path: str | None = None
    sha256: str | None = None

    @property
    def n_components(self) -> int:
        """Number of output coordinates k."""
        return int(self.components.shape[0])

    @property
    def input_dim(self) -> int:
        """Embedding dimension D the projection expects."""
        return int(self.components.shape[1])

    def projection(self, whiten: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(W, offset)`` with ``project(e) == e @ W - offset``; W has shape (D, k)."""
        w = self.components.T.copy()
        if whiten:
            w /= np.sqrt(self.explained_variance)[None, :]
        return w, self.mean @ w

    def project(self, embeddings: np.ndarray, whiten: bool = True) -> np.ndarray:
        """Project (n, D) or (D,) embeddings: ``(e - mean) @ components.T`` [/ sqrt(explained_variance)]."""
        e = np.asarray(embeddings, dtype=np.float64)
        if e.shape[-1] != self.input_dim:
            raise FeatureError(f"PCA expects {self.input_dim}-d embeddings, got shape {e.shape}")
        out = (e - self.mean) @ self.components.T
        if whiten:
            out = out / np.sqrt(self.explained_variance)
        return out


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _validate(arrays: dict[str, np.ndarray], where: str) -> PCAArtifact:
    missing = [k for k in PCA_KEYS if k not in arrays]
    if missing:
        raise FeatureError(f"PCA file {where} lacks keys {missing} (needs {list(PCA_KEYS)})")
    try:
        comps = np.asarray(arrays["components"], dtype=np.float64)
        mean = np.asarray(arrays["mean"], dtype=np.float64)
        ev = np.asarray(arrays["explained_variance"], dtype=np.float64)
        evr = np.asarray(arrays["explained_variance_ratio"], dtype=np.float64)
        n_samples_arr = np.asarray(arrays["n_samples"])
    except (TypeError, ValueError) as exc:
        raise FeatureError(f"PCA file {where} holds non-numeric arrays: {exc}") from None
    if comps.ndim != 2 or comps.shape[0] < 1 or comps.shape[1] < comps.shape[0]:
        raise FeatureError(f"PCA file {where}: components must have shape (k, D) with 1 <= k <= D, "
                           f"got {comps.shape}")
    k, dim = comps.shape
    for name, arr, shape in (("mean", mean, (dim,)), ("explained_variance", ev, (k,)),
                             ("explained_variance_ratio", evr, (k,))):
        if arr.shape != shape:
            raise FeatureError(f"PCA file {where}: {name} must have shape {shape}, got {arr.shape}")
    for name, arr in (("components", comps), ("mean", mean), ("explained_variance", ev),
                      ("explained_variance_ratio", evr)):
        if not np.isfinite(arr).all():
            raise FeatureError(f"PCA file {where}: {name} contains NaN or Inf")
    if (ev <= 0).any():
        raise FeatureError(f"PCA file {where}: explained_variance must be > 0 (it is used for whitening)")
    if n_samples_arr.size != 1 or not np.issubdtype(n_samples_arr.dtype, np.number):
        raise FeatureError(f"PCA file {where}: n_samples must be a scalar number, got {n_samples_arr!r}")
    return PCAArtifact(comps, mean, ev, evr, int(n_samples_arr.reshape(())))


def load_pca(path: str | os.PathLike[str]) -> PCAArtifact:
    """Load and validate a PCA ``.npz`` artifact (never unpickles).

    Parameters
    ----------
    path : path
        The ``.npz`` file.

    Returns
    -------
    PCAArtifact
        With ``path`` and ``sha256`` of the file filled in.

    Raises
    ------
    FeatureError
        Missing file, unreadable archive, object arrays, missing keys, wrong shapes, NaN/Inf or
        non-positive explained variance.
    """
    p = Path(path)
    if not p.is_file():
        raise FeatureError(f"PCA file {p} not found")
    try:
        with np.load(p, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        raise FeatureError(f"PCA file {p} is not a readable pickle-free .npz archive: {exc}") from None
    art = _validate(arrays, str(p))
    return PCAArtifact(art.components, art.mean, art.explained_variance, art.explained_variance_ratio,
                       art.n_samples, path=str(p.resolve()), sha256=_file_sha256(p))


def save_pca(artifact: PCAArtifact, path: str | os.PathLike[str]) -> PCAArtifact:
    """Write ``artifact`` to ``path`` atomically and return it re-loaded (with path and sha256)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(p, lambda fh: np.savez(fh, components=artifact.components, mean=artifact.mean,
                                        explained_variance=artifact.explained_variance,
                                        explained_variance_ratio=artifact.explained_variance_ratio,
                                        n_samples=np.int64(artifact.n_samples)))
    return load_pca(p)


def train_pca_from_embeddings(
    embeddings: np.ndarray,
    n_components: int = 25,
    output_path: str | os.PathLike[str] | None = None,
    seed: int = 0,
) -> PCAArtifact:
    """Fit a PCA (scikit-learn, exact SVD) on an (n, D) embedding matrix.

    Raises
    ------
    ConfigError
        ``n_components`` not an int in [1, D].
    InvalidInputError
        Fewer rows than ``n_components``, a non-2-D matrix, or NaN/Inf.
    """
    e = np.asarray(embeddings, dtype=np.float64)
    if e.ndim != 2:
        raise InvalidInputError(f"embeddings must be a 2-D (n, D) array, got shape {e.shape}")
    if isinstance(n_components, bool) or not isinstance(n_components, (int, np.integer)) or n_components < 1:
        raise ConfigError(f"n_components must be a positive int, got {n_components!r}")
    if n_components > e.shape[1]:
        raise ConfigError(f"n_components={n_components} exceeds the embedding dimension {e.shape[1]}")
    if e.shape[0] < n_components:
        raise InvalidInputError(f"train_pca needs at least n_components={n_components} prompts, "
                                f"got {e.shape[0]}")
    if not np.isfinite(e).all():
        raise InvalidInputError("embeddings contain NaN or Inf")
    from sklearn.decomposition import PCA

    pca = PCA(n_components=int(n_components), svd_solver="full", random_state=seed).fit(e)
    ev = np.maximum(pca.explained_variance_.astype(np.float64), np.finfo(np.float64).tiny)
    art = PCAArtifact(pca.components_.astype(np.float64), pca.mean_.astype(np.float64), ev,
                      pca.explained_variance_ratio_.astype(np.float64), int(e.shape[0]))
    return save_pca(art, output_path) if output_path is not None else art


def train_pca(
    prompts: Sequence[str],
    encoder: None | str | os.PathLike[str] | Callable[[list[str]], np.ndarray] = None,
    n_components: int = 25,
    output_path: str | os.PathLike[str] | None = None,
    batch_size: int = 64,
    seed: int = 0,
) -> PCAArtifact:
    """Embed ``prompts`` and fit a PCA artifact in the ``.npz`` format :func:`load_pca` reads.

    Parameters
    ----------
    prompts : sequence of str
        Training prompts (at least ``n_components``).
    encoder : None, path or callable
        ``None``: the bundled all-MiniLM-L6-v2 (L2-normalised, 384-d); a path: a local
        sentence-transformers model folder; a callable: ``fn(list_of_prompts) -> (n, D)`` array.
    n_components : int
        Number of components (25 in the paper).
    output_path : path, optional
        Where to write the ``.npz``; nothing is written when omitted.
    batch_size : int
        Encoder batch size.
    seed : int
        Passed to scikit-learn (exact SVD, so it only matters for ties).

    Returns
    -------
    PCAArtifact
    """
    if isinstance(prompts, str) or not isinstance(prompts, Sequence):
        raise InvalidInputError(f"prompts must be a sequence of strings, got {type(prompts).__name__}")
    if isinstance(n_components, (int, np.integer)) and not isinstance(n_components, bool) \
            and len(prompts) < n_components:
        raise InvalidInputError(f"train_pca needs at least n_components={n_components} prompts, "
                                f"got {len(prompts)}")
    texts = validate_prompts(prompts)
    if encoder is None or isinstance(encoder, (str, os.PathLike)):
        embeddings = MiniLMEncoder(model_path=encoder).encode(texts, batch_size=check_batch_size(batch_size))
    elif callable(encoder):
        chunks = [checked_embeddings(encoder(texts[i:i + batch_size]), len(texts[i:i + batch_size]), None,
                                      "encoder") for i in range(0, len(texts), batch_size)]
        if len({c.shape[1] for c in chunks}) > 1:
            raise FeatureError("encoder returned embeddings of different widths across batches")
        embeddings = np.vstack(chunks)
    else:
        raise ConfigError(f"encoder must be None, a model folder path or a callable, "
                          f"got {type(encoder).__name__}")
    return train_pca_from_embeddings(embeddings, n_components=n_components, output_path=output_path,
                                     seed=seed)
