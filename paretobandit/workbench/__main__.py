"""Command line: ``python -m paretobandit.workbench {run,paper}``.

Examples
--------
``python -m paretobandit.workbench run --scale full``   regenerate everything that is out of date
``python -m paretobandit.workbench run --list``         show experiments in DAG order and their status
``python -m paretobandit.workbench run --only budget_pacing --force``
``python -m paretobandit.workbench run --skip-run``     re-render figures and macros from results JSON
``python -m paretobandit.workbench paper``              build paper/build/main.pdf (needs latexmk)
``python -m paretobandit.workbench refresh``            re-execute notebooks in place (nbval references)
``python -m paretobandit.workbench sweep-summary results/_sweeps/budget_pacing/<time>``   table + figure
``python -m paretobandit.workbench figure-hashes --update``   regenerate the image regression library
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import runner

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m paretobandit.workbench",
                                description="Reproduce the experiments (papermill) and build the paper.")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="execute out-of-date notebooks in dependency order")
    r.add_argument("--only", action="append", metavar="NAME", help="run only this experiment (repeatable)")
    r.add_argument("--scale", choices=["ci", "full"], default="full", help="scale preset (default: full)")
    r.add_argument("--force", action="store_true", help="re-run even when up to date")
    r.add_argument("--list", action="store_true",
                   help="list experiments in DAG order with their status; run nothing")
    r.add_argument("--skip-run", action="store_true",
                   help="run nothing; re-render figures and macros from existing results")
    r.add_argument("--no-progress", action="store_true", help="hide the per-notebook progress bar")
    r.add_argument("overrides", nargs="*", help="Hydra overrides passed to every notebook (key=value)")
    sub.add_parser("paper", help="build paper/build/main.pdf with latexmk, if installed")
    m = sub.add_parser("readme", help="regenerate README.md's result tables from results/*/summary.csv")
    m.add_argument("--check", action="store_true", help="only check; exit 1 if the tables are stale")
    f = sub.add_parser("refresh", help="re-execute notebooks in place with default parameters "
                                       "(the outputs nbval compares against)")
    f.add_argument("notebooks", nargs="*", help="notebook files (default: notebooks/*.ipynb)")
    s = sub.add_parser("sweep-summary", help="write sweep_summary.csv and a figure across a multirun's jobs")
    s.add_argument("sweep_dir", help="multirun folder, e.g. results/_sweeps/budget_pacing/<time>")
    s.add_argument("--metric", help="metric drawn in the figure (default: the first headline)")
    s.add_argument("--objective", help="dotted results key added as an `objective` column "
                                       "(e.g. summary.pacer.budget_4.mean_reward)")
    h = sub.add_parser("figure-hashes", help="check (or --update) tests/figure_hashes.json, the "
                                             "image regression library of the figures of results/*/")
    h.add_argument("--update", action="store_true", help="rewrite the library from the current figures")
    return p


def _list(scale: str, overrides: Sequence[str]) -> None:
    exps = runner.load_experiments(scale=scale, overrides=overrides)
    params = {"overrides": list(overrides), "scale": scale}
    for name in runner.dag_order(exps):
        exp = exps[name]
        status = runner.status(exp, params)
        deps = ", ".join(exp.depends_on) or "-"
        print(f"{name:<20} {status:<12} depends on: {deps:<20} {exp.notebook.name}")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    args = _parser().parse_args(argv)
    if args.command == "refresh":
        from .refresh import refresh_notebooks

        refresh_notebooks(args.notebooks or None)
        return 0
    if args.command == "readme":
        from .readme import NotCanonicalError, update

        try:
            fresh = update(check=args.check)
        except NotCanonicalError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        print("README tables up to date" if fresh else
              ("README tables are stale: run `python -m paretobandit.workbench readme`" if args.check
               else "README tables regenerated"))
        return 0 if fresh or not args.check else 1
    if args.command == "sweep-summary":
        from .sweep_summary import summarise_sweep

        try:
            table, figure = summarise_sweep(args.sweep_dir, metric=args.metric, objective=args.objective)
        except (FileNotFoundError, KeyError) as err:
            print(f"error: {err.args[0] if err.args else err}", file=sys.stderr)
            return 2
        print(f"wrote {table}" + (f" and {figure}" if figure else " (no numeric metric: no figure)"))
        return 0
    if args.command == "figure-hashes":
        from . import figure_hashes as fh

        current = fh.compute_hashes()
        if args.update:
            print(f"wrote {len(current)} figure hashes to {fh.write_library(current)}")
            return 0
        diff = fh.differences(fh.read_library(), current)
        print("\n".join(diff) if diff else f"all {len(current)} figures match {fh.HASH_LIBRARY}")
        return 1 if diff else 0
    if args.command == "paper":
        from .paper import PaperBuildError, build_paper

        try:
            build_paper()
        except PaperBuildError as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        return 0
    if args.list:
        _list(args.scale, args.overrides)
        return 0
    try:
        runner.run(only=args.only, scale=args.scale, force=args.force, skip_run=args.skip_run,
                   overrides=args.overrides, progress=not args.no_progress)
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except runner.NotebookFailed as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
