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
import logging
import math
import secrets
import threading

import numpy as np

from . import kernels
from ._state import STATE_FORMAT, STATE_VERSION
from .config import RouterConfig
from .durable import DurableMixin, open_directory
from .errors import (
    BudgetExceededError,
    ConfigError,
    DimensionMismatchError,
    InvalidInputError,
    ParetoBanditError,
    StoreError,
    UnknownModelError,
)
from .pacer import BudgetPacer
from .policy import LinUCBPolicy
from .registry import ModelRegistry
from .replay import ReplayContext
from .router_build import RouterBuildMixin
from .router_registry import RegistryEditsMixin
from .router_state import RouterStateMixin
from .routing import F64, INF, NUMBER, RegistryView, RoutingLog, as_context, check_number

__all__ = ["BanditRouter", "DurableRouter", "RoutingLog", "STATE_FORMAT", "STATE_VERSION"]


#: Routers inside ``exploit()`` in the current thread / asyncio task (ids; a ContextVar, so an asyncio
#: task's greedy block does not leak into the other tasks of its event loop).
_GREEDY: contextvars.ContextVar[frozenset] = contextvars.ContextVar("paretobandit_greedy",
                                                                   default=frozenset())

logger = logging.getLogger(__name__)

_NUMBER, _F64, _INF = NUMBER, F64, INF


class BanditRouter(RouterBuildMixin, RegistryEditsMixin, RouterStateMixin):
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
        # policies that multiply outside the lock (LinUCBPolicy.project / scores_from, small d); plug-ins
        # score under the lock as the Policy protocol says
        self._lockfree = getattr(self._policy, "unlocked_products", False) is True
        self._pacer = pacer
        self._store = store
        self._rng = rng
        self._exploiting = 0  # contexts currently inside exploit() (skips the ContextVar lookup)
        self._exploit_lock = threading.Lock()
        self._view = RegistryView(registry, config.output_tokens)
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
            max_cost = check_number("max_cost", max_cost, positive=True)
        pacer = self._pacer
        policy = self._policy
        lock = policy.lock
        projected = None
        if self._lockfree and force_model is None:
            if not lock.acquire(False):
                # contended: take the O(K·d²) products while the lock is busy instead of sleeping on it;
                # scores_from uses them only if no write overlapped (docs/DEPLOYMENT.md)
                projected = policy.project(x)
                lock.acquire()
        else:
            lock.acquire()
        try:
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
                if projected is None:
                    sl, xx = policy.scores(x, t, alpha, pen)
                else:
                    sl, xx = policy.scores_from(projected, x, t, alpha, pen)
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
        finally:
            lock.release()
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
            cost = check_number("cost", cost, nonneg=True)
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
        vec = as_context(x, self._policy.d)
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
