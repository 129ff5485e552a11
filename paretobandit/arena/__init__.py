"""Router arena (issue 12): ParetoBandit against bandit libraries, offline routers and reference points on
the experiments' own seeds, streams, budgets and events.

>>> # from paretobandit.arena import budget_pacing_scenario, get_contenders, run_arena
>>> # out = run_arena([budget_pacing_scenario(val, test, prices, seeds)], get_contenders(), config=cfg,
>>> #                 pacer_params=pp, priors=path, results_root="results", n_jobs=2)
"""

from .contenders import CONTENDERS, FAMILIES, FORMS, Contender, get_contenders
from .loop import make_router, run_online
from .metrics import COLUMNS, oracle_runs, summary_rows
from .runner import fit_static_penalty, run_arena
from .scenarios import SCENARIOS, Scenario, budget_pacing_scenario, onboarding_scenario, phased_scenario

__all__ = [
    "COLUMNS",
    "CONTENDERS",
    "Contender",
    "FAMILIES",
    "FORMS",
    "SCENARIOS",
    "Scenario",
    "budget_pacing_scenario",
    "fit_static_penalty",
    "get_contenders",
    "make_router",
    "oracle_runs",
    "onboarding_scenario",
    "phased_scenario",
    "run_arena",
    "run_online",
    "summary_rows",
]
