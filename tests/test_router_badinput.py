"""Bad input of every kind → typed error naming the problem, full serialised state bit-identical."""

from __future__ import annotations

import json

import numpy as np
import pytest

from paretobandit import BanditRouter, RouterConfig
from paretobandit.errors import (
    BudgetExceededError,
    ConfigError,
    DataError,
    DimensionMismatchError,
    DuplicateFeedbackError,
    DuplicateModelError,
    InvalidInputError,
    ParetoBanditError,
    RegistryError,
    StateFileError,
    UnknownModelError,
    UnknownRequestError,
)
from paretobandit.persistence import snapshot_files


def snapshot(router) -> tuple[str, dict]:
    state = router.state_dict()
    return json.dumps(state["meta"], sort_keys=True), {k: v.tobytes() for k, v in state["arrays"].items()}


@pytest.fixture
def router():
    r = BanditRouter.create(priors="none", budget=0.002, seed=1)
    rng = np.random.default_rng(0)
    for _ in range(30):
        _, log = r.route(rng.normal(size=25))
        r.process_feedback(log.request_id, float(rng.random()))
    r._pending_log = r.route(rng.normal(size=25))[1]  # one context awaiting feedback
    _, done = r.route(rng.normal(size=25))
    r.process_feedback(done.request_id, 0.3)
    r._done_log = done
    return r


def rejects(router, exc, fn, *args, match=None, **kw):
    before = snapshot(router)
    with pytest.raises(exc, match=match) as info:
        fn(*args, **kw)
    assert isinstance(info.value, ParetoBanditError)
    assert snapshot(router) == before, "state changed by a rejected call"
    return info.value


BAD_VECTORS = [
    (np.full(25, np.nan), InvalidInputError, "NaN"),
    (np.r_[np.ones(24), np.inf], InvalidInputError, "NaN or Inf"),
    (np.ones(24), DimensionMismatchError, "length"),
    (np.ones((5, 5)), DimensionMismatchError, "1-D"),
    (np.array(["a"] * 25, dtype=object), InvalidInputError, "numeric"),
    (None, InvalidInputError, "None"),
    ("", InvalidInputError, None),
    ("   ", InvalidInputError, None),
    ("a prompt", InvalidInputError, "precomputed"),
]


@pytest.mark.parametrize("vec,exc,match", BAD_VECTORS)
def test_bad_vectors(router, vec, exc, match):
    rejects(router, exc, router.route, vec, match=match)


def test_empty_prompt_with_text_service():
    from paretobandit import FeatureService

    class Enc:
        def __call__(self, texts):
            return np.ones((len(texts), 4))

    fs = FeatureService(custom_encoder=Enc(), embedding_dim=4, pca_path=False)
    r = BanditRouter.create(feature_service=fs, priors="none")
    for bad in ("", "  \n\t"):
        rejects(r, InvalidInputError, r.route, bad)


@pytest.mark.parametrize("max_cost", [0, -1.0, float("nan"), float("inf"), "cheap", True])
def test_bad_max_cost(router, max_cost):
    rejects(router, InvalidInputError, router.route, np.zeros(25), max_cost=max_cost, match="max_cost")


def test_max_cost_nothing_fits(router):
    rejects(router, BudgetExceededError, router.route, np.zeros(25), max_cost=1e-9, match="estimated cost")


def test_bad_force_model(router):
    rejects(router, UnknownModelError, router.route, np.zeros(25), force_model="nope")


def test_unknown_and_duplicate_feedback(router):
    rejects(router, UnknownRequestError, router.process_feedback, "never-routed", 0.5)
    rejects(router, DuplicateFeedbackError, router.process_feedback, router._done_log.request_id, 0.5)
    rejects(router, InvalidInputError, router.process_feedback, 12, 0.5)


@pytest.mark.parametrize("reward", [float("nan"), float("inf"), -float("inf"), "0.5", None, [0.5], True])
def test_bad_rewards(router, reward):
    rejects(
        router,
        InvalidInputError,
        router.process_feedback,
        router._pending_log.request_id,
        reward,
        match="reward",
    )


@pytest.mark.parametrize("cost", [-0.1, float("nan"), float("inf"), "1"])
def test_bad_costs(router, cost):
    rejects(
        router,
        InvalidInputError,
        router.process_feedback,
        router._pending_log.request_id,
        0.5,
        cost=cost,
        match="cost",
    )


def test_pending_feedback_still_applies_after_rejections(router):
    rejects(router, InvalidInputError, router.process_feedback, router._pending_log.request_id, float("nan"))
    router.process_feedback(router._pending_log.request_id, 0.5)
    rejects(router, DuplicateFeedbackError, router.process_feedback, router._pending_log.request_id, 0.5)


@pytest.mark.parametrize(
    "prices,exc",
    [
        ({"input_cost_per_m": -1.0, "output_cost_per_m": 1.0}, InvalidInputError),
        ({"input_cost_per_m": float("nan"), "output_cost_per_m": 1.0}, InvalidInputError),
        ({"input_cost_per_m": 1.0, "output_cost_per_m": float("inf")}, InvalidInputError),
        ({"input_cost_per_m": "1", "output_cost_per_m": 1.0}, InvalidInputError),
        ({"blended": -2.0}, InvalidInputError),
        ({}, ConfigError),
        ({"input_cost_per_m": 1.0}, ConfigError),
        ({"input_cost_per_m": 1.0, "output_cost_per_m": 1.0, "blended": 1.0}, ConfigError),
    ],
)
def test_bad_prices(router, prices, exc):
    rejects(router, exc, router.register_model, "new-model", **prices)
    rejects(
        router, exc if prices else ConfigError, router.update_model_pricing, "google/gemini-2.5-pro", **prices
    )


def test_registry_errors(router):
    rejects(
        router,
        DuplicateModelError,
        router.register_model,
        "google/gemini-2.5-pro",
        input_cost_per_m=1,
        output_cost_per_m=1,
    )
    rejects(router, InvalidInputError, router.register_model, "", input_cost_per_m=1, output_cost_per_m=1)
    rejects(
        router,
        InvalidInputError,
        router.register_model,
        "m",
        input_cost_per_m=1,
        output_cost_per_m=1,
        speed=object(),
    )
    rejects(router, UnknownModelError, router.remove_model, "nope")
    rejects(
        router,
        UnknownModelError,
        router.update_model_pricing,
        "nope",
        input_cost_per_m=1,
        output_cost_per_m=1,
    )
    rejects(router, UnknownModelError, router.arm_state, "nope")
    single = BanditRouter.create(model_registry={"only": {"blended": 1.0}}, priors="none")
    rejects(single, RegistryError, single.remove_model, "only", match="last model")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"alpha": -0.1},
        {"forgetting_factor": 0.0},
        {"forgetting_factor": 1.5},
        {"forgetting_factor": float("nan")},
        {"budget": 0},
        {"budget": -1.0},
        {"budget": float("inf")},
        {"budget": "1"},
        {"cost_penalty": -1},
        {"prior_n_effective": 0},
        {"seed": -1},
        {"seed": 1.5},
        {"priors": 3},
        {"model_registry": {}},
        {"model_registry": {"m": {}}},
        {"model_registry": {"m": {"input_cost_per_m": 1.0}}},
        {"model_registry": ["m"]},
        {"config": {"alpha": 1}},
        {"context_store": object()},
        {"feature_service": object()},
    ],
)
def test_invalid_config(kwargs):
    kwargs.setdefault("priors", "none")
    with pytest.raises(ConfigError):
        BanditRouter.create(**kwargs)


def test_invalid_config_dataclass():
    for bad in ({"alpha": -1}, {"forgetting_factor": 0}, {"v_max": 0.5}, {"staleness_cap": 1.5}):
        with pytest.raises(ConfigError):
            RouterConfig(**bad)


def test_missing_priors_file():
    with pytest.raises(DataError):
        BanditRouter.create(priors="/nonexistent/priors.npz")


def test_bad_state_files(router, tmp_path):
    path = router.save(tmp_path / "r")
    npz = snapshot_files(path)[1]
    blob = npz.read_bytes()
    npz.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(StateFileError, match="checksum"):
        BanditRouter.load(path)
    (tmp_path / "foreign.json").write_text('{"hello": 1}')
    (tmp_path / "foreign.npz").write_bytes(b"PK")
    with pytest.raises(StateFileError, match="not a ParetoBandit"):
        BanditRouter.load(tmp_path / "foreign")
    with pytest.raises(StateFileError):
        BanditRouter.load(tmp_path / "missing")
