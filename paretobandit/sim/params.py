"""Parameters of a simulated batch and their validation: built-in pacer constants, warm-up priors,
per-run settings, and the plug-in arguments (docs/ALGORITHM.md; :mod:`paretobandit.plugins`)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..config import PACER_DEFAULTS
from ..errors import ConfigError, DimensionMismatchError, InvalidInputError

__all__ = ["PacerParams", "Priors"]

_MODES = {"hard": (True, False), "soft": (False, True), "adaptive": (True, True)}


# ------------------------------------------------------------------------------------- parameters
@dataclass(frozen=True)
class PacerParams:
    """Pacer constants shared by every run of a batch (docs/PROTOCOLS.md §1.4 defaults)."""

    eta: float = PACER_DEFAULTS["eta"]
    ema_alpha: float = PACER_DEFAULTS["ema_alpha"]
    lambda_cap: float = PACER_DEFAULTS["lambda_cap"]
    ceiling_multiplier: float = PACER_DEFAULTS["ceiling_multiplier"]

    def __post_init__(self) -> None:
        from ..pacer import pacer_settings

        for name, value in pacer_settings(self.eta, self.ema_alpha, self.lambda_cap,
                                          self.ceiling_multiplier).items():
            object.__setattr__(self, name, value)

    @classmethod
    def from_dict(cls, params: dict | None) -> PacerParams:
        """Build from a config mapping; accepts ``ema`` for ``ema_alpha`` and ignores ``mode``."""
        params = dict(params or {})
        params.pop("mode", None)
        if "ema" in params:
            params["ema_alpha"] = params.pop("ema")
        unknown = set(params) - {"eta", "ema_alpha", "lambda_cap", "ceiling_multiplier"}
        if unknown:
            raise ConfigError(f"unknown pacer parameter(s): {sorted(unknown)}")
        return cls(**params)


@dataclass(frozen=True)
class Priors:
    """Offline warm-up statistics in the batch's arm (column) order.

    Attributes
    ----------
    a_off : array (K, d, d) or (S, K, d, d)
        ``A_off`` per arm (optionally per run).
    b_off : array (K, d) or (S, K, d)
        ``b_off`` per arm.
    mask : array (K,) or (S, K) of bool, optional
        Arms that have a prior; the others start cold (``A = λ₀I, b = 0``). Default: all.
    """

    a_off: np.ndarray
    b_off: np.ndarray
    mask: np.ndarray | None = None


# ------------------------------------------------------------------------------------- validation
def _per_run(name: str, value: Any, n_runs: int, *, low: float | None = None, high: float | None = None,
             allow_nan: bool = False) -> np.ndarray:
    """Broadcast a scalar or length-S sequence to a float64 (S,) array, validated."""
    try:
        arr = np.array([np.nan if v is None else v for v in value] if isinstance(value, (list, tuple))
                       else (np.nan if value is None else value), dtype=float)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number or a sequence of {n_runs} numbers, got {value!r}"
                          ) from None
    if arr.ndim == 0:
        arr = np.full(n_runs, float(arr))
    if arr.shape != (n_runs,):
        raise ConfigError(f"{name} must be a scalar or have length {n_runs}, got shape {arr.shape}")
    finite = np.isfinite(arr)
    if not allow_nan and not finite.all():
        raise ConfigError(f"{name} must be finite, got {value!r}")
    if np.isinf(arr).any():
        raise ConfigError(f"{name} must not be infinite")
    vals = arr[finite]
    if low is not None and (vals < low).any():
        raise ConfigError(f"{name} must be >= {low}, got {value!r}")
    if high is not None and (vals > high).any():
        raise ConfigError(f"{name} must be <= {high}, got {value!r}")
    return arr


def _modes(pacer_mode: Any, n_runs: int) -> tuple[np.ndarray, np.ndarray]:
    """(uses_ceiling, uses_penalty) boolean arrays from a mode or a per-run list of modes."""
    items = list(pacer_mode) if isinstance(pacer_mode, (list, tuple, np.ndarray)) else [pacer_mode] * n_runs
    if len(items) != n_runs:
        raise ConfigError(f"pacer_mode must be one mode or {n_runs} modes, got {len(items)}")
    ceiling, penalty = np.zeros(n_runs, dtype=bool), np.zeros(n_runs, dtype=bool)
    for i, m in enumerate(items):
        key = str(getattr(m, "value", m)).lower()
        if key not in _MODES:
            raise ConfigError(f"pacer_mode must be one of {sorted(_MODES)}, got {m!r}")
        ceiling[i], penalty[i] = _MODES[key]
    return ceiling, penalty


def _array(name: str, value: Any, ndim: int, *, dtype=float) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=dtype)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{name} must be a numeric array") from None
    if arr.ndim != ndim:
        raise DimensionMismatchError(f"{name} must be {ndim}-D, got shape {arr.shape}")
    return arr


def _is_builtin(factory, cls) -> bool:
    return factory is cls or (isinstance(factory, functools.partial) and factory.func is cls
                              and not factory.args)


def _resolve_pacer_arg(pacer, pacer_mode):
    """``(PacerParams, plug-in factory or None, pacer_mode)`` from the ``pacer`` argument.

    ``None`` / :class:`PacerParams`: the built-in pacer. :class:`~paretobandit.pacer.BudgetPacer` or a
    ``functools.partial`` of it (what Hydra's ``_partial_: true`` makes): the built-in pacer with those
    keywords (its ``mode`` overrides ``pacer_mode``). Any other callable: a plug-in factory
    ``factory(budget=B)``, run on the generic path.
    """
    from ..pacer import BudgetPacer

    if pacer is None:
        return PacerParams(), None, pacer_mode
    if isinstance(pacer, PacerParams):
        return pacer, None, pacer_mode
    if _is_builtin(pacer, BudgetPacer):
        kw = dict(pacer.keywords) if isinstance(pacer, functools.partial) else {}
        mode = kw.pop("mode", pacer_mode)
        return PacerParams.from_dict(kw), None, getattr(mode, "value", mode)
    if callable(pacer):
        return PacerParams(), pacer, pacer_mode
    raise ConfigError(f"pacer must be PacerParams, a BudgetPacer (partial) or a pacer factory, got {pacer!r}")


def _resolve_policy_arg(policy):
    """``None`` for the built-in LinUCB (also given as the class or a keyword-free partial), else the
    plug-in factory ``factory(dimension=, n_arms=, config=, seed=)``."""
    from ..policy import LinUCBPolicy

    if policy is None or _is_builtin(policy, LinUCBPolicy):
        return None
    if not callable(policy):
        raise ConfigError(f"policy must be a policy factory (e.g. a class), got {policy!r}")
    return policy
