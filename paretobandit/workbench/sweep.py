"""Hydra multirun over an experiment notebook: seed and hyper-parameter sweeps.

Each Hydra job executes the experiment's notebook with papermill, passing the job's overrides to the
notebook's ``overrides`` parameter and pointing its results, figures and macros at the job's output folder.
Folders follow ``conf/config.yaml``: one per multirun, ``<results root>/_sweeps/<experiment>/<time>/``,
holding one job folder per override set named by its overrides (``scale=ci,router.params.alpha=0.05``),
whatever the working directory. A sweep never writes the canonical results. At the end of the multirun
:class:`SweepSummary` writes ``sweep_summary.csv`` and ``sweep_summary.png|pdf`` across the jobs
(:mod:`.sweep_summary`; also ``python -m paretobandit.workbench sweep-summary <sweep dir>``).

Any Hydra launcher runs it unchanged: the default (sequential, a laptop), ``hydra/launcher=joblib``
(local processes), ``hydra/launcher=ray`` (a Ray cluster or a local Ray instance) or
``hydra/launcher=submitit_slurm`` (a Slurm cluster); ``hydra/sweeper=alpha_gamma`` searches
alpha x gamma with Optuna (``conf/hydra/sweeper/alpha_gamma.yaml``).

Examples
--------
From any directory::

    python -m paretobandit.workbench.sweep -m experiment=budget_pacing scale=ci \\
        router.params.alpha=0.01,0.05 hydra/launcher=joblib hydra.launcher.n_jobs=2
    python -m paretobandit.workbench.sweep -m experiment=budget_pacing scale=ci \\
        router.params.alpha=0.01,0.05 hydra/launcher=ray +hydra.launcher.ray.init.num_cpus=2 \\
        +hydra.launcher.ray.init.include_dashboard=false
    python -m paretobandit.workbench.sweep -m experiment=budget_pacing scale=ci hydra/sweeper=alpha_gamma
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from .config import CONF_DIR, REPO_ROOT
from .notebook import NOTEBOOK_ENV
from .sweep_summary import objective_value

__all__ = ["job_overrides", "objective_value", "main", "SweepSummary"]

_CONTROLLED = ("experiment=", "scale=", "paths.", "hydra/", "hydra.", "sweep.", "sweeper=")


def job_overrides(task_overrides: list[str], out_dir: Path) -> tuple[str, list[str]]:
    """Split a job's overrides into the scale and the list handed to the notebook.

    ``experiment=`` and ``scale=`` become notebook arguments, launcher and sweep settings stay with
    Hydra, and the job's output folder replaces the results, figures and macros folders.
    """
    scale = next((o.split("=", 1)[1] for o in task_overrides if o.startswith("scale=")), "ci")
    kept = [o for o in task_overrides if not o.lstrip("+~").startswith(_CONTROLLED)]
    out = str(out_dir.resolve())
    kept += [f"paths.results_dir='{out}'", f"paths.figures_dir='{out}/figures'", f"paths.macros_dir='{out}'"]
    return scale, kept


class SweepSummary(Callback):
    """Hydra callback: a progress bar over the jobs, then the sweep's summary table and figure."""

    def __init__(self, metric: str | None = None) -> None:
        self.metric = metric
        self._bar = None

    def __getstate__(self) -> dict[str, Any]:
        # Launchers (joblib, Ray) pickle the callbacks to their workers: the bar stays here.
        return {"metric": self.metric, "_bar": None}

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        from . import progress

        self._bar = progress.bar(total=_job_count(config), desc="sweep", unit="job")

    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None:
        if self._bar is not None:
            self._bar.update(1)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from .sweep_summary import summarise_sweep

        if self._bar is not None:
            self._bar.close()
        sweep_dir = Path(config.hydra.sweep.dir)
        objective = (config.get("sweep") or {}).get("objective")
        try:
            table, figure = summarise_sweep(sweep_dir, metric=self.metric, objective=objective)
        except FileNotFoundError as err:
            print(f"sweep summary skipped: {err}")
            return
        print(f"sweep summary: {table}" + (f", {figure}" if figure else ""))


def _job_count(config: DictConfig) -> int | None:
    """Jobs of a basic-sweeper multirun (product of the swept values), or an Optuna sweeper's n_trials."""
    sweeper = config.hydra.get("sweeper") or {}
    if "n_trials" in sweeper:
        return int(sweeper.n_trials)
    try:
        from hydra.core.override_parser.overrides_parser import OverridesParser

        parsed = OverridesParser.create().parse_overrides(list(config.hydra.overrides.task))
    except Exception:  # noqa: BLE001 (a count is a nicety; never fail a sweep for it)
        return None
    total = 1
    for o in parsed:
        if o.is_sweep_override():
            total *= len(list(o.sweep_string_iterator()))
    return total


@hydra.main(config_path=str(CONF_DIR), config_name="config", version_base=None)
def main(cfg: DictConfig) -> Any:
    """Execute ``cfg.experiment.notebook`` for one Hydra job.

    Returns the job's ``results.json`` path, or the number at ``cfg.sweep.objective`` in it when that is
    set (what the Optuna sweeper optimises).
    """
    import papermill as pm

    from .results import read_results
    from .runner import KERNEL_ARGS

    if cfg.get("experiment") is None:
        raise SystemExit("choose an experiment, e.g. `experiment=budget_pacing`")
    hc = HydraConfig.get()
    out_dir = Path(hc.runtime.output_dir)
    scale, overrides = job_overrides(list(hc.overrides.task), out_dir)
    for key, value in NOTEBOOK_ENV.items():
        os.environ[key] = value
    os.environ["PARETOBANDIT_CANONICAL_RUN"] = "0"
    name = cfg.experiment.name
    pm.execute_notebook(str(REPO_ROOT / cfg.experiment.notebook), str(out_dir / f"{name}.ipynb"),
                        parameters={"overrides": overrides, "scale": scale}, kernel_name="python3",
                        cwd=str(REPO_ROOT), progress_bar=False, log_output=False,
                        extra_arguments=KERNEL_ARGS)
    results_file = out_dir / "results.json"
    objective = (cfg.get("sweep") or {}).get("objective")
    if objective:
        return objective_value(read_results(results_file), str(objective))
    return str(results_file)


if __name__ == "__main__":
    main()
