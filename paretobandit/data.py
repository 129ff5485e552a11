"""Data step and loaders for the reference reward tables, price catalogs and feature caches.

Layout (all paths resolved from the repository root, never from the current directory)::

    <repo>/data/raw/        copy of the reference data (git-ignored), written by :func:`fetch`
    <repo>/data/features/   per-split feature caches (git-ignored), written by :func:`build_features`

:func:`fetch` copies ``$PARETOBANDIT_DATA`` (or the ``shared/data`` folder beside the repository) into
``data/raw/``, verifying every file against ``SHA256SUMS``. Without a local copy it downloads the reward
tables, cross-judge tables and price catalogs from the upstream repository at commit
``72ccbefe5cb858c95e00368e2b68de3c2b28a2ee`` (base URL overridable with ``$PARETOBANDIT_UPSTREAM_URL``,
e.g. a ``file://`` mirror of the upstream layout) and verifies them against the checksums pinned in this
module. The upstream PCA and prior artifacts exist only as pickles, which this project never loads; the
package ships pickle-free copies (``paretobandit/resources/artifacts``, see PROVENANCE.md there), which
every loader prefers and :func:`fetch` installs, so the paper's inputs never depend on where the data
came from.

Nothing here unpickles: tables are JSON lines, catalogs JSON, arrays ``.npz`` read with
``allow_pickle=False``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ._atomic import atomic_write
from ._datafiles import (
    DATA_ENV_VAR,
    data_root,
    features_root,
    read_checksums,
    repo_root,
    sha256_file,
    source_root,
)
from .errors import DataError

__all__ = [
    "DATA_ENV_VAR",
    "UPSTREAM_BASE_URL",
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

#: Environment variable overriding the upstream base URL (``https://``, ``http://`` or ``file://``; the
#: folder it names must have the upstream repository's layout).
UPSTREAM_URL_ENV_VAR = "PARETOBANDIT_UPSTREAM_URL"
UPSTREAM_COMMIT = "72ccbefe5cb858c95e00368e2b68de3c2b28a2ee"
UPSTREAM_BASE_URL = f"https://raw.githubusercontent.com/ParetoBandit/ParetoBandit/{UPSTREAM_COMMIT}/"

_REWARDS = "data_collection/rewards/"
_JUDGES = "experiments/appendix/judge_robustness/results/"
#: Files downloaded from the upstream repository when no local copy exists:
#: ``local relative path -> (path relative to the upstream repository root, sha256)``. The checksums
#: are those of the reference copy's ``SHA256SUMS``.
UPSTREAM_FILES: dict[str, tuple[str, str]] = {
    "rewards/val.jsonl": (
        _REWARDS + "val.jsonl", "9590556ee832bb8e27b0e838eb4fd6b656e69e39c99ef067fc6379abc7f168ef"),
    "rewards/test.jsonl": (
        _REWARDS + "test.jsonl", "b2f7e0e034902d254b3620770d98824cb932ad9cbecd38b9ce00345620a70665"),
    "rewards/val_k4.jsonl": (
        _REWARDS + "val_k4.jsonl", "a4ef953acae52873934882d97400c0b410afac0fb874bc39a1f2b3716ea5015d"),
    "rewards/test_k4.jsonl": (
        _REWARDS + "test_k4.jsonl", "96ce988cad380276898457e351585bbef62e686b45fc32bbdeaf1bae764748b1"),
    "rewards/flash_token_counts.jsonl": (
        _REWARDS + "flash_canonical/flash_token_counts.jsonl",
        "466eaf193a61ac0f8369e45f46e8657bf658b68ae44eb65bceb2e56a6423da76"),
    "judges/cross_judge_claude_test.jsonl": (
        _JUDGES + "cross_judge_claude_test.jsonl",
        "24c403f8b9da4b3d0bbbd0d956a04af4d72b0328580a39ac63878d38e72125f5"),
    "judges/cross_judge_claude_val.jsonl": (
        _JUDGES + "cross_judge_claude_val.jsonl",
        "ee9ac8874f4e7ecc971e9c5d20653b4c55d909881ebb80faa4d17aba0ce3444c"),
    "judges/cross_judge_gpt_mini_test.jsonl": (
        _JUDGES + "cross_judge_gpt_mini_test.jsonl",
        "ada75251fc8c0eb69bb76bd212dbbeda39dad2e9395b03aea0883820d9a34602"),
    "judges/cross_judge_gpt_mini_val.jsonl": (
        _JUDGES + "cross_judge_gpt_mini_val.jsonl",
        "2b02edb910492e49d5b4159bf9359a6caca5bf0fb481bd6190ac11759619ee9a"),
    "judges/cross_judge_r1_test.jsonl": (
        _JUDGES + "cross_judge_r1_test.jsonl",
        "3667f9b609d27e2e83d4bc590c95641c7111408e8f76e60c5e9d5a4c56997cd7"),
    "judges/cross_judge_r1_val.jsonl": (
        _JUDGES + "cross_judge_r1_val.jsonl",
        "e72879a120ced9a4bfb54c4063ba8ad1b677aa40292150a67290f4a08fba940a"),
    "models/models_k3.json": (
        "data_collection/config/models_k3.json",
        "17b167d0c676914fd3c9d3f99aff7c6b0e93c88a6b63c7babf3376d0a78ae683"),
    "models/models_k4.json": (
        "data_collection/config/models_k4.json",
        "47065fc7c1573f90eff8c23742c9ed522f837f471f6433d9dcea9b8043aa0782"),
}

#: Artifacts upstream ships only as pickles: the package carries pickle-free copies
#: (``paretobandit/resources/artifacts``), which :func:`fetch` installs into ``data/raw/artifacts``.
PACKAGED_ARTIFACTS = (
    "pca_25_minilm.npz",
    "priors_k3_d26.npz",
    "priors_k3_d26.json",
    "priors_mismatch_gsm8k_only.json",
    "priors_mismatch_gsm8k_only.npz",
    "priors_mismatch_inverted.json",
    "priors_mismatch_inverted.npz",
    "priors_mismatch_mmlu_only.json",
    "priors_mismatch_mmlu_only.npz",
    "priors_mismatch_random_1680.json",
    "priors_mismatch_random_1680.npz",
)
LOCAL_ONLY_FILES = tuple(f"artifacts/{name}" for name in PACKAGED_ARTIFACTS)

DEFAULT_SPLITS = ("val", "test", "val_k4", "test_k4")
_FETCH_HINT = "run `paretobandit data fetch` (or `make data`) first"


# ------------------------------------------------------------------------------------------- fetching
@dataclass
class FetchReport:
    """What :func:`fetch` did: files copied/downloaded, files already up to date, where from."""

    dest: Path
    source: str
    written: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    missing_artifacts: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One human-readable paragraph."""
        text = (f"data in {self.dest} (from {self.source}): {len(self.written)} written, "
                f"{len(self.skipped)} already verified")
        if self.missing_artifacts:
            text += (f"; missing from the installed package: {', '.join(self.missing_artifacts)} — "
                     f"reinstall paretobandit (its package data holds them) or set {DATA_ENV_VAR} "
                     "to a folder holding them")
        return text


def _atomic_write_from(src_stream_writer: Callable[[Any], None], target: Path) -> None:
    atomic_write(target, src_stream_writer)


def _up_to_date(target: Path, digest: str) -> bool:
    return target.is_file() and sha256_file(target) == digest


def fetch(
    dest: str | os.PathLike[str] | None = None,
    source: str | os.PathLike[str] | None = None,
    *,
    allow_download: bool = True,
    opener: Callable[[str], Any] | None = None,
) -> FetchReport:
    """Copy (or download) the reference data into ``dest`` and verify every file.

    Parameters
    ----------
    dest : path, optional
        Target folder; default :func:`data_root` (``<repo>/data/raw``).
    source : path, optional
        Local folder holding the reference data and its ``SHA256SUMS``. Default :func:`source_root`
        (``$PARETOBANDIT_DATA``, then ``<repo>/../shared/data``).
    allow_download : bool
        When no local source exists, download the reward tables and catalogs from upstream.
    opener : callable, optional
        ``opener(url)`` returning a readable binary file object; default ``urllib.request.urlopen``
        (injected in tests).

    Returns
    -------
    FetchReport

    Raises
    ------
    DataError
        A file's checksum does not match (the file is named, nothing corrupt is written to ``dest``), a
        listed file is missing, or the download fails.

    Notes
    -----
    Idempotent: files in ``dest`` whose checksum already matches are skipped.
    """
    dest_path = Path(dest) if dest is not None else data_root()
    src_path = Path(source) if source is not None else source_root()
    if src_path is not None:
        return _fetch_local(src_path, dest_path)
    if not allow_download:
        raise DataError(f"no local reference data: set {DATA_ENV_VAR} or place it at "
                        f"{repo_root().parent / 'shared' / 'data'}")
    return _fetch_upstream(dest_path, opener or _default_opener)


def _fetch_local(src: Path, dest: Path) -> FetchReport:
    if not src.is_dir():
        raise DataError(f"data source {src} is not a directory")
    sums = read_checksums(src / "SHA256SUMS")
    report = FetchReport(dest=dest, source=str(src))
    for rel, digest in sums.items():
        target = dest / rel
        if _up_to_date(target, digest):
            report.skipped.append(rel)
            continue
        origin = src / rel
        if not origin.is_file():
            raise DataError(f"{origin} is listed in {src / 'SHA256SUMS'} but missing")
        actual = sha256_file(origin)
        if actual != digest:
            raise DataError(f"checksum mismatch for {origin}: expected sha256 {digest}, got {actual}; "
                            "refusing to copy a corrupt file")

        def _copy(fh: Any, origin: Path = origin) -> None:
            with open(origin, "rb") as inp:
                shutil.copyfileobj(inp, fh)

        _atomic_write_from(_copy, target)
        if sha256_file(target) != digest:  # disk trouble while copying
            target.unlink(missing_ok=True)
            raise DataError(f"checksum mismatch after copying {rel} to {target}")
        report.written.append(rel)
    for extra in ("SHA256SUMS", "README.md"):
        if (src / extra).is_file():
            (dest / extra).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src / extra, dest / extra)
    return report


def _default_opener(url: str) -> Any:
    return urllib.request.urlopen(url, timeout=60)  # noqa: S310 - https/file base URL chosen by the user


def upstream_base_url() -> str:
    """Base URL of the upstream repository: ``$PARETOBANDIT_UPSTREAM_URL`` or :data:`UPSTREAM_BASE_URL`.

    Always ends with ``/``; ``https://``, ``http://`` and ``file://`` URLs are accepted.

    Raises
    ------
    DataError
        The environment variable holds another kind of URL.
    """
    url = os.environ.get(UPSTREAM_URL_ENV_VAR) or UPSTREAM_BASE_URL
    if not url.startswith(("https://", "http://", "file://")):
        raise DataError(f"{UPSTREAM_URL_ENV_VAR}={url!r} must be an https://, http:// or file:// URL")
    return url if url.endswith("/") else url + "/"


def _install_packaged_artifacts(dest: Path, report: FetchReport, lines: list[str]) -> None:
    from .canonical import artifact_path

    for name in PACKAGED_ARTIFACTS:
        rel = f"artifacts/{name}"
        src = artifact_path(name)            # checksum-verified
        if src is None:
            report.missing_artifacts.append(rel)
            continue
        digest = sha256_file(src)
        lines.append(f"{digest}  {rel}")
        target = dest / rel
        if _up_to_date(target, digest):
            report.skipped.append(rel)
            continue
        payload = src.read_bytes()
        _atomic_write_from(lambda fh, data=payload: fh.write(data), target)
        report.written.append(rel)


def _fetch_upstream(dest: Path, opener: Callable[[str], Any]) -> FetchReport:
    base = upstream_base_url()
    report = FetchReport(dest=dest, source=base)
    lines = []
    payloads: dict[str, bytes] = {}
    for rel, (upstream, digest) in UPSTREAM_FILES.items():   # download and verify everything first
        lines.append(f"{digest}  {rel}")
        if _up_to_date(dest / rel, digest):
            report.skipped.append(rel)
            continue
        url = base + upstream
        try:
            response = opener(url)
            with response:
                payload = response.read()
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise DataError(f"could not download {rel} from {url}: {exc}. No local reference data was found "
                            f"either: set {DATA_ENV_VAR} to a folder holding the data (with SHA256SUMS), or "
                            f"{UPSTREAM_URL_ENV_VAR} to a mirror of the upstream repository") from exc
        actual = hashlib.sha256(payload).hexdigest()
        if actual != digest:
            raise DataError(f"checksum mismatch for {rel} downloaded from {url}: expected sha256 {digest}, "
                            f"got {actual}; refusing to write it (nothing was written)")
        payloads[rel] = payload
    for rel, payload in payloads.items():
        _atomic_write_from(lambda fh, data=payload: fh.write(data), dest / rel)
        report.written.append(rel)
    _install_packaged_artifacts(dest, report, lines)
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "SHA256SUMS").write_text("\n".join(sorted(lines, key=lambda ln: ln.split()[1])) + "\n",
                                     encoding="utf-8")
    return report


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
