"""Validated router configuration (docs/PROTOCOLS.md §1.8 defaults)."""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass, fields
from types import MappingProxyType

from . import kernels
from ._validate import as_real, number
from .errors import ConfigError

__all__ = ["DEFAULT_FORGETTING_FACTOR", "DEFAULT_N_EFF", "DEFAULT_T_ADAPT", "MIN_CAPPED_DECAY",
           "N_EFF_DECIMALS", "PACER_DEFAULTS", "RouterConfig", "as_real", "n_eff_for_gamma"]

#: Smallest accepted ``γ^staleness_cap``: one capped decay ``g`` must be a normal float with a finite
#: ``1/g``, so that the lazily scaled inverse (``A⁻¹ = s·M``, ``s /= g``) stays finite (γ = 0.4 with the
#: default cap 1000 gives 0.4^1000 ≈ 1e-398, which underflows to 0 and made feedback divide by zero).
MIN_CAPPED_DECAY = sys.float_info.min  # 2.2e-308, the smallest normal float


#: Forgetting factor γ of the paper (docs/PROTOCOLS.md §1.8).
DEFAULT_FORGETTING_FACTOR = 0.997
#: T_adapt of docs/PROTOCOLS.md §1.6: the prior should be eroded by forgetting within this many steps.
DEFAULT_T_ADAPT = 500
#: Decimals n_eff is rounded to (the protocol's 1163.9).
N_EFF_DECIMALS = 1


def n_eff_for_gamma(gamma: float, t_adapt: float = DEFAULT_T_ADAPT, decimals: int = N_EFF_DECIMALS) -> float:
    """Prior strength ``n_eff = (γ^(−T) − 1)/(1 − γ)`` rounded to ``decimals`` (γ = 1 ⇒ ``T``).

    docs/PROTOCOLS.md §1.6: the effective sample size that forgetting at rate γ erodes in ``T = t_adapt``
    steps (:func:`paretobandit.kernels.effective_sample_size`); 1163.9 for γ = 0.997, T = 500.
    """
    g = number("gamma", gamma, low=0.0, high=1.0, low_open=True, to_float=True)
    t = number("t_adapt", t_adapt, low=0.0, low_open=True, to_float=True)
    return round(kernels.effective_sample_size(g, t), int(decimals))


#: n_eff of the shipped warm-up priors: :func:`n_eff_for_gamma` at the defaults (1163.9).
DEFAULT_N_EFF = n_eff_for_gamma(DEFAULT_FORGETTING_FACTOR, DEFAULT_T_ADAPT)

#: The budget pacer's defaults, keyed by :class:`paretobandit.pacer.BudgetPacer`'s argument names. The
#: single source of ``conf/pacer/*.yaml``, :func:`paretobandit.experiments.common.parse_pacer` and the
#: docs (a test checks ``BudgetPacer``, ``sim.PacerParams`` and ``conf/pacer/adaptive.yaml`` against it).
PACER_DEFAULTS = MappingProxyType({
    "mode": "adaptive",
    "eta": 0.05,
    "ema_alpha": 0.05,
    "lambda_cap": 5.0,
    "ceiling_multiplier": 1.0,
})


@dataclass(frozen=True)
class RouterConfig:
    """Every tunable constant of the router, validated on construction.

    Parameters
    ----------
    alpha : float
        LinUCB exploration weight α (0 = greedy).
    forgetting_factor : float
        Geometric forgetting γ in (0, 1]; 1 disables forgetting and staleness inflation.
    cost_penalty : float
        Static operator cost weight λ_c (library default 0.3; the paper's experiments use 0).
    ridge : float
        Ridge λ₀ of a cold arm (``A = λ₀I``) and of the ridge floor.
    prior_n_effective : float
        Effective sample size of loaded warm-up priors (default :data:`DEFAULT_N_EFF`, derived from γ and
        T_adapt by :func:`n_eff_for_gamma`).
    v_max : float
        Cap of the staleness variance inflation (``1/max(γ^dt, 1/V_max)``).
    staleness_cap : int
        Cap on ``dt`` in ``γ^min(dt, cap)`` for both decay and inflation.
    ridge_floor : float
        Fraction of λ₀ below which the decayed ridge is restored.
    stability_interval, stability_trace : int, float
        Every ``stability_interval`` updates of an arm, re-regularise if ``trace(A⁻¹)`` exceeds this.
    cost_floor, cost_ceil : float
        $ per 1k tokens mapped to normalised cost 0 and 1.
    output_tokens : int
        Assumed output length for the per-request $ estimate.
    context_ttl : float or None
        Seconds a routed context waits for feedback before it expires (None = forever).
    """

    alpha: float = 0.01
    forgetting_factor: float = DEFAULT_FORGETTING_FACTOR
    cost_penalty: float = 0.3
    ridge: float = 1.0
    prior_n_effective: float = DEFAULT_N_EFF
    v_max: float = 200.0
    staleness_cap: int = 1000
    ridge_floor: float = 0.1
    stability_interval: int = 1000
    stability_trace: float = 1e6
    cost_floor: float = 1e-4
    cost_ceil: float = 0.10
    output_tokens: int = 600
    context_ttl: float | None = None

    def __post_init__(self) -> None:
        integers = {"staleness_cap": 1, "stability_interval": 1, "output_tokens": 0}
        bounds = {
            "alpha": {"low": 0.0},
            "forgetting_factor": {"low": 0.0, "high": 1.0, "low_open": True},
            "cost_penalty": {"low": 0.0},
            "ridge": {"low": 0.0, "low_open": True},
            "prior_n_effective": {"low": 0.0, "low_open": True},
            "v_max": {"low": 1.0},
            "ridge_floor": {"low": 0.0, "high": 1.0, "low_open": True},
            "stability_trace": {"low": 0.0, "low_open": True},
            "cost_floor": {"low": 0.0, "low_open": True},
            "cost_ceil": {"low": 0.0, "low_open": True},
        }
        for name, kw in bounds.items():  # NumPy scalars are stored as Python numbers
            object.__setattr__(self, name, number(name, getattr(self, name), **kw))
        for name, low in integers.items():
            object.__setattr__(self, name, number(name, getattr(self, name), low=low, integer=True))
        if self.staleness_cap > 10**7:
            raise ConfigError(f"staleness_cap must be <= 10^7 (it sizes a lookup table), "
                              f"got {self.staleness_cap}")
        if self.cost_ceil <= self.cost_floor:
            raise ConfigError(f"cost_ceil must exceed cost_floor, got {self.cost_ceil!r} "
                              f"<= {self.cost_floor!r}")
        capped = self.forgetting_factor ** self.staleness_cap
        if capped < MIN_CAPPED_DECAY:
            raise ConfigError(
                f"forgetting_factor**staleness_cap = {self.forgetting_factor!r}**{self.staleness_cap} "
                f"= {capped:.3g} underflows (below {MIN_CAPPED_DECAY:.3g}, the decayed state would be lost); "
                "raise forgetting_factor or lower staleness_cap")
        if self.context_ttl is not None:
            object.__setattr__(self, "context_ttl",
                               number("context_ttl", self.context_ttl, low=0.0, low_open=True))

    def to_dict(self) -> dict:
        """Plain-dict form (JSON-able) for persistence and introspection."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> RouterConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error."""
        if not isinstance(data, dict):
            raise ConfigError(f"config must be a mapping, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown RouterConfig field(s): {', '.join(unknown)}")
        return cls(**data)

    def replace(self, **changes) -> RouterConfig:
        """A copy with some fields changed (validated)."""
        return RouterConfig.from_dict({**self.to_dict(), **changes})
