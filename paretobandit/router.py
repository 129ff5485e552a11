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
from html import escape
from pathlib import Path

import numpy as np

from . import kernels
from ._state import STATE_FORMAT, STATE_VERSION, check_router_meta, feature_service_from
from .config import RouterConfig
from .durable import DurableMixin, ReplayContext, open_directory
from .errors import (
    BudgetExceededError,
    ConfigError,
    DataError,
    DimensionMismatchError,
    InvalidInputError,
    ParetoBanditError,
    StateFileError,
    StoreError,
    UnknownModelError,
)
from .pacer import BudgetPacer
from .policy import LinUCBPolicy
from .priors import default_priors_path, load_priors
from .registry import ModelRegistry, validate_model_name
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
        self.price_list = self.price.tolist()


def _check_number(name, value, *, positive=False, nonneg=False):
    if isinstance(value, bool) or not isinstance(value, _NUMBER):
        raise InvalidInputError(f"{name} must be a number, got {value!r} ({type(value).__name__})")
    value = float(value)
    if not math.isfinite(value):
        raise InvalidInputError(f"{name} must be finite, got {value!r}")
    if positive and value <= 0:
        raise InvalidInputError(f"{name} must be > 0, got {value!r}")
    if nonneg and value < 0:
        raise InvalidInputError(f"{name} must be >= 0, got {value!r}")
    return value


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


class BanditRouter:
    """Budget-paced LinUCB router over a runtime-editable portfolio of LLMs.

    Build with :meth:`create` (or :meth:`load`); the constructor is internal.
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
        budget : float or BudgetPacer, optional
            Target mean $ per request (→ an adaptive :class:`BudgetPacer`), or a pacer. ``None``: no pacing.
        context_store : EphemeralContextStore or SqliteContextStore, optional
            Where routed contexts wait for feedback. ``None``: an in-memory store
            (TTL ``config.context_ttl``).
        seed : int, optional
            Seed of the tie-breaking generator.
        config : RouterConfig, optional

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
        pacer = cls._resolve_pacer(budget)
        store = cls._resolve_store(context_store, config)
        if seed is not None and (
            isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0
        ):
            raise ConfigError(f"seed must be None or an int >= 0, got {seed!r}")
        router = cls(
            registry=registry,
            feature_service=feature_service,
            config=config,
            pacer=pacer,
            store=store,
            rng=np.random.default_rng(seed),
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
    def _resolve_pacer(budget):
        if budget is None or isinstance(budget, BudgetPacer):
            return budget
        if isinstance(budget, bool) or not isinstance(budget, _NUMBER):
            raise ConfigError(
                f"budget must be None, a number ($ per request) or a BudgetPacer, got {budget!r}"
            )
        return BudgetPacer(float(budget))

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

    def _penalty(self, view, w):
        """``(w·c̃ array, same as list)``, cached per registry snapshot and weight."""
        if self._pen_view is not view or self._pen_w != w:
            pen = w * view.ncost
            self._pen = (pen, pen.tolist())
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
                mask = None  # eligibility as a list of bools (None: every arm eligible)
                if pacer is not None and lam > 0.0 and pacer.uses_ceiling:
                    # kernels.ceiling_eligible on floats: p ≤ multiplier·p_max/(1 + λ), dropped if empty
                    limit = (pacer.ceiling_multiplier * view.p_max) / (1.0 + lam)
                    mask = [p <= limit for p in view.price_list]
                    if all(mask) or not any(mask):
                        mask = None
                if max_cost is not None:
                    mask = self._apply_max_cost(view, mask, max_cost, n_in)
                w = self.config.cost_penalty
                if pacer is not None and pacer.uses_penalty:
                    w = w + lam
                alpha = 0.0 if self._exploiting and id(self) in _GREEDY.get() else self.config.alpha
                t = policy.t + 1
                if self._pen_view is not view or self._pen_w != w:
                    self._penalty(view, w)
                sl, s, xx = policy.scores(x, t, alpha, *self._pen)
                if not xx <= 1e12:
                    self._reject_vector(prompt_or_vector, x)
                if mask is None:
                    eligible = list(view.all_names)
                    if s is None:
                        top = sorted(sl)[-2:]
                        best = top[-1]
                        if len(top) == 1 or top[0] < best - kernels.TIE_TOLERANCE:
                            i = sl.index(best)  # a unique best (the common case)
                        else:  # ties: uniform among the tied arms, as kernels.pick_arm
                            ties = [j for j, v in enumerate(sl) if v >= best - kernels.TIE_TOLERANCE]
                            i = ties[int(self._rng.integers(len(ties)))]
                    else:
                        i = int(s.argmax())
                        if np.count_nonzero(s >= sl[i] - kernels.TIE_TOLERANCE) > 1:
                            i = kernels.pick_arm(s, True, self._rng)
                else:  # kernels.pick_arm restricted to the eligible arms, on Python floats
                    allowed = [j for j, ok in enumerate(mask) if ok]
                    eligible = [view.names[j] for j in allowed]
                    best = max(sl[j] for j in allowed)
                    ties = [j for j in allowed if sl[j] >= best - kernels.TIE_TOLERANCE]
                    i = ties[0] if len(ties) == 1 else ties[int(self._rng.integers(len(ties)))]
                scores = dict(zip(view.names, sl))  # noqa: B905 - same length by construction
            t = policy.t + 1
            policy.t = t
            if policy._small:  # policy.touch(i, t), inlined for the small-K hot path
                policy.last_played[i] = t
                policy.last_touch[i] = t
            else:
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
                self._pacer._step(meta["cost"] if cost is None else cost)
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
            JSON-able extras stored with the model (e.g. ``speed="fast"``).

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

    # ------------------------------------------------------------------ state
    @property
    def id_prefix(self) -> str:
        """Prefix of the request ids this router hands out (random per process session)."""
        return self._id_prefix

    def state_dict(self) -> dict:
        """Full state: ``{"meta": JSON-able dict, "arrays": {name: ndarray}}`` (what :meth:`save` writes).

        A consistent snapshot (routes pause for the O(K·d²) copy). ``meta`` holds format and version,
        dimension, models, registry, config, pacer, counters, RNG state, feature-service and context-store
        descriptions (with the pending contexts' ids and metadata for the in-memory store) and priors;
        ``arrays`` the policy's :meth:`LinUCBPolicy.state_dict` plus ``pending_x``.
        """
        policy = self._policy
        with policy.write_lock, policy.lock:
            arrays = policy.arrays(locked=True)
            store_state = self._store.state_dict() if hasattr(self._store, "state_dict") else {}
            store_desc = dict(self._store.describe())
            if "ids" in store_state:
                ids = store_state["ids"]
                arrays["pending_x"] = (store_state["x"].reshape(len(ids), -1) if ids
                                       else np.zeros((0, policy.d)))
                store_desc["pending"] = {"ids": ids, "meta": store_state["meta"],
                                         "created": store_state["created"]}
                store_desc["applied"] = store_state["applied"]
                store_desc["retired"] = store_state["retired"]
            meta = {
                "format": STATE_FORMAT,
                "version": STATE_VERSION,
                "dimension": policy.d,
                "models": list(self._view.names),
                "registry": self._registry.state_dict(),
                "config": self.config.to_dict(),
                "pacer": self._pacer.state_dict() if self._pacer is not None else None,
                "counters": {
                    "t": policy.t,
                    "n_feedback": self._n_feedback,
                    "pulls": dict(self._pulls),
                    "arm_uid": dict(self._arm_uid),
                    "next_uid": self._next_uid,
                    "next_request": self._next_request,
                },
                "rng": _jsonable(self._rng.bit_generator.state),
                "feature_service": self._fs.describe(),
                "context_store": store_desc,
                "priors": self.prior_info,
                "warned_clamp": self._warned_clamp,
            }
        return {"meta": meta, "arrays": arrays}

    @classmethod
    def from_state(cls, state: dict, feature_service=None, context_store=None, where: str = "state"):
        """A router rebuilt from :meth:`state_dict` output, every part validated; no side effects.

        Parameters
        ----------
        state : dict
            ``{"meta": ..., "arrays": ...}``.
        feature_service : FeatureService, optional
            Required unless the state used precomputed vectors or the bundled MiniLM (a state file never
            makes the router load a model from a path it names).
        context_store : optional
            Required when the state used a SQLite store (a state file never opens a database it names);
            otherwise the saved in-memory store's pending contexts are restored.
        where : str
            Label for error messages (e.g. the file).

        Raises
        ------
        StateFileError
        """
        meta, arrays = state["meta"], state["arrays"]
        k, d = check_router_meta(meta, where)
        models = meta["models"]
        try:
            config = RouterConfig.from_dict(meta["config"])
        except (ParetoBanditError, TypeError) as exc:
            raise StateFileError(f"{where}: invalid config ({exc})") from None
        registry = ModelRegistry.from_state(meta["registry"], config.cost_floor, config.cost_ceil)
        if registry.names != models:
            raise StateFileError(f"{where}: registry does not match the model list")
        pacer = BudgetPacer.from_state(meta["pacer"]) if meta.get("pacer") is not None else None
        policy_state = {name: arrays.get(name) for name in arrays if name != "pending_x"}
        if "b" in policy_state and getattr(policy_state["b"], "shape", None) != (k, d):
            raise StateFileError(f"{where}: array 'b' has shape {policy_state['b'].shape}, expected "
                                 f"{(k, d)} (K={k}, d={d})")
        try:
            policy = LinUCBPolicy.from_state(policy_state, config)
        except StateFileError as exc:
            raise StateFileError(f"{where}: {exc}") from None
        counters = meta["counters"]
        pulls, arm_uid, next_uid = counters["pulls"], counters["arm_uid"], counters["next_uid"]
        if set(pulls) != set(models) or set(arm_uid) != set(models) \
                or len(set(arm_uid.values())) != len(arm_uid) or max(arm_uid.values()) >= next_uid:
            raise StateFileError(f"{where}: inconsistent pulls / arm ids {arm_uid} / next {next_uid}")
        if sum(pulls.values()) > policy.t or counters["n_feedback"] > counters["next_request"] - 1 \
                or counters["next_request"] - 1 < policy.t:
            raise StateFileError(f"{where}: counters do not add up (pulls {sum(pulls.values())}, "
                                 f"feedbacks {counters['n_feedback']}, t {policy.t}, "
                                 f"next request {counters['next_request']})")
        try:
            rng = np.random.default_rng()
            rng.bit_generator.state = meta["rng"]
        except (TypeError, ValueError, KeyError) as exc:
            raise StateFileError(f"{where}: invalid state (rng: {type(exc).__name__}: {exc})") from None
        if feature_service is None:
            feature_service = feature_service_from(meta["feature_service"], where)
        if feature_service.dimension != d:
            raise StateFileError(
                f"{where}: state has dimension {d} but the feature service produces "
                f"{feature_service.dimension}")
        store_desc = meta.get("context_store") or {}
        if context_store is None:
            if store_desc.get("kind") != EphemeralContextStore.kind:
                raise StateFileError(f"{where}: the state used a {store_desc.get('kind')!r} context store; "
                                     "pass context_store= (a state file never opens a database it names)")
            pending = store_desc.get("pending") or {"ids": [], "meta": [], "created": []}
            context_store = EphemeralContextStore.from_state({
                "settings": {"ttl": store_desc.get("ttl"),
                             "max_applied": store_desc.get("max_applied", 100_000)},
                "ids": pending.get("ids"), "meta": pending.get("meta"), "created": pending.get("created"),
                "x": arrays.get("pending_x", np.zeros((0, d))),
                "applied": store_desc.get("applied", []), "retired": store_desc.get("retired", {}),
            }, dimension=d)
            for m in context_store.state_dict()["meta"]:
                if m.get("arm") is not None and m["arm"] >= next_uid:
                    raise StateFileError(f"{where}: a pending context names arm id {m['arm']} >= {next_uid}")
        router = cls(registry=registry, feature_service=feature_service, config=config, pacer=pacer,
                     store=context_store, rng=rng, policy=policy, prior_info=meta.get("priors"))
        router._pulls = {m: pulls[m] for m in models}
        router._arm_uid = {m: arm_uid[m] for m in models}
        router._next_uid = next_uid
        router._n_feedback = counters["n_feedback"]
        router._next_request = counters["next_request"]
        router._warned_clamp = bool(meta.get("warned_clamp", False))
        return router

    def save(self, path) -> Path:
        """Write a snapshot atomically (see :mod:`paretobandit.persistence`); returns the ``.json`` path."""
        from .persistence import save_router

        return save_router(self, path)

    @classmethod
    def load(cls, path, feature_service=None, context_store=None) -> BanditRouter:
        """Restore a router saved with :meth:`save`.

        Parameters
        ----------
        path : str or Path
            The path given to :meth:`save` (with or without ``.json``).
        feature_service : FeatureService, optional
            Required for custom encoders and MiniLM models outside the bundled one.
        context_store : optional
            Required if the router used a SQLite store; default: the saved in-memory store's contexts.

        Raises
        ------
        StateFileError
        """
        from .persistence import load_router

        return load_router(cls, path, feature_service=feature_service, context_store=context_store)

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

    # ------------------------------------------------------------------ display
    def _table(self) -> tuple[list[str], list[list[str]], str]:
        with self._policy.write_lock:
            view = self._view
            theta = self._policy.theta.copy()
            specs = [self._registry.get(n) for n in view.names]
            pulls = [self._pulls[n] for n in view.names]
        total = max(sum(pulls), 1)
        header = ["model", "$/M in", "$/M out", "norm. cost", "est. quality", "pulls", "share"]
        rows = [
            [
                s.name,
                f"{s.input_cost_per_m:g}",
                f"{s.output_cost_per_m:g}",
                f"{s.normalised_cost:.3f}",
                f"{theta[i, -1]:.3f}",
                str(pulls[i]),
                f"{pulls[i] / total:.1%}",
            ]
            for i, s in enumerate(specs)
        ]
        lam = self._pacer.lambda_ if self._pacer is not None else None
        footer = (
            f"t={self.t}, d={self.dimension}, alpha={self.config.alpha}, "
            f"gamma={self.config.forgetting_factor}"
            + (
                f", pacer λ={lam:.4f} (budget ${self._pacer.budget:g}/request)"
                if lam is not None
                else ", no pacer"
            )
        )
        return header, rows, footer

    def __repr__(self) -> str:
        header, rows, footer = self._table()
        widths = [max(len(r[c]) for r in [header, *rows]) for c in range(len(header))]
        lines = [
            "BanditRouter(" + footer + ")",
            "  ".join(
                h.ljust(w) if c == 0 else h.rjust(w)
                for c, (h, w) in enumerate(zip(header, widths, strict=True))
            ),
        ]
        for r in rows:
            lines.append(
                "  ".join(
                    v.ljust(w) if c == 0 else v.rjust(w)
                    for c, (v, w) in enumerate(zip(r, widths, strict=True))
                )
            )
        lines.append("(est. quality: θ bias term, the predicted reward at the mean whitened context)")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        header, rows, footer = self._table()
        head = "".join(f"<th>{escape(h)}</th>" for h in header)
        body = "".join("<tr>" + "".join(f"<td>{escape(v)}</td>" for v in r) + "</tr>" for r in rows)
        return (
            f"<div><b>BanditRouter</b> <small>{escape(footer)}</small>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
        )



def _jsonable(obj):
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return obj


class DurableRouter(DurableMixin, BanditRouter):
    """A :class:`BanditRouter` whose state-changing calls are journaled before they return.

    Build with :meth:`BanditRouter.open`, never directly; see :mod:`paretobandit.durable`.
    """
