"""Where the data lives and how its files are checksummed (below :mod:`paretobandit.data`, which
re-exports these names, so that :mod:`paretobandit.features` and :mod:`paretobandit.canonical` need not
import the data loaders)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from .errors import DataError

__all__ = ["DATA_ENV_VAR", "data_root", "features_root", "read_checksums", "repo_root", "sha256_file",
           "source_root"]

DATA_ENV_VAR = "PARETOBANDIT_DATA"


# --------------------------------------------------------------------------------------------- paths
def repo_root() -> Path:
    """Return the repository root (the folder holding the ``paretobandit`` package)."""
    return Path(__file__).resolve().parent.parent


def data_root() -> Path:
    """Return the raw data folder ``<repo>/data/raw`` (it may not exist yet)."""
    return repo_root() / "data" / "raw"


def features_root() -> Path:
    """Return the feature cache folder ``<repo>/data/features`` (it may not exist yet)."""
    return repo_root() / "data" / "features"


def source_root() -> Path | None:
    """Return the local reference data folder, or ``None`` when there is none.

    Resolution order: ``$PARETOBANDIT_DATA`` (must exist if set), then ``<repo>/../shared/data``.

    Raises
    ------
    DataError
        If ``$PARETOBANDIT_DATA`` is set but is not a directory.
    """
    env = os.environ.get(DATA_ENV_VAR)
    if env:
        path = Path(env).expanduser()
        if not path.is_dir():
            raise DataError(f"{DATA_ENV_VAR}={env!r} is not a directory")
        return path.resolve()
    sibling = repo_root().parent / "shared" / "data"
    return sibling.resolve() if sibling.is_dir() else None


# ------------------------------------------------------------------------------------------ checksums
def sha256_file(path: str | os.PathLike[str], chunk_size: int = 1 << 20) -> str:
    """Return the hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def read_checksums(path: str | os.PathLike[str]) -> dict[str, str]:
    """Parse a ``SHA256SUMS`` file (``<hex>  <relative path>`` per line) into ``{path: hex}``.

    Raises
    ------
    DataError
        If the file is missing, a line is malformed, or a path escapes the folder.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"checksum file {path} not found")
    sums: dict[str, str] = {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split(maxsplit=1)
        digest = parts[0].lower()
        if len(parts) != 2 or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise DataError(f"{path}:{lineno}: expected '<sha256>  <path>', got {line!r}")
        rel = parts[1].strip().lstrip("*")
        if rel.startswith("/") or ".." in Path(rel).parts:
            raise DataError(f"{path}:{lineno}: path {rel!r} must be relative and stay inside the folder")
        sums[rel] = digest
    if not sums:
        raise DataError(f"checksum file {path} lists no files")
    return sums
