"""ModelRegistry: price forms, validation, derived costs, mutation."""

from __future__ import annotations

import math

import pytest

from paretobandit.errors import (
    ConfigError,
    DuplicateModelError,
    InvalidInputError,
    RegistryError,
    UnknownModelError,
)
from paretobandit.registry import DEFAULT_PORTFOLIO, ModelRegistry


def test_default_portfolio():
    reg = ModelRegistry()
    assert reg.names == [
        "meta-llama/llama-3.1-8b-instruct",
        "mistralai/mistral-large-2512",
        "google/gemini-2.5-pro",
    ]
    costs = [s.normalised_cost for s in reg.specs()]
    assert costs[0] == 0.0
    assert costs[1] == pytest.approx(0.333, abs=5e-4) and costs[2] == pytest.approx(0.583, abs=5e-4)
    assert reg.p_max == pytest.approx((1.25 + 10.0) / 2 / 1000)
    assert DEFAULT_PORTFOLIO["mistralai/mistral-large-2512"] == {
        "input_cost_per_m": 0.5,
        "output_cost_per_m": 1.5,
    }


def test_blended_only_and_metadata():
    reg = ModelRegistry({"a": {"blended": 2.0, "speed": "slow"}})
    s = reg["a"]
    assert s.input_cost_per_m == s.output_cost_per_m == 2.0 and s.metadata == {"speed": "slow"}
    reg.add("flash", input_cost_per_m=0.3, output_cost_per_m=2.5)
    assert reg["flash"].normalised_cost == pytest.approx(0.382, abs=5e-4)
    assert ModelRegistry(reg.to_dict()).to_dict() == reg.to_dict()


@pytest.mark.parametrize(
    "entry,exc",
    [
        ({}, ConfigError),
        ({"input_cost_per_m": 1.0}, ConfigError),
        ({"output_cost_per_m": 1.0}, ConfigError),
        ({"input_cost_per_m": -1, "output_cost_per_m": 1}, InvalidInputError),
        ({"input_cost_per_m": math.nan, "output_cost_per_m": 1}, InvalidInputError),
        ({"input_cost_per_m": 1, "output_cost_per_m": math.inf}, InvalidInputError),
        ({"blended": None, "input_cost_per_m": None}, ConfigError),
        ({"blended": "x"}, InvalidInputError),
    ],
)
def test_invalid_prices(entry, exc):
    with pytest.raises(exc):
        ModelRegistry({"m": entry})


def test_mutation():
    reg = ModelRegistry()
    with pytest.raises(DuplicateModelError):
        reg.add("google/gemini-2.5-pro", blended=1.0)
    reg.reprice("google/gemini-2.5-pro", input_cost_per_m=0.1, output_cost_per_m=0.3)
    assert reg.p_max == pytest.approx((0.5 + 1.5) / 2 / 1000)
    with pytest.raises(UnknownModelError):
        reg.reprice("nope", blended=1.0)
    reg.remove("google/gemini-2.5-pro")
    reg.remove("mistralai/mistral-large-2512")
    with pytest.raises(RegistryError):
        reg.remove("meta-llama/llama-3.1-8b-instruct")
    with pytest.raises(ConfigError):
        ModelRegistry({})
