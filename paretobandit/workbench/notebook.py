"""What every experiment notebook does first: quiet environment, plotting style, composed config."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence

from omegaconf import DictConfig

from .config import compose_run

__all__ = ["NOTEBOOK_ENV", "quiet_warnings", "setup"]

NOTEBOOK_ENV = {"TQDM_DISABLE": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1", "HF_HUB_OFFLINE": "1"}
"""No progress bars in notebook outputs (nbval compares them), no network for model weights."""


def quiet_warnings() -> None:
    """Silence the two known spurious warnings of executed notebooks (nbval compares stderr).

    * the feature service's once-per-service note that a prompt exceeds MiniLM's 256-token window (the
      truncation is the paper's pipeline, documented in docs/ALGORITHM.md);
    * tqdm's ``IProgress not found`` (a widget bar in a kernel without ipywidgets; progress goes to the
      runner's terminal instead, see :mod:`paretobandit.workbench.progress`).
    """
    warnings.filterwarnings("ignore", message=r"prompt of \d+ tokens exceeds the encoder's max_seq_length",
                            category=UserWarning)
    warnings.filterwarnings("ignore", message=r"IProgress not found")


def setup(experiment: str, scale: str = "ci", overrides: Sequence[str] = ()) -> DictConfig:
    """Prepare a notebook run and return its configuration.

    Sets :data:`NOTEBOOK_ENV` (without overriding variables the caller set), applies the plotting style
    and composes ``experiment=<experiment>``, ``scale=<scale>`` plus ``overrides``.

    Where the run writes is decided by :func:`paretobandit.workbench.config.place_outputs`: only a
    notebook executed by ``python -m paretobandit.workbench run`` at scale ``full`` without overrides
    writes the canonical ``results/<experiment>/`` and ``paper/macros/``; an interactive session, nbval,
    nbconvert or papermill writes to ``results/_runs/<experiment>/<overrides slug>/``.

    Parameters
    ----------
    experiment : str
        Experiment preset (``conf/experiment/<experiment>.yaml``).
    scale : {"ci", "full"}
        Scale preset.
    overrides : sequence of str
        Further Hydra overrides (the notebook's ``overrides`` parameter).
    """
    for key, value in NOTEBOOK_ENV.items():
        os.environ.setdefault(key, value)
    quiet_warnings()
    from . import style

    style.apply()
    return compose_run(experiment, scale, list(overrides))
