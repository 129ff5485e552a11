"""Workbench machinery: results files, bootstrap, macros, runner (with a fake config tree)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import nbformat
import numpy as np
import pytest
from scipy import stats as sps

from paretobandit.workbench import macros, results, runner, stats
from paretobandit.workbench.config import compose


# ----------------------------------------------------------------------------------------- results
def _doc(**kw):
    per_seed = {"reward": np.array([0.1 + 0.2, 0.5, np.float32(0.25)]), "n": np.int64(3)}
    base = dict(experiment="demo", config={"a": {"b": 1.5, "paths": 2}, "paths": {"root": "/x", "out": "r"}},
                seeds=[np.int64(1), 2], per_seed=per_seed,
                summary={"z": 1.0, "a": {"mean_reward": np.float64(0.3), "nan": float("nan")}})
    base.update(kw)
    return results.build_results(**base)


def test_results_are_byte_identical(tmp_path):
    a = results.write_results(tmp_path / "a" / "results.json", _doc()).read_bytes()
    b = results.write_results(tmp_path / "b" / "results.json", _doc()).read_bytes()
    assert a == b
    text = a.decode()
    assert text.endswith("\n") and "/x" not in text  # output paths dropped: location does not leak
    assert json.loads(text)["config"] == {"a": {"b": 1.5, "paths": 2}}
    doc = json.loads(text)
    assert doc["schema_version"] == results.SCHEMA_VERSION
    assert list(doc) == sorted(doc)
    assert doc["per_seed"]["reward"][0] == 0.3  # 0.30000000000000004 rounded by the float policy
    assert doc["summary"]["a"]["nan"] is None
    assert set(doc["provenance"]) == {"package", "version", "git_commit"}
    assert "time" not in text.lower()


def test_float_policy_absorbs_summation_noise():
    x = np.random.default_rng(0).random(1000)
    assert results.dumps({"s": x.sum()}) == results.dumps({"s": x[::-1].sum()})


def test_canonical_rejects_unknown_types():
    with pytest.raises(TypeError, match="set"):
        results.canonical({"a": {1, 2}})


def test_extra_sections_and_reserved_keys():
    assert _doc(extra={"reference_points": {"x": 1}})["reference_points"] == {"x": 1}
    with pytest.raises(ValueError, match="reserved"):
        _doc(extra={"summary": {}})


def test_read_results_checks_schema(tmp_path):
    path = results.write_results(tmp_path / "r.json", _doc())
    assert results.read_results(path)["experiment"] == "demo"
    bad = json.loads(path.read_text())
    bad["schema_version"] = 999
    path.write_text(json.dumps(bad))
    with pytest.raises(ValueError, match="schema_version"):
        results.read_results(path)


def test_summary_csv(tmp_path):
    rows = [{"method": "pacer", "budget": 2.93e-5, "mean_reward": 0.1 + 0.2},
            {"method": "random", "mean_reward": 0.88, "extra": 1}]
    p1 = results.write_summary_csv(tmp_path / "s1.csv", rows)
    p2 = results.write_summary_csv(tmp_path / "s2.csv", rows)
    assert p1.read_bytes() == p2.read_bytes()
    assert p1.read_text().splitlines() == ["method,budget,mean_reward,extra", "pacer,2.93e-05,0.3,",
                                           "random,,0.88,1"]


def test_run_info_is_separate(tmp_path):
    info = json.loads(results.write_run_info(tmp_path / "run_info.json", wall_seconds=1.5).read_text())
    assert info["wall_seconds"] == 1.5 and "finished_utc" in info


# ------------------------------------------------------------------------------------------- stats
def test_bootstrap_matches_scipy_percentile():
    x = np.array([0.91, 0.93, 0.90, 0.95, 0.92, 0.94])
    ref = sps.bootstrap((x,), np.mean, n_resamples=10_000, confidence_level=0.95, method="percentile",
                        rng=np.random.default_rng(42))
    low, high = stats.bootstrap_ci(x)
    assert (low, high) == (ref.confidence_interval.low, ref.confidence_interval.high)
    assert low <= x.mean() <= high
    assert stats.bootstrap_ci(x) == stats.bootstrap_ci(list(x))  # deterministic


@pytest.mark.parametrize("values", [[0.5], [0.7, 0.7, 0.7]])
def test_bootstrap_degenerate(values):
    assert stats.bootstrap_ci(values) == (values[0], values[0])
    s = stats.summarise(values)
    assert s["ci_low"] == s["ci_high"] == s["mean"] == values[0] and s["std"] == 0.0


@pytest.mark.parametrize("values", [[], [1.0, float("nan")]])
def test_bootstrap_rejects_bad_input(values):
    with pytest.raises(ValueError, match="values"):
        stats.bootstrap_ci(values)


def test_summarise_metrics():
    out = stats.summarise_metrics({"a": [1.0, 2.0, 3.0], "b": [1.0]})
    assert out["a"]["n"] == 3 and out["a"]["mean"] == 2.0 and out["b"]["ci_low"] == 1.0


# ------------------------------------------------------------------------------------------ macros
def test_macro_names_are_letters_only():
    name = macros.macro_name("ExpOne", "pacer", "budget_3", "mean_reward")
    assert name == "ExpOnePacerBudgetThreeMeanReward"
    assert macros.macro_name("ExpOne", "budget_12") == "ExpOneBudgetTwelve"
    assert macros.macro_name("x", "seed_3000") == "XSeedThreeZeroZeroZero"
    assert macros.macro_name("fixed", "meta-llama/llama-3.1-8b") == "FixedMetaLlamaLlamaThreeOneEightB"
    with pytest.raises(ValueError):
        macros.macro_name("_", "-")


def test_macro_file_contents():
    doc = {"experiment": "e", "summary": {
        "pacer": {"budget_1": {"mean_reward": 0.8134, "mean_cost": 2.93e-5, "utilisation": 0.981,
                               "overshoot_pct": 0.4, "n_seeds": 20, "label": "50% & $x_1$"}},
        "trace": [1, 2, 3], "none": None}}
    text = macros.render_macros(doc, "ExpOne")
    lines = [ln for ln in text.splitlines() if not ln.startswith("%")]
    assert lines == [
        r"\newcommand{\ExpOnePacerBudgetOneLabel}{50\% \& \$x\_1\$}",
        r"\newcommand{\ExpOnePacerBudgetOneMeanCost}{\ensuremath{2.93\times 10^{-5}}}",
        r"\newcommand{\ExpOnePacerBudgetOneMeanReward}{0.813}",
        r"\newcommand{\ExpOnePacerBudgetOneNSeeds}{20}",
        r"\newcommand{\ExpOnePacerBudgetOneOvershootPct}{0.4}",
        r"\newcommand{\ExpOnePacerBudgetOneUtilisation}{0.98}",
    ]
    for line in lines:
        name = line.split("{", 2)[1].strip("\\}")
        assert name.isalpha()


def test_macro_collisions_are_errors():
    with pytest.raises(ValueError, match="both"):
        macros.render_macros({"summary": {"a_b": 1.0, "aB": 2.0}}, "P")


def test_number_formats():
    assert macros.format_number("mean_cost", 1.5e-2) == r"\ensuremath{1.50\times 10^{-2}}"
    assert macros.format_number("mean_cost", 0.0) == "0"
    assert macros.format_number("mean_reward", float("nan")) == "n/a"
    assert macros.format_number("flag", True) == "yes"


def test_write_macros(tmp_path):
    path = macros.write_macros(tmp_path / "m" / "e.tex", {"summary": {"x": 0.5}}, "Pre")
    assert r"\newcommand{\PreX}{0.500}" in path.read_text()


# ------------------------------------------------------------------------------------------ runner
CONFIG_YAML = """
defaults:
  - _self_
  - scale: ci
  - experiment: null
paths:
  root: ???
  results_root: results/${scale.name}
  results_dir: ${paths.results_root}/${experiment.name}
  figures_dir: ${paths.results_dir}/figures
  macros_dir: ${paths.results_root}/macros
"""

NOTEBOOK_CODE = """
import json, pathlib
from paretobandit.workbench.config import compose_run, repo_path
root = next(p for p in (pathlib.Path.cwd(), pathlib.Path.cwd().parent) if (p / "conf").is_dir())
cfg = compose_run(NAME, scale, overrides, conf_dir=root / "conf", root=root)
out = repo_path(cfg, cfg.paths.results_dir)
out.mkdir(parents=True, exist_ok=True)
log = root / "runs.log"
log.write_text(log.read_text() + NAME + "\\n" if log.exists() else NAME + "\\n")
doc = {"schema_version": 1, "experiment": NAME, "summary": {"value": 0.5, "scale_n": len(scale)}}
(out / "results.json").write_text(json.dumps(doc))
(root / "out").mkdir(exist_ok=True)
(root / "out" / f"{NAME}.bin").write_text("artifact")
"""


def _fake_tree(root: Path, deps: dict[str, list[str]]) -> Path:
    conf = root / "conf"
    (conf / "scale").mkdir(parents=True)
    (conf / "experiment").mkdir()
    (conf / "config.yaml").write_text(CONFIG_YAML)
    for scale in ("ci", "full"):
        (conf / "scale" / f"{scale}.yaml").write_text(f"name: {scale}\n")
    (root / "nb").mkdir()
    (root / "in").mkdir()
    for name, needs in deps.items():
        (root / "in" / f"{name}.txt").write_text("input v1\n")
        (conf / "experiment" / f"{name}.yaml").write_text(textwrap.dedent(f"""\
            # @package _global_
            experiment:
              name: {name}
              notebook: nb/{name}.ipynb
              macro_prefix: Fake{name.capitalize()}
              depends_on: {json.dumps(needs)}
              inputs: [in/{name}.txt, in/missing_*.txt]
              outputs: [out/{name}.bin]
            """))
        nb = nbformat.v4.new_notebook()
        params = nbformat.v4.new_code_cell('overrides = []\nscale = "ci"')
        params.metadata["tags"] = ["parameters"]
        nb.cells = [params, nbformat.v4.new_code_cell(f"NAME = {name!r}" + NOTEBOOK_CODE)]
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, root / "nb" / f"{name}.ipynb")
    return conf


def _runs(root: Path) -> list[str]:
    log = root / "runs.log"
    return log.read_text().split() if log.exists() else []


def test_dag_order_and_errors(tmp_path):
    conf = _fake_tree(tmp_path, {"c": ["a", "b"], "b": ["a"], "a": [], "d": []})
    exps = runner.load_experiments(scale="ci", conf_dir=conf, root=tmp_path)
    assert runner.dag_order(exps) == ["a", "d", "b", "c"]
    exps["a"] = exps["a"].__class__(**{**exps["a"].__dict__, "depends_on": ("c",)})
    with pytest.raises(ValueError, match="cycle"):
        runner.dag_order(exps)
    exps["a"] = exps["a"].__class__(**{**exps["a"].__dict__, "depends_on": ("zzz",)})
    with pytest.raises(ValueError, match="unknown"):
        runner.dag_order(exps)


def test_input_hash_tracks_notebook_config_inputs_and_params(tmp_path):
    conf = _fake_tree(tmp_path, {"a": []})

    def digest(**kw):
        exp = runner.load_experiments(scale="ci", conf_dir=conf, root=tmp_path, **kw)["a"]
        return runner.input_hash(exp, root=tmp_path, params={"scale": "ci"})

    base = digest()
    assert digest() == base
    assert digest(overrides=["+experiment.extra=1"]) != base
    (tmp_path / "in" / "a.txt").write_text("input v2\n")
    changed_input = digest()
    assert changed_input != base
    (tmp_path / "in" / "missing_1.txt").write_text("new file matching a glob\n")
    assert digest() != changed_input
    # the notebook's code counts, its outputs do not (refreshing committed outputs keeps results current)
    import nbformat

    nb_path = next(tmp_path.glob("nb/*.ipynb"))
    before = digest()
    nb = nbformat.read(nb_path, as_version=4)
    code = next(c for c in nb.cells if c.cell_type == "code")
    code.outputs = [nbformat.v4.new_output("stream", name="stdout", text="printed\n")]
    code.execution_count = 7
    nbformat.write(nb, nb_path)
    assert digest() == before
    code.source += "\n# an edit"
    nbformat.write(nb, nb_path)
    assert digest() != before


def test_runner_runs_in_order_then_skips(tmp_path):
    conf = _fake_tree(tmp_path, {"b": ["a"], "a": []})
    said: list[str] = []
    run = dict(scale="ci", conf_dir=conf, root=tmp_path, progress=False, echo=said.append)
    assert runner.run(**run) == ["a", "b"]
    assert _runs(tmp_path) == ["a", "b"]
    ci_a = tmp_path / "results" / "_runs" / "a" / "scale=ci"  # not canonical: a run folder
    assert (ci_a / "a.ipynb").is_file()  # executed copy kept
    assert (tmp_path / "results" / "_runs" / "b" / "scale=ci" / runner.HASH_FILE).is_file()
    assert not (tmp_path / "results" / "ci").exists()
    info = json.loads((ci_a / "run_info.json").read_text())
    assert info["scale"] == "ci" and info["wall_seconds"] >= 0
    # Nothing changed: nothing runs, and the runner says so.
    said.clear()
    assert runner.run(**run) == []
    assert said[-1] == "all up to date" and _runs(tmp_path) == ["a", "b"]
    # A declared output disappears: only its producer re-runs.
    (tmp_path / "out" / "a.bin").unlink()
    assert runner.run(**run) == ["a"]
    assert _runs(tmp_path) == ["a", "b", "a"]
    # An input of b changes: only b re-runs.
    (tmp_path / "in" / "b.txt").write_text("input v2\n")
    assert runner.run(**run) == ["b"]
    # The notebook of a changes: a re-runs; --only limits the selection; --force ignores the hash.
    nb = nbformat.read(tmp_path / "nb" / "a.ipynb", as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("x = 1"))
    nbformat.write(nb, tmp_path / "nb" / "a.ipynb")
    assert runner.run(only=["a"], **run) == ["a"]
    assert runner.run(only=["b"], force=True, **run) == ["b"]
    assert _runs(tmp_path) == ["a", "b", "a", "b", "a", "b"]
    with pytest.raises(ValueError, match="unknown"):
        runner.run(only=["nope"], **run)
    # The canonical scale without overrides writes the canonical folders.
    full = runner.run(scale="full", conf_dir=conf, root=tmp_path, progress=False, echo=said.append)
    assert full == ["a", "b"]
    assert (tmp_path / "results" / "full" / "b" / "results.json").is_file()


def test_skip_run_rerenders_macros_only(tmp_path):
    conf = _fake_tree(tmp_path, {"a": [], "b": ["a"]})
    out = tmp_path / "results" / "_runs" / "a" / "scale=ci"
    out.mkdir(parents=True)
    results.write_results(out / "results.json", {"schema_version": results.SCHEMA_VERSION, "experiment": "a",
                                                 "summary": {"mean_reward": 0.75}})
    said: list[str] = []
    done = runner.run(scale="ci", skip_run=True, conf_dir=conf, root=tmp_path, echo=said.append)
    assert done == ["a"] and _runs(tmp_path) == []
    tex = (out / "macros" / "a.tex").read_text()
    assert r"\newcommand{\FakeAMeanReward}{0.750}" in tex
    assert any("b: no results yet" in s for s in said)


def test_cli_list(capsys):
    from paretobandit.workbench.__main__ import main

    assert main(["run", "--list", "--scale", "ci"]) == 0
    lines = capsys.readouterr().out.splitlines()
    names = [ln.split()[0] for ln in lines]
    assert names.index("features") < names.index("budget_pacing")
    statuses = ("up to date", "out of date", "not run", "no notebook")
    assert all(any(s in ln for s in statuses) for ln in lines)


def test_compose_from_fake_tree_sets_root(tmp_path):
    conf = _fake_tree(tmp_path, {"a": []})
    cfg = compose(["experiment=a"], conf_dir=conf, root=tmp_path)
    assert cfg.paths.root == str(tmp_path.resolve())
    assert cfg.paths.results_dir == "results/ci/a"


# ------------------------------------------------------------------ Exp 01 report on fake results
MODELS = ["m/cheap", "m/mid", "m/pro"]


def _fake_budget_pacing(n_seeds=4, budgets=(3e-5, 2.3e-4, 1.5e-2)):
    rng = np.random.default_rng(0)
    per_budget = []
    for b in budgets:
        cost = b * rng.uniform(0.9, 1.004, n_seeds)
        per_budget.append({
            "budget": b,
            "per_seed": {"mean_reward": (0.8 + 10 * b + rng.normal(0, 0.005, n_seeds)).tolist(),
                         "mean_cost": cost.tolist(), "utilisation": (cost / b).tolist(),
                         "median_lambda": rng.uniform(0, 1, n_seeds).tolist(), "share": {"m/pro": [0.1]}},
            "summary": {"mean_reward": {"mean": 0.0}},
            "lambda_trajectory": {"test_step": [0, 10, 20], "mean_lambda": [0.1, 0.5, 0.4],
                                  "p10_lambda": [0.0, 0.3, 0.2], "p90_lambda": [0.2, 0.7, 0.6]}})
    refs = {"fixed": {m: {"mean_reward": r, "mean_cost": c}
                      for m, r, c in zip(MODELS, (0.79, 0.92, 0.93), (3e-5, 5e-4, 1.5e-2), strict=True)},
            "random": {"mean_reward": [0.88, 0.882], "mean_cost": [5e-3, 5.1e-3]},
            "oracle": {"mean_reward": 0.963, "mean_cost": 4e-3}}
    return {"per_budget": per_budget}, refs


def test_budget_pacing_summary_and_publish(tmp_path):
    from paretobandit.workbench.publish import publish
    from paretobandit.workbench.report_budget_pacing import (
        TABLE_COLUMNS,
        strip_protocol_summaries,
        summarise_budget_pacing,
    )

    raw, refs = _fake_budget_pacing()
    summary, rows, traces = summarise_budget_pacing(raw, refs, models=MODELS, shorts=["cheap", "mid", "pro"],
                                                    reference_model="m/pro")
    assert list(summary["pacer"]) == ["budget_1", "budget_2", "budget_3"]
    cell = summary["pacer"]["budget_2"]
    assert cell["reward_ci_low"] <= cell["mean_reward"] <= cell["reward_ci_high"]
    assert cell["pct_reference_quality"] == pytest.approx(100 * cell["mean_reward"] / 0.93)
    assert summary["headlines"]["max_overshoot_pct"] >= 0
    expected = ["pacer"] * 3 + [f"fixed:{m}" for m in MODELS] + ["random", "oracle"]
    assert [r["method"] for r in rows] == expected
    assert set(rows[0]) == set(TABLE_COLUMNS)
    assert len(traces["lambda"]["budget_1"]["mean"]) == 3
    assert traces["lambda"]["budget_1"]["mean"] == [0.1, 0.5, 0.4]
    stripped = strip_protocol_summaries(raw)
    assert "summary" not in stripped["per_budget"][0] and "summary" in raw["per_budget"][0]

    cfg = compose(["experiment=budget_pacing", "scale=ci"], root=tmp_path)
    docs = [publish(cfg, seeds=[1, 2, 3, 4], per_seed=raw, summary=summary, table=rows, columns=TABLE_COLUMNS,
                    extra={"traces": traces, "reference_points": refs}) for _ in range(2)]
    assert docs[0] == docs[1]
    out = tmp_path / "results" / "_ci" / "budget_pacing"
    first = (out / "results.json").read_bytes()
    publish(cfg, seeds=[1, 2, 3, 4], per_seed=raw, summary=summary, table=rows, columns=TABLE_COLUMNS,
            extra={"traces": traces, "reference_points": refs})
    assert (out / "results.json").read_bytes() == first
    assert (out / "summary.csv").read_text().splitlines()[0] == ",".join(TABLE_COLUMNS)
    for fig in ("frontier", "utilisation", "lambda"):
        assert (out / "figures" / f"{fig}.pdf").stat().st_size > 0
        assert (out / "figures" / f"{fig}.png").stat().st_size > 0
    tex = (tmp_path / "results" / "_ci" / "macros" / "budget_pacing.tex").read_text()
    assert r"\newcommand{\ExpOnePacerBudgetTwoMeanReward}" in tex
    assert r"\newcommand{\ExpOneFixedProMeanCost}" in tex
    assert r"\newcommand{\ExpOneHeadlinesMaxOvershootPct}" in tex


def test_sweep_job_overrides(tmp_path):
    from paretobandit.workbench.sweep import job_overrides

    task = ["experiment=budget_pacing", "scale=full", "router.params.alpha=0.05", "hydra.launcher.n_jobs=2",
            "paths.results_dir=x"]
    scale, kept = job_overrides(task, tmp_path)
    out = str(tmp_path.resolve())
    assert scale == "full"
    assert kept == ["router.params.alpha=0.05", f"paths.results_dir='{out}'",
                    f"paths.figures_dir='{out}/figures'", f"paths.macros_dir='{out}'"]
    cfg = compose(["experiment=budget_pacing", f"scale={scale}", *kept])
    assert cfg.paths.results_dir == out and cfg.router.params.alpha == 0.05


def test_paper_without_latexmk_says_so(tmp_path, monkeypatch):
    from paretobandit.workbench import paper

    monkeypatch.setattr(paper.shutil, "which", lambda name: None)
    said: list[str] = []
    assert paper.build_paper(tmp_path, echo=said.append) is None
    assert "latexmk not found" in said[0]


# ------------------------------------------------------------------------------ notebook hygiene
NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_is_thin_parameterised_and_checked(path):
    nb = nbformat.read(path, as_version=4)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    code = [c for c in nb.cells if c.cell_type == "code"]
    params = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1, "exactly one cell tagged 'parameters'"
    assert "overrides = []" in params[0].source and "scale = " in params[0].source
    checked = [c for c in code if "# NBVAL_CHECK_OUTPUT" in c.source]
    assert checked, "at least one cell marked # NBVAL_CHECK_OUTPUT"
    # Committed with the outputs of its default parameters, or nbval would check nothing.
    assert all(c.outputs for c in checked), "checked cells carry committed outputs"
    for cell in checked:
        for out in cell.outputs:
            assert out.get("name") != "stderr", "checked cells must not print to stderr"
            assert "it/s" not in str(out) and "%|" not in str(out), "no progress bars in checked cells"


def test_npz_digest_ignores_zip_timestamps(tmp_path):
    import zipfile

    arrays = {"keys": np.arange(3), "vectors": np.ones((3, 2))}
    np.savez(tmp_path / "a.npz", **arrays)
    with zipfile.ZipFile(tmp_path / "a.npz") as src, zipfile.ZipFile(tmp_path / "b.npz", "w") as dst:
        for info in src.infolist():
            info.date_time = (1999, 1, 1, 0, 0, 0)
            dst.writestr(info, src.read(info.filename))
    assert (tmp_path / "a.npz").read_bytes() != (tmp_path / "b.npz").read_bytes()
    assert runner.file_digest(tmp_path / "a.npz") == runner.file_digest(tmp_path / "b.npz")
    np.savez(tmp_path / "c.npz", keys=np.arange(3), vectors=np.zeros((3, 2)))
    assert runner.file_digest(tmp_path / "c.npz") != runner.file_digest(tmp_path / "a.npz")
    (tmp_path / "t.txt").write_text("x")
    assert len(runner.file_digest(tmp_path / "t.txt")) == 32


def test_runner_reports_a_failing_notebook(tmp_path):
    conf = _fake_tree(tmp_path, {"a": []})
    nb = nbformat.read(tmp_path / "nb" / "a.ipynb", as_version=4)
    nb.cells.insert(1, nbformat.v4.new_code_cell("raise RuntimeError('boom')"))
    nbformat.write(nb, tmp_path / "nb" / "a.ipynb")
    with pytest.raises(runner.NotebookFailed, match="boom"):
        runner.run(scale="ci", conf_dir=conf, root=tmp_path, progress=False, echo=lambda s: None)
    assert (tmp_path / "results" / "_runs" / "a" / "scale=ci" / "a.ipynb").is_file()


def test_figure_lookup_imports_the_report_module():
    import subprocess
    import sys

    code = ("import sys, importlib.util\n"
            "from paretobandit.workbench import figures\n"
            "from paretobandit.workbench.config import experiment_names\n"
            "for name in experiment_names():\n"
            "    figures.figure_functions(name)\n"
            "    mod = 'paretobandit.workbench.report_' + name\n"
            "    assert importlib.util.find_spec(mod) is None or mod in sys.modules, mod\n"
            "print(sorted(figures.figure_functions('budget_pacing')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['frontier', 'lambda', 'utilisation']"
