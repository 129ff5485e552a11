"""Progress bars with ETA on the runner's terminal, never in notebook outputs.

A notebook kernel's ``sys.stderr`` is captured into the notebook (nbval compares it), so long steps inside
a notebook cannot draw on the terminal directly. ``python -m paretobandit.workbench run`` therefore opens
a *relay* (:func:`relay`): a log file whose path it hands to the kernel in :data:`PROGRESS_ENV` and whose
new bytes a thread copies to the runner's own stderr. Package code wraps its long loops in :func:`bar`,
which writes a plain ``tqdm`` bar (no widgets, so no ``IProgress`` warning) to that file; without a relay
it draws on stderr only in a terminal process, and stays silent in a kernel.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from .._progress import PROGRESS_ENV, bar, progress_stream

__all__ = ["PROGRESS_ENV", "bar", "progress_stream", "relay"]

_POLL_SECONDS = 0.25


@contextmanager
def relay(enabled: bool = True, target: IO[str] | None = None) -> Iterator[dict[str, str]]:
    """Copy progress written by child processes to ``target`` (default: this process's stderr).

    Yields the environment (``{PROGRESS_ENV: path}``, or ``{}`` when disabled) to give the children.
    """
    if not enabled:
        yield {}
        return
    out = target if target is not None else sys.stderr
    fd, name = tempfile.mkstemp(prefix="paretobandit-progress-", suffix=".log")
    os.close(fd)
    path = Path(name)
    stop = threading.Event()

    def pump() -> None:
        with open(path, encoding="utf-8", errors="replace") as fh:
            while True:
                chunk = fh.read()
                if chunk:
                    out.write(chunk)
                    out.flush()
                elif stop.is_set():
                    return
                else:
                    stop.wait(_POLL_SECONDS)

    thread = threading.Thread(target=pump, name="paretobandit-progress-relay", daemon=True)
    thread.start()
    try:
        yield {PROGRESS_ENV: str(path)}
    finally:
        stop.set()
        thread.join(timeout=5)
        path.unlink(missing_ok=True)
