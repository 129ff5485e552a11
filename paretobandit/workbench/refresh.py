"""Re-execute the committed notebooks in place with their default parameters (the nbval references)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from .._environ import temporary_environ
from .config import REPO_ROOT
from .notebook import NOTEBOOK_ENV
from .runner import KERNEL_ARGS

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
    with temporary_environ(NOTEBOOK_ENV):
        for path in files:
            echo(f"executing {path}")
            nb = nbformat.read(path, as_version=4)
            NotebookClient(nb, kernel_name="python3", timeout=timeout, record_timing=False,
                           extra_arguments=KERNEL_ARGS,
                           resources={"metadata": {"path": str(path.parent)}}).execute()
            nbformat.write(nb, path)
    return files
