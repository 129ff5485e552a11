"""Typed exceptions raised at the public boundary of :mod:`paretobandit`.

Every error raised for bad input derives from :class:`ParetoBanditError`, and from the matching
built-in (``ValueError``, ``KeyError``, ...), so callers can catch either. A rejected call leaves
all router state exactly as it was.
"""

from __future__ import annotations


class ParetoBanditError(Exception):
    """Base class of every error this package raises on purpose."""


class ConfigError(ParetoBanditError, ValueError):
    """A configuration value is out of range or of the wrong type."""


class InvalidInputError(ParetoBanditError, ValueError):
    """A prompt, feature vector, reward, cost or other argument is malformed."""


class DimensionMismatchError(InvalidInputError):
    """A vector or matrix does not have the dimension the router expects."""


class UnknownModelError(ParetoBanditError, KeyError):
    """A model name is not in the registry."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable.
        return str(self.args[0]) if self.args else "unknown model"


class DuplicateModelError(ParetoBanditError, ValueError):
    """A model with this name is already registered."""


class RegistryError(ParetoBanditError, ValueError):
    """A registry operation would leave the router unusable (e.g. removing the last model)."""


class UnknownRequestError(ParetoBanditError, KeyError):
    """Feedback names a request id the router does not know (never routed, or expired)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown request"


class DuplicateFeedbackError(ParetoBanditError, ValueError):
    """Feedback for this request id was already applied; it is never applied twice."""


class BudgetExceededError(ParetoBanditError, ValueError):
    """No eligible model fits the per-request ``max_cost``; the message lists each estimate."""

    def __init__(self, message: str, estimates: dict[str, float] | None = None):
        super().__init__(message)
        self.estimates = dict(estimates or {})


class StateFileError(ParetoBanditError, ValueError):
    """A saved state file is truncated, corrupt, of another dimension or not ours."""


class StoreError(ParetoBanditError, RuntimeError):
    """A context store could not read or write (the caller's operation did not happen)."""


class DataError(ParetoBanditError, ValueError):
    """A data file is missing, corrupt (checksum mismatch) or malformed (names the line)."""


class FeatureError(ParetoBanditError, ValueError):
    """An encoder or PCA artifact produced or holds something unusable (wrong shape, NaN)."""


class ModelLoadError(ParetoBanditError, RuntimeError):
    """The embedding model could not be loaded (package missing, weights unreadable)."""


class PaperBuildError(ParetoBanditError, RuntimeError):
    """LaTeX failed on the paper, or its log has undefined references/citations or overfull tables."""
