"""Experiment protocols (docs/PROTOCOLS.md §2–3) built on the batched simulator :mod:`paretobandit.sim`.

Notebooks compose the config and pass it to one call, ``<module>.run_from_config(cfg)``
(:mod:`~paretobandit.experiments.binding` maps the config keys to the module's ``run_*`` keyword arguments),
then show and save its JSON-able result.
"""

from .budget_pacing import default_budgets, reference_points, run_budget_pacing

__all__ = ["default_budgets", "reference_points", "run_budget_pacing"]
