"""ParetoBandit's arena rows, read from the experiments' own ``results/<experiment>/results.json``.

One code path: the per-seed numbers of the paper's router are the experiments' output, never
re-simulated here. Exp 01 gives the seven paced budgets; Exp 02/03 give the ``paretobandit``
condition at each named budget and the ``unconstrained`` condition (the quality-only form).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import DataError
from .scenarios import Scenario

__all__ = ["load_results", "published_runs"]


def load_results(results_root: Path | str, experiment: str) -> dict:
    """The ``per_seed`` block of ``<results_root>/<experiment>/results.json``."""
    path = Path(results_root) / experiment / "results.json"
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read {path}: {exc}; run the {experiment} notebook first") from None
    return doc["per_seed"]


def _check_seeds(raw_seeds, scenario: Scenario, where: str) -> None:
    if [int(s) for s in raw_seeds] != list(scenario.seeds):
        raise DataError(f"{where}: seeds {list(raw_seeds)[:3]}… differ from the arena's {scenario.seeds[:3]}…; "
                        "run the arena at the experiment's scale")


def published_runs(scenario: Scenario, per_seed: dict) -> dict[str | None, tuple[np.ndarray, np.ndarray]]:
    """``{budget label (None = unconstrained): (reward (S, P), cost (S, P))}`` of ParetoBandit."""
    out: dict[str | None, tuple[np.ndarray, np.ndarray]] = {}
    if scenario.name == "exp01":
        for label, pb in zip(scenario.budgets, per_seed["per_budget"], strict=True):
            if not np.isclose(pb["budget"], scenario.budgets[label], rtol=1e-9, atol=0.0):
                raise DataError(f"budget_pacing budget {pb['budget']} != arena {label} = {scenario.budgets[label]}")
            _check_seeds(pb["per_seed"]["seed"], scenario, "budget_pacing")
            out[label] = (np.asarray(pb["per_seed"]["mean_reward"])[:, None],
                          np.asarray(pb["per_seed"]["mean_cost"])[:, None])
        return out
    for cell in per_seed["cells"]:
        if cell["condition"] == "paretobandit" or (cell["condition"] == "unconstrained" and None not in out):
            _check_seeds(cell["per_seed"]["seed"], scenario, scenario.experiment)
            label = cell["budget"] if cell["condition"] == "paretobandit" else None
            if label is not None and not np.isclose(cell["budget_value"], scenario.budgets[label], rtol=1e-12):
                raise DataError(f"{scenario.experiment} budget {label} differs from the arena's")
            out[label] = (np.asarray(cell["per_seed"]["mean_reward"]).T, np.asarray(cell["per_seed"]["mean_cost"]).T)
    return out
