"""Re-derive and verify the canonical feature artifact (:mod:`paretobandit.canonical`).

* :func:`rebuild` embeds every prompt of the canonical sets on this machine (into the local cache
  ``data/features/<set>.npz``), reports per set the largest absolute deviation from the canonical
  vectors, and replaces the canonical sets only when ``replace=True`` — never silently.
  ``paretobandit features build [--replace]`` is its command line.
* :func:`verify` checks the artifact without embedding anything (notebook 00): checksums, that every
  reward table's prompts are covered, and that it was made by the default pipeline (same model, PCA
  sha256, whitening, dimension).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np

from . import canonical
from .errors import DataError

__all__ = ["SetReport", "rebuild", "set_prompts", "verify"]


@dataclass(frozen=True)
class SetReport:
    """Comparison of one re-derived set with the canonical one.

    Attributes
    ----------
    name : str
        Set name.
    rows : int
        Prompts in the set.
    max_abs_deviation : float or None
        ``max |derived − canonical|`` over the prompts both hold (``None``: no canonical set yet).
    identical : bool
        Bitwise equal vectors and the same keys in the same order.
    replaced : bool
        Whether the canonical set was rewritten from the derived vectors.
    """

    name: str
    rows: int
    max_abs_deviation: float | None
    identical: bool
    replaced: bool

    def line(self) -> str:
        """One human-readable line."""
        dev = "no canonical set" if self.max_abs_deviation is None else f"{self.max_abs_deviation:.3e}"
        state = "identical" if self.identical else ("REPLACED" if self.replaced else "kept canonical")
        return f"{self.name:<8} {self.rows:>6} rows   max |derived - canonical| = {dev:<18} {state}"


def set_prompts(name: str) -> list[str]:
    """Prompts of set ``name`` in artifact order (needs the reward tables: ``paretobandit data fetch``)."""
    from .data import load_reward_table

    if name not in canonical.FEATURE_SETS:
        raise DataError(f"unknown feature set {name!r}; sets are {list(canonical.FEATURE_SETS)}")
    if name != "judges":
        return list(load_reward_table(name).prompts)
    seen: set[str] = set()
    out: list[str] = []
    for table in canonical.JUDGE_TABLES:
        for prompt in load_reward_table(table).prompts:
            if prompt not in seen:
                seen.add(prompt)
                out.append(prompt)
    return out


def _derive(name: str, service: Any, batch_size: int, use_cache: bool) -> tuple[list[str], np.ndarray]:
    from .data import features_root
    from .features import text_key

    prompts = set_prompts(name)
    cache = features_root() / f"{name}.npz" if use_cache else None
    vectors = service.extract_batch(prompts, batch_size=batch_size, cache_path=cache)
    return [text_key(p) for p in prompts], np.asarray(vectors, dtype=np.float64)


def _compare(name: str, keys: list[str], vectors: np.ndarray) -> tuple[float | None, bool]:
    try:
        ckeys, cvec, _ = canonical.read_feature_set(name)
    except DataError:
        return None, False
    index = {k: i for i, k in enumerate(ckeys.tolist())}
    common = [(i, index[k]) for i, k in enumerate(keys) if k in index]
    if not common:
        return float("inf"), False
    mine, theirs = (np.asarray(c, dtype=np.intp) for c in zip(*common, strict=True))
    dev = float(np.max(np.abs(vectors[mine] - cvec[theirs])))
    identical = (ckeys.tolist() == keys and cvec.shape == vectors.shape
                 and bool(np.array_equal(cvec, vectors)))
    return dev, identical


def rebuild(sets: Sequence[str] = canonical.FEATURE_SETS, *, replace: bool = False,
            feature_service: Any = None, batch_size: int = 64, use_cache: bool = True) -> list[SetReport]:
    """Re-derive the canonical sets on this machine and compare; replace them only if asked.

    Parameters
    ----------
    sets : sequence of str
        Sets to re-derive (default: all of :data:`canonical.FEATURE_SETS`).
    replace : bool
        Rewrite the canonical sets (and their manifest) from the derived vectors. Default False.
    feature_service : FeatureService, optional
        Default: the default pipeline ``FeatureService()``.
    batch_size : int
        Encoder batch size.
    use_cache : bool
        Reuse (and extend) the local cache ``data/features/<set>.npz``; False re-embeds every prompt.

    Returns
    -------
    list of SetReport
    """
    from ._progress import bar
    from .features import FeatureService
    from .provenance import machine_info

    unknown = [s for s in sets if s not in canonical.FEATURE_SETS]
    if unknown:
        raise DataError(f"unknown feature sets {unknown}; sets are {list(canonical.FEATURE_SETS)}")
    service = feature_service if feature_service is not None else FeatureService()
    derived = {}
    # One step per set (encoding a set in chunks would change MiniLM's batches and so its rounding);
    # the bar counts prompts, so its rate and ETA follow the work.
    sizes = {name: len(set_prompts(name)) for name in sets}
    with bar(total=sum(sizes.values()), desc="features build", unit="prompt") as progress:
        for name in sets:
            progress.set_postfix_str(name)
            derived[name] = _derive(name, service, batch_size, use_cache)
            progress.update(sizes[name])
    reports = []
    for name, (keys, vectors) in derived.items():
        dev, identical = _compare(name, keys, vectors)
        reports.append(SetReport(name, len(keys), dev, identical, replace and not identical))
    changed = {r.name: derived[r.name] for r in reports if r.replaced}
    if changed:
        info = machine_info()
        canonical.write_feature_sets(changed, service.fingerprint(), {
            "built_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "how": "paretobandit features build --replace", "sets_replaced": sorted(changed),
            "cpu": info["cpu"], "versions": info["versions"], "numeric_env": info["numeric_env"]})
    return reports


def verify(tables: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Verify the canonical artifact without embedding; one summary row per set.

    Checks every set's checksums (:func:`canonical.read_feature_set`), that each reward table of
    ``tables`` (default: the four splits and the six cross-judge tables) is covered by its set, and
    that the artifact was made by the default pipeline (:meth:`FeatureService.fingerprint`).

    Returns
    -------
    list of dict
        ``{"set", "rows", "dim", "bias_last", "tables", "sha256_vectors"}`` per set.

    Raises
    ------
    DataError
        A checksum mismatch, a table prompt without a vector, or another pipeline's features.
    """
    from .data import load_features
    from .features import FeatureService

    manifest = canonical.read_manifest()
    expected = FeatureService().fingerprint()
    if manifest.get("description") != expected:
        raise DataError(f"the canonical features were made by {manifest.get('description')}, but the "
                        f"default pipeline here is {expected}")
    tables = list(tables) if tables is not None else [*canonical.FEATURE_SETS[:4], *canonical.JUDGE_TABLES]
    covered: dict[str, list[str]] = {name: [] for name in canonical.FEATURE_SETS}
    for table in tables:
        load_features(table, feature_service=None)       # raises when a prompt has no vector
        covered[canonical.set_for_table(table) or "-"].append(table)
    rows = []
    for name in canonical.FEATURE_SETS:
        _, vectors, _ = canonical.read_feature_set(name)
        rows.append({"set": name, "rows": int(vectors.shape[0]), "dim": int(vectors.shape[1]),
                     "bias_last": bool(np.all(vectors[:, -1] == 1.0)), "tables": ", ".join(covered[name]),
                     "sha256_vectors": manifest["sets"][name]["sha256_vectors"][:16]})
    return rows
