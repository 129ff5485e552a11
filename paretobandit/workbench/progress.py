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
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

__all__ = ["PROGRESS_ENV", "bar", "progress_stream", "relay"]

PROGRESS_ENV = "PARETOBANDIT_PROGRESS_FILE"
"""Environment variable naming the relay file a kernel writes its progress bars to."""

_POLL_SECONDS = 0.25


def _in_kernel() -> bool:
    return "ipykernel" in sys.modules and type(sys.stderr).__module__.startswith("ipykernel")


def progress_stream() -> IO[str] | None:
    """Where :func:`bar` draws: the relay file, the terminal's stderr, or ``None`` (no bar)."""
    path = os.environ.get(PROGRESS_ENV)
    if path:
        try:
            return open(path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 (closed by bar)
        except OSError:
            return None
    if _in_kernel():
        return None
    stream = sys.__stderr__
    return stream if stream is not None and stream.isatty() else None


def bar(iterable: Iterable[Any] | None = None, *, total: int | None = None, desc: str = "",
        unit: str = "it", **kwargs: Any):
    """A ``tqdm`` progress bar (rate and ETA) on the runner's terminal; a silent one elsewhere.

    Parameters
    ----------
    iterable : iterable, optional
        Items to iterate (as ``tqdm(iterable)``); omit it and call ``update`` yourself.
    total : int, optional
        Number of items (taken from ``len(iterable)`` when possible).
    desc, unit : str
        Label and unit shown in the bar.
    **kwargs
        Further ``tqdm`` options.

    Returns
    -------
    tqdm.tqdm
        Usable as an iterator and as a context manager; closing it closes the relay file.
    """
    from tqdm.std import tqdm

    stream = progress_stream()
    bar_ = tqdm(iterable, total=total, desc=desc, unit=unit,
                file=stream if stream is not None else sys.stderr, disable=stream is None,
                mininterval=kwargs.pop("mininterval", 1.0), dynamic_ncols=False,
                ncols=kwargs.pop("ncols", 100), **kwargs)
    if stream is not None and stream is not sys.__stderr__:
        close = bar_.close

        def _close() -> None:
            close()
            stream.close()

        bar_.close = _close  # type: ignore[method-assign]
    return bar_


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
