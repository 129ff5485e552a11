"""Image regression: SHA-256 of every figure the reports render from the committed results JSON.

``tests/figure_hashes.json`` maps ``<experiment>/<figure>.png`` to the hash of the PNG that
:func:`paretobandit.workbench.figures.render` draws from ``results/<experiment>/results.json``;
``tests/test_figure_hashes.py`` fails when a figure changes unnoticed. After an intended change (a
restyled figure, regenerated results), regenerate the library with one command::

    python -m paretobandit.workbench figure-hashes --update

PNGs are written without timestamps (:func:`paretobandit.workbench.style.save`), so a hash changes only
when a pixel does; the library is tied to the pinned matplotlib and its bundled fonts.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path

from .config import REPO_ROOT, experiment_names

__all__ = ["HASH_LIBRARY", "compute_hashes", "read_library", "write_library", "differences"]

HASH_LIBRARY = REPO_ROOT / "tests" / "figure_hashes.json"
"""The committed hash library."""


def compute_hashes(root: Path | str | None = None, experiments: list[str] | None = None) -> dict[str, str]:
    """``{"<experiment>/<figure>.png": sha256}`` for every experiment with a committed ``results.json``."""
    from . import figures, results

    base = Path(root) if root is not None else REPO_ROOT
    out: dict[str, str] = {}
    for name in experiments or experiment_names(base / "conf"):
        path = base / "results" / name / "results.json"
        if not path.is_file() or not figures.figure_functions(name):
            continue
        doc = results.read_results(path)
        with tempfile.TemporaryDirectory() as tmp:
            for f in figures.render(doc, tmp):
                if f.suffix == ".png":
                    out[f"{name}/{f.name}"] = hashlib.sha256(f.read_bytes()).hexdigest()
    return dict(sorted(out.items()))


def read_library(path: Path | str = HASH_LIBRARY) -> dict[str, str]:
    """The stored hashes (empty when the file does not exist)."""
    p = Path(path)
    return json.loads(p.read_text(encoding="utf-8")) if p.is_file() else {}


def write_library(hashes: dict[str, str], path: Path | str = HASH_LIBRARY) -> Path:
    """Write ``hashes`` canonically (sorted keys) to ``path``."""
    p = Path(path)
    p.write_text(json.dumps(dict(sorted(hashes.items())), indent=1) + "\n", encoding="utf-8")
    return p


def differences(stored: dict[str, str], current: dict[str, str]) -> list[str]:
    """Human-readable lines for every figure added, removed or changed."""
    out = [f"changed: {k}" for k in sorted(set(stored) & set(current)) if stored[k] != current[k]]
    out += [f"new (not in the library): {k}" for k in sorted(set(current) - set(stored))]
    out += [f"missing (in the library, not rendered): {k}" for k in sorted(set(stored) - set(current))]
    return out
