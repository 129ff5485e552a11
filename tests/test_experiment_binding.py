"""run_from_config: every experiment's config keys reach its run function once, by name."""

from __future__ import annotations

import importlib
import inspect
import json

import numpy as np
import pytest
from omegaconf import OmegaConf

from paretobandit.errors import ConfigError
from paretobandit.experiments.binding import WORKBENCH_KEYS, Binding
from paretobandit.workbench import config as wconfig
from paretobandit.workbench.inputs import SplitArrays

# experiment -> (module's run function name, keyword arguments of run_from_config giving its inputs)
RUNS = {
    "budget_pacing": "run_budget_pacing",
    "budget_drift": "run_budget_drift",
    "quality_degradation": "run_quality_degradation",
    "onboarding": "run_onboarding",
    "recovery_limit": "run_recovery_limit",
    "warmup_ablation": "run_warmup_ablation",
    "prior_mismatch": "run_prior_mismatch",
    "hyperparameter_sweep": "run_hyperparameter_sweep",
    "judge_robustness": "run_judge_robustness",
    "cost_heuristic": "run_cost_heuristic",
}


def _split(cfg, which, rows=12, d=26):
    models = tuple(m.id for m in cfg.portfolio.models)
    rng = np.random.default_rng(0)
    return SplitArrays(which, models, rng.normal(size=(rows, d)), rng.uniform(size=(rows, len(models))),
                       rng.uniform(1e-5, 1e-3, size=(rows, len(models))))


def _inputs(name, cfg):
    if name in ("judge_robustness",):
        return {"tables": {"stub": True}, "features": {"stub": True}}
    if name == "cost_heuristic":
        return {"tables": {"stub": True}}
    if name in ("warmup_ablation", "prior_mismatch"):
        return {"test": _split(cfg, "test")}
    return {"val": _split(cfg, "val"), "test": _split(cfg, "test")}


def _capture(monkeypatch, mod, func_name):
    calls = []

    def stub(*args, **kwargs):
        calls.append((args, kwargs))
        return {"stub": True}

    monkeypatch.setattr(mod, func_name, stub)
    if func_name == "run_prior_mismatch":
        monkeypatch.setattr(mod, "load_prior_levels", lambda paths, models: {"levels": sorted(paths)})
    return calls


@pytest.mark.parametrize("name", sorted(RUNS))
def test_every_key_is_bound_and_reaches_a_real_parameter(name, monkeypatch):
    mod = importlib.import_module(f"paretobandit.experiments.{name}")
    real = getattr(mod, RUNS[name])
    calls = _capture(monkeypatch, mod, RUNS[name])
    cfg = wconfig.compose_run(name, "ci")
    assert mod.run_from_config(cfg, **_inputs(name, cfg)) == {"stub": True}
    (args, kwargs), = calls
    params = inspect.signature(real).parameters
    has_var_kw = any(p.kind is p.VAR_KEYWORD for p in params.values())
    assert has_var_kw or set(kwargs) <= set(params), set(kwargs) - set(params)
    # router, pacer and seeds come from the composed groups as they are
    if "router_params" in kwargs:
        assert kwargs["router_params"] == OmegaConf.to_container(cfg.router.params)
    if "pacer_params" in kwargs:
        assert kwargs["pacer_params"] == OmegaConf.to_container(cfg.pacer)
    if "seeds" in kwargs:
        exp = cfg.experiment
        assert kwargs["seeds"] == list(range(exp.seed_offset, exp.seed_offset + exp.n_seeds))


def test_values_reach_their_parameters(monkeypatch):
    from paretobandit.experiments import budget_drift, recovery_limit

    calls = _capture(monkeypatch, recovery_limit, "run_recovery_limit")
    cfg = wconfig.compose_run("recovery_limit", "ci", ["experiment.phase_length=99", "experiment.window=7"])
    recovery_limit.run_from_config(cfg, **_inputs("recovery_limit", cfg))
    kw = calls[0][1]
    assert (kw["phase_length"], kw["window"], kw["budget"]) == (99, 7, 6.62e-4)
    assert kw["priors"] == wconfig.REPO_ROOT / "data/raw/artifacts/priors_k3_d26.npz"

    calls = _capture(monkeypatch, budget_drift, "run_budget_drift")
    cfg = wconfig.compose_run("budget_drift", "ci", ["router=tabula_rasa", "pacer=hard"])
    budget_drift.run_from_config(cfg, **_inputs("budget_drift", cfg))
    kw = calls[0][1]
    assert kw["priors"] is None and kw["pacer_params"]["mode"] == "hard"
    assert list(kw["budgets"]) == ["tight", "moderate", "loose"]
    assert kw["refit_seeds"] == list(range(9500, 9510)) and kw["fit_seeds"] == list(range(10))
    assert kw["new_price"] == (0.10, 0.10)


def test_plain_dict_config_is_accepted(monkeypatch):
    from paretobandit.experiments import budget_pacing

    calls = _capture(monkeypatch, budget_pacing, "run_budget_pacing")
    cfg = wconfig.compose_run("budget_pacing", "ci")
    budget_pacing.run_from_config(cfg, **_inputs("budget_pacing", cfg))
    budget_pacing.run_from_config(OmegaConf.to_container(cfg, resolve=True), **_inputs("budget_pacing", cfg))
    tables = ("features", "rewards", "costs")
    first, second = (json.dumps({k: v for k, v in kw.items() if not k.startswith(tables)}, default=str,
                                sort_keys=True) for _, kw in calls)
    assert first == second
    assert len(calls[0][1]["budgets"]) == 7  # n_budgets geometric budgets from the val costs


def test_unknown_and_missing_keys_are_named(monkeypatch):
    from paretobandit.experiments import budget_pacing

    calls = _capture(monkeypatch, budget_pacing, "run_budget_pacing")
    cfg = wconfig.compose_run("budget_pacing", "ci", ["+experiment.n_budget=5"])
    with pytest.raises(ConfigError, match=r"experiment\.n_budget\b"):
        budget_pacing.run_from_config(cfg, **_inputs("budget_pacing", cfg))
    plain = OmegaConf.to_container(wconfig.compose_run("budget_pacing", "ci"), resolve=True)
    del plain["experiment"]["n_budgets"]
    with pytest.raises(ConfigError, match=r"missing config key experiment\.n_budgets"):
        budget_pacing.run_from_config(plain, **_inputs("budget_pacing", cfg))
    with pytest.raises(ConfigError, match="not 'budget_pacing'"):
        budget_pacing.run_from_config(wconfig.compose_run("budget_drift", "ci"))
    assert calls == []


def test_nested_unknown_key_is_named():
    cfg = OmegaConf.to_container(wconfig.compose(["experiment=onboarding"]), resolve=True)
    cfg["experiment"]["adoption"]["windw"] = 3
    b = Binding(cfg, "onboarding")
    b.experiment["adoption"]["window"]
    assert "experiment.adoption.windw" in b.unread_keys()
    assert "experiment.adoption.window" not in b.unread_keys()


@pytest.mark.parametrize("name", sorted({*RUNS, "latency"}))
def test_report_keys_are_read_by_the_notebook_or_workbench(name):
    """A declared report key exists and is read by the notebook (``exp.<key>``) or the workbench."""
    mod = importlib.import_module(f"paretobandit.experiments.{name}")
    cfg = wconfig.compose([f"experiment={name}"])
    nb = json.loads((wconfig.REPO_ROOT / cfg.experiment.notebook).read_text())
    code = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    figures = (wconfig.REPO_ROOT / "paretobandit" / "workbench" / "figures.py").read_text()
    for key in mod.REPORT_KEYS:
        assert key in cfg.experiment and key not in WORKBENCH_KEYS
        assert f"exp.{key}" in code or f'get("{key}")' in figures, key


def test_latency_binds_every_key(monkeypatch):
    from paretobandit.experiments import latency

    seen = {}
    monkeypatch.setattr(latency, "micro_benchmark", lambda **kw: seen.setdefault("micro", kw))
    monkeypatch.setattr(latency, "run_e2e_benchmark", lambda prompts, **kw: seen.setdefault(
        "e2e", {"prompts": prompts, "total_p50_ms": 1.0, **kw}))
    monkeypatch.setattr(latency, "inference_overhead", lambda path, p50, **kw: seen.setdefault(
        "inf", (path, p50, kw)))
    cfg = wconfig.compose_run("latency", "ci")
    out = latency.run_from_config(cfg)
    assert out["micro"]["dims"] == [26, 385] and out["micro"]["blas_threads"] == 1
    assert len(out["e2e"]["prompts"]) == 20
    assert out["e2e"]["pca_path"] == wconfig.REPO_ROOT / "data/raw/artifacts/pca_25_minilm.npz"
    assert out["inference"] == (None, 1.0, {"n_resamples": 10000, "seed": 42})
