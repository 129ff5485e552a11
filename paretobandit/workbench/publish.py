"""Write everything a notebook produces: results JSON, summary CSV, figures and LaTeX macros."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from . import figures, macros, results
from .config import REPO_ROOT, repo_path

__all__ = ["publish", "results_path", "render_document", "CanonicalOutputError"]


class CanonicalOutputError(PermissionError):
    """A non-canonical run tried to write the canonical results or the paper's macros."""


def _canonical_targets(cfg: DictConfig) -> list[Path]:
    root = Path(cfg.paths.root)
    return [(base / sub).resolve() for base in (root, REPO_ROOT)
            for sub in (Path("results") / cfg.experiment.name, Path("paper") / "macros")]


def _check_target(cfg: DictConfig) -> None:
    if cfg.paths.get("canonical", False):
        return
    protected = _canonical_targets(cfg)
    for key in ("results_dir", "figures_dir", "macros_dir"):
        path = repo_path(cfg, cfg.paths[key]).resolve()
        if any(path == p or path.is_relative_to(p) for p in protected):
            raise CanonicalOutputError(
                f"paths.{key} = {path} is a canonical output folder, but this run is not canonical "
                "(only `python -m paretobandit.workbench run` at scale=full without overrides writes it); "
                "compose with paretobandit.workbench.config.compose_run or notebook.setup for a run folder")


def render_document(doc: Mapping[str, Any], figures_dir: Path, macros_file: Path | None,
                    prefix: str | None) -> list[Path]:
    """Draw the figures and write the macros of ``doc`` exactly as read back from ``results.json``.

    The notebook (:func:`publish`) and the re-render (``run --skip-run``) both call this on the parsed
    JSON text, so their outputs are byte-identical.
    """
    written = figures.render(doc, figures_dir)
    if prefix and macros_file is not None:
        written.append(macros.write_macros(macros_file, doc, prefix))
    return written


def publish(cfg: DictConfig, *, seeds: Sequence[int], per_seed: Mapping[str, Any],
            summary: Mapping[str, Any], table: Sequence[Mapping[str, Any]] = (),
            columns: Sequence[str] | None = None, extra: Mapping[str, Any] | None = None,
            render: bool = True) -> dict[str, Any]:
    """Assemble and write an experiment's outputs under ``cfg.paths``.

    Writes ``<results_dir>/results.json`` (canonical, see :mod:`.results`), ``<results_dir>/summary.csv``
    (``table``), the registered figures (``<figures_dir>/*.pdf|png``) and
    ``<macros_dir>/<experiment>.tex``. Figures and macros are drawn from the JSON as written, so
    ``python -m paretobandit.workbench run --skip-run`` reproduces them byte for byte.

    Raises
    ------
    CanonicalOutputError
        If ``cfg`` is not a canonical run (``paths.canonical`` false) but its folders are the canonical
        ``results/<experiment>/`` or ``paper/macros/``; nothing is written.

    Parameters
    ----------
    cfg : DictConfig
        Composed configuration (with ``paths.root``).
    seeds : sequence of int
        Trial seeds.
    per_seed : mapping
        Raw per-seed metrics (e.g. the protocol's return value).
    summary : mapping
        Scalars only (each becomes a LaTeX macro); nested mappings allowed.
    table : sequence of mapping
        Rows of the summary table (stored in the JSON as ``table`` and as ``summary.csv``).
    columns : sequence of str, optional
        CSV column order.
    extra : mapping, optional
        Further JSON sections (e.g. ``traces``, ``reference_points``).
    render : bool
        Also draw figures and write macros.

    Returns
    -------
    dict
        The results document as written.
    """
    name = cfg.experiment.name
    _check_target(cfg)
    sections = dict(extra or {})
    if table:
        sections["table"] = list(table)
    doc = results.build_results(experiment=name, config=OmegaConf.to_container(cfg, resolve=True),
                                seeds=seeds, per_seed=per_seed, summary=summary, root=cfg.paths.root,
                                extra=sections)
    out = repo_path(cfg, cfg.paths.results_dir)
    results.write_results(out / "results.json", doc)
    if table:
        results.write_summary_csv(out / "summary.csv", doc["table"], columns)
    if render:
        # Render from the JSON as written (sorted keys), never from the in-memory dict, so `--skip-run`
        # reproduces these files byte for byte.
        written = json.loads(results.dumps(doc))
        render_document(written, repo_path(cfg, cfg.paths.figures_dir),
                        repo_path(cfg, cfg.paths.macros_dir) / f"{name}.tex",
                        cfg.experiment.get("macro_prefix"))
    return doc


def results_path(cfg: DictConfig) -> Path:
    """Path of the experiment's ``results.json``."""
    return repo_path(cfg, cfg.paths.results_dir) / "results.json"
