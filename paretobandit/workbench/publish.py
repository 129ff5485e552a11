"""Write everything a notebook produces: results JSON, summary CSV, figures and LaTeX macros."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from . import figures, macros, results
from .config import repo_path

__all__ = ["publish", "results_path"]


def publish(cfg: DictConfig, *, seeds: Sequence[int], per_seed: Mapping[str, Any],
            summary: Mapping[str, Any], table: Sequence[Mapping[str, Any]] = (),
            columns: Sequence[str] | None = None, extra: Mapping[str, Any] | None = None,
            render: bool = True) -> dict[str, Any]:
    """Assemble and write an experiment's outputs under ``cfg.paths``.

    Writes ``<results_dir>/results.json`` (canonical, see :mod:`.results`), ``<results_dir>/summary.csv``
    (``table``), the registered figures (``<figures_dir>/*.pdf|png``) and
    ``<macros_dir>/<experiment>.tex``.

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
        figures.render(doc, repo_path(cfg, cfg.paths.figures_dir))
        prefix = cfg.experiment.get("macro_prefix")
        if prefix:
            macros.write_macros(repo_path(cfg, cfg.paths.macros_dir) / f"{name}.tex", doc, prefix)
    return doc


def results_path(cfg: DictConfig) -> Path:
    """Path of the experiment's ``results.json``."""
    return repo_path(cfg, cfg.paths.results_dir) / "results.json"
