"""Kernels: paper constants, hand-computed values and agreement with the independent reference."""

from __future__ import annotations

import _reference as ref
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


def test_pacer_step_hand_values():
    # c̄ = 0.95·0.01 + 0.05·0.03 = 0.011; λ = 0 + 0.05·(0.011/0.01 − 1) = 0.005
    lam, ema = kernels.pacer_step(0.0, 0.01, 0.03, 0.01)
    assert ema == pytest.approx(0.011, abs=1e-15) and lam == pytest.approx(0.005, abs=1e-15)
    # spending below B drives λ down and clips it at 0, far above it clips it at the cap
    assert kernels.pacer_step(0.001, 0.01, 0.0, 0.01)[0] == 0.0
    assert kernels.pacer_step(4.99, 1.0, 1.0, 0.01, eta=0.5, lam_cap=5.0)[0] == 5.0
    # the EMA weight and the step size enter as written: a = 1 gives c̄ = c, η = 1 gives λ = c/B − 1
    assert kernels.pacer_step(0.0, 0.5, 0.03, 0.01, eta=1.0, ema_alpha=1.0) == (pytest.approx(2.0), 0.03)
    np.testing.assert_allclose(kernels.pacer_step(0.2, 0.01, 0.005, 0.01),
                               ref.pacer_step(0.2, 0.01, 0.005, 0.01), rtol=0, atol=1e-16)


def test_ucb_score_hand_values():
    # 0.5 + 0.1·sqrt(0.04·4) − 0.2 = 0.5 + 0.1·0.4 − 0.2 = 0.34
    assert kernels.ucb_score(0.5, 0.04, 4.0, 0.1, 0.2) == pytest.approx(0.34, abs=1e-15)
    # a negative variance (rounding) counts as 0; NaN propagates
    assert kernels.ucb_score(0.5, -1e-18, 1.0, 0.1, 0.0) == 0.5
    assert np.isnan(kernels.ucb_score(0.5, np.nan, 1.0, 0.1, 0.0))


@pytest.mark.parametrize("k,d", [(1, 3), (3, 26), (50, 26)])
def test_ucb_score_equals_independent_reference(k, d):
    rng = np.random.default_rng(k * 100 + d)
    m = rng.normal(size=(k, d, d))
    ainv = np.linalg.inv(m @ m.transpose(0, 2, 1) + np.eye(d))
    theta, x = rng.normal(size=(k, d)), rng.normal(size=d)
    infl, ncost = rng.uniform(1, 3, size=k), rng.uniform(size=k)
    for alpha, w in [(0.01, 0.3), (0.0, 0.0), (1.0, 2.5)]:
        got = [kernels.ucb_score(float(theta[a] @ x), float(x @ ainv[a] @ x), float(infl[a]), alpha,
                                 w * float(ncost[a])) for a in range(k)]
        want = ref.arm_scores(theta, ainv, x, infl, alpha, w, ncost)
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


def test_best_arm_counts_ties_within_tolerance():
    assert kernels.best_arm([0.1, 0.3, 0.2], [True] * 3, 1e-12) == (1, 1)
    assert kernels.best_arm([0.3, 0.3 - 5e-13, 0.2], [True] * 3, 1e-12) == (2, 0)
    assert kernels.best_arm([0.3, 0.3 - 5e-13, 0.2], [True] * 3, 0.0) == (1, 0)
    assert kernels.best_arm([0.9, 0.3, 0.3], [False, True, True], 1e-12) == (2, 1)


def test_ridge_floor_stability_and_guard():
    assert kernels.ridge_deficit(0.05, 1.0, 0.1) == pytest.approx(0.95)
    assert kernels.ridge_deficit(0.1, 1.0, 0.1) == 0.0            # at the floor: no repair
    assert kernels.corrupted_inverse(0.999) and not kernels.corrupted_inverse(1.0)
    assert kernels.stability_due(2000, 1000) and not kernels.stability_due(1999, 1000)
    assert kernels.unstable(1e6 + 1, 1e6) and not kernels.unstable(1e6, 1e6)


def test_sherman_morrison_inplace_equals_inverse_of_updated_matrix():
    rng = np.random.default_rng(4)
    d = 5
    q = rng.normal(size=(d, d))
    a = q @ q.T + np.eye(d)
    b = rng.normal(size=d)
    x, r = rng.normal(size=d), 0.7
    s, sig, beta = 2.0, 0.5, 4.0                                  # lazy scales: A⁻¹ = s·M, A = σ·N, b = β·c
    m, n, c = np.linalg.inv(a) / s, np.tril(a / sig), b / beta
    theta = np.linalg.solve(a, b)
    den = kernels.sherman_morrison_inplace(m, theta, n, c, x, r, s, sig, beta)
    a_new, b_new = a + np.outer(x, x), b + r * x
    assert den == pytest.approx(1.0 + x @ np.linalg.solve(a, x))
    np.testing.assert_allclose(s * m, np.linalg.inv(a_new), atol=1e-12)
    np.testing.assert_allclose(theta, np.linalg.solve(a_new, b_new), atol=1e-12)
    np.testing.assert_allclose(np.tril(sig * n), np.tril(a_new), atol=1e-12)
    np.testing.assert_allclose(beta * c, b_new, atol=1e-12)
    # a corrupted inverse (den < 1) changes nothing
    bad = -np.eye(d) * 0.01
    before = bad.copy()
    assert kernels.sherman_morrison_inplace(bad, theta, n, c, x, r, 1.0, 1.0, 1.0) is None
    np.testing.assert_array_equal(bad, before)


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
    # the multiplier scales p_max: limit 2·1.0/(1 + 1) = 1.0 keeps the dearest arm
    np.testing.assert_array_equal(kernels.ceiling_eligible(prices, 1.0, 1.0, 2.0), [True, True, True])
    np.testing.assert_array_equal(kernels.ceiling_eligible(prices, 1.0, 1.0, 0.5), [True, False, False])
