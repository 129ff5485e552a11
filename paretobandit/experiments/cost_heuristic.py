"""Appendix — cost-heuristic validation (docs/PROTOCOLS.md §A2; notebook 05).

Question: does the router's normalised unit cost ``c̃`` (:func:`paretobandit.kernels.normalised_cost` of
the blended catalog price) order the models as their realised per-request $ costs do, prompt by prompt?
No router runs: this is a property of the catalog and the val tables.

Protocol (§A2, val only)
------------------------
1. K = 3 ``val`` and K = 4 ``val_k4``; rows where any arm's cost is <= 0 are dropped.
2. Shared subset: the K = 3 table is restricted to the prompts present in the K = 4 table (1,766), so
   both portfolios are analysed on the same prompts (:func:`shared_subset`).
3. Heuristic order = arms sorted by ``c̃`` ascending (stable).
4. Per-model distribution of the realised cost: mean, std (ddof 0), CV, min, p25, p50, p75, max.
5. Ranking preservation per prompt: *full-ordering match* (the stable ascending sort of the prompt's
   realised costs equals the heuristic order) and, for every pair (a cheaper by ``c̃``, b dearer), the
   fraction of prompts with cost_a < cost_b **strictly**, ties counted separately; Wilson 95 % CIs
   (:func:`paretobandit.workbench.stats.wilson_interval`, z = 1.96).
6. Log-cost separation: per arm mean and std (ddof 0) of ln cost; for adjacent arms in heuristic order
   the gap of log-means, pooled sd sqrt((s_i² + s_j²)/2) and Cohen's d = gap / pooled sd; total log
   range = log-mean(dearest) − log-mean(cheapest) and each arm's within-arm fraction s_a / range.
7. Spearman ρ (and p) between the prompt's word count (whitespace split) and each arm's cost.
8. Spearman ρ (and p) between the per-prompt cost vectors of every arm pair.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from ..errors import ConfigError, DataError, DimensionMismatchError
from ..kernels import blended_price, normalised_cost
from .common import as_price_array

__all__ = ["CostTable", "analyse_portfolio", "cost_distribution", "full_order_match", "load_cost_tables",
           "log_separation", "pairwise_order", "run_cost_heuristic", "shared_subset", "spearman_table",
    "run_from_config",
]


@dataclass(frozen=True)
class CostTable:
    """Realised costs of one portfolio: ``costs`` (n, K) in ``models`` order, one prompt per row."""

    portfolio: str
    models: tuple[str, ...]
    prices: np.ndarray          # (K, 2) $/M (input, output)
    prompts: tuple[str, ...]
    costs: np.ndarray

    def __post_init__(self) -> None:
        c = np.asarray(self.costs, dtype=float)
        if c.ndim != 2 or c.shape[1] != len(self.models) or c.shape[0] != len(self.prompts):
            raise DimensionMismatchError(f"{self.portfolio}: costs {c.shape} must be (n prompts = "
                                         f"{len(self.prompts)}, K = {len(self.models)})")
        if not np.all(np.isfinite(c)):
            raise DataError(f"{self.portfolio}: realised costs must be finite")
        if np.asarray(self.prices).shape != (len(self.models), 2):
            raise DimensionMismatchError(f"{self.portfolio}: prices must be (K, 2)")

    def rows(self, keep: np.ndarray) -> CostTable:
        """The table restricted to the rows selected by ``keep`` (bool mask or indices)."""
        idx = np.flatnonzero(keep) if np.asarray(keep).dtype == bool else np.asarray(keep, dtype=np.intp)
        return CostTable(self.portfolio, self.models, self.prices, tuple(self.prompts[i] for i in idx),
                         np.asarray(self.costs, dtype=float)[idx])


def _drop_nonpositive(t: CostTable) -> tuple[CostTable, int]:
    keep = (np.asarray(t.costs) > 0).all(axis=1)
    return t.rows(keep), int((~keep).sum())


def shared_subset(small: CostTable, large: CostTable) -> tuple[CostTable, int]:
    """``small`` restricted to the prompts present in ``large`` (file order kept) and the number dropped."""
    present = set(large.prompts)
    keep = np.array([p in present for p in small.prompts], dtype=bool)
    return small.rows(keep), int((~keep).sum())


def heuristic_order(ncost: Sequence[float]) -> np.ndarray:
    """Arm indices sorted by ``c̃`` ascending (stable)."""
    return np.argsort(np.asarray(ncost, dtype=float), kind="stable")


def cost_distribution(costs) -> dict[str, list[float]]:
    """Per column: mean, std (ddof 0), CV = std/mean, min, p25, p50, p75, max."""
    x = np.asarray(costs, dtype=float)
    mean, std = x.mean(axis=0), x.std(axis=0, ddof=0)
    q = np.percentile(x, [25, 50, 75], axis=0)
    return {"mean": mean.tolist(), "std": std.tolist(), "cv": (std / mean).tolist(),
            "min": x.min(axis=0).tolist(), "p25": q[0].tolist(), "p50": q[1].tolist(), "p75": q[2].tolist(),
            "max": x.max(axis=0).tolist()}


def full_order_match(costs, order: Sequence[int]) -> np.ndarray:
    """Per prompt: does the stable ascending sort of its costs give exactly ``order``? (bool (n,))."""
    x = np.asarray(costs, dtype=float)
    return (np.argsort(x, axis=1, kind="stable") == np.asarray(order)[None, :]).all(axis=1)


def pairwise_order(costs, cheap: int, dear: int) -> dict[str, int]:
    """Counts of prompts with cost_cheap < cost_dear (``less``), equal (``ties``) and greater."""
    x = np.asarray(costs, dtype=float)
    a, b = x[:, cheap], x[:, dear]
    return {"less": int((a < b).sum()), "ties": int((a == b).sum()), "greater": int((a > b).sum()),
            "n": int(x.shape[0])}


def log_separation(costs, order: Sequence[int]) -> dict:
    """Log-cost means/stds per arm, adjacent-pair gaps and Cohen's d, total range, within-arm fractions."""
    x = np.log(np.asarray(costs, dtype=float))
    mu, sd = x.mean(axis=0), x.std(axis=0, ddof=0)
    order = [int(j) for j in order]
    pairs = []
    for i, j in zip(order[:-1], order[1:], strict=True):
        pooled = float(np.sqrt((sd[i] ** 2 + sd[j] ** 2) / 2.0))
        gap = float(mu[j] - mu[i])
        pairs.append({"cheap": i, "dear": j, "gap": gap, "pooled_sd": pooled,
                      "cohen_d": gap / pooled if pooled > 0 else float("inf")})
    total = float(mu[order[-1]] - mu[order[0]])
    return {"log_mean": mu.tolist(), "log_std": sd.tolist(), "adjacent": pairs, "total_range": total,
            "within_fraction": (sd / total).tolist() if total != 0 else [float("nan")] * len(mu)}


def spearman_table(a, b) -> dict[str, float]:
    """Spearman ρ and two-sided p between two vectors (:func:`scipy.stats.spearmanr`); NaN (stored as
    null) when either vector is constant, where ρ is undefined."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.size < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return {"rho": float("nan"), "p": float("nan")}
    res = stats.spearmanr(a, b)
    return {"rho": float(res.statistic), "p": float(res.pvalue)}


def analyse_portfolio(t: CostTable, *, floor: float = 1e-4, ceil: float = 0.10, z: float = 1.96) -> dict:
    """Steps 3–8 of the protocol on one (already aligned) table; JSON-able."""
    from ..workbench.stats import wilson_interval

    x = np.asarray(t.costs, dtype=float)
    if x.shape[0] == 0:
        raise DataError(f"{t.portfolio}: no prompts left to analyse")
    if (x <= 0).any():
        raise DataError(f"{t.portfolio}: costs must be > 0 (drop such rows first)")
    p = np.asarray(t.prices, dtype=float)
    blended = blended_price(p[:, 0], p[:, 1])
    nc = normalised_cost(blended, floor, ceil)
    order = heuristic_order(nc)
    n = int(x.shape[0])
    match = full_order_match(x, order)
    k_match = int(match.sum())
    lo, hi = wilson_interval(k_match, n, z)
    pairwise = []
    for ia in range(len(order)):
        for ib in range(ia + 1, len(order)):
            a, b = int(order[ia]), int(order[ib])
            cnt = pairwise_order(x, a, b)
            plo, phi = wilson_interval(cnt["less"], n, z)
            tlo, thi = wilson_interval(cnt["ties"], n, z)
            pairwise.append({"cheap": t.models[a], "dear": t.models[b], **cnt, "fraction": cnt["less"] / n,
                             "ci_low": plo, "ci_high": phi, "tie_fraction": cnt["ties"] / n,
                             "tie_ci_low": tlo, "tie_ci_high": thi})
    sep = log_separation(x, order)
    words = np.array([len(pr.split()) for pr in t.prompts], dtype=float)
    cross = []
    for ia in range(len(order)):
        for ib in range(ia + 1, len(order)):
            a, b = int(order[ia]), int(order[ib])
            cross.append({"cheap": t.models[a], "dear": t.models[b], **spearman_table(x[:, a], x[:, b])})
    return {
        "portfolio": t.portfolio, "n": n, "models": list(t.models),
        "blended_price": blended.tolist(), "normalised_cost": nc.tolist(),
        "heuristic_order": [t.models[j] for j in order],
        "distribution": cost_distribution(x),
        "full_order": {"matches": k_match, "n": n, "fraction": k_match / n, "ci_low": lo, "ci_high": hi},
        "pairwise": pairwise,
        "log_separation": {**sep, "adjacent": [
            {**d, "cheap": t.models[d["cheap"]], "dear": t.models[d["dear"]]} for d in sep["adjacent"]]},
        "spearman_words": [{"model": m, **spearman_table(words, x[:, j])} for j, m in enumerate(t.models)],
        "spearman_cross": cross,
    }


def run_cost_heuristic(tables: Mapping[str, CostTable], *, floor: float = 1e-4, ceil: float = 0.10,
                       z: float = 1.96, align_to: str | None = None) -> dict:
    """The protocol on several portfolios.

    Parameters
    ----------
    tables : mapping portfolio name → CostTable
        e.g. ``{"k3": val, "k4": val_k4}``.
    floor, ceil : float
        Normalisation bounds in $/1k tokens.
    z : float
        Normal quantile of the Wilson intervals (1.96).
    align_to : str, optional
        Portfolio whose prompts every other table is restricted to (step 2; the protocol: ``"k4"``).

    Returns
    -------
    dict
        ``{"floor", "ceil", "z", "align_to", "rows": {name: {"loaded", "dropped_nonpositive",
        "dropped_unshared", "analysed"}}, "portfolios": {name: analyse_portfolio(...)}}``.
    """
    if not tables:
        raise ConfigError("at least one table is needed")
    if align_to is not None and align_to not in tables:
        raise ConfigError(f"align_to = {align_to!r} is not one of the tables {list(tables)}")
    clean, rows = {}, {}
    for name, t in tables.items():
        ct, dropped = _drop_nonpositive(t)
        clean[name] = ct
        rows[name] = {"loaded": len(t.prompts), "dropped_nonpositive": dropped, "dropped_unshared": 0}
    if align_to is not None:
        for name in clean:
            if name != align_to:
                clean[name], rows[name]["dropped_unshared"] = shared_subset(clean[name], clean[align_to])
    out = {}
    for name, t in clean.items():
        rows[name]["analysed"] = len(t.prompts)
        out[str(name)] = analyse_portfolio(t, floor=floor, ceil=ceil, z=z)
    return {"experiment": "cost_heuristic", "floor": float(floor), "ceil": float(ceil), "z": float(z),
            "align_to": align_to, "rows": rows, "portfolios": out}


def load_cost_tables(specs: Mapping[str, Mapping], max_rows: int | None = None) -> dict[str, CostTable]:
    """``{portfolio: CostTable}`` from ``{portfolio: {"table": split name, "catalog": catalog name}}``.

    Columns follow each table's own model order; ``max_rows`` keeps the first rows only (CI scale).
    """
    from ..data import load_catalog, load_reward_table

    out = {}
    for name, spec in specs.items():
        table = load_reward_table(str(spec["table"]))
        rows = slice(None) if max_rows is None else slice(0, int(max_rows))
        models = tuple(table.models)
        prices = as_price_array(load_catalog(str(spec["catalog"])), list(models))
        out[str(name)] = CostTable(str(name), models, prices, tuple(table.prompts[rows]),
                                   np.asarray(table.costs[rows], dtype=float))
    return out


#: ``experiment`` keys read after the run (summaries), not by :func:`run_cost_heuristic`.
REPORT_KEYS = ("shorts", "production_cost_penalty", "range_portfolio", "flash_portfolio")


def run_from_config(cfg, *, tables: Mapping[str, CostTable] | None = None) -> dict:
    """:func:`run_cost_heuristic` with every argument taken from the composed config ``cfg``; the cost
    tables (:func:`load_cost_tables`) are loaded when not given. :class:`~paretobandit.errors.ConfigError`
    for a missing or unread ``experiment`` key."""
    from .binding import Binding

    b = Binding(cfg, "cost_heuristic", REPORT_KEYS)
    exp = b.experiment
    portfolios, max_rows = exp.plain("portfolios"), exp.get("max_rows")
    if tables is None:
        tables = load_cost_tables(portfolios, max_rows=max_rows)
    kwargs = dict(floor=exp["cost_floor"], ceil=exp["cost_ceil"], z=exp["wilson_z"], align_to=exp["align_to"])
    b.check()
    return run_cost_heuristic(tables, **kwargs)
