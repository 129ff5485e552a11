"""One plotting style for every figure of the workbench."""

from __future__ import annotations

import logging
from pathlib import Path

import matplotlib.pyplot as plt
import seaborn as sns

__all__ = ["apply", "palette", "save"]

_RC = {
    "figure.figsize": (5.0, 3.4),
    "figure.dpi": 110,
    "savefig.dpi": 200,
    "savefig.bbox": "tight",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": False,
    "pdf.fonttype": 42,
    "svg.hashsalt": "paretobandit",
}


def apply() -> None:
    """Set the workbench's seaborn/matplotlib style (idempotent).

    Also quiets fontTools' per-table INFO lines (printed for every PDF when a caller, such as Hydra,
    logs at INFO).
    """
    sns.set_theme(context="paper", style="whitegrid", palette="colorblind", rc=_RC)
    logging.getLogger("fontTools").setLevel(logging.WARNING)


def palette(n: int) -> list:
    """``n`` colours of the workbench palette."""
    return sns.color_palette("colorblind", n)


def save(fig, out_dir: Path | str, name: str) -> list[Path]:
    """Save ``fig`` as ``<name>.pdf`` and ``<name>.png`` in ``out_dir`` without timestamps; close it.

    Returns
    -------
    list of Path
        The written files.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{name}.pdf", out / f"{name}.png"]
    fig.savefig(paths[0], metadata={"CreationDate": None, "Creator": None, "Producer": None})
    fig.savefig(paths[1], metadata={"Software": None})
    plt.close(fig)
    return paths
