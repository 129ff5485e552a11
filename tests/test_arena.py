"""Router arena (paretobandit.arena): scenarios, the online loop, adapters, offline routers, metrics, runner.

Everything runs on small synthetic tables (tests/_helpers.py), except the adapters' library checks, which
skip when the optional library is not installed.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from _helpers import synthetic_split

from paretobandit.arena import (
    budget_pacing_scenario,
    fit_static_penalty,
    get_contenders,
    make_router,
    onboarding_scenario,
    phased_scenario,
    run_arena,
    run_online,
    summary_rows,
)
from paretobandit.arena.contenders import Contender
from paretobandit.arena.offline import KNNRouter, PortRouter, ThresholdRouter
from paretobandit.errors import ConfigError
from paretobandit.experiments.budget_pacing import router_config
from paretobandit.experiments.phased import three_phase_trial_streams
from paretobandit.sim import PacerParams, warmup_test_streams
from paretobandit.sim.reference import run_router

BUDGETS = {"tight": 3.0e-4, "loose": 2.0e-3}


@pytest.fixture(scope="module")
def tables():
    return synthetic_split(80, 60)


@pytest.fixture(scope="module")
def priors_path(tables, tmp_path_factory):
    from paretobandit.priors import save_priors

    models, a, b = tables[2]
    return save_priors(tmp_path_factory.mktemp("priors") / "priors.npz", models, a, b)


def _one_world(n: int, n_val: int):
    """Val and test rows of ONE synthetic table (same reward function), as (val, test, None)."""
    from paretobandit.sim.synthetic import SyntheticTables, synthetic_tables

    t = synthetic_tables(n, d=6, k=3, seed=4)

    def part(rows):
        return SyntheticTables(t.features[rows], t.rewards[rows], t.costs[rows], t.prices, t.models)

    return part(slice(0, n_val)), part(slice(n_val, None)), None


def _exp01(tables, n_seeds=2):
    val, test, _ = tables
    return budget_pacing_scenario(
        val, test, val.prices, [3000 + i for i in range(n_seeds)], budgets=[3e-4, 2e-3]
    )


def _exp03(tables, n_seeds=2):
    val, test, _ = tables
    return phased_scenario(
        "exp03",
        val,
        test,
        val.prices,
        [6000 + i for i in range(n_seeds)],
        BUDGETS,
        phase_length=20,
        degraded_model="arm1",
        degraded_reward=0.25,
    )


def _exp02(tables, n_seeds=2):
    val, test, _ = tables
    return phased_scenario(
        "exp02",
        val,
        test,
        val.prices,
        [8000 + i for i in range(n_seeds)],
        BUDGETS,
        phase_length=20,
        drift_model="arm2",
    )


# ------------------------------------------------------------------------------------------ scenarios
def test_scenarios_use_the_experiments_streams(tables):
    sc = _exp01(tables)
    assert np.array_equal(sc.streams, warmup_test_streams(sc.seeds, 80, 60))
    assert sc.phases == [("test", 80, 140)]
    ph = _exp03(tables)
    assert ph.streams.shape == (2, 80 + 60)
    assert [p[0] for p in ph.phases] == ["P1", "P2", "P3"]
    from paretobandit.sim import three_phase_prompts

    assert np.array_equal(
        ph.streams, three_phase_trial_streams(ph.seeds, 80, three_phase_prompts(60, 20, 42))
    )


def test_step_tables_apply_the_events(tables):
    ph = _exp03(tables)
    r, c, p = ph.step_tables(0)
    (_, a1, b1), (_, a2, b2), (_, a3, _) = ph.phases
    assert np.all(r[a2:b2, 1] == 0.25)
    rows = ph.streams[0]
    assert np.array_equal(r[a1:b1, 1], ph.rewards[rows[a1:b1], 1])
    assert np.array_equal(r[a3:, 1], ph.rewards[rows[a3:], 1])
    dr = _exp02(tables)
    r, c, p = dr.step_tables(0)
    (_, a1, b1), (_, a2, b2), (_, a3, _) = dr.phases
    rows = dr.streams[0]
    scale = 0.2 / 11.25
    assert np.allclose(c[a2:b2, 2], dr.costs[rows[a2:b2], 2] * scale)
    assert np.array_equal(c[a3:, 2], dr.costs[rows[a3:], 2])
    assert np.all(p[a2:b2, 2] == 0.10) and np.all(p[a3:, 2] == (1.25 + 10.0) / 2)


def test_unknown_phased_scenario_is_a_config_error(tables):
    val, test, _ = tables
    with pytest.raises(ConfigError):
        phased_scenario("exp09", val, test, val.prices, [1], BUDGETS)


# ------------------------------------------------------------------------------------------ loop
def test_online_loop_equals_the_reference_router_loop(tables, priors_path):
    """LinUCB + pacer through the arena loop = paretobandit.sim.reference.run_router (events included)."""
    sc = _exp02(tables)
    cfg = router_config({"alpha": 0.05})
    router = make_router(
        sc,
        seed=sc.seeds[1],
        config=cfg,
        budget=BUDGETS["tight"],
        pacer_params=PacerParams(),
        priors=priors_path,
    )
    out = run_online(sc, 1, router)
    ref = run_router(
        sc.feats,
        sc.rewards,
        sc.costs,
        sc.streams[1],
        sc.prices,
        sc.models,
        seed=sc.seeds[1],
        alpha=0.05,
        gamma=cfg.forgetting_factor,
        cost_penalty=0.0,
        budget=BUDGETS["tight"],
        priors_path=priors_path,
        events=sc.events,
        config=cfg,
    )
    assert np.array_equal(out["arm"], ref["arm"])
    assert np.array_equal(out["reward"], ref["reward"])
    assert np.array_equal(out["cost"], ref["cost"])
    assert (out["route_ns"] > 0).all() and (out["update_ns"] > 0).all()


# ------------------------------------------------------------------------------------------ adapters
def test_epsilon_greedy_plugin_learns_the_best_mean(tables):
    from paretobandit.arena.adapters.epsilon import EpsilonGreedy

    pol = EpsilonGreedy(4, 3, seed=0, epsilon=0.0)
    x = np.ones(4)
    for arm, r in ((0, 0.2), (1, 0.9), (2, 0.5)):
        pol.update(arm, x, r)
    scores, xx = pol.scores(x, 1, 0.0, [0.0, 0.0, 0.0])
    assert int(np.argmax(scores)) == 1 and xx == 4.0
    scores, _ = pol.scores(x, 2, 0.0, [0.0, 0.8, 0.0])  # the router's penalty moves the choice
    assert int(np.argmax(scores)) == 2
    pol.add_arm()
    assert pol.n_arms == 3 + 1 and pol.scores(x, 3, 0.0, [0.0] * 4)[0][3] == 1.0


def test_mabwiser_adapter_matches_the_public_api():
    mab = pytest.importorskip("mabwiser.mab")
    from paretobandit.arena.adapters.mabwiser import MabwiserLinUCB

    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 5))
    r = rng.random(40)
    ours = MabwiserLinUCB(5, 3, seed=1, alpha=0.3)
    ref = mab.MAB(arms=[0, 1, 2], learning_policy=mab.LearningPolicy.LinUCB(alpha=0.3), seed=1)
    ref.fit(decisions=[0], rewards=[0.0], contexts=np.zeros((1, 5)))
    for i in range(40):
        s, _ = ours.scores(x[i], i + 1, 0.0, [0.0, 0.0, 0.0])
        e = ref.predict_expectations(x[i : i + 1])
        assert np.allclose(s, [e[a] for a in range(3)], rtol=1e-10, atol=1e-12)
        arm = i % 3
        ours.update(arm, x[i], r[i])
        ref.partial_fit(decisions=[arm], rewards=[r[i]], contexts=x[i : i + 1])


@pytest.mark.parametrize(
    "name", ["river-linucb", "contextualbandits-linucb", "vw-squarecb", "mabwiser-lints"]
)
def test_library_adapters_learn_and_take_the_router_penalty(name):
    c = get_contenders([name])[0]
    if c.available() is not None:
        pytest.skip(c.available())
    pol = c.factory()(dimension=4, n_arms=2, config=None, seed=3)
    rng = np.random.default_rng(1)
    for _ in range(60):
        x = np.append(rng.normal(size=3), 1.0)
        s, _ = pol.scores(x, pol.t + 1, 0.0, [0.0, 0.0])
        pol.t += 1
        pol.update(0, x, 0.0)
        pol.update(1, x, 1.0)
    x = np.append(rng.normal(size=3), 1.0)
    picks = [int(np.argmax(pol.scores(x, 0, 0.0, [0.0, 0.0])[0])) for _ in range(20)]
    assert np.mean(picks) > 0.5  # arm 1 (reward 1) is preferred
    picks = [int(np.argmax(pol.scores(x, 0, 0.0, [0.0, 100.0])[0])) for _ in range(20)]
    assert picks == [0] * 20  # a large penalty on arm 1 moves every pick


def test_a_missing_library_is_reported_not_run(tables):
    ghost = Contender(
        "ghost-bandit",
        "library",
        "online",
        ("quality",),
        "mabwiser:MabwiserLinUCB",
        library="no_such_bandit_library_xyz",
    )
    assert "not installed" in ghost.available()
    out = run_arena(
        [_exp01(tables)],
        [ghost, *get_contenders(["uniform-random"])],
        config=router_config({}),
        pacer_params=PacerParams(),
        n_resamples=50,
    )
    rows = [r for r in out["rows"] if r["contender"] == "ghost-bandit"]
    assert len(rows) == 1 and rows[0]["note"].startswith("not run") and math.isnan(rows[0]["mean_reward"])
    assert out["unavailable"] == {"ghost-bandit": "no_such_bandit_library_xyz not installed"}
    with pytest.raises(ConfigError):
        get_contenders(["no-such-contender"])


# ------------------------------------------------------------------------------------------ offline
@pytest.mark.parametrize("cls", [ThresholdRouter, KNNRouter, PortRouter])
def test_offline_routers_route_one_equals_decide_and_budget_lowers_cost(tables, cls):
    val, test, _ = tables
    router = cls().fit(val.features, val.rewards, val.costs, val.prices)
    price = np.tile(val.prices.sum(axis=1) / 2, (test.features.shape[0], 1))
    rows = np.arange(test.features.shape[0])
    spent = []
    for budget in (None, 2e-3, 1e-4):
        router.calibrate(budget)
        if isinstance(router, PortRouter):
            router.fit_dual(test.features, price)
        arms = router.decide(test.features, price)
        assert [router.route_one(test.features[i], price[i]) for i in range(10)] == arms[:10].tolist()
        spent.append(test.costs[rows, arms].mean())
    assert spent[0] >= spent[1] >= spent[2]
    assert spent[2] < spent[0]


def test_threshold_router_without_budget_takes_the_best_prediction(tables):
    val, test, _ = tables
    router = ThresholdRouter().fit(val.features, val.rewards, val.costs, val.prices).calibrate(None)
    price = np.tile(val.prices.sum(axis=1) / 2, (test.features.shape[0], 1))
    assert np.array_equal(router.decide(test.features, price), (test.features @ router.w).argmax(axis=1))


def test_port_dual_price_reprices_with_the_registry(tables):
    val, test, _ = tables
    router = PortRouter(n_fit=30).fit(val.features, val.rewards, val.costs, val.prices).calibrate(5e-4)
    price = np.tile(val.prices.sum(axis=1) / 2, (test.features.shape[0], 1))
    mu = router.fit_dual(test.features, price)
    assert mu > 0
    cheap = price.copy()
    cheap[:, 2] /= 1000.0  # the dearest arm becomes nearly free
    assert (router.decide(test.features, cheap) == 2).mean() > (
        router.decide(test.features, price) == 2
    ).mean()


# ------------------------------------------------------------------------------------------ metrics
def test_fit_static_penalty_picks_the_closest_val_cost():
    costs = {0.0: 10.0, 0.1: 5.0, 0.3: 2.0, 1.0: 1.0}
    assert fit_static_penalty(costs, {"a": 4.0, "b": 1.4, "c": 100.0}) == {"a": 0.1, "b": 1.0, "c": 0.0}


def test_summary_rows_compute_the_columns(tables):
    sc = _exp03(tables, n_seeds=2)
    oracle = np.array([[1.0, 0.9, 1.0], [1.0, 0.8, 1.0]])
    res = {
        "contender": "x",
        "family": "library",
        "form": "paced",
        "budget": "tight",
        "runs": [0, 1],
        "reward": [[0.5, 0.6, 0.4], [0.7, 0.6, 0.7]],
        "cost": [[3.0e-4, 3.3e-4, 2e-4], [3.0e-4, 3.0e-4, 6e-4]],
        "route_ns": [1000.0, 3000.0],
        "update_ns": [500.0, 700.0],
    }
    rows = summary_rows(sc, res, oracle, n_resamples=100)
    assert [r["phase"] for r in rows] == ["P1", "P2", "P3"]
    p2, p3 = rows[1], rows[2]
    assert p2["mean_reward"] == pytest.approx(0.6)
    assert p2["cost_ratio"] == pytest.approx(3.15e-4 / 3e-4)
    assert p2["cost_ratio_worst_seed"] == pytest.approx(1.1)
    assert p2["violation_share"] == pytest.approx(0.5)  # 1.1 > 1.05, 1.0 is not
    assert p3["violation_share"] == pytest.approx(0.5) and p3["cost_ratio_worst_seed"] == pytest.approx(2.0)
    assert p2["regret"] == pytest.approx(((0.9 - 0.6) + (0.8 - 0.6)) / 2)
    assert p2["scenario_metric"] == pytest.approx((0.4 / 0.5 + 0.7 / 0.7) / 2)  # recovery ratio P3/P1
    assert p2["route_p50_us"] == pytest.approx(2.0) and p2["update_p50_us"] == pytest.approx(0.6)
    free = summary_rows(sc, dict(res, budget=None), oracle, n_resamples=100)
    assert [r["budget"] for r in free] == ["tight"] * 3 + ["loose"] * 3 + ["unconstrained"] * 3
    assert math.isnan(free[-1]["cost_ratio"]) and math.isnan(free[-1]["violation_share"])


# ------------------------------------------------------------------------------------------ runner
def test_arena_paretobandit_rows_equal_the_experiment_and_learners_beat_random(tables, priors_path):
    priors = priors_path
    scs = [_exp01(_one_world(600, 400)), _exp03(tables)]
    names = [
        "paretobandit",
        "epsilon-greedy",
        "knn",
        "routellm-threshold",
        "port",
        "uniform-random",
        "oracle",
        "fixed",
    ]
    out = run_arena(
        scs,
        get_contenders(names),
        config=router_config({"alpha": 0.05}),
        pacer_params=PacerParams(),
        priors=priors,
        results_root=None,
        n_resamples=50,
        timing_runs=1,
    )
    assert set(out["paretobandit_source"].values()) == {
        "budget_pacing function re-run",
        "quality_degradation function re-run",
    }
    assert max(out["replay_max_abs_diff"].values()) <= 1e-12
    rows = out["rows"]
    from paretobandit.experiments.budget_pacing import run_budget_pacing

    sc = scs[0]
    v, t = slice(0, sc.n_val), slice(sc.n_val, None)
    exp = run_budget_pacing(
        features_val=sc.feats[v],
        rewards_val=sc.rewards[v],
        costs_val=sc.costs[v],
        features_test=sc.feats[t],
        rewards_test=sc.rewards[t],
        costs_test=sc.costs[t],
        models=sc.models,
        prices=sc.prices,
        budgets=list(sc.budgets.values()),
        seeds=sc.seeds,
        router_params={"alpha": 0.05},
        priors=priors,
        n_resamples=10,
    )
    for label, pb in zip(sc.budgets, exp["per_budget"], strict=True):
        row = next(
            r
            for r in rows
            if r["contender"] == "paretobandit" and r["scenario"] == "exp01" and r["budget"] == label
        )
        assert row["mean_reward"] == pytest.approx(np.mean(pb["per_seed"]["mean_reward"]), abs=1e-15)
        assert row["cost_ratio"] == pytest.approx(
            np.mean(pb["per_seed"]["mean_cost"]) / pb["budget"], rel=1e-12
        )
    free = {
        r["contender"]: r["mean_reward"]
        for r in rows
        if r["scenario"] == "exp01" and r["budget"] == "unconstrained"
    }
    assert free["oracle"] >= max(free.values())
    for name in ("paretobandit (quality)", "epsilon-greedy", "knn", "routellm-threshold", "port"):
        assert free[name] > free["uniform-random"], name
    assert {r["phase"] for r in rows if r["scenario"] == "exp03"} == {"P1", "P2", "P3"}
    from paretobandit.workbench.report_arena import summarise_arena

    assert summarise_arena(out)["headlines"]["learning_beat_random_exp01"] == 1


def test_an_unreachable_budget_takes_the_cheapest_setting(tables):
    val, test, _ = tables
    router = ThresholdRouter().fit(val.features, val.rewards, val.costs, val.prices).calibrate(1e-12)
    assert router.setting == ThresholdRouter.grid[-1]
    price = np.tile(val.prices.sum(axis=1) / 2, (test.features.shape[0], 1))
    assert (router.decide(test.features, price) == 0).all()  # every query to the cheapest model


def test_onboarding_scenario_registers_forces_and_matches_the_experiment(tables, priors_path):
    from paretobandit.experiments.onboarding import Scenario as Onb
    from paretobandit.sim.synthetic import SyntheticTables, synthetic_tables

    t4 = synthetic_tables(140, d=6, k=4, seed=5)
    val = SyntheticTables(
        t4.features[:80], t4.rewards[:80, :3], t4.costs[:80, :3], t4.prices[:3], t4.models[:3]
    )
    test = SyntheticTables(t4.features[80:], t4.rewards[80:], t4.costs[80:], t4.prices, t4.models)
    sc = onboarding_scenario(
        val,
        test,
        t4.prices,
        [9000, 9001],
        BUDGETS,
        new_model="arm3",
        scenario=Onb("bad_cheap", reward_scale=0.5),
        n_forced=5,
        adoption={"window": 10, "threshold": 0.1, "sustain": 5},
    )
    assert sc.initial_arms == [0, 1, 2] and sc.onboarded == {3: 80}
    router = make_router(sc, seed=9000, config=router_config({}), priors=None)
    assert router.models == ["arm0", "arm1", "arm2"]
    out = run_online(sc, 0, router)
    assert (out["arm"][:80] != 3).all() and (out["arm"][80:85] == 3).all()
    r, _, _ = sc.step_tables(0)
    assert np.allclose(r[80:, 3], np.clip(0.5 * sc.rewards[sc.streams[0][80:], 3], 0, 1))
    names = ["paretobandit", "knn", "uniform-random", "oracle"]
    res = run_arena(
        [sc],
        get_contenders(names),
        config=router_config({}),
        pacer_params=PacerParams(),
        priors=priors_path,
        n_resamples=20,
    )
    assert res["paretobandit_source"] == {sc.name: "onboarding function re-run"}
    assert max(res["replay_max_abs_diff"].values()) <= 1e-12
    knn = [r for r in res["rows"] if r["contender"] == "knn"]
    assert all("cannot add a model at runtime" in r["note"] and math.isnan(r["scenario_metric"]) for r in knn)
