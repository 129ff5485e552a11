"""Hydra multirun over an experiment notebook: seed and hyper-parameter sweeps.

Each Hydra job executes the experiment's notebook with papermill, passing the job's overrides to the
notebook's ``overrides`` parameter and pointing its results, figures and macros at the job's output folder.
Any Hydra launcher runs it unchanged: the default (sequential, a laptop), ``hydra/launcher=joblib``
(local processes) or a cluster plugin such as ``hydra/launcher=submitit_slurm``.

Examples
--------
Run from the repository root::

    python -m paretobandit.workbench.sweep -m experiment=budget_pacing scale=ci \\
        router.params.alpha=0.01,0.05 hydra/launcher=joblib hydra.launcher.n_jobs=2
    python -m paretobandit.workbench.sweep -m experiment=budget_pacing scale=full \\
        experiment.n_seeds=10 experiment.seed_offset=3000,3010
"""

from __future__ import annotations

import os
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from .config import CONF_DIR, REPO_ROOT
from .notebook import NOTEBOOK_ENV

__all__ = ["job_overrides", "main"]

_CONTROLLED = ("experiment=", "scale=", "paths.", "hydra/", "hydra.")


def job_overrides(task_overrides: list[str], out_dir: Path) -> tuple[str, list[str]]:
    """Split a job's overrides into the scale and the list handed to the notebook.

    ``experiment=`` and ``scale=`` become notebook arguments, launcher settings stay with Hydra, and the
    job's output folder replaces the results, figures and macros folders.
    """
    scale = next((o.split("=", 1)[1] for o in task_overrides if o.startswith("scale=")), "ci")
    kept = [o for o in task_overrides if not o.startswith(_CONTROLLED)]
    out = str(out_dir.resolve())
    kept += [f"paths.results_dir='{out}'", f"paths.figures_dir='{out}/figures'", f"paths.macros_dir='{out}'"]
    return scale, kept


@hydra.main(config_path=str(CONF_DIR), config_name="config", version_base=None)
def main(cfg: DictConfig) -> str:
    """Execute ``cfg.experiment.notebook`` for one Hydra job; return the job's results file."""
    import papermill as pm

    if cfg.get("experiment") is None:
        raise SystemExit("choose an experiment, e.g. `experiment=budget_pacing`")
    hc = HydraConfig.get()
    out_dir = Path(hc.runtime.output_dir)
    scale, overrides = job_overrides(list(hc.overrides.task), out_dir)
    os.environ.update(NOTEBOOK_ENV)
    name = cfg.experiment.name
    pm.execute_notebook(str(REPO_ROOT / cfg.experiment.notebook), str(out_dir / f"{name}.ipynb"),
                        parameters={"overrides": overrides, "scale": scale}, kernel_name="python3",
                        cwd=str(REPO_ROOT), progress_bar=False, log_output=False)
    return str(out_dir / "results.json")


if __name__ == "__main__":
    main()
