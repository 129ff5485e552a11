"""BanditRouter: public API, and equality with a literal ALGORITHM.md reference built on kernels."""

from __future__ import annotations

import logging
import threading

import numpy as np
import pytest

from paretobandit import BanditRouter, BudgetPacer, FeatureService, PacingMode, RouterConfig
from paretobandit.errors import BudgetExceededError, UnknownModelError
from paretobandit.registry import DEFAULT_PORTFOLIO


def make_router(**kw):
    kw.setdefault("priors", "none")
    kw.setdefault("seed", 0)
    return BanditRouter.create(**kw)


class Reference:
    """ALGORITHM.md, line by line, in plain NumPy: independent of :mod:`paretobandit.kernels` (no shared
    formula), with ``A⁻¹`` re-inverted from ``A`` after every update instead of Sherman–Morrison."""

    TIE = 1e-12  # docs/ALGORITHM.md: scores within 1e-12 of the best are ties

    def __init__(self, prices, d, cfg: RouterConfig, budget, seed):
        self.names = list(prices)
        k = len(prices)
        self.inp = np.array([p["input_cost_per_m"] for p in prices.values()])
        self.out = np.array([p["output_cost_per_m"] for p in prices.values()])
        self.price = (self.inp + self.out) / 2 / 1000  # $ per 1k tokens
        lo, hi = cfg.cost_floor, cfg.cost_ceil
        self.ncost = np.clip(np.log(np.maximum(self.price, lo) / lo) / np.log(hi / lo), 0.0, 1.0)
        self.cfg = cfg
        self.A = np.broadcast_to(cfg.ridge * np.eye(d), (k, d, d)).copy()
        self.b = np.zeros((k, d))
        self.ainv = np.linalg.inv(self.A)
        self.theta = np.zeros((k, d))
        self.rho = np.full(k, cfg.ridge)
        self.lu = np.zeros(k, dtype=int)
        self.lp = np.zeros(k, dtype=int)
        self.n = np.zeros(k, dtype=int)
        self.t = 0
        self.lam, self.ema, self.budget = 0.0, budget, budget
        self.rng = np.random.default_rng(seed)

    def route(self, x):
        c = self.cfg
        self.t += 1
        dt = self.t - np.maximum(self.lu, self.lp)
        g = c.forgetting_factor ** np.minimum(dt, c.staleness_cap).astype(float)
        infl = np.where(dt > 0, 1.0 / np.maximum(g, 1.0 / c.v_max), 1.0)
        w = c.cost_penalty + (self.lam if self.budget is not None else 0.0)
        var = np.einsum("kij,i,j->k", self.ainv, x, x)
        s = self.theta @ x + c.alpha * np.sqrt(np.maximum(var * infl, 0.0)) - w * self.ncost
        elig = np.ones(len(s), bool)
        if self.budget is not None and self.lam > 0:
            elig = self.price <= self.price.max() / (1.0 + self.lam)
            if not elig.any():
                elig[:] = True
        ties = np.flatnonzero(elig & (s >= s[elig].max() - self.TIE))
        i = int(ties[0]) if len(ties) == 1 else int(ties[self.rng.integers(len(ties))])
        self.lp[i] = self.t
        return i, s

    def feedback(self, i, x, r, cost):
        c = self.cfg
        big_t = self.t
        eye = np.eye(len(x))
        if c.forgetting_factor < 1:
            g = c.forgetting_factor ** min(big_t - self.lu[i], c.staleness_cap)
            self.A[i] *= g
            self.b[i] *= g
            self.rho[i] *= g
            if self.rho[i] < c.ridge_floor * c.ridge:
                self.A[i] += (c.ridge - self.rho[i]) * eye
                self.rho[i] = c.ridge
        self.lu[i] = big_t
        self.A[i] += np.outer(x, x)
        self.b[i] += r * x
        self.n[i] += 1
        self.ainv[i] = np.linalg.inv(self.A[i])
        if self.n[i] % c.stability_interval == 0 and np.trace(self.ainv[i]) > c.stability_trace:
            self.A[i] += c.ridge * eye
            self.ainv[i] = np.linalg.inv(self.A[i])
        self.theta[i] = self.ainv[i] @ self.b[i]
        if self.budget is not None:
            self.ema = 0.95 * self.ema + 0.05 * cost  # η = a = 0.05, cap 5 (pacer defaults)
            self.lam = min(5.0, max(0.0, self.lam + 0.05 * (self.ema / self.budget - 1.0)))


@pytest.mark.parametrize(
    "budget,cost_penalty,alpha", [(None, 0.0, 0.05), (0.002, 0.0, 0.01), (0.001, 0.3, 0.5)]
)
def test_router_equals_literal_reference(budget, cost_penalty, alpha):
    d = 6
    cfg = RouterConfig(alpha=alpha, cost_penalty=cost_penalty, forgetting_factor=0.99)
    router = BanditRouter.create(
        feature_service=FeatureService.for_precomputed(d - 1),
        priors="none",
        budget=budget,
        seed=3,
        config=cfg,
    )
    ref = Reference(DEFAULT_PORTFOLIO, d, cfg, budget, seed=3)
    rng = np.random.default_rng(7)
    quality = np.array([0.4, 0.6, 0.9])
    pending = []
    for step in range(800):
        v = rng.normal(size=d - 1)
        x = np.append(v, 1.0)
        model, log = router.route(v)
        i, s = ref.route(x)
        assert model == ref.names[i], f"step {step}"
        np.testing.assert_allclose([log.scores[n] for n in ref.names], s, rtol=0, atol=1e-9)
        assert log.t == ref.t and log.pacer_lambda == pytest.approx(ref.lam, abs=1e-12)
        pending.append((log, i, x))
        if step % 3 != 1:  # delayed, batched feedback
            for lg, j, xx in pending:
                r = float(np.clip(quality[j] + 0.1 * rng.normal(), 0, 1))
                cost = lg.cost_usd * rng.uniform(0.5, 1.5)
                router.process_feedback(lg.request_id, r, cost=cost)
                ref.feedback(j, xx, r, cost)
            pending.clear()
    for j, name in enumerate(ref.names):
        st = router.arm_state(name)
        np.testing.assert_allclose(st["theta"], ref.theta[j], atol=1e-9)
        np.testing.assert_allclose(st["A_inv"], ref.ainv[j], atol=1e-9)
        assert st["last_update"] == ref.lu[j] and st["last_played"] == ref.lp[j]
    if budget is not None:
        assert router.pacer.lambda_ == pytest.approx(ref.lam, abs=1e-12)


def test_many_arms_array_path_equals_literal_reference():
    d, k = 5, 20
    prices = {
        f"m{i}": {"input_cost_per_m": 0.1 * (i + 1), "output_cost_per_m": 0.2 * (i + 1)} for i in range(k)
    }
    cfg = RouterConfig(alpha=0.3, cost_penalty=0.1, forgetting_factor=0.95)
    router = BanditRouter.create(
        model_registry=prices,
        feature_service=FeatureService.for_precomputed(d - 1),
        priors="none",
        budget=0.001,
        seed=1,
        config=cfg,
    )
    ref = Reference(prices, d, cfg, 0.001, seed=1)
    rng = np.random.default_rng(2)
    for step in range(600):
        v = rng.normal(size=d - 1)
        x = np.append(v, 1.0)
        model, log = router.route(v)
        i, s = ref.route(x)
        assert model == ref.names[i], f"step {step}"
        np.testing.assert_allclose([log.scores[n] for n in ref.names], s, rtol=0, atol=1e-9)
        r = float(rng.random())
        router.process_feedback(log.request_id, r, cost=log.cost_usd)
        ref.feedback(i, x, r, log.cost_usd)


def test_defaults_and_log_fields():
    router = make_router()
    assert router.models == list(DEFAULT_PORTFOLIO)
    assert router.dimension == 26 and router.t == 0 and router.pacer is None
    assert router.config.alpha == 0.01 and router.config.forgetting_factor == 0.997
    model, log = router.route(np.zeros(25))
    assert model == log.model and model in router.models
    assert set(log.scores) == set(router.models) and log.eligible == router.models
    assert log.t == 1 and router.t == 1 and log.pacer_lambda == 0.0
    spec = DEFAULT_PORTFOLIO[model]
    assert log.cost_usd == pytest.approx(spec["output_cost_per_m"] * 600 / 1e6)
    router.process_feedback(log.request_id, reward=0.85)
    assert router.arm_state(model)["n_updates"] == 1


def test_request_ids_unique():
    router = make_router()
    ids = {router.route(np.ones(25))[1].request_id for _ in range(500)}
    assert len(ids) == 500


def test_prompt_cost_estimate_uses_tokens():
    class Text:
        dimension = 3

        def extract(self, p):
            return np.array([len(p) / 100, 0.0, 1.0])

        def describe(self):
            return {"kind": "test"}

    router = make_router(feature_service=Text())
    model, log = router.route("a b c d e f g h i j")  # 10 words -> 13 tokens
    spec = DEFAULT_PORTFOLIO[model]
    assert log.cost_usd == pytest.approx(
        (spec["input_cost_per_m"] * 13 + spec["output_cost_per_m"] * 600) / 1e6
    )


def test_feedback_cost_defaults_to_estimate():
    router = make_router(budget=0.001)
    model, log = router.route(np.zeros(25))
    router.process_feedback(log.request_id, 0.5)
    assert router.pacer.cost_ema == pytest.approx(0.95 * 0.001 + 0.05 * log.cost_usd)


def test_max_cost_filters_and_raises():
    router = make_router()
    _, log = router.route(np.zeros(25), max_cost=1e-4)  # only llama (6e-5) fits
    assert log.model == "meta-llama/llama-3.1-8b-instruct" and log.eligible == [log.model]
    t = router.t
    with pytest.raises(BudgetExceededError) as err:
        router.route(np.zeros(25), max_cost=1e-6)
    assert set(err.value.estimates) == set(router.models)
    assert "google/gemini-2.5-pro" in str(err.value)
    assert router.t == t


def test_pacer_ceiling_limits_eligibility():
    pacer = BudgetPacer(0.001)
    router = make_router(budget=pacer)
    pacer.lambda_ = 1.0  # ceiling p_max/2: gemini (5.6e-3 $/1k) is excluded
    _, log = router.route(np.zeros(25))
    assert "google/gemini-2.5-pro" not in log.eligible and log.pacer_lambda == 1.0
    soft = make_router(budget=BudgetPacer(0.001, mode=PacingMode.SOFT))
    soft.pacer.lambda_ = 1.0
    assert soft.route(np.zeros(25))[1].eligible == soft.models


def test_force_model_is_a_forced_pull():
    router = make_router()
    model, log = router.route(np.zeros(25), force_model="google/gemini-2.5-pro")
    assert model == "google/gemini-2.5-pro" and log.scores == {} and router.t == 1
    assert router.arm_state(model)["last_played"] == 1
    with pytest.raises(UnknownModelError):
        router.route(np.zeros(25), force_model="nope")


def test_hot_swap_register_reprice_remove():
    router = make_router()
    for _ in range(5):
        router.route(np.zeros(25))
    router.register_model("gemini-2.0-flash", input_cost_per_m=0.10, output_cost_per_m=0.40, speed="fast")
    st = router.arm_state("gemini-2.0-flash")
    assert st["last_update"] == 5 and st["last_played"] == 5 and st["metadata"] == {"speed": "fast"}
    np.testing.assert_array_equal(st["A"], np.eye(26))
    # (0.10 + 0.40)/2/1000 = 2.5e-4 $/1k: c̃ = log10(2.5e-4 / 1e-4) / 3 = log10(2.5) / 3 = 0.1326466
    assert st["normalised_cost"] == pytest.approx(0.1326466, abs=1e-7)
    router.update_model_pricing("gemini-2.0-flash", input_cost_per_m=0.05, output_cost_per_m=0.20)
    assert router.arm_state("gemini-2.0-flash")["blended_per_1k"] == pytest.approx(0.125 / 1000)
    router.register_model("blend", blended=2.0)
    assert router.arm_state("blend")["input_cost_per_m"] == 2.0
    model, log = router.route(np.zeros(25), force_model="gemini-2.0-flash")
    router.remove_model("gemini-2.0-flash")
    assert "gemini-2.0-flash" not in router.models
    with pytest.raises(UnknownModelError):
        router.process_feedback(log.request_id, 0.5)
    router.route(np.zeros(25))


def test_exploit_is_greedy_for_calling_thread_only():
    router = make_router(alpha=5.0, cost_penalty=0.0)
    router._policy.theta[:, -1] = [
        0.5,
        0.4,
        0.3,
    ]  # (theta is the live view)   # llama best on mean; bonus equal for all
    seen = {}

    def other():
        seen["scores"] = router.route(np.zeros(25))[1].scores

    with router.exploit():
        _, log = router.route(np.zeros(25))
        th = threading.Thread(target=other)
        th.start()
        th.join()
    assert log.scores["meta-llama/llama-3.1-8b-instruct"] == pytest.approx(0.5)
    assert seen["scores"]["meta-llama/llama-3.1-8b-instruct"] > 1.0
    assert router.route(np.zeros(25))[1].scores["meta-llama/llama-3.1-8b-instruct"] > 1.0


def test_ties_broken_uniformly_with_seeded_rng():
    counts = np.zeros(3)
    for seed in range(300):
        router = make_router(cost_penalty=0.0, seed=seed)
        counts[router.models.index(router.route(np.zeros(25))[0])] += 1
    assert counts.min() > 70
    a = [make_router(cost_penalty=0.0, seed=5).route(np.zeros(25))[0] for _ in range(3)]
    assert len(set(a)) == 1


def test_reward_clamped_and_logged_once(caplog):
    router = make_router()
    with caplog.at_level(logging.WARNING, logger="paretobandit.router"):
        for r in (1.7, -3.0):
            _, log = router.route(np.zeros(25), force_model="google/gemini-2.5-pro")
            router.process_feedback(log.request_id, r)
    assert sum("clamped" in m for m in caplog.messages) == 1
    st = router.arm_state("google/gemini-2.5-pro")
    x = np.append(np.zeros(25), 1.0)
    np.testing.assert_allclose(st["b"], (1.0 * 0.997**1 + 0.0) * x)


def test_config_and_kwargs():
    router = make_router(config=RouterConfig(alpha=0.2, ridge=2.0), forgetting_factor=0.99)
    assert (
        router.config.alpha == 0.2 and router.config.ridge == 2.0 and router.config.forgetting_factor == 0.99
    )


def test_repr_and_html():
    router = make_router(budget=0.002)
    router.route(np.zeros(25))
    text = repr(router)
    for name in router.models:
        assert name in text
    assert "λ" in text and "norm. cost" in text
    html = router._repr_html_()
    assert html.count("<tr>") == 4 and "google/gemini-2.5-pro" in html


def test_budget_pacing_converges_when_expensive_arm_is_best():
    budget = 0.002
    router = make_router(budget=budget, cost_penalty=0.0, alpha=0.01)
    rng = np.random.default_rng(11)
    quality = {
        "meta-llama/llama-3.1-8b-instruct": 0.5,
        "mistralai/mistral-large-2512": 0.7,
        "google/gemini-2.5-pro": 0.95,
    }
    costs = []
    n = 5000
    for _ in range(n):
        model, log = router.route(rng.normal(size=25) * 0.3)
        router.process_feedback(log.request_id, quality[model] + 0.05 * rng.normal(), cost=log.cost_usd)
        costs.append(log.cost_usd)
    costs = np.array(costs)
    assert costs[: n // 10].mean() > costs[-n // 2 :].mean() or costs.mean() <= budget
    assert costs[-3000:].mean() <= budget * 1.01
    assert 0.0 <= router.pacer.lambda_ <= 5.0
    assert np.mean(np.array(costs) > 0.005) > 0.05  # the best (expensive) arm is still used


@pytest.mark.realdata
def test_auto_priors_realdata(monkeypatch):
    from paretobandit import priors as priors_mod

    path = priors_mod.default_priors_path()
    if path is None:
        pytest.skip("priors_k3_d26.npz not available (run the data step)")
    router = BanditRouter.create(priors="auto", seed=0)
    assert router.prior_info["source"] == str(path) and router.prior_info["cold"] == []
    models, a, b, _ = priors_mod.load_priors(path, 1163.9)
    j = models.index("google/gemini-2.5-pro")
    np.testing.assert_allclose(router.arm_state("google/gemini-2.5-pro")["A"], a[j])
    warm = BanditRouter.create(priors="warmup", seed=0)
    np.testing.assert_array_equal(warm.arm_state("google/gemini-2.5-pro")["b"], b[j])


def test_feedback_for_removed_then_reregistered_model_is_rejected():
    router = make_router()
    router.register_model("x", blended=0.1)
    _, log = router.route(np.ones(25), force_model="x")
    router.remove_model("x")
    router.register_model("x", blended=0.1)
    with pytest.raises(UnknownModelError):
        router.process_feedback(log.request_id, 0.9)
    assert router.arm_state("x")["n_updates"] == 0
    _, log2 = router.route(np.ones(25), force_model="x")
    router.process_feedback(log2.request_id, 0.9)
    assert router.arm_state("x")["n_updates"] == 1
