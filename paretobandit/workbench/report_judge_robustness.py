"""Appendix — judge robustness (notebook 06): summary, ``summary.csv`` rows and figures.

Reads only the JSON-able output of :func:`paretobandit.experiments.judge_robustness.run_judge_robustness`.
``summary.csv`` has two kinds of rows: ``kind = judge`` (one per split × judge: mean reward per model,
ordering, oracle, random, best fixed model) and ``kind = pair`` (one per split × unordered judge pair:
pooled Spearman, Kendall, Pearson, Lin's CCC, mean |difference|, best-arm-set overlap, and the
cross-judge oracle capture in both directions).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import combinations
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from . import figures, style

__all__ = ["TABLE_COLUMNS", "summarise_judge_robustness", "pair_view", "judge_view"]

EXPERIMENT = "judge_robustness"
TABLE_COLUMNS = ["split", "kind", "judge_a", "judge_b", "n", "reward_llama", "reward_mistral", "reward_pro",
                 "ordering", "oracle", "random", "best_fixed_model", "best_fixed_capture", "spearman",
                 "kendall", "pearson", "ccc", "mean_abs_diff", "mean_diff", "best_set_overlap",
                 "orderings_agree", "capture_a_following_b", "capture_b_following_a"]


def _f(x: float) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


def summarise_judge_robustness(raw: Mapping[str, Any], *, shorts: Mapping[str, str]
                               ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Summary ``{split: {judge: ..., "a_vs_b": ...}, "headlines": ...}`` and the table rows."""
    judges = list(raw["judges"])
    summary: dict[str, Any] = {}
    rows: list[dict[str, Any]] = []
    for split, s in raw["splits"].items():
        entry: dict[str, Any] = {"n_prompts": int(s["n"]),
                                 "orderings_agree_all": bool(s["orderings_agree_all"])}
        for j in judges:
            js = s["judges"][j]
            entry[j] = {"oracle_reward": js["oracle"], "random_reward": js["random"],
                        "best_fixed_capture": js["best_fixed_capture"],
                        "mean_reward": {shorts.get(m, m): v for m, v in js["mean_reward"].items()}}
            row = {"split": split, "kind": "judge", "judge_a": j, "judge_b": "", "n": s["n"],
                   "ordering": " > ".join(shorts.get(m, m) for m in js["ordering"]), "oracle": js["oracle"],
                   "random": js["random"], "best_fixed_model": shorts.get(js["best_fixed_model"]),
                   "best_fixed_capture": js["best_fixed_capture"]}
            row.update({f"reward_{shorts.get(m, m)}": v for m, v in js["mean_reward"].items()})
            rows.append(row)
        for a, b in combinations(judges, 2):
            p, q = s["pairs"][f"{a}|{b}"], s["pairs"][f"{b}|{a}"]
            pooled = p["pooled"]
            entry[f"{a}_vs_{b}"] = {"spearman": _f(pooled["spearman"]), "kendall": _f(pooled["kendall"]),
                                    "pearson": _f(pooled["pearson"]), "ccc": _f(pooled["ccc"]),
                                    "mean_abs_diff": pooled["mean_abs_diff"],
                                    "best_set_overlap": p["best_set_overlap"],
                                    "orderings_agree": bool(p["orderings_agree"]),
                                    "capture_a_following_b": p["cross_oracle_capture"],
                                    "capture_b_following_a": q["cross_oracle_capture"]}
            rows.append({"split": split, "kind": "pair", "judge_a": a, "judge_b": b, "n": s["n"],
                         **{k: _f(pooled[k]) for k in ("spearman", "kendall", "pearson", "ccc")},
                         "mean_abs_diff": pooled["mean_abs_diff"], "mean_diff": pooled["mean_diff"],
                         "best_set_overlap": p["best_set_overlap"], "orderings_agree": p["orderings_agree"],
                         "capture_a_following_b": p["cross_oracle_capture"],
                         "capture_b_following_a": q["cross_oracle_capture"]})
        summary[split] = entry
    pair_rows = [r for r in rows if r["kind"] == "pair"]
    summary["headlines"] = {
        "orderings_agree_all_splits": bool(all(s["orderings_agree_all"] for s in raw["splits"].values())),
        "min_spearman": min(r["spearman"] for r in pair_rows),
        "max_spearman": max(r["spearman"] for r in pair_rows),
        "min_kendall": min(r["kendall"] for r in pair_rows),
        "max_kendall": max(r["kendall"] for r in pair_rows),
        "min_ccc": min(r["ccc"] for r in pair_rows),
        "max_ccc": max(r["ccc"] for r in pair_rows),
        "min_cross_capture": min(min(r["capture_a_following_b"], r["capture_b_following_a"])
                                 for r in pair_rows),
    }
    return summary, rows


def judge_view(rows: Sequence[Mapping[str, Any]]):
    """Pandas view of the per-judge rows."""
    import pandas as pd

    df = pd.DataFrame([r for r in rows if r["kind"] == "judge"])
    cols = [c for c in df.columns if c.startswith("reward_")] + ["ordering", "oracle", "random",
                                                                 "best_fixed_model", "best_fixed_capture"]
    return df.set_index(["split", "judge_a"])[cols]


def pair_view(rows: Sequence[Mapping[str, Any]]):
    """Pandas view of the per-pair rows."""
    import pandas as pd

    df = pd.DataFrame([r for r in rows if r["kind"] == "pair"])
    return df.set_index(["split", "judge_a", "judge_b"])[
        ["spearman", "kendall", "pearson", "ccc", "mean_abs_diff", "best_set_overlap", "orderings_agree",
         "capture_a_following_b", "capture_b_following_a"]]


@figures.register(EXPERIMENT, "model_means")
def model_means(results: Mapping[str, Any]) -> plt.Figure:
    """Mean reward per model under each judge (bars), per split, with each judge's oracle as a tick."""
    rows = [r for r in results["table"] if r["kind"] == "judge"]
    splits = list(dict.fromkeys(r["split"] for r in rows))
    judges = list(dict.fromkeys(r["judge_a"] for r in rows))
    models = [c for c in ("reward_llama", "reward_mistral", "reward_pro") if c in rows[0]]
    fig, axes = plt.subplots(1, len(splits), figsize=(4.2 * len(splits), 3.2), sharey=True, squeeze=False)
    colours = style.palette(len(judges))
    width = 0.8 / len(judges)
    for ax, split in zip(axes[0], splits, strict=True):
        for i, (j, colour) in enumerate(zip(judges, colours, strict=True)):
            r = next(x for x in rows if x["split"] == split and x["judge_a"] == j)
            xs = np.arange(len(models)) + (i - (len(judges) - 1) / 2) * width
            ax.bar(xs, [r[m] for m in models], width=width, color=colour, label=j)
            ax.plot([len(models) - 0.4 + i * 0.12], [r["oracle"]], marker="_", ms=12, color=colour)
        ax.set_xticks(np.arange(len(models)), [m.removeprefix("reward_") for m in models])
        ax.set_title(f"{split} (oracle ticks at right)", fontsize=8)
        ax.set_ylim(0.6, 1.0)
    axes[0][0].set_ylabel("mean reward")
    axes[0][-1].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


@figures.register(EXPERIMENT, "agreement")
def agreement(results: Mapping[str, Any]) -> plt.Figure:
    """Pooled per-prompt agreement (Spearman, Kendall, Lin's CCC) of each judge pair, per split."""
    rows = [r for r in results["table"] if r["kind"] == "pair"]
    splits = list(dict.fromkeys(r["split"] for r in rows))
    stats_ = ["spearman", "kendall", "ccc"]
    fig, axes = plt.subplots(1, len(splits), figsize=(4.2 * len(splits), 3.2), sharey=True, squeeze=False)
    colours = style.palette(len(stats_))
    for ax, split in zip(axes[0], splits, strict=True):
        sel = [r for r in rows if r["split"] == split]
        width = 0.8 / len(stats_)
        for i, (st, colour) in enumerate(zip(stats_, colours, strict=True)):
            xs = np.arange(len(sel)) + (i - 1) * width
            ax.bar(xs, [r[st] for r in sel], width=width, color=colour, label=st)
        ax.set_xticks(np.arange(len(sel)), [f"{r['judge_a']}\nvs {r['judge_b']}" for r in sel], fontsize=7)
        ax.set_title(split, fontsize=8)
        ax.set_ylim(0, 1)
    axes[0][0].set_ylabel("per-prompt agreement (pooled)")
    axes[0][-1].legend(fontsize=7)
    fig.tight_layout()
    return fig
