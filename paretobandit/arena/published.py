"""ParetoBandit's arena rows, read from the experiments' own ``results/<experiment>/results.json``.

One code path: the per-seed numbers of the paper's router are the experiments' output, never
re-simulated here. Exp 01 gives the seven paced budgets; Exp 02/03 give the ``paretobandit``
condition at each named budget and the ``unconstrained`` condition (the quality-only form).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from ..errors import DataError
from .scenarios import Scenario

__all__ = ["experiment_per_seed", "load_results", "published_runs"]


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
        raise DataError(
            f"{where}: seeds {list(raw_seeds)[:3]}… differ from the arena's {scenario.seeds[:3]}…; "
            "run the arena at the experiment's scale"
        )


def _adoption(values) -> list[float]:
    return [math.nan if v is None or v < 0 else float(v) for v in values]


def published_runs(scenario: Scenario, per_seed: dict) -> dict:
    """``{budget label (None = unconstrained): (reward (S, P), cost (S, P), per-run metric or None)}`` of
    ParetoBandit (Exp 04: the adoption step; good_expensive from the ``consistent_registry`` variant)."""
    out: dict = {}
    if scenario.kind == "exp04":
        name = scenario.name.split("-", 1)[1]
        variant = "consistent_registry" if name == "good_expensive" else "paper"
        for cell in per_seed["cells"]:
            if cell["scenario"] != name or cell.get("variant", "paper") != variant:
                continue
            _check_seeds(cell["per_seed"]["seed"], scenario, "onboarding")
            label = None if cell["budget_value"] is None else cell["budget"]
            if label is not None and not np.isclose(
                cell["budget_value"], scenario.budgets[label], rtol=1e-12
            ):
                raise DataError(f"onboarding budget {label} differs from the arena's")
            ps = cell["per_seed"]
            out[label] = (
                np.asarray(ps["mean_reward"])[:, None],
                np.asarray(ps["mean_cost"])[:, None],
                _adoption(ps["adoption_step"]),
            )
        if not out:
            raise DataError(f"onboarding results have no {name}/{variant} cells")
        return out
    if scenario.kind == "exp01":
        for label, pb in zip(scenario.budgets, per_seed["per_budget"], strict=True):
            if not np.isclose(pb["budget"], scenario.budgets[label], rtol=1e-9, atol=0.0):
                raise DataError(
                    f"budget_pacing budget {pb['budget']} != arena {label} = {scenario.budgets[label]}"
                )
            _check_seeds(pb["per_seed"]["seed"], scenario, "budget_pacing")
            out[label] = (
                np.asarray(pb["per_seed"]["mean_reward"])[:, None],
                np.asarray(pb["per_seed"]["mean_cost"])[:, None],
                None,
            )
        return out
    for cell in per_seed["cells"]:
        if cell["condition"] == "paretobandit" or (cell["condition"] == "unconstrained" and None not in out):
            _check_seeds(cell["per_seed"]["seed"], scenario, scenario.experiment)
            label = cell["budget"] if cell["condition"] == "paretobandit" else None
            if label is not None and not np.isclose(
                cell["budget_value"], scenario.budgets[label], rtol=1e-12
            ):
                raise DataError(f"{scenario.experiment} budget {label} differs from the arena's")
            out[label] = (
                np.asarray(cell["per_seed"]["mean_reward"]).T,
                np.asarray(cell["per_seed"]["mean_cost"]).T,
                None,
            )
    return out


def _rerun(scenario: Scenario, router_params: dict, pacer_params: dict, priors) -> dict:
    """The experiment's own function on the scenario's tables (ParetoBandit's conditions only)."""
    from ..experiments.budget_pacing import run_budget_pacing
    from ..experiments.phased import run_phased

    v, t = slice(0, scenario.n_val), slice(scenario.n_val, None)
    tables = dict(
        features_val=scenario.feats[v],
        rewards_val=scenario.rewards[v],
        costs_val=scenario.costs[v],
        features_test=scenario.feats[t],
        rewards_test=scenario.rewards[t],
        costs_test=scenario.costs[t],
        models=scenario.models,
        prices=scenario.prices,
        seeds=scenario.seeds,
        router_params=router_params,
        pacer_params=pacer_params,
        priors=priors,
    )
    if scenario.kind == "exp04":
        return _rerun_onboarding(scenario, tables)
    if scenario.kind == "exp01":
        return run_budget_pacing(budgets=list(scenario.budgets.values()), n_resamples=10, **tables)
    from ..experiments.budget_drift import drift_shift
    from ..experiments.quality_degradation import degradation_shift

    if scenario.name == "exp02":
        arm = next(ev.arm for ev in scenario.events if hasattr(ev, "input_cost_per_m"))
        pin = next(ev for ev in scenario.events if hasattr(ev, "input_cost_per_m"))
        shift = drift_shift(
            scenario.models,
            scenario.prices,
            scenario.models[arm],
            (pin.input_cost_per_m, pin.output_cost_per_m),
        )
    else:
        ev = next(ev for ev in scenario.events if hasattr(ev, "shift"))
        shift = degradation_shift(scenario.models, scenario.models[ev.arm], ev.shift)
    length = scenario.phases[0][2] - scenario.phases[0][1]
    return run_phased(
        budgets=scenario.budgets,
        conditions=["paretobandit", "unconstrained"],
        shift=shift,
        phase_length=length,
        experiment=scenario.experiment,
        **tables,
    )


def _rerun_onboarding(scenario: Scenario, tables: dict) -> dict:
    from ..experiments.onboarding import Scenario as OnboardingScenario
    from ..experiments.onboarding import run_onboarding
    from ..sim import CostTransform, Onboard, RewardTransform

    ev = next(e for e in scenario.events if isinstance(e, Onboard))
    rs = next((e.scale for e in scenario.events if isinstance(e, RewardTransform)), 1.0)
    cs = next((e.scale for e in scenario.events if isinstance(e, CostTransform)), 1.0)
    name = scenario.name.split("-", 1)[1]
    onb = OnboardingScenario(
        name,
        reward_scale=rs,
        cost_scale=cs,
        input_cost_per_m=ev.input_cost_per_m,
        output_cost_per_m=ev.output_cost_per_m,
    )
    a = scenario.adoption
    budgets = {**scenario.budgets, "unconstrained": None}
    out = run_onboarding(
        **{**tables, "seeds": scenario.seeds},
        new_model=scenario.models[ev.arm],
        budgets=budgets,
        scenarios={name: onb},
        n_forced=ev.n_forced,
        window=a.get("window", 100),
        threshold=a.get("threshold", 0.10),
        sustain=a.get("sustain", 50),
        index_base=a.get("index_base", 1),
    )
    if name == "good_expensive":  # the arena's registry is consistent: label the cells as that variant
        for cell in out["cells"]:
            cell["variant"] = "consistent_registry"
    return out


def experiment_per_seed(
    scenario: Scenario, results_root, *, router_params: dict, pacer_params: dict, priors
) -> tuple[dict, str]:
    """``(per_seed, source)``: the experiment's ``results.json`` when it matches the scenario (seeds,
    budgets), else the experiment's own function re-run on the scenario (e.g. at CI scale)."""
    if results_root is not None:
        try:
            per_seed = load_results(results_root, scenario.experiment)
            published_runs(scenario, per_seed)
            n_test = scenario.feats.shape[0] - scenario.n_val
            if per_seed.get("n_test") == n_test and per_seed.get("n_val") == scenario.n_val:
                return per_seed, f"{scenario.experiment}/results.json"
        except (DataError, KeyError, ValueError):
            pass
    return _rerun(scenario, router_params, pacer_params, priors), f"{scenario.experiment} function re-run"
