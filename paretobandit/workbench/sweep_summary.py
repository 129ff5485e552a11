"""One table and one figure across the jobs of a Hydra multirun.

A sweep folder (``results/_sweeps/<experiment>/<time>/``) holds one folder per job, each with the job's
``results.json`` and Hydra's ``.hydra/overrides.yaml``. :func:`summarise_sweep` reads them all and writes

* ``sweep_summary.csv``: one row per job; the swept keys (from the overrides), then every number of the
  job's ``summary.headlines`` (or, without headlines, the top-level numbers of ``summary``);
* ``sweep_summary.png`` / ``.pdf``: the chosen metric per job, with its CI when the results carry
  ``<metric>_ci_low`` / ``<metric>_ci_high`` beside it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["collect_jobs", "job_metrics", "objective_value", "summarise_sweep", "SUMMARY_STEM"]

SUMMARY_STEM = "sweep_summary"
_SKIP_KEYS = ("experiment", "hydra", "paths.", "sweep.")


def objective_value(doc: dict[str, Any], key: str) -> float:
    """The number at dotted ``key`` of a results document (what an optimising sweeper maximises).

    Raises
    ------
    KeyError
        If ``key`` names no number in ``doc``.
    """
    node: Any = doc
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            raise KeyError(f"sweep.objective {key!r}: no {part!r} in the job's results.json")
        node = node[part]
    if isinstance(node, bool) or not isinstance(node, (int, float)):
        raise KeyError(f"sweep.objective {key!r} is {node!r}, not a number")
    return float(node)


def _overrides(job_dir: Path) -> list[str]:
    from omegaconf import OmegaConf

    path = job_dir / ".hydra" / "overrides.yaml"
    if not path.is_file():
        return []
    return [str(o) for o in OmegaConf.load(path)]


def _numbers(node: Mapping[str, Any]) -> dict[str, float]:
    """Numeric (and boolean, as 0/1) entries of ``node``; nested sections are skipped."""
    return {str(k): float(v) for k, v in node.items() if isinstance(v, (bool, int, float))}


def job_metrics(doc: Mapping[str, Any]) -> dict[str, float]:
    """The numbers a sweep compares: ``summary.headlines`` (else the top-level numbers of ``summary``)."""
    summary = doc.get("summary") or {}
    headlines = summary.get("headlines")
    return _numbers(headlines if isinstance(headlines, Mapping) else summary)


def collect_jobs(sweep_dir: Path | str, objective: str | None = None) -> list[dict[str, Any]]:
    """One row per job folder holding a ``results.json`` under ``sweep_dir``, sorted by folder name.

    With ``objective`` (a dotted results key, the sweep's ``sweep.objective``) each row also gets the
    ``objective`` column.

    Raises
    ------
    FileNotFoundError
        If ``sweep_dir`` is not a folder or holds no job results.
    """
    from .results import read_results

    root = Path(sweep_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"sweep folder {root} does not exist")
    jobs = sorted(p.parent for p in root.glob("*/results.json"))
    if not jobs:
        raise FileNotFoundError(f"no job results (*/results.json) under {root}")
    rows = []
    for job in jobs:
        row: dict[str, Any] = {"job": job.name}
        for o in _overrides(job):
            key, _, value = o.lstrip("+~").partition("=")
            if not key.startswith(_SKIP_KEYS):
                row[key] = value
        doc = read_results(job / "results.json")
        if objective:
            row["objective"] = objective_value(doc, objective)
        row.update(job_metrics(doc))
        rows.append(row)
    return rows


def _columns(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    cols: list[str] = []
    for row in rows:
        cols += [k for k in row if k not in cols]
    return cols


def summarise_sweep(sweep_dir: Path | str, *, metric: str | None = None,
                    objective: str | None = None) -> tuple[Path, Path | None]:
    """Write ``sweep_summary.csv`` and the across-jobs figure into ``sweep_dir``; return their paths.

    Parameters
    ----------
    sweep_dir : path
        A multirun folder (Hydra's ``hydra.sweep.dir``).
    metric : str, optional
        Metric shown in the figure; defaults to the objective when given, else the first metric.
    objective : str, optional
        Dotted results key of an optimising sweep, added as the ``objective`` column.

    Raises
    ------
    FileNotFoundError
        See :func:`collect_jobs`.
    KeyError
        If ``metric`` is not a metric of the jobs.
    """
    from .results import write_summary_csv

    root = Path(sweep_dir)
    rows = collect_jobs(root, objective)
    table = write_summary_csv(root / f"{SUMMARY_STEM}.csv", rows, _columns(rows))
    metrics = [k for k in _columns(rows) if all(isinstance(r.get(k), float) for r in rows if k in r)
               and not k.endswith(("_ci_low", "_ci_high")) and k != "job"]
    if metric is None:
        if not metrics:
            return table, None
        metric = metrics[0]
    elif metric not in metrics:
        raise KeyError(f"metric {metric!r} not in the jobs' results; choose one of {metrics}")
    return table, _figure(root, rows, metric)


def _figure(root: Path, rows: Sequence[Mapping[str, Any]], metric: str) -> Path:
    import matplotlib.pyplot as plt
    import numpy as np

    from . import style

    style.apply()
    labels = [r["job"] or "(no overrides)" for r in rows]
    y = np.arange(len(rows))
    x = np.array([r.get(metric, np.nan) for r in rows], dtype=float)
    fig, ax = plt.subplots(figsize=(5.0, 0.9 + 0.32 * len(rows)))
    low, high = f"{metric}_ci_low", f"{metric}_ci_high"
    if all(low in r and high in r for r in rows):
        err = np.array([[r[metric] - r[low] for r in rows], [r[high] - r[metric] for r in rows]])
        ax.errorbar(x, y, xerr=err, fmt="o", ms=4, capsize=2, label="mean, 95% CI")
    else:
        ax.plot(x, y, "o", ms=4)
    ax.set_yticks(y, labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel(metric)
    ax.set_title(f"{len(rows)} job(s) of {root.name}", fontsize=8)
    return style.save(fig, root, SUMMARY_STEM)[1]
