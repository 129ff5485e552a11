"""Atomic file writes: a temporary file in the target's folder, fsynced, then ``os.replace``d over the target.

A reader therefore sees either the old file or the complete new one, never a torn write; a failed write
leaves the target untouched and removes the temporary file.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def atomic_write(target: str | os.PathLike[str], write: Callable[[BinaryIO], object]) -> Path:
    """Call ``write(fh)`` on a binary temporary file, fsync it, rename it to ``target``; return the path."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def atomic_write_bytes(target: str | os.PathLike[str], data: bytes) -> Path:
    """Atomically replace ``target`` with ``data``."""
    return atomic_write(target, lambda fh: fh.write(data))


def fsync_dir(directory: str | os.PathLike[str]) -> None:
    """Flush a directory entry (a rename or unlink in it) to disk; a no-op where directories have no fd."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)
