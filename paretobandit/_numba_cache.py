"""Keep numba's on-disk cache honest about the equations it compiled from :mod:`paretobandit.kernels`.

numba's ``cache=True`` keys a cached function on its *own* source file only. The compiled simulator
(:mod:`paretobandit.sim._compiled`) and the router's large-K loop (:mod:`paretobandit._accel`) compile
the equations of ``kernels.py``, so an edit there must invalidate their caches, or a stale binary would
keep the old equation. :func:`invalidate_if_changed` removes a module's cached binaries when the
SHA-256 of the files it depends on differs from the stamp written beside them.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

__all__ = ["invalidate_if_changed"]


def _cache_dirs(module_file: Path) -> list[Path]:
    dirs = [module_file.parent / "__pycache__"]
    env = os.environ.get("NUMBA_CACHE_DIR")
    if env:
        dirs.append(Path(env))
    return dirs


def invalidate_if_changed(module_file, *dependencies) -> None:
    """Delete ``<module>.*.nbi/.nbc`` cache files of ``module_file`` if ``dependencies`` changed."""
    module_file = Path(module_file)
    digest = hashlib.sha256(b"".join(Path(dep).read_bytes() for dep in dependencies)).hexdigest()
    stem = module_file.stem
    for cache in _cache_dirs(module_file):
        stamp = cache / f"{stem}.deps-sha256"
        try:
            if stamp.read_text() == digest:
                continue
        except OSError:
            pass
        if cache.is_dir():
            for pattern in (f"{stem}.*.nbi", f"{stem}.*.nbc"):
                for path in cache.rglob(pattern):
                    try:
                        path.unlink()
                    except OSError:
                        pass
        try:
            cache.mkdir(parents=True, exist_ok=True)
            stamp.write_text(digest)
        except OSError:  # read-only install: numba then uses its user-wide cache directory
            pass
