"""Keep the README's result tables generated from ``results/<experiment>/summary.csv``.

Each table lives between ``<!-- table:NAME -->`` and ``<!-- /table:NAME -->`` markers in ``README.md``;
:func:`render` rebuilds every marked block from the CSVs, so no number in the README is typed by hand.
``python -m paretobandit.workbench readme`` rewrites the file; ``--check`` exits 1 when it is stale (tested).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from pathlib import Path

from .config import REPO_ROOT

# Published Exp 01 values (docs/PROTOCOLS.md §3): budget -> (reward, cost, utilisation), for the
# side-by-side table.
PAPER_EXP01 = {
    "2.9e-5": ("0.793", "2.9e-5", "0.98"), "8.3e-5": ("0.813", "8.3e-5", "1.00"),
    "2.3e-4": ("0.859", "2.3e-4", "1.00"), "6.6e-4": ("0.898", "6.5e-4", "0.98"),
    "1.9e-3": ("0.917", "1.7e-3", "0.91"), "5.3e-3": ("0.924", "4.7e-3", "0.89"),
    "1.5e-2": ("0.929", "1.1e-2", "0.74"),
}


class NotCanonicalError(ValueError):
    """A results folder the README would read was not made by the canonical run."""


def check_canonical(name: str, root: Path) -> None:
    """Raise :class:`NotCanonicalError` unless ``results/<name>/results.json`` records exactly the
    canonical config (scale ``full``, no overrides): README tables never show exploratory numbers."""
    import json

    from .config import compose_run
    from .results import config_differences, config_section

    path = root / "results" / name / "results.json"
    if not path.is_file() or not (root / "conf").is_dir():
        return
    stored = json.loads(path.read_text(encoding="utf-8")).get("config")
    if stored is None:
        return
    canonical = compose_run(name, "full", canonical=True, conf_dir=root / "conf", root=root)
    diff = config_differences(stored, config_section(canonical))
    if diff:
        raise NotCanonicalError(f"{path} was not made by the canonical run (config differs in "
                                f"{', '.join(diff[:5])}); rerun it: "
                                f"`python -m paretobandit.workbench run --only {name}`")


PAPER_VARIANT = "paper"
"""The ``variant`` of summary rows that follow the paper's protocol; other variants are labelled extras."""


def _rows(name: str, root: Path) -> list[dict]:
    """Summary rows of a canonical result, the paper's configuration only (no labelled variants)."""
    check_canonical(name, root)
    with open(root / "results" / name / "summary.csv", newline="") as fh:
        return [r for r in csv.DictReader(fh) if r.get("variant", PAPER_VARIANT) in ("", PAPER_VARIANT)]


def _f(value: str, digits: int = 3) -> str:
    return "–" if value in ("", None) else f"{float(value):.{digits}f}"


def _ci(row: dict, key: str, low: str | None = None, high: str | None = None) -> str:
    """``value [low, high]`` with three decimals, from ``key``, ``key_ci_low`` and ``key_ci_high``."""
    low, high = low or f"{key}_ci_low", high or f"{key}_ci_high"
    return f"{_f(row[key])} [{_f(row[low])}, {_f(row[high])}]"


def _e(value: str) -> str:
    return f"{float(value):.1e}".replace("e-0", "e-")


def _table(header: list[str], body: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines)


def budget_pacing(root: Path) -> str:
    """Exp 01: ours beside the paper, per budget."""
    body = []
    for r in _rows("budget_pacing", root):
        if r["method"] != "pacer":
            continue
        paper = PAPER_EXP01.get(_e(r["budget"]), ("?", "?", "?"))
        body.append([_e(r["budget"]), _ci(r, "mean_reward", "reward_ci_low", "reward_ci_high"),
                     paper[0], _e(r["mean_cost"]), paper[1], _f(r["utilisation"], 2), paper[2],
                     _f(r["median_lambda"], 2)])
    header = ["B ($/req)", "reward [95% CI]", "paper", "cost", "paper", "util", "paper", "median λ"]
    return _table(header, body)


def budget_pacing_refs(root: Path) -> str:
    """Exp 01 reference points (fixed models, random, oracle)."""
    body = [[r["method"], _f(r["mean_reward"]), _e(r["mean_cost"])]
            for r in _rows("budget_pacing", root) if r["method"] != "pacer"]
    return _table(["reference", "reward", "cost ($/req)"], body)


def _phases(rows: list[dict], key: str, digits: int = 2) -> str:
    return " / ".join(_f(r[key], digits) for r in sorted(rows, key=lambda r: r["phase"]))


def _grouped(name: str, root: Path) -> dict[tuple[str, str], list[dict]]:
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in _rows(name, root):
        groups.setdefault((r["budget"], r["condition"]), []).append(r)
    return groups


def budget_drift(root: Path) -> str:
    """Exp 02: cost/B, reward and Pro share per phase, reward lift."""
    body = []
    for (budget, cond), rows in _grouped("budget_drift", root).items():
        lift = rows[0]
        body.append([budget, cond, _phases(rows, "cost_ratio"), _phases(rows, "mean_reward", 3),
                     _phases(rows, "share_pro"),
                     f"{float(lift['reward_lift']):+.3f} [{_f(lift['reward_lift_ci_low'])}, "
                     f"{_f(lift['reward_lift_ci_high'])}]"])
    header = ["budget", "condition", "cost/B P1/P2/P3", "reward P1/P2/P3", "Pro share", "lift P2−P1 [CI]"]
    return _table(header, body)


def quality_degradation(root: Path) -> str:
    """Exp 03: cost/B, reward and Mistral share per phase, recovery ratio, trough."""
    body = []
    for (budget, cond), rows in _grouped("quality_degradation", root).items():
        r = rows[0]
        body.append([budget, cond, _phases(rows, "cost_ratio"), _phases(rows, "mean_reward", 3),
                     _phases(rows, "mistral_share"),
                     _ci(r, "recovery_ratio"),
                     f"{_f(r['trough'])} ({_f(r['trough_depth'])})"])
    return _table(["budget", "condition", "cost/B P1/P2/P3", "reward P1/P2/P3", "Mistral share",
                   "recovery P3/P1 [CI]", "trough (depth)"], body)


def onboarding(root: Path) -> str:
    """Exp 04: per scenario × budget."""
    body = []
    for r in _rows("onboarding", root):
        ratio = "–" if r["cost_ratio"] == "" else _ci(r, "cost_ratio")
        step = "–" if r["adoption_step"] == "" else (
            f"{float(r['adoption_step']):.0f} / {float(r['adoption_step_mean']):.1f}")
        body.append([r["scenario"], r["budget"], ratio, _f(r["mean_reward"]),
                     f"{100 * float(r['flash_share']):.1f}% / {100 * float(r['flash_share_last']):.1f}%",
                     f"{r['adopted_runs']}/{r['n_runs']}", step])
    header = ["scenario", "budget", "P2 cost/B [CI]", "P2 reward", "Flash share P2 / last 200", "adopted",
              "adoption step median / mean"]
    return _table(header, body)


def per_run_compliance(root: Path) -> str:
    """Per-run compliance (notebook 14): worst seed beside the mean, binding cells, per scenario × pacer."""
    if not (root / "results" / "per_run_compliance" / "summary.csv").is_file():
        return "Not run yet: `python -m paretobandit.workbench run --only per_run_compliance`."
    rows = _rows("per_run_compliance", root)
    body = []
    for scen in ("budget_pacing", "budget_drift", "quality_degradation", "onboarding"):
        for pacer in ("paretobandit", "pi", "spend_guard"):
            sel = [r for r in rows if r["scenario"] == scen and r["pacer"] == pacer]
            bind = [r for r in sel if r["binding"] == "True"]
            if not bind:
                continue
            metric = {(r["case"], r["budget"]): r["scenario_metric"] for r in sel
                      if r["scenario_metric"] not in ("", None)}           # one per case × budget
            digits = 0 if scen == "onboarding" else 3
            body.append([scen, pacer + (" (new)" if sel[0]["recommended"] == "True" else ""), str(len(bind)),
                         _f(max(float(r["cost_ratio_mean"]) for r in bind)),
                         _f(max(float(r["cost_ratio_worst_seed"]) for r in bind)),
                         " / ".join(_f(r["mean_reward"]) for r in sel),
                         " / ".join(_f(m, digits) for m in metric.values()) or "–"])
    header = ["scenario", "pacer", "binding cells", "max mean cost/B", "worst seed cost/B",
              "mean reward per cell", "P2 lift / recovery ratio / adopted runs per budget"]
    return _table(header, body)


_PLUGIN_LABELS = {"paretobandit": "ParetoBandit", "pi_pacer": "PI pacer", "thompson": "Thompson",
                  "thompson_pi": "Thompson + PI"}


def _plugin_rows(root: Path, experiment: str) -> list[dict] | None:
    """Notebook 13's rows of ``experiment`` (``exp01`` / ``exp03``), ``None`` before its first run."""
    if not (root / "results" / "plugins" / "summary.csv").is_file():
        return None
    return [r for r in _rows("plugins", root) if r["experiment"] == experiment]


_NOT_RUN = "(not run yet: `python -m paretobandit.workbench run --only plugins`)"


def plugins_pacing(root: Path) -> str:
    """Notebook 13, Exp 01: reward [CI], cost/B of the seed mean and of the worst seed per budget, router."""
    rows = _plugin_rows(root, "exp01")
    if rows is None:
        return _NOT_RUN
    body = [[r["budget"], _e(r["budget_value"]), _PLUGIN_LABELS.get(r["router"], r["router"]),
             _ci(r, "mean_reward", "reward_ci_low", "reward_ci_high"), _f(r["cost_ratio"], 2),
             _f(r["worst_seed_cost_ratio"], 2)] for r in sorted(rows, key=lambda r: float(r["budget_value"]))]
    return _table(["budget", "B ($/req)", "router", "reward [95% CI]", "cost/B", "worst seed"], body)


def plugins_degradation(root: Path) -> str:
    """Notebook 13, Exp 03 (ParetoBandit's condition): reward per phase, recovery [CI], max cost/B."""
    rows = _plugin_rows(root, "exp03")
    if rows is None:
        return _NOT_RUN
    order = list(dict.fromkeys(r["budget"] for r in rows))          # the named budgets' order, then routers
    body = [[r["budget"], _PLUGIN_LABELS.get(r["router"], r["router"]),
             " / ".join(_f(r[f"reward_p{j}"]) for j in (1, 2, 3)), _ci(r, "recovery_ratio"),
             _f(r["cost_ratio"], 2)] for r in sorted(rows, key=lambda r: order.index(r["budget"]))]
    return _table(["budget", "router", "reward P1/P2/P3", "recovery P3/P1 [CI]", "max cost/B"], body)


TABLES: dict[str, Callable[[Path], str]] = {
    "per_run_compliance": per_run_compliance,
    "budget_pacing": budget_pacing,
    "budget_pacing_refs": budget_pacing_refs,
    "budget_drift": budget_drift,
    "quality_degradation": quality_degradation,
    "onboarding": onboarding,
    "plugins_pacing": plugins_pacing,
    "plugins_degradation": plugins_degradation,
}


def render(text: str, root: Path | None = None) -> str:
    """``text`` with every marked table block regenerated from the results CSVs."""
    root = Path(root) if root is not None else REPO_ROOT

    def fill(match: re.Match) -> str:
        name = match.group(1)
        if name not in TABLES:
            raise KeyError(f"README marks an unknown table {name!r}; known: {', '.join(TABLES)}")
        return f"<!-- table:{name} -->\n{TABLES[name](root)}\n<!-- /table:{name} -->"

    return re.sub(r"<!-- table:(\w+) -->.*?<!-- /table:\1 -->", fill, text, flags=re.S)


def update(path: Path | None = None, check: bool = False) -> bool:
    """Rewrite the README's tables (or only report staleness with ``check``); returns True if up to date."""
    path = Path(path) if path is not None else REPO_ROOT / "README.md"
    text = path.read_text()
    new = render(text, path.parent)
    if new == text:
        return True
    if not check:
        path.write_text(new)
    return False


# ----------------------------------------------------------------------- repository contents (not results)
def notebooks(root: Path) -> str:
    """Every experiment notebook, from ``conf/experiment/*.yaml`` (notebook, title, dependencies)."""
    import yaml

    body = []
    for path in sorted((root / "conf" / "experiment").glob("*.yaml")):
        exp = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("experiment", {})
        if not exp.get("notebook"):
            continue
        deps = ", ".join(exp.get("depends_on") or []) or "–"
        body.append([f"`{exp['notebook']}`", str(exp.get("title", exp.get("name", ""))),
                     f"`conf/experiment/{path.name}`", deps])
    body.sort(key=lambda row: row[0])
    return _table(["notebook", "what it reproduces", "config", "depends on"], body)


def docs(root: Path) -> str:
    """Every ``docs/*.md`` with its first heading."""
    body = []
    for path in sorted((root / "docs").glob("*.md")):
        heading = next((line.lstrip("#").strip() for line in path.read_text(encoding="utf-8").splitlines()
                        if line.startswith("#")), path.stem)
        body.append([f"`docs/{path.name}`", heading])
    return _table(["document", "contents"], body)


TABLES["notebooks"] = notebooks
TABLES["docs"] = docs
