"""Unit tests of the batched simulator on synthetic data: shapes, determinism, events, validation,
memory, streams and the Exp 01 protocol (exactness vs the online router: test_sim_exactness.py)."""

from __future__ import annotations

import json

import _reference as ref
import numpy as np
import pytest

from paretobandit import kernels
from paretobandit.config import RouterConfig
from paretobandit.errors import ConfigError, DimensionMismatchError, InvalidInputError
from paretobandit.experiments import default_budgets, reference_points, run_budget_pacing
from paretobandit.experiments.common import align_priors, bootstrap_ci, make_seeds
from paretobandit.sim import (
    BatchSimulator,
    CostTransform,
    Onboard,
    PriceChange,
    Priors,
    RewardTransform,
    phase_streams,
    simulate,
    three_phase_prompts,
    trial_orders,
    warmup_test_streams,
)
from paretobandit.sim.engine import numba_available
from paretobandit.sim.synthetic import synthetic_tables

N, D, T = 300, 8, 400


@pytest.fixture(scope="module")
def tb():
    return synthetic_tables(N, D, 3, seed=3)


@pytest.fixture(scope="module")
def tb4():
    return synthetic_tables(N, D, 4, seed=3)


def _streams(n_runs, t=T, n=N):
    return np.stack([np.random.default_rng(s).integers(0, n, t) for s in range(n_runs)])


def _run(tb, n_runs=4, **kw):
    args = dict(seeds=list(range(n_runs)), alpha=0.05, cost_penalty=0.0, budget=3e-4)
    args.update(kw)
    return simulate(tb.features, tb.rewards, tb.costs, _streams(n_runs), tb.prices, **args)


# ----------------------------------------------------------------------------------- shapes, determinism
def test_shapes_and_dtypes(tb):
    res = _run(tb, 5)
    for name in ("arm", "reward", "cost", "lam", "forced"):
        assert getattr(res, name).shape == (5, T)
    assert res.arm.dtype == np.int16 and res.forced.dtype == bool
    assert res.reward.dtype == res.cost.dtype == res.lam.dtype == np.float64
    assert res.final["A"].shape == (5, 3, D, D) and res.final["b"].shape == (5, 3, D)
    assert res.final["t"] == T
    assert res.final["n_updates"].sum() == 5 * T
    assert ((res.reward >= 0) & (res.reward <= 1)).all()


def test_outputs_match_tables(tb):
    streams = _streams(3)
    res = simulate(tb.features, tb.rewards, tb.costs, streams, tb.prices, seeds=[0, 1, 2], budget=1e-3)
    rows = np.arange(3)[:, None]
    np.testing.assert_array_equal(res.reward, tb.rewards[streams, res.arm])
    np.testing.assert_array_equal(res.cost, tb.costs[streams, res.arm])
    assert (res.lam[:, 0] == 0).all()
    assert rows.size == 3


def test_deterministic(tb):
    a, b = _run(tb, 4), _run(tb, 4)
    for name in ("arm", "reward", "cost", "lam"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    np.testing.assert_array_equal(a.final["A"], b.final["A"])


def test_split_in_threads_or_processes_equals_single_batch(tb):
    kw = dict(alpha=[0.0, 0.01, 0.1, 0.5, 0.05], gamma=[0.99, 0.997, 1.0, 0.997, 0.995],
              budget=[1e-4, None, 3e-4, 1e-3, 5e-3],
              pacer_mode=["adaptive", "soft", "hard", "adaptive", "soft"],
              events=[RewardTransform.constant(1, 100, 200, 0.5, runs=[1, 3]),
                      PriceChange(150, 2, 0.1, 0.1, runs=[4])])
    one = _run(tb, 5, **kw)
    for backend in ("threads", "processes"):
        many = _run(tb, 5, n_jobs=3, backend=backend, **kw)
        for name in ("arm", "reward", "cost", "lam", "forced"):
            np.testing.assert_array_equal(getattr(one, name), getattr(many, name))
        for key in ("A", "ainv", "b", "theta", "rho", "last_update", "last_played", "n_updates", "active",
                    "price", "lam", "cost_ema"):
            np.testing.assert_array_equal(one.final[key], many.final[key])
        assert one.final["repairs"] == many.final["repairs"] and many.final["t"] == T


def test_a_run_does_not_depend_on_its_batch(tb):
    kw = dict(alpha=[0.01, 0.1, 0.05], budget=[1e-4, 1e-3, None], gamma=[0.997, 0.99, 1.0])
    batch = _run(tb, 3, **kw)
    streams = _streams(3)
    for i in range(3):
        alone = simulate(tb.features, tb.rewards, tb.costs, streams[i], tb.prices, seeds=[i],
                         alpha=kw["alpha"][i], budget=kw["budget"][i], gamma=kw["gamma"][i], cost_penalty=0.0)
        np.testing.assert_array_equal(alone.arm[0], batch.arm[i])
        np.testing.assert_allclose(alone.lam[0], batch.lam[i], rtol=0, atol=1e-12)
        np.testing.assert_allclose(alone.final["A"][0], batch.final["A"][i], rtol=0, atol=1e-9)


def test_step_by_step_equals_run(tb):
    streams = _streams(2)
    sim = BatchSimulator(tb.features, tb.rewards, tb.costs, streams, tb.prices, seeds=[0, 1], budget=3e-4)
    sim.run(100)
    assert sim.result().arm.shape == (2, 100)
    while sim.step_index < T:
        sim.step()
    res = simulate(tb.features, tb.rewards, tb.costs, streams, tb.prices, seeds=[0, 1], budget=3e-4)
    np.testing.assert_array_equal(sim.result().arm, res.arm)
    with pytest.raises(ConfigError):
        sim.step()


# ----------------------------------------------------------------------------------- pacer, priors
def test_no_pacer_means_lambda_zero_and_modes_differ(tb):
    res = _run(tb, 3, budget=None)
    assert (res.lam == 0).all()
    modes = _run(tb, 3, budget=1e-4, pacer_mode=["adaptive", "soft", "hard"])
    assert (modes.lam[:, -1] > 0).all()
    assert not np.array_equal(modes.arm[1], modes.arm[2])


def test_pacer_tracks_the_kernel(tb):
    res = _run(tb, 2, budget=[2e-4, 1e-3])
    lam, ema = np.zeros(2), np.array([2e-4, 1e-3])
    for k in range(T):
        np.testing.assert_array_equal(res.lam[:, k], lam)
        lam, ema = ref.pacer_step(lam, ema, res.cost[:, k], np.array([2e-4, 1e-3]))
    np.testing.assert_array_equal(res.final["lam"], lam)


def test_priors_rescaled_and_switchable(tb):
    a_off, b_off = tb.priors(seed=4)
    pri = Priors(a_off, b_off)
    sim = BatchSimulator(tb.features, tb.rewards, tb.costs, _streams(3), tb.prices, seeds=[0, 1, 2],
                         priors=pri, n_eff=[1163.9, None, 10.0])
    a_exp, b_exp = kernels.rescale_prior(a_off, b_off, 1163.9, 1.0)
    np.testing.assert_allclose(sim.A[0], a_exp, rtol=1e-14)
    np.testing.assert_allclose(sim.b[0], b_exp, rtol=1e-14)
    np.testing.assert_array_equal(sim.A[1], np.broadcast_to(np.eye(D), (3, D, D)))   # n_eff None: cold
    assert not np.allclose(sim.A[2], sim.A[0])
    masked = BatchSimulator(tb.features, tb.rewards, tb.costs, _streams(1), tb.prices, seeds=[0],
                            priors=Priors(a_off, b_off, mask=[True, False, True]))
    np.testing.assert_array_equal(masked.A[0, 1], np.eye(D))
    cold = _run(tb, 2, priors=pri, n_eff=None, budget=None)
    none = _run(tb, 2, budget=None)
    assert cold.final["A"].shape == none.final["A"].shape


def test_priors_in_batch_with_none_equals_cold(tb):
    a_off, b_off = tb.priors(seed=4)
    with_none = _run(tb, 2, priors=Priors(a_off, b_off), n_eff=[None, None])
    cold = _run(tb, 2)
    np.testing.assert_array_equal(with_none.arm, cold.arm)


# ----------------------------------------------------------------------------------- events
def test_reward_and_cost_transforms(tb):
    streams = _streams(2)
    events = [RewardTransform.constant(0, 50, 150, 0.25), RewardTransform.scaled(1, 0, 400, 0.5, runs=[1]),
              RewardTransform.shifted(2, 200, 300, 0.5), CostTransform(0, 100, 400, 10.0)]
    res = simulate(tb.features, tb.rewards, tb.costs, streams, tb.prices, seeds=[0, 1], budget=None,
                   cost_penalty=0.0, alpha=0.5, events=events)
    raw_r = tb.rewards[streams, res.arm]
    raw_c = tb.costs[streams, res.arm]
    k = np.arange(T)[None, :].repeat(2, 0)
    exp_r = raw_r.copy()
    m = (res.arm == 0) & (k >= 50) & (k < 150)
    exp_r[m] = 0.25
    m1 = (res.arm == 1) & (np.arange(2)[:, None] == 1)
    exp_r[m1] = np.clip(0.5 * raw_r[m1], 0, 1)
    m2 = (res.arm == 2) & (k >= 200) & (k < 300)
    exp_r[m2] = np.clip(raw_r[m2] + 0.5, 0, 1)
    np.testing.assert_array_equal(res.reward, exp_r)
    exp_c = np.where((res.arm == 0) & (k >= 100), 10.0 * raw_c, raw_c)
    np.testing.assert_array_equal(res.cost, exp_c)
    assert m.any() and m1.any() and m2.any()


def test_price_change_updates_price_cost_and_pmax(tb):
    sim = BatchSimulator(tb.features, tb.rewards, tb.costs, _streams(2), tb.prices, seeds=[0, 1],
                         events=[PriceChange(10, 2, 0.1, 0.1, runs=[1])])
    pmax0 = sim.pmax.copy()
    sim.run(11)
    assert sim.pmax[0] == pmax0[0]
    assert sim.price[1, 2] == pytest.approx(1e-4, rel=1e-15)  # (0.1 + 0.1)/2/1000 $ per 1k tokens
    assert sim.ncost[1, 2] == 0.0  # at the cost floor 1e-4: c̃ = ln(1e-4/1e-4)/ln(1000) = 0
    np.testing.assert_array_equal(sim.ncost[1], kernels.normalised_cost(sim.price[1]))
    assert sim.pmax[1] == sim.price[1].max() < pmax0[1]


def test_price_cut_shifts_traffic(tb):
    res = _run(tb, 1, budget=None, cost_penalty=1.0, alpha=0.01, events=[PriceChange(200, 2, 0.01, 0.01)],
               priors=Priors(*tb.priors(seed=5)))
    assert (res.arm[0, 200:] == 2).mean() > (res.arm[0, :200] == 2).mean()


def test_onboarding_inactive_then_forced_pulls(tb4):
    streams = _streams(3)
    ev = [Onboard(120, 3, n_forced=20, runs=[0, 1]), Onboard(300, 3, n_forced=5, runs=[2])]
    sim = BatchSimulator(tb4.features, tb4.rewards, tb4.costs, streams, tb4.prices, seeds=[0, 1, 2],
                         alpha=0.5, budget=None, cost_penalty=0.0, events=ev)
    sim.run(120)
    assert not sim.active[:, 3].any()
    sim.step()
    assert sim.active[:2, 3].all() and not sim.active[2, 3]
    assert sim.last_played[0, 3] == 121
    res = sim.run()
    assert (res.arm[:, :120] != 3).all()
    assert (res.arm[2, :300] != 3).all()
    np.testing.assert_array_equal(res.forced[0], (np.arange(T) >= 120) & (np.arange(T) < 140))
    np.testing.assert_array_equal(res.forced[2], (np.arange(T) >= 300) & (np.arange(T) < 305))
    assert (res.arm[res.forced] == 3).all()
    assert res.final["n_updates"][:, 3].min() >= 5


def test_onboarded_arm_starts_cold_with_its_prices(tb4):
    sim = BatchSimulator(tb4.features, tb4.rewards, tb4.costs, _streams(1), tb4.prices, seeds=[0],
                         budget=None,
                         events=[Onboard(50, 3, n_forced=0, input_cost_per_m=3.0, output_cost_per_m=25.0)])
    sim.run(50)
    sim._apply_events(50)       # the registration half of step 50, before its route
    np.testing.assert_array_equal(sim.A[0, 3], np.eye(D))
    np.testing.assert_array_equal(sim.b[0, 3], 0)
    assert sim.last_update[0, 3] == sim.last_played[0, 3] == 50
    assert sim.price[0, 3] == pytest.approx(0.014, rel=1e-15) and sim.price[0, 3] == sim.pmax[0]  # 28/2/1000


# ----------------------------------------------------------------------------------- validation
@pytest.mark.parametrize("kw, exc", [
    (dict(budget=-1.0), ConfigError),
    (dict(budget=[1e-3]), ConfigError),
    (dict(alpha=-0.1), ConfigError),
    (dict(gamma=1.5), ConfigError),
    (dict(pacer_mode="turbo"), ConfigError),
    (dict(seeds=[0, 1]), ConfigError),
    (dict(seeds=[-1, 0, 1]), ConfigError),
    (dict(events=[RewardTransform.constant(1, 0, 10, 0.5), RewardTransform.scaled(1, 5, 20, 0.5)]),
     ConfigError),
    (dict(events=[PriceChange(T, 0, 1.0, 1.0)]), ConfigError),
    (dict(events=[CostTransform(0, 10, T + 1, 2.0)]), ConfigError),
    (dict(events=[Onboard(10, 1)]), ConfigError),                 # arm 1 before active arm 2
    (dict(events=[PriceChange(5, 7, 1.0, 1.0)]), ConfigError),
    (dict(events=["nope"]), ConfigError),
    (dict(n_jobs=0), ConfigError),
    (dict(n_jobs=2, backend="gpu"), ConfigError),
])
def test_invalid_configuration(tb, kw, exc):
    args = dict(seeds=[0, 1, 2])
    args.update(kw)
    with pytest.raises(exc):
        simulate(tb.features, tb.rewards, tb.costs, _streams(3), tb.prices, **args)


def test_invalid_tables(tb):
    s = _streams(1)
    with pytest.raises(DimensionMismatchError):
        simulate(tb.features, tb.rewards[:-1], tb.costs, s, tb.prices, seeds=[0])
    with pytest.raises(DimensionMismatchError):
        simulate(tb.features, tb.rewards, tb.costs, s, tb.prices[:2], seeds=[0])
    bad = tb.rewards.copy()
    bad[0, 0] = np.nan
    with pytest.raises(InvalidInputError):
        simulate(tb.features, bad, tb.costs, s, tb.prices, seeds=[0])
    with pytest.raises(InvalidInputError):
        simulate(tb.features, tb.rewards, tb.costs, s + N, tb.prices, seeds=[0])
    with pytest.raises(InvalidInputError):
        simulate(tb.features, tb.rewards, tb.costs, s.astype(float), tb.prices, seeds=[0])
    with pytest.raises(ConfigError):
        simulate(tb.features, tb.rewards, tb.costs, s, tb.prices, seeds=[0], config="default")


def test_event_validation():
    with pytest.raises(ConfigError):
        RewardTransform(0, 10, 10)
    with pytest.raises(ConfigError):
        CostTransform(0, 0, 5, -1.0)
    with pytest.raises(ConfigError):
        Onboard(5, 1, input_cost_per_m=1.0)
    with pytest.raises(ConfigError):
        PriceChange(-1, 0, 1.0, 1.0)


def test_onboard_price_change_before_registration_is_rejected(tb4):
    with pytest.raises(ConfigError):
        simulate(tb4.features, tb4.rewards, tb4.costs, _streams(1), tb4.prices, seeds=[0],
                 events=[Onboard(100, 3), PriceChange(50, 3, 1.0, 1.0)])


# ----------------------------------------------------------------------------------- memory
def test_memory_is_bounded(tb):
    n_runs, t = 6, T
    sim = BatchSimulator(tb.features, tb.rewards, tb.costs, _streams(n_runs, t), tb.prices,
                         seeds=list(range(n_runs)))
    k = 3
    state_bound = 8 * n_runs * k * D * D
    for name, value in vars(sim).items():
        if isinstance(value, np.ndarray):
            bound = max(state_bound, 8 * n_runs * t, tb.features.nbytes, tb.rewards.nbytes)
            assert value.nbytes <= bound, name
    res = sim.run()
    per_step = sum(getattr(res, f).nbytes for f in ("arm", "reward", "cost", "lam", "forced"))
    assert per_step == n_runs * t * (2 + 8 * 3 + 1)


# ----------------------------------------------------------------------------------- streams
def test_trial_orders_follow_the_spec():
    v, t = trial_orders(3000, 50, 40)
    rng = np.random.default_rng(3000)
    np.testing.assert_array_equal(v, rng.permutation(50))
    np.testing.assert_array_equal(t, rng.permutation(40))
    s = warmup_test_streams([3000, 3001], 50, 40)
    assert s.shape == (2, 90)
    np.testing.assert_array_equal(s[0, :50], v)
    np.testing.assert_array_equal(s[0, 50:], 50 + t)


def test_three_phase_streams():
    p1, p2, p3 = three_phase_prompts(100, phase_len=30)
    perm = np.random.default_rng(42).permutation(100)
    np.testing.assert_array_equal(p1, perm[:30])
    np.testing.assert_array_equal(p2, perm[30:60])
    np.testing.assert_array_equal(p3, p1)
    s = phase_streams([p1, p2, p3], [1, 2], offset=5)
    assert s.shape == (2, 90)
    for row in s:
        assert set(row[:30] - 5) == set(p1) and set(row[30:60] - 5) == set(p2)
        assert set(row[60:] - 5) == set(p1)
    assert not np.array_equal(s[0], s[1])
    with pytest.raises(ConfigError):
        three_phase_prompts(50, phase_len=30)


# ----------------------------------------------------------------------------------- Exp 01 protocol
def test_budget_pacing_protocol_on_synthetic_data(tb):
    fv, ft = tb.features[:150], tb.features[150:]
    rv, rt = tb.rewards[:150], tb.rewards[150:]
    cv, ct = tb.costs[:150], tb.costs[150:]
    budgets = default_budgets(cv, n=3)
    np.testing.assert_allclose(budgets[[0, -1]], [cv.mean(0).min(), cv.mean(0).max()])
    a_off, b_off = tb.priors(seed=9)
    prior_models = list(reversed(tb.models))     # the file's order differs from the tables'
    res = run_budget_pacing(features_val=fv, rewards_val=rv, costs_val=cv, features_test=ft, rewards_test=rt,
                            costs_test=ct, models=tb.models,
                            prices={m: {"input_cost_per_m": p[0], "output_cost_per_m": p[1]}
                                    for m, p in zip(tb.models, tb.prices, strict=True)},
                            budgets=budgets, seeds=make_seeds(3000, 3), router_params={"alpha": 0.01},
                            pacer_params={"mode": "adaptive", "eta": 0.05, "ema": 0.05},
                            priors=(prior_models, a_off[::-1], b_off[::-1]), n_resamples=200)
    json.dumps(res)
    assert res["router_params"]["cost_penalty"] == 0.0
    assert len(res["per_budget"]) == 3
    for pb in res["per_budget"]:
        ps = pb["per_seed"]
        np.testing.assert_allclose(np.array(ps["utilisation"]), np.array(ps["mean_cost"]) / pb["budget"])
        assert len(ps["mean_reward"]) == 3
        assert pb["summary"]["mean_reward"]["ci_low"] <= pb["summary"]["mean_reward"]["mean"]
        assert len(pb["lambda_trajectory"]["test_step"]) == len(pb["lambda_trajectory"]["mean_lambda"])
    # the same numbers come out of the engine directly (priors mapped by model id)
    streams = warmup_test_streams(make_seeds(3000, 3), 150, 150)
    direct = simulate(np.vstack([fv, ft]), np.vstack([rv, rt]), np.vstack([cv, ct]), streams, tb.prices,
                      seeds=make_seeds(3000, 3), budget=budgets[1], cost_penalty=0.0, alpha=0.01,
                      priors=Priors(a_off, b_off))
    np.testing.assert_allclose(res["per_budget"][1]["per_seed"]["mean_reward"],
                               direct.reward[:, 150:].mean(1))


def test_reference_points(tb):
    ref = reference_points(tb.rewards, tb.costs, tb.models, [1, 2])
    assert ref["fixed"][tb.models[0]]["mean_reward"] == pytest.approx(tb.rewards[:, 0].mean())
    assert ref["oracle"]["mean_reward"] == pytest.approx(tb.rewards.max(1).mean())
    pick = np.random.default_rng(1).integers(3, size=N)
    assert ref["random"]["per_seed"]["mean_reward"][0] == pytest.approx(tb.rewards[np.arange(N), pick].mean())
    json.dumps(ref)


def test_align_priors_maps_by_model_id():
    a = np.stack([np.eye(3) * (i + 2) for i in range(2)])
    b = np.array([[1.0, 0, 0], [2.0, 0, 0]])
    pri = align_priors(["m1", "m0"], a, b, ["m0", "m1", "new"])
    np.testing.assert_array_equal(pri.a_off[0], a[1])
    np.testing.assert_array_equal(pri.a_off[1], a[0])
    np.testing.assert_array_equal(pri.mask, [True, True, False])


def test_bootstrap_ci_hand_values():
    # constant values: every resampled mean is 3 → (3, 3)
    assert bootstrap_ci([3.0, 3.0, 3.0], 500) == (3.0, 3.0)
    # {0, 1}: resampled means are 0, 0.5, 1 with probability 1/4, 1/2, 1/4; the 2.5 % and 97.5 %
    # percentiles of 500 draws are 0 and 1 (a quarter of the draws sit at each end)
    assert bootstrap_ci([0.0, 1.0], 500) == (0.0, 1.0)
    # 0..19: mean 9.5, bootstrap s.e. = sqrt((20² − 1)/12)/sqrt(20) = 5.766/4.472 = 1.289, so the
    # 95 % interval is about 9.5 ± 1.96·1.289 = (6.97, 12.03) (Monte Carlo s.d. of each end ≈ 0.15)
    v = np.arange(20.0)
    lo, hi = bootstrap_ci(v, 500)
    assert lo == pytest.approx(6.97, abs=0.6) and hi == pytest.approx(12.03, abs=0.6)
    assert bootstrap_ci(v, 500, seed=1) != (lo, hi)  # the seed drives the resampling


def test_router_config_defaults_follow_spec(tb):
    from paretobandit.experiments.budget_pacing import router_config

    cfg = router_config({"gamma": 0.99})
    assert cfg.forgetting_factor == 0.99 and cfg.cost_penalty == 0.0
    with pytest.raises(ConfigError):
        router_config({"nonsense": 1})
    assert isinstance(cfg, RouterConfig)


# ----------------------------------------------------------------------------------- internals
def test_final_A_equals_the_sequential_updates(tb):
    """The simulator's A (kept with deferred decay factors) equals g·A + xxᵀ applied step by step."""
    streams = _streams(2)
    res = simulate(tb.features, tb.rewards, tb.costs, streams, tb.prices, seeds=[0, 1], gamma=[0.99, 1.0],
                   alpha=0.1, budget=1e-3)
    cfg = RouterConfig()
    for s, gamma in enumerate([0.99, 1.0]):
        a = np.broadcast_to(np.eye(D), (3, D, D)).copy()
        rho = np.ones(3)
        last = np.zeros(3, dtype=int)
        for k in range(T):
            arm, x = res.arm[s, k], tb.features[streams[s, k]]
            if gamma < 1:
                g = gamma ** min(k + 1 - last[arm], cfg.staleness_cap)  # not the kernel's table
                a[arm] *= g
                rho[arm] *= g
                if rho[arm] < cfg.ridge_floor * cfg.ridge:
                    a[arm] += (cfg.ridge - rho[arm]) * np.eye(D)
                    rho[arm] = cfg.ridge
            last[arm] = k + 1
            a[arm] += np.outer(x, x)
        np.testing.assert_allclose(res.final["A"][s], a, rtol=1e-12, atol=1e-12)
    assert res.final["repairs"]["ridge_floor"] > 0


def test_out_of_range_rewards_are_clamped_like_the_router(tb):
    rewards = tb.rewards * 3.0 - 1.0            # values in [-1, 2]
    res = simulate(tb.features, rewards, tb.costs, _streams(2), tb.prices, seeds=[0, 1], alpha=0.3)
    np.testing.assert_array_equal(res.reward, np.clip(rewards[_streams(2), res.arm], 0.0, 1.0))


# ----------------------------------------------------------------------------------- step backends
needs_numba = pytest.mark.skipif(not numba_available(), reason="numba is not installed")


def _assert_backends_agree(a, b):
    np.testing.assert_array_equal(a.arm, b.arm)
    np.testing.assert_array_equal(a.forced, b.forced)
    for name in ("reward", "cost", "lam"):
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=0, atol=1e-12)
    for key in ("A", "ainv", "b", "theta", "rho", "lam", "cost_ema"):
        np.testing.assert_allclose(a.final[key], b.final[key], rtol=1e-12, atol=1e-9)
    for key in ("last_update", "last_played", "n_updates", "active", "price"):
        np.testing.assert_array_equal(a.final[key], b.final[key])
    assert a.final["repairs"] == b.final["repairs"] and a.final["t"] == b.final["t"]


@needs_numba
def test_compiled_equals_generic_with_every_event_and_repair(tb4):
    n_runs = 6
    a_off, b_off = tb4.priors(seed=4)
    pri = Priors(a_off, b_off, mask=[True, True, True, False])
    kw = dict(seeds=list(range(n_runs)), alpha=[0.0, 0.01, 0.1, 0.5, 0.05, 0.2],
              gamma=[0.99, 0.997, 1.0, 0.95, 0.995, 0.99], cost_penalty=[0.0, 0.3, 0.0, 0.0, 0.1, 0.0],
              budget=[1e-4, None, 3e-4, 1e-3, 5e-3, 3e-5],
              pacer_mode=["adaptive", "soft", "hard", "adaptive", "soft", "hard"], priors=pri,
              n_eff=[1163.9, None, 50.0, 1163.9, 10.0, None],
              config=RouterConfig(stability_interval=25, stability_trace=0.5),
              events=[Onboard(100, 3, n_forced=20, runs=[0, 1, 2]), Onboard(250, 3, n_forced=5, runs=[4]),
                      RewardTransform.constant(1, 100, 200, 0.5, runs=[1, 3]),
                      RewardTransform.shifted(0, 50, 350, -0.3), CostTransform(2, 120, 300, 10.0),
                      PriceChange(150, 2, 0.1, 0.1, runs=[4, 5]), PriceChange(300, 0, 3.0, 9.0)])
    streams = _streams(n_runs)
    ref = simulate(tb4.features, tb4.rewards, tb4.costs, streams, tb4.prices, compiled=False, **kw)
    fast = simulate(tb4.features, tb4.rewards, tb4.costs, streams, tb4.prices, compiled=True, **kw)
    _assert_backends_agree(ref, fast)
    assert ref.final["repairs"]["stability"] > 0 and ref.final["repairs"]["ridge_floor"] > 0
    assert fast.forced.any()


@needs_numba
def test_compiled_breaks_ties_with_the_run_generator():
    zero = synthetic_tables(N, D, 3, seed=2)
    streams = _streams(3)
    kw = dict(seeds=[5, 6, 7], alpha=0.0, cost_penalty=0.0, budget=[None, 1e-3, None],
              pacer_mode="hard")
    rewards = np.zeros_like(zero.rewards)
    ref = simulate(zero.features, rewards, zero.costs, streams, zero.prices, compiled=False, **kw)
    fast = simulate(zero.features, rewards, zero.costs, streams, zero.prices, compiled=True, **kw)
    _assert_backends_agree(ref, fast)
    assert len(np.unique(fast.arm[0])) == 3


@needs_numba
def test_compiled_steps_split_and_mid_run_changes(tb):
    streams = _streams(4)
    kw = dict(seeds=[0, 1, 2, 3], budget=[3e-4, None, 1e-3, 1e-4], gamma=[0.99, 1.0, 0.997, 0.99],
              events=[PriceChange(37, 2, 0.1, 0.1, runs=[0, 2])])
    sims = [BatchSimulator(tb.features, tb.rewards, tb.costs, streams, tb.prices, compiled=c, **kw)
            for c in (False, True)]
    for sim in sims:                    # step(), run(n) and a per-run λ_c change between runs (Exp 02)
        for _ in range(40):
            sim.step()
        sim.run(100)
        sim.lam_c[:] = [0.0, 0.3, 0.1, 0.0]
        sim.run()
    _assert_backends_agree(sims[0].result(), sims[1].result())
    one = simulate(tb.features, tb.rewards, tb.costs, streams, tb.prices, compiled=True, **kw)
    for backend in ("threads", "processes"):
        many = simulate(tb.features, tb.rewards, tb.costs, streams, tb.prices, compiled=True, n_jobs=2,
                        backend=backend, **kw)
        _assert_backends_agree(one, many)


def test_backend_selection(tb, monkeypatch):
    from paretobandit.sim import engine

    args = (tb.features, tb.rewards, tb.costs, _streams(1), tb.prices)
    assert not BatchSimulator(*args, seeds=[0], compiled=False).compiled
    assert BatchSimulator(*args, seeds=[0]).compiled == numba_available()
    with pytest.raises(ConfigError):
        BatchSimulator(*args, seeds=[0], compiled="yes")
    monkeypatch.setenv("PARETOBANDIT_SIM_NUMBA", "0")
    assert not BatchSimulator(*args, seeds=[0]).compiled
    monkeypatch.setattr(engine, "_compiled_module", lambda: None)      # numba not importable
    monkeypatch.delenv("PARETOBANDIT_SIM_NUMBA")
    assert not BatchSimulator(*args, seeds=[0]).compiled
    with pytest.raises(ConfigError):
        BatchSimulator(*args, seeds=[0], compiled=True)
