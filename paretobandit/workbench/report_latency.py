"""Appendix — latency benchmark (notebook 11): summary (macros), ``summary.csv`` rows, robust facts, figure.

Reads only the JSON-able output of :func:`paretobandit.experiments.latency.micro_benchmark` and
:func:`~paretobandit.experiments.latency.run_e2e_benchmark`. Times are machine-dependent; :func:`robust_facts`
keeps the orderings that hold by wide margins on any machine (asymptotic cost classes), which is what the
notebook's checked cell prints.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from . import figures, style

__all__ = ["CONFIGS", "TABLE_COLUMNS", "robust_facts", "summarise_latency", "table_view"]

EXPERIMENT = "latency"
CONFIGS = ("paretobandit", "bare_sm", "cached_inv", "per_route_inv")
LABELS = {"paretobandit": "ParetoBandit", "bare_sm": "Bare SM", "cached_inv": "Cached inv.",
          "per_route_inv": "Per-route inv."}
STAGE_LABELS = {"encode": "MiniLM encode", "pca": "PCA + whiten + bias", "route_vector": "route(26-d vector)",
                "route_prompt": "route(prompt) = total"}
TABLE_COLUMNS = ["config", "d", "route_p50_us", "update_p50_us", "throughput", "route_p95_us", "route_p99_us",
                 "update_p95_us", "update_p99_us", "total_p50_us", "total_p95_us", "rounds", "warmup",
                 "n_measured", "stage", "p50_ms", "p95_ms", "p99_ms"]


def _dkey(d: int | str) -> str:
    return f"d{d}"


def robust_facts(micro: Mapping[str, Any], e2e: Mapping[str, Any]) -> dict[str, bool]:
    """Orderings that follow from the cost classes, not from the machine.

    * ``per_route_inv_route_slowest_d<d>``: K inversions per route are slower than bare SM's route;
    * ``cached_inv_update_slower_d<max d>``: an ``O(d³)`` inversion per update is slower than SM's ``O(d²)``;
    * ``paretobandit_faster_at_low_d``: ParetoBandit's throughput at the smallest d exceeds the largest d's;
    * ``encode_dominates_e2e``: the MiniLM encode p50 is over 10× the routing p50 (vector stage).
    """
    cfg = micro["configs"]
    dims = sorted(int(d) for d in cfg["bare_sm"])
    facts = {f"per_route_inv_route_slowest_d{d}": cfg["per_route_inv"][str(d)]["route_us"]["p50"]
             > cfg["bare_sm"][str(d)]["route_us"]["p50"] for d in dims}
    hi, lo = str(max(dims)), str(min(dims))
    facts[f"cached_inv_update_slower_d{hi}"] = (cfg["cached_inv"][hi]["update_us"]["p50"]
                                                > cfg["bare_sm"][hi]["update_us"]["p50"])
    pb = cfg["paretobandit"]
    facts["paretobandit_faster_at_low_d"] = pb[lo]["throughput"] > pb[hi]["throughput"]
    if e2e:
        st = e2e["stages"]
        facts["encode_dominates_e2e"] = st["encode"]["p50_ms"] > 10 * st["route_vector"]["p50_ms"]
    return {k: bool(v) for k, v in facts.items()}


def summarise_latency(micro: Mapping[str, Any], e2e: Mapping[str, Any] | None,
                      inference: Mapping[str, Any] | None = None
                      ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Summary (one macro per scalar) and ``summary.csv`` rows (micro rows, then ``config = e2e`` rows)."""
    dims = sorted(int(d) for d in micro["configs"]["bare_sm"])
    setup = {"n_arms": int(micro["n_arms"]), "d_low": dims[0], "d_high": dims[-1]}
    summary: dict[str, Any] = {"setup": setup, "micro": {}, "ratios": {}}
    rows: list[dict[str, Any]] = []
    for name in CONFIGS:
        entry = {}
        for d, s in micro["configs"][name].items():
            flat = {"route_p50_us": s["route_us"]["p50"], "update_p50_us": s["update_us"]["p50"],
                    "throughput": int(round(s["throughput"])), "route_p95_us": s["route_us"]["p95"],
                    "route_p99_us": s["route_us"]["p99"], "update_p95_us": s["update_us"]["p95"],
                    "update_p99_us": s["update_us"]["p99"], "total_p50_us": s["total_us"]["p50"],
                    "total_p95_us": s["total_us"]["p95"], "rounds": int(s["rounds"]),
                    "warmup": int(s["warmup"]), "n_measured": int(s["n_measured"])}
            entry[_dkey(d)] = flat
            rows.append({"config": name, "d": int(d), **flat})
        summary["micro"][name] = entry
    for key, val in micro["ratios"].items():
        summary["ratios"][_dkey(key) if key.isdigit() else key] = val
    if e2e:
        summary["e2e"] = {**{stage: dict(v) for stage, v in e2e["stages"].items()},
                          **{k: e2e[k] for k in ("sum_stage_p50_ms", "total_p50_ms", "embed_share_pct",
                                                 "route_share_pct", "n_timed", "n_warmup", "n_prompts")}}
        summary["setup"]["d_e2e"] = int(e2e["dimension"])
        for stage, v in e2e["stages"].items():
            rows.append({"config": "e2e", "stage": stage, **v})
    summary["facts"] = robust_facts(micro, e2e or {})
    summary["inference_measured"] = inference is not None
    if inference is not None:
        summary["inference"] = {f"{r['model']}_{r['bucket']}": {"total_ms_mean": r["total_ms_mean"],
                                                               "routing_pct": r["routing_pct"]}
                                for r in inference["rows"]}
    return summary, rows


def table_view(rows: Sequence[Mapping[str, Any]]):
    """Pandas views ``(micro, e2e)`` of the summary rows."""
    import pandas as pd

    df = pd.DataFrame(rows)
    micro = df[df["config"] != "e2e"].set_index(["config", "d"])[
        ["route_p50_us", "route_p99_us", "update_p50_us", "update_p99_us", "total_p50_us", "throughput",
         "n_measured"]]
    e2e = df[df["config"] == "e2e"].set_index("stage")[["p50_ms", "p95_ms", "p99_ms"]]
    return micro, e2e


@figures.register(EXPERIMENT, "latency")
def latency_figure(results: Mapping[str, Any]) -> plt.Figure:
    """(a) route and update p50 per configuration and d (log scale, p99 whiskers); (b) end-to-end stages."""
    rows = results["table"]
    micro = [r for r in rows if r["config"] != "e2e"]
    e2e = [r for r in rows if r["config"] == "e2e"]
    dims = sorted({int(r["d"]) for r in micro})
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), gridspec_kw={"width_ratios": [3, 2]})
    ax = axes[0]
    colours = style.palette(2)
    width = 0.38
    ticks, labels = [], []
    for gi, d in enumerate(dims):
        for ci, name in enumerate(CONFIGS):
            r = next(x for x in micro if x["config"] == name and int(x["d"]) == d)
            pos = gi * (len(CONFIGS) + 1) + ci
            for j, (part, col) in enumerate((("route", colours[0]), ("update", colours[1]))):
                p50, p99 = r[f"{part}_p50_us"], r[f"{part}_p99_us"]
                ax.bar(pos + (j - 0.5) * width, p50, width, color=col,
                       edgecolor="black" if name == "paretobandit" else "none",
                       linewidth=1.2, label=f"{part} p50 (whisker: p99)" if gi == ci == 0 else None)
                ax.errorbar(pos + (j - 0.5) * width, p50, yerr=[[0], [max(p99 - p50, 0)]], color="black",
                            linewidth=0.8, capsize=2)
            ticks.append(pos)
            labels.append(f"{LABELS[name]}\nd={d}")
    ax.set_yscale("log")
    ax.set_xticks(ticks, labels, fontsize=6, rotation=45, ha="right")
    ax.set_ylabel("µs per call")
    ax.set_title("(a) micro-benchmark, K = 3 (ParetoBandit outlined)", fontsize=9)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(0.0, -0.45), ncol=2, frameon=False)
    ax = axes[1]
    if e2e:
        names = [r["stage"] for r in e2e]
        p50 = np.array([r["p50_ms"] for r in e2e])
        p95 = np.array([r["p95_ms"] for r in e2e])
        ax.barh(range(len(e2e)), p50, color=style.palette(len(e2e)), xerr=[np.zeros_like(p50), p95 - p50],
                capsize=2)
        ax.set_yticks(range(len(e2e)), [STAGE_LABELS.get(n, n) for n in names], fontsize=7)
        ax.set_xscale("log")
        ax.set_xlabel("ms per call (p50, whisker: p95)")
        ax.invert_yaxis()
    ax.set_title("(b) end-to-end stages, MiniLM on CPU", fontsize=9)
    fig.tight_layout()
    return fig
