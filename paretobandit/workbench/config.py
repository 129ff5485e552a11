"""Compose the project's Hydra configuration from anywhere.

The config tree lives in ``<repo>/conf``. Its location is derived from this package's file, never from
the working directory, because papermill starts kernels in the caller's directory and nbval in the
notebook's directory.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Sequence
from pathlib import Path

from hydra import compose as _hydra_compose
from hydra import initialize_config_dir
from omegaconf import DictConfig, OmegaConf, open_dict

__all__ = ["REPO_ROOT", "CONF_DIR", "CANONICAL_SCALE", "CANONICAL_ENV", "compose", "compose_run",
           "is_canonical", "overrides_slug", "place_outputs", "experiment_names", "repo_path", "to_yaml",
           "results_root", "check_data_dirs"]

REPO_ROOT = Path(__file__).resolve().parents[2]
"""Repository root (the folder holding ``conf/``, ``notebooks/`` and ``results/``)."""

CONF_DIR = REPO_ROOT / "conf"
"""Absolute path of the Hydra config tree."""

CANONICAL_SCALE = "full"
"""The scale of the paper: only runs at this scale, without overrides, are canonical."""

CANONICAL_ENV = "PARETOBANDIT_CANONICAL_RUN"
"""Set to ``"1"`` by ``python -m paretobandit.workbench run`` (no overrides, canonical scale) for the
notebooks it executes. Nothing else sets it, so an interactive session, nbval, nbconvert or a papermill
call writes to its own run directory (:func:`place_outputs`)."""

_SLUG_MAX = 96


def results_root(root: Path | str | None = None) -> Path:
    """Absolute results root: ``$PARETOBANDIT_RESULTS_ROOT`` (anchored at the repository) or ``results/``."""
    base = Path(root) if root is not None else REPO_ROOT
    env = os.environ.get("PARETOBANDIT_RESULTS_ROOT")
    path = Path(env) if env else Path("results")
    return path if path.is_absolute() else base / path


def _repo_root_resolver() -> str:
    return str(REPO_ROOT)


def _results_root_resolver() -> str:
    return str(results_root())


def _macros_dir_resolver(default: str) -> str:
    """``$PARETOBANDIT_MACROS_DIR``, else ``$PARETOBANDIT_RESULTS_ROOT/macros``, else ``default``.

    A redirected results root therefore never writes ``paper/macros/`` by accident.
    """
    env = os.environ.get("PARETOBANDIT_MACROS_DIR")
    if env:
        return env
    root = os.environ.get("PARETOBANDIT_RESULTS_ROOT")
    return str(Path(root) / "macros") if root else default


# Absolute repository paths for Hydra's own run/sweep folders (conf/config.yaml), whatever the cwd.
OmegaConf.register_new_resolver("pb_repo_root", _repo_root_resolver, replace=True)
OmegaConf.register_new_resolver("pb_results_root", _results_root_resolver, replace=True)
OmegaConf.register_new_resolver("pb_macros_dir", _macros_dir_resolver, replace=True)


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


def is_canonical(scale: str, overrides: Sequence[str] = (), *, canonical: bool | None = None) -> bool:
    """Whether a run writes the canonical results (``results/<experiment>/``, ``paper/macros/``).

    Only a run at :data:`CANONICAL_SCALE` with no overrides whose caller declares it canonical
    (``canonical=True``, or :data:`CANONICAL_ENV` set to ``"1"`` when ``canonical`` is None) is.
    """
    if canonical is None:
        canonical = os.environ.get(CANONICAL_ENV) == "1"
    return bool(canonical) and scale == CANONICAL_SCALE and not list(overrides)


def overrides_slug(scale: str, overrides: Sequence[str] = ()) -> str:
    """Folder name of a non-canonical run: ``scale=<scale>`` then the overrides, comma-separated.

    Characters outside ``[A-Za-z0-9_.=,+@-]`` become ``_`` and quotes are dropped, so the name is
    safe on every file system; names longer than 96 characters are cut and suffixed with a short hash
    of the full text, so two different runs never share a folder. ``paths.*`` overrides (output
    locations) are not part of the name.
    """
    parts = [f"scale={scale}"] + [o for o in overrides if not o.lstrip("+~").startswith("paths.")]
    text = ",".join(parts)
    slug = re.sub(r"[^A-Za-z0-9_.=,+@-]", "_", text.replace("'", "").replace('"', ""))
    if len(slug) > _SLUG_MAX:
        digest = hashlib.sha256(text.encode()).hexdigest()[:10]
        slug = f"{slug[:_SLUG_MAX - 11]}-{digest}"
    return slug


def place_outputs(cfg: DictConfig, scale: str, overrides: Sequence[str] = (), *,
                  canonical: bool | None = None) -> DictConfig:
    """Point ``cfg.paths`` at the run's output folders; return ``cfg`` (modified in place).

    A canonical run (:func:`is_canonical`) keeps the config tree's folders: ``results/<experiment>/``
    and ``paper/macros/`` (or ``$PARETOBANDIT_RESULTS_ROOT/<experiment>/`` and
    ``$PARETOBANDIT_MACROS_DIR``). Every other run writes results, figures and macros under
    ``<results root>/_runs/<experiment>/<overrides slug>/`` (see :func:`overrides_slug`), unless its
    overrides set ``paths.results_dir`` explicitly (a sweep job). ``paths.canonical`` records the
    decision; :func:`paretobandit.workbench.publish.publish` refuses to write canonical folders
    without it.
    """
    is_canon = is_canonical(scale, overrides, canonical=canonical)
    with open_dict(cfg):
        cfg.paths.canonical = is_canon
    explicit = any(o.lstrip("+").startswith("paths.results_dir=") for o in overrides)
    if is_canon or explicit or cfg.get("experiment") is None:
        return cfg
    run_dir = results_root(cfg.paths.root) / "_runs" / cfg.experiment.name / overrides_slug(scale, overrides)
    cfg.paths.results_dir = str(run_dir)
    if not any(o.lstrip("+").startswith("paths.figures_dir=") for o in overrides):
        cfg.paths.figures_dir = str(run_dir / "figures")
    if not any(o.lstrip("+").startswith("paths.macros_dir=") for o in overrides):
        cfg.paths.macros_dir = str(run_dir / "macros")
    return cfg


def check_data_dirs(cfg: DictConfig) -> None:
    """:class:`~paretobandit.errors.ConfigError` unless ``cfg.data``'s folders are where the package reads.

    ``data.raw_dir`` (reward tables, catalogs, priors: :func:`paretobandit.data.data_root`),
    ``data.features_dir`` and ``data.artifacts_dir`` (:mod:`paretobandit.canonical`) name the inputs
    whose hashes decide re-runs and the priors a notebook loads; the loaders themselves read fixed
    folders, so an override pointing elsewhere would be silently half-applied. It is refused instead.
    """
    from paretobandit import canonical
    from paretobandit import data as _data
    from paretobandit.errors import ConfigError

    if cfg.get("data") is None:
        return
    expected = {"raw_dir": _data.data_root(), "features_dir": canonical.FEATURES_DIR,
                "artifacts_dir": canonical.ARTIFACTS_DIR}
    for key, where in expected.items():
        value = cfg.data.get(key)
        if value is None:
            raise ConfigError(f"data.{key} is missing (the package reads {where})")
        if repo_path(cfg, value).resolve() != Path(where).resolve():
            raise ConfigError(f"data.{key} = {value!r} but the package reads {where}; "
                              "this key documents the location and cannot move it")


def compose_run(experiment: str, scale: str = CANONICAL_SCALE, overrides: Sequence[str] = (), *,
                canonical: bool | None = None, conf_dir: Path | str | None = None,
                root: Path | str | None = None) -> DictConfig:
    """Compose ``experiment=<experiment> scale=<scale> *overrides`` with its outputs placed.

    What notebooks (through :func:`paretobandit.workbench.notebook.setup`) and the runner use; see
    :func:`place_outputs` for where a run writes. With the repository's own root (a copy elsewhere
    has other folders), ``cfg.data`` is checked by :func:`check_data_dirs`.
    """
    cfg = compose([f"experiment={experiment}", f"scale={scale}", *overrides], conf_dir=conf_dir, root=root)
    if Path(cfg.paths.root).resolve() == REPO_ROOT:
        check_data_dirs(cfg)
    return place_outputs(cfg, scale, overrides, canonical=canonical)


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
