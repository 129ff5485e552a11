"""The plug-in API: protocols, the two worked examples in examples/, router ↔ simulator agreement,
Hydra selection, and that an equation changed in its one home changes the router and the simulator."""

from __future__ import annotations

import functools
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from paretobandit import BanditRouter, BudgetPacer, FeatureService
from paretobandit.errors import ConfigError, StateFileError
from paretobandit.plugins import Pacer, Policy
from paretobandit.policy import LinUCBPolicy
from paretobandit.sim import Onboard, PriceChange, RewardTransform, simulate
from paretobandit.sim.synthetic import synthetic_tables

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from examples.pi_pacer import PIPacer  # noqa: E402
from examples.thompson_policy import ThompsonPolicy  # noqa: E402

T = 400


@pytest.fixture(scope="module")
def world():
    tb = synthetic_tables(n=300, d=8, k=4, seed=11)
    stream = np.random.default_rng(5).integers(0, 300, T)
    events = [Onboard(step=100, arm=3, n_forced=5), PriceChange(step=200, arm=1, input_cost_per_m=0.05,
                                                                 output_cost_per_m=0.1),
              RewardTransform.constant(arm=0, start=250, stop=350, value=0.2)]
    return tb, stream, events


def _router_loop(tb, stream, events, *, seed, budget, policy=None, pacer=None):
    """The operator's loop, written out: register / reprice at the event steps, route, feed back."""
    names = [f"arm{j}" for j in range(tb.rewards.shape[1])]
    registry = {n: {"input_cost_per_m": float(p[0]), "output_cost_per_m": float(p[1])}
                for n, p in zip(names[:3], tb.prices[:3], strict=True)}
    fs = FeatureService.for_precomputed(tb.features.shape[1] - 1)
    router = BanditRouter.create(registry, fs, priors="none", seed=seed, budget=budget, pacer=pacer,
                                 policy=policy)
    arms, lams, forced = [], [], 0
    for k, i in enumerate(stream):
        if k == 100:
            router.register_model("arm3", float(tb.prices[3, 0]), float(tb.prices[3, 1]))
            forced = 5
        if k == 200:
            router.update_model_pricing("arm1", 0.05, 0.1)
        model, log = router.route(tb.features[i, :-1], force_model="arm3" if forced else None)
        forced = max(forced - 1, 0)
        j = names.index(model)
        r = 0.2 if j == 0 and 250 <= k < 350 else float(np.clip(tb.rewards[i, j], 0, 1))
        router.process_feedback(log.request_id, r, float(tb.costs[i, j]))
        arms.append(j)
        lams.append(log.pacer_lambda)
    return np.array(arms), np.array(lams), router


@pytest.mark.parametrize("policy,pacer", [(None, PIPacer), (ThompsonPolicy, None),
                                          (functools.partial(ThompsonPolicy, v=0.2), PIPacer)])
def test_examples_decide_identically_in_router_and_simulator(world, policy, pacer):
    tb, stream, events = world
    budget = 2e-4
    arms, lams, _ = _router_loop(tb, stream, events, seed=7, budget=budget, policy=policy, pacer=pacer)
    res = simulate(tb.features, tb.rewards, tb.costs, stream, tb.prices, seeds=[7], budget=budget,
                   events=events, policy=policy, pacer=pacer)
    np.testing.assert_array_equal(res.arm[0], arms)
    np.testing.assert_array_equal(res.lam[0], lams)
    assert len(np.unique(arms)) > 1 and (lams > 0).any()


def test_examples_follow_the_protocols_and_round_trip():
    pacer = PIPacer(0.01, kp=0.5, ki=0.1, ema_alpha=1.0)
    assert isinstance(pacer, Pacer) and isinstance(ThompsonPolicy(4, 2, seed=0), Policy)
    # e = 0.02/0.01 − 1 = 1; integral 1; λ = 0.5·1 + 0.1·1 = 0.6
    assert pacer.update(0.02) == pytest.approx(0.6)
    # the ceiling at λ = 0.6: limit 1.0/1.6 = 0.625 keeps the arms priced 0.1 and 0.6
    assert pacer.eligible([0.1, 0.6, 1.0], 1.0) == [True, True, False]
    # spending 0 now: e = −1, the integral is clamped at 0 and λ at 0
    pacer.update(0.0)
    assert pacer.integral == 0.0 and pacer.lambda_ == 0.0 and pacer.eligible([0.1, 1.0], 1.0) is None
    clone = PIPacer.from_state(pacer.state_dict())
    assert clone.state_dict() == pacer.state_dict()
    with pytest.raises(StateFileError):
        PIPacer.from_state({**pacer.state_dict(), "lambda": -1.0})
    with pytest.raises(ConfigError):
        PIPacer(0.0)
    pol = ThompsonPolicy(4, 2, seed=3, v=0.5)
    x = np.array([0.1, -0.2, 0.3, 1.0])
    pol.update(1, x, 0.9)
    pol.add_arm()
    state = pol.state_dict()
    again = ThompsonPolicy.from_state(state)
    assert again.scores(x, 1, 1.0, [0.0] * 3) == pol.scores(x, 1, 1.0, [0.0] * 3)   # same draws
    # posterior mean after one update of a cold arm: θ = (I + xxᵀ)⁻¹·0.9x = 0.9x/(1 + |x|²)
    np.testing.assert_allclose(pol.theta[1], 0.9 * x / (1 + x @ x), atol=1e-12)
    bad = {**state, "arrays": {**state["arrays"], "b": np.full((3, 4), np.nan)}}
    with pytest.raises(StateFileError):
        ThompsonPolicy.from_state(bad)


def test_router_rejects_what_is_not_a_plug_in():
    with pytest.raises(ConfigError):
        BanditRouter.create(priors="none", policy=42)
    with pytest.raises(ConfigError):
        BanditRouter.create(priors="none", pacer=PIPacer)          # a factory needs a budget
    with pytest.raises(ConfigError):
        BanditRouter.create(priors="none", budget=1e-3, pacer=lambda budget: object())
    with pytest.raises(ConfigError):
        BanditRouter.create(priors="none", budget=1e-3, pacer=PIPacer(2e-3))   # contradicting budgets
    with pytest.raises(ConfigError):
        simulate(np.ones((3, 2)), np.ones((3, 2)), np.ones((3, 2)), [0, 1], [[1, 1], [2, 2]], seeds=[0],
                 policy=ThompsonPolicy, compiled=True)


def test_builtins_are_plug_ins_and_keep_the_compiled_path(world):
    tb, stream, _ = world
    assert isinstance(BudgetPacer(1e-3), Pacer)
    kw = dict(seeds=[1], budget=2e-4)
    base = simulate(tb.features[:, :], tb.rewards, tb.costs, stream, tb.prices, **kw)
    as_plugins = simulate(tb.features, tb.rewards, tb.costs, stream, tb.prices, policy=LinUCBPolicy,
                          pacer=functools.partial(BudgetPacer, mode="adaptive"), **kw)
    np.testing.assert_array_equal(base.arm, as_plugins.arm)


ONE_LINE = textwrap.dedent("""
    import numpy as np
    from paretobandit import BanditRouter, FeatureService
    from paretobandit.sim import simulate
    from paretobandit.sim.synthetic import synthetic_tables
    tb = synthetic_tables(n=200, d=6, k=3, seed=2)
    stream = np.arange(300) % 200
    names = ["arm0", "arm1", "arm2"]
    reg = {n: {"input_cost_per_m": float(p[0]), "output_cost_per_m": float(p[1])}
           for n, p in zip(names, tb.prices)}
    budget = 1.1 * float(tb.costs.mean(axis=0).min())
    router = BanditRouter.create(reg, FeatureService.for_precomputed(5), priors="none", seed=0, budget=budget)
    lam = []
    for i in stream:
        m, log = router.route(tb.features[i, :-1])
        j = names.index(m)
        router.process_feedback(log.request_id, float(tb.rewards[i, j]), float(tb.costs[i, j]))
        lam.append(log.pacer_lambda)
    res = simulate(tb.features, tb.rewards, tb.costs, stream, tb.prices, seeds=[0], budget=budget,
                   compiled=True)
    assert np.array_equal(res.lam[0], lam), "router and compiled simulator disagree"
    assert max(lam) > 0
    print(repr(float(res.lam[0].sum())))
""")


def test_a_one_line_change_in_kernels_changes_router_and_simulator(tmp_path):
    """Edit the pacer step in kernels.py of a copy of the package: the router and the compiled simulator
    (whose cached binary must be invalidated) both follow, and still agree with each other."""
    pytest.importorskip("numba")

    def run(pkg_root: Path) -> float:
        out = subprocess.run([sys.executable, "-c", ONE_LINE], cwd=pkg_root, capture_output=True, text=True,
                             env={"PYTHONPATH": str(pkg_root), "PATH": "/usr/bin:/bin"}, timeout=600)
        assert out.returncode == 0, out.stderr[-2000:]
        return float(out.stdout.split()[-1])

    copy = tmp_path / "pkg"
    shutil.copytree(ROOT / "paretobandit", copy / "paretobandit",
                    ignore=shutil.ignore_patterns("*.nbi", "*.nbc", "resources"))
    before = run(copy)
    kernels = copy / "paretobandit" / "kernels.py"
    src = kernels.read_text()
    line = "    new_lam = min(lam_cap, max(0.0, lam + eta * (new_ema / budget - 1.0)))"
    assert line in src
    kernels.write_text(src.replace(line, line.replace("eta *", "2.0 * eta *")))
    after = run(copy)
    assert after != before


def test_a_plug_in_pacer_survives_save_and_load_only_with_its_class(tmp_path):
    router = BanditRouter.create(priors="none", seed=3, budget=2e-4, pacer=PIPacer)
    for _ in range(30):
        model, log = router.route(np.full(25, 0.1))
        router.process_feedback(log.request_id, 0.5, 1e-3)
    path = router.save(tmp_path / "r")
    with pytest.raises(StateFileError, match="PIPacer"):
        BanditRouter.load(path)                                   # the default class is BudgetPacer
    again = BanditRouter.load(path, pacer_class=PIPacer)
    assert again.pacer.state_dict() == router.pacer.state_dict() and again.pacer.lambda_ > 0
    assert again.route(np.full(25, 0.1))[0] == router.route(np.full(25, 0.1))[0]
    with pytest.raises(ConfigError, match="ThompsonPolicy"):
        BanditRouter.create(priors="none", policy=ThompsonPolicy).save(tmp_path / "t")
