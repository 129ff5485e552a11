"""The canonical, checksummed inputs shipped inside the package (``paretobandit/resources``).

Two kinds of package data, both ``.npz``/``.json`` only (never pickles):

``resources/features/<set>.npz`` + ``MANIFEST.json``
    The feature vectors every experiment consumes, one file per prompt *set*: ``val``, ``test``,
    ``val_k4``, ``test_k4`` (the reward tables of the same name) and ``judges`` (the union of the
    prompts of the six ``cross_judge_{r1,gpt_mini,claude}_{val,test}`` tables, in that file order).
    Each file holds ``keys`` (m,) sha256 hex of the prompt text, ``vectors`` (m, d) float64 exactly
    as embedded, ``description`` (the pipeline fingerprint as JSON). The manifest records, per set,
    the row count and the sha256 of the keys' and vectors' bytes; :func:`feature_checksum` is the
    checksum of the whole artifact. Embeddings differ by ~1e-6 between CPU instruction sets
    (MiniLM through torch), so the experiments read these fixed vectors instead of re-embedding;
    ``paretobandit features build`` re-derives them and reports the deviation, and replaces them
    only with ``--replace`` (:func:`write_feature_sets`).
``resources/artifacts/``
    The PCA (``pca_25_minilm.npz``), the warm-up priors (``priors_k3_d26.npz/.json``) and the four
    prior-mismatch priors, verified against ``resources/artifacts/SHA256SUMS`` (the reference data's
    checksums); see ``resources/artifacts/PROVENANCE.md``.

Files are written as deterministic zip archives (fixed member timestamps, sorted members), so
rewriting identical content leaves identical bytes.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._datafiles import read_checksums, sha256_file
from .errors import DataError

__all__ = [
    "ARTIFACTS_DIR",
    "FEATURES_DIR",
    "FEATURE_SETS",
    "JUDGE_TABLES",
    "artifact_path",
    "feature_checksum",
    "read_feature_set",
    "read_manifest",
    "set_for_table",
    "verify_artifacts",
    "write_feature_sets",
    "write_npz_deterministic",
]

RESOURCES_DIR = Path(__file__).resolve().parent / "resources"
FEATURES_DIR = RESOURCES_DIR / "features"
ARTIFACTS_DIR = RESOURCES_DIR / "artifacts"
MANIFEST_NAME = "MANIFEST.json"

#: Cross-judge tables whose prompts make up the ``judges`` set, in this order.
JUDGE_TABLES = tuple(f"cross_judge_{j}_{s}" for j in ("r1", "gpt_mini", "claude") for s in ("val", "test"))
#: Prompt sets of the canonical feature artifact.
FEATURE_SETS = ("val", "test", "val_k4", "test_k4", "judges")

_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


# ------------------------------------------------------------------------------------------- sets
def set_for_table(table: str) -> str | None:
    """The canonical set holding the prompts of reward table ``table`` (``None`` if none does)."""
    if table in FEATURE_SETS[:4]:
        return table
    if table in JUDGE_TABLES:
        return "judges"
    return None


# ------------------------------------------------------------------------------------------- files
def write_npz_deterministic(path: str | Path, arrays: Mapping[str, np.ndarray], *,
                            compress: bool = True) -> Path:
    """Write ``arrays`` as an ``.npz`` with fixed timestamps and sorted members (byte-reproducible).

    Written to a temporary file and renamed, so a reader never sees a half-written archive.
    """
    from ._atomic import atomic_write

    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED

    def _write(fh: Any) -> None:
        with zipfile.ZipFile(fh, "w", compression=method) as zf:
            for name in sorted(arrays):
                buf = io.BytesIO()
                np.lib.format.write_array(buf, np.asarray(arrays[name]), allow_pickle=False)
                info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_DATE)
                info.compress_type = method
                info.external_attr = 0o644 << 16
                zf.writestr(info, buf.getvalue())

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(p, _write)
    return p


def _digest(arr: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(arr).tobytes()).hexdigest()


def read_manifest(folder: Path | None = None) -> dict[str, Any]:
    """The feature artifact's manifest (``DataError`` if missing or malformed)."""
    path = (folder or FEATURES_DIR) / MANIFEST_NAME
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f"canonical feature manifest {path} is unreadable: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("sets"), dict):
        raise DataError(f"canonical feature manifest {path} has no 'sets' mapping")
    return doc


def feature_checksum(folder: Path | None = None) -> str:
    """Checksum of the canonical feature artifact: sha256 of its sets' content digests and pipeline."""
    doc = read_manifest(folder)
    core = {"sets": doc["sets"], "description": doc.get("description")}
    return hashlib.sha256(json.dumps(core, sort_keys=True).encode()).hexdigest()


@functools.lru_cache(maxsize=16)
def _read_verified(path: str, mtime_ns: int, expected_keys: str, expected_vectors: str):
    try:
        with np.load(path, allow_pickle=False) as npz:
            keys = npz["keys"]
            vectors = np.asarray(npz["vectors"], dtype=np.float64)
            description = json.loads(str(npz["description"]))
    except (KeyError, ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        raise DataError(f"canonical feature file {path} is unreadable ({exc})") from None
    if _digest(keys) != expected_keys or _digest(vectors) != expected_vectors:
        raise DataError(f"canonical feature file {path} does not match the checksums in its "
                        f"{MANIFEST_NAME} (corrupted or edited by hand); restore it with git checkout")
    keys.setflags(write=False)
    vectors.setflags(write=False)
    return keys, vectors, description


def read_feature_set(name: str, folder: Path | None = None) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Read and verify canonical set ``name``: ``(keys (m,), vectors (m, d) float64, description)``.

    The arrays are read-only and cached per process.

    Raises
    ------
    DataError
        Unknown set, missing file, or content that does not match the manifest's checksums.
    """
    folder = folder or FEATURES_DIR
    doc = read_manifest(folder)
    entry = doc["sets"].get(name)
    path = folder / f"{name}.npz"
    if entry is None or not path.is_file():
        raise DataError(f"canonical feature set {name!r} is not in {folder} (sets: {sorted(doc['sets'])})")
    return _read_verified(str(path), path.stat().st_mtime_ns, entry["sha256_keys"], entry["sha256_vectors"])


def write_feature_sets(sets: Mapping[str, tuple[Sequence[str], np.ndarray]], description: dict[str, Any],
                       provenance: dict[str, Any], folder: Path | None = None) -> Path:
    """Replace canonical sets (``{name: (keys, vectors)}``) and rewrite the manifest.

    Sets not given keep their files and manifest entries; all sets must share ``description``.
    """
    folder = folder or FEATURES_DIR
    folder.mkdir(parents=True, exist_ok=True)
    try:
        doc = read_manifest(folder)
    except DataError:
        doc = {"schema_version": 1, "sets": {}}
    if doc.get("description") not in (None, description) and set(doc["sets"]) - set(sets):
        raise DataError("the new feature sets come from another pipeline than the kept ones "
                        f"({description} vs {doc['description']}); replace every set at once")
    for name, (keys, vectors) in sets.items():
        if name not in FEATURE_SETS:
            raise DataError(f"unknown feature set {name!r}; sets are {list(FEATURE_SETS)}")
        k = np.asarray(list(keys), dtype="<U64")
        v = np.ascontiguousarray(vectors, dtype=np.float64)
        if v.ndim != 2 or v.shape[0] != k.shape[0]:
            raise DataError(f"set {name!r}: {k.shape[0]} keys but vectors of shape {v.shape}")
        write_npz_deterministic(folder / f"{name}.npz", {
            "keys": k, "vectors": v, "description": np.asarray(json.dumps(description, sort_keys=True))})
        doc["sets"][name] = {"rows": int(v.shape[0]), "dim": int(v.shape[1]),
                             "sha256_keys": _digest(k), "sha256_vectors": _digest(v)}
    doc["description"] = description
    doc.setdefault("provenance", {}).update(provenance)
    doc["sets"] = {n: doc["sets"][n] for n in FEATURE_SETS if n in doc["sets"]}
    path = folder / MANIFEST_NAME
    path.write_text(json.dumps(doc, sort_keys=True, indent=1) + "\n", encoding="utf-8")
    _read_verified.cache_clear()
    return path


# ------------------------------------------------------------------------------------------- artifacts
def _artifact_sums() -> dict[str, str]:
    return read_checksums(ARTIFACTS_DIR / "SHA256SUMS")


def artifact_path(name: str) -> Path | None:
    """Path of the packaged artifact ``name`` (e.g. ``"priors_k3_d26.npz"``), or ``None`` if not shipped.

    Raises
    ------
    DataError
        The packaged file does not match its checksum in ``resources/artifacts/SHA256SUMS``.
    """
    path = ARTIFACTS_DIR / name
    if not path.is_file():
        return None
    return _verified_artifact(str(path), path.stat().st_mtime_ns)


@functools.lru_cache(maxsize=32)
def _verified_artifact(path: str, mtime_ns: int) -> Path:
    p = Path(path)
    expected = _artifact_sums().get(p.name)
    actual = sha256_file(p)
    if expected is None or actual != expected:
        raise DataError(f"packaged artifact {p} has sha256 {actual}, expected {expected} "
                        f"({ARTIFACTS_DIR / 'SHA256SUMS'}); restore it with git checkout")
    return p


def verify_artifacts(names: Iterable[str] | None = None) -> dict[str, str]:
    """Verify every packaged artifact (or ``names``); returns ``{name: sha256}``."""
    sums = _artifact_sums()
    for name in names if names is not None else sums:
        if artifact_path(name) is None:
            raise DataError(f"packaged artifact {name} is missing from {ARTIFACTS_DIR}")
    return {n: sums[n] for n in (names if names is not None else sums)}
