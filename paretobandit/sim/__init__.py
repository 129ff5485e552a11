"""Batched simulation of many router runs at once, equal to the online ``BanditRouter``.

Public API::

    simulate(features, rewards, costs, streams, prices, *, seeds, alpha, gamma, cost_penalty,
             budget, pacer_mode, priors, n_eff, events, config, pacer) -> SimResult
    BatchSimulator(...)            # same arguments; .step(), .run(n), .result()
    Priors(a_off, b_off, mask)     # warm-up statistics in column order
    PacerParams(eta, ema_alpha, lambda_cap, ceiling_multiplier)
    PriceChange, RewardTransform, CostTransform, Onboard      # scenario events
    trial_orders, warmup_test_streams, three_phase_prompts, phase_streams   # streams

See :mod:`paretobandit.sim.engine` and :mod:`paretobandit.sim.events` for semantics and examples.
"""

from .engine import BatchSimulator, PacerParams, Priors, SimResult, merge_results, simulate
from .events import CostTransform, Onboard, PriceChange, RewardTransform
from .streams import phase_streams, three_phase_prompts, trial_orders, warmup_test_streams

__all__ = [
    "BatchSimulator",
    "CostTransform",
    "Onboard",
    "PacerParams",
    "PriceChange",
    "Priors",
    "RewardTransform",
    "SimResult",
    "merge_results",
    "phase_streams",
    "simulate",
    "three_phase_prompts",
    "trial_orders",
    "warmup_test_streams",
]
