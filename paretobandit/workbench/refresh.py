"""Re-execute the committed notebooks in place with their default parameters (the nbval references)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

from .config import REPO_ROOT
from .notebook import NOTEBOOK_ENV

__all__ = ["refresh_notebooks"]


def refresh_notebooks(paths: Iterable[Path | str] | None = None, *, timeout: int = 1800,
                      echo: Callable[[str], None] = print) -> list[Path]:
    """Execute each notebook in its own folder (as nbval does) and save its outputs into the file.

    Cell timing metadata is not recorded, so a refresh that changes no number changes no byte of
    the checked outputs. Defaults to every ``notebooks/*.ipynb``.
    """
    import nbformat
    from nbclient import NotebookClient

    files = sorted(Path(p) for p in paths) if paths else sorted((REPO_ROOT / "notebooks").glob("*.ipynb"))
    saved = {k: os.environ.get(k) for k in NOTEBOOK_ENV}
    os.environ.update(NOTEBOOK_ENV)
    try:
        for path in files:
            echo(f"executing {path}")
            nb = nbformat.read(path, as_version=4)
            NotebookClient(nb, kernel_name="python3", timeout=timeout, record_timing=False,
                           resources={"metadata": {"path": str(path.parent)}}).execute()
            nbformat.write(nb, path)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return files
