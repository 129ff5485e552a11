"""Appendix — judge robustness (SPEC §3, Appendix; notebook 06).

The cross-judge files ``cross_judge_{judge}_{split}.jsonl`` hold the same prompts and responses scored by
three LLM judges (DeepSeek-R1 ``r1`` — the judge of the main tables —, GPT-4.1-mini ``gpt_mini``,
Claude-3.7-Sonnet ``claude``). No router runs; per split:

Per judge
    mean reward of each model and the ordering of models by it (best first); the per-prompt oracle
    (mean over prompts of the best arm's reward); the best fixed model and its share of the oracle;
    uniform random (mean of the per-prompt arm means).
Per judge pair (a, b)
    agreement of per-prompt rewards: Spearman ρ, Kendall τ-b (:mod:`scipy.stats`), Pearson r and
    Lin's concordance correlation coefficient (:func:`lins_ccc`), pooled over every (prompt, model)
    cell and per model; the mean absolute difference; whether the two model orderings agree;
    the fraction of prompts whose best-arm sets intersect; and *cross-judge oracle capture*: the mean
    reward, under judge a, of always picking judge b's per-prompt best arm (ties broken towards the
    cheaper arm, by the table's mean cost), divided by judge a's oracle (1 when b = a).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import permutations

import numpy as np
from scipy import stats

from ..errors import ConfigError, DataError, DimensionMismatchError

__all__ = ["JUDGES", "best_arm_choice", "judge_summary", "lins_ccc", "load_judge_tables", "pair_agreement",
           "run_judge_robustness"]

JUDGES = ("r1", "gpt_mini", "claude")


def lins_ccc(x: Sequence[float], y: Sequence[float]) -> float:
    """Lin's concordance correlation coefficient (Lin 1989).

    ``ρ_c = 2·s_xy / (s_x² + s_y² + (x̄ − ȳ)²)`` with population (1/n) moments. 1 iff ``y = x``;
    penalises both scatter (like Pearson) and any shift or scale difference. NaN when both inputs
    are constant and equal (0/0).
    """
    x, y = np.asarray(x, dtype=float).ravel(), np.asarray(y, dtype=float).ravel()
    if x.shape != y.shape or x.size < 2:
        raise DimensionMismatchError(f"need two equal-length samples of >= 2 values, got {x.shape}, "
                                     f"{y.shape}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ConfigError("lins_ccc needs finite values")
    mx, my = x.mean(), y.mean()
    sxy = np.mean((x - mx) * (y - my))
    den = x.var() + y.var() + (mx - my) ** 2
    return float(2.0 * sxy / den) if den > 0 else float("nan")


def _corr(x: np.ndarray, y: np.ndarray) -> dict:
    const = np.ptp(x) == 0 or np.ptp(y) == 0
    nan = float("nan")
    return {"spearman": nan if const else float(stats.spearmanr(x, y).statistic),
            "kendall": nan if const else float(stats.kendalltau(x, y).statistic),
            "pearson": nan if const else float(stats.pearsonr(x, y).statistic),
            "ccc": lins_ccc(x, y),
            "mean_abs_diff": float(np.mean(np.abs(x - y))),
            "mean_diff": float(np.mean(x - y))}


def best_arm_choice(rewards: np.ndarray, tie_order: Sequence[int]) -> np.ndarray:
    """Per-prompt best arm; among tied arms the one earliest in ``tie_order`` (e.g. cheapest first)."""
    r = np.asarray(rewards, dtype=float)
    order = np.asarray(tie_order, dtype=np.intp)
    if sorted(order.tolist()) != list(range(r.shape[1])):
        raise ConfigError(f"tie_order must be a permutation of the {r.shape[1]} arms, got {list(order)}")
    ranked = r[:, order]
    return order[np.argmax(ranked == ranked.max(axis=1, keepdims=True), axis=1)]


def judge_summary(models: Sequence[str], rewards: np.ndarray) -> dict:
    """Per-judge statistics of one split (see module docstring)."""
    r = np.asarray(rewards, dtype=float)
    means = r.mean(axis=0)
    order = np.argsort(-means, kind="stable")
    oracle = float(r.max(axis=1).mean())
    best = int(order[0])
    return {"mean_reward": {m: float(means[j]) for j, m in enumerate(models)},
            "ordering": [models[j] for j in order],
            "oracle": oracle, "random": float(r.mean()),
            "best_fixed_model": models[best], "best_fixed_reward": float(means[best]),
            "best_fixed_capture": float(means[best] / oracle) if oracle > 0 else float("nan")}


def pair_agreement(models: Sequence[str], ra: np.ndarray, rb: np.ndarray, tie_order: Sequence[int]) -> dict:
    """Agreement of judge b with judge a on one split (see module docstring)."""
    ra, rb = np.asarray(ra, dtype=float), np.asarray(rb, dtype=float)
    if ra.shape != rb.shape:
        raise DimensionMismatchError(f"judge tables differ in shape: {ra.shape} vs {rb.shape}")
    pooled = _corr(ra.ravel(), rb.ravel())
    per_model = {m: _corr(ra[:, j], rb[:, j]) for j, m in enumerate(models)}
    best_a = ra == ra.max(axis=1, keepdims=True)
    best_b = rb == rb.max(axis=1, keepdims=True)
    choice_b = best_arm_choice(rb, tie_order)
    oracle_a = ra.max(axis=1).mean()
    follow = float(ra[np.arange(ra.shape[0]), choice_b].mean())
    order_a = np.argsort(-ra.mean(axis=0), kind="stable")
    order_b = np.argsort(-rb.mean(axis=0), kind="stable")
    return {"pooled": pooled, "per_model": per_model,
            "orderings_agree": bool(np.array_equal(order_a, order_b)),
            "best_set_overlap": float(np.mean(np.any(best_a & best_b, axis=1))),
            "follow_b_reward": follow,
            "cross_oracle_capture": float(follow / oracle_a) if oracle_a > 0 else float("nan")}


def run_judge_robustness(tables: Mapping[str, Mapping[str, Mapping]], *,
                         judges: Sequence[str] = JUDGES) -> dict:
    """Judge robustness over splits.

    Parameters
    ----------
    tables : mapping split → judge → ``{"models", "prompts", "rewards" (n, K), "costs" (n, K)}``
        The same prompts (same order) and models for every judge of a split.
    judges : sequence of str
        Judges to compare (all must be present for every split).

    Returns
    -------
    dict
        ``{"judges", "splits": {split: {"n", "models", "judges": {j: judge_summary},
        "pairs": {"a|b": pair_agreement} (ordered pairs), "orderings_agree_all"}}}`` (JSON-able).
    """
    judges = [str(j) for j in judges]
    if len(judges) < 2 or len(set(judges)) != len(judges):
        raise ConfigError(f"need at least two distinct judges, got {judges}")
    out: dict = {}
    for split, by_judge in tables.items():
        missing = [j for j in judges if j not in by_judge]
        if missing:
            raise ConfigError(f"split {split!r}: no table for judge(s) {missing}")
        ref = by_judge[judges[0]]
        models = [str(m) for m in ref["models"]]
        for j in judges[1:]:
            t = by_judge[j]
            if [str(m) for m in t["models"]] != models:
                raise DataError(f"split {split!r}: judge {j!r} has models {list(t['models'])}, "
                                f"expected {models}")
            if list(t["prompts"]) != list(ref["prompts"]):
                raise DataError(f"split {split!r}: judge {j!r} does not have the same prompts in the "
                                "same order")
        costs = np.asarray(ref["costs"], dtype=float)
        tie_order = np.argsort(costs.mean(axis=0), kind="stable")
        rewards = {j: np.asarray(by_judge[j]["rewards"], dtype=float) for j in judges}
        summaries = {j: judge_summary(models, rewards[j]) for j in judges}
        pairs = {f"{a}|{b}": pair_agreement(models, rewards[a], rewards[b], tie_order)
                 for a, b in permutations(judges, 2)}
        orderings = [tuple(s["ordering"]) for s in summaries.values()]
        out[str(split)] = {"n": int(rewards[judges[0]].shape[0]), "models": models,
                           "tie_order": [models[j] for j in tie_order],
                           "judges": summaries, "pairs": pairs,
                           "orderings_agree_all": bool(len(set(orderings)) == 1)}
    return {"experiment": "judge_robustness", "judges": judges, "splits": out}


def load_judge_tables(pattern: str, *, judges: Sequence[str] = JUDGES,
                      splits: Sequence[str] = ("val", "test"), max_rows: int | None = None) -> dict:
    """Input of :func:`run_judge_robustness`: ``pattern.format(judge=..., split=...)`` paths, read with
    :func:`paretobandit.data.load_reward_table`; ``max_rows`` keeps the first rows only (CI scale)."""
    from ..data import load_reward_table

    rows = slice(None) if max_rows is None else slice(0, int(max_rows))
    out: dict = {}
    for split in splits:
        for judge in judges:
            t = load_reward_table(str(pattern).format(judge=judge, split=split))
            out.setdefault(str(split), {})[str(judge)] = {
                "models": list(t.models), "prompts": t.prompts[rows], "rewards": t.rewards[rows],
                "costs": t.costs[rows]}
    return out
