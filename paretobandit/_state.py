"""Validation of the JSON half of a router state (:meth:`BanditRouter.state_dict` ``["meta"]``).

Shapes, finiteness and the meaning of the arrays are checked by
:func:`paretobandit.policy.validate_state`; the parts (config, registry, pacer, store) validate their own
sections in their ``from_state``. This module checks what ties them together: format, version, dimension,
model list and counters (integers in ``[0, 2^53]``), and decides which feature service a state may rebuild
by itself (no model is ever loaded from a path named by a state file).
"""

from __future__ import annotations

from .errors import ConfigError, FeatureError, ModelLoadError, StateFileError
from .policy import MAX_COUNTER

STATE_FORMAT = "paretobandit-router"
STATE_VERSION = 2

_COUNTERS = ("t", "n_feedback", "next_uid", "next_request")


def _count(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, int) and 0 <= value <= MAX_COUNTER


def check_router_meta(meta, where: str = "state") -> tuple[int, int]:
    """``(K, d)`` of a router state's ``meta``; :class:`StateFileError` naming the first problem."""
    if not isinstance(meta, dict) or meta.get("format") != STATE_FORMAT:
        fmt = meta.get("format") if isinstance(meta, dict) else None
        raise StateFileError(f"{where}: not a ParetoBandit router state (format {fmt!r})")
    if meta.get("version") != STATE_VERSION:
        raise StateFileError(f"{where}: unsupported state version {meta.get('version')!r} "
                             f"(this library reads {STATE_VERSION})")
    d, models = meta.get("dimension"), meta.get("models")
    if not _count(d) or d < 1:
        raise StateFileError(f"{where}: invalid dimension {d!r}")
    if not isinstance(models, list) or not models or not all(isinstance(m, str) and m for m in models) \
            or len(set(models)) != len(models):
        raise StateFileError(f"{where}: invalid model list {models!r:.200}")
    if not isinstance(meta.get("registry"), dict) or list(meta["registry"]) != models:
        raise StateFileError(f"{where}: registry does not match the model list")
    counters = meta.get("counters")
    if not isinstance(counters, dict):
        raise StateFileError(f"{where}: invalid state (counters missing)")
    for name in _COUNTERS:
        if not _count(counters.get(name)):
            raise StateFileError(f"{where}: counter {name} = {counters.get(name)!r} is not an int in "
                                 "[0, 2^53]")
    if counters["next_request"] < 1:
        raise StateFileError(f"{where}: counter next_request must be >= 1")
    for name in ("pulls", "arm_uid"):
        table = counters.get(name)
        if not isinstance(table, dict) or not all(_count(v) for v in table.values()):
            raise StateFileError(f"{where}: counters.{name} must map models to ints in [0, 2^53]")
    return len(models), d


def feature_service_from(description, where: str = "state"):
    """The feature service a state describes, if it may be rebuilt without the caller's help.

    Precomputed vectors and the bundled MiniLM pipeline are rebuilt; a custom encoder or a MiniLM model
    at another path needs ``feature_service=`` (loading a state never loads a model from a path it names).
    """
    from .features import DEFAULT_MODEL_NAME, FeatureService

    if not isinstance(description, dict):
        raise StateFileError(f"{where}: invalid feature service description {description!r:.200}")
    kind, model = description.get("kind"), description.get("model", DEFAULT_MODEL_NAME)
    if kind == "custom" or (kind == "minilm" and model != DEFAULT_MODEL_NAME):
        what = model if kind == "minilm" else description.get("encoder")
        raise StateFileError(f"{where}: the state used a {kind} feature pipeline ({what}); pass "
                             "feature_service= (a state file never makes the router load a model from "
                             "a path)")
    try:
        return FeatureService.from_description(description)
    except (ConfigError, FeatureError, ModelLoadError, KeyError, TypeError) as exc:
        raise StateFileError(f"{where}: cannot rebuild the feature service ({exc}); "
                             "pass feature_service=") from None
