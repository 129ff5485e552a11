"""Batched simulation of many router runs at once, equal to the online ``BanditRouter``.

Public API::

    simulate(features, rewards, costs, streams, prices, *, seeds, alpha, gamma, cost_penalty,
             budget, pacer_mode, priors, n_eff, events, config, pacer, policy) -> SimResult
    BatchSimulator(...)            # same arguments; .step(), .run(n), .result()
    Priors(a_off, b_off, mask)     # warm-up statistics in column order
    PacerParams(eta, ema_alpha, lambda_cap, ceiling_multiplier)
    PriceChange, RewardTransform, CostTransform, Onboard      # scenario events
    trial_orders, warmup_test_streams, three_phase_prompts, phase_streams   # streams

A protocol builds stacked tables, one stream per run (row indices), per-run parameters and a
list of events, calls :func:`simulate` once, and slices the (S, T) outputs by phase. Example — an
Exp 03-style silent degradation, ParetoBandit vs. a no-pacer condition, 20 seeds × 2 conditions::

    from paretobandit.sim import RewardTransform, phase_streams, simulate, three_phase_prompts

    phases = three_phase_prompts(len(test), phase_len=608)            # P1, P2, P3 (= P1)
    seeds = [6000 + i for i in range(20)]
    base = phase_streams(phases, seeds)                               # (20, 1824) test rows
    streams = np.tile(base, (2, 1))                                   # run = condition·20 + seed
    events = [RewardTransform.constant(arm=mistral, start=608, stop=1216, value=0.75)]
    res = simulate(test_features, test.rewards, test.costs, streams, prices, seeds=seeds * 2,
                   alpha=0.01, gamma=0.997, cost_penalty=[0.0] * 20 + [0.3] * 20,
                   budget=[B] * 20 + [None] * 20, priors=priors, events=events)
    p2_reward = res.reward[:, 608:1216].mean(axis=1).reshape(2, 20)

Events may be restricted to some runs (``runs=[...]``); α, γ, λ_c, budget (None = no pacer),
pacer mode, n_eff (None = no priors) and seeds are per-run. ``n_jobs`` steps sub-batches in
parallel (``backend="threads"`` or ``"processes"``) with identical results. ``policy=`` and
``pacer=`` take plug-in factories (:mod:`paretobandit.plugins`), which run on the generic path — one
``BanditRouter`` per run; the built-in LinUCB and pacer run on the numba kernel (default when numba is
installed — the ``workbench`` extra), or on the generic path with ``compiled=False`` or
``PARETOBANDIT_SIM_NUMBA=0``. See :mod:`paretobandit.sim.engine` and :mod:`paretobandit.sim.events`
for the exact semantics.
"""

from .engine import BatchSimulator, simulate
from .events import CostTransform, Onboard, PriceChange, RewardTransform
from .params import PacerParams, Priors
from .results import SimResult, merge_results
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
