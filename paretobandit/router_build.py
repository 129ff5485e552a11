"""How a :class:`~paretobandit.router.BanditRouter` is built: :meth:`create`'s argument resolution (config,
priors, pacer and policy plug-ins, context store) and the loading of warm-up priors."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .config import RouterConfig
from .errors import ConfigError, DataError, DimensionMismatchError
from .pacer import BudgetPacer
from .plugins import Pacer, Policy
from .priors import default_priors_path, load_priors
from .registry import ModelRegistry
from .routing import NUMBER as _NUMBER
from .stores import EphemeralContextStore

if TYPE_CHECKING:  # pragma: no cover
    from .router import BanditRouter

__all__ = ["RouterBuildMixin"]

logger = logging.getLogger("paretobandit.router")


class _Unset:
    """Sentinel of :meth:`BanditRouter.create`'s config keywords: "not passed" (``None`` is a value)."""

    def __repr__(self) -> str:
        return "<unset>"


_UNSET = _Unset()


class RouterBuildMixin:
    """:meth:`create` and its helpers (mixed into :class:`~paretobandit.router.BanditRouter`)."""

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
