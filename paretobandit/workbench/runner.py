"""Run the experiment notebooks with papermill, in dependency order, skipping what is up to date.

Each ``conf/experiment/<name>.yaml`` preset names its notebook, the experiments it ``depends_on`` and the
``inputs`` (repo-relative globs) it reads. A notebook is re-run when the content hash of its notebook
file, its composed config, its input files, the package source and the run parameters differs from the
hash stored beside its results (``<results_dir>/.inputs.sha256``), when the config recorded in its
``results.json`` differs from the composed one, or when its ``results.json`` or one of its declared
``outputs`` (globs, e.g. the feature cache) is missing.

Only a run at the canonical scale (``full``) with no overrides is canonical and writes
``results/<experiment>/`` and ``paper/macros/``; any other run writes to
``results/_runs/<experiment>/<overrides slug>/`` (:func:`paretobandit.workbench.config.place_outputs`).
"""

from __future__ import annotations

import graphlib
import hashlib
import time
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from .._environ import temporary_environ
from . import config as wconfig
from .notebook import NOTEBOOK_ENV as _NB_ENV

__all__ = ["Experiment", "NotebookFailed", "load_experiments", "dag_order", "file_digest", "input_hash",
           "is_up_to_date", "status", "config_mismatch", "run", "render_outputs", "HASH_FILE", "NOTEBOOK_ENV",
           "KERNEL_ARGS"]

HASH_FILE = ".inputs.sha256"

NOTEBOOK_ENV = dict(_NB_ENV)
"""Environment of executed notebooks: no progress bars in outputs, no network for model weights."""

KERNEL_ARGS = ["--IPKernelApp.log_level=ERROR"]
"""Extra kernel arguments: silences ipykernel's start-up warning about its local TCP transport (the
kernel listens on 127.0.0.1 only; the warning was printed once per executed notebook)."""

# Presentation-only modules: editing them must not re-run experiments (use --skip-run to re-render).
_PRESENTATION = {"figures.py", "style.py", "macros.py", "__main__.py", "runner.py", "refresh.py", "paper.py",
                 "progress.py", "sweep.py", "sweep_summary.py", "readme.py"}


class NotebookFailed(RuntimeError):
    """An experiment notebook raised; the executed copy shows where."""


@dataclass(frozen=True)
class Experiment:
    """One experiment preset, as the runner sees it."""

    name: str
    notebook: Path
    depends_on: tuple[str, ...]
    inputs: tuple[str, ...]
    results_dir: Path
    cfg: DictConfig = field(repr=False, compare=False)
    outputs: tuple[str, ...] = ()

    @property
    def results_file(self) -> Path:
        return self.results_dir / "results.json"

    @property
    def executed_notebook(self) -> Path:
        return self.results_dir / f"{self.name}.ipynb"


def load_experiments(*, scale: str = "full", overrides: Sequence[str] = (), conf_dir: Path | None = None,
                     root: Path | None = None) -> dict[str, Experiment]:
    """Compose every experiment preset at ``scale`` and return them by name.

    Output folders are placed as for a runner invocation: canonical at scale ``full`` without
    overrides, a run folder otherwise (:func:`paretobandit.workbench.config.place_outputs`).
    """
    root = Path(root) if root is not None else wconfig.REPO_ROOT
    out = {}
    for name in wconfig.experiment_names(conf_dir):
        cfg = wconfig.compose_run(name, scale, list(overrides), canonical=True, conf_dir=conf_dir, root=root)
        exp = cfg.experiment
        if exp.name != name:
            raise ValueError(f"conf/experiment/{name}.yaml declares experiment.name={exp.name!r}")
        out[name] = Experiment(name=name, notebook=wconfig.repo_path(cfg, exp.notebook),
                               depends_on=tuple(exp.get("depends_on") or ()),
                               inputs=tuple(i for i in exp.get("inputs") or () if i is not None),
                               outputs=tuple(o for o in exp.get("outputs") or () if o is not None),
                               results_dir=wconfig.repo_path(cfg, cfg.paths.results_dir), cfg=cfg)
    return out


def dag_order(experiments: dict[str, Experiment]) -> list[str]:
    """Experiment names in dependency order (ties broken by notebook file name, so the order is stable).

    Raises
    ------
    ValueError
        If an experiment depends on an unknown one, or the dependencies form a cycle.
    """
    sorter = graphlib.TopologicalSorter()
    for name, exp in experiments.items():
        unknown = [d for d in exp.depends_on if d not in experiments]
        if unknown:
            raise ValueError(f"experiment {name!r} depends on unknown experiment(s) {unknown}")
        sorter.add(name, *exp.depends_on)
    try:
        sorter.prepare()
    except graphlib.CycleError as err:
        raise ValueError(f"experiment dependencies form a cycle: {err.args[1]}") from err
    order: list[str] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready(), key=lambda n: (experiments[n].notebook.name, n))
        order += ready
        sorter.done(*ready)
    return order


def _glob(patterns: Sequence[str], root: Path) -> list[Path]:
    files: set[Path] = set()
    for pattern in patterns:
        p = Path(pattern)
        if p.is_absolute():
            files.update(Path(x) for x in sorted(p.parent.glob(p.name)))
        else:
            files.update(root.glob(pattern))
    return sorted(f for f in files if f.is_file())


def _input_files(exp: Experiment, root: Path) -> list[Path]:
    return _glob(exp.inputs, root)


def _code_files(root: Path) -> list[Path]:
    pkg = root / "paretobandit"
    return sorted(p for p in pkg.rglob("*.py")
                  if not (p.parent.name == "workbench" and p.name in _PRESENTATION))


def file_digest(path: Path) -> bytes:
    """SHA-256 of a file's content; for ``.npz`` archives, of member names and data only.

    ``numpy.savez`` stamps each zip member with the time of writing, so rebuilding an identical cache
    would otherwise look like a changed input and re-run every downstream notebook.
    """
    h = hashlib.sha256()
    if path.suffix == ".npz" and zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            for name in sorted(zf.namelist()):
                h.update(name.encode() + b"\0")
                h.update(hashlib.sha256(zf.read(name)).digest())
        return h.digest()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.digest()


def notebook_source(path: Path) -> bytes:
    """What in a notebook decides its results: each cell's type, tags and source — not its outputs,
    execution counts or metadata (refreshing the committed outputs must not make results look stale)."""
    import json

    nb = json.loads(path.read_text(encoding="utf-8"))
    cells = [(c.get("cell_type"), sorted(c.get("metadata", {}).get("tags", [])),
              "".join(c["source"]) if isinstance(c.get("source"), list) else c.get("source", ""))
             for c in nb.get("cells", [])]
    return json.dumps(cells, ensure_ascii=False).encode()


def input_hash(exp: Experiment, *, root: Path | None = None, params: dict | None = None) -> str:
    """SHA-256 over everything that decides an experiment's results.

    Covers the notebook's cells (:func:`notebook_source`: sources, not outputs), the resolved config
    (without ``paths.root``), the bytes of every input file, the package source (except presentation
    modules) and the papermill parameters.
    """
    root = Path(root) if root is not None else Path(exp.cfg.paths.root)
    h = hashlib.sha256()

    def feed(label: str, data: bytes) -> None:
        h.update(label.encode() + b"\0" + hashlib.sha256(data).digest())

    def feed_file(label: str, path: Path) -> None:
        h.update(label.encode() + b"\0" + file_digest(path))

    feed("notebook", notebook_source(exp.notebook))
    cfg = OmegaConf.to_container(exp.cfg, resolve=True)
    cfg.get("paths", {}).pop("root", None)
    feed("config", OmegaConf.to_yaml(OmegaConf.create(cfg), sort_keys=True).encode())
    feed("params", repr(sorted((params or {}).items())).encode())
    for f in _input_files(exp, root):
        feed_file(f"input:{f.relative_to(root) if f.is_relative_to(root) else f}", f)
    for f in _code_files(root):
        feed_file(f"code:{f.relative_to(root)}", f)
    return h.hexdigest()


def config_mismatch(exp: Experiment) -> list[str] | None:
    """Config keys where ``exp``'s ``results.json`` differs from its composed config.

    Returns ``None`` when the file is missing or records no config (nothing to compare), ``[]`` when it
    was made with exactly the composed config. A non-empty list means the stored results came from
    other parameters (e.g. a run with overrides that wrote the canonical folder) and are not current.
    """
    import json

    from .results import config_differences, config_section

    if not exp.results_file.is_file():
        return None
    try:
        stored = json.loads(exp.results_file.read_text(encoding="utf-8")).get("config")
    except (OSError, ValueError):
        return ["<unreadable results.json>"]
    if stored is None:
        return None
    return config_differences(stored, config_section(exp.cfg))


def is_up_to_date(exp: Experiment, digest: str) -> bool:
    """True when ``exp``'s results and declared outputs exist, came from inputs with hash ``digest``
    and record exactly ``exp``'s composed config."""
    stamp = exp.results_dir / HASH_FILE
    if not (exp.results_file.is_file() and stamp.is_file() and stamp.read_text().strip() == digest):
        return False
    if config_mismatch(exp):
        return False
    root = Path(exp.cfg.paths.root)
    return all(_glob([pattern], root) for pattern in exp.outputs)


def status(exp: Experiment, params: dict, root: Path | None = None) -> str:
    """One-line status of ``exp``: ``no notebook``, ``not run``, ``up to date``, ``out of date`` or
    ``config differs (<keys>)`` when the stored results were made with other parameters."""
    if not exp.notebook.is_file():
        return "no notebook"
    if not exp.results_file.is_file():
        return "not run"
    diff = config_mismatch(exp)
    if diff:
        shown = ", ".join(diff[:3]) + (", ..." if len(diff) > 3 else "")
        return f"config differs ({shown})"
    return "up to date" if is_up_to_date(exp, input_hash(exp, root=root, params=params)) else "out of date"


def render_outputs(exp: Experiment) -> list[Path]:
    """Re-render figures and LaTeX macros of ``exp`` from its existing ``results.json``.

    Uses the same function as the notebook (:func:`paretobandit.workbench.publish.render_document`), on
    the same parsed JSON, so the files come out byte-identical.
    """
    from . import results
    from .publish import render_document

    doc = results.read_results(exp.results_file)
    cfg = exp.cfg
    return render_document(doc, wconfig.repo_path(cfg, cfg.paths.figures_dir),
                           wconfig.repo_path(cfg, cfg.paths.macros_dir) / f"{exp.name}.tex",
                           cfg.experiment.get("macro_prefix"))


def _execute(exp: Experiment, params: dict, root: Path, progress: bool) -> None:
    import papermill as pm
    import tqdm.auto  # noqa: F401  (tqdm reads TQDM_* at import: import it before TQDM_DISABLE is set)

    from . import progress as wprogress

    exp.results_dir.mkdir(parents=True, exist_ok=True)
    canonical = bool(exp.cfg.paths.get("canonical", False))
    env = dict(NOTEBOOK_ENV, **{wconfig.CANONICAL_ENV: "1" if canonical else "0"})
    with wprogress.relay(enabled=progress) as relay_env, temporary_environ({**env, **relay_env}):
        pm.execute_notebook(str(exp.notebook), str(exp.executed_notebook), parameters=params,
                            kernel_name="python3", cwd=str(root), log_output=False,
                            extra_arguments=KERNEL_ARGS,
                            progress_bar={"desc": exp.name, "unit": "cell"} if progress else False)


def _last_wall_seconds(exp: Experiment) -> float | None:
    """Wall time of the previous run of ``exp`` (its ``run_info.json``): the ETA shown before a run."""
    import json

    try:
        return float(json.loads((exp.results_dir / "run_info.json").read_text())["wall_seconds"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _rel(path: Path, root: Path) -> Path:
    return path.relative_to(root) if path.is_relative_to(root) else path


def run(*, only: Iterable[str] | None = None, scale: str = "full", force: bool = False,
        skip_run: bool = False, overrides: Sequence[str] = (), progress: bool = True,
        conf_dir: Path | None = None, root: Path | None = None,
        echo: Callable[[str], None] = print) -> list[str]:
    """Execute out-of-date experiment notebooks in dependency order.

    Parameters
    ----------
    only : iterable of str, optional
        Run just these experiments (their dependencies are not run).
    scale : {"ci", "full"}
        Scale preset passed to every notebook.
    force : bool
        Re-run even when up to date.
    skip_run : bool
        Run nothing; re-render figures and macros from existing results.
    overrides : sequence of str
        Extra Hydra overrides passed to every notebook.
    progress : bool
        Show a progress bar per notebook.
    conf_dir, root : path, optional
        Config tree and repository root (tests use a temporary tree).
    echo : callable
        Where status lines go.

    Returns
    -------
    list of str
        Names of the experiments that were executed (or re-rendered, with ``skip_run``).
    """
    root = Path(root) if root is not None else wconfig.REPO_ROOT
    exps = load_experiments(scale=scale, overrides=overrides, conf_dir=conf_dir, root=root)
    order = dag_order(exps)
    if only:
        wanted = list(only)
        unknown = sorted(set(wanted) - set(exps))
        if unknown:
            raise ValueError(f"unknown experiment(s) {unknown}; known: {sorted(exps)}")
        order = [n for n in order if n in wanted]
    done: list[str] = []
    if skip_run:
        for name in order:
            exp = exps[name]
            diff = config_mismatch(exp)
            if not exp.results_file.is_file():
                echo(f"{name}: no results yet ({exp.results_file}); run it first")
            elif diff:
                echo(f"{name}: not re-rendered: {exp.results_file} was made with another config "
                     f"({', '.join(diff[:3])}); run it again")
            else:
                files = render_outputs(exp)
                echo(f"{name}: re-rendered {len(files)} file(s)")
                done.append(name)
        return done
    params = {"overrides": list(overrides), "scale": scale}
    missing = [str(exps[n].notebook) for n in order if not exps[n].notebook.is_file()]
    if missing:
        raise FileNotFoundError(f"notebook(s) named by conf/experiment presets not found: {missing}")
    for name in order:
        exp = exps[name]
        digest = input_hash(exp, root=root, params=params)
        if not force and is_up_to_date(exp, digest):
            echo(f"{name}: up to date")
            continue
        where = "canonical" if exp.cfg.paths.get("canonical") else "run folder"
        last = _last_wall_seconds(exp)
        echo(f"{name}: running {exp.notebook.relative_to(root)} (scale={scale}; {where} "
             f"{_rel(exp.results_dir, root)}" + (f"; last run took {last:.0f} s" if last else "") + ")")
        start = time.perf_counter()
        try:
            _execute(exp, params, root, progress)
        except Exception as err:
            if type(err).__name__ != "PapermillExecutionError":
                raise
            stale = exp.results_dir / HASH_FILE
            stale.unlink(missing_ok=True)
            raise NotebookFailed(f"{name}: notebook failed in cell {err.exec_count} "
                                 f"({err.ename}: {err.evalue}); see {exp.executed_notebook}") from err
        seconds = time.perf_counter() - start
        if not exp.results_file.is_file():
            raise RuntimeError(f"{exp.notebook} ran but wrote no {exp.results_file}")
        from .results import write_run_info

        write_run_info(exp.results_dir / "run_info.json", experiment=name, scale=scale,
                       wall_seconds=round(seconds, 1), inputs_sha256=digest)
        # Hash again: a dependency that just ran may have rewritten this experiment's inputs.
        (exp.results_dir / HASH_FILE).write_text(input_hash(exp, root=root, params=params) + "\n")
        echo(f"{name}: done in {seconds:.0f} s -> {_rel(exp.results_dir, root)}")
        done.append(name)
    if not done:
        echo("all up to date")
    return done
