"""The data step: copy (or download) the reference data into ``data/raw/`` and verify every file.

:func:`fetch` copies ``$PARETOBANDIT_DATA`` (or the ``shared/data`` folder beside the repository) into
``data/raw/``, verifying every file against its ``SHA256SUMS``. Without a local copy it downloads the reward
tables, cross-judge tables and price catalogs from the upstream repository at :data:`UPSTREAM_COMMIT` (base
URL overridable with ``$PARETOBANDIT_UPSTREAM_URL``, e.g. a ``file://`` mirror of the upstream layout) and
verifies them against the checksums pinned in :data:`UPSTREAM_FILES`; the pickle-free artifacts
(:data:`PACKAGED_ARTIFACTS`) are installed from the package. Nothing corrupt is ever written to the target.

The loaders that read the result are :mod:`paretobandit.data`.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._atomic import atomic_write
from ._datafiles import DATA_ENV_VAR, data_root, read_checksums, repo_root, sha256_file, source_root
from .errors import DataError

__all__ = [
    "LOCAL_ONLY_FILES",
    "PACKAGED_ARTIFACTS",
    "UPSTREAM_BASE_URL",
    "UPSTREAM_COMMIT",
    "UPSTREAM_FILES",
    "UPSTREAM_URL_ENV_VAR",
    "FetchReport",
    "fetch",
    "upstream_base_url",
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
