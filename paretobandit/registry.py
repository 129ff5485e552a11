"""Model registry: the portfolio of arms with their prices (docs/PROTOCOLS.md §1.3, §1.7).

A :class:`ModelRegistry` keeps :class:`ModelSpec` entries in registration order. Prices are given in
$ per million tokens, either as an ``(input, output)`` pair or as a single ``blended`` price (then
input = output = blended). A model without a price is an error: there is no silent default.

Derived quantities (computed with :mod:`paretobandit.kernels`):

* blended price ``p = (in + out)/2/1000`` in $ per 1k tokens;
* normalised unit cost ``c̃ = clip((ln max(p, floor) − ln floor)/(ln ceil − ln floor), 0, 1)``;
* ``p_max``, the largest blended price (the reference of the pacer's hard ceiling).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from . import kernels
from .errors import ConfigError, DuplicateModelError, InvalidInputError, RegistryError, UnknownModelError

__all__ = ["DEFAULT_PORTFOLIO", "ModelRegistry", "ModelSpec", "validate_model_name", "validate_prices"]

#: The paper's K = 3 portfolio (OpenRouter ids, $ per million input / output tokens).
DEFAULT_PORTFOLIO: dict[str, dict[str, float]] = {
    "meta-llama/llama-3.1-8b-instruct": {"input_cost_per_m": 0.1, "output_cost_per_m": 0.1},
    "mistralai/mistral-large-2512": {"input_cost_per_m": 0.5, "output_cost_per_m": 1.5},
    "google/gemini-2.5-pro": {"input_cost_per_m": 1.25, "output_cost_per_m": 10.0},
}

_PRICE_KEYS = ("input_cost_per_m", "output_cost_per_m", "blended")


def validate_model_name(name) -> str:
    """Return ``name`` if it is a non-empty string, else raise :class:`InvalidInputError`."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidInputError(f"model name must be a non-empty string, got {name!r}")
    return name


def _price(label: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InvalidInputError(f"{label} must be a number ($ per million tokens), got {value!r}")
    value = float(value)
    if not math.isfinite(value) or value < 0.0:
        raise InvalidInputError(f"{label} must be a finite price >= 0 ($ per million tokens), got {value!r}")
    return value


def validate_prices(
    name: str, input_cost_per_m=None, output_cost_per_m=None, blended=None
) -> tuple[float, float]:
    """Resolve the accepted price forms to ``(input, output)`` $ per million tokens.

    Parameters
    ----------
    name : str
        Model name (for messages).
    input_cost_per_m, output_cost_per_m : float, optional
        The price pair; both or neither.
    blended : float, optional
        A single price used for input and output alike (only when the pair is absent).

    Raises
    ------
    ConfigError
        No price at all, only half of the pair, or both a pair and ``blended``.
    InvalidInputError
        A negative, NaN, infinite or non-numeric price.
    """
    pair_given = (input_cost_per_m is not None, output_cost_per_m is not None)
    if blended is not None:
        if any(pair_given):
            raise ConfigError(
                f"model {name!r}: give either input_cost_per_m/output_cost_per_m or blended, not both"
            )
        value = _price(f"blended price of {name!r}", blended)
        return value, value
    if not any(pair_given):
        raise ConfigError(
            f"model {name!r} has no price: give input_cost_per_m and output_cost_per_m, or blended "
            "($ per million tokens); there is no default price"
        )
    if not all(pair_given):
        missing = "output_cost_per_m" if pair_given[0] else "input_cost_per_m"
        raise ConfigError(f"model {name!r}: {missing} is missing (give both prices, or blended)")
    return (
        _price(f"input_cost_per_m of {name!r}", input_cost_per_m),
        _price(f"output_cost_per_m of {name!r}", output_cost_per_m),
    )


@dataclass(frozen=True)
class ModelSpec:
    """One arm of the portfolio.

    Parameters
    ----------
    name : str
        Model id (e.g. ``"google/gemini-2.5-pro"``).
    input_cost_per_m, output_cost_per_m : float
        $ per million input / output tokens.
    blended_per_1k : float
        ``(input + output)/2/1000`` $ per 1k tokens.
    normalised_cost : float
        Log-normalised unit cost c̃ in [0, 1].
    metadata : dict
        Free-form JSON-able extras (``speed=...``, provider, ...).
    """

    name: str
    input_cost_per_m: float
    output_cost_per_m: float
    blended_per_1k: float
    normalised_cost: float
    metadata: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-able form: prices and metadata (derived costs are recomputed on load)."""
        return {
            "input_cost_per_m": self.input_cost_per_m,
            "output_cost_per_m": self.output_cost_per_m,
            **({"metadata": dict(self.metadata)} if self.metadata else {}),
        }


class ModelRegistry:
    """Ordered, validated set of :class:`ModelSpec` (not thread-safe: the router serialises writers).

    Parameters
    ----------
    models : dict, optional
        ``{name: {"input_cost_per_m": .., "output_cost_per_m": .., <metadata>...}}`` or
        ``{name: {"blended": ..}}``. ``None`` means :data:`DEFAULT_PORTFOLIO`. An empty mapping is an error.
    cost_floor, cost_ceil : float
        $ per 1k tokens mapped to normalised cost 0 and 1.
    """

    def __init__(self, models: dict | None = None, cost_floor: float = 1e-4, cost_ceil: float = 0.10):
        self.cost_floor = float(cost_floor)
        self.cost_ceil = float(cost_ceil)
        self._specs: dict[str, ModelSpec] = {}
        models = DEFAULT_PORTFOLIO if models is None else models
        if not isinstance(models, dict):
            raise ConfigError(f"model_registry must be a dict {{name: prices}}, got {type(models).__name__}")
        if not models:
            raise ConfigError("model_registry is empty: at least one model is needed")
        specs = {}
        for name, entry in models.items():
            validate_model_name(name)
            if not isinstance(entry, dict):
                raise ConfigError(f"model_registry[{name!r}] must be a dict of prices, got {entry!r}")
            specs[name] = self._make_spec(name, **entry)
        self._specs = specs

    # ------------------------------------------------------------------ construction helpers
    def _make_spec(
        self, name, input_cost_per_m=None, output_cost_per_m=None, blended=None, metadata=None, **extra
    ) -> ModelSpec:
        inp, out = validate_prices(name, input_cost_per_m, output_cost_per_m, blended)
        meta = dict(metadata or {})
        meta.update(extra)
        p = float(kernels.blended_price(inp, out))
        c = float(kernels.normalised_cost(p, self.cost_floor, self.cost_ceil))
        return ModelSpec(name, inp, out, p, c, meta)

    def spec_for(self, name, **prices_and_metadata) -> ModelSpec:
        """Validate a would-be entry without adding it (raises like :meth:`add`)."""
        validate_model_name(name)
        if name in self._specs:
            raise DuplicateModelError(f"model {name!r} is already registered")
        return self._make_spec(name, **prices_and_metadata)

    # ------------------------------------------------------------------ queries
    @property
    def names(self) -> list[str]:
        """Model names in registration order."""
        return list(self._specs)

    def __len__(self) -> int:
        return len(self._specs)

    def __contains__(self, name) -> bool:
        return name in self._specs

    def __getitem__(self, name) -> ModelSpec:
        return self.get(name)

    def get(self, name) -> ModelSpec:
        """The spec of ``name``; :class:`UnknownModelError` if absent."""
        try:
            return self._specs[name]
        except (KeyError, TypeError):
            raise UnknownModelError(f"unknown model {name!r}; registered: {', '.join(self._specs)}") from None

    def index(self, name) -> int:
        """Position of ``name`` in registration order."""
        self.get(name)
        return list(self._specs).index(name)

    def specs(self) -> list[ModelSpec]:
        """All specs in registration order."""
        return list(self._specs.values())

    @property
    def p_max(self) -> float:
        """Largest blended price ($/1k) among registered models."""
        return max(s.blended_per_1k for s in self._specs.values())

    def arrays(self) -> dict[str, np.ndarray]:
        """Per-arm arrays in registration order: ``input``, ``output`` ($/M), ``price`` ($/1k), ``ncost``."""
        specs = self.specs()
        return {
            "input": np.array([s.input_cost_per_m for s in specs], dtype=float),
            "output": np.array([s.output_cost_per_m for s in specs], dtype=float),
            "price": np.array([s.blended_per_1k for s in specs], dtype=float),
            "ncost": np.array([s.normalised_cost for s in specs], dtype=float),
        }

    # ------------------------------------------------------------------ mutation
    def add(self, name, input_cost_per_m=None, output_cost_per_m=None, blended=None, **metadata) -> ModelSpec:
        """Register a new model (appended last). Raises :class:`DuplicateModelError` if present."""
        spec = self.spec_for(
            name,
            input_cost_per_m=input_cost_per_m,
            output_cost_per_m=output_cost_per_m,
            blended=blended,
            **metadata,
        )
        self._specs[name] = spec
        return spec

    def remove(self, name) -> ModelSpec:
        """Drop a model; removing the last one is a :class:`RegistryError`."""
        spec = self.get(name)
        if len(self._specs) == 1:
            raise RegistryError(f"cannot remove {name!r}: it is the last model in the registry")
        del self._specs[name]
        return spec

    def repriced(self, name, input_cost_per_m=None, output_cost_per_m=None, blended=None) -> ModelSpec:
        """Validated new spec for ``name`` with changed prices (metadata kept); does not mutate."""
        old = self.get(name)
        spec = self._make_spec(name, input_cost_per_m, output_cost_per_m, blended)
        return ModelSpec(
            name,
            spec.input_cost_per_m,
            spec.output_cost_per_m,
            spec.blended_per_1k,
            spec.normalised_cost,
            dict(old.metadata),
        )

    def reprice(self, name, input_cost_per_m=None, output_cost_per_m=None, blended=None) -> ModelSpec:
        """Change the prices of ``name`` in place (cost drift)."""
        spec = self.repriced(name, input_cost_per_m, output_cost_per_m, blended)
        self._specs[name] = spec
        return spec

    def set_spec(self, spec: ModelSpec) -> None:
        """Insert or replace a pre-validated spec (used by the router after validation)."""
        self._specs[spec.name] = spec

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict:
        """``{name: {"input_cost_per_m", "output_cost_per_m", ["metadata"]}}`` in registration order."""
        return {name: spec.to_dict() for name, spec in self._specs.items()}

    state_dict = to_dict

    @classmethod
    def from_state(cls, state: dict, cost_floor: float = 1e-4, cost_ceil: float = 0.10) -> ModelRegistry:
        """Inverse of :meth:`state_dict` (validated as the constructor; errors are
        :class:`~paretobandit.errors.StateFileError`)."""
        from .errors import ParetoBanditError, StateFileError

        if not isinstance(state, dict):
            raise StateFileError(f"invalid registry state: expected a mapping, got {type(state).__name__}")
        try:
            return cls(state, cost_floor, cost_ceil)
        except (ParetoBanditError, TypeError) as exc:
            raise StateFileError(f"invalid registry state ({type(exc).__name__}: {exc})") from None

    def copy(self) -> ModelRegistry:
        """Independent copy."""
        new = ModelRegistry.__new__(ModelRegistry)
        new.cost_floor, new.cost_ceil = self.cost_floor, self.cost_ceil
        new._specs = dict(self._specs)
        return new

    def __repr__(self) -> str:
        return f"ModelRegistry({', '.join(self._specs)})"
