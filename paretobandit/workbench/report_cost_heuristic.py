"""Appendix — cost-heuristic validation (notebook 05): summary, ``summary.csv`` rows and figure.

Reads only the JSON-able output of :func:`paretobandit.experiments.cost_heuristic.run_cost_heuristic`.
Summary keys use ``ctilde`` for the normalised cost c̃ so the macro formatter prints it with three
decimals (keys containing "cost" are printed in scientific notation).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from . import figures, style

__all__ = ["TABLE_COLUMNS", "summarise_cost_heuristic", "table_view"]

EXPERIMENT = "cost_heuristic"
TABLE_COLUMNS = ["table", "portfolio", "model", "short", "input_cost_per_m", "output_cost_per_m",
                 "blended_price", "ctilde", "mean_cost", "median_cost", "rank_ctilde", "rank_mean_cost",
                 "spearman", "kendall", "orderings_agree", "pairwise_agreement", "pearson_ctilde_ln_c"]


def _nan_to_none(x: float) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


def summarise_cost_heuristic(raw: Mapping[str, Any], *, shorts: Mapping[str, str]
                             ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Summary ``{table: {...}, "headlines": {...}}`` and one table row per table × model."""
    summary: dict[str, Any] = {}
    rows: list[dict[str, Any]] = []
    for name, t in raw["tables"].items():
        entry: dict[str, Any] = {"n_prompts": int(t["n"]), "spearman": _nan_to_none(t["spearman"]),
                                 "kendall": _nan_to_none(t["kendall"]),
                                 "orderings_agree": bool(t["orderings_agree"]),
                                 "pairwise_agreement": _nan_to_none(t["pairwise_agreement"]),
                                 "pearson_ctilde_ln_c": _nan_to_none(t["pearson_ncost_log_cost"])}
        for model in t["models"]:
            pm = t["per_model"][model]
            short = shorts.get(model, model)
            entry[short] = {"ctilde": pm["normalised_cost"], "blended_price": pm["blended_price"],
                            "mean_cost": pm["mean_cost"],
                            "rank_ctilde": int(round(pm["rank_normalised_cost"])),
                            "rank_mean_cost": int(round(pm["rank_mean_cost"]))}
            rows.append({"table": name, "portfolio": t["portfolio"], "model": model, "short": short,
                         "input_cost_per_m": pm["input_cost_per_m"],
                         "output_cost_per_m": pm["output_cost_per_m"],
                         "blended_price": pm["blended_price"], "ctilde": pm["normalised_cost"],
                         "mean_cost": pm["mean_cost"], "median_cost": pm["median_cost"],
                         "rank_ctilde": pm["rank_normalised_cost"], "rank_mean_cost": pm["rank_mean_cost"],
                         "spearman": entry["spearman"], "kendall": entry["kendall"],
                         "orderings_agree": entry["orderings_agree"],
                         "pairwise_agreement": entry["pairwise_agreement"],
                         "pearson_ctilde_ln_c": entry["pearson_ctilde_ln_c"]})
        entry["min_pair_agreement"] = _nan_to_none(min(t["pairwise_by_pair"].values(), default=float("nan")))
        summary[name] = entry
    tabs = list(raw["tables"].values())
    summary["headlines"] = {
        "all_orderings_agree": bool(all(t["orderings_agree"] for t in tabs)),
        "n_tables": len(tabs),
        "n_tables_agree": sum(bool(t["orderings_agree"]) for t in tabs),
        "min_spearman": _nan_to_none(min(t["spearman"] for t in tabs)),
        "min_kendall": _nan_to_none(min(t["kendall"] for t in tabs)),
        "min_pairwise_agreement": _nan_to_none(min(t["pairwise_agreement"] for t in tabs)),
    }
    return summary, rows


def table_view(rows: Sequence[Mapping[str, Any]]):
    """Pandas view: one row per table × model."""
    import pandas as pd

    df = pd.DataFrame(rows)
    return df.set_index(["table", "short"])[["blended_price", "ctilde", "mean_cost", "rank_ctilde",
                                             "rank_mean_cost", "spearman", "kendall", "orderings_agree",
                                             "pairwise_agreement"]]


@figures.register(EXPERIMENT, "ctilde_vs_cost")
def ctilde_vs_cost(results: Mapping[str, Any]) -> plt.Figure:
    """c̃ against the realised mean $ per request (log axis), one marker series per table."""
    rows = results["table"]
    tables = list(dict.fromkeys(r["table"] for r in rows))
    fig, ax = plt.subplots()
    markers = ["o", "s", "^", "D", "v", "P"]
    for colour, marker, name in zip(style.palette(len(tables)), markers, tables, strict=False):
        sel = [r for r in rows if r["table"] == name]
        ax.scatter([r["mean_cost"] for r in sel], [r["ctilde"] for r in sel], color=colour, marker=marker,
                   s=30, label=name, zorder=3)
    for r in rows:
        if r["table"] == tables[-1]:
            ax.annotate(r["short"], (r["mean_cost"], r["ctilde"]), fontsize=7, xytext=(4, -8),
                        textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel("realised mean cost per request ($)")
    ax.set_ylabel("normalised cost c̃ (catalog)")
    ax.legend(fontsize=7, loc="upper left")
    return fig
