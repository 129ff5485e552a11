"""Save and load a :class:`~paretobandit.router.BanditRouter` — pickle-free, atomic, validated.

A saved router is two files sharing a stem:

* ``<stem>.npz`` — arrays: per-arm ``A``, ``A_inv``, ``b``, ``theta``, ``rho``, ``last_update``,
  ``last_played``, ``n_updates``, the counter ``t``, the ephemeral store's pending contexts ``pending_x``,
  and the policy's exact internal representation ``raw_N``, ``raw_M``, ``raw_c``, ``raw_scales``
  (lazily scaled ``A = σ·N``, ``A⁻¹ = s·M``, ``b = β·c``; see :mod:`paretobandit.policy`);
* ``<stem>.json`` — everything else: format name and version, dimension, the registry with prices,
  :class:`RouterConfig`, pacer configuration and state, counters, the tie-break generator's
  bit-generator state, the feature-service description, the context-store description with pending
  ids/metadata, and the SHA-256 of the ``.npz`` (so a mismatched pair is detected).

Each file is written to a temporary file in the same directory, fsync'ed and moved into place with
``os.replace``; the ``.npz`` goes first, so a crash leaves either the old pair or a detectably
mismatched one. :func:`load_router` validates format, version, dimension, shapes and finiteness and
raises :class:`~paretobandit.errors.StateFileError` for truncated, corrupt, foreign or other-dimension
files.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import secrets
from pathlib import Path

import numpy as np

from ._atomic import atomic_write_bytes
from .config import RouterConfig
from .errors import ParetoBanditError, StateFileError
from .pacer import BudgetPacer
from .policy import LinUCBPolicy
from .registry import ModelRegistry
from .stores import EphemeralContextStore, SqliteContextStore

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "load_router", "router_state", "save_router"]

FORMAT_NAME = "paretobandit-router"
FORMAT_VERSION = 1

_ARM_ARRAYS = {  # name -> (trailing shape in terms of d, dtype kind)
    "A": ("dd", "f"),
    "A_inv": ("dd", "f"),
    "b": ("d", "f"),
    "theta": ("d", "f"),
    "rho": ("", "f"),
    "last_update": ("", "i"),
    "last_played": ("", "i"),
    "n_updates": ("", "i"),
}


def router_state(router) -> dict:
    """``{"meta": JSON-able dict, "arrays": {name: ndarray}}`` — a consistent snapshot of ``router``."""
    policy = router._policy
    with policy.write_lock, policy.lock:  # routes pause for the O(K·d²) copy: a consistent snapshot
        arrays = policy.arrays(locked=True)
        store = router._store
        store_desc = dict(store.describe())
        if isinstance(store, EphemeralContextStore):
            pending = store.export_state()
            arrays["pending_x"] = (
                pending["x"].reshape(len(pending["ids"]), -1) if pending["ids"] else np.zeros((0, policy.d))
            )
            store_desc["pending"] = {
                "ids": pending["ids"],
                "meta": pending["meta"],
                "created": pending["created"],
            }
            store_desc["applied"] = pending["applied"]
        pacer = router._pacer
        meta = {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "dimension": policy.d,
            "models": list(router._view.names),
            "registry": router._registry.to_dict(),
            "config": router.config.to_dict(),
            "pacer": pacer.state_dict() if pacer is not None else None,
            "counters": {
                "t": policy.t,
                "n_feedback": router._n_feedback,
                "pulls": dict(router._pulls),
                "arm_uid": dict(router._arm_uid),
                "next_uid": router._next_uid,
                "next_request": _peek_counter(router),
            },
            "rng": _jsonable(router._rng.bit_generator.state),
            "feature_service": router._fs.describe(),
            "context_store": store_desc,
            "priors": router.prior_info,
            "warned_clamp": router._warned_clamp,
        }
    return {"meta": meta, "arrays": arrays}


def _peek_counter(router) -> int:
    """Next request number without consuming it (itertools.count's repr is ``count(n)``)."""
    return int(repr(router._counter)[6:-1])


def _jsonable(obj):
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return obj


def _atomic_write(target: Path, data: bytes) -> None:
    atomic_write_bytes(target, data)


def _stem(path) -> Path:
    path = Path(path)
    return path.with_suffix("") if path.suffix in (".json", ".npz") else path


def save_router(router, path) -> Path:
    """Write ``<stem>.npz`` and ``<stem>.json`` atomically; returns the ``.json`` path."""
    stem = _stem(path)
    try:
        stem.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StateFileError(f"cannot create the directory of {stem}: {exc}") from None
    state = router_state(router)
    buf = io.BytesIO()
    np.savez(buf, **state["arrays"])
    blob = buf.getvalue()
    meta = dict(state["meta"], npz_sha256=hashlib.sha256(blob).hexdigest())
    npz_path, json_path = stem.with_name(stem.name + ".npz"), stem.with_name(stem.name + ".json")
    try:
        _atomic_write(npz_path, blob)
        _atomic_write(json_path, json.dumps(meta, indent=1).encode())
    except OSError as exc:
        raise StateFileError(f"cannot write the router state to {stem}.npz/.json: {exc}") from None
    return json_path


# ---------------------------------------------------------------------------------------------- load
def _fail(path, msg) -> StateFileError:
    return StateFileError(f"{path}: {msg}")


def _read(path):
    stem = _stem(path)
    npz_path, json_path = stem.with_name(stem.name + ".npz"), stem.with_name(stem.name + ".json")
    for p in (npz_path, json_path):
        if not p.is_file():
            raise StateFileError(f"state file missing: {p}")
    try:
        meta = json.loads(json_path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise _fail(json_path, f"not a readable JSON state file ({exc})") from None
    fmt = meta.get("format") if isinstance(meta, dict) else None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise _fail(
            json_path,
            f"not a ParetoBandit router state (format {fmt!r})",
        )
    if meta.get("version") != FORMAT_VERSION:
        raise _fail(
            json_path,
            f"unsupported state version {meta.get('version')!r} (this library reads {FORMAT_VERSION})",
        )
    blob = npz_path.read_bytes()
    if meta.get("npz_sha256") != hashlib.sha256(blob).hexdigest():
        raise _fail(npz_path, "checksum mismatch with the .json (truncated, corrupt or from another save)")
    try:
        with np.load(io.BytesIO(blob), allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except Exception as exc:  # BadZipFile, ValueError (object arrays), EOFError ...
        raise _fail(npz_path, f"unreadable array file ({exc})") from None
    return meta, arrays


def _validate(path, meta, arrays) -> tuple[int, int]:
    d = meta.get("dimension")
    models = meta.get("models")
    if isinstance(d, bool) or not isinstance(d, int) or d < 1:
        raise _fail(path, f"invalid dimension {d!r}")
    if not isinstance(models, list) or not models or len(set(models)) != len(models):
        raise _fail(path, f"invalid model list {models!r}")
    k = len(models)
    shapes = {"dd": (k, d, d), "d": (k, d), "": (k,)}
    for name, (trail, kind) in _ARM_ARRAYS.items():
        arr = arrays.get(name)
        if arr is None:
            raise _fail(path, f"array {name!r} missing")
        if arr.shape != shapes[trail]:
            raise _fail(
                path, f"array {name!r} has shape {arr.shape}, expected {shapes[trail]} (K={k}, d={d})"
            )
        if arr.dtype.kind != kind:
            raise _fail(path, f"array {name!r} has dtype {arr.dtype}")
        if kind == "f" and not np.isfinite(arr).all():
            raise _fail(path, f"array {name!r} contains NaN or Inf")
    raw_shapes = {"raw_N": (k, d, d), "raw_M": (k, d, d), "raw_c": (k, d), "raw_scales": (k, 3)}
    present = [name for name in raw_shapes if name in arrays]
    if present and len(present) != len(raw_shapes):
        raise _fail(path, f"incomplete raw arrays {present}")
    for name in present:
        arr = arrays[name]
        if arr.shape != raw_shapes[name] or arr.dtype.kind != "f" or not np.isfinite(arr).all():
            raise _fail(
                path,
                f"array {name!r} is malformed (shape {arr.shape}, expected {raw_shapes[name]}, "
                "finite floats)",
            )
    if present and not (arrays["raw_scales"] > 0).all():
        raise _fail(path, "raw_scales must be > 0")
    t = arrays.get("t")
    if t is None or t.shape != () or t.dtype.kind != "i" or int(t) < 0:
        raise _fail(path, "invalid counter t")
    if (arrays["last_update"] > int(t)).any() or (arrays["last_played"] > int(t)).any():
        raise _fail(path, "arm timestamps exceed the counter t")
    if not isinstance(meta.get("registry"), dict) or list(meta["registry"]) != models:
        raise _fail(path, "registry does not match the model list")
    return k, d


def load_router(cls, path, feature_service=None, context_store=None):
    """Rebuild a router from :func:`save_router` output (see the module docstring)."""
    meta, arrays = _read(path)
    k, d = _validate(path, meta, arrays)
    try:
        config = RouterConfig.from_dict(meta["config"])
        registry = ModelRegistry(meta["registry"], config.cost_floor, config.cost_ceil)
        pacer = BudgetPacer.from_dict(meta["pacer"]) if meta.get("pacer") is not None else None
        counters = meta["counters"]
        pulls = {m: int(counters["pulls"][m]) for m in meta["models"]}
        arm_uid = {m: int(counters.get("arm_uid", {}).get(m, i)) for i, m in enumerate(meta["models"])}
        next_uid = int(counters.get("next_uid", len(meta["models"])))
        if len(set(arm_uid.values())) != len(arm_uid) or max(arm_uid.values()) >= next_uid:
            raise StateFileError(f"{path}: inconsistent arm ids {arm_uid} / next {next_uid}")
        rng = np.random.default_rng()
        rng.bit_generator.state = meta["rng"]
    except StateFileError:
        raise
    except (ParetoBanditError, KeyError, TypeError, ValueError) as exc:
        raise _fail(path, f"invalid state ({type(exc).__name__}: {exc})") from None
    if feature_service is None:
        from .features import FeatureService

        try:
            feature_service = FeatureService.from_description(meta["feature_service"])
        except (ParetoBanditError, KeyError) as exc:
            raise _fail(path, f"cannot rebuild the feature service ({exc}); pass feature_service=") from None
    if feature_service.dimension != d:
        raise _fail(
            path, f"state has dimension {d} but the feature service produces {feature_service.dimension}"
        )
    store_desc = meta.get("context_store") or {}
    if context_store is None:
        try:
            if store_desc.get("kind") == "sqlite":
                context_store = SqliteContextStore(store_desc["path"], ttl=store_desc.get("ttl"))
            else:
                context_store = EphemeralContextStore(
                    ttl=store_desc.get("ttl"), max_applied=store_desc.get("max_applied", 100_000)
                )
                pending = store_desc.get("pending") or {"ids": [], "meta": [], "created": []}
                px = arrays.get("pending_x", np.zeros((0, d)))
                ids = pending["ids"]
                if px.shape != (len(ids), d) or (px.size and not np.isfinite(px).all()):
                    raise _fail(path, f"pending contexts have shape {px.shape}, expected ({len(ids)}, {d})")
                context_store.import_state(
                    {
                        "ids": ids,
                        "x": px,
                        "meta": pending["meta"],
                        "created": pending["created"],
                        "applied": store_desc.get("applied", []),
                    }
                )
        except StateFileError:
            raise
        except (ParetoBanditError, KeyError, TypeError, ValueError, IndexError) as exc:
            raise _fail(path, f"invalid context store state ({exc})") from None
    policy = LinUCBPolicy(d, k, config)
    policy.load_arrays(arrays)
    router = cls(
        registry=registry,
        feature_service=feature_service,
        config=config,
        pacer=pacer,
        store=context_store,
        rng=rng,
        policy=policy,
        prior_info=meta.get("priors"),
    )
    router._pulls = pulls
    router._arm_uid = arm_uid
    router._next_uid = next_uid
    router._n_feedback = int(counters.get("n_feedback", 0))
    router._counter = itertools.count(int(counters.get("next_request", 1)))
    router._id_prefix = secrets.token_hex(4) + "-"
    router._warned_clamp = bool(meta.get("warned_clamp", False))
    return router
