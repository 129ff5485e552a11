"""docs/PROTOCOLS.md §2 trial-protocol helpers shared by every experiment.

* seeds: ``offset + i`` for ``i < n_seeds``;
* per seed: ``rng = default_rng(seed)``, ``val_order = rng.permutation(n_val)``,
  ``test_order = rng.permutation(n_test)`` (:func:`paretobandit.sim.trial_orders`); the router's
  tie-break generator is a separate ``default_rng(seed)`` (the simulator's per-run seed);
* warm-up on the shuffled val split with the pacer active, then evaluate on the shuffled test split
  while still learning; λ is recorded at each decision;
* warm-up priors from ``priors_k3_d26.npz`` (n_eff 1163.9), mapped onto the tables' arm order by
  model id (the file's order is [gemini-2.5-pro, llama, mistral]).
"""

from __future__ import annotations

import functools
import importlib
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._validate import integer, number
from ..config import DEFAULT_N_EFF as _DEFAULT_N_EFF
from ..config import PACER_DEFAULTS
from ..errors import ConfigError, DataError, DimensionMismatchError, InvalidInputError
from ..priors import DEFAULT_PRIORS_NAME, default_priors_path
from ..sim import PacerParams, Priors

__all__ = [
    "seed_band",
    "DEFAULT_N_EFF",
    "PRIORS_FILE",
    "Tables",
    "align_priors",
    "as_price_array",
    "bootstrap_ci",
    "default_priors_path",
    "load_prior_arrays",
    "make_seeds",
    "parse_budgets",
    "parse_pacer",
    "pacer_record",
    "parse_policy",
    "plugin_factory",
    "parse_seeds",
    "prepare_tables",
    "resolve_priors",
    "stack_tables",
    "summarise",
]

#: n_eff = (γ^(−500) − 1)/(1 − γ) at γ = 0.997 (:func:`paretobandit.config.n_eff_for_gamma`).
DEFAULT_N_EFF = _DEFAULT_N_EFF
PRIORS_FILE = DEFAULT_PRIORS_NAME


def make_seeds(offset: int, n_seeds: int) -> list[int]:
    """Seeds ``offset + i`` for ``i < n_seeds`` (docs/PROTOCOLS.md §2)."""
    offset = integer("offset", offset, low=0)
    n_seeds = integer("n_seeds", n_seeds, low=1)
    return [offset + i for i in range(n_seeds)]


# ------------------------------------------------------------------------------------- priors
def load_prior_arrays(path: str | os.PathLike | None = None) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Read ``(models, A_off (K,d,d), b_off (K,d))`` from a priors ``.npz`` (no pickle)."""
    if path is None:
        path = default_priors_path()
        if path is None:
            raise DataError(f"{PRIORS_FILE} not found; run `paretobandit data fetch` or set "
                            "PARETOBANDIT_DATA")
    p = Path(path)
    try:
        with np.load(p, allow_pickle=False) as z:
            models = [str(m) for m in z["models"].tolist()]
            a, b = np.asarray(z["A"], dtype=float), np.asarray(z["b"], dtype=float)
    except (OSError, KeyError, ValueError) as exc:
        raise DataError(f"cannot read priors {p}: {exc}") from None
    if a.ndim != 3 or b.shape != a.shape[:2] or a.shape[0] != len(models) or a.shape[1] != a.shape[2]:
        raise DataError(f"priors {p}: inconsistent shapes models={len(models)}, A={a.shape}, b={b.shape}")
    return models, a, b


def align_priors(prior_models: Sequence[str], a_off, b_off, models: Sequence[str]) -> Priors:
    """Reorder prior statistics onto ``models`` (the tables' column order) by model id.

    Arms absent from the prior get an identity placeholder and ``mask = False`` (they start cold).
    """
    a_off, b_off = np.asarray(a_off, dtype=float), np.asarray(b_off, dtype=float)
    d = a_off.shape[-1]
    index = {m: i for i, m in enumerate(prior_models)}
    a = np.broadcast_to(np.eye(d), (len(models), d, d)).copy()
    b = np.zeros((len(models), d))
    mask = np.zeros(len(models), dtype=bool)
    for j, m in enumerate(models):
        i = index.get(m)
        if i is not None:
            a[j], b[j], mask[j] = a_off[i], b_off[i], True
    return Priors(a_off=a, b_off=b, mask=mask)


def resolve_priors(priors: Any, models: Sequence[str], d: int) -> Priors | None:
    """Accept ``None``, :class:`Priors`, a path or ``(prior_models, A_off, b_off)``; return aligned Priors."""
    if priors is None:
        return None
    if isinstance(priors, Priors):
        out = priors
    elif isinstance(priors, (str, os.PathLike)):
        out = align_priors(*load_prior_arrays(priors), models)
    elif isinstance(priors, Mapping):
        out = align_priors(priors["models"], priors["A"], priors["b"], models)
    elif isinstance(priors, (tuple, list)) and len(priors) == 3:
        out = align_priors(*priors, models)
    else:
        raise ConfigError("priors must be None, a path, Priors, {'models','A','b'} or (models, A, b)")
    if np.shape(out.a_off)[-1] != d:
        raise DimensionMismatchError(f"priors have d = {np.shape(out.a_off)[-1]}, features d = {d}")
    return out


# ------------------------------------------------------------------------------------- tables
def as_price_array(prices: Any, models: Sequence[str]) -> np.ndarray:
    """(K, 2) $/M array from a catalog-like mapping ``{model: {input_cost_per_m, output_cost_per_m}}``,
    a mapping ``{model: (input, output)}``, or an array already in column order."""
    if isinstance(prices, Mapping):
        rows = []
        for m in models:
            if m not in prices:
                raise ConfigError(f"no price for model {m!r} (a model without prices is an error)")
            v = prices[m]
            if isinstance(v, Mapping):
                rows.append((v["input_cost_per_m"], v["output_cost_per_m"]))
            else:
                rows.append(tuple(v))
        arr = np.asarray(rows, dtype=float)
    else:
        arr = np.asarray(prices, dtype=float)
    if arr.shape != (len(models), 2):
        raise DimensionMismatchError(f"prices must be (K=len(models), 2) $/M, got {arr.shape}")
    return arr


def stack_tables(features_val, rewards_val, costs_val, features_test, rewards_test, costs_test):
    """Stack val over test: ``(features, rewards, costs, n_val, n_test)``; streams index the stack."""
    fv, ft = np.asarray(features_val, dtype=float), np.asarray(features_test, dtype=float)
    rv, rt = np.asarray(rewards_val, dtype=float), np.asarray(rewards_test, dtype=float)
    cv, ct = np.asarray(costs_val, dtype=float), np.asarray(costs_test, dtype=float)
    if fv.ndim != 2 or ft.ndim != 2 or fv.shape[1] != ft.shape[1]:
        raise DimensionMismatchError(f"val/test features must be (n, d) with equal d: {fv.shape}, {ft.shape}")
    for name, f, r, c in (("val", fv, rv, cv), ("test", ft, rt, ct)):
        if r.ndim != 2 or r.shape[0] != f.shape[0] or c.shape != r.shape:
            raise DimensionMismatchError(
                f"{name}: features {f.shape}, rewards {r.shape}, costs {c.shape} must share rows")
    if rv.shape[1] != rt.shape[1]:
        raise DimensionMismatchError("val and test tables must have the same arms")
    if fv.shape[0] == 0 or ft.shape[0] == 0:
        raise InvalidInputError("val and test splits must be non-empty")
    return (np.vstack([fv, ft]), np.vstack([rv, rt]), np.vstack([cv, ct]), fv.shape[0], ft.shape[0])


@dataclass(frozen=True)
class Tables:
    """Validated ``[val; test]`` stack of an experiment (see :func:`prepare_tables`).

    Attributes
    ----------
    models : list of str
        Model ids of the columns.
    feats, rewards, costs : ndarray
        ``(n_val + n_test, d)`` features and ``(n_val + n_test, K)`` reward / cost tables.
    n_val, n_test : int
        Rows of each split (val first).
    """

    models: list[str]
    feats: np.ndarray
    rewards: np.ndarray
    costs: np.ndarray
    n_val: int
    n_test: int

    @property
    def k(self) -> int:
        """Number of arms (columns)."""
        return len(self.models)

    @property
    def d(self) -> int:
        """Feature dimension."""
        return self.feats.shape[1]


def prepare_tables(models: Sequence[str], features_val, rewards_val, costs_val, features_test, rewards_test,
                   costs_test) -> Tables:
    """:func:`stack_tables` plus the check that the tables have one column per model.

    ``models`` is normalised to a list of str; a column-count mismatch raises
    :class:`~paretobandit.errors.DimensionMismatchError`.
    """
    models = [str(m) for m in models]
    feats, rewards, costs, n_val, n_test = stack_tables(features_val, rewards_val, costs_val,
                                                         features_test, rewards_test, costs_test)
    k = len(models)
    if rewards.shape[1] != k:
        raise DimensionMismatchError(f"{k} models but tables have {rewards.shape[1]} columns")
    return Tables(models, feats, rewards, costs, n_val, n_test)


# ------------------------------------------------------------------------------------- parameters
def parse_budgets(budgets: Mapping[str, float]) -> dict[str, float]:
    """Named budgets ``{name: $ per request}`` as ``{str: float}``; each must be positive and finite.

    Raises :class:`~paretobandit.errors.ConfigError` for an empty mapping or a non-positive /
    non-finite value.
    """
    out = {str(n): number(f"budget {n!r}", b, low=0.0, low_open=True, to_float=True)
           for n, b in budgets.items()}
    if not out:
        raise ConfigError("budgets must name at least one budget")
    return out


def parse_seeds(seeds, *, required: bool = True) -> list[int]:
    """Trial seeds as a list of int; with ``required`` an empty list raises ConfigError."""
    out = [int(s) for s in seeds]
    if required and not out:
        raise ConfigError("at least one seed is needed")
    return out


def plugin_factory(spec: Mapping | None):
    """A plug-in factory from a Hydra-style ``{"_target_": "pkg.mod.Class", **kwargs}`` mapping:
    ``functools.partial(Class, **kwargs)`` (``_partial_`` is implied). ``None`` (or no ``_target_``) →
    ``None``. Targets under the repository's ``examples/`` resolve with the repository on ``sys.path``."""
    if not spec or "_target_" not in spec:
        return None
    kwargs = {k: v for k, v in spec.items() if k not in ("_target_", "_partial_")}
    target = str(spec["_target_"])
    module, _, name = target.rpartition(".")
    try:
        if module.split(".")[0] == "examples":
            from ..workbench.config import REPO_ROOT

            if str(REPO_ROOT) not in sys.path:
                sys.path.insert(0, str(REPO_ROOT))
        cls = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ConfigError(f"cannot import plug-in _target_ {target!r}: {exc}") from None
    return functools.partial(cls, **kwargs)


def parse_pacer(pacer_params: Mapping | None) -> tuple[str, PacerParams]:
    """``(mode, pacer)`` from the ``pacer`` config group.

    For the built-in pacer (no ``_target_``, or ``_target_: paretobandit.pacer.BudgetPacer``) ``pacer``
    is :class:`PacerParams`, keyed like :class:`~paretobandit.pacer.BudgetPacer`'s arguments; missing keys
    take :data:`paretobandit.config.PACER_DEFAULTS`. ``ema`` is accepted for ``ema_alpha`` (older
    configs); giving both is an error. Any other ``_target_`` gives a plug-in factory
    ``factory(budget=B)`` (:func:`plugin_factory`), which the simulator runs on its generic path.
    """
    params = dict(pacer_params or {})
    target = params.get("_target_")
    if target is not None and target not in BUILTIN_PACER_TARGETS:
        return str(params.pop("mode", PACER_DEFAULTS["mode"])), plugin_factory(params)
    params.pop("_target_", None)
    params.pop("_partial_", None)
    if "ema" in params:
        if "ema_alpha" in params:
            raise ConfigError("pacer: give ema_alpha or its old name ema, not both")
        params["ema_alpha"] = params.pop("ema")
    unknown = sorted(set(params) - set(PACER_DEFAULTS))
    if unknown:
        raise ConfigError(f"unknown pacer parameter(s) {unknown}; known: {sorted(PACER_DEFAULTS)}")
    params = {**PACER_DEFAULTS, **params}
    mode = str(params.pop("mode"))
    return mode, PacerParams(**params)


def pacer_record(mode: str, pacer) -> dict:
    """The ``pacer_params`` entry of a result: the built-in pacer's settings, or a plug-in factory's
    ``_target_`` and keywords (:func:`parse_pacer`'s two kinds of ``pacer``)."""
    if isinstance(pacer, PacerParams):
        return {"mode": mode, "eta": pacer.eta, "ema": pacer.ema_alpha, "lambda_cap": pacer.lambda_cap,
                "ceiling_multiplier": pacer.ceiling_multiplier}
    func = getattr(pacer, "func", pacer)
    return {"mode": mode, "_target_": f"{func.__module__}.{func.__qualname__}",
            **dict(getattr(pacer, "keywords", {}))}


#: ``_target_`` values that mean the built-in pacer / policy (run on the compiled simulator).
BUILTIN_PACER_TARGETS = ("paretobandit.pacer.BudgetPacer", "paretobandit.BudgetPacer")
BUILTIN_POLICY_TARGETS = ("paretobandit.policy.LinUCBPolicy", "paretobandit.LinUCBPolicy")


def parse_policy(policy_spec: Mapping | None):
    """The ``router.policy`` config: ``None`` for the built-in LinUCB, else a plug-in factory."""
    if not policy_spec or policy_spec.get("_target_") in BUILTIN_POLICY_TARGETS:
        return None
    return plugin_factory(policy_spec)


# ------------------------------------------------------------------------------------- statistics
def bootstrap_ci(values, n_resamples: int = 10_000, seed: int = 42,
                 level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean of per-seed values (docs/PROTOCOLS.md §2: 10,000 resamples,
    seed 42)."""
    v = np.asarray(values, dtype=float).ravel()
    if v.size == 0:
        raise InvalidInputError("bootstrap needs at least one value")
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, v.size, size=(n_resamples, v.size))].mean(axis=1)
    lo, hi = np.percentile(means, [100 * (1 - level) / 2, 100 * (1 + level) / 2])
    return float(lo), float(hi)


def seed_band(values, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Pointwise CI of the seed mean of a (S, T) array: Student-t interval, mean ± t_{S-1} · sd / √S.

    The bands of the trace figures (one per stored step; a bootstrap per point would cost S × T ×
    10,000 draws for a drawing aid). With one seed the band is the mean itself.
    """
    from scipy import stats

    x = np.asarray(values, dtype=float)
    if x.ndim != 2 or x.shape[0] == 0:
        raise InvalidInputError(f"seed_band needs a (seeds, steps) array, got shape {x.shape}")
    mean = x.mean(axis=0)
    n = x.shape[0]
    if n == 1:
        return mean.copy(), mean.copy()
    half = stats.t.ppf(0.5 + level / 2, n - 1) * x.std(axis=0, ddof=1) / np.sqrt(n)
    return mean - half, mean + half


def summarise(values, n_resamples: int = 10_000, seed: int = 42) -> dict:
    """``{mean, ci_low, ci_high, std}`` of per-seed values (JSON-able floats)."""
    v = np.asarray(values, dtype=float)
    lo, hi = bootstrap_ci(v, n_resamples, seed)
    return {"mean": float(v.mean()), "ci_low": lo, "ci_high": hi, "std": float(v.std(ddof=0))}
