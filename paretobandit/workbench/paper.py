"""Build ``paper/main.tex`` into a PDF when a LaTeX toolchain is present, and check the build's log.

A build that succeeds but leaves undefined references or citations ("??" in the PDF), or a table wider
than its column (an overfull ``\\hbox`` inside a ``tabular``), is reported as a :class:`PaperBuildError`:
CI builds the paper and fails on either. The log is parsed with TeX's line wrapping switched off
(``max_print_line``) so file names and messages stay on one line.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import PaperBuildError
from .config import REPO_ROOT

__all__ = ["build_paper", "check_log", "LogProblem", "tabular_spans", "PaperBuildError"]

APT_PACKAGES = ("texlive-latex-base", "texlive-latex-recommended", "texlive-fonts-recommended",
                "texlive-latex-extra", "latexmk")

_UNDEFINED = re.compile(r"LaTeX Warning: (Reference|Citation) [`'](.+?)' on page (\S+) undefined")
_OVERFULL = re.compile(r"Overfull \\hbox \((?P<pt>[0-9.]+)pt too wide\) (?P<where>in paragraph|in alignment|"
                       r"detected) at lines? (?P<a>\d+)(?:--(?P<b>\d+))?")
_TOKEN = re.compile(_OVERFULL.pattern + r"|\((?P<file>[^\s()]*)|(?P<close>\))")
_TABULAR = re.compile(r"\\(begin|end)\{(tabular\*?|tabularx|longtable|array)\}")


@dataclass(frozen=True)
class LogProblem:
    """One problem found in a LaTeX log: ``kind`` is ``"undefined"`` or ``"overfull-table"``."""

    kind: str
    message: str


def tabular_spans(source: str) -> list[tuple[int, int]]:
    """1-based ``(first, last)`` line ranges of the outermost tabular-like environments in ``source``."""
    spans, depth, start = [], 0, 0
    for match in _TABULAR.finditer(source):
        line = source.count("\n", 0, match.start()) + 1
        if match.group(1) == "begin":
            if depth == 0:
                start = line
            depth += 1
        elif depth > 0:
            depth -= 1
            if depth == 0:
                spans.append((start, line))
    return spans


def _resolve(name: str, root: Path) -> Path | None:
    if not name or not name.endswith(".tex"):
        return None
    path = Path(name) if os.path.isabs(name) else root / name
    return path if path.is_file() else None


def check_log(log_text: str, source_root: Path | str) -> list[LogProblem]:
    """Undefined references/citations and overfull hboxes inside tables, from a pdflatex log.

    Parameters
    ----------
    log_text : str
        The ``.log`` of the last pdflatex run (unwrapped, see ``max_print_line``).
    source_root : path
        Directory the log's relative file names are relative to (the paper folder).

    Notes
    -----
    The file an overfull box comes from is tracked through the log's ``(file ... )`` nesting; the box is in
    a table when TeX says ``in alignment`` or its line range overlaps a ``tabular`` of that file.
    """
    root = Path(source_root)
    problems: list[LogProblem] = []
    for kind, key, page in _UNDEFINED.findall(log_text):
        problems.append(LogProblem("undefined", f"{kind.lower()} {key!r} on page {page} is undefined"))
    stack: list[Path | None] = []
    spans: dict[Path, list[tuple[int, int]]] = {}
    for match in _TOKEN.finditer(log_text):
        if match.group("close") is not None:
            if stack:
                stack.pop()
            continue
        if match.group("pt") is None:
            stack.append(_resolve(match.group("file"), root))
            continue
        current = next((f for f in reversed(stack) if f is not None), None)
        first = int(match.group("a"))
        last = int(match.group("b") or first)
        where = "?" if current is None else str(
            current.relative_to(root) if current.is_relative_to(root) else current)
        in_table = match.group("where") == "in alignment"
        if not in_table and current is not None:
            if current not in spans:
                spans[current] = tabular_spans(current.read_text(encoding="utf-8", errors="replace"))
            in_table = any(a <= last and first <= b for a, b in spans[current])
        if in_table:
            problems.append(LogProblem("overfull-table", f"table at {where}:{first}-{last} is "
                                                         f"{float(match.group('pt')):.1f}pt wider than its "
                                                         "column"))
    return problems


def _first_errors(log: Path, n: int = 3) -> str:
    if not log.is_file():
        return "no log written"
    lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.startswith("!")]
    return "; ".join(lines[:n]) or "see the log"


def build_paper(paper_dir: Path | None = None, *, outdir: Path | str | None = None,
                echo: Callable[[str], None] = print, check: bool = True) -> Path | None:
    """Run ``latexmk -pdf`` on ``paper/main.tex`` (output in ``paper/build/``) and check its log.

    Parameters
    ----------
    paper_dir : path, optional
        Folder with ``main.tex`` (default ``<repo>/paper``).
    outdir : path, optional
        Output folder (default ``<paper_dir>/build``).
    echo : callable
        Progress messages.
    check : bool
        Raise on undefined references/citations and on tables wider than their column.

    Returns
    -------
    Path or None
        The PDF, or ``None`` when latexmk is not installed (a message says how to get it).

    Raises
    ------
    PaperBuildError
        LaTeX failed, or (``check``) the log has undefined references/citations or overfull tables.
    """
    paper = Path(paper_dir) if paper_dir is not None else REPO_ROOT / "paper"
    out = Path(outdir).resolve() if outdir is not None else paper / "build"
    latexmk = shutil.which("latexmk")
    if latexmk is None:
        echo(f"latexmk not found: paper not built. Install it with e.g. `apt-get install "
             f"{' '.join(APT_PACKAGES)}`; the macros in {paper / 'macros'} are ready.")
        return None
    env = {**os.environ, "max_print_line": "100000", "error_line": "254", "half_error_line": "238"}
    proc = subprocess.run([latexmk, "-pdf", "-g", "-interaction=nonstopmode", "-halt-on-error",
                           f"-outdir={out}", "main.tex"], cwd=paper, env=env, capture_output=True, text=True,
                          check=False)
    log = out / "main.log"
    if proc.returncode != 0:
        raise PaperBuildError(f"latexmk failed (exit {proc.returncode}): {_first_errors(log)} "
                              f"(log: {log})")
    pdf = out / "main.pdf"
    if check:
        problems = check_log(log.read_text(encoding="utf-8", errors="replace"), paper)
        if problems:
            raise PaperBuildError(f"paper built at {pdf}, but {len(problems)} problem(s): "
                                  + "; ".join(p.message for p in problems) + f" (log: {log})")
    echo(f"paper built: {pdf}")
    return pdf
