"""Exp 03 — silent quality degradation (docs/PROTOCOLS.md §3, §B2).

Three-phase protocol of :mod:`paretobandit.experiments.phased` (seeds ``6000 + i``): during P2 the
observed reward of Mistral-Large is 0.75 on every prompt (cost unchanged, no price change — the
router is not told); P3 restores the original rewards. Conditions: naive, forgetting,
paretobandit, unconstrained (:mod:`paretobandit.experiments.conditions`); the paper's naive and
forgetting use the hand-set λ_c = M_b (``penalty_mode="static"``, docs/PROTOCOLS.md §B2),
``variants=["fitted"]`` adds the val-fitted baselines beside them. Besides per-phase reward,
cost/B and Mistral's share, each trial reports its recovery ratio (P3 reward / P1 reward) and the
trough of its windowed reward (window 50, over windows ending in P2 or P3) with its depth
(P1 reward − trough).
"""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import ConfigError
from .phased import PhaseShift, run_phased_variants

__all__ = ["DEGRADATION_CONDITIONS", "degradation_shift", "run_quality_degradation", "run_from_config"]

DEGRADATION_CONDITIONS = ("naive", "forgetting", "paretobandit", "unconstrained")


def degradation_shift(models: Sequence[str], model: str, value: float = 0.75) -> PhaseShift:
    """P2: every observed reward of ``model`` is ``value``."""
    models = [str(m) for m in models]
    if model not in models:
        raise ConfigError(f"degraded model {model!r} is not in the portfolio {models}")
    return PhaseShift(reward_value={models.index(model): float(value)})


def run_quality_degradation(*, models, degraded_model: str = "mistralai/mistral-large-2512",
                            degraded_reward: float = 0.75,
                            conditions: Sequence[str] = DEGRADATION_CONDITIONS, **kwargs) -> dict:
    """Exp 03 for every condition × budget × seed; keyword arguments go to
    :func:`~paretobandit.experiments.phased.run_phased_variants`."""
    shift = degradation_shift(models, degraded_model, degraded_reward)
    out = run_phased_variants(models=models, conditions=conditions, shift=shift,
                              experiment="quality_degradation", **kwargs)
    out["degraded_model"] = str(degraded_model)
    return out


#: ``experiment`` keys read after the run (summaries), not by :func:`run_quality_degradation`.
REPORT_KEYS = ("bootstrap", "tolerance")


def run_from_config(cfg, *, val=None, test=None) -> dict:
    """:func:`run_quality_degradation` with every argument taken from the composed config ``cfg``
    (``val`` / ``test`` loaded when not given); :class:`~paretobandit.errors.ConfigError` for a missing
    or unread ``experiment`` key."""
    from .binding import Binding
    from .phased import phased_kwargs

    b = Binding(cfg, "quality_degradation", REPORT_KEYS)
    exp = b.experiment
    val, test = b.splits("val", "test", given={"val": val, "test": test})
    kwargs = dict(models=val.models, degraded_model=exp["degradation"]["model"],
                  degraded_reward=exp["degradation"]["reward"], **phased_kwargs(b))
    b.check()
    return run_quality_degradation(**b.table_kwargs(val, test), **kwargs)
