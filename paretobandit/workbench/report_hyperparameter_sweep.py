"""Appendix hyper-parameter optimisation (notebook 10): summary, ``summary.csv`` rows and figures.

Reads only the JSON-able output of
:func:`paretobandit.experiments.hyperparameter_sweep.run_hyperparameter_sweep`. Standard deviations use
ddof = 1; the CIs of the cross-arm validation and of the held-out test AUC are normal intervals
``mean ± z·sd/√n_seeds`` (docs/PROTOCOLS.md §A0.4), as the protocol reports them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from . import figures, style

__all__ = ["TABLE_COLUMNS", "normal_ci", "short_name", "summarise_hyperparameter_sweep", "table_view"]

EXPERIMENT = "hyperparameter_sweep"
TABLE_COLUMNS = [
    "variant",
    "alpha",
    "gamma",
    "n_eff",
    "auc",
    "auc_sd",
    "auc_delta_pct",
    "p2_reward",
    "p2_sd",
    "p1_reward",
    "pareto",
    "knee",
    "auc_best",
    "knee_freq",
    "test_auc",
    "test_auc_sd",
    "test_auc_ci_low",
    "test_auc_ci_high",
    "auc_log_budget",
]


def normal_ci(values: Sequence[float], z: float = 1.96, n: int | None = None) -> dict[str, float]:
    """``{mean, sd, ci_low, ci_high}``: sd ddof = 1, CI ``mean ± z·sd/√n`` (n = len(values) default)."""
    v = np.asarray(values, dtype=float).ravel()
    if v.size < 2:
        raise ValueError(f"a normal CI needs at least two values, got {v.size}")
    m, sd = float(v.mean()), float(v.std(ddof=1))
    half = z * sd / np.sqrt(v.size if n is None else int(n))
    return {"mean": m, "sd": sd, "ci_low": m - half, "ci_high": m + half}


def short_name(model: str) -> str:
    """``google/gemini-2.5-pro`` → ``gemini`` (macro-friendly family name)."""
    return model.split("/")[-1].split("-")[0].lower()


def _label(x: float) -> str:
    return f"{float(x):g}"


def _variant_summary(
    vraw: Mapping[str, Any],
    fixed: Mapping[str, Any],
    models: Sequence[str],
    n_seeds: int,
    z: float,
    gamma_step: float,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    cells = vraw["cells"]
    boot = vraw["bootstrap"]
    knee, best, front = vraw["knee"], vraw["auc_best"], set(vraw["frontier"])
    fixed_val, fixed_test = fixed["val_eval"]["auc"], fixed["test"]["auc"]
    test = normal_ci(vraw["test"]["auc"], z)
    rows = []
    for i, c in enumerate(cells):
        ps = c["per_seed"]
        p2 = np.asarray(ps["p2"], dtype=float).ravel()
        auc = np.asarray(ps["auc"], dtype=float)
        rows.append(
            {
                "alpha": float(c["alpha"]),
                "gamma": float(c["gamma"]),
                "n_eff": float(c["n_eff"]),
                "auc": float(auc.mean()),
                "auc_sd": float(auc.std(ddof=1)) if auc.size > 1 else 0.0,
                "auc_delta_pct": 100.0 * (auc.mean() - fixed_val) / fixed_val,
                "p2_reward": float(p2.mean()),
                "p2_sd": float(p2.std(ddof=1)) if p2.size > 1 else 0.0,
                "p1_reward": float(np.mean(ps["p1"])),
                "pareto": i in front,
                "knee": i == knee,
                "auc_best": i == best,
                "knee_freq": boot["counts"][i] / sum(boot["counts"]),
                "test_auc": test["mean"] if i == knee else None,
                "test_auc_sd": test["sd"] if i == knee else None,
                "test_auc_ci_low": test["ci_low"] if i == knee else None,
                "test_auc_ci_high": test["ci_high"] if i == knee else None,
                "auc_log_budget": float(np.mean(ps["auc_log_budget"])),
            }
        )
    k, b, mo = rows[knee], rows[best], rows[boot["modal"]]
    cross: dict[str, Any] = {}
    for split, per_model in vraw["cross_arm"].items():
        cross[split] = {}
        for m in models:
            s = normal_ci(np.asarray(per_model[m]["p2"], dtype=float).ravel(), z, n=n_seeds)
            cross[split][short_name(m)] = {
                "p2_reward": s["mean"],
                "sd": s["sd"],
                "ci_low": s["ci_low"],
                "ci_high": s["ci_high"],
                "p1_reward": float(np.mean(per_model[m]["p1"])),
            }
    summary = {
        "knee": {
            "alpha": _label(k["alpha"]),
            "gamma": _label(k["gamma"]),
            "n_eff": f"{k['n_eff']:.1f}",
            "auc": k["auc"],
            "auc_sd": k["auc_sd"],
            "auc_delta_pct": k["auc_delta_pct"],
            "p2_reward": k["p2_reward"],
            "p2_sd": k["p2_sd"],
            "p1_reward": k["p1_reward"],
            "log_b_auc": k["auc_log_budget"],
        },
        "auc_best": {
            "alpha": _label(b["alpha"]),
            "gamma": _label(b["gamma"]),
            "auc": b["auc"],
            "p2_reward": b["p2_reward"],
        },
        "auc_sacrifice_pct": 100.0 * (b["auc"] - k["auc"]) / b["auc"],
        "n_frontier": len(front),
        "bootstrap": {
            "knee_freq_pct": 100.0 * boot["original_freq"],
            "modal_alpha": _label(mo["alpha"]),
            "modal_gamma": _label(mo["gamma"]),
            "modal_freq_pct": 100.0 * boot["modal_freq"],
            "n_distinct": int(boot["n_distinct"]),
            "neighbourhood_pct": 100.0 * boot["neighbourhood_freq"],
        },
        "test": {
            "auc": test["mean"],
            "auc_sd": test["sd"],
            "ci_low": test["ci_low"],
            "ci_high": test["ci_high"],
            "auc_delta_pct": 100.0 * (test["mean"] - fixed_test) / fixed_test,
            "log_b_auc": float(np.mean(vraw["test"]["auc_log_budget"])),
        },
        "cross_arm": cross,
    }
    return summary, rows


def _t_adapt_summary(sens: Mapping[str, Any], suffix: str, p2_key: str, gamma_step: float) -> dict[str, Any]:
    """Knee per T (``t<T>`` entries), the largest |Δγ| between consecutive T and the stability flag."""
    out: dict[str, Any] = {}
    knee_gammas = []
    for key, s in sens.items():
        c = s["cells"][s[f"knee{suffix}"]]
        knee_gammas.append(float(c["gamma"]))
        out[f"t{key}"] = {
            "t": int(round(float(s["t_adapt"]))),
            "alpha": _label(c["alpha"]),
            "gamma": _label(c["gamma"]),
            "n_eff": f"{c['n_eff']:.1f}",
            "auc": float(np.mean(c["per_seed"]["auc"])),
            "p2_reward": float(np.mean(c["per_seed"][p2_key])),
        }
    dg = float(np.max(np.abs(np.diff(knee_gammas)))) if len(knee_gammas) > 1 else 0.0
    out["max_dgamma"] = _label(round(dg, 6))
    out["stable"] = bool(dg <= gamma_step + 1e-9)
    return out


def summarise_hyperparameter_sweep(
    raw: Mapping[str, Any], *, paper_knee: Sequence[float] = (0.01, 0.997), z: float = 1.96
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Summary (per variant, T_adapt sensitivity, references, derived constants) and one row per
    variant × cell (the ``summary.csv`` contract: :data:`TABLE_COLUMNS`)."""
    n_seeds = int(raw["n_seeds"])
    gamma_step = float(raw["gamma_step"])
    summary: dict[str, Any] = {
        "fixed": {"val_eval_auc": raw["fixed"]["val_eval"]["auc"], "test_auc": raw["fixed"]["test"]["auc"]}
    }
    rows: list[dict[str, Any]] = []
    for v, vraw in raw["variants"].items():
        s, r = _variant_summary(vraw, raw["fixed"], raw["models"], n_seeds, z, gamma_step)
        kn = vraw["cells"][vraw["knee"]]
        s["agrees_with_paper"] = bool(
            np.isclose(kn["alpha"], paper_knee[0]) and np.isclose(kn["gamma"], paper_knee[1])
        )
        summary[v] = s
        rows += [{"variant": v, **row} for row in r]
    if "paretobandit" in raw["variants"]:
        g = float(raw["variants"]["paretobandit"]["cells"][raw["variants"]["paretobandit"]["knee"]]["gamma"])
        summary["eff_mem"] = int(round(1.0 / (1.0 - g))) if g < 1 else None
        summary["half_life"] = int(round(np.log(2.0) / (1.0 - g))) if g < 1 else None
    sens = raw.get("t_adapt_sensitivity") or {}
    if sens:
        summary["t_adapt"] = _t_adapt_summary(sens, "", "p2", gamma_step)
        if all("knee_principled" in s for s in sens.values()):
            summary["t_adapt_principled"] = _t_adapt_summary(sens, "_principled", "p2_principled", gamma_step)
    summary["headlines"] = {
        "n_cells": len(raw["alphas"]) * len(raw["gammas"]),
        "n_seeds": n_seeds,
        "n_burnin": int(raw["n_burnin"]),
        "n_eval": int(raw["n_eval"]),
        "n_test": int(raw["n_test"]),
        "n_budgets": len(raw["budget_targets"]),
        "n_resamples": int(raw["bootstrap"]["n_resamples"]),
        "ci_z": _label(z),
        "n_alphas": len(raw["alphas"]),
        "n_gammas": len(raw["gammas"]),
        "t_adapt": int(round(float(raw["t_adapt"]))),
        "failure_reward": _label(raw["failure_reward"]),
        "sensitivity_failure_reward": _label(raw["sensitivity_failure_reward"]),
        **{f"{name}_budget": float(b) for name, b in raw["named_budgets"].items()},
    }
    return summary, rows


def table_view(rows: Sequence[Mapping[str, Any]], value: str, variant: str):
    """Pandas grid of ``value`` for one variant, α as rows and γ as columns."""
    import pandas as pd

    df = pd.DataFrame([r for r in rows if r["variant"] == variant])
    return df.pivot_table(index="alpha", columns="gamma", values=value, sort=True)


def _variants(results: Mapping[str, Any]) -> list[str]:
    return list(dict.fromkeys(r["variant"] for r in results["table"]))


@figures.register(EXPERIMENT, "pareto")
def pareto(results: Mapping[str, Any]) -> plt.Figure:
    """Objective plane per variant: every cell, the Pareto frontier, the knee, the AUC-only best."""
    variants = _variants(results)
    fig, axes = plt.subplots(1, len(variants), figsize=(4.6 * len(variants), 3.6), squeeze=False)
    c_front, c_knee, c_best = style.palette(3)
    paper = results["config"]["experiment"].get("paper_knee") or {}
    for ax, v in zip(axes[0], variants, strict=True):
        rows = [r for r in results["table"] if r["variant"] == v]
        ax.scatter(
            [r["auc"] for r in rows], [r["p2_reward"] for r in rows], s=10, color="0.65", label="grid cells"
        )
        front = sorted((r for r in rows if r["pareto"]), key=lambda r: r["auc"])
        ax.plot(
            [r["auc"] for r in front],
            [r["p2_reward"] for r in front],
            "o-",
            ms=4,
            color=c_front,
            label="Pareto frontier",
        )
        for r in front:
            ax.annotate(
                f"α={r['alpha']:g}, γ={r['gamma']:g}",
                (r["auc"], r["p2_reward"]),
                fontsize=5,
                xytext=(3, 3),
                textcoords="offset points",
            )
        k = next(r for r in rows if r["knee"])
        b = next(r for r in rows if r["auc_best"])
        ax.scatter(
            [k["auc"]],
            [k["p2_reward"]],
            s=110,
            facecolors="none",
            edgecolors=c_knee,
            lw=1.6,
            label="knee (ours)",
            zorder=3,
        )
        ax.scatter(
            [b["auc"]],
            [b["p2_reward"]],
            marker="s",
            s=40,
            facecolors="none",
            edgecolors=c_best,
            lw=1.2,
            label="AUC-only best",
            zorder=3,
        )
        pc = [
            r
            for r in rows
            if paper and np.isclose(r["alpha"], paper["alpha"]) and np.isclose(r["gamma"], paper["gamma"])
        ]
        if pc and v == "paretobandit":
            ax.scatter(
                [pc[0]["auc"]],
                [pc[0]["p2_reward"]],
                marker="x",
                s=45,
                color="k",
                label=f"published knee (α={paper['alpha']:g}, γ={paper['gamma']:g})",
                zorder=4,
            )
        ax.set_title(v.replace("_", " "), fontsize=9)
        ax.set_xlabel("Objective 1: budget-paced hull AUC (val eval)")
        ax.set_ylabel("Objective 2: Phase-2 reward (Mistral failed)")
    handles, labels = {}, {}
    for ax in axes[0]:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(lab, h)
            labels[lab] = lab
    fig.legend(
        list(handles.values()),
        list(labels),
        loc="lower center",
        ncol=5,
        fontsize=7,
        frameon=False,
        bbox_to_anchor=(0.5, -0.02),
    )
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


@figures.register(EXPERIMENT, "grids")
def grids(results: Mapping[str, Any]) -> plt.Figure:
    """Both objectives over the α × γ grid for each variant (box: knee; number: bootstrap knee share)."""
    variants = _variants(results)
    fig, axes = plt.subplots(len(variants), 2, figsize=(10, 3.3 * len(variants)), squeeze=False)
    for row, v in zip(axes, variants, strict=True):
        rows = [r for r in results["table"] if r["variant"] == v]
        alphas = sorted({r["alpha"] for r in rows})
        gammas = sorted({r["gamma"] for r in rows})
        for ax, value, label in zip(row, ("auc", "p2_reward"), ("hull AUC", "Phase-2 reward"), strict=True):
            grid = np.full((len(alphas), len(gammas)), np.nan)
            for r in rows:
                grid[alphas.index(r["alpha"]), gammas.index(r["gamma"])] = r[value]
            im = ax.imshow(grid, cmap="viridis", aspect="auto")
            lo, span = np.nanmin(grid), max(float(np.nanmax(grid) - np.nanmin(grid)), 1e-12)
            for r in rows:
                i, j = alphas.index(r["alpha"]), gammas.index(r["gamma"])
                ink = "k" if (r[value] - lo) / span > 0.6 else "w"  # readable on light cells
                ax.text(j, i, f"{r[value]:.3f}", ha="center", va="center", fontsize=5.5, color=ink)
                if r["knee"]:
                    ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, ec="red", lw=2))
            ax.set_xticks(range(len(gammas)), [f"{g:g}" for g in gammas], fontsize=7)
            ax.set_yticks(range(len(alphas)), [f"{a:g}" for a in alphas], fontsize=7)
            ax.set_xlabel("γ")
            ax.set_ylabel("α")
            ax.grid(False)
            ax.set_title(f"{v.replace('_', ' ')}: {label} (red box: knee)", fontsize=8)
            fig.colorbar(im, ax=ax)
    fig.tight_layout()
    return fig
