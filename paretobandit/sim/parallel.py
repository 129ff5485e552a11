"""Run the sub-batches of a :class:`~paretobandit.sim.engine.BatchSimulator` in parallel.

Runs never interact, so a batch split into contiguous groups of runs (``BatchSimulator.split``)
gives exactly the same outputs whichever way the groups are stepped:

* ``"threads"`` — a thread per group; NumPy releases the GIL inside its array kernels, so this
  scales while the per-step Python overhead is small against the array work (large groups);
* ``"processes"`` — POSIX only: each extra group runs in a forked child that writes its outputs
  into an anonymous shared memory map (no pickling); the parent steps the first group itself.
  Scales with cores independently of the GIL. Falls back to threads where ``os.fork`` is absent.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..errors import ConfigError
from .results import SimResult, merge_results

if TYPE_CHECKING:  # annotations only: the engine imports this module
    from .engine import BatchSimulator

__all__ = ["BACKENDS", "run_split"]

BACKENDS = ("threads", "processes")
_OUTPUTS = ("arm", "reward", "cost", "lam", "forced")
_FINAL = ("A", "ainv", "b", "theta", "rho", "last_update", "last_played", "n_updates", "active", "price",
          "lam", "cost_ema")
_REPAIRS = ("ridge_floor", "corrupted_inverse", "stability")


def run_split(sim: BatchSimulator, n_jobs: int, backend: str = "threads") -> SimResult:
    """Run ``sim`` as ``n_jobs`` sub-batches with ``backend`` and merge the results (run order kept)."""
    if backend not in BACKENDS:
        raise ConfigError(f"backend must be one of {BACKENDS}, got {backend!r}")
    parts = sim.split(n_jobs)
    if len(parts) == 1:
        return parts[0].run()
    if backend == "processes" and hasattr(os, "fork"):
        return merge_results(_run_forked(parts))
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=len(parts)) as pool:
        return merge_results(list(pool.map(lambda part: part.run(), parts)))


# ------------------------------------------------------------------------------------- processes
def _layout(part: BatchSimulator) -> list[tuple[str, tuple[int, ...], np.dtype, int]]:
    """(name, shape, dtype, byte offset) of every array a part returns, packed 8-byte aligned."""
    n_runs, n_steps = part.n_runs, part.n_steps
    items: list[tuple[str, tuple[int, ...], np.dtype]] = [
        ("arm", (n_runs, n_steps), part._out_arm.dtype), ("reward", (n_runs, n_steps), np.dtype(float)),
        ("cost", (n_runs, n_steps), np.dtype(float)), ("lam", (n_runs, n_steps), np.dtype(float)),
        ("forced", (n_runs, n_steps), np.dtype(bool))]
    items += [(f"final.{key}", getattr(part, key).shape, getattr(part, key).dtype) for key in _FINAL]
    items.append(("repairs", (len(_REPAIRS),), np.dtype(np.int64)))
    out, offset = [], 0
    for name, shape, dtype in items:
        out.append((name, tuple(shape), np.dtype(dtype), offset))
        offset += -(-int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize // 8) * 8
    return out


def _views(layout, buf) -> dict[str, np.ndarray]:
    return {name: np.frombuffer(buf, dtype=dtype, count=int(np.prod(shape, dtype=np.int64)),
                                offset=offset).reshape(shape)
            for name, shape, dtype, offset in layout}


def _size(layout) -> int:
    name, shape, dtype, offset = layout[-1]
    return offset + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize


def _write(res: SimResult, views: dict[str, np.ndarray]) -> None:
    for name in _OUTPUTS:
        views[name][...] = getattr(res, name)
    for key in _FINAL:
        views[f"final.{key}"][...] = res.final[key]
    views["repairs"][...] = [res.final["repairs"][k] for k in _REPAIRS]


def _read(views: dict[str, np.ndarray], t: int) -> SimResult:
    final = {key: views[f"final.{key}"].copy() for key in _FINAL}
    final["t"] = t
    final["repairs"] = {k: int(v) for k, v in zip(_REPAIRS, views["repairs"], strict=True)}
    return SimResult(*(views[name].copy() for name in _OUTPUTS), final=final)


def _run_forked(parts: Sequence[BatchSimulator]) -> list[SimResult]:
    layouts = [_layout(p) for p in parts]
    buffers = [mmap.mmap(-1, max(_size(lay), 1)) for lay in layouts]   # anonymous, MAP_SHARED
    pids = []
    try:
        for i in range(1, len(parts)):
            pid = os.fork()
            if pid == 0:                                   # child: step one group, write, leave
                status = 1
                try:
                    _write(parts[i].run(), _views(layouts[i], buffers[i]))
                    status = 0
                finally:
                    os._exit(status)
            pids.append(pid)
        results = [parts[0].run()]
    finally:
        failed = [pid for pid in pids if os.waitpid(pid, 0)[1] != 0]
    if failed:
        raise RuntimeError(f"{len(failed)} simulation worker process(es) failed; rerun with "
                           "backend='threads' to see the error")
    for i in range(1, len(parts)):
        results.append(_read(_views(layouts[i], buffers[i]), parts[i].t))
    for buf in buffers:
        buf.close()
    return results
