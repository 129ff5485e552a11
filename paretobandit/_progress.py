"""Progress bars with ETA for long package loops, drawn where a person can see them.

The workbench runner (:mod:`paretobandit.workbench.progress`) hands notebook kernels a relay file in
:data:`PROGRESS_ENV`; :func:`bar` writes a plain ``tqdm`` bar there (never into notebook outputs), or on a
terminal's stderr, and is silent otherwise. Lives outside the workbench so the simulator can use it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import IO, Any

__all__ = ["PROGRESS_ENV", "bar", "progress_stream", "relay_active"]

PROGRESS_ENV = "PARETOBANDIT_PROGRESS_FILE"
"""Environment variable naming the relay file a kernel writes its progress bars to."""


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


def relay_active() -> bool:
    """True inside a process whose progress is relayed to the workbench runner's terminal."""
    return bool(os.environ.get(PROGRESS_ENV))

