"""Every Hydra config composes, at both scales, and holds the paper's values."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from paretobandit.workbench import config as wconfig
from paretobandit.workbench.runner import dag_order, load_experiments

EXPERIMENTS = wconfig.experiment_names()
SCALES = ["ci", "full"]
CATALOGS = [wconfig.REPO_ROOT / "data" / "raw" / "models",
            wconfig.REPO_ROOT.parent / "shared" / "data" / "models"]


def test_presets_are_the_notebooks():
    """One preset per experiment notebook (notebooks/NN_<name>.ipynb), and nothing else."""
    folder = wconfig.REPO_ROOT / "notebooks"
    notebooks = sorted(p.stem.split("_", 1)[1] for p in folder.glob("[0-9]*_*.ipynb"))
    assert EXPERIMENTS == notebooks
    assert {"features", "budget_pacing"} <= set(EXPERIMENTS)


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("name", EXPERIMENTS)
def test_every_preset_composes_and_resolves(name, scale):
    cfg = wconfig.compose([f"experiment={name}", f"scale={scale}"])
    resolved = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    exp = resolved["experiment"]
    assert exp["name"] == name
    assert (wconfig.REPO_ROOT / exp["notebook"]).is_file()
    assert all(isinstance(d, str) for d in exp["depends_on"])
    assert resolved["scale"]["name"] == scale
    assert resolved["paths"]["results_dir"].endswith(name)
    if exp.get("macro_prefix"):
        assert exp["macro_prefix"].isalpha()


@pytest.mark.parametrize("group", ["router", "pacer", "portfolio", "data", "scale"])
def test_every_group_option_composes(group):
    options = sorted(p.stem for p in (wconfig.CONF_DIR / group).glob("*.yaml"))
    assert options
    chosen = {}
    for option in options:
        cfg = wconfig.compose([f"{group}={option}", "experiment=budget_pacing"])
        chosen[option] = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)[group]
    # every option of a group says something different (no dead copy of another option)
    texts = [json.dumps(v, sort_keys=True) for v in chosen.values()]
    assert len(set(texts)) == len(texts), chosen


def test_compose_is_repeatable_and_cwd_independent(tmp_path, monkeypatch):
    first = wconfig.to_yaml(wconfig.compose(["experiment=budget_pacing"]))
    assert "seed_offset: 3000" in first and f"root: {wconfig.REPO_ROOT}" in first
    monkeypatch.chdir(tmp_path)
    assert wconfig.to_yaml(wconfig.compose(["experiment=budget_pacing"])) == first


def test_overrides_apply():
    cfg = wconfig.compose(["experiment=budget_pacing", "scale=full", "router.params.alpha=0.05"])
    assert cfg.router.params.alpha == 0.05
    assert cfg.experiment.n_seeds == 20


def test_paper_defaults():
    cfg = wconfig.compose(["experiment=budget_pacing", "scale=full"])
    assert dict(cfg.router.params) == {
        "alpha": 0.01, "forgetting_factor": 0.997, "prior_n_effective": 1163.9, "cost_penalty": 0.0,
        "ridge": 1.0, "v_max": 200.0, "staleness_cap": 1000, "ridge_floor": 0.1}
    assert dict(cfg.pacer) == {"_target_": "paretobandit.pacer.BudgetPacer", "mode": "adaptive", "eta": 0.05,
                               "ema_alpha": 0.05, "lambda_cap": 5.0,
                               "ceiling_multiplier": 1.0}
    exp = cfg.experiment
    assert (exp.seed_offset, exp.n_budgets, exp.budgets) == (3000, 7, None)
    assert dict(exp.bootstrap) == {"n_resamples": 10000, "seed": 42, "confidence_level": 0.95}
    assert cfg.scale.max_val is None and cfg.scale.max_test is None
    tabula = wconfig.compose(["router=tabula_rasa"])
    assert tabula.router.params.alpha == 0.05 and tabula.router.priors is None


@pytest.mark.parametrize("router", ["default", "tabula_rasa"])
def test_router_params_are_router_config_fields(router):
    from paretobandit.config import RouterConfig

    params = OmegaConf.to_container(wconfig.compose([f"router={router}"]).router.params)
    built = RouterConfig.from_dict(params)  # unknown keys are an error
    assert {k: getattr(built, k) for k in params} == params


@pytest.mark.parametrize("k", [3, 4])
def test_portfolio_matches_catalog(k):
    folder = next((f for f in CATALOGS if (f / f"models_k{k}.json").is_file()), None)
    if folder is None:
        pytest.skip("reference price catalogs not available (run `make data`)")
    catalog = {m["model_id"]: m for m in json.loads((folder / f"models_k{k}.json").read_text())["models"]}
    cfg = wconfig.compose([f"portfolio=k{k}"])
    assert cfg.portfolio.catalog == f"models_k{k}.json"
    assert [m.id for m in cfg.portfolio.models] == list(catalog)
    for m in cfg.portfolio.models:
        assert m.input_cost_per_m == catalog[m.id]["input_cost_per_m"]
        assert m.output_cost_per_m == catalog[m.id]["output_cost_per_m"]
        assert m.short.isalpha()


@pytest.mark.parametrize("scale", SCALES)
def test_dependencies_form_a_dag(scale):
    order = dag_order(load_experiments(scale=scale))
    assert sorted(order) == EXPERIMENTS
    assert order.index("features") < order.index("budget_pacing")
    for name in EXPERIMENTS:
        for dep in wconfig.compose([f"experiment={name}"]).experiment.depends_on:
            assert order.index(dep) < order.index(name), (dep, name)


def test_scales_keep_ci_results_apart():
    ci = wconfig.compose(["experiment=budget_pacing", "scale=ci"])
    full = wconfig.compose(["experiment=budget_pacing", "scale=full"])
    assert Path(ci.paths.results_dir) != Path(full.paths.results_dir)
    assert full.paths.macros_dir == "paper/macros"
