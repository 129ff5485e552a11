"""What a reader needs to explain a numerical difference between two machines (no results here).

:func:`machine_info` collects the versions of the numerical stack, the BLAS kernel OpenBLAS picked
(``threadpoolctl``), the CPU model and the instruction-set / kernel overrides in the environment.
It is recorded in volatile files only (``run_info.json``, the feature manifest): never in anything
compared byte for byte.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
from typing import Any

__all__ = ["NUMERIC_ENV_VARS", "PACKAGES", "blas_info", "cpu_model", "machine_info", "package_versions"]

#: Distributions whose version can change a number.
PACKAGES = ("numpy", "scipy", "numba", "llvmlite", "torch", "sentence-transformers", "transformers")
#: Environment variables that select instruction sets or kernels.
NUMERIC_ENV_VARS = ("NUMBA_CPU_NAME", "NUMBA_CPU_FEATURES", "ATEN_CPU_CAPABILITY", "OPENBLAS_CORETYPE",
                    "NPY_DISABLE_CPU_FEATURES", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def package_versions(packages: tuple[str, ...] = PACKAGES) -> dict[str, str | None]:
    """``{distribution: version}`` (``None`` when not installed)."""
    out: dict[str, str | None] = {}
    for name in packages:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def cpu_model() -> str:
    """CPU model name (``/proc/cpuinfo`` on Linux, else :func:`platform.processor`)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def blas_info() -> list[dict[str, Any]]:
    """BLAS/OpenMP libraries loaded in this process (``threadpoolctl``): api, library, version, kernel."""
    try:
        import numpy  # noqa: F401  (loads numpy's BLAS so threadpoolctl can see it)
        from threadpoolctl import threadpool_info
    except ImportError:
        return [{"error": "threadpoolctl is not installed"}]
    keep = ("user_api", "internal_api", "prefix", "version", "architecture", "threading_layer",
            "num_threads")
    return [{k: info.get(k) for k in keep if info.get(k) is not None} for info in threadpool_info()]


def machine_info() -> dict[str, Any]:
    """Versions, BLAS kernel, CPU model and numeric environment overrides of this process."""
    return {"versions": package_versions(), "blas": blas_info(), "cpu": cpu_model(),
            "machine": platform.machine(),
            "numeric_env": {k: os.environ[k] for k in NUMERIC_ENV_VARS if k in os.environ}}
