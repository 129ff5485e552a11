"""Image regression over every figure drawn from the committed results JSON.

After an intended change regenerate the library: ``python -m paretobandit.workbench figure-hashes --update``.
"""

from __future__ import annotations

import pytest

from paretobandit.workbench import figure_hashes as fh
from paretobandit.workbench.config import REPO_ROOT, experiment_names

RENDERED = [n for n in experiment_names() if (REPO_ROOT / "results" / n / "results.json").is_file()]


@pytest.mark.parametrize("experiment", RENDERED)
def test_figures_match_the_hash_library(experiment):
    stored = {k: v for k, v in fh.read_library().items() if k.startswith(f"{experiment}/")}
    current = fh.compute_hashes(experiments=[experiment])
    diff = fh.differences(stored, current)
    assert not diff, ("figures differ from tests/figure_hashes.json:\n  " + "\n  ".join(diff)
                      + "\nif intended: python -m paretobandit.workbench figure-hashes --update")


def test_rendering_twice_gives_the_same_bytes():
    name = next(n for n in ("budget_drift", "budget_pacing", *RENDERED) if n in RENDERED)
    first = fh.compute_hashes(experiments=[name])
    assert first, f"no figure rendered for {name}"
    assert fh.compute_hashes(experiments=[name]) == first  # no hidden state between renderings


def test_differences_name_every_kind_of_change():
    assert fh.differences({"a": "1", "b": "2", "c": "3"}, {"a": "1", "b": "X", "d": "4"}) == [
        "changed: b", "new (not in the library): d", "missing (in the library, not rendered): c"]
