"""Schema-versioned, byte-deterministic results files.

``results.json`` holds everything needed to regenerate tables, figures and macros: the resolved config,
seeds, package version, git commit, per-seed metrics and summaries. It never holds timestamps or
timings; those go to ``run_info.json`` beside it. Serialisation is canonical (sorted keys, floats rounded
to :data:`FLOAT_DIGITS` significant digits, written with ``repr``), so the same config and seeds give the
same bytes.
"""

from __future__ import annotations

import csv
import io
import json
import math
import platform
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["SCHEMA_VERSION", "FLOAT_DIGITS", "canonical", "dumps", "build_results", "write_results",
           "read_results", "write_run_info", "write_summary_csv", "git_commit", "package_version",
           "config_section", "config_differences", "NOT_RESULTS"]

SCHEMA_VERSION = 1
"""Bumped whenever the layout of ``results.json`` changes incompatibly."""

FLOAT_DIGITS = 12
"""Significant digits kept for every float (absorbs last-bit noise from summation order)."""


def _round(x: float) -> float | None:
    if not math.isfinite(x):
        return None
    if x == 0.0:
        return 0.0
    return float(f"{x:.{FLOAT_DIGITS}g}")


def canonical(obj: Any) -> Any:
    """Convert ``obj`` to plain JSON types with the rounding policy applied.

    NumPy scalars and arrays become Python numbers and lists; tuples become lists; non-finite floats
    become ``None``; mapping keys become strings. Anything else is a ``TypeError``.
    """
    if isinstance(obj, Mapping):
        return {str(k): canonical(v) for k, v in obj.items()}
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return _round(float(obj))
    if isinstance(obj, np.ndarray):
        return canonical(obj.tolist())
    if isinstance(obj, (list, tuple)):
        return [canonical(v) for v in obj]
    if obj is None or isinstance(obj, str):
        return obj
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot serialise {type(obj).__name__} to results JSON: {obj!r}")


def dumps(obj: Any) -> str:
    """Canonical JSON text of ``obj`` (sorted keys, 1-space indent, trailing newline)."""
    return json.dumps(canonical(obj), sort_keys=True, indent=1, ensure_ascii=True, allow_nan=False) + "\n"


def git_commit(root: Path | str) -> str:
    """``HEAD`` commit of the repository at ``root``, or ``"unknown"`` outside git."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                             check=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() or "unknown"


def package_version() -> str:
    """Version string of the ``paretobandit`` package."""
    from paretobandit import __version__

    return __version__


NOT_RESULTS = ("paths", "sweep")
"""Config sections that say where or how a run is driven, not what it computes: left out of results."""


def config_section(config: Mapping[str, Any]) -> dict[str, Any]:
    """The ``config`` section of a results document: ``config`` canonicalised, without :data:`NOT_RESULTS`.

    Accepts a resolved mapping or an OmegaConf ``DictConfig`` (resolved here).
    """
    if not isinstance(config, dict):
        from omegaconf import DictConfig, OmegaConf

        if isinstance(config, DictConfig):
            config = OmegaConf.to_container(config, resolve=True)
    cfg = json.loads(json.dumps(canonical(config)))
    for key in NOT_RESULTS:
        cfg.pop(key, None)
    return cfg


def config_differences(stored: Any, current: Any, prefix: str = "") -> list[str]:
    """Dotted keys where two config sections differ (added, removed or changed), sorted."""
    if isinstance(stored, dict) and isinstance(current, dict):
        out: list[str] = []
        for key in sorted(set(stored) | set(current)):
            path = f"{prefix}.{key}" if prefix else str(key)
            if key not in stored or key not in current:
                out.append(path)
            else:
                out += config_differences(stored[key], current[key], path)
        return out
    return [] if stored == current else [prefix or "<config>"]


def build_results(*, experiment: str, config: Mapping[str, Any], seeds: Sequence[int],
                  per_seed: Mapping[str, Any], summary: Mapping[str, Any], root: Path | str | None = None,
                  extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Assemble a results document.

    Parameters
    ----------
    experiment : str
        Experiment name (the ``conf/experiment`` preset).
    config : mapping
        Resolved configuration (e.g. ``OmegaConf.to_container(cfg, resolve=True)``). Its ``paths``
        section (output locations, the clone's absolute root) and ``sweep`` section are dropped
        (:func:`config_section`): results do not depend on where they are written.
    seeds : sequence of int
        Seeds of the trials.
    per_seed : mapping
        Raw per-seed metrics.
    summary : mapping
        Aggregates (means, CIs, headlines); what tables, figures and macros read.
    root : path, optional
        Repository root for the git commit; defaults to the package's repository.
    extra : mapping, optional
        Further JSON-able sections (e.g. ``reference_points``).
    """
    from .config import REPO_ROOT

    cfg = config_section(config)
    doc = {
        "schema_version": SCHEMA_VERSION,
        "experiment": experiment,
        "config": cfg,
        "seeds": [int(s) for s in seeds],
        "provenance": {"package": "paretobandit", "version": package_version(),
                       "git_commit": git_commit(root if root is not None else REPO_ROOT)},
        "per_seed": per_seed,
        "summary": summary,
    }
    for key, value in (extra or {}).items():
        if key in doc:
            raise ValueError(f"extra section {key!r} clashes with a reserved results key")
        doc[key] = value
    return canonical(doc)


def write_results(path: Path | str, results: Mapping[str, Any]) -> Path:
    """Write ``results`` canonically to ``path`` (parents created); return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dumps(results), encoding="utf-8")
    return path


def read_results(path: Path | str) -> dict[str, Any]:
    """Load a results file, checking its schema version."""
    doc = json.loads(Path(path).read_text(encoding="utf-8"))
    version = doc.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ValueError(f"{path}: schema_version {version!r}, this package reads {SCHEMA_VERSION}")
    return doc


def write_run_info(path: Path | str, **info: Any) -> Path:
    """Write volatile run information to ``path`` as JSON: wall time, host, timestamps and what can
    explain a numerical difference between machines (versions of numpy, scipy, numba, llvmlite, torch,
    sentence-transformers, transformers; the BLAS kernel; the CPU model; instruction-set overrides in
    the environment; the checksum of the canonical feature artifact). Never compared byte for byte."""
    from datetime import datetime, timezone

    from ..provenance import machine_info

    base = {"finished_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "python": sys.version.split()[0], "platform": platform.platform(), **machine_info()}
    try:
        from ..canonical import feature_checksum

        base["features_sha256"] = feature_checksum()
    except Exception as exc:  # noqa: BLE001 - provenance must never fail a run
        base["features_sha256"] = f"unavailable: {exc}"
    base.update(info)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(canonical(base), sort_keys=True, indent=1) + "\n", encoding="utf-8")
    return path


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (float, np.floating)):
        r = _round(float(value))
        return "" if r is None else repr(r)
    return str(value)


def write_summary_csv(path: Path | str, rows: Sequence[Mapping[str, Any]],
                      columns: Sequence[str] | None = None) -> Path:
    """Write ``rows`` (one mapping per condition) as CSV with deterministic number formatting.

    Parameters
    ----------
    path : path
        Destination file.
    rows : sequence of mapping
        Table rows; missing keys are left empty.
    columns : sequence of str, optional
        Column order; defaults to the keys of the first row, in order, then any others sorted.
    """
    if columns is None:
        columns = list(rows[0]) if rows else []
        seen = set(columns)
        columns += sorted({k for r in rows for k in r} - seen)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(buf.getvalue(), encoding="utf-8")
    return path
