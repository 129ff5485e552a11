"""Hand-valued tests for the eight mutants that survived the fast tests (see docs/TESTING.md).

One test per mutant, public API only. Every expected number is derived by hand in the comments;
none is produced by running the code under test. ``tools/mutants.py`` checks that each test fails
when its mutant is applied.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from paretobandit import BanditRouter, BudgetPacer, EphemeralContextStore, SqliteContextStore, kernels
from paretobandit.config import RouterConfig
from paretobandit.errors import BudgetExceededError, UnknownRequestError
from paretobandit.policy import LinUCBPolicy

ZERO = np.zeros(25)  # precomputed 25-d vector: x = (0, …, 0, 1), so xᵀx = 1


def paced(lam: float, multiplier: float = 1.0, budget: float = 0.001) -> BudgetPacer:
    """An adaptive pacer whose λ is set through the public state round trip."""
    state = BudgetPacer(budget, ceiling_multiplier=multiplier).state_dict()
    return BudgetPacer.from_state({**state, "lambda": lam})


# --------------------------------------------------------------------------- 1. upper clip of c̃
def test_normalised_cost_upper_clip():
    # c̃ = (ln p − ln 1e-4) / (ln 0.1 − ln 1e-4) = log10(p / 1e-4) / 3 before clipping:
    #   p = 1e-5  → −1/3 → 0;  p = 1e-3 → 1/3;  p = 0.1 → 1;  p = 1.0 → 4/3 → 1;  p = 10 → 5/3 → 1
    c = kernels.normalised_cost(np.array([1e-5, 1e-3, 0.1, 1.0, 10.0]))
    np.testing.assert_allclose(c, [0.0, 1 / 3, 1.0, 1.0, 1.0], rtol=0, atol=1e-15)
    assert float(kernels.normalised_cost(1.0)) == 1.0
    # through the registry: blended 2000 $/M = 2 $/1k → 1 (unclipped: (ln 2e4)/(ln 1e3) ≈ 1.434)
    router = BanditRouter.create({"dear": {"blended": 2000.0}}, priors="none", seed=0)
    assert router.arm_state("dear")["normalised_cost"] == 1.0


# --------------------------------------------------------------------------- 2. tie tolerance
@pytest.mark.parametrize("n_models,max_cost", [(2, None), (3, 0.001), (18, None)])
def test_tie_tolerance_breaks_near_ties_at_random(n_models, max_cost):
    # γ = 1 (no staleness), cold arms (A = I, θ = 0), x = (0, …, 0, 1): score = α·1 − 0.3·c̃.
    # "a" costs 1 $/M (p = 1e-3 $/1k, c̃ = 1/3), "b" costs (1 + 1e-11) $/M:
    #   c̃_b − c̃_a = ln(1 + 1e-11) / ln(1000) = 1.4476e-12  →  s_a − s_b = 0.3 · 1.4476e-12 = 4.343e-13,
    # below TIE_TOLERANCE = 1e-12: a tie, so each decision draws rng.integers(2) over the ties [a, b].
    # Other models cost 10 $/M or more (c̃ ≥ 2/3, score ≤ 0.01 − 0.2): never in the tie; with
    # max_cost = 0.001 $ they are also ineligible (estimate 10·600/1e6 = 0.006 $ > 0.001 $ ≥ 0.0006 $).
    models = {"a": {"blended": 1.0}, "b": {"blended": 1.0 + 1e-11}}
    models.update({f"m{j}": {"blended": 10.0 + j} for j in range(n_models - 2)})
    seed, n = 7, 40
    router = BanditRouter.create(models, priors="none", forgetting_factor=1.0, seed=seed)
    picks, logs = [], []
    for _ in range(n):
        model, log = router.route(ZERO, max_cost=max_cost)
        picks.append(model)
        logs.append(log)
    gap = logs[0].scores["a"] - logs[0].scores["b"]
    assert gap == pytest.approx(0.3 * math.log1p(1e-11) / math.log(1000.0), rel=1e-3)
    assert 0.0 < gap < kernels.TIE_TOLERANCE
    assert logs[0].scores["a"] == pytest.approx(0.01 - 0.3 / 3, abs=1e-15)
    reference = np.random.default_rng(seed)
    assert picks == [("a", "b")[int(reference.integers(2))] for _ in range(n)]
    assert set(picks) == {"a", "b"}
    if max_cost is not None:
        assert logs[0].eligible == ["a", "b"]


# --------------------------------------------------------------------------- 3. TTL boundary
class Clock:
    """Settable clock (seconds)."""

    def __init__(self, now: float):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("kind", ["ephemeral", "sqlite"])
def test_context_ttl_expires_only_when_strictly_older(kind, tmp_path):
    # put at 1000 s with ttl 10 s: age 10.0 s exactly (1010 − 1000, exact in binary) is not expired;
    # age 10.25 s is.
    clock = Clock(1000.0)
    if kind == "ephemeral":
        store = EphemeralContextStore(ttl=10.0, clock=clock)
    else:
        store = SqliteContextStore(tmp_path / "ctx.db", ttl=10.0, clock=clock)
    x = np.array([0.5, 1.0])
    for rid in ("r1", "r2", "r3"):
        store.put(rid, x, {"model": "m", "cost": 0.0})
    clock.now = 1010.0
    assert store.purge_expired() == 0
    np.testing.assert_array_equal(store.get("r1")[0], x)
    np.testing.assert_array_equal(store.take("r2")[0], x)
    clock.now = 1010.25
    with pytest.raises(UnknownRequestError):
        store.get("r1")
    assert store.purge_expired() == 1  # r3 (r1 was deleted by the expired read, r2 taken)
    assert len(store) == 0


# --------------------------------------------------------------------------- 4. corrupted inverse
def test_corrupted_inverse_guard_reinverts_when_denominator_below_one():
    # A = [[1, 1.5], [1.5, 1]] has a positive diagonal but is indefinite (det = −1.25), and its exact
    # inverse A⁻¹ = [[−0.8, 1.2], [1.2, −0.8]] passes the state checks. For x = (1, 0):
    #   den = 1 + xᵀA⁻¹x = 1 − 0.8 = 0.2 ∈ (0, 1)  →  corrupted: A ← A + λ₀I = [[2, 1.5], [1.5, 2]],
    #   A⁻¹ = [[2, −1.5], [−1.5, 2]] / 1.75 = [[8/7, −6/7], [−6/7, 8/7]], θ = A⁻¹b = 0, then the update:
    #   u = (8/7, −6/7), den = 1 + 8/7 = 15/7, A⁻¹ ← A⁻¹ − uuᵀ/den = [[8/15, −2/5], [−2/5, 4/5]],
    #   θ ← u·(1 − 0)/den = (8/15, −2/5), A = [[3, 1.5], [1.5, 2]], b = (1, 0).
    # Check: [[3, 1.5], [1.5, 2]]⁻¹ = [[2, −1.5], [−1.5, 3]] / 3.75 = [[8/15, −2/5], [−2/5, 4/5]].
    config = RouterConfig(forgetting_factor=1.0)
    state = LinUCBPolicy(2, 1, config).state_dict()
    a = np.array([[[1.0, 1.5], [1.5, 1.0]]])
    ainv = np.array([[[-0.8, 1.2], [1.2, -0.8]]])
    state.update(A=a, raw_N=a.copy(), A_inv=ainv, raw_M=ainv.copy())
    policy = LinUCBPolicy.from_state(state, config)
    policy.update(0, np.array([1.0, 0.0]), 1.0)
    arm = policy.arm_state(0)
    np.testing.assert_array_equal(arm["A"], [[3.0, 1.5], [1.5, 2.0]])
    np.testing.assert_allclose(arm["A_inv"], [[8 / 15, -2 / 5], [-2 / 5, 4 / 5]], rtol=0, atol=1e-14)
    np.testing.assert_allclose(arm["theta"], [8 / 15, -2 / 5], rtol=0, atol=1e-14)
    np.testing.assert_array_equal(arm["b"], [1.0, 0.0])
    assert arm["n_updates"] == 1


# --------------------------------------------------------------------------- 5. max_cost boundary
def test_max_cost_estimate_equal_to_cap_is_eligible():
    # vector input: n_in = 0, estimate = out · 600 / 1e6 $: 2.5 → 0.0015, 5 → 0.003, 10 → 0.006.
    # 5 · 600 = 3000 exactly and 3000 / 1e6 rounds to the double nearest 0.003 — the literal 0.003.
    models = {
        "cheap": {"input_cost_per_m": 1.0, "output_cost_per_m": 2.5},
        "exact": {"input_cost_per_m": 1.0, "output_cost_per_m": 5.0},
        "dear": {"input_cost_per_m": 1.0, "output_cost_per_m": 10.0},
    }
    router = BanditRouter.create(models, priors="none", seed=0)
    _, log = router.route(ZERO, max_cost=0.003)
    assert log.eligible == ["cheap", "exact"]
    only = BanditRouter.create({"exact": models["exact"], "dear": models["dear"]}, priors="none", seed=0)
    model, log = only.route(ZERO, max_cost=0.003)
    assert (model, log.eligible, log.cost_usd) == ("exact", ["exact"], 0.003)
    with pytest.raises(BudgetExceededError):
        only.route(ZERO, max_cost=0.0029)


# --------------------------------------------------------------------------- 6. multiplier in the router
def test_router_hard_ceiling_uses_ceiling_multiplier():
    # blended prices 1, 4, 10 $/M → 0.001, 0.004, 0.01 $/1k; p_max = 0.01.
    # λ = 2, multiplier 1.5: limit = 1.5 · 0.01 / 3 = 0.005 → {a, b}; without it 0.01 / 3 = 0.0033 → {a}.
    models = {"a": {"blended": 1.0}, "b": {"blended": 4.0}, "c": {"blended": 10.0}}
    router = BanditRouter.create(models, priors="none", budget=paced(2.0, 1.5), seed=0)
    model, log = router.route(ZERO)
    assert log.pacer_lambda == 2.0
    assert log.eligible == ["a", "b"]
    assert model in ("a", "b")
    plain = BanditRouter.create(models, priors="none", budget=paced(2.0, 1.0), seed=0)
    assert plain.route(ZERO)[1].eligible == ["a"]


# --------------------------------------------------------------------------- 7. multiplier in the kernel
def test_kernel_ceiling_eligible_uses_multiplier():
    # same numbers as above: limit 1.5 · 0.01 / (1 + 2) = 0.005 → [T, T, F]; multiplier 1 → 0.0033 → [T, F, F]
    prices = np.array([0.001, 0.004, 0.01])
    np.testing.assert_array_equal(kernels.ceiling_eligible(prices, 0.01, 2.0, 1.5), [True, True, False])
    np.testing.assert_array_equal(kernels.ceiling_eligible(prices, 0.01, 2.0), [True, False, False])
    # batched runs (λ = 2, 1, 2 and multipliers 1.5 scalar): limits 0.005, 0.0075, 0.005
    lams = np.array([2.0, 1.0, 2.0])
    batch = kernels.ceiling_eligible(np.tile(prices, (3, 1)), np.full(3, 0.01), lams, 1.5)
    np.testing.assert_array_equal(batch, [[True, True, False]] * 3)
    # multiplier 0.3, λ = 0.5: limit 0.3 · 0.01 / 1.5 = 0.002 → only the cheapest
    np.testing.assert_array_equal(kernels.ceiling_eligible(prices, 0.01, 0.5, 0.3), [True, False, False])


# --------------------------------------------------------------------------- 8. conflict fallback
def test_max_cost_and_ceiling_conflict_falls_back_to_max_cost():
    # "x": 19 in / 1 out $/M → blended 10 $/M = 0.01 $/1k (= p_max), vector estimate 1·600/1e6 = 0.0006 $.
    # "y":  1 in / 3 out $/M → blended 2 $/M = 0.002 $/1k, estimate 3·600/1e6 = 0.0018 $.
    # λ = 1: ceiling 0.01 / 2 = 0.005 → {y}; max_cost 0.001 → {x}; together: nobody → fall back to {x}.
    models = {
        "x": {"input_cost_per_m": 19.0, "output_cost_per_m": 1.0},
        "y": {"input_cost_per_m": 1.0, "output_cost_per_m": 3.0},
    }
    router = BanditRouter.create(models, priors="none", budget=paced(1.0), seed=0)
    model, log = router.route(ZERO, max_cost=0.001)
    assert (model, log.eligible) == ("x", ["x"])
    assert router.route(ZERO)[1].eligible == ["y"]  # the ceiling alone binds


# ----------------------------------------------------------------------- other mutants of tools/mutants.py
def test_forgetting_ridge_floor_and_sherman_morrison_hand_values():
    # γ = 0.5, λ₀ = 1, ridge floor 0.1·λ₀, stability check after every update (trace(A⁻¹) ≤ 1e6: no-op).
    cfg = RouterConfig(forgetting_factor=0.5, staleness_cap=10, stability_interval=1)
    policy = LinUCBPolicy(2, 1, cfg)
    # t = 1, x = (1, 0), r = 1: g = 0.5¹ → A = 0.5I, A⁻¹ = 2I, b = 0, ρ = 0.5 (≥ 0.1);
    #   u = (2, 0), den = 3: A⁻¹ = 2I − diag(4, 0)/3 = diag(2/3, 2), θ = u·1/3 = (2/3, 0),
    #   A = diag(1.5, 0.5), b = (1, 0).
    policy.t = 1
    policy.update(0, np.array([1.0, 0.0]), 1.0)
    arm = policy.arm_state(0)
    np.testing.assert_allclose(arm["A"], np.diag([1.5, 0.5]), rtol=0, atol=1e-15)
    np.testing.assert_allclose(arm["A_inv"], np.diag([2 / 3, 2.0]), rtol=0, atol=1e-15)
    np.testing.assert_allclose(arm["theta"], [2 / 3, 0.0], rtol=0, atol=1e-15)
    np.testing.assert_allclose(arm["b"], [1.0, 0.0], rtol=0, atol=1e-15)
    assert arm["rho"] == 0.5
    # t = 3, x = (0, 1), r = 0.5: g = 0.5² = 0.25 → A = diag(0.375, 0.125), b = (0.25, 0),
    #   A⁻¹ = diag(8/3, 8), ρ = 0.125; u = (0, 8), den = 9: A⁻¹ = diag(8/3, 8/9),
    #   θ = (2/3, 0) + (0, 8)·0.5/9 = (2/3, 4/9), A = diag(0.375, 1.125), b = (0.25, 0.5).
    policy.t = 3
    policy.update(0, np.array([0.0, 1.0]), 0.5)
    arm = policy.arm_state(0)
    np.testing.assert_allclose(arm["A"], np.diag([0.375, 1.125]), rtol=0, atol=1e-15)
    np.testing.assert_allclose(arm["A_inv"], np.diag([8 / 3, 8 / 9]), rtol=0, atol=1e-14)
    np.testing.assert_allclose(arm["theta"], [2 / 3, 4 / 9], rtol=0, atol=1e-15)
    np.testing.assert_allclose(arm["b"], [0.25, 0.5], rtol=0, atol=1e-15)
    assert arm["rho"] == 0.125
    # t = 4, x = (1, 0), r = 0: g = 0.5, ρ = 0.0625 < 0.1 → ridge floor: A ← 0.5A + (1 − 0.0625)I
    #   = diag(1.125, 1.5), ρ = 1, b = (0.125, 0.25), A⁻¹ = diag(8/9, 2/3), θ = (1/9, 1/6);
    #   u = (8/9, 0), den = 17/9: A⁻¹₁₁ = 8/9 − (64/81)/(17/9) = 8/17, θ₁ = 1/9 − (8/9)(1/9)/(17/9) = 1/17,
    #   A = diag(2.125, 1.5)  (check: 1/2.125 = 8/17, 0.125/2.125 = 1/17, 0.25/1.5 = 1/6).
    policy.t = 4
    policy.update(0, np.array([1.0, 0.0]), 0.0)
    arm = policy.arm_state(0)
    np.testing.assert_allclose(arm["A"], np.diag([2.125, 1.5]), rtol=0, atol=1e-15)
    np.testing.assert_allclose(arm["A_inv"], np.diag([8 / 17, 2 / 3]), rtol=0, atol=1e-15)
    np.testing.assert_allclose(arm["theta"], [1 / 17, 1 / 6], rtol=0, atol=1e-15)
    np.testing.assert_allclose(arm["b"], [0.125, 0.25], rtol=0, atol=1e-15)
    assert arm["rho"] == 1.0 and arm["n_updates"] == 3


def test_pacer_step_hand_values():
    # B = 0.01, η = a = 0.05, cap 5; c̄₀ = B, λ₀ = 0.
    pacer = BudgetPacer(0.01)
    # c = 0.03: c̄ = 0.95·0.01 + 0.05·0.03 = 0.011; λ = 0.05·(0.011/0.01 − 1) = 0.005
    assert pacer.update(0.03) == pytest.approx(0.005, abs=1e-15)
    assert pacer.cost_ema == pytest.approx(0.011, abs=1e-15)
    # c = 0: c̄ = 0.95·0.011 = 0.01045; λ = 0.005 + 0.05·(1.045 − 1) = 0.00725
    assert pacer.update(0.0) == pytest.approx(0.00725, abs=1e-15)
    # clip at 0: from λ = 0, c = 0: c̄ = 0.0095, λ = max(0, 0.05·(0.95 − 1)) = max(0, −0.0025) = 0
    assert BudgetPacer(0.01).update(0.0) == 0.0
    # clip at the cap: λ = 4.99, c = 1: c̄ = 0.0095 + 0.05 = 0.0595, 4.99 + 0.05·4.95 = 5.2375 → 5
    high = BudgetPacer.from_state({**BudgetPacer(0.01).state_dict(), "lambda": 4.99})
    assert high.update(1.0) == 5.0
    assert high.cost_ema == pytest.approx(0.0595, abs=1e-15)
