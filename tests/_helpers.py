"""Synthetic-table builders shared by the experiment-protocol tests (``tests/test_exp_*.py``)."""

from __future__ import annotations

from paretobandit.sim.synthetic import synthetic_tables


def synthetic_split(n_val: int, n_test: int):
    """``(val, test, (models, A_off, b_off))``: d = 6, K = 3 synthetic val/test tables and their priors."""
    val = synthetic_tables(n_val, d=6, k=3, seed=1)
    test = synthetic_tables(n_test, d=6, k=3, seed=2)
    a_off, b_off = val.priors(n_rows=200, seed=3)
    return val, test, (val.models, a_off, b_off)


def table_kwargs(tables) -> dict:
    """Table, model, price and prior keyword arguments of an experiment entry point."""
    val, test, priors = tables
    return dict(features_val=val.features, rewards_val=val.rewards, costs_val=val.costs,
                features_test=test.features, rewards_test=test.rewards, costs_test=test.costs,
                models=val.models, prices=val.prices, priors=priors)
