"""Build ``paper/main.tex`` into a PDF when a LaTeX toolchain is present."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from .config import REPO_ROOT

__all__ = ["build_paper"]


def build_paper(paper_dir: Path | None = None, *, echo: Callable[[str], None] = print) -> Path | None:
    """Run ``latexmk -pdf`` on ``paper/main.tex`` (output in ``paper/build/``).

    Returns
    -------
    Path or None
        The PDF, or ``None`` when latexmk is not installed (a message says how to get it).

    Raises
    ------
    subprocess.CalledProcessError
        If LaTeX fails.
    """
    paper = Path(paper_dir) if paper_dir is not None else REPO_ROOT / "paper"
    latexmk = shutil.which("latexmk")
    if latexmk is None:
        echo("latexmk not found: paper not built. Install it with e.g. `apt-get install latexmk "
             "texlive-latex-base texlive-latex-recommended texlive-fonts-recommended texlive-latex-extra`; "
             f"the macros in {paper / 'macros'} are ready.")
        return None
    subprocess.run([latexmk, "-pdf", "-g", "-interaction=nonstopmode", "-halt-on-error", "-outdir=build",
                    "main.tex"], cwd=paper, check=True)
    pdf = paper / "build" / "main.pdf"
    echo(f"paper built: {pdf}")
    return pdf
