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
