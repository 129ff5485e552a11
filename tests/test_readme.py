"""The README's result tables are generated from results/*/summary.csv and must not drift from them."""

from pathlib import Path

import pytest

from paretobandit.workbench import readme

ROOT = Path(__file__).resolve().parents[1]


def test_readme_tables_match_results():
    text = (ROOT / "README.md").read_text()
    assert "<!-- table:budget_pacing -->" in text
    assert readme.render(text, ROOT) == text, "run `python -m paretobandit.workbench readme`"


def test_render_rejects_unknown_table():
    with pytest.raises(KeyError, match="unknown table"):
        readme.render("<!-- table:nope -->\n<!-- /table:nope -->", ROOT)


def test_exp01_table_has_every_budget():
    table = readme.budget_pacing(ROOT)
    assert len([line for line in table.splitlines() if line.startswith("| ") and "e-" in line]) == 7
