"""Appendix — cost-heuristic validation (notebook 05): summary, ``summary.csv`` rows and figure.

Reads only the JSON-able output of :func:`paretobandit.experiments.cost_heuristic.run_cost_heuristic`.
``summary.csv`` has one row per portfolio × check × pair (columns :data:`TABLE_COLUMNS`): ``check`` is
``full_order``, ``pairwise``, ``cohen_d``, ``spearman_words`` or ``spearman_cross``; ``pair`` names the
two arms in heuristic order (``mistral<flash``; one arm for ``spearman_words``; empty for
``full_order``). Summary keys use ``ctilde`` for c̃ and ``pct`` for percentages so the macro formatter
prints them as intended (keys containing "cost" are printed in scientific notation).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt

from . import figures, style

__all__ = ["CHECKS", "TABLE_COLUMNS", "summarise_cost_heuristic", "table_view"]

EXPERIMENT = "cost_heuristic"
CHECKS = ("full_order", "pairwise", "cohen_d", "spearman_words", "spearman_cross")
TABLE_COLUMNS = ["portfolio", "check", "pair", "value", "ci_low", "ci_high", "n", "ties", "tie_fraction",
                 "p_value"]


def _row(portfolio: str, check: str, pair: str, value: float, n: int, *, ci: tuple | None = None,
         ties: int | None = None, p_value: float | None = None) -> dict[str, Any]:
    return {"portfolio": portfolio, "check": check, "pair": pair, "value": float(value),
            "ci_low": None if ci is None else float(ci[0]), "ci_high": None if ci is None else float(ci[1]),
            "n": int(n), "ties": ties, "tie_fraction": None if ties is None else ties / n, "p_value": p_value}


def summarise_cost_heuristic(raw: Mapping[str, Any], *, shorts: Mapping[str, str],
                             production_cost_penalty: float = 0.3, range_portfolio: str = "k3",
                             flash_portfolio: str = "k4") -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Summary ``{portfolio: {...}, "headlines": {...}}`` (→ macros) and the ``summary.csv`` rows.

    Parameters
    ----------
    raw : mapping
        Output of ``run_cost_heuristic``.
    shorts : mapping model id → short name
    production_cost_penalty : float
        λ_c of the production router; the headline ``penalty_gap_mistral_flash`` = λ_c · (c̃_Flash −
        c̃_Mistral) (§A2 implementation note: 0.3 × (0.382 − 0.333) ≈ 0.015).
    range_portfolio, flash_portfolio : str
        The paper's ranges (CV, log-std fraction, Cohen's d, ρ) come from ``range_portfolio``; the K = 4
        CV range and the Mistral→Flash d from ``flash_portfolio``.
    """
    summary: dict[str, Any] = {}
    rows: list[dict[str, Any]] = []
    for name, p in raw["portfolios"].items():
        s = [shorts.get(m, m) for m in p["models"]]
        n = int(p["n"])
        fo = p["full_order"]
        entry: dict[str, Any] = {
            "n_prompts": n, "heuristic_order": ", ".join(shorts.get(m, m) for m in p["heuristic_order"]),
            "full_order_matches": int(fo["matches"]), "full_order_pct": 100.0 * fo["fraction"],
            "full_order_ci_low_pct": 100.0 * fo["ci_low"], "full_order_ci_high_pct": 100.0 * fo["ci_high"],
            "log_range": p["log_separation"]["total_range"],
        }
        rows.append(_row(name, "full_order", "", fo["fraction"], n, ci=(fo["ci_low"], fo["ci_high"])))
        d = p["distribution"]
        models = {}
        for j in range(len(p["models"])):
            models[s[j]] = {"ctilde": p["normalised_cost"][j], "mean_cost": d["mean"][j],
                            "std_cost": d["std"][j], "cv": d["cv"][j], "min_cost": d["min"][j],
                            "p_twentyfive_cost": d["p25"][j],
                            "median_cost": d["p50"][j], "p_seventyfive_cost": d["p75"][j],
                            "max_cost": d["max"][j], "log_mean": p["log_separation"]["log_mean"][j],
                            "log_std": p["log_separation"]["log_std"][j],
                            "log_std_fraction_pct": 100.0 * p["log_separation"]["within_fraction"][j]}
        pairs = {}
        for q in p["pairwise"]:
            a, b = shorts.get(q["cheap"], q["cheap"]), shorts.get(q["dear"], q["dear"])
            pairs[f"{a}_{b}"] = {"strict_pct": 100.0 * q["fraction"], "ci_low_pct": 100.0 * q["ci_low"],
                                 "ci_high_pct": 100.0 * q["ci_high"], "ties": int(q["ties"]),
                                 "tie_pct": 100.0 * q["tie_fraction"]}
            rows.append(_row(name, "pairwise", f"{a}<{b}", q["fraction"], n, ci=(q["ci_low"], q["ci_high"]),
                             ties=int(q["ties"])))
        cohen = {}
        for q in p["log_separation"]["adjacent"]:
            a, b = shorts.get(q["cheap"], q["cheap"]), shorts.get(q["dear"], q["dear"])
            cohen[f"{a}_{b}"] = q["cohen_d"]
            rows.append(_row(name, "cohen_d", f"{a}<{b}", q["cohen_d"], n))
        words = {}
        for q in p["spearman_words"]:
            a = shorts.get(q["model"], q["model"])
            words[a] = q["rho"]
            rows.append(_row(name, "spearman_words", a, q["rho"], n, p_value=q["p"]))
        cross = {}
        for q in p["spearman_cross"]:
            a, b = shorts.get(q["cheap"], q["cheap"]), shorts.get(q["dear"], q["dear"])
            cross[f"{a}_{b}"] = q["rho"]
            rows.append(_row(name, "spearman_cross", f"{a}<{b}", q["rho"], n, p_value=q["p"]))
        entry.update(models=models, pairs=pairs, cohen_d=cohen, spearman_words=words, spearman_cross=cross)
        summary[name] = entry
    summary["headlines"] = _headlines(raw, summary, shorts, production_cost_penalty, range_portfolio,
                                      flash_portfolio)
    return summary, rows


def _headlines(raw, summary, shorts, lam_c, k3, k4) -> dict[str, Any]:
    h: dict[str, Any] = {}
    if k3 in summary:
        s = summary[k3]
        cv = [m["cv"] for m in s["models"].values()]
        frac = [m["log_std_fraction_pct"] for m in s["models"].values()]
        h.update(cv_min=min(cv), cv_max=max(cv), log_std_fraction_min_pct=min(frac),
                 log_std_fraction_max_pct=max(frac), cohen_d_min=min(s["cohen_d"].values()),
                 cohen_d_max=max(s["cohen_d"].values()), spearman_words_min=min(s["spearman_words"].values()),
                 spearman_words_max=max(s["spearman_words"].values()),
                 spearman_cross_min=min(s["spearman_cross"].values()),
                 spearman_cross_max=max(s["spearman_cross"].values()),
                 n_prompts=s["n_prompts"], n_excluded=int(raw["rows"][k3]["dropped_unshared"]),
                 n_loaded=int(raw["rows"][k3]["loaded"]))
    if k4 in summary:
        s = summary[k4]
        cv = [m["cv"] for m in s["models"].values()]
        h.update(cv_min_k_four=min(cv), cv_max_k_four=max(cv))
        if "mistral_flash" in s["cohen_d"]:
            h["cohen_d_mistral_flash"] = s["cohen_d"]["mistral_flash"]
        if {"mistral", "flash"} <= set(s["models"]):
            gap = s["models"]["flash"]["ctilde"] - s["models"]["mistral"]["ctilde"]
            h.update(ctilde_gap_mistral_flash=gap, penalty_gap_mistral_flash=float(lam_c) * gap,
                     production_lambda_c=float(lam_c))
    return h


def table_view(rows: Sequence[Mapping[str, Any]]):
    """Pandas view: one row per portfolio × check × pair."""
    import pandas as pd

    df = pd.DataFrame(rows).set_index(["portfolio", "check", "pair"])
    return df[["value", "ci_low", "ci_high", "ties"]]


@figures.register(EXPERIMENT, "cost_distribution")
def cost_distribution_figure(results: Mapping[str, Any]) -> plt.Figure:
    """Realised $ cost per request per model (box = quartiles, whiskers = min/max; log axis), models in
    heuristic (c̃) order, one panel per portfolio, with the full-ordering match rate in the title."""
    raw = results["per_seed"]
    shorts = results.get("config", {}).get("experiment", {}).get("shorts", {})
    names = list(raw["portfolios"])
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 3.2), sharex=True, squeeze=False)
    all_models = list(dict.fromkeys(m for p in raw["portfolios"].values() for m in p["heuristic_order"]))
    colour_of = dict(zip(all_models, style.palette(len(all_models)), strict=True))   # same colour per model
    for ax, name in zip(axes[0], names, strict=True):
        p = raw["portfolios"][name]
        d = p["distribution"]
        order = [p["models"].index(m) for m in p["heuristic_order"]]
        stats = [{"med": d["p50"][j], "q1": d["p25"][j], "q3": d["p75"][j], "whislo": d["min"][j],
                  "whishi": d["max"][j], "mean": d["mean"][j],
                  "label": f"{shorts.get(p['models'][j], p['models'][j])}\nc̃={p['normalised_cost'][j]:.3f}"}
                 for j in order]
        art = ax.bxp(stats, orientation="horizontal", showmeans=True, showfliers=False, patch_artist=True,
                     widths=0.55)
        for patch, j in zip(art["boxes"], order, strict=True):
            patch.set_facecolor(colour_of[p["models"][j]])
            patch.set_alpha(0.35)
        ax.set_xscale("log")
        fo = p["full_order"]
        ax.set_title(f"{name} (n = {p['n']}): full order kept on {100 * fo['fraction']:.1f}% of prompts",
                     fontsize=8)
        ax.set_xlabel("realised cost per request ($, log)")
    axes[0][0].set_ylabel("model (cheapest by c̃ at the bottom)")
    fig.tight_layout()
    return fig
