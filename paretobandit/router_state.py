"""The state half of :class:`~paretobandit.router.BanditRouter`: snapshot, restore, save/load, display.

:class:`RouterStateMixin` is a base class of ``BanditRouter`` (it uses the attributes the router's
constructor sets). Everything :mod:`paretobandit.persistence` and :mod:`paretobandit.durable` need from a
router goes through it: :meth:`~RouterStateMixin.state_dict` / :meth:`~RouterStateMixin.from_state`
(built from the parts' own ``state_dict`` / ``from_state``: policy, pacer, registry, context store),
:meth:`~RouterStateMixin.counters`, the settable :attr:`~RouterStateMixin.id_prefix` and
:attr:`~RouterStateMixin.exploiting`.
"""

from __future__ import annotations

import re
from html import escape
from pathlib import Path

import numpy as np

from ._state import STATE_FORMAT, STATE_VERSION, check_router_meta, feature_service_from
from .config import RouterConfig
from .errors import ConfigError, ParetoBanditError, StateFileError
from .pacer import BudgetPacer
from .persistence import load_router, save_router
from .policy import LinUCBPolicy
from .registry import ModelRegistry
from .stores import EphemeralContextStore

__all__ = ["RouterStateMixin"]

#: A request-id prefix: 1-64 printable characters without whitespace.
_PREFIX = re.compile(r"[!-~]{1,64}")


class RouterStateMixin:
    """Snapshot/restore, persistence and display of a :class:`~paretobandit.router.BanditRouter`."""

    # ------------------------------------------------------------------ state
    @property
    def id_prefix(self) -> str:
        """Prefix of the request ids this router hands out (random per process session)."""
        return self._id_prefix

    @id_prefix.setter
    def id_prefix(self, prefix: str) -> None:
        """Set the prefix of the request ids handed out from now on (e.g. a durable session's).

        Raises
        ------
        ConfigError
            Not a str of 1-64 printable ASCII characters without whitespace.
        """
        if not isinstance(prefix, str) or not _PREFIX.fullmatch(prefix):
            raise ConfigError(f"id_prefix must be 1-64 printable ASCII characters without whitespace, "
                              f"got {prefix!r:.80}")
        self._id_prefix = prefix

    @property
    def exploiting(self) -> bool:
        """Whether the calling thread / asyncio task is inside :meth:`exploit` (greedy routing)."""
        return self._greedy()

    def counters(self) -> dict:
        """Copies of the bookkeeping counters (what ``state_dict()["meta"]["counters"]`` holds, plus the
        clamp-warning flag): ``t``, ``n_feedback``, ``pulls``, ``arm_uid``, ``next_uid``, ``next_request``,
        ``warned_clamp``."""
        with self._policy.write_lock, self._policy.lock:
            return dict(self._counters_locked(), warned_clamp=self._warned_clamp)

    def _counters_locked(self) -> dict:
        """``state_dict()["meta"]["counters"]`` (the caller holds the policy's write lock and lock)."""
        return {"t": self._policy.t, "n_feedback": self._n_feedback, "pulls": dict(self._pulls),
                "arm_uid": dict(self._arm_uid), "next_uid": self._next_uid,
                "next_request": self._next_request}

    def state_dict(self) -> dict:
        """Full state: ``{"meta": JSON-able dict, "arrays": {name: ndarray}}`` (what :meth:`save` writes).

        A consistent snapshot (routes pause for the O(K·d²) copy). ``meta`` holds format and version,
        dimension, models, registry, config, pacer, counters, RNG state, feature-service and context-store
        descriptions (with the pending contexts' ids and metadata for the in-memory store) and priors;
        ``arrays`` the policy's :meth:`LinUCBPolicy.state_dict` plus ``pending_x``.
        """
        policy = self._policy
        if not isinstance(policy, LinUCBPolicy):
            raise ConfigError(
                f"a router with the plug-in policy {type(policy).__name__} cannot be snapshotted: the "
                "snapshot format holds LinUCB's arrays; save policy.state_dict() alongside (plug-in pacers "
                "are saved)")
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
                "pacer_class": _qualname(type(self._pacer)) if self._pacer is not None else None,
                "counters": self._counters_locked(),
                "rng": _jsonable(self._rng.bit_generator.state),
                "feature_service": self._fs.describe(),
                "context_store": store_desc,
                "priors": self.prior_info,
                "warned_clamp": self._warned_clamp,
            }
        return {"meta": meta, "arrays": arrays}

    @classmethod
    def from_state(cls, state: dict, feature_service=None, context_store=None, where: str = "state",
                   pacer_class=None):
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
        pacer_class : type, optional
            The plug-in pacer class the state was saved with (its ``from_state`` rebuilds the pacer); a
            state file never makes the router import a class it names. Default: :class:`BudgetPacer`.
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
        pacer = None
        if meta.get("pacer") is not None:
            saved = meta.get("pacer_class") or _qualname(BudgetPacer)
            chosen = pacer_class if pacer_class is not None else BudgetPacer
            if saved != _qualname(chosen):
                raise StateFileError(f"{where}: the state was saved with the pacer {saved}; pass "
                                     f"pacer_class=<that class> to load it (got {_qualname(chosen)})")
            pacer = chosen.from_state(meta["pacer"])
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
        warned = meta.get("warned_clamp", False)
        if not isinstance(warned, bool):
            raise StateFileError(f"{where}: warned_clamp must be true or false, got {warned!r:.80}")
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
        router._restore_counters(counters, models, warned)
        return router

    def _restore_counters(self, counters: dict, models: list, warned: bool) -> None:
        """Install validated counters (:meth:`from_state`, on a router it just built)."""
        self._pulls = {m: counters["pulls"][m] for m in models}
        self._arm_uid = {m: counters["arm_uid"][m] for m in models}
        self._next_uid = counters["next_uid"]
        self._n_feedback = counters["n_feedback"]
        self._next_request = counters["next_request"]
        self._warned_clamp = warned

    def save(self, path) -> Path:
        """Write a snapshot atomically (see :mod:`paretobandit.persistence`); returns the ``.json`` path."""
        return save_router(self, path)

    @classmethod
    def load(cls, path, feature_service=None, context_store=None, pacer_class=None) -> RouterStateMixin:
        """Restore a router saved with :meth:`save`.

        Parameters
        ----------
        path : str or Path
            The path given to :meth:`save` (with or without ``.json``).
        feature_service : FeatureService, optional
            Required for custom encoders and MiniLM models outside the bundled one.
        context_store : optional
            Required if the router used a SQLite store; default: the saved in-memory store's contexts.
        pacer_class : type, optional
            The plug-in pacer class the router was saved with (default :class:`BudgetPacer`).

        Raises
        ------
        StateFileError
        """
        return load_router(cls, path, feature_service=feature_service, context_store=context_store,
                           pacer_class=pacer_class)

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


def _qualname(cls) -> str:
    """``module.QualifiedName`` of a class (recorded in snapshots, compared on load; never imported)."""
    return f"{cls.__module__}.{cls.__qualname__}"
