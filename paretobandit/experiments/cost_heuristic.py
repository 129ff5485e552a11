"""Appendix — cost-heuristic validation (SPEC §3, Appendix; notebook 05).

Question: does the router's normalised unit cost ``c̃`` (:func:`paretobandit.kernels.normalised_cost` of
the blended catalog price, SPEC §1.3) order the models as the realised mean $ cost per request in the
reward tables does?

For every table (K = 3: ``val``, ``test``; K = 4: ``val_k4``, ``test_k4``) and model:

* blended price ``p = (in + out)/2/1000`` $/1k tokens and ``c̃ = normalised_cost(p, floor, ceil)``;
* realised mean (and median) $ cost per request over the table's rows;
* ranks of both (1 = cheapest; average ranks on ties, as :func:`scipy.stats.rankdata`);
* Spearman ρ and Kendall τ-b (:mod:`scipy.stats`) between ``c̃`` and the realised mean cost, and whether
  the two orderings are identical. With K = 3 or 4 the rank statistics take few values (ρ = 1 iff the
  orderings agree), so the per-prompt check below carries the finer information;
* per-prompt pairwise agreement: over every prompt and every model pair with different ``c̃``, the
  fraction in which the model with the larger ``c̃`` also had the larger realised cost on that prompt
  (equal costs count as half), overall and per model pair;
* Pearson r between ``c̃`` and ln(realised mean cost) (is the log normalisation close to linear in log
  cost?).

No router runs: this is a property of the catalog and the tables.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from scipy import stats

from ..errors import ConfigError, DimensionMismatchError
from ..kernels import blended_price, normalised_cost
from .common import as_price_array

__all__ = ["cost_heuristic_table", "load_cost_tables", "pairwise_agreement", "pairwise_by_pair",
           "rank_agreement", "run_cost_heuristic"]


def rank_agreement(a: Sequence[float], b: Sequence[float]) -> dict:
    """Spearman ρ, Kendall τ-b and ordering equality of two per-model vectors (ascending orders)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 1 or a.size < 2:
        raise DimensionMismatchError(f"need two equal-length vectors of >= 2 values, got {a.shape}, "
                                     f"{b.shape}")
    ra, rb = stats.rankdata(a), stats.rankdata(b)
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        rho = tau = float("nan")       # undefined for a constant vector
    else:
        rho = float(stats.spearmanr(a, b).statistic)
        tau = float(stats.kendalltau(a, b).statistic)
    return {"spearman": rho, "kendall": tau, "orderings_agree": bool(np.array_equal(ra, rb)),
            "rank_a": ra.tolist(), "rank_b": rb.tolist()}


def pairwise_agreement(ncost: Sequence[float], costs: np.ndarray) -> float:
    """Per-prompt pairwise agreement of ``c̃`` with realised costs (``costs`` is (n, K)).

    Over every row and every model pair ``(i, j)`` with ``c̃_i > c̃_j``: 1 if ``cost_i > cost_j``,
    0.5 if equal, 0 otherwise; the mean over all such (row, pair) cases.
    """
    c = np.asarray(ncost, dtype=float)
    x = np.asarray(costs, dtype=float)
    if x.ndim != 2 or x.shape[1] != c.size:
        raise DimensionMismatchError(f"costs must be (n, K={c.size}), got {x.shape}")
    scores = []
    for i in range(c.size):
        for j in range(c.size):
            if c[i] > c[j]:
                d = x[:, i] - x[:, j]
                scores.append(np.where(d > 0, 1.0, np.where(d == 0, 0.5, 0.0)))
    if not scores or x.shape[0] == 0:
        return float("nan")
    return float(np.mean(np.concatenate(scores)))


def pairwise_by_pair(models: Sequence[str], ncost: Sequence[float], costs: np.ndarray) -> dict:
    """Per model pair with different ``c̃``: ``"cheap|dear"`` → fraction of prompts on which the model
    with the larger ``c̃`` had the larger realised cost (ties ½), as in :func:`pairwise_agreement`."""
    c = np.asarray(ncost, dtype=float)
    x = np.asarray(costs, dtype=float)
    out = {}
    for i in range(c.size):
        for j in range(c.size):
            if c[i] > c[j]:
                out[f"{models[j]}|{models[i]}"] = pairwise_agreement([0.0, 1.0], x[:, [j, i]])
    return dict(sorted(out.items()))


def cost_heuristic_table(*, models: Sequence[str], prices, costs, floor: float = 1e-4,
                         ceil: float = 0.10) -> dict:
    """Per-model ``c̃``, blended price and realised costs of one table, plus the agreement statistics.

    Parameters
    ----------
    models : sequence of str
        Column order of ``costs``.
    prices : mapping or (K, 2) array
        Catalog prices in $/M (``{model: {input_cost_per_m, output_cost_per_m}}`` accepted).
    costs : (n, K) array
        Realised $ cost of each model on each prompt.
    floor, ceil : float
        Normalisation bounds in $/1k tokens (SPEC §1.3).
    """
    models = [str(m) for m in models]
    p = as_price_array(prices, models)
    x = np.asarray(costs, dtype=float)
    if x.ndim != 2 or x.shape[1] != len(models) or x.shape[0] == 0:
        raise DimensionMismatchError(f"costs must be (n >= 1, K={len(models)}), got {x.shape}")
    if not np.all(np.isfinite(x)) or np.any(x < 0):
        raise ConfigError("realised costs must be finite and >= 0")
    blended = blended_price(p[:, 0], p[:, 1])
    nc = normalised_cost(blended, floor, ceil)
    mean_cost = x.mean(axis=0)
    agree = rank_agreement(nc, mean_cost)
    logc = np.log(np.maximum(mean_cost, 1e-300))
    pearson = float("nan")
    if len(models) > 2 and np.ptp(nc) > 0 and np.ptp(logc) > 0:
        pearson = float(stats.pearsonr(nc, logc).statistic)
    per_model = {m: {"input_cost_per_m": float(p[j, 0]), "output_cost_per_m": float(p[j, 1]),
                     "blended_price": float(blended[j]), "normalised_cost": float(nc[j]),
                     "mean_cost": float(mean_cost[j]), "median_cost": float(np.median(x[:, j])),
                     "rank_normalised_cost": agree["rank_a"][j], "rank_mean_cost": agree["rank_b"][j],
                     "cost_per_blended_price": float(mean_cost[j] / blended[j]) if blended[j] > 0 else None}
                 for j, m in enumerate(models)}
    return {"n": int(x.shape[0]), "models": models, "per_model": per_model,
            "order_normalised_cost": [models[j] for j in np.argsort(nc, kind="stable")],
            "order_mean_cost": [models[j] for j in np.argsort(mean_cost, kind="stable")],
            "spearman": agree["spearman"], "kendall": agree["kendall"],
            "orderings_agree": agree["orderings_agree"],
            "pairwise_agreement": pairwise_agreement(nc, x),
            "pairwise_by_pair": pairwise_by_pair(models, nc, x),
            "pearson_ncost_log_cost": pearson}


def run_cost_heuristic(tables: Mapping[str, Mapping], *, floor: float = 1e-4, ceil: float = 0.10) -> dict:
    """Run :func:`cost_heuristic_table` on several tables.

    Parameters
    ----------
    tables : mapping name → ``{"portfolio", "models", "prices", "costs"}``
        e.g. ``{"val": {...k3...}, "test": ..., "val_k4": {...k4...}, "test_k4": ...}``.

    Returns
    -------
    dict
        ``{"floor", "ceil", "tables": {name: {"portfolio", ...cost_heuristic_table...}}}`` (JSON-able).
    """
    if not tables:
        raise ConfigError("at least one table is needed")
    out = {}
    for name, t in tables.items():
        res = cost_heuristic_table(models=t["models"], prices=t["prices"], costs=t["costs"], floor=floor,
                                   ceil=ceil)
        out[str(name)] = {"portfolio": str(t.get("portfolio", "")), **res}
    return {"experiment": "cost_heuristic", "floor": float(floor), "ceil": float(ceil), "tables": out}


def load_cost_tables(specs: Mapping[str, Mapping], max_rows: int | None = None) -> dict:
    """Input of :func:`run_cost_heuristic` from the data folder.

    ``specs``: table name → ``{"portfolio", "catalog"}`` (catalog name in ``data/raw/models``). Columns
    follow each table's own model order; ``max_rows`` keeps the first rows only (CI scale).
    """
    from ..data import load_catalog, load_reward_table

    out = {}
    for name, spec in specs.items():
        table = load_reward_table(str(name))
        rows = slice(None) if max_rows is None else slice(0, int(max_rows))
        out[str(name)] = {"portfolio": str(spec["portfolio"]), "models": list(table.models),
                          "prices": load_catalog(str(spec["catalog"])), "costs": table.costs[rows]}
    return out
