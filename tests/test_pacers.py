"""SpendGuardPacer (paretobandit/pacers.py): hand-computed steps, guard, state, router use."""

from __future__ import annotations

import math

import numpy as np
import pytest

from paretobandit.errors import ConfigError, StateFileError
from paretobandit.experiments.per_run_compliance import (
    pacer_factories,
    run_stationary_compliance,
    summary_rows,
)
from paretobandit.features import FeatureService
from paretobandit.pacers import SpendGuardPacer
from paretobandit.plugins import Pacer
from paretobandit.router import BanditRouter
from paretobandit.sim.synthetic import synthetic_tables


def raw_guard(**kw):
    """Raw-cost dual, no margin, no ceiling: every number below is checked by hand."""
    params = dict(eta=0.1, margin=0.0, ema_alpha=1.0, step_beta=0.0, allowance=2.0, credit=1.0,
                  integral_gain=0.5, ceiling=False)
    params.update(kw)
    return SpendGuardPacer(1.0, **params)


def test_is_a_pacer_and_validates_settings():
    assert isinstance(SpendGuardPacer(1e-3), Pacer)
    for bad in (dict(budget=0.0), dict(budget=-1.0), dict(budget=math.nan), dict(budget=True),
                dict(budget=1.0, margin=1.0), dict(budget=1.0, eta=0.0), dict(budget=1.0, allowance=-1),
                dict(budget=1.0, ceiling=1), dict(budget=1.0, ema_alpha=0.0), dict(budget=1.0, step_beta=2.0),
                dict(budget=1.0, probe_count=1.5)):
        with pytest.raises(ConfigError):
            SpendGuardPacer(**bad)


def test_dual_and_overspend_account_by_hand():
    p = raw_guard()
    p.update(3.0)                     # Z = 0 + 3 − 1 = 2 ; g = 3 − 1 = 2 ; λ = 0.1·2
    assert p.overspend == pytest.approx(2.0) and p.lambda_ == pytest.approx(0.2)
    assert p.penalty_weight() == pytest.approx(0.2 + 0.5 * 2.0 / 2.0)      # + k_I·Z/(θB)
    p.update(0.0)                     # Z = 1 ; λ = 0.2 − 0.1
    assert p.overspend == pytest.approx(1.0) and p.lambda_ == pytest.approx(0.1)
    p.update(0.0)
    p.update(0.0)
    p.update(0.0)                     # Z floors at −C·B = −1 (not −2) ; λ floors at 0
    assert p.overspend == pytest.approx(-1.0) and p.lambda_ == 0.0
    assert p.penalty_weight() == 0.0 and p.n_updates == 5


def test_margin_shrinks_and_adaptive_step():
    p = raw_guard(margin=0.5, margin_tau=1.0)
    p.update(1.0)                     # t = 0: m = 0.5 ⇒ g = 1 − 0.5 ; λ = 0.05
    assert p.lambda_ == pytest.approx(0.05)
    p.update(1.0)                     # t = 1: m = 0.5·√(1/2) ⇒ g = 0.5·0.7071
    assert p.lambda_ == pytest.approx(0.05 + 0.1 * 0.5 * math.sqrt(0.5))
    q = raw_guard(step_beta=1.0)      # v = g² ⇒ η_t = η/max(1, |g|)
    q.update(5.0)                     # g = 4 ⇒ λ = 0.1/4·4
    assert q.lambda_ == pytest.approx(0.1)


def test_guard_allows_only_what_fits_the_headroom():
    p = raw_guard()
    prices = [0.5, 2.0, 10.0]         # $/1k; κ = 1 kilotoken ⇒ estimates 0.5, 2, 10 $
    assert p.eligible(prices, 10.0) == [True, True, False]        # headroom (1 + 2)·1 − 0 = 3
    p.overspend = 2.5                 # headroom 0.5
    assert p.eligible(prices, 10.0) == [True, False, False]
    p.overspend = 4.0                 # over the limit: the arms that pay Z down on average (ĉ ≤ B)
    assert p.eligible([0.5, 0.8, 10.0], 10.0) == [True, True, False]
    assert p.eligible([2.0, 1.5, 10.0], 10.0) == [False, True, False]   # none: the cheapest price only
    p.overspend = -100.0
    assert p.eligible(prices, 10.0) is None                        # all fit: every arm


def test_ceiling_option_is_the_papers():
    p = SpendGuardPacer(1.0, allowance=1e6, ceiling=True)
    p.lambda_ = 1.0                   # p ≤ 10/(1 + 1) = 5
    assert p.eligible([1.0, 4.0, 10.0], 10.0) == [True, True, False]
    p.lambda_ = 4.0                   # p ≤ 2 excludes the only arm the guard allows: the ceiling yields
    p.overspend = 1e6 + 0.5           # headroom 0.5
    p.kilotokens, p.counts, p.start = [10.0, 0.01], [20, 20], [1.0, 1.0]   # estimates 40, 0.1 $: arm 1
    assert p.eligible([4.0, 10.0], 10.0) == [False, True]


def test_cost_attribution_and_estimates():
    p = raw_guard(allowance=1e6)
    assert p.eligible([1.0, 10.0], 10.0) is None
    p.update(9.0)                     # nearest estimate in log-cost: arm 1 (10 $), equal shares
    assert p.counts == [0, 1]
    assert p.kilotokens[1] == pytest.approx(1.0 + 0.25 * (0.9 - 1.0))    # weight 1/(1 + 3)
    assert p.kilotokens[0] is None
    # an unseen arm starts at the largest of init and the seen κ's
    assert p.estimates([1.0, 10.0]) == pytest.approx([1.0, 9.75])
    p.eligible([1.0, 10.0], 10.0)
    p.update(1.2)                     # arm 0
    assert p.counts == [1, 1] and p.kilotokens[0] == pytest.approx(1.0 + 0.25 * 0.2)
    # only arms eligible at the decision can be credited
    p.overspend = 1e6 - 1.0           # headroom 2: arm 1 (9.75) excluded
    assert p.eligible([1.0, 10.0], 10.0) == [True, False]
    p.update(50.0)
    assert p.counts == [2, 1]


def test_few_costs_cannot_price_an_arm_above_its_start():
    p = raw_guard(allowance=1e6, probe_count=2)
    p.eligible([1.0, 10.0], 10.0)
    p.update(90.0)                    # arm 1, from its start κ = 1: κ = 1 + (9 − 1)/4 = 3
    assert p.kilotokens[1] == pytest.approx(3.0) and p.start[1] == 1.0
    assert p.estimates([1.0, 10.0])[1] == pytest.approx(10.0)          # capped at start·p (1 cost < 2)
    p.eligible([1.0, 10.0], 10.0)
    p.update(90.0)                    # 2 costs: κ = 3 + (9 − 3)/5, no cap any more
    assert p.estimates([1.0, 10.0])[1] == pytest.approx(10.0 * 4.2)


def test_forced_pulls_are_credited_to_the_new_arm():
    p = raw_guard(allowance=1e6)
    p.eligible([1.0, 10.0], 10.0)
    p.update(1.0)                     # arm 0
    p.update(4.0)                     # forced pulls: no decision seen
    p.update(6.0)
    assert p.orphans == [4.0, 6.0] and p.counts == [1, 0]
    assert p.n_updates == 3 and p.overspend == pytest.approx(0.0 + 3.0 + 5.0)
    p.eligible([1.0, 10.0, 2.0], 10.0)                                 # an arm was registered
    assert p.orphans == [] and p.counts == [1, 0, 2]
    k = p.start[2]                    # = max(init 1, seen κ 1) = 1 ; then 4/2 = 2 and 6/2 = 3
    assert k == 1.0 and p.kilotokens[2] == pytest.approx(1 + 0.25 * (2 - 1) + 0.2 * (3 - 1.25))
    p.update(3.0)
    p.update(3.0)                     # orphans without a new arm: each to its most likely arm
    p.eligible([1.0, 10.0, 2.0], 10.0)
    assert p.counts == [1, 0, 4]


def test_state_round_trip_and_validation():
    p = raw_guard()
    for c in (3.0, 0.1, 0.0):
        p.eligible([0.5, 2.0], 2.0)
        p.update(c)
    q = SpendGuardPacer.from_state(p.state_dict())
    assert q.state_dict() == p.state_dict()
    assert q.eligible([0.5, 2.0], 2.0) == p.eligible([0.5, 2.0], 2.0)
    good = p.state_dict()
    for key, value in (("lambda", -1.0), ("lambda", 99.0), ("overspend", -50.0), ("n_updates", -1),
                       ("kind", "pi"), ("kilotokens", [1.0]), ("counts", [0, 0]), ("budget", 0.0),
                       ("shares", [0.5, 2.0]), ("start", [1.0]), ("orphans", [-1.0]),
                       ("grad_sq", math.inf)):
        bad = dict(good, **{key: value})
        with pytest.raises(StateFileError):
            SpendGuardPacer.from_state(bad)
    with pytest.raises(StateFileError):
        SpendGuardPacer.from_state({k: v for k, v in good.items() if k != "overspend"})
    with pytest.raises(StateFileError):
        SpendGuardPacer.from_state([1, 2])


def _router(pacer, seed=0):
    registry = {"cheap": {"input_cost_per_m": 0.1, "output_cost_per_m": 0.1},
                "dear": {"input_cost_per_m": 1.25, "output_cost_per_m": 10.0}}
    return BanditRouter.create(model_registry=registry, feature_service=FeatureService.for_precomputed(3),
                               priors="none", cost_penalty=0.0, budget=1e-4, pacer=pacer, seed=seed)


def test_router_round_trip():
    rng = np.random.default_rng(0)
    xs = rng.normal(size=(60, 3))
    cost = {"cheap": 5e-5, "dear": 2e-3}
    router = _router(SpendGuardPacer)            # a factory, called as SpendGuardPacer(budget=1e-4)
    pacer = router.pacer
    assert isinstance(pacer, SpendGuardPacer) and pacer.budget == 1e-4
    spent = 0.0
    for i, x in enumerate(xs[:40]):
        model, log = router.route(x)
        router.process_feedback(log.request_id, 1.0 if model == "dear" else 0.5, cost[model])
        spent += cost[model]
        assert spent - 1e-4 * (i + 1) <= pacer.allowance * 1e-4 + 2e-3        # Z ≤ θB + one request
    assert pacer.n_updates == 40
    assert pacer.overspend == pytest.approx(max(-6e-4, pacer.overspend))
    # the saved state, given to a second router as an instance, continues exactly like the first
    twin = _router(SpendGuardPacer.from_state(pacer.state_dict()))
    assert twin.pacer is not pacer and twin.pacer.state_dict() == pacer.state_dict()
    prices = [0.1e-3, 5.625e-3]
    for x in xs[40:]:
        assert twin.pacer.eligible(prices, prices[1]) == pacer.eligible(prices, prices[1])
        model, log = router.route(x)
        router.process_feedback(log.request_id, 0.5, cost[model])
        twin.pacer.update(cost[model])
    assert twin.pacer.state_dict() == pacer.state_dict()


def test_experiment_paper_pacer_matches_the_batch_simulator():
    from paretobandit.experiments import run_budget_pacing

    t = synthetic_tables(260, d=6, k=3, seed=3)
    kw = dict(features_val=t.features[:160], rewards_val=t.rewards[:160], costs_val=t.costs[:160],
              features_test=t.features[160:], rewards_test=t.rewards[160:], costs_test=t.costs[160:],
              models=t.models, prices=t.prices, budgets=[2e-4], seeds=[5, 6])
    ours = run_stationary_compliance(pacers={"paretobandit": pacer_factories()["paretobandit"]}, **kw)
    ref = run_budget_pacing(n_resamples=10, **kw)
    util = ref["per_budget"][0]["per_seed"]["utilisation"]
    assert ours["cells"][0]["cost_ratio"] == pytest.approx(util, rel=1e-12)
    rows = summary_rows([ours])
    assert rows[0]["binding"] == (np.mean(util) >= 0.95)
    assert rows[0]["cost_ratio_worst_seed"] == pytest.approx(max(util))
