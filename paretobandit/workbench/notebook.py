"""What every experiment notebook does first: quiet environment, plotting style, composed config."""

from __future__ import annotations

import os
from collections.abc import Sequence

from omegaconf import DictConfig

from .config import compose_run

__all__ = ["NOTEBOOK_ENV", "setup"]

NOTEBOOK_ENV = {"TQDM_DISABLE": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1", "HF_HUB_OFFLINE": "1"}
"""No progress bars in notebook outputs (nbval compares them), no network for model weights."""


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
    from . import style

    style.apply()
    return compose_run(experiment, scale, list(overrides))
