"""One source per default, and the composed configs of every experiment frozen (conf/shared blocks)."""

from __future__ import annotations

import inspect
import json
from dataclasses import fields
from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf

from paretobandit import _validate
from paretobandit.config import (
    DEFAULT_FORGETTING_FACTOR,
    DEFAULT_N_EFF,
    DEFAULT_T_ADAPT,
    PACER_DEFAULTS,
    RouterConfig,
    n_eff_for_gamma,
)
from paretobandit.errors import ConfigError
from paretobandit.workbench import config as wconfig

EXPECTED = json.loads((Path(__file__).parent / "composed_config_expected.json").read_text())["configs"]


# ------------------------------------------------------------------------------------- composition
def _composed(key: str) -> dict:
    name, scale = key.split("@")
    cfg = OmegaConf.to_container(wconfig.compose([f"experiment={name}", f"scale={scale}"]), resolve=True)
    cfg.pop("paths")
    cfg.pop("hydra", None)
    return cfg


def _ordered_mappings(tree, path=""):
    """``{path: key order}`` of every budget mapping (their order is the order of tables and runs)."""
    out = {}
    if isinstance(tree, dict):
        if path.rsplit(".", 1)[-1] in ("budgets", "named_budgets"):
            out[path] = list(tree)
        for k, v in tree.items():
            out.update(_ordered_mappings(v, f"{path}.{k}" if path else k))
    return out


def test_frozen_expectation_covers_every_experiment():
    assert sorted(EXPECTED) == sorted(f"{n}@{s}" for n in wconfig.experiment_names() for s in ("ci", "full"))


@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_composed_values_are_frozen(key):
    got = _composed(key)
    assert got == EXPECTED[key]
    assert _ordered_mappings(got) == _ordered_mappings(EXPECTED[key])


def test_shared_blocks_are_defined_once():
    shared = wconfig.CONF_DIR / "shared"
    boot = yaml.safe_load((shared / "bootstrap.yaml").read_text())
    budgets = yaml.safe_load((shared / "named_budgets.yaml").read_text())
    for path in (wconfig.CONF_DIR / "experiment").glob("*.yaml"):
        text = path.read_text()
        assert "n_resamples: 10000\n    seed: 42\n    confidence_level" not in text, path.name
        assert "tight: 3.0e-4" not in text and "tight: 0.40" not in text, path.name
        assert "grid: [0.0, 0.05" not in text, path.name
    assert boot == {"n_resamples": 10000, "seed": 42, "confidence_level": 0.95}
    assert list(budgets.items()) == [("tight", 3.0e-4), ("moderate", 6.62e-4), ("loose", 1.87e-3)]


def test_data_dirs_cannot_point_elsewhere():
    wconfig.compose_run("budget_pacing", "ci")  # the defaults are where the package reads
    for key in ("raw_dir", "features_dir", "artifacts_dir"):
        with pytest.raises(ConfigError, match=f"data.{key}"):
            wconfig.compose_run("budget_pacing", "ci", [f"data.{key}=/nowhere"])


# ------------------------------------------------------------------------------------- defaults
def test_n_eff_is_derived_from_gamma_and_t_adapt():
    assert (DEFAULT_FORGETTING_FACTOR, DEFAULT_T_ADAPT) == (0.997, 500)
    assert DEFAULT_N_EFF == n_eff_for_gamma(0.997, 500) == 1163.9
    assert n_eff_for_gamma(0.997, 250) != DEFAULT_N_EFF
    assert RouterConfig().prior_n_effective == DEFAULT_N_EFF
    assert RouterConfig().forgetting_factor == DEFAULT_FORGETTING_FACTOR
    from paretobandit.experiments import common, hyperparameter_sweep

    assert common.DEFAULT_N_EFF == 1163.9
    assert hyperparameter_sweep.n_eff_for_gamma is n_eff_for_gamma


def test_router_yaml_equals_router_config_defaults():
    params = yaml.safe_load((wconfig.CONF_DIR / "router" / "default.yaml").read_text())["params"]
    defaults = RouterConfig().to_dict()
    assert set(params) <= set(defaults)
    # cost_penalty is the one deliberate difference: the pacer alone controls cost in experiments.
    assert params.pop("cost_penalty") == 0.0 != defaults["cost_penalty"]
    assert params == {k: defaults[k] for k in params}


def test_pacer_yaml_and_code_equal_pacer_defaults():
    from paretobandit.pacer import BudgetPacer
    from paretobandit.sim import PacerParams

    conf = yaml.safe_load((wconfig.CONF_DIR / "pacer" / "adaptive.yaml").read_text())
    assert conf.pop("_target_") == "paretobandit.pacer.BudgetPacer"
    assert conf == dict(PACER_DEFAULTS)
    sig = inspect.signature(BudgetPacer.__init__).parameters
    signature_defaults = {k: getattr(sig[k].default, "value", sig[k].default) for k in PACER_DEFAULTS}
    assert signature_defaults == dict(PACER_DEFAULTS)
    assert {f.name: f.default for f in fields(PacerParams)} == {k: v for k, v in PACER_DEFAULTS.items()
                                                                if k != "mode"}


@pytest.mark.parametrize("mode", ["adaptive", "hard", "soft"])
def test_every_pacer_option_reaches_the_experiments(mode):
    from paretobandit.experiments.common import parse_pacer

    cfg = wconfig.compose([f"pacer={mode}"])
    assert set(cfg.pacer) == set(PACER_DEFAULTS) | {"_target_"}  # one key per BudgetPacer argument
    got_mode, params = parse_pacer(dict(cfg.pacer))
    assert got_mode == mode
    assert params.ema_alpha == PACER_DEFAULTS["ema_alpha"]


def test_parse_pacer_rejects_unknown_and_duplicate_keys():
    from paretobandit.experiments.common import parse_pacer

    assert parse_pacer({"ema": 0.2})[1].ema_alpha == 0.2
    with pytest.raises(ConfigError, match="etaa"):
        parse_pacer({"etaa": 0.1})
    with pytest.raises(ConfigError, match="not both"):
        parse_pacer({"ema": 0.1, "ema_alpha": 0.1})


def test_one_default_priors_path():
    from paretobandit import priors, router_build
    from paretobandit.experiments import common

    assert common.default_priors_path is priors.default_priors_path
    assert router_build.default_priors_path is priors.default_priors_path


# ------------------------------------------------------------------------------------- validator
@pytest.mark.parametrize(("kwargs", "value"), [
    ({}, True), ({}, "1"), ({}, float("nan")), ({}, float("inf")), ({"low": 0.0}, -1e-9),
    ({"low": 0.0, "low_open": True}, 0.0), ({"high": 1.0}, 1.5), ({"high": 1.0, "high_open": True}, 1.0),
    ({"integer": True}, 1.0),
])
def test_number_rejects(kwargs, value):
    with pytest.raises(ConfigError, match="^x must be"):
        _validate.number("x", value, **kwargs)


def test_number_accepts_and_normalises():
    import numpy as np

    assert _validate.number("x", np.float32(0.5)) == 0.5
    assert type(_validate.number("x", np.int64(3))) is int
    assert type(_validate.number("x", 3, to_float=True)) is float
    assert _validate.number("x", 0.0, low=0.0) == 0.0
    assert _validate.integer("n", np.int32(7), low=1) == 7
    with pytest.raises(ValueError):
        _validate.integer("n", 0, low=1, error=ValueError)


def test_hydra_selects_plug_ins_by_target():
    """`pacer=pi` and `router=thompson` reach the experiments as plug-in factories; the defaults are the
    built-ins (None / PacerParams: the compiled simulator)."""
    from paretobandit.experiments.common import parse_pacer, parse_policy
    from paretobandit.sim import PacerParams

    base = wconfig.compose([])
    assert parse_policy(dict(base.router.policy)) is None
    assert isinstance(parse_pacer(dict(base.pacer))[1], PacerParams)
    cfg = wconfig.compose(["pacer=pi", "router=thompson"])
    pacer = parse_pacer(dict(cfg.pacer))[1](budget=1e-3)
    assert type(pacer).__name__ == "PIPacer" and pacer.kp == cfg.pacer.kp and pacer.budget == 1e-3
    policy = parse_policy(dict(cfg.router.policy))(dimension=4, n_arms=3, config=None, seed=0)
    assert type(policy).__name__ == "ThompsonPolicy" and policy.v == cfg.router.policy.v
    assert cfg.router.params == base.router.params              # only the policy differs
    with pytest.raises(ConfigError):
        parse_policy({"_target_": "examples.nowhere.Nothing"})
