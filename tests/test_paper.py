"""The paper: macro number formats, the LaTeX log checks, no shrunk tables, and the real PDF build."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from paretobandit.errors import PaperBuildError
from paretobandit.workbench import macros
from paretobandit.workbench.paper import build_paper, check_log, tabular_spans

ROOT = Path(__file__).resolve().parents[1]
NO_LATEX = ("latexmk not installed (Debian: apt-get install texlive-latex-base texlive-latex-recommended "
            "texlive-fonts-recommended texlive-latex-extra latexmk; .ci/run installs them)")
needs_latex = pytest.mark.skipif(shutil.which("latexmk") is None, reason=NO_LATEX)


# ------------------------------------------------------------------------------------------ macros
@pytest.mark.parametrize("key, value, text", [
    ("adoption_step_mean", 148.5, "148.5"),
    ("adoption_step_mean_ci_high", 177.851, "177.9"),
    ("adoption_step_mean_ci_low", 128.3, "128.3"),
    ("adoption_step_median", 120.0, "120"),
    ("adoption_step_mean", 120.0, "120"),
    ("trough_step", 1462.1, "1462.1"),
    ("n_seeds", 20, "20"),
    ("n_levels_full", 3.0, "3"),
    ("frac_seeds_full", 1.0, "1.000"),   # a fraction, not a count
    ("mean_reward", 1.0, "1.000"),
    ("max_seed_overshoot_pct", 10.0, "10.0"),
    ("utilisation", 0.98, "0.98"),
    ("mean_cost", 1.5e-2, r"\ensuremath{1.50\times 10^{-2}}"),
    ("pb_compliant_all", True, "yes"),
])
def test_format_number_by_kind(key, value, text):
    assert macros.format_number(key, value) == text


def test_value_kind():
    assert macros.value_kind("adoption_step_mean", 148.5) == "count"
    assert macros.value_kind("adoption_step_median", 121.0) == "integer"
    assert macros.value_kind("share_mistral", 0.0) == "decimal"
    assert macros.value_kind("reward_ci_low", float("nan")) == "nonfinite"


def test_rendered_step_macros_are_integers():
    doc = {"summary": {"cells": {"tight": {"adoption_step_median": 121.0, "adoption_step_mean": 148.5,
                                           "adopted_runs": 20}}}}
    text = macros.render_macros(doc, "ExpFour")
    assert r"\newcommand{\ExpFourCellsTightAdoptionStepMedian}{121}" in text
    assert r"\newcommand{\ExpFourCellsTightAdoptionStepMean}{148.5}" in text
    assert r"\newcommand{\ExpFourCellsTightAdoptedRuns}{20}" in text


# ---------------------------------------------------------------------------------------- log check
def test_tabular_spans():
    src = "a\n\\begin{tabular}{ll}\nx & y\\\\\n\\begin{tabular}{l}z\\end{tabular}\n\\end{tabular}\nb\n" \
          "\\begin{tabular*}{\\linewidth}{l}\nq\n\\end{tabular*}\n"
    assert tabular_spans(src) == [(2, 5), (7, 9)]


def test_check_log_finds_undefined_references_and_citations(tmp_path):
    log = ("LaTeX Warning: Reference `sec:nope' on page 3 undefined on input line 12.\n"
           "LaTeX Warning: Citation `smith2020' on page 4 undefined on input line 40.\n")
    problems = check_log(log, tmp_path)
    assert [p.kind for p in problems] == ["undefined", "undefined"]
    assert "reference 'sec:nope' on page 3" in problems[0].message
    assert "citation 'smith2020' on page 4" in problems[1].message


def test_check_log_flags_wide_tables_only(tmp_path):
    (tmp_path / "sections").mkdir()
    (tmp_path / "sections" / "a.tex").write_text(
        "text\n\\begin{table}\n\\begin{tabular}{ll}\nx & y\\\\\n\\end{tabular}\n\\end{table}\nmore text\n")
    (tmp_path / "sections" / "b.tex").write_text("only prose\n" * 10)
    (tmp_path / "main.tex").write_text("preamble\n" * 40)
    log = ("(./main.tex (./sections/b.tex\n"
           "Overfull \\hbox (3.0pt too wide) in paragraph at lines 3--4\n"   # prose of b.tex: not a table
           ") (./sections/a.tex\n"
           "Overfull \\hbox (25.5pt too wide) in paragraph at lines 3--5\n"  # the tabular of a.tex
           "Overfull \\hbox (1.0pt too wide) in paragraph at lines 7--7\n"   # prose after it
           ")\n"
           "Overfull \\hbox (7.0pt too wide) in alignment at lines 30--31\n"  # an alignment anywhere
           ")\n")
    problems = check_log(log, tmp_path)
    assert [p.kind for p in problems] == ["overfull-table", "overfull-table"]
    assert "sections/a.tex:3-5" in problems[0].message and "25.5pt" in problems[0].message
    assert "main.tex:30-31" in problems[1].message


def test_clean_log_has_no_problems(tmp_path):
    assert check_log("(./main.tex [1] [2] )\nOutput written on main.pdf (2 pages).\n", tmp_path) == []


def test_no_shrunk_tables_in_the_paper_sources():
    offenders = [f"{p.relative_to(ROOT)}:{n}" for p in sorted((ROOT / "paper").rglob("*.tex"))
                 if "macros" not in p.parts
                 for n, line in enumerate(p.read_text().splitlines(), 1)
                 if re.search(r"\\(resizebox|scalebox|adjustbox)\b", line.split("%")[0])]
    assert offenders == [], "tables must fit without \\resizebox: split them or use a landscape page"


# ------------------------------------------------------------------------------------------ builds
@needs_latex
def test_build_fails_on_undefined_reference_and_wide_table(tmp_path):
    (tmp_path / "main.tex").write_text(
        "\\documentclass{article}\n\\begin{document}\nSee Section~\\ref{sec:missing}.\n\n"
        "\\begin{tabular}{l}\n" + "wide " * 60 + "\\\\\n\\end{tabular}\n\\end{document}\n")
    with pytest.raises(PaperBuildError) as info:
        build_paper(tmp_path, outdir=tmp_path / "out", echo=lambda _: None)
    message = str(info.value)
    assert "reference 'sec:missing'" in message
    assert re.search(r"table at main.tex:5-[78] is [0-9.]+pt wider", message), message


@needs_latex
def test_build_reports_latex_errors(tmp_path):
    (tmp_path / "main.tex").write_text("\\documentclass{article}\n\\begin{document}\n\\nosuchmacro\n"
                                       "\\end{document}\n")
    with pytest.raises(PaperBuildError, match="Undefined control sequence"):
        build_paper(tmp_path, outdir=tmp_path / "out", echo=lambda _: None)


@pytest.mark.paper
@needs_latex
def test_the_paper_builds_without_undefined_references_or_wide_tables():
    """`python -m paretobandit.workbench paper` (what `make paper` runs), into the ignored paper/build/."""
    proc = subprocess.run([sys.executable, "-m", "paretobandit.workbench", "paper"], cwd=ROOT, text=True,
                          capture_output=True, timeout=600, check=False,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    pdf = ROOT / "paper" / "build" / "main.pdf"
    assert f"paper built: {pdf}" in proc.stdout and pdf.stat().st_size > 10_000
    log = (ROOT / "paper" / "build" / "main.log").read_text(errors="replace")
    assert "Output written on" in log
    assert check_log(log, ROOT / "paper") == []


def test_workbench_paper_command_exits_1_on_a_failed_check(monkeypatch, capsys):
    from paretobandit.workbench import __main__ as wb
    from paretobandit.workbench import paper

    def failing(*args, **kwargs):
        raise PaperBuildError("paper built at x.pdf, but 1 problem(s): reference 'a' on page 1 is undefined")

    monkeypatch.setattr(paper, "build_paper", failing)
    assert wb.main(["paper"]) == 1
    assert "error: paper built at x.pdf, but 1 problem(s)" in capsys.readouterr().err
