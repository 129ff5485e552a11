"""Loaders for the reference reward tables, price catalogs and feature caches.

Layout (all paths resolved from the repository root, never from the current directory)::

    <repo>/data/raw/        copy of the reference data (git-ignored), written by :func:`fetch`
    <repo>/data/features/   per-split feature caches (git-ignored), written by :func:`build_features`

The data step that fills ``data/raw/`` — :func:`fetch`, copying a local reference copy or downloading
from the pinned upstream commit, every file checksum-verified — is :mod:`paretobandit.datafetch`; its
public names are re-exported here. The upstream PCA and prior artifacts exist only as pickles, which this
project never loads; the package ships pickle-free copies (``paretobandit/resources/artifacts``, see
PROVENANCE.md there), which every loader prefers and :func:`fetch` installs, so the paper's inputs never
depend on where the data came from.

Nothing here unpickles: tables are JSON lines, catalogs JSON, arrays ``.npz`` read with
``allow_pickle=False``.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ._datafiles import (
    DATA_ENV_VAR,
    data_root,
    features_root,
    read_checksums,
    repo_root,
    sha256_file,
    source_root,
)
from .datafetch import (
    LOCAL_ONLY_FILES,
    PACKAGED_ARTIFACTS,
    UPSTREAM_BASE_URL,
    UPSTREAM_COMMIT,
    UPSTREAM_FILES,
    UPSTREAM_URL_ENV_VAR,
    FetchReport,
    fetch,
    upstream_base_url,
)
from .errors import DataError

__all__ = [
    "DATA_ENV_VAR",
    "LOCAL_ONLY_FILES",
    "PACKAGED_ARTIFACTS",
    "UPSTREAM_BASE_URL",
    "UPSTREAM_COMMIT",
    "UPSTREAM_FILES",
    "UPSTREAM_URL_ENV_VAR",
    "upstream_base_url",
    "FetchReport",
    "RewardTable",
    "build_features",
    "data_root",
    "features_root",
    "fetch",
    "load_catalog",
    "load_features",
    "load_reward_table",
    "read_checksums",
    "repo_root",
    "sha256_file",
    "source_root",
]

DEFAULT_SPLITS = ("val", "test", "val_k4", "test_k4")
_FETCH_HINT = "run `paretobandit data fetch` (or `make data`) first"


# -------------------------------------------------------------------------------------- reward tables
@dataclass(frozen=True)
class RewardTable:
    """A full-information reward table.

    Attributes
    ----------
    name : str
        Table name (file stem).
    prompts, sources : list of str
        One entry per row, in file order.
    models : tuple of str
        Model ids in the order of the keys of the FIRST row's ``arms`` object; every later row must
        have exactly the same set of arms (its key order may differ; columns follow ``models``).
    rewards, costs : ndarray of shape (n, K), float64
        ``rewards[i, k]`` in [0, 1] and ``costs[i, k]`` >= 0 ($) of ``models[k]`` on row ``i``.
    """

    name: str
    prompts: list[str]
    sources: list[str]
    models: tuple[str, ...]
    rewards: np.ndarray
    costs: np.ndarray

    def __len__(self) -> int:
        return len(self.prompts)

    def column(self, model: str) -> int:
        """Return the column index of ``model`` (``DataError`` if absent)."""
        try:
            return self.models.index(model)
        except ValueError:
            raise DataError(
                f"model {model!r} is not in table {self.name!r} (has {list(self.models)})"
            ) from None


def _resolve_table(name_or_path: str | os.PathLike[str]) -> Path:
    path = Path(name_or_path)
    if _looks_like_path(name_or_path):
        if not path.is_file():
            raise DataError(f"reward table {path} not found")
        return path
    name = str(name_or_path)
    root = data_root()
    for candidate in (root / "rewards" / f"{name}.jsonl", root / "judges" / f"{name}.jsonl"):
        if candidate.is_file():
            return candidate
    raise DataError(f"reward table {name!r} not found under {root}/rewards or {root}/judges; {_FETCH_HINT}")


def _looks_like_path(value: str | os.PathLike[str]) -> bool:
    """Names are bare stems (``"val"``); anything with a suffix or a separator is a path."""
    if isinstance(value, os.PathLike):
        return True
    return bool(Path(value).suffix) or os.sep in value or "/" in value


def _finite_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def load_reward_table(name_or_path: str | os.PathLike[str]) -> RewardTable:
    """Load a reward table (``val``, ``test``, ``val_k4``, ``test_k4``, ``cross_judge_*`` or a path).

    Parameters
    ----------
    name_or_path : str or path
        A table name looked up in ``data/raw/rewards`` then ``data/raw/judges``, or a ``.jsonl`` path.

    Returns
    -------
    RewardTable
        Model order = the key order of the first row's ``arms``.

    Raises
    ------
    DataError
        Missing file, or a malformed row (message ``<file>:<line>: <problem>``).
    """
    path = _resolve_table(name_or_path)
    prompts: list[str] = []
    sources: list[str] = []
    rewards: list[list[float]] = []
    costs: list[list[float]] = []
    models: tuple[str, ...] | None = None
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{where}: invalid JSON ({exc.msg})") from None
            if not isinstance(row, dict):
                raise DataError(f"{where}: expected a JSON object, got {type(row).__name__}")
            prompt = row.get("prompt")
            if not isinstance(prompt, str) or not prompt.strip():
                raise DataError(f"{where}: 'prompt' must be a non-empty string, got {prompt!r:.60}")
            source = row.get("source", "")
            if not isinstance(source, str):
                raise DataError(f"{where}: 'source' must be a string, got {source!r:.60}")
            arms = row.get("arms")
            if not isinstance(arms, dict) or not arms:
                raise DataError(f"{where}: 'arms' must be a non-empty object of model_id -> {{reward, cost}}")
            if models is None:
                models = tuple(arms)
            elif set(arms) != set(models):
                raise DataError(f"{where}: arms {sorted(arms)} differ from the first row's {sorted(models)}")
            r_row, c_row = [], []
            for model in models:
                cell = arms[model]
                if not isinstance(cell, dict):
                    raise DataError(f"{where}: arms[{model!r}] must be an object with 'reward' and 'cost'")
                reward, cost = cell.get("reward"), cell.get("cost")
                if not _finite_number(reward) or not 0.0 <= reward <= 1.0:
                    raise DataError(
                        f"{where}: arms[{model!r}].reward must be a number in [0, 1], got {reward!r}")
                if not _finite_number(cost) or cost < 0:
                    raise DataError(
                        f"{where}: arms[{model!r}].cost must be a finite number >= 0, got {cost!r}")
                r_row.append(float(reward))
                c_row.append(float(cost))
            prompts.append(prompt)
            sources.append(source)
            rewards.append(r_row)
            costs.append(c_row)
    if models is None:
        raise DataError(f"reward table {path} has no rows")
    k = len(models)
    return RewardTable(
        name=path.stem,
        prompts=prompts,
        sources=sources,
        models=models,
        rewards=np.asarray(rewards, dtype=np.float64).reshape(-1, k),
        costs=np.asarray(costs, dtype=np.float64).reshape(-1, k),
    )


# ------------------------------------------------------------------------------------------- catalogs
_CATALOG_ALIASES = {"k3": "models_k3", "k4": "models_k4"}


def load_catalog(path_or_name: str | os.PathLike[str] = "models_k3") -> dict[str, dict[str, Any]]:
    """Load a price catalog into ``{model_id: {input_cost_per_m, output_cost_per_m, display, ...}}``.

    Parameters
    ----------
    path_or_name : str or path
        ``"k3"``/``"models_k3"``, ``"k4"``/``"models_k4"`` (looked up in ``data/raw/models``) or a
        JSON path holding ``{"models": [{"model_id": ..., ...}, ...]}`` (a bare list of entries, or a
        mapping ``{model_id: {input_cost_per_m, output_cost_per_m, ...}}``, is accepted too).

    Returns
    -------
    dict
        Insertion-ordered as in the file; each value holds every field except ``model_id``.

    Raises
    ------
    DataError
        Missing/invalid file, duplicate ids, or prices that are not finite non-negative numbers.
    """
    path = Path(path_or_name)
    if not _looks_like_path(path_or_name):
        stem = _CATALOG_ALIASES.get(str(path_or_name), str(path_or_name))
        path = data_root() / "models" / f"{stem}.json"
        if not path.is_file():
            raise DataError(f"catalog {path_or_name!r} not found at {path}; {_FETCH_HINT}")
    if not path.is_file():
        raise DataError(f"catalog {path} not found")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"catalog {path} is not valid JSON: {exc}") from None
    mapping_form = isinstance(doc, dict) and "models" not in doc and bool(doc)
    if mapping_form and all(isinstance(v, dict) for v in doc.values()):
        entries = [{"model_id": k, **v} for k, v in doc.items()]  # mapping form {model_id: {...}}
    else:
        entries = doc.get("models") if isinstance(doc, dict) else doc
    if not isinstance(entries, list) or not entries:
        raise DataError(f"catalog {path}: expected {{'models': [ ... ]}} with at least one entry")
    catalog: dict[str, dict[str, Any]] = {}
    for i, entry in enumerate(entries):
        where = f"catalog {path}, models[{i}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("model_id"), str) or not entry["model_id"]:
            raise DataError(f"{where}: each entry must be an object with a non-empty 'model_id'")
        model_id = entry["model_id"]
        if model_id in catalog:
            raise DataError(f"{where}: duplicate model_id {model_id!r}")
        for key in ("input_cost_per_m", "output_cost_per_m"):
            value = entry.get(key)
            if not _finite_number(value) or value < 0:
                raise DataError(f"{where} ({model_id}): {key} must be a finite number >= 0, got {value!r}")
        catalog[model_id] = {k: v for k, v in entry.items() if k != "model_id"}
    return catalog


# ------------------------------------------------------------------------------------------- features
def _features_path(split: str) -> Path:
    if not isinstance(split, str) or not split or "/" in split or split.startswith("."):
        raise DataError(f"split must be a plain name such as 'val' or 'test', got {split!r}")
    return features_root() / f"{split}.npz"


def _lookup_rows(keys: np.ndarray, prompts: Sequence[str], where: str, split: str) -> np.ndarray:
    from .features import text_key

    index = {k: i for i, k in enumerate(keys.tolist())}
    rows = []
    for i, prompt in enumerate(prompts):
        j = index.get(text_key(prompt))
        if j is None:
            raise DataError(f"{where} has no vector for row {i + 1} of {split!r}; the reward table and the "
                            "features disagree (run `paretobandit features build`)")
        rows.append(j)
    return np.asarray(rows, dtype=np.intp)


def load_features(split: str, feature_service: Any = None, *, source: str = "canonical") -> np.ndarray:
    """Return the feature matrix (n, d) of a split, rows in the reward table's order.

    By default the vectors come from the canonical artifact shipped in the package
    (:mod:`paretobandit.canonical`; checksum-verified): the sets ``val``, ``test``, ``val_k4``, ``test_k4``
    and, for the six ``cross_judge_*`` tables, ``judges``. A table outside those sets, or
    ``source="cache"``, reads the local content-addressed cache ``data/features/<split>.npz``
    (:func:`build_features`). Rows are looked up by the sha256 of each prompt of
    ``load_reward_table(split)``, so a changed table can never be paired with stale features.

    Parameters
    ----------
    split : str
        Table name, e.g. ``"val"`` or ``"cross_judge_gpt_mini_test"``.
    feature_service : FeatureService, optional
        If given, the features must have been built by an identical pipeline (same ``fingerprint()``:
        kind, dimension, model, whitening and PCA sha256; file locations do not matter).
    source : {"canonical", "cache"}
        Where to read the vectors from.

    Raises
    ------
    DataError
        Artifact/cache or table missing, checksum mismatch, or prompts absent from the features.
    """
    from . import canonical
    from .features import read_feature_cache

    if source not in ("canonical", "cache"):
        raise DataError(f"source must be 'canonical' or 'cache', got {source!r}")
    set_name = canonical.set_for_table(split) if source == "canonical" else None
    if set_name is not None:
        keys, vectors, description = canonical.read_feature_set(set_name)
        where = f"canonical feature set {set_name!r} ({canonical.FEATURES_DIR})"
    else:
        path = _features_path(split)
        if not path.is_file():
            raise DataError(f"feature cache {path} not found; build it with `paretobandit features build` "
                            f"(or paretobandit.data.build_features(splits=({split!r},)))")
        keys, vectors, description = read_feature_cache(path)
        where = f"feature cache {path}"
    if feature_service is not None and description != feature_service.fingerprint():
        raise DataError(f"{where} was built by {description}, not by "
                        f"{feature_service.fingerprint()}; rebuild it with `paretobandit features build`")
    table = load_reward_table(split)
    return vectors[_lookup_rows(keys, table.prompts, where, split)]


def build_features(
    splits: Sequence[str] | Iterable[str] = DEFAULT_SPLITS,
    feature_service: Any = None,
    batch_size: int = 64,
) -> dict[str, Path]:
    """Embed each split's prompts into the local cache ``data/features/<split>.npz`` (content-addressed).

    This re-derives features on this machine; the experiments read the canonical artifact instead
    (:func:`load_features`). ``paretobandit features build`` compares the two
    (:func:`paretobandit.featureset.rebuild`).

    Parameters
    ----------
    splits : sequence of str
        Reward table names.
    feature_service : FeatureService, optional
        Default: the default MiniLM pipeline (``FeatureService()``).
    batch_size : int
        Encoder batch size.

    Returns
    -------
    dict
        ``{split: cache path}``.
    """
    from .features import FeatureService

    service = feature_service if feature_service is not None else FeatureService()
    written: dict[str, Path] = {}
    for split in splits:
        table = load_reward_table(split)
        path = _features_path(split)
        service.extract_batch(table.prompts, batch_size=batch_size, cache_path=path)
        written[split] = path
    return written
