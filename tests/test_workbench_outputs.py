"""Where runs write (canonical vs run folders), the stored-config check, and exact re-rendering."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from test_workbench import MODELS, _fake_budget_pacing, _fake_tree

from paretobandit.workbench import config as wconfig
from paretobandit.workbench import results, runner
from paretobandit.workbench.publish import CanonicalOutputError, publish

REPO = Path(__file__).resolve().parents[1]


# -------------------------------------------------------------------------------- run folders
def test_overrides_slug_is_readable_and_safe():
    assert wconfig.overrides_slug("ci") == "scale=ci"
    assert (wconfig.overrides_slug("full", ["router.params.alpha=0.05", "router=tabula_rasa"])
            == "scale=full,router.params.alpha=0.05,router=tabula_rasa")
    # quotes dropped, path separators and spaces replaced, output paths not part of the name
    assert (wconfig.overrides_slug("ci", ["+experiment.tag='a b/c'", "paths.results_dir=/x"])
            == "scale=ci,+experiment.tag=a_b_c")
    long = wconfig.overrides_slug("ci", [f"experiment.k{i}={i}" for i in range(30)])
    assert len(long) == 96 and long[-11] == "-"
    other = wconfig.overrides_slug("ci", [f"experiment.k{i}={i}" for i in range(31)])
    assert other != long and other[:85] == long[:85]  # same prefix, different hash: never one folder


def test_only_a_declared_canonical_run_at_full_scale_without_overrides_is_canonical(monkeypatch):
    monkeypatch.delenv(wconfig.CANONICAL_ENV, raising=False)
    assert not wconfig.is_canonical("full")  # interactive session, nbval, nbconvert, papermill
    assert wconfig.is_canonical("full", canonical=True)
    assert not wconfig.is_canonical("ci", canonical=True)
    assert not wconfig.is_canonical("full", ["router.params.alpha=0.05"], canonical=True)
    monkeypatch.setenv(wconfig.CANONICAL_ENV, "1")  # what the runner gives its kernels
    assert wconfig.is_canonical("full") and not wconfig.is_canonical("full", ["x=1"])


def test_compose_run_places_outputs(tmp_path, monkeypatch):
    monkeypatch.delenv(wconfig.CANONICAL_ENV, raising=False)
    canon = wconfig.compose_run("budget_pacing", "full", canonical=True, root=tmp_path)
    assert canon.paths.canonical is True
    assert canon.paths.results_dir == "results/budget_pacing" and canon.paths.macros_dir == "paper/macros"
    run = wconfig.compose_run("budget_pacing", "full", ["router.params.alpha=0.05"], root=tmp_path)
    expected = tmp_path.resolve() / "results" / "_runs" / "budget_pacing"
    expected /= "scale=full,router.params.alpha=0.05"
    assert run.paths.canonical is False and run.router.params.alpha == 0.05
    assert Path(run.paths.results_dir) == expected
    assert Path(run.paths.figures_dir) == expected / "figures"
    assert Path(run.paths.macros_dir) == expected / "macros"
    interactive = wconfig.compose_run("budget_pacing", "full", root=tmp_path)
    assert Path(interactive.paths.results_dir).name == "scale=full"
    # A redirected results root moves both kinds of run, and the canonical macros with it.
    monkeypatch.setenv("PARETOBANDIT_RESULTS_ROOT", str(tmp_path / "det"))
    canon = wconfig.compose_run("budget_pacing", "full", canonical=True, root=tmp_path)
    assert canon.paths.results_dir == f"{tmp_path / 'det'}/budget_pacing"
    assert canon.paths.macros_dir == str(tmp_path / "det" / "macros")
    run = wconfig.compose_run("budget_pacing", "ci", root=tmp_path)
    assert Path(run.paths.results_dir) == tmp_path / "det" / "_runs" / "budget_pacing" / "scale=ci"
    monkeypatch.setenv("PARETOBANDIT_MACROS_DIR", str(tmp_path / "m"))
    canon = wconfig.compose_run("budget_pacing", "full", canonical=True)
    assert canon.paths.macros_dir == str(tmp_path / "m")


def _publish_fake(cfg):
    from paretobandit.workbench.report_budget_pacing import (
        TABLE_COLUMNS,
        strip_protocol_summaries,
        summarise_budget_pacing,
    )

    raw, refs = _fake_budget_pacing()
    summary, rows, traces = summarise_budget_pacing(raw, refs, models=MODELS, shorts=["cheap", "mid", "pro"],
                                                    reference_model="m/pro")
    return publish(cfg, seeds=[1, 2, 3, 4], per_seed=strip_protocol_summaries(raw), summary=summary,
                   table=rows, columns=TABLE_COLUMNS, extra={"traces": traces, "reference_points": refs})


def test_publish_refuses_canonical_folders_for_a_non_canonical_run(tmp_path):
    cfg = wconfig.compose(["experiment=budget_pacing", "scale=full"], root=tmp_path)  # canonical paths...
    with pytest.raises(CanonicalOutputError, match="not canonical"):
        _publish_fake(cfg)                                                   # ...but not declared canonical
    assert not (tmp_path / "results").exists() and not (tmp_path / "paper").exists()
    wconfig.place_outputs(cfg, "full", canonical=True)
    _publish_fake(cfg)
    assert (tmp_path / "results" / "budget_pacing" / "results.json").is_file()
    assert (tmp_path / "paper" / "macros" / "budget_pacing.tex").is_file()


def _tree_bytes(*folders: Path) -> dict[str, str]:
    out = {}
    for folder in folders:
        for f in sorted(folder.rglob("*")) if folder.exists() else ():
            if f.is_file():
                out[str(f)] = hashlib.sha256(f.read_bytes()).hexdigest()
    return out


# ------------------------------------------------------------------- stored config vs composed
def test_results_made_with_other_parameters_are_never_current(tmp_path, monkeypatch):
    conf = _fake_tree(tmp_path, {"a": []})
    said: list[str] = []
    assert runner.run(scale="full", conf_dir=conf, root=tmp_path, progress=False, echo=said.append) == ["a"]
    exp = runner.load_experiments(scale="full", conf_dir=conf, root=tmp_path)["a"]
    params = {"overrides": [], "scale": "full"}
    # The fake notebook records no config: nothing to compare, the hash decides.
    assert runner.config_mismatch(exp) is None and runner.status(exp, params) == "up to date"
    doc = json.loads(exp.results_file.read_text())
    doc["config"] = results.config_section(exp.cfg)
    exp.results_file.write_text(json.dumps(doc))
    assert runner.config_mismatch(exp) == [] and runner.status(exp, params) == "up to date"
    # Someone writes results made with another alpha into the canonical folder, keeping the stamp.
    doc["config"]["experiment"]["alpha"] = 0.05
    doc["config"]["scale"]["name"] = "ci"
    exp.results_file.write_text(json.dumps(doc))
    assert runner.config_mismatch(exp) == ["experiment.alpha", "scale.name"]
    assert runner.status(exp, params) == "config differs (experiment.alpha, scale.name)"
    assert not runner.is_up_to_date(exp, runner.input_hash(exp, root=tmp_path, params=params))
    said.clear()
    assert runner.run(scale="full", skip_run=True, conf_dir=conf, root=tmp_path, echo=said.append) == []
    assert "another config" in said[0]
    assert runner.run(scale="full", conf_dir=conf, root=tmp_path, progress=False, echo=said.append) == ["a"]


def test_runner_with_overrides_or_another_scale_leaves_canonical_folders_alone(tmp_path):
    conf = _fake_tree(tmp_path, {"a": []})
    canonical = tmp_path / "results" / "full" / "a"
    kw = dict(conf_dir=conf, root=tmp_path, progress=False, echo=lambda s: None)
    assert runner.run(scale="full", overrides=["+experiment.extra=1"], **kw) == ["a"]
    assert runner.run(scale="ci", **kw) == ["a"]
    assert not canonical.exists() and not (tmp_path / "results" / "full").exists()
    runs = tmp_path / "results" / "_runs" / "a"
    assert sorted(p.name for p in runs.iterdir()) == ["scale=ci", "scale=full,+experiment.extra=1"]
    assert (runs / "scale=full,+experiment.extra=1" / "results.json").is_file()


def test_nbconvert_execute_of_a_notebook_writes_a_run_folder(tmp_path):
    conf = _fake_tree(tmp_path, {"a": []})
    nb_path = tmp_path / "nb" / "a.ipynb"
    nb = nbformat.read(nb_path, as_version=4)
    nb.cells[0].source = 'overrides = []\nscale = "full"'   # the committed notebooks default to full
    nbformat.write(nb, nb_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARETOBANDIT_")}
    env["PYTHONPATH"] = str(REPO)
    subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
                    "--output", str(tmp_path / "executed.ipynb"), str(nb_path)],
                   cwd=tmp_path, env=env, check=True, capture_output=True, timeout=300)
    assert not (tmp_path / "results" / "full").exists()
    assert (tmp_path / "results" / "_runs" / "a" / "scale=full" / "results.json").is_file()
    assert conf.is_dir()


@pytest.mark.skipif(not (REPO / "data" / "raw" / "rewards" / "val.jsonl").is_file(),
                    reason="needs the reward tables (paretobandit data fetch)")
def test_readme_override_examples_leave_the_paper_untouched(tmp_path):
    """The README's papermill example (overrides via -y) and `run --only budget_pacing router=...`,
    at ci scale so the test stays short, change no byte of results/budget_pacing/ or paper/macros/."""
    protected = (REPO / "results" / "budget_pacing", REPO / "paper" / "macros")
    before = _tree_bytes(*protected)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARETOBANDIT_")}
    env["PYTHONPATH"] = str(REPO)
    subprocess.run([sys.executable, "-m", "papermill", str(REPO / "notebooks" / "01_budget_pacing.ipynb"),
                    str(tmp_path / "out.ipynb"),
                    "-y", '{scale: ci, overrides: ["router.params.alpha=0.05"]}'],
                   cwd=tmp_path, env=env, check=True, capture_output=True, timeout=600)
    run_dir = REPO / "results" / "_runs" / "budget_pacing" / "scale=ci,router.params.alpha=0.05"
    assert json.loads((run_dir / "results.json").read_text())["config"]["router"]["params"]["alpha"] == 0.05
    assert (run_dir / "macros" / "budget_pacing.tex").is_file()
    said: list[str] = []
    runner.run(only=["budget_pacing"], scale="ci", overrides=["router=tabula_rasa"], force=True,
               progress=False, echo=said.append)
    tabula = REPO / "results" / "_runs" / "budget_pacing" / "scale=ci,router=tabula_rasa"
    assert (tabula / "results.json").is_file()
    assert _tree_bytes(*protected) == before


# ----------------------------------------------------------------------------- exact re-render
def test_skip_run_rerenders_byte_identical_figures_and_macros(tmp_path, monkeypatch):
    monkeypatch.delenv(wconfig.CANONICAL_ENV, raising=False)
    cfg = wconfig.compose_run("budget_pacing", "ci", root=tmp_path)
    _publish_fake(cfg)
    out = Path(cfg.paths.results_dir)
    first = _tree_bytes(out / "figures", out / "macros")
    assert len(first) == 7  # 3 figures x (pdf, png) + the macros
    for f in (out / "figures").iterdir():
        f.unlink()
    (out / "macros" / "budget_pacing.tex").unlink()
    exp = runner.load_experiments(scale="ci", root=tmp_path)["budget_pacing"]
    assert exp.results_dir == out
    runner.render_outputs(exp)
    assert _tree_bytes(out / "figures", out / "macros") == first


def test_notebook_figures_follow_the_json_not_the_in_memory_order(tmp_path, monkeypatch):
    """A figure drawn in a mapping's iteration order comes out the same from publish() (the notebook)
    and from the re-render, because both draw from the JSON as written (sorted keys)."""
    import matplotlib.pyplot as plt
    from omegaconf import open_dict

    from paretobandit.workbench import figures
    from paretobandit.workbench.publish import render_document

    @figures.register("order_demo", "values")
    def _values(doc):
        fig, ax = plt.subplots()
        cells = doc["summary"]["cells"]
        ax.plot(range(len(cells)), list(cells.values()), marker="o")
        ax.set_xticks(range(len(cells)), list(cells))
        return fig

    monkeypatch.delenv(wconfig.CANONICAL_ENV, raising=False)
    cfg = wconfig.compose_run("budget_pacing", "ci", root=tmp_path)
    with open_dict(cfg):
        cfg.experiment.name = "order_demo"
    publish(cfg, seeds=[1], per_seed={}, summary={"cells": {"tight": 3.0, "moderate": 1.0, "loose": 2.0}})
    out = Path(cfg.paths.results_dir)
    notebook_png = (out / "figures" / "values.png").read_bytes()
    doc = results.read_results(out / "results.json")
    rerendered = render_document(doc, tmp_path / "again", None, None)
    assert (tmp_path / "again" / "values.png").read_bytes() == notebook_png
    assert [p.name for p in rerendered] == ["values.pdf", "values.png"]


def test_readme_tables_refuse_results_made_with_other_parameters(tmp_path):
    import shutil

    from paretobandit.workbench import readme

    shutil.copytree(REPO / "conf", tmp_path / "conf")
    out = tmp_path / "results" / "budget_pacing"
    out.mkdir(parents=True)
    canonical = wconfig.compose_run("budget_pacing", "full", canonical=True, root=tmp_path)
    doc = {"schema_version": results.SCHEMA_VERSION, "config": results.config_section(canonical)}
    (out / "results.json").write_text(json.dumps(doc))
    readme.check_canonical("budget_pacing", tmp_path)          # the canonical config: accepted
    doc["config"]["router"]["params"]["alpha"] = 0.05         # the README's papermill example
    (out / "results.json").write_text(json.dumps(doc))
    with pytest.raises(readme.NotCanonicalError, match="router.params.alpha"):
        readme.check_canonical("budget_pacing", tmp_path)


def test_runner_terminal_shows_no_kernel_transport_warning(tmp_path, capfd):
    conf = _fake_tree(tmp_path, {"a": []})
    runner.run(scale="ci", conf_dir=conf, root=tmp_path, progress=False, echo=lambda s: None)
    err = capfd.readouterr().err
    assert "without encryption" not in err
    assert runner.KERNEL_ARGS == ["--IPKernelApp.log_level=ERROR"]


def test_runner_announces_the_previous_wall_time(tmp_path):
    conf = _fake_tree(tmp_path, {"a": []})
    said: list[str] = []
    kw = dict(scale="ci", conf_dir=conf, root=tmp_path, progress=False, echo=said.append)
    runner.run(**kw)
    assert "last run took" not in said[0]
    info = tmp_path / "results" / "_runs" / "a" / "scale=ci" / "run_info.json"
    doc = json.loads(info.read_text())
    doc["wall_seconds"] = 212.4
    info.write_text(json.dumps(doc))
    said.clear()
    runner.run(force=True, **kw)
    assert said[0].endswith("; last run took 212 s)")
