"""Kernels: paper constants and equality of the single-run fast paths with the generic functions."""

from __future__ import annotations

import numpy as np
import pytest

from paretobandit import kernels


def test_normalised_cost_matches_spec_values():
    prices = kernels.blended_price(np.array([0.1, 0.5, 1.25, 0.3]), np.array([0.1, 1.5, 10.0, 2.5]))
    c = kernels.normalised_cost(prices)
    np.testing.assert_allclose(c, [0.0, 1 / 3, 0.583, 0.382], atol=5e-4)


def test_request_cost_and_tokens():
    assert kernels.estimate_input_tokens("one two three four") == 5
    assert kernels.request_cost_estimate(1.0, 2.0, 1000, 600) == pytest.approx((1000 + 1200) / 1e6)


@pytest.mark.parametrize("gamma", [0.5, 0.9, 0.997, 1.0])
def test_staleness_table_equals_generic(gamma):
    table = kernels.staleness_table(gamma, 200.0, 1000)
    dt = np.arange(0, 1001)
    np.testing.assert_array_equal(table, kernels.staleness_inflation(gamma, dt, 200.0, 1000))
    assert table[0] == 1.0
    if gamma < 1:
        assert table[1] == pytest.approx(1 / gamma)
        assert table.max() <= 200.0


def test_pacer_step_scalar_is_bit_identical():
    rng = np.random.default_rng(1)
    lam, ema = 0.0, 0.01
    lam2, ema2 = 0.0, 0.01
    for cost in rng.exponential(0.01, size=2000):
        lam, ema = kernels.pacer_step(lam, ema, cost, 0.01)
        lam2, ema2 = kernels.pacer_step_scalar(lam2, ema2, float(cost), 0.01)
        assert float(lam) == lam2 and float(ema) == ema2


@pytest.mark.parametrize("k,d", [(1, 3), (3, 26), (10, 64), (50, 26)])
def test_arm_scores_stacked_equals_generic(k, d):
    rng = np.random.default_rng(k * 100 + d)
    m = rng.normal(size=(k, d, d))
    ainv = np.linalg.inv(m @ m.transpose(0, 2, 1) + np.eye(d))
    theta = rng.normal(size=(k, d))
    x = rng.normal(size=d)
    infl = rng.uniform(1, 3, size=k)
    ncost = rng.uniform(size=k)
    stack = np.concatenate([ainv.reshape(k * d, d), theta])
    for alpha, w in [(0.01, 0.3), (0.0, 0.0), (1.0, 2.5)]:
        fast = kernels.arm_scores_stacked(stack, x, infl, alpha, w * ncost)
        ref = kernels.arm_scores(theta, ainv, x, infl, alpha, w, ncost)
        np.testing.assert_allclose(fast, ref, rtol=0, atol=1e-12)


def test_finish_scores_list_equals_array_version():
    rng = np.random.default_rng(3)
    k, d = 4, 9
    m = rng.normal(size=(k, d, d))
    ainv = np.linalg.inv(m @ m.transpose(0, 2, 1) + np.eye(d))
    theta = rng.normal(size=(k, d))
    stack = np.concatenate([ainv.reshape(k * d, d), theta])
    x, infl, pen = rng.normal(size=d), rng.uniform(1, 2, size=k), rng.random(k)
    fast = kernels.arm_scores_stacked_list(stack, x, infl.tolist(), 0.2, pen.tolist())
    assert fast == kernels.arm_scores_stacked(stack, x, infl, 0.2, pen).tolist()
    assert np.isnan(kernels.finish_scores([np.nan], [0.0], [1.0], 0.1, [0.0])[0])
    table = kernels.staleness_table(0.99, 200.0, 1000).tolist()
    lt, scale, t = [5, 0, 99], [1.0, 2.0, 0.5], 100
    infl = [table[min(t - v, 1000)] * sc for v, sc in zip(lt, scale, strict=True)]
    var, mean = [0.3, 0.2, 0.1], [0.5, 0.6, 0.7]
    assert kernels.finish_scores_stale(
        var, mean, lt, scale, t, table, 1000, 0.2, [0.0, 0.1, 0.2]
    ) == kernels.finish_scores(var, mean, infl, 0.2, [0.0, 0.1, 0.2])


def test_pick_arm_consumes_rng_only_on_ties():
    rng = np.random.default_rng(0)
    state = rng.bit_generator.state
    assert kernels.pick_arm(np.array([0.1, 0.3, 0.2]), np.ones(3, bool), rng) == 1
    assert rng.bit_generator.state == state
    picks = {kernels.pick_arm(np.array([0.3, 0.3, 0.2]), np.ones(3, bool), rng) for _ in range(50)}
    assert picks == {0, 1}


def test_ceiling_dropped_when_empty():
    prices = np.array([0.1, 0.5, 1.0])
    np.testing.assert_array_equal(kernels.ceiling_eligible(prices, 1.0, 0.0), [True, True, True])
    np.testing.assert_array_equal(kernels.ceiling_eligible(prices, 1.0, 1.0), [True, True, False])
    np.testing.assert_array_equal(kernels.ceiling_eligible(prices, 1.0, 100.0), [True, True, True])
