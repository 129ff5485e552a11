"""Experiment protocols (docs/PROTOCOLS.md §2–3) built on the batched simulator :mod:`paretobandit.sim`.

Notebooks compose config, call one protocol function, show and save its JSON-able result.
"""

from .budget_pacing import default_budgets, reference_points, run_budget_pacing

__all__ = ["default_budgets", "reference_points", "run_budget_pacing"]
