"""Compose the project's Hydra configuration from anywhere.

The config tree lives in ``<repo>/conf``. Its location is derived from this package's file, never from
the working directory, because papermill starts kernels in the caller's directory and nbval in the
notebook's directory.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from hydra import compose as _hydra_compose
from hydra import initialize_config_dir
from omegaconf import DictConfig, OmegaConf

__all__ = ["REPO_ROOT", "CONF_DIR", "compose", "experiment_names", "repo_path", "to_yaml"]

REPO_ROOT = Path(__file__).resolve().parents[2]
"""Repository root (the folder holding ``conf/``, ``notebooks/`` and ``results/``)."""

CONF_DIR = REPO_ROOT / "conf"
"""Absolute path of the Hydra config tree."""


def compose(overrides: Sequence[str] = (), *, config_name: str = "config",
            conf_dir: Path | str | None = None, root: Path | str | None = None) -> DictConfig:
    """Compose the configuration with Hydra's compose API.

    Safe to call repeatedly (e.g. re-running a notebook cell): the global Hydra state is set up and torn
    down inside a ``with initialize_config_dir(...)`` block.

    Parameters
    ----------
    overrides : sequence of str
        Hydra overrides, e.g. ``["experiment=budget_pacing", "scale=full", "router.params.alpha=0.05"]``.
    config_name : str
        Primary config file (without ``.yaml``) inside the config directory.
    conf_dir : path, optional
        Config directory; defaults to :data:`CONF_DIR`.
    root : path, optional
        Value of ``paths.root``; defaults to :data:`REPO_ROOT`.

    Returns
    -------
    omegaconf.DictConfig
        The composed configuration with ``paths.root`` set to an absolute path.
    """
    conf = Path(conf_dir) if conf_dir is not None else CONF_DIR
    with initialize_config_dir(config_dir=str(conf.resolve()), version_base=None):
        cfg = _hydra_compose(config_name=config_name, overrides=list(overrides))
    if "paths" in cfg and OmegaConf.is_missing(cfg.paths, "root"):
        cfg.paths.root = str(Path(root).resolve() if root is not None else REPO_ROOT)
    return cfg


def repo_path(cfg: DictConfig, relative: str | Path) -> Path:
    """Return ``relative`` as an absolute path, anchored at ``cfg.paths.root`` unless already absolute."""
    path = Path(relative)
    return path if path.is_absolute() else Path(cfg.paths.root) / path


def experiment_names(conf_dir: Path | str | None = None) -> list[str]:
    """Names of the experiment presets (``conf/experiment/*.yaml``), sorted."""
    conf = Path(conf_dir) if conf_dir is not None else CONF_DIR
    return sorted(p.stem for p in (conf / "experiment").glob("*.yaml"))


def to_yaml(cfg: DictConfig) -> str:
    """Resolved YAML text of ``cfg`` with sorted keys (stable across runs)."""
    return OmegaConf.to_yaml(cfg, resolve=True, sort_keys=True)
