"""Exp 02 — budget pacing under cost drift (docs/PROTOCOLS.md §3, §B1).

Three-phase protocol of :mod:`paretobandit.experiments.phased` (seeds ``8000 + i``): during P2
Gemini-2.5-Pro is repriced to 0.10/0.10 $/M (``router.update_model_pricing`` ⇒ a
:class:`~paretobandit.sim.PriceChange`) and its realised dataset costs are multiplied by
0.10/5.625 (the ratio of the new to the old blended price); P3 restores the original price.
Conditions: naive, recalibrated, forgetting, paretobandit, unconstrained
(:mod:`paretobandit.experiments.conditions`). The paper's configuration (docs/PROTOCOLS.md §B1) is
``penalty_mode="static"``: hand-set λ_c = M_b for naive / forgetting / recalibrated-P1 and the two-pass
re-fit (seeds 9500–9509) of recalibrated at each phase boundary; ``variants=["fitted"]`` adds the
val-fitted baselines beside it.

>>> # res = run_budget_drift(features_val=..., ..., models=models, prices=prices,
>>> #                        budgets={"tight": 3.0e-4, "moderate": 6.62e-4, "loose": 1.87e-3},
>>> #                        seeds=make_seeds(8000, 20), router_params=..., pacer_params=..., priors=path)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import ConfigError
from .common import as_price_array
from .phased import PhaseShift, run_phased_variants

__all__ = ["DRIFT_CONDITIONS", "drift_shift", "run_budget_drift", "run_from_config"]

DRIFT_CONDITIONS = ("naive", "recalibrated", "forgetting", "paretobandit", "unconstrained")


def drift_shift(models: Sequence[str], prices, model: str, new_price: tuple[float, float] = (0.10, 0.10)
                ) -> PhaseShift:
    """P2 repricing of ``model`` to ``new_price`` $/M; dataset costs × new blended / old blended."""
    models = [str(m) for m in models]
    if model not in models:
        raise ConfigError(f"drift model {model!r} is not in the portfolio {models}")
    p = as_price_array(prices, models)
    arm = models.index(model)
    old, new = p[arm].sum(), float(new_price[0]) + float(new_price[1])
    if old <= 0:
        raise ConfigError(f"{model} has a zero price; cannot scale its costs")
    return PhaseShift(prices={arm: (float(new_price[0]), float(new_price[1]))},
                      cost_scale={arm: float(np.float64(new) / np.float64(old))})


def run_budget_drift(*, models, prices, drift_model: str = "google/gemini-2.5-pro",
                     new_price: tuple[float, float] = (0.10, 0.10),
                     conditions: Sequence[str] = DRIFT_CONDITIONS, **kwargs) -> dict:
    """Exp 02 for every condition × budget × seed; keyword arguments go to
    :func:`~paretobandit.experiments.phased.run_phased_variants` (``penalty_mode``, ``static_penalty``,
    ``refit_seeds``, ``variants``, …)."""
    shift = drift_shift(models, prices, drift_model, new_price)
    out = run_phased_variants(models=models, prices=prices, conditions=conditions, shift=shift,
                              experiment="budget_drift", **kwargs)
    out["drift_model"] = str(drift_model)
    return out


#: ``experiment`` keys read after the run (summaries), not by :func:`run_budget_drift`.
REPORT_KEYS = ("bootstrap", "tolerance")


def run_from_config(cfg, *, val=None, test=None) -> dict:
    """:func:`run_budget_drift` with every argument taken from the composed config ``cfg``
    (``val`` / ``test`` loaded when not given); :class:`~paretobandit.errors.ConfigError` for a missing
    or unread ``experiment`` key."""
    from .binding import Binding
    from .phased import phased_kwargs

    b = Binding(cfg, "budget_drift", REPORT_KEYS)
    exp = b.experiment
    val, test = b.splits("val", "test", given={"val": val, "test": test})
    refit = exp["refit"]
    kwargs = dict(models=val.models, drift_model=exp["drift"]["model"],
                  new_price=(exp["drift"]["input_cost_per_m"], exp["drift"]["output_cost_per_m"]),
                  refit_seeds=list(range(refit["seed_offset"], refit["seed_offset"] + refit["n_seeds"])),
                  **phased_kwargs(b))
    b.check()
    return run_budget_drift(**b.table_kwargs(val, test), **kwargs)
