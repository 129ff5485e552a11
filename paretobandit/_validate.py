"""One set of scalar validators for configuration values (numbers, integers, bounds).

Every check raises a typed error (:class:`~paretobandit.errors.ConfigError` unless ``error`` says
otherwise) naming the value, and returns the value as a plain Python ``int`` or ``float`` (NumPy
scalars accepted), so validated values serialise and compare like literals.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

from .errors import ConfigError

__all__ = ["as_real", "number", "integer"]


def as_real(name: str, value: Any, error: type[Exception] = ConfigError) -> float | int:
    """``value`` as a Python ``int`` or ``float``; ``error`` unless it is a real number (bool is not)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise error(f"{name} must be a number, got {value!r} ({type(value).__name__})")
    if value.__class__ in (int, float):
        return value
    return int(value) if isinstance(value, numbers.Integral) else float(value)


def _bounds(name: str, value, low, high, low_open: bool, high_open: bool, error) -> None:
    if low is not None and (value <= low if low_open else value < low):
        raise error(f"{name} must be {'>' if low_open else '>='} {low}, got {value!r}")
    if high is not None and (value >= high if high_open else value > high):
        raise error(f"{name} must be {'<' if high_open else '<='} {high}, got {value!r}")


def number(name: str, value: Any, *, low=None, high=None, low_open: bool = False, high_open: bool = False,
           integer: bool = False, to_float: bool = False,
           error: type[Exception] = ConfigError) -> float | int:
    """A finite real number within the bounds (open or closed); optionally integral.

    Parameters
    ----------
    name : str
        Named in the error message.
    low, high : number, optional
        Bounds; ``low_open`` / ``high_open`` make them strict.
    integer : bool
        Require an integral type (``int`` or a NumPy integer; ``1.0`` is rejected).
    to_float : bool
        Return ``float(value)`` (otherwise ints stay ints).
    error : exception type
        Raised on failure (default :class:`ConfigError`).
    """
    value = as_real(name, value, error)
    if not math.isfinite(value):
        raise error(f"{name} must be finite, got {value!r}")
    if integer and not isinstance(value, int):
        raise error(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    _bounds(name, value, low, high, low_open, high_open, error)
    return float(value) if to_float else value


def integer(name: str, value: Any, *, low=None, high=None, error: type[Exception] = ConfigError) -> int:
    """An integral number (``int`` or NumPy integer, not bool) with ``low <= value <= high``."""
    return int(number(name, value, low=low, high=high, integer=True, error=error))
