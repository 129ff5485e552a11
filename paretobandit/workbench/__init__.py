"""Workbench machinery: config composition, notebook runner, results files, statistics, figures, macros.

Knows nothing about bandits: experiment protocols live in :mod:`paretobandit.experiments`; this package
composes their configuration, runs their notebooks in dependency order and turns their results JSON into
tables, figures and LaTeX macros. Run ``python -m paretobandit.workbench --help``.
"""

from .config import CONF_DIR, REPO_ROOT, compose
from .results import SCHEMA_VERSION, build_results, read_results, write_results
from .stats import bootstrap_ci, summarise

__all__ = ["CONF_DIR", "REPO_ROOT", "SCHEMA_VERSION", "bootstrap_ci", "build_results", "compose",
           "read_results", "summarise", "write_results"]
