"""Progress bars drawn in a child process (a notebook kernel) reach the runner's terminal via the relay."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

from paretobandit.workbench import progress

REPO = Path(__file__).resolve().parents[1]
CHILD = ("from paretobandit.workbench.progress import bar\n"
         "for _ in bar(range(3), desc='demo-step', unit='batch', mininterval=0):\n"
         "    pass\n")


def test_relay_copies_a_childs_bar_to_the_runner(tmp_path):
    out = io.StringIO()
    env = {k: v for k, v in os.environ.items() if k != progress.PROGRESS_ENV}
    env.update(PYTHONPATH=str(REPO), TQDM_DISABLE="1")  # as in a notebook kernel: other bars stay off
    with progress.relay(target=out) as extra:
        assert set(extra) == {progress.PROGRESS_ENV}
        path = Path(extra[progress.PROGRESS_ENV])
        subprocess.run([sys.executable, "-c", CHILD], env={**env, **extra}, check=True, timeout=120,
                       capture_output=True)
    text = out.getvalue()
    assert "demo-step" in text and "3/3" in text and "batch" in text
    assert not path.exists()  # the relay file is removed


def test_without_a_relay_a_non_terminal_process_draws_nothing(monkeypatch, capsys):
    monkeypatch.delenv(progress.PROGRESS_ENV, raising=False)
    assert progress.progress_stream() is None  # pytest's stderr is not a terminal
    assert list(progress.bar(range(2), desc="quiet")) == [0, 1]
    assert "quiet" not in capsys.readouterr().err


def test_disabled_relay_gives_no_environment():
    with progress.relay(enabled=False) as extra:
        assert extra == {}


def test_simulate_under_the_runner_reports_progress_and_gives_identical_results(tmp_path, monkeypatch):
    import numpy as np
    from test_sim_engine import D, N, _run

    from paretobandit.sim.synthetic import synthetic_tables

    tables = synthetic_tables(N, D, 3, seed=3)
    kw = dict(alpha=[0.0, 0.01, 0.1, 0.5, 0.05, 0.2, 0.3, 0.01, 0.02, 0.4],
              budget=[1e-4, None, 3e-4, 1e-3, 5e-3, 2e-4, None, 1e-3, 3e-4, 1e-4])
    monkeypatch.delenv(progress.PROGRESS_ENV, raising=False)
    plain = _run(tables, 10, **kw)
    relay_file = tmp_path / "relay.log"
    monkeypatch.setenv(progress.PROGRESS_ENV, str(relay_file))
    relayed = _run(tables, 10, **kw)
    for name in ("arm", "reward", "cost", "lam", "forced"):
        np.testing.assert_array_equal(getattr(plain, name), getattr(relayed, name))
    for key in ("A", "ainv", "theta", "lam", "cost_ema", "n_updates"):
        np.testing.assert_array_equal(plain.final[key], relayed.final[key])
    text = relay_file.read_text()
    assert "simulate" in text and "10/10" in text
