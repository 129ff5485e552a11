"""The bad-input matrix: every rejected call raises a typed, clearly worded error and changes nothing.

One parametrised test runs each case against a router with history (30 routed and rewarded requests, a
pending context, an applied one, a pending context of a since-removed model, a pacer with λ > 0). Before
and after the call the router is saved with :meth:`BanditRouter.save`, and the two ``.npz``/``.json``
pairs must be byte-identical. The error must be the expected :mod:`paretobandit.errors` type (hence a
``ParetoBanditError``) and its message must match a pattern naming the problem.

The one documented non-rejection — a finite reward outside [0, 1] — is checked separately: it is clamped,
logged once, and the state equals that of a twin router given the clamped value.
"""

from __future__ import annotations

import json
import logging
import zipfile

import numpy as np
import pytest
from _helpers_state import rewrite_state

from paretobandit import (
    BanditRouter,
    BudgetPacer,
    EphemeralContextStore,
    FeatureService,
    RouterConfig,
    SqliteContextStore,
    generate_warmup_priors,
)
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
    StoreError,
    UnknownModelError,
    UnknownRequestError,
)
from paretobandit.persistence import snapshot_files

pytestmark = [pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning"),  # huge vectors
              pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")]  # NaN vectors

PRO = "google/gemini-2.5-pro"
NAN, INF = float("nan"), float("inf")


def make_router(seed=1):
    """A router with history; fixed id prefix so twins are comparable."""
    r = BanditRouter.create(priors="none", budget=0.0005, seed=seed, alpha=0.1)
    r.id_prefix = "req-"
    rng = np.random.default_rng(0)
    for _ in range(30):
        _, log = r.route(rng.normal(size=25))
        r.process_feedback(log.request_id, float(rng.random()), cost=0.004)
    r.register_model("temp", input_cost_per_m=0.2, output_cost_per_m=0.2)
    r.orphan = r.route(rng.normal(size=25), force_model="temp")[1]  # its model is removed below
    r.remove_model("temp")
    r.pending = r.route(rng.normal(size=25))[1]
    r.done = r.route(rng.normal(size=25))[1]
    r.process_feedback(r.done.request_id, 0.3)
    assert r.pacer.lambda_ > 0
    return r


def saved_bytes_of(router) -> tuple[str, dict]:
    """The full state as comparable values (``state_dict``, arrays as bytes)."""
    state = router.state_dict()
    return json.dumps(state["meta"], sort_keys=True), {k: v.tobytes() for k, v in state["arrays"].items()}


def saved_bytes(router, directory, name) -> tuple[str, bytes]:
    """The saved snapshot's content (the .json without its per-save file name and checksum, the .npz)."""
    path = router.save(directory / name)
    meta = json.loads(path.read_text())
    for key in ("arrays_file", "meta_sha256"):
        meta.pop(key)
    return json.dumps(meta, sort_keys=True), snapshot_files(path)[1].read_bytes()


def _state_file(tmp, router, tamper):
    """Save ``router`` under tmp/'s', apply ``tamper(meta, arrays)`` and rewrite a consistent pair."""
    path = router.save(tmp / "s")
    holder = {}
    return rewrite_state(path, change_meta=lambda m: holder.setdefault("meta", m),
                         change_arrays=lambda a: tamper(holder["meta"], a))


def _truncated(r, tmp):
    path = r.save(tmp / "t")
    npz = snapshot_files(path)[1]
    npz.write_bytes(npz.read_bytes()[:200])
    return BanditRouter.load(path)


def _foreign(r, tmp):
    (tmp / "f.json").write_text('{"hello": "world"}')
    with zipfile.ZipFile(tmp / "f.npz", "w") as z:
        z.writestr("x.npy", b"")
    return BanditRouter.load(tmp / "f")


def _other_dimension(r, tmp):
    BanditRouter.create(priors="none", feature_service=FeatureService.for_precomputed(7)).save(tmp / "d8")
    return BanditRouter.load(tmp / "d8", feature_service=r.feature_service)


def _nan_array(r, tmp):
    def tamper(meta, arrays):
        arrays["A"][0, 0, 0] = np.nan
    return BanditRouter.load(_state_file(tmp, r, tamper))


def _bad_version(r, tmp):
    def tamper(meta, arrays):
        meta["version"] = 99
    return BanditRouter.load(_state_file(tmp, r, tamper))


def _bad_shape(r, tmp):
    def tamper(meta, arrays):
        arrays["b"] = arrays["b"][:, :5]
    return BanditRouter.load(_state_file(tmp, r, tamper))


def _bad_pacer_state(r, tmp):
    def tamper(meta, arrays):
        meta["pacer"]["lambda"] = 50.0
    return BanditRouter.load(_state_file(tmp, r, tamper))


def _save_under_file(r, tmp):
    (tmp / "plain").write_text("x")
    return r.save(tmp / "plain" / "state")


def _sqlite_put_bad_meta(r, tmp):
    store = SqliteContextStore(tmp / "ctx.db")
    try:
        store.put("id", np.ones(3), {"bad": object()})
    finally:
        store.close()


def _sqlite_take_unknown(r, tmp):
    store = SqliteContextStore(tmp / "ctx2.db")
    try:
        store.take("never-put")
    finally:
        store.close()


# (id, call(router, tmp_path), expected error, message pattern)
CASES = [
    # ---------------------------------------------------------------- route
    ("route-nan-vector", lambda r, t: r.route(np.full(25, NAN)), InvalidInputError, "NaN"),
    ("route-inf-vector", lambda r, t: r.route(np.r_[np.ones(24), INF]), InvalidInputError, "NaN or Inf"),
    ("route-huge-vector", lambda r, t: r.route(np.full(25, 1e200)), InvalidInputError, "norm"),
    ("route-short-vector", lambda r, t: r.route(np.ones(24)), DimensionMismatchError, "length 25"),
    ("route-2d-vector", lambda r, t: r.route(np.ones((5, 5))), DimensionMismatchError, "1-D"),
    ("route-object-dtype", lambda r, t: r.route(np.array(["a"] * 25, dtype=object)), InvalidInputError,
     "numeric"),
    ("route-complex", lambda r, t: r.route(np.ones(25, complex)), InvalidInputError, "numeric"),
    ("route-bool-vector", lambda r, t: r.route(np.ones(25, bool)), InvalidInputError, "numeric"),
    ("route-none", lambda r, t: r.route(None), InvalidInputError, "None"),
    ("route-empty-prompt", lambda r, t: r.route(""), InvalidInputError, "prompt"),
    ("route-prompt-to-precomputed", lambda r, t: r.route("hello there"), InvalidInputError, "precomputed"),
    ("route-max-cost-zero", lambda r, t: r.route(np.zeros(25), max_cost=0), InvalidInputError, "max_cost"),
    ("route-max-cost-negative", lambda r, t: r.route(np.zeros(25), max_cost=-1.0), InvalidInputError,
     "max_cost"),
    ("route-max-cost-nan", lambda r, t: r.route(np.zeros(25), max_cost=NAN), InvalidInputError, "max_cost"),
    ("route-max-cost-inf", lambda r, t: r.route(np.zeros(25), max_cost=INF), InvalidInputError, "max_cost"),
    ("route-max-cost-str", lambda r, t: r.route(np.zeros(25), max_cost="1"), InvalidInputError, "max_cost"),
    ("route-max-cost-unmeetable", lambda r, t: r.route(np.zeros(25), max_cost=1e-9), BudgetExceededError,
     "estimated cost per model"),
    ("route-force-unknown", lambda r, t: r.route(np.zeros(25), force_model="nope"), UnknownModelError,
     "not registered"),
    ("route-force-non-str", lambda r, t: r.route(np.zeros(25), force_model=3), UnknownModelError,
     "not registered"),
    # ---------------------------------------------------------------- feedback
    ("feedback-unknown-id", lambda r, t: r.process_feedback("never-routed", 0.5), UnknownRequestError,
     "unknown request"),
    ("feedback-duplicate", lambda r, t: r.process_feedback(r.done.request_id, 0.5), DuplicateFeedbackError,
     "already applied"),
    ("feedback-id-int", lambda r, t: r.process_feedback(12, 0.5), InvalidInputError, "request_id"),
    ("feedback-id-none", lambda r, t: r.process_feedback(None, 0.5), InvalidInputError, "request_id"),
    ("feedback-removed-model", lambda r, t: r.process_feedback(r.orphan.request_id, 0.5), UnknownModelError,
     "removed"),
    ("feedback-reward-nan", lambda r, t: r.process_feedback(r.pending.request_id, NAN), InvalidInputError,
     "reward must be finite"),
    ("feedback-reward-inf", lambda r, t: r.process_feedback(r.pending.request_id, INF), InvalidInputError,
     "reward must be finite"),
    ("feedback-reward-minus-inf", lambda r, t: r.process_feedback(r.pending.request_id, -INF),
     InvalidInputError, "reward must be finite"),
    ("feedback-reward-str", lambda r, t: r.process_feedback(r.pending.request_id, "0.5"), InvalidInputError,
     "reward must be a number"),
    ("feedback-reward-none", lambda r, t: r.process_feedback(r.pending.request_id, None), InvalidInputError,
     "reward must be a number"),
    ("feedback-reward-bool", lambda r, t: r.process_feedback(r.pending.request_id, True), InvalidInputError,
     "reward must be a number"),
    ("feedback-reward-list", lambda r, t: r.process_feedback(r.pending.request_id, [0.5]), InvalidInputError,
     "reward must be a number"),
    ("feedback-cost-negative", lambda r, t: r.process_feedback(r.pending.request_id, 0.5, cost=-0.1),
     InvalidInputError, "cost must be >= 0"),
    ("feedback-cost-nan", lambda r, t: r.process_feedback(r.pending.request_id, 0.5, cost=NAN),
     InvalidInputError, "cost must be finite"),
    ("feedback-cost-inf", lambda r, t: r.process_feedback(r.pending.request_id, 0.5, cost=INF),
     InvalidInputError, "cost must be finite"),
    ("feedback-cost-str", lambda r, t: r.process_feedback(r.pending.request_id, 0.5, cost="1"),
     InvalidInputError, "cost must be a number"),
    # ---------------------------------------------------------------- registry
    ("register-existing", lambda r, t: r.register_model(PRO, input_cost_per_m=1, output_cost_per_m=1),
     DuplicateModelError, "already registered"),
    ("register-empty-name", lambda r, t: r.register_model("", blended=1.0), InvalidInputError, "model name"),
    ("register-name-none", lambda r, t: r.register_model(None, blended=1.0), InvalidInputError, "model name"),
    ("register-negative-price", lambda r, t: r.register_model("m", input_cost_per_m=-1, output_cost_per_m=1),
     InvalidInputError, "finite price >= 0"),
    ("register-nan-price", lambda r, t: r.register_model("m", input_cost_per_m=NAN, output_cost_per_m=1),
     InvalidInputError, "finite price"),
    ("register-str-price", lambda r, t: r.register_model("m", input_cost_per_m="1", output_cost_per_m=1),
     InvalidInputError, "must be a number"),
    ("register-no-price", lambda r, t: r.register_model("m"), ConfigError, "no price"),
    ("register-half-price", lambda r, t: r.register_model("m", input_cost_per_m=1.0), ConfigError,
     "output_cost_per_m is missing"),
    ("register-pair-and-blended", lambda r, t: r.register_model("m", input_cost_per_m=1, output_cost_per_m=1,
                                                                 blended=1), ConfigError, "not both"),
    ("register-bad-metadata", lambda r, t: r.register_model("m", blended=1.0, speed=object()),
     InvalidInputError, "JSON"),
    ("remove-unknown", lambda r, t: r.remove_model("nope"), UnknownModelError, "unknown model"),
    ("remove-non-str", lambda r, t: r.remove_model(5), InvalidInputError, "model name"),
    ("remove-last-model", lambda r, t: BanditRouter.create(model_registry={"only": {"blended": 1.0}},
                                                           priors="none").remove_model("only"),
     RegistryError, "last model"),
    ("reprice-unknown", lambda r, t: r.update_model_pricing("nope", blended=1.0), UnknownModelError,
     "unknown model"),
    ("reprice-negative", lambda r, t: r.update_model_pricing(PRO, blended=-1.0), InvalidInputError,
     "finite price >= 0"),
    ("reprice-inf", lambda r, t: r.update_model_pricing(PRO, input_cost_per_m=1, output_cost_per_m=INF),
     InvalidInputError, "finite price"),
    ("reprice-no-price", lambda r, t: r.update_model_pricing(PRO), ConfigError, "no price"),
    ("arm-state-unknown", lambda r, t: r.arm_state("nope"), UnknownModelError, "unknown model"),
    # ---------------------------------------------------------------- pacer
    ("pacer-update-nan", lambda r, t: r.pacer.update(NAN), InvalidInputError, "cost must be a finite"),
    ("pacer-update-negative", lambda r, t: r.pacer.update(-1.0), InvalidInputError, "cost must be a finite"),
    ("pacer-update-str", lambda r, t: r.pacer.update("1"), InvalidInputError, "cost must be a finite"),
    ("pacer-budget-zero", lambda r, t: BudgetPacer(0), ConfigError, "budget must be > 0"),
    ("pacer-bad-mode", lambda r, t: BudgetPacer(1.0, mode="bogus"), ConfigError, "mode must be one of"),
    ("pacer-ema-above-one", lambda r, t: BudgetPacer(1.0, ema_alpha=2.0), ConfigError, "ema_alpha"),
    ("pacer-bad-state", lambda r, t: BudgetPacer.from_dict({"budget": 1.0}), StateFileError, "pacer state"),
    # ---------------------------------------------------------------- feature service
    ("features-dimension-zero", lambda r, t: FeatureService.for_precomputed(0), ConfigError,
     "positive int"),
    ("features-extract-nan", lambda r, t: r.feature_service.extract(np.full(25, NAN)), InvalidInputError,
     "NaN"),
    ("features-batch-ragged", lambda r, t: r.feature_service.extract_batch([np.ones(25), np.ones(3)]),
     InvalidInputError, "equal"),
    ("features-batch-wrong-width", lambda r, t: r.feature_service.extract_batch(np.ones((4, 3))),
     DimensionMismatchError, "expected an"),
    ("features-bad-description", lambda r, t: FeatureService.from_description({"kind": "x"}), ConfigError,
     "not a FeatureService"),
    # ---------------------------------------------------------------- stores
    ("store-take-unknown", lambda r, t: r.context_store.take("nope"), UnknownRequestError, "unknown request"),
    ("store-take-applied", lambda r, t: r.context_store.take(r.done.request_id), DuplicateFeedbackError,
     "already applied"),
    ("store-bad-ttl", lambda r, t: EphemeralContextStore(ttl=-1), ConfigError, "ttl"),
    ("store-bad-max-applied", lambda r, t: EphemeralContextStore(max_applied=-1), ConfigError, "max_applied"),
    ("sqlite-unopenable", lambda r, t: SqliteContextStore(t / "no" / "such" / "dir.db"), StoreError,
     "cannot open"),
    ("sqlite-unserialisable-meta", _sqlite_put_bad_meta, StoreError, "cannot write"),
    ("sqlite-take-unknown", _sqlite_take_unknown, UnknownRequestError, "unknown request"),
    # ---------------------------------------------------------------- save / load
    ("load-missing", lambda r, t: BanditRouter.load(t / "missing"), StateFileError, "missing"),
    ("load-truncated", _truncated, StateFileError, "checksum"),
    ("load-foreign", _foreign, StateFileError, "not a ParetoBandit"),
    ("load-other-dimension", _other_dimension, StateFileError, "dimension"),
    ("load-nan-array", _nan_array, StateFileError, "NaN"),
    ("load-bad-version", _bad_version, StateFileError, "version"),
    ("load-bad-shape", _bad_shape, StateFileError, "shape"),
    ("load-lambda-above-cap", _bad_pacer_state, StateFileError, "pacer"),
    ("save-under-a-file", _save_under_file, StateFileError, "cannot"),
    # ---------------------------------------------------------------- config
    ("config-alpha-negative", lambda r, t: RouterConfig(alpha=-0.1), ConfigError, "alpha must be >="),
    ("config-gamma-zero", lambda r, t: RouterConfig(forgetting_factor=0.0), ConfigError, "forgetting_factor"),
    ("config-gamma-above-one", lambda r, t: RouterConfig(forgetting_factor=1.5), ConfigError,
     "forgetting_factor"),
    ("config-gamma-nan", lambda r, t: RouterConfig(forgetting_factor=NAN), ConfigError, "finite"),
    ("config-ceil-below-floor", lambda r, t: RouterConfig(cost_ceil=1e-5), ConfigError, "cost_ceil"),
    ("config-unknown-field", lambda r, t: RouterConfig.from_dict({"bogus": 1}), ConfigError, "unknown"),
    ("create-budget-zero", lambda r, t: BanditRouter.create(priors="none", budget=0), ConfigError, "budget"),
    ("create-budget-str", lambda r, t: BanditRouter.create(priors="none", budget="1"), ConfigError, "budget"),
    ("create-seed-negative", lambda r, t: BanditRouter.create(priors="none", seed=-1), ConfigError, "seed"),
    ("create-priors-bogus", lambda r, t: BanditRouter.create(priors=3), ConfigError, "priors"),
    ("create-priors-missing-file", lambda r, t: BanditRouter.create(priors="/nonexistent/p.npz"), DataError,
     "not found"),
    ("create-empty-registry", lambda r, t: BanditRouter.create(priors="none", model_registry={}), ConfigError,
     "empty"),
    ("create-config-dict", lambda r, t: BanditRouter.create(priors="none", config={"alpha": 1}), ConfigError,
     "RouterConfig"),
    ("create-bad-store", lambda r, t: BanditRouter.create(priors="none", context_store=object()), ConfigError,
     "context_store"),
    ("priors-bad-shapes", lambda r, t: generate_warmup_priors(np.ones((3, 4)), np.ones((2, 2))),
     InvalidInputError, "shape"),
]


@pytest.fixture(scope="module")
def base_router():
    return make_router()


def test_matrix_size():
    assert len(CASES) >= 45 and len({c[0] for c in CASES}) == len(CASES)
    areas = {c[0].split("-")[0] for c in CASES}
    assert {"route", "feedback", "register", "remove", "reprice", "pacer", "features", "store", "load",
            "save", "config"} <= areas


@pytest.mark.parametrize("call,exc,pattern", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_rejected_and_state_unchanged(base_router, tmp_path, call, exc, pattern):
    router = base_router
    before = saved_bytes(router, tmp_path, "before")
    with pytest.raises(exc, match=pattern) as info:
        call(router, tmp_path)
    assert isinstance(info.value, ParetoBanditError), type(info.value)
    assert len(str(info.value)) > 10
    assert saved_bytes(router, tmp_path, "after") == before, "router state changed by a rejected call"
    # the router still works after the rejection (the shared fixture is never mutated by a passing case)
    assert router.context_store.get(router.pending.request_id)[1]["model"] == router.pending.model


def test_out_of_range_reward_is_clamped_and_logged(tmp_path, caplog):
    clamped, twin = make_router(), make_router()
    assert saved_bytes(clamped, tmp_path, "a") == saved_bytes(twin, tmp_path, "b")
    with caplog.at_level(logging.WARNING, logger="paretobandit.router"):
        clamped.process_feedback(clamped.pending.request_id, 1.7)
    assert any("clamped" in rec.getMessage() for rec in caplog.records)
    twin.process_feedback(twin.pending.request_id, 1.0)
    twin._warned_clamp = True  # the only difference: the one-time warning flag
    assert saved_bytes(clamped, tmp_path, "a") == saved_bytes(twin, tmp_path, "b")


def test_feedback_for_removed_model_rejected_even_after_reregistration():
    """A context routed to a removed arm never feeds a new arm registered under the same name."""
    r = BanditRouter.create(priors="none", seed=0)
    r.register_model("x", blended=0.1)
    _, log = r.route(np.ones(25), force_model="x")
    r.remove_model("x")
    r.register_model("x", blended=0.1)
    before = saved_bytes_of(r)
    with pytest.raises(UnknownModelError):
        r.process_feedback(log.request_id, 0.9)
    assert saved_bytes_of(r) == before
    assert r.arm_state("x")["n_updates"] == 0
