"""LinUCBPolicy: exactness of Sherman–Morrison + forgetting, staleness, ridge floor, stability check."""

from __future__ import annotations

import _reference as ref
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paretobandit import kernels
from paretobandit.config import RouterConfig
from paretobandit.policy import LinUCBPolicy


def _direct_reference(cfg, d, k, events):
    """Plain recursion on A and b (no inverses), the decayed ridge system of docs/PROTOCOLS.md §1.5."""
    a = np.broadcast_to(cfg.ridge * np.eye(d), (k, d, d)).copy()
    b = np.zeros((k, d))
    rho = np.full(k, cfg.ridge)
    last = np.zeros(k, dtype=int)
    t = 0
    for ev in events:
        if ev[0] == "route":
            t += 1
            continue
        _, arm, x, r = ev
        if cfg.forgetting_factor < 1:
            g = cfg.forgetting_factor ** min(t - last[arm], cfg.staleness_cap)  # not the kernel's table
            a[arm] *= g
            b[arm] *= g
            rho[arm] *= g
            if rho[arm] < cfg.ridge_floor * cfg.ridge:
                a[arm] += (cfg.ridge - rho[arm]) * np.eye(d)
                rho[arm] = cfg.ridge
        last[arm] = t
        a[arm] += np.outer(x, x)
        b[arm] += r * x
    return a, b


def _scores(pol, x, t, alpha=1.0):
    k = pol.n_arms
    return np.array(pol.scores(x, t, alpha, [0.0] * k)[0])


@pytest.mark.parametrize("k", [2, 16, 17, 50])
def test_policy_scores_equal_independent_reference(k):
    rng = np.random.default_rng(k)
    d = 7
    pol = LinUCBPolicy(d, k, RouterConfig(forgetting_factor=0.99))
    for _ in range(300):
        pol.t += 1
        x = np.append(rng.normal(size=d - 1), 1.0)
        pol.update(int(rng.integers(k)), x, float(rng.random()))
        pol.touch(int(rng.integers(k)), pol.t)
    x = np.append(rng.normal(size=d - 1), 1.0)
    ncost = rng.random(k)
    t = pol.t + 1
    sl, xx = pol.scores(x, t, 0.3, (0.7 * ncost).tolist())
    want = ref.arm_scores(pol.theta, pol.ainv, x, np.array(pol.inflation(t)), 0.3, 0.7, ncost)
    np.testing.assert_allclose(sl, want, rtol=0, atol=1e-12)
    assert xx == pytest.approx(float(x @ x), rel=1e-14)
    infl = kernels.staleness_inflation(0.99, t - np.maximum(pol.last_update, pol.last_played), 200.0, 1000)
    np.testing.assert_array_equal(pol.inflation(t), infl)
    far = t + 5000  # beyond the staleness cap for every arm
    sl_far = pol.scores(x, far, 0.3, (0.7 * ncost).tolist())[0]
    ref_far = ref.arm_scores(pol.theta, pol.ainv, x, np.array(pol.inflation(far)), 0.3, 0.7, ncost)
    np.testing.assert_allclose(sl_far, ref_far, rtol=0, atol=1e-12)
    assert pol.inflation(far) == [200.0] * k


def _run(policy, events):
    for ev in events:
        if ev[0] == "route":
            policy.t += 1
        else:
            policy.update(ev[1], ev[2], ev[3])


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**31 - 1),
    gamma=st.sampled_from([0.9, 0.99, 0.997, 1.0]),
    d=st.integers(2, 8),
    k=st.integers(1, 3),
    gap=st.integers(1, 40),
)
def test_sherman_morrison_with_forgetting_equals_direct_solve(seed, gamma, d, k, gap):
    rng = np.random.default_rng(seed)
    cfg = RouterConfig(forgetting_factor=gamma)
    events = []
    for _ in range(2500):
        for _ in range(int(rng.integers(0, gap))):
            events.append(("route",))
        x = rng.normal(size=d)
        x[-1] = 1.0
        events.append(("fb", int(rng.integers(k)), x, float(rng.random())))
    policy = LinUCBPolicy(d, k, cfg)
    _run(policy, events)
    a_ref, b_ref = _direct_reference(cfg, d, k, events)
    for arm in range(k):
        np.testing.assert_allclose(policy.A[arm], a_ref[arm], rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(policy.ainv[arm], np.linalg.inv(a_ref[arm]), rtol=0, atol=1e-8)
        np.testing.assert_allclose(
            policy.theta[arm], np.linalg.solve(a_ref[arm], b_ref[arm]), rtol=0, atol=1e-8
        )


def test_staleness_inflates_the_bonus():
    cfg = RouterConfig(forgetting_factor=0.99)
    d = 4
    pol = LinUCBPolicy(d, 2, cfg)
    x = np.array([0.5, -0.2, 0.1, 1.0])
    var = float(x @ x)  # cold arm: A⁻¹ = I
    for t, dt in [(1, 1), (10, 10), (2000, 1000)]:
        s = _scores(pol, x, t)
        expected = np.sqrt(var / max(0.99 ** min(dt, 1000), 1 / 200))
        np.testing.assert_allclose(s, expected, rtol=1e-14)
    pol.touch(0, 1999)
    s = _scores(pol, x, 2000)
    assert s[0] == pytest.approx(np.sqrt(var / 0.99))
    assert s[1] == pytest.approx(np.sqrt(var * 200))


def test_no_inflation_without_forgetting():
    pol = LinUCBPolicy(3, 1, RouterConfig(forgetting_factor=1.0))
    x = np.array([1.0, 0.0, 1.0])
    assert _scores(pol, x, 500)[0] == pytest.approx(np.sqrt(2.0))


def test_ridge_floor_restores_ridge():
    cfg = RouterConfig(forgetting_factor=0.5)
    d = 3
    pol = LinUCBPolicy(d, 1, cfg)
    x = np.array([1.0, 0.0, 1.0])
    pol.update(0, x, 1.0)  # t = 0: no decay
    a_before = pol.A[0].copy()
    pol.t = 4  # g = 0.5**4 = 0.0625 -> rho = 0.0625 < 0.1
    pol.update(0, x, 0.0)
    expected = 0.0625 * a_before + (1.0 - 0.0625) * np.eye(d) + np.outer(x, x)
    np.testing.assert_allclose(pol.A[0], expected, atol=1e-14)
    assert pol.rho[0] == 1.0
    np.testing.assert_allclose(pol.ainv[0], np.linalg.inv(expected), atol=1e-12)
    pol.t = 5  # g = 0.5 -> rho 0.5, above the floor: no restoration
    pol.update(0, x, 0.0)
    assert pol.rho[0] == 0.5


def test_stability_check_reregularises():
    cfg = RouterConfig(forgetting_factor=1.0, stability_interval=2, stability_trace=1e-9)
    pol = LinUCBPolicy(2, 1, cfg)
    x = np.array([1.0, 1.0])
    pol.update(0, x, 1.0)
    np.testing.assert_allclose(pol.A[0], np.eye(2) + np.outer(x, x))
    pol.update(0, x, 1.0)  # second update: interval hit, trace > 1e-9 -> + λ₀I
    expected = 2 * np.eye(2) + 2 * np.outer(x, x)
    np.testing.assert_allclose(pol.A[0], expected)
    np.testing.assert_allclose(pol.ainv[0], np.linalg.inv(expected))
    np.testing.assert_allclose(pol.theta[0], np.linalg.solve(expected, 2 * x))


def test_corrupted_inverse_is_rebuilt():
    # A = [[0.25, 1], [1, 0.25]] (positive diagonal, indefinite) with its exact inverse
    # [[−4, 16], [16, −4]]/15 passes the state checks; x = (1, −1): xᵀA⁻¹x = −40/15, den = −5/3 < 1.
    # Rebuilt: A + λ₀I = [[1.25, 1], [1, 1.25]], then + xxᵀ = 2.25·I, so A⁻¹ = (4/9)I, b = (1, −1),
    # θ = (4/9, −4/9). (den in (0, 1): tests/test_mutant_survivors.py.)
    cfg = RouterConfig(forgetting_factor=1.0)
    state = LinUCBPolicy(2, 1, cfg).state_dict()
    a = np.array([[[0.25, 1.0], [1.0, 0.25]]])
    ainv = np.array([[[-4.0, 16.0], [16.0, -4.0]]]) / 15
    state.update(A=a, raw_N=a.copy(), A_inv=ainv, raw_M=ainv.copy())
    pol = LinUCBPolicy.from_state(state, cfg)
    pol.update(0, np.array([1.0, -1.0]), 1.0)
    np.testing.assert_allclose(pol.A[0], 2.25 * np.eye(2), rtol=0, atol=1e-15)
    np.testing.assert_allclose(pol.ainv[0], 4 / 9 * np.eye(2), rtol=0, atol=1e-14)
    np.testing.assert_allclose(pol.theta[0], [4 / 9, -4 / 9], rtol=0, atol=1e-14)


def test_add_remove_arms_keep_other_state():
    cfg = RouterConfig()
    pol = LinUCBPolicy(3, 2, cfg)
    x = np.array([0.3, 0.1, 1.0])
    pol.t = 7
    pol.update(1, x, 0.9)
    before = pol.arm_state(1)
    pol.add_arm()
    assert pol.n_arms == 3 and pol.last_update[2] == 7 and pol.last_played[2] == 7
    np.testing.assert_array_equal(pol.A[2], np.eye(3))
    pol.remove_arm(0)
    after = pol.arm_state(0)
    for key in ("A", "A_inv", "b", "theta"):
        np.testing.assert_array_equal(before[key], after[key])
    assert pol.stack.shape == (2 * 3 + 3 + 2, 3)


def test_large_dimension_layout_without_identity_block():
    d, k = 130, 3
    pol = LinUCBPolicy(d, k, RouterConfig(forgetting_factor=0.99))
    assert pol.stack.shape == (k * d + k, d)
    rng = np.random.default_rng(0)
    for _ in range(20):
        pol.t += 1
        x = np.append(rng.normal(size=d - 1) * 0.1, 1.0)
        pol.update(int(rng.integers(k)), x, float(rng.random()))
    x = np.append(rng.normal(size=d - 1) * 0.1, 1.0)
    t = pol.t + 1
    sl, xx = pol.scores(x, t, 0.2, [0.0] * k)
    want = ref.arm_scores(pol.theta, pol.ainv, x, np.array(pol.inflation(t)), 0.2, 0.0, np.zeros(k))
    np.testing.assert_allclose(sl, want, rtol=0, atol=1e-12)
    assert xx == pytest.approx(float(x @ x))
