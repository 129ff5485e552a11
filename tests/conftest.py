"""Shared pytest set-up.

`make test` sets ``PARETOBANDIT_RESULTS_ROOT`` / ``PARETOBANDIT_MACROS_DIR`` so that the notebooks nbval
re-runs write under ``results/_nbval/`` instead of over the committed results. Python tests compose configs
themselves and assert on the default paths, so for them the redirect is removed.
"""

import pytest

OUTPUT_REDIRECTS = ("PARETOBANDIT_RESULTS_ROOT", "PARETOBANDIT_MACROS_DIR")


@pytest.fixture(autouse=True)
def _no_output_redirect(monkeypatch):
    for name in OUTPUT_REDIRECTS:
        monkeypatch.delenv(name, raising=False)

