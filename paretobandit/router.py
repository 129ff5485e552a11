"""`BanditRouter`: the public facade tying features, policy, pacer, registry and context store together.

Per-request semantics follow ``docs/ALGORITHM.md`` exactly (route → feedback → bandit update → pacer
update); every equation lives in :mod:`paretobandit.kernels`.

Quick start (precomputed 25-d vectors, the paper's K = 3 portfolio)::

    router = BanditRouter.create(priors="none", budget=0.002, seed=0)
    model, log = router.route(np.random.default_rng(0).normal(size=25))
    router.process_feedback(log.request_id, reward=0.85)

Every public method validates its arguments before touching any state: a rejected call raises a
typed error from :mod:`paretobandit.errors` and leaves the router's serialised state bit-identical.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import math
import os
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import kernels
from ._state import STATE_FORMAT, STATE_VERSION
from ._validate import number
from .config import RouterConfig
from .durable import DurableMixin, open_directory
from .errors import (
    BudgetExceededError,
    ConfigError,
    DataError,
    DimensionMismatchError,
    InvalidInputError,
    ParetoBanditError,
    StoreError,
    UnknownModelError,
)
from .pacer import BudgetPacer
from .plugins import Pacer, Policy
from .policy import LinUCBPolicy
from .priors import default_priors_path, load_priors
from .registry import ModelRegistry, validate_model_name
from .replay import ReplayContext
from .router_state import RouterStateMixin
from .stores import EphemeralContextStore

__all__ = ["BanditRouter", "DurableRouter", "RoutingLog", "STATE_FORMAT", "STATE_VERSION"]


#: Routers inside ``exploit()`` in the current thread / asyncio task (ids; a ContextVar, so an asyncio
#: task's greedy block does not leak into the other tasks of its event loop).
_GREEDY: contextvars.ContextVar[frozenset] = contextvars.ContextVar("paretobandit_greedy",
                                                                   default=frozenset())

logger = logging.getLogger(__name__)

_NUMBER = (int, float, np.integer, np.floating)
_F64 = np.dtype(np.float64)
_INF = math.inf


class _Unset:
    """Sentinel of :meth:`BanditRouter.create`'s config keywords: "not passed" (``None`` is a value)."""

    def __repr__(self) -> str:
        return "<unset>"


_UNSET = _Unset()


@dataclass(slots=True)
class RoutingLog:
    """What :meth:`BanditRouter.route` decided and why.

    Attributes
    ----------
    request_id : str
        Key for :meth:`BanditRouter.process_feedback`.
    model : str
        Chosen model.
    cost_usd : float
        Estimated $ of this request for the chosen model: ``(in·n_in + out·n_out)/1e6`` with
        ``n_in = round(1.3 × words)`` for a prompt and ``n_in = 0`` for a vector input, ``n_out`` =
        ``config.output_tokens`` (600).
    scores : dict
        ``{model: score}`` for every registered model (empty for a forced pull).
    eligible : list
        Models allowed by the pacer ceiling and ``max_cost`` (all of them when no constraint binds).
    pacer_lambda : float
        Pacer λ used for the decision (0 without a pacer).
    t : int
        Request counter at the decision.
    """

    request_id: str
    model: str
    cost_usd: float
    scores: dict = field(default_factory=dict)
    eligible: list = field(default_factory=list)
    pacer_lambda: float = 0.0
    t: int = 0


#: Registry metadata key: the blended $/M the pacer's hard ceiling uses for a model (default: its price).
CEILING_KEY = "ceiling_cost_per_m"


class _View:
    """Immutable snapshot of the registry arrays used by :meth:`BanditRouter.route`."""

    __slots__ = (
        "price_list",
        "names",
        "index",
        "inp",
        "out",
        "price",
        "ncost",
        "p_max",
        "est0",
        "est0_list",
        "all_names",
        "all_true",
        "ncost_list",
    )

    def __init__(self, registry: ModelRegistry, output_tokens: int):
        arr = registry.arrays()
        self.names = tuple(registry.names)
        self.all_names = list(self.names)
        self.index = {n: i for i, n in enumerate(self.names)}
        self.inp, self.out, self.price, self.ncost = arr["input"], arr["output"], arr["price"], arr["ncost"]
        self.p_max = float(registry.p_max)
        self.est0 = kernels.request_cost_estimate(self.inp, self.out, 0, output_tokens)
        self.est0_list = self.est0.tolist()
        # $/1k the pacer's eligibility compares: the blended price, unless the registry entry carries its
        # own ``ceiling_cost_per_m`` (a blended $/M field that disagrees with its input/output prices)
        self.price_list = [
            float(spec.metadata[CEILING_KEY]) / 1000.0 if CEILING_KEY in spec.metadata else p
            for spec, p in zip(registry.specs(), self.price.tolist(), strict=True)
        ]
        if self.price_list:
            self.p_max = max(self.price_list)
        self.ncost_list = self.ncost.tolist()
        self.all_true = [True] * len(self.names)


def _check_number(name, value, *, positive=False, nonneg=False) -> float:
    """A request-time number (``max_cost``, ``cost``, ...) as a float; :class:`InvalidInputError` if not."""
    low = 0.0 if positive or nonneg else None
    return number(name, value, low=low, low_open=positive, to_float=True, error=InvalidInputError)


def _as_context(x, d: int) -> np.ndarray:
    """``x`` as a finite float64 vector of length ``d`` (for :meth:`BanditRouter.update`)."""
    try:
        vec = np.array(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidInputError(f"context must be a numeric vector, got {type(x).__name__}") from None
    if vec.shape != (d,):
        raise DimensionMismatchError(f"context must have shape ({d},) (bias last), got {vec.shape}")
    if not np.isfinite(vec).all() or not float(vec @ vec) <= 1e12:
        raise InvalidInputError("context contains NaN/Inf or has norm above 1e6")
    return vec


class BanditRouter(RouterStateMixin):
    """Budget-paced LinUCB router over a runtime-editable portfolio of LLMs.

    Build with :meth:`create` (or :meth:`load`); the constructor is internal. Snapshot, restore and
    display come from :class:`~paretobandit.router_state.RouterStateMixin`.
    """

    # ------------------------------------------------------------------ construction
    def __init__(
        self,
        *,
        registry: ModelRegistry,
        feature_service,
        config: RouterConfig,
        pacer,
        store,
        rng,
        policy: LinUCBPolicy | None = None,
        prior_info: dict | None = None,
    ):
        self.config = config
        self._fs = feature_service
        self._registry = registry
        self._policy = (
            policy if policy is not None else LinUCBPolicy(feature_service.dimension, len(registry), config)
        )
        self._pacer = pacer
        self._store = store
        self._rng = rng
        self._exploiting = 0  # contexts currently inside exploit() (skips the ContextVar lookup)
        self._exploit_lock = threading.Lock()
        self._view = _View(registry, config.output_tokens)
        self._pen_view = None
        self._pen_w = None
        self._pen = None
        # precomputed-vector services get a cheaper input path in route()
        self._raw_shape = (
            (feature_service.dimension - 1,)
            if getattr(feature_service, "kind", None) == "precomputed"
            else None
        )
        self._pulls = dict.fromkeys(registry.names, 0)
        # each registration gets a fresh arm id, so feedback routed to a removed model is never applied
        # to a later model registered under the same name
        self._arm_uid = {name: i for i, name in enumerate(registry.names)}
        self._next_uid = len(registry)
        self._n_feedback = 0
        self._id_prefix = secrets.token_hex(4) + "-"
        self._next_request = 1
        self._warned_clamp = False
        self.prior_info = dict(prior_info or {"source": "none"})

    @classmethod
    def create(
        cls,
        model_registry=None,
        feature_service=None,
        priors="auto",
        prior_n_effective=_UNSET,
        alpha=_UNSET,
        forgetting_factor=_UNSET,
        cost_penalty=_UNSET,
        budget=None,
        context_store=None,
        seed=None,
        config=None,
        policy=None,
        pacer=None,
    ) -> BanditRouter:
        """Build a router.

        Parameters
        ----------
        model_registry : dict, optional
            ``{name: {"input_cost_per_m": .., "output_cost_per_m": .., **metadata}}``
            (or ``{"blended": ..}``),
            $ per million tokens. ``None``: the paper's K = 3 portfolio
            (:data:`paretobandit.registry.DEFAULT_PORTFOLIO`).
        feature_service : FeatureService, optional
            Turns prompts/vectors into contexts (bias last). ``None``: precomputed vectors —
            ``FeatureService.for_precomputed(25)`` (d = 26), or, when ``priors`` is a path,
            precomputed vectors of the prior's dimension minus one.
        priors : {"auto", "warmup", "none"} or path
            ``"auto"``: the paper's ``priors_k3_d26.npz`` from ``$PARETOBANDIT_DATA/artifacts/`` or
            ``<repo>/data/raw/artifacts/`` when present and of matching dimension (otherwise a logged cold
            start); ``"warmup"``: the same file, but missing or mismatched is an error; ``"none"``: cold
            start; a path: that file (mismatch is an error). Arms absent from the prior start cold.
        prior_n_effective, alpha, forgetting_factor, cost_penalty : float
            See :class:`RouterConfig` (defaults: its field defaults). A keyword passed explicitly always
            wins, also over ``config`` and also when it equals the default; an omitted one keeps
            ``config``'s value (or the :class:`RouterConfig` default without ``config``).
        budget : float or Pacer, optional
            Target mean $ per request (→ an adaptive :class:`BudgetPacer`, or ``pacer``'s), or a pacer
            plug-in. ``None``: no pacing.
        context_store : EphemeralContextStore or SqliteContextStore, optional
            Where routed contexts wait for feedback. ``None``: an in-memory store
            (TTL ``config.context_ttl``).
        seed : int, optional
            Seed of the tie-breaking generator.
        config : RouterConfig, optional
        policy : Policy or factory, optional
            A :class:`~paretobandit.plugins.Policy` plug-in (sized ``(d, K)``) or a factory called as
            ``policy(dimension=d, n_arms=K, config=config, seed=seed)``. ``None``: :class:`LinUCBPolicy`.
        pacer : Pacer or factory, optional
            A :class:`~paretobandit.plugins.Pacer` plug-in, or a factory called as ``pacer(budget=budget)``.

        Raises
        ------
        ConfigError, DataError, DimensionMismatchError
        """
        config = cls._resolve_config(
            config,
            alpha=alpha,
            forgetting_factor=forgetting_factor,
            cost_penalty=cost_penalty,
            prior_n_effective=prior_n_effective,
        )
        registry = ModelRegistry(model_registry, config.cost_floor, config.cost_ceil)
        prior_path, strict = cls._resolve_priors_arg(priors)
        if feature_service is None:
            from .features import FeatureService

            dim = 25
            if strict and prior_path is not None and priors not in ("warmup",):
                _, a_off, _, _ = load_priors(prior_path)
                dim = a_off.shape[-1] - 1
            feature_service = FeatureService.for_precomputed(dim)
        elif not (hasattr(feature_service, "extract") and hasattr(feature_service, "dimension")):
            raise ConfigError(
                f"feature_service must be a FeatureService, got {type(feature_service).__name__}"
            )
        pacer = cls._resolve_pacer(budget, pacer)
        store = cls._resolve_store(context_store, config)
        if seed is not None and (
            isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0
        ):
            raise ConfigError(f"seed must be None or an int >= 0, got {seed!r}")
        policy = cls._resolve_policy(policy, feature_service.dimension, len(registry), config, seed)
        router = cls(
            registry=registry,
            feature_service=feature_service,
            config=config,
            pacer=pacer,
            store=store,
            rng=np.random.default_rng(seed),
            policy=policy,
        )
        router._apply_priors(prior_path, strict)
        return router

    @staticmethod
    def _resolve_config(config, **overrides) -> RouterConfig:
        """``config`` (or the defaults) with every explicitly passed keyword (not :data:`_UNSET`) applied."""
        changes = {k: v for k, v in overrides.items() if v is not _UNSET}
        if config is None:
            return RouterConfig(**changes)
        if not isinstance(config, RouterConfig):
            raise ConfigError(f"config must be a RouterConfig, got {type(config).__name__}")
        return config.replace(**changes) if changes else config

    @staticmethod
    def _resolve_priors_arg(priors):
        """``(path or None, strict)``."""
        if priors in ("none", None):
            return None, False
        if priors == "auto":
            return default_priors_path(), False
        if priors == "warmup":
            path = default_priors_path()
            if path is None:
                raise DataError(
                    "priors='warmup' but priors_k3_d26.npz was found neither in "
                    "$PARETOBANDIT_DATA/artifacts/ nor in <repo>/data/raw/artifacts/"
                )
            return path, True
        if isinstance(priors, (str, os.PathLike)):
            path = Path(priors)
            if not path.is_file():
                raise DataError(f"priors file not found: {path}")
            return path, True
        raise ConfigError(f"priors must be 'auto', 'warmup', 'none' or a path, got {priors!r}")

    @staticmethod
    def _resolve_pacer(budget, pacer=None):
        """The pacer plug-in from ``budget`` (a number or a pacer) and ``pacer`` (a pacer or a factory)."""
        if pacer is None:
            if budget is None or isinstance(budget, Pacer):
                return budget
            if isinstance(budget, bool) or not isinstance(budget, _NUMBER):
                raise ConfigError(
                    f"budget must be None, a number ($ per request) or a pacer plug-in, got {budget!r}"
                )
            return BudgetPacer(float(budget))
        if isinstance(pacer, Pacer):
            if budget is not None and budget is not pacer and budget != pacer.budget:
                raise ConfigError(f"budget={budget!r} contradicts the given pacer's budget {pacer.budget!r}")
            return pacer
        if not callable(pacer):
            raise ConfigError(f"pacer must be a pacer plug-in or a factory, got {pacer!r}")
        if budget is None or isinstance(budget, bool) or not isinstance(budget, _NUMBER):
            raise ConfigError(f"a pacer factory needs budget=<$ per request>, got budget={budget!r}")
        made = pacer(budget=float(budget))
        if not isinstance(made, Pacer):
            raise ConfigError(f"the pacer factory returned {type(made).__name__}, not a Pacer (it needs "
                              "budget, lambda_, penalty_weight, eligible, step, state_dict, from_state)")
        return made

    @staticmethod
    def _resolve_policy(policy, dimension: int, n_arms: int, config, seed):
        """The policy plug-in: ``None`` (LinUCB), an instance sized (d, K), or a factory."""
        if policy is None:
            return None
        if not isinstance(policy, Policy):
            if not callable(policy):
                raise ConfigError(f"policy must be a policy plug-in or a factory, got {policy!r}")
            policy = policy(dimension=dimension, n_arms=n_arms, config=config, seed=seed)
            if not isinstance(policy, Policy):
                raise ConfigError(
                    f"the policy factory returned {type(policy).__name__}, which is not a Policy")
        if policy.d != dimension or policy.n_arms != n_arms:
            raise DimensionMismatchError(
                f"policy is sized d={policy.d}, K={policy.n_arms}; "
                f"the router needs d={dimension}, K={n_arms}")
        return policy

    @staticmethod
    def _resolve_store(store, config):
        if store is None:
            return EphemeralContextStore(ttl=config.context_ttl)
        if not all(hasattr(store, m) for m in ("put", "get", "take", "describe")):
            raise ConfigError(f"context_store must provide put/get/take/describe, got {type(store).__name__}")
        return store

    def _apply_priors(self, path, strict: bool) -> None:
        if path is None:
            self.prior_info = {"source": "none"}
            return
        models, a, b, meta = load_priors(path, self.config.prior_n_effective, self.config.ridge)
        d = self._policy.d
        if a.shape[-1] != d:
            msg = f"priors {path} have dimension {a.shape[-1]} but the feature service produces {d}"
            if strict:
                raise DimensionMismatchError(msg)
            logger.warning("%s; starting cold", msg)
            self.prior_info = {"source": "none", "skipped": str(path), "reason": "dimension"}
            return
        matched = [m for m in self._view.names if m in models]
        if not matched:
            msg = f"priors {path} cover models {models}, none of the router's {list(self._view.names)}"
            if strict:
                raise ConfigError(msg)
            logger.warning("%s; starting cold", msg)
            self.prior_info = {"source": "none", "skipped": str(path), "reason": "models"}
            return
        for name in matched:
            j = models.index(name)
            self._policy.set_prior(self._view.index[name], a[j], b[j])
        cold = [m for m in self._view.names if m not in models]
        if cold:
            logger.info("priors %s: no prior for %s (cold start)", path, cold)
        self.prior_info = {
            "source": str(path),
            "models": matched,
            "cold": cold,
            "n_effective": self.config.prior_n_effective,
        }

    # ------------------------------------------------------------------ introspection
    @property
    def models(self) -> list[str]:
        """Registered model names in registration order."""
        return list(self._view.names)

    @property
    def t(self) -> int:
        """Request counter (number of routing decisions so far)."""
        return self._policy.t

    @property
    def pacer(self) -> BudgetPacer | None:
        """The budget pacer (``None`` without a budget)."""
        return self._pacer

    @property
    def policy(self):
        """The policy plug-in (:class:`LinUCBPolicy` unless ``create(policy=...)``)."""
        return self._policy

    def set_prior(self, name, A, b) -> None:
        """Replace model ``name``'s statistics by a warm-up prior ``A`` (d, d), ``b`` (d,), already
        rescaled (:func:`paretobandit.kernels.rescale_prior`); the policy recomputes ``A⁻¹`` and ``θ``.

        Raises
        ------
        UnknownModelError, DimensionMismatchError, InvalidInputError
            Nothing changed.
        """
        d = self._policy.d
        a = np.asarray(A, dtype=float)
        bb = np.asarray(b, dtype=float)
        if a.shape != (d, d) or bb.shape != (d,):
            raise DimensionMismatchError(f"prior must be ({d}, {d}) and ({d},), got {a.shape} and {bb.shape}")
        if not (np.isfinite(a).all() and np.isfinite(bb).all()):
            raise InvalidInputError("prior A, b must be finite")
        with self._policy.write_lock:
            i = self._view.index.get(name) if isinstance(name, str) else None
            if i is None:
                raise UnknownModelError(f"unknown model {name!r}; registered: {', '.join(self._view.names)}")
            self._policy.set_prior(i, a, bb)

    @property
    def feature_service(self):
        """The feature service."""
        return self._fs

    @property
    def context_store(self):
        """The context store."""
        return self._store

    @property
    def registry(self) -> ModelRegistry:
        """A copy of the model registry (prices, normalised costs, metadata)."""
        return self._registry.copy()

    @property
    def dimension(self) -> int:
        """Context dimension d (bias included)."""
        return self._policy.d

    def arm_state(self, name) -> dict:
        """Copies of one arm's ``A``, ``A_inv``, ``b``, ``theta``, ``rho``, counters, pulls and prices."""
        with self._policy.write_lock:
            i = self._view.index.get(name) if isinstance(name, str) else None
            if i is None:
                raise UnknownModelError(f"unknown model {name!r}; registered: {', '.join(self._view.names)}")
            state = self._policy.arm_state(i)
            spec = self._registry.get(name)
            state.update(
                pulls=self._pulls[name],
                input_cost_per_m=spec.input_cost_per_m,
                output_cost_per_m=spec.output_cost_per_m,
                blended_per_1k=spec.blended_per_1k,
                normalised_cost=spec.normalised_cost,
                metadata=dict(spec.metadata),
            )
            return state

    # ------------------------------------------------------------------ routing
    @contextlib.contextmanager
    def exploit(self):
        """Greedy routing (α = 0) inside the block, for the calling thread or asyncio task only.

        The flag lives in a :class:`contextvars.ContextVar`: other threads, and other tasks of the same
        event loop, keep exploring.
        """
        with self._exploit_lock:
            self._exploiting += 1
        token = _GREEDY.set(_GREEDY.get() | {id(self)})
        try:
            yield self
        finally:
            _GREEDY.reset(token)
            with self._exploit_lock:
                self._exploiting -= 1

    def _greedy(self) -> bool:
        """Whether the current context is inside :meth:`exploit`."""
        return bool(self._exploiting) and id(self) in _GREEDY.get()

    def _penalty(self, view, w) -> list:
        """``[w·c̃_a]``, cached per registry snapshot and weight (caller holds the policy lock)."""
        if self._pen_view is not view or self._pen_w != w:
            self._pen = [w * c for c in view.ncost_list]
            self._pen_view, self._pen_w = view, w
        return self._pen

    def route(self, prompt_or_vector, max_cost=None, force_model=None):
        """Choose a model for one request.

        Parameters
        ----------
        prompt_or_vector : str or array-like
            A prompt (text feature services) or a vector (``FeatureService.for_precomputed``).
        max_cost : float, optional
            Hard cap in $ on this request's *estimated* cost; arms above it are ineligible. If no arm fits,
            :class:`BudgetExceededError` lists every estimate (nothing is routed).
        force_model : str, optional
            Route to this model without scoring (onboarding forced pull); ``max_cost`` is ignored.

        Returns
        -------
        model : str
        log : RoutingLog

        Raises
        ------
        InvalidInputError, DimensionMismatchError, UnknownModelError, BudgetExceededError
            Nothing changed.
        StoreError
            The context store could not keep the context: the decision was made (``t`` advanced, the arm
            marked played) but no feedback can be given for it — as for a request that never reports back.

        Notes
        -----
        With a precomputed-vector service, a float64 vector of the right length skips
        ``FeatureService.extract`` (same result); NaN/Inf are detected from ``xᵀx`` (computed with the
        scores) and then reported by the feature service (NumPy may also emit a RuntimeWarning).
        ``‖x‖² > 1e12`` is rejected (it would overflow ``A``).
        """
        raw_shape = self._raw_shape
        if (
            raw_shape is not None
            and prompt_or_vector.__class__ is np.ndarray
            and prompt_or_vector.shape == raw_shape
            and prompt_or_vector.dtype is _F64
        ):
            # Precomputed-vector fast path: the same vector FeatureService.extract builds (values + bias);
            # NaN/Inf fail the norm check below, which then asks the feature service for its own error.
            x = np.empty(self._policy.d)
            x[:-1] = prompt_or_vector
            x[-1] = 1.0
            n_in = 0
        elif prompt_or_vector.__class__ is ReplayContext:  # durable replay: the journaled context
            x, n_in = prompt_or_vector.x, prompt_or_vector.n_in
        else:
            x = self._extract(prompt_or_vector)
            n_in = kernels.estimate_input_tokens(prompt_or_vector) if isinstance(prompt_or_vector, str) else 0
        if force_model is not None or max_cost is not None:  # (otherwise checked from the scores below)
            if not float(x @ x) <= 1e12:
                self._reject_vector(prompt_or_vector, x)
        if max_cost is not None:
            max_cost = _check_number("max_cost", max_cost, positive=True)
        pacer = self._pacer
        policy = self._policy
        with policy.lock:
            view = self._view
            lam = pacer.lambda_ if pacer is not None else 0.0
            if force_model is not None:
                if force_model.__class__ is not str and isinstance(force_model, str):
                    force_model = str(force_model)  # e.g. numpy.str_
                if force_model.__class__ is not str or force_model not in view.index:
                    raise UnknownModelError(
                        f"force_model {force_model!r} is not registered; registered: {', '.join(view.names)}"
                    )
                i = view.index[force_model]
                scores: dict = {}
                eligible = [force_model]
            else:
                # docs/ALGORITHM.md route steps 2–6: the pacer's eligibility (None: every arm) ∩ max_cost,
                # the policy's scores with the cost penalty, the best eligible arm with seeded ties
                mask = pacer.eligible(view.price_list, view.p_max) if pacer is not None else None
                if max_cost is not None:
                    mask = self._apply_max_cost(view, mask, max_cost, n_in)
                w = self.config.cost_penalty
                if pacer is not None:
                    w = w + pacer.penalty_weight()
                alpha = 0.0 if self._exploiting and id(self) in _GREEDY.get() else self.config.alpha
                t = policy.t + 1
                pen = self._pen if self._pen_view is view and self._pen_w == w else self._penalty(view, w)
                sl, xx = policy.scores(x, t, alpha, pen)
                if not xx <= 1e12:
                    self._reject_vector(prompt_or_vector, x)
                elig = view.all_true if mask is None else mask
                n_tied, i = kernels.best_arm(sl, elig, kernels.TIE_TOLERANCE)
                if n_tied > 1:
                    i = kernels.break_tie(sl, elig, kernels.TIE_TOLERANCE, self._rng)
                eligible = (list(view.all_names) if mask is None
                            else [n for n, ok in zip(view.names, mask, strict=True) if ok])
                scores = dict(zip(view.names, sl))  # noqa: B905 - same length by construction
            t = policy.t + 1
            policy.t = t
            policy.touch(i, t)
            model = view.names[i]
            self._pulls[model] += 1
            uid = self._arm_uid[model]
            n = self._next_request
            self._next_request = n + 1
        cost = (
            view.est0_list[i]
            if n_in == 0
            else float(
                kernels.request_cost_estimate(view.inp[i], view.out[i], n_in, self.config.output_tokens)
            )
        )
        request_id = f"{self._id_prefix}{n}"
        self._store.put(request_id, x, {"model": model, "cost": cost, "arm": uid})
        return model, RoutingLog(request_id, model, cost, scores, eligible, lam, t)

    def _extract(self, prompt_or_vector):
        """``feature_service.extract`` with NumPy's raw errors for ragged or non-numeric input typed."""
        try:
            return self._fs.extract(prompt_or_vector)
        except ParetoBanditError:
            raise
        except (ValueError, TypeError) as exc:
            raise InvalidInputError(
                "route() needs a prompt string or a flat numeric vector; got "
                f"{type(prompt_or_vector).__name__} that cannot be read as one ({exc})") from None

    def _reject_vector(self, prompt_or_vector, x) -> None:
        """``xᵀx`` is NaN, Inf or > 1e12: raise the right typed error (no state has changed)."""
        if self._raw_shape is not None:
            self._fs.extract(prompt_or_vector)  # NaN/Inf: the feature service's InvalidInputError
        # a finite but huge vector would overflow A = Σxxᵀ for good
        raise InvalidInputError(
            f"feature vector norm exceeds 1e6 (max |x_i| = {np.abs(x).max():.3g}); "
            "features are expected to be O(1) (whitened or normalised embeddings)"
        )

    def _apply_max_cost(self, view, mask, max_cost, n_in):
        """Intersect the eligibility mask with ``estimate ≤ max_cost`` (ALGORITHM.md route step 5)."""
        est = (
            view.est0_list
            if n_in == 0
            else kernels.request_cost_estimate(view.inp, view.out, n_in, self.config.output_tokens).tolist()
        )
        fits = [e <= max_cost for e in est]
        if not any(fits):
            estimates = dict(zip(view.names, est, strict=True))
            listing = ", ".join(f"{m}: ${c:.6g}" for m, c in estimates.items())
            raise BudgetExceededError(
                f"no model fits max_cost=${max_cost:.6g} for this request "
                f"(estimated cost per model: {listing})",
                estimates,
            )
        if all(fits):
            return mask
        if mask is None:
            return fits
        both = [a and b for a, b in zip(mask, fits, strict=True)]
        return both if any(both) else fits

    # ------------------------------------------------------------------ feedback
    @staticmethod
    def _check_reward(reward) -> float:
        """The reward as a float (finite, not yet clamped); no side effects."""
        if isinstance(reward, bool) or not isinstance(reward, _NUMBER):
            raise InvalidInputError(
                f"reward must be a number in [0, 1], got {reward!r} ({type(reward).__name__})"
            )
        r = float(reward)
        if not math.isfinite(r):
            raise InvalidInputError(f"reward must be finite, got {reward!r}")
        return r

    def process_feedback(self, request_id, reward, cost=None) -> None:
        """Apply the observed reward (and realised cost) of a routed request — exactly once.

        Parameters
        ----------
        request_id : str
            ``log.request_id`` from :meth:`route`.
        reward : float
            Quality in [0, 1]; finite values outside are clamped (logged once), NaN/Inf rejected.
        cost : float, optional
            Realised $ of the request (≥ 0), fed to the pacer; defaults to the routing estimate.

        Raises
        ------
        InvalidInputError, UnknownRequestError, DuplicateFeedbackError, UnknownModelError, StoreError
        """
        if not isinstance(request_id, str):
            raise InvalidInputError(f"request_id must be a str, got {request_id!r}")
        r = self._check_reward(reward)
        if cost is not None:
            cost = _check_number("cost", cost, nonneg=True)
        clamped = r < 0.0 or r > 1.0
        if clamped:
            r = min(1.0, max(0.0, r))
        policy = self._policy
        with policy.write_lock:
            x, meta = self._store.take(request_id, check=self._check_pending)
            i = self._view.index[meta["model"]]
            try:  # all or nothing: the update validates before it assigns; on failure the context is back
                policy.update(i, x, r)
            except BaseException:
                self._store.untake(request_id, x, meta)
                raise
            if self._pacer is not None:
                self._pacer.step(meta["cost"] if cost is None else cost)
            self._n_feedback += 1
            if clamped and not self._warned_clamp:  # logged once per router, after the feedback applied
                self._warned_clamp = True
                logger.warning("reward %r outside [0, 1] clamped (further clamps are not logged)", reward)

    def update(self, model, x, reward) -> None:
        """Direct bandit update of ``model`` with a full context ``x`` (length :attr:`dimension`, bias last).

        The batch entry point (forgetting, Sherman–Morrison, stability check): no routing log, context
        store or pacer is involved — routed requests use :meth:`process_feedback`. Rewards are clamped to
        [0, 1]. Not journaled, so a durable router rejects it (:class:`ConfigError`).

        Raises
        ------
        UnknownModelError, InvalidInputError, DimensionMismatchError, ConfigError
            Nothing changed.
        """
        if getattr(self, "_journal", None) is not None:
            raise ConfigError("update() is not journaled: use process_feedback() on a durable router")
        r = min(1.0, max(0.0, self._check_reward(reward)))
        vec = _as_context(x, self._policy.d)
        with self._policy.write_lock:
            i = self._view.index.get(model) if isinstance(model, str) else None
            if i is None:
                raise UnknownModelError(f"unknown model {model!r}; registered: {', '.join(self._view.names)}")
            self._policy.update(i, vec, r)

    def _check_pending(self, request_id, x, meta) -> None:
        """Called by the store before it consumes a context: reject feedback that cannot be applied."""
        uid = meta.get("arm")
        if meta["model"] not in self._view.index or (uid is not None and self._arm_uid[meta["model"]] != uid):
            raise UnknownModelError(
                f"request {request_id!r} was routed to {meta['model']!r}, which has since "
                "been removed; the feedback is not applied"
            )
        if x.shape != (self._policy.d,):
            raise DimensionMismatchError(
                f"stored context of {request_id!r} has shape {x.shape}, expected ({self._policy.d},)"
            )
        c = meta.get("cost")
        if c.__class__ is not float or not 0.0 <= c < _INF:  # route() stores a float; a store may not
            raise StoreError(f"stored context of {request_id!r} has cost {c!r}, not a finite float >= 0; "
                             "the feedback is not applied")

    # ------------------------------------------------------------------ registry
    def _publish_view(self) -> None:
        """New registry snapshot (caller holds the policy lock)."""
        self._view = _View(self._registry, self.config.output_tokens)

    def register_model(
        self, name, input_cost_per_m=None, output_cost_per_m=None, *, blended=None, **metadata
    ) -> None:
        """Add a cold arm (``A = λ₀I``, ``b = 0``, ``last_update = last_played = t``) at runtime.

        Parameters
        ----------
        name : str
        input_cost_per_m, output_cost_per_m : float
            $ per million tokens (both), or give ``blended`` alone.
        blended : float, optional
        **metadata
            JSON-able extras stored with the model (e.g. ``speed="fast"``). ``ceiling_cost_per_m``, if
            given, is the blended $/M the pacer's hard ceiling compares for this model (default: its
            price), for registries whose blended field disagrees with the input/output prices.

        Raises
        ------
        DuplicateModelError, ConfigError (no price), InvalidInputError (bad price or metadata)
        """
        try:
            json.dumps(metadata)
        except (TypeError, ValueError):
            raise InvalidInputError(
                f"metadata of {name!r} must be JSON-serialisable, got {metadata!r}"
            ) from None
        if CEILING_KEY in metadata:
            _check_number(CEILING_KEY, metadata[CEILING_KEY], nonneg=True)
        policy = self._policy
        with policy.write_lock:
            spec = self._registry.spec_for(
                name,
                input_cost_per_m=input_cost_per_m,
                output_cost_per_m=output_cost_per_m,
                blended=blended,
                **metadata,
            )

            def commit():
                self._registry.set_spec(spec)
                self._pulls[name] = 0
                self._arm_uid[name] = self._next_uid
                self._next_uid += 1
                self._publish_view()

            policy.add_arm(on_commit=commit)

    def update_model_pricing(
        self, name, input_cost_per_m=None, output_cost_per_m=None, *, blended=None
    ) -> None:
        """Change a model's prices in place (the next decision sees the new c̃ and p_max)."""
        with self._policy.write_lock:
            validate_model_name(name)
            spec = self._registry.repriced(name, input_cost_per_m, output_cost_per_m, blended)
            with self._policy.lock:
                self._registry.set_spec(spec)
                self._publish_view()

    def remove_model(self, name) -> None:
        """Drop a model and all its state; removing the last model is a :class:`RegistryError`.

        Pending feedback for the removed model is rejected with :class:`UnknownModelError`.
        """
        policy = self._policy
        with policy.write_lock:
            validate_model_name(name)
            spec = self._registry.get(name)
            if len(self._registry) == 1:
                self._registry.remove(name)  # raises RegistryError
            i = self._view.index[spec.name]

            uid = self._arm_uid[name]

            def commit():
                self._registry.remove(name)
                del self._pulls[name]
                del self._arm_uid[name]
                self._publish_view()

            policy.remove_arm(i, on_commit=commit)
            retire = getattr(self._store, "retire_arm", None)
            if retire is not None:  # its pending contexts can never be applied: drop them (ids remembered)
                retire(uid, name)

    # ------------------------------------------------------------------ durable mode
    @classmethod
    def open(cls, directory, *, checkpoint_every=10_000, checkpoint_bytes=64 * 2**20,
             **create_kwargs) -> DurableRouter:
        """Open (or create with ``create(**create_kwargs)``) a durable, crash-safe router in ``directory``.

        See :mod:`paretobandit.durable`: every route and acknowledged feedback is journaled before the
        call returns; ``router.checkpoint()`` and ``router.close()`` manage the directory. A checkpoint is
        also taken automatically after ``checkpoint_every`` journal entries or ``checkpoint_bytes`` of
        journal (``None`` disables either bound).
        """
        return open_directory(DurableRouter, directory, checkpoint_every=checkpoint_every,
                              checkpoint_bytes=checkpoint_bytes, create_kwargs=create_kwargs)


class DurableRouter(DurableMixin, BanditRouter):
    """A :class:`BanditRouter` whose state-changing calls are journaled before they return.

    Build with :meth:`BanditRouter.open`, never directly; see :mod:`paretobandit.durable`.
    """
