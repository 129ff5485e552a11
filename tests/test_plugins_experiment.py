"""Notebook 13 (plug-ins beside ParetoBandit): config, ParetoBandit rows = notebooks 01/03's, report."""

from __future__ import annotations

import numpy as np
import pytest
from omegaconf import OmegaConf

from paretobandit.errors import ConfigError
from paretobandit.experiments import budget_pacing, plugins, quality_degradation
from paretobandit.workbench import config as wconfig
from paretobandit.workbench import figures
from paretobandit.workbench.report_plugins import TABLE_COLUMNS, strip_traces, summarise_plugins


def _plain(overrides, scale="full"):
    return OmegaConf.to_container(wconfig.compose([*overrides, f"scale={scale}"]), resolve=True)


def test_protocol_values_are_notebook_01_and_03s():
    """conf/experiment/plugins.yaml repeats Exp 01's and Exp 03's protocol; a drift would break the claim
    that its ParetoBandit rows are those notebooks' rows."""
    mine = _plain(["experiment=plugins"])["experiment"]
    e01 = _plain(["experiment=budget_pacing"])["experiment"]
    e03 = _plain(["experiment=quality_degradation"])["experiment"]
    for key in ("seed_offset", "n_seeds", "n_budgets"):
        assert mine["pacing"][key] == e01[key], key
    assert e01["budgets"] is None                       # Exp 01 uses the geometric grid the index picks from
    deg = mine["degradation"]
    for key in ("seed_offset", "n_seeds", "phase_length", "phase_seed", "penalty_mode", "window",
                "late_steps", "trace_stride", "budgets", "static_penalty"):
        assert deg[key] == e03[key], key
    assert list(deg["budgets"]) == list(e03["budgets"])
    assert (deg["model"], deg["reward"]) == (e03["degradation"]["model"], e03["degradation"]["reward"])
    assert mine["bootstrap"] == e01["bootstrap"] == e03["bootstrap"]
    # the plug-ins are the Hydra presets pacer=pi and router=thompson
    assert mine["plugins"]["pacer"] == _plain(["experiment=budget_pacing", "pacer=pi"])["pacer"]
    thompson = _plain(["experiment=budget_pacing", "router=thompson"])["router"]
    assert mine["plugins"]["router"]["policy"] == thompson["policy"]


def test_router_specs():
    builtin_pacer = {"_target_": "paretobandit.pacer.BudgetPacer", "mode": "adaptive"}
    pol, pac = {"_target_": "x.P", "v": 1}, {"_target_": "x.Q"}
    specs = plugins.router_specs({"a": {"policy": "builtin", "pacer": "plugin"},
                                  "b": {"policy": "plugin", "pacer": "builtin"}},
                                 policy=None, pacer=builtin_pacer, plugin_policy=pol, plugin_pacer=pac)
    assert specs == {"a": {"policy": None, "pacer_params": pac},
                     "b": {"policy": pol, "pacer_params": builtin_pacer}}
    with pytest.raises(ConfigError, match="one of"):
        plugins.router_specs({"a": {"policy": "plug", "pacer": "builtin"}}, policy=None, pacer=builtin_pacer,
                             plugin_policy=pol, plugin_pacer=pac)
    with pytest.raises(ConfigError, match="_target_"):
        plugins.router_specs({"a": {"policy": "builtin", "pacer": "builtin"}}, policy=None,
                             pacer=builtin_pacer, plugin_policy={"v": 1}, plugin_pacer=pac)
    with pytest.raises(ConfigError, match="n_jobs"):
        plugins.run_jobs([], n_jobs=0)


@pytest.fixture(scope="module")
def ci_runs():
    """Notebook 13 at ci scale with two routers (the PI pacer is fast), in two worker processes, beside
    notebooks 01 and 03's own runs (03 without its fitted-λ_c variants, a separate run)."""
    drop = ["~experiment.routers.thompson", "~experiment.routers.thompson_pi", "experiment.n_jobs=2"]
    cfg = wconfig.compose_run("plugins", "ci", drop)
    raw = plugins.run_from_config(cfg)
    nb01 = budget_pacing.run_from_config(wconfig.compose_run("budget_pacing", "ci", []))
    nb03 = quality_degradation.run_from_config(
        wconfig.compose_run("quality_degradation", "ci", ["experiment.variants=[]"]))
    return cfg, raw, nb01, nb03


def test_paretobandit_rows_are_notebook_01_and_03s(ci_runs):
    _, raw, nb01, nb03 = ci_runs
    assert raw["routers"] == ["paretobandit", "pi_pacer"] and raw["budget_numbers"] == [3, 4, 5]
    mine = raw["budget_pacing"]["paretobandit"]
    assert mine["seeds"] == nb01["seeds"]
    assert mine["per_budget"] == nb01["per_budget"][2:5]
    cells = {c["budget"]: c for c in nb03["cells"] if c["condition"] == "paretobandit"}
    mine03 = raw["quality_degradation"]["paretobandit"]
    assert [c["budget"] for c in mine03["cells"]] == list(nb03["budgets"])
    for cell in mine03["cells"]:
        assert cell == cells[cell["budget"]]


def test_the_plugin_pacer_is_the_one_that_ran(ci_runs):
    _, raw, _, _ = ci_runs
    for experiment in ("budget_pacing", "quality_degradation"):
        assert raw[experiment]["pi_pacer"]["pacer_params"]["_target_"] == "examples.pi_pacer.PIPacer"
        assert raw[experiment]["paretobandit"]["pacer_params"]["eta"] == 0.05
    pb = np.array(raw["budget_pacing"]["paretobandit"]["per_budget"][0]["per_seed"]["median_lambda"])
    pi = np.array(raw["budget_pacing"]["pi_pacer"]["per_budget"][0]["per_seed"]["median_lambda"])
    assert not np.array_equal(pb, pi)


def test_summary_rows_and_figure(ci_runs, tmp_path):
    cfg, raw, _, _ = ci_runs
    shorts = {m.id: m.short for m in cfg.portfolio.models}
    summary, rows = summarise_plugins(strip_traces(raw), shorts=shorts)
    assert len(rows) == 2 * (3 + 3) and all(set(r) <= set(TABLE_COLUMNS) for r in rows)
    pb = summary["pacing"]["paretobandit"]["budget_3"]
    ps = raw["budget_pacing"]["paretobandit"]["per_budget"][0]["per_seed"]
    assert pb["mean_reward"] == pytest.approx(np.mean(ps["mean_reward"]))
    assert pb["worst_seed_util"] == pytest.approx(max(ps["utilisation"]))
    cell = summary["degradation"]["pi_pacer"]["moderate"]
    qd = next(c for c in raw["quality_degradation"]["pi_pacer"]["cells"] if c["budget"] == "moderate")
    assert cell["recovery_ratio"] == pytest.approx(np.mean(qd["per_seed"]["recovery_ratio"]))
    assert cell["reward_p2"] == pytest.approx(np.mean(qd["per_seed"]["mean_reward"][1]))
    assert summary["headlines"]["n_seeds_pacing"] == 3
    written = figures.render({"experiment": "plugins", "table": rows}, tmp_path)
    assert sorted(p.name for p in written) == ["routers.pdf", "routers.png"]


def test_readme_tables(ci_runs, tmp_path):
    from paretobandit.workbench import readme, results

    text = "<!-- table:plugins_pacing -->\n<!-- /table:plugins_pacing -->"
    assert "not run yet" in readme.render(text, tmp_path)          # before notebook 13's first run
    cfg, raw, _, _ = ci_runs
    _, rows = summarise_plugins(raw, shorts={m.id: m.short for m in cfg.portfolio.models})
    results.write_summary_csv(tmp_path / "results" / "plugins" / "summary.csv", rows, TABLE_COLUMNS)
    pacing = readme.plugins_pacing(tmp_path).splitlines()
    assert len(pacing) == 2 + 3 * 2 and pacing[2].startswith("| B3 |") and "ParetoBandit" in pacing[2]
    degradation = readme.plugins_degradation(tmp_path).splitlines()
    assert len(degradation) == 2 + 3 * 2 and "| tight | PI pacer |" in degradation[3]
