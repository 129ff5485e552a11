"""Exp 04 — runtime onboarding K = 3 → 4 (docs/PROTOCOLS.md §3, §B3).

Per run (one budget × scenario × seed): a fresh router with the K = 3 warm-up priors (n_eff 1163.9,
λ_c = 0) and an ADAPTIVE pacer at B (or no pacer for ``unconstrained``) routes the seed's shuffled
val split over the three original arms (P1). At the first P2 request the new model (Gemini-2.5-Flash)
is registered cold (no prior, ``A = λ₀I, b = 0``) at its registry price, forced for ``n_forced``
requests (bandit + pacer update each), then competes normally over the seed's shuffled test split (P2).
Router and pacer state carry over from P1 to P2 (it is one deployment).

Streams follow docs/PROTOCOLS.md §2 exactly: ``rng = default_rng(seed)``,
``val_order = rng.permutation(n_val)``, then ``test_order = rng.permutation(n_test)`` from the same generator.

Scenarios change only the new arm, and only in P2:

* ``good_cheap`` — as collected;
* ``bad_cheap`` — observed reward × 0.5;
* ``good_expensive`` — realised $ cost × 10 in the data and registry price 3.0/25.0 $/M. In the paper's
  configuration the hard ceiling sees Flash at ``ceiling_cost_per_m`` = 3.0 $/M (the upstream
  registry's ``blended_cost_per_m`` field after its repricing call, §B3) while ``c̃`` comes from
  (3.0 + 25.0)/2 = 14.0 $/M; so Gemini-Pro stays the ceiling's ``p_max`` and Flash is eligible while
  λ_t ≤ 0.875. ``variants`` can add the same scenario with one consistent price (``ceiling_cost_per_m``
  None ⇒ 14.0 $/M for both), reported beside it.

Sustained adoption (:func:`adoption_steps`): the first P2 step ``k`` (0-based, the first forced pull is
step 0) such that, for each of the ``sustain`` = 50 steps ``j = k … k + 49``, the new arm's share of the
``window`` = 100 selections ending at ``j`` (inclusive) is ≥ 10 %; the search starts at
``k = n_forced + window`` (= 120), so no window ever contains a forced pull, and the 50 steps must fit in
P2. Runs without such a step are not adopted. The reported ``adoption_step`` is ``k + index_base``
(``index_base = 1`` in the paper: the 1-indexed P2 step).

>>> # res = run_onboarding(features_val=fv, rewards_val=val.rewards, costs_val=val.costs,
>>> #                      features_test=ft, rewards_test=test.rewards, costs_test=test.costs,
>>> #                      models=val.models, prices=prices, new_model="google/gemini-2.5-flash",
>>> #                      budgets={"tight": 3e-4, "unconstrained": None}, scenarios=SCENARIOS,
>>> #                      seeds=make_seeds(9000, 20), router_params=..., pacer_params=..., priors=path)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError, DimensionMismatchError, InvalidInputError
from ..sim import CostTransform, Onboard, RewardTransform, simulate, warmup_test_streams
from .budget_pacing import router_config
from .common import (
    as_price_array,
    pacer_record,
    parse_pacer,
    parse_policy,
    parse_seeds,
    resolve_priors,
    stack_tables,
)

__all__ = ["PAPER_VARIANT", "SCENARIOS", "Scenario", "adoption_steps", "rolling_share", "run_onboarding",
           "scenario_events", "scenarios_from_config", "variants_from_config",
    "run_from_config",
]


# ------------------------------------------------------------------------------------- scenarios
@dataclass(frozen=True)
class Scenario:
    """How the onboarded arm behaves in P2.

    Attributes
    ----------
    name : str
    reward_scale : float
        Observed rewards of the new arm are ``clip(reward_scale · r, 0, 1)``.
    cost_scale : float
        Realised $ costs of the new arm are multiplied by this.
    input_cost_per_m, output_cost_per_m : float or None
        Registry price at onboarding ($/M); ``None`` = the portfolio price of the new model.
    ceiling_cost_per_m : float or None
        Blended $/M the hard pacer ceiling uses for the new arm; ``None`` = (input + output)/2.
    """

    name: str
    reward_scale: float = 1.0
    cost_scale: float = 1.0
    input_cost_per_m: float | None = None
    output_cost_per_m: float | None = None
    ceiling_cost_per_m: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError(f"scenario name must be a non-empty string, got {self.name!r}")
        for key in ("reward_scale", "cost_scale"):
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise ConfigError(f"scenario {self.name}: {key} must be a finite number >= 0, got {v!r}")
        if (self.input_cost_per_m is None) != (self.output_cost_per_m is None):
            raise ConfigError(f"scenario {self.name}: give both input_cost_per_m and "
                              "output_cost_per_m, or neither")
        for key in ("input_cost_per_m", "output_cost_per_m", "ceiling_cost_per_m"):
            v = getattr(self, key)
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))
                                  or not math.isfinite(v) or v < 0):
                raise ConfigError(f"scenario {self.name}: {key} must be a finite number >= 0, got {v!r}")


#: The paper's three scenarios (docs/PROTOCOLS.md §3, §B3), good_expensive with the ceiling quirk.
SCENARIOS: dict[str, Scenario] = {
    "good_cheap": Scenario("good_cheap"),
    "bad_cheap": Scenario("bad_cheap", reward_scale=0.5),
    "good_expensive": Scenario("good_expensive", cost_scale=10.0, input_cost_per_m=3.0,
                               output_cost_per_m=25.0, ceiling_cost_per_m=3.0),
}
#: ``variant`` of the paper's scenario runs.
PAPER_VARIANT = "paper"
_SCENARIO_KEYS = {"reward_scale", "cost_scale", "input_cost_per_m", "output_cost_per_m", "ceiling_cost_per_m"}


def scenarios_from_config(spec: Mapping[str, Any] | None) -> dict[str, Scenario]:
    """``{name: Scenario}`` from a mapping ``{name: {reward_scale, cost_scale, input_cost_per_m, …}}``."""
    if spec is None:
        return dict(SCENARIOS)
    out = {}
    for name, params in spec.items():
        params = dict(params or {})
        unknown = set(params) - _SCENARIO_KEYS
        if unknown:
            raise ConfigError(f"scenario {name}: unknown key(s) {sorted(unknown)}")
        values = {k: None if v is None else float(v) for k, v in params.items()}
        out[str(name)] = Scenario(str(name), **values)
    if not out:
        raise ConfigError("at least one scenario is needed")
    return out


def variants_from_config(spec: Mapping[str, Any] | None, scenarios: Mapping[str, Scenario]
                         ) -> dict[str, dict[str, Scenario]]:
    """``{variant: {scenario name: Scenario}}`` from ``{variant: {scenario: {key: value overrides}}}``.

    Each override starts from the named scenario in ``scenarios`` (e.g. ``{"consistent_registry":
    {"good_expensive": {"ceiling_cost_per_m": None}}}``).
    """
    out: dict[str, dict[str, Scenario]] = {}
    for vname, scen_spec in dict(spec or {}).items():
        if str(vname) == PAPER_VARIANT:
            raise ConfigError(f"variant name {PAPER_VARIANT!r} is reserved for the paper's runs")
        out[str(vname)] = {}
        for sname, params in dict(scen_spec or {}).items():
            if sname not in scenarios:
                raise ConfigError(f"variant {vname}: unknown scenario {sname!r}; known: {list(scenarios)}")
            params = dict(params or {})
            unknown = set(params) - _SCENARIO_KEYS
            if unknown:
                raise ConfigError(f"variant {vname}/{sname}: unknown key(s) {sorted(unknown)}")
            base = scenarios[sname]
            values = {k: getattr(base, k) for k in _SCENARIO_KEYS}
            values.update({k: None if v is None else float(v) for k, v in params.items()})
            out[str(vname)][str(sname)] = Scenario(str(sname), **values)
        if not out[str(vname)]:
            raise ConfigError(f"variant {vname} has no scenario")
    return out


def scenario_events(scenario: Scenario, *, arm: int, start: int, stop: int, n_forced: int,
                    base_price: tuple[float, float], runs: Any = None) -> list:
    """Simulator events of ``scenario``: onboard ``arm`` at ``start`` and transform it on ``[start, stop)``.

    The registry price is the scenario's, else ``base_price`` (the portfolio's price of the new model);
    the ceiling price is the scenario's ``ceiling_cost_per_m`` (``None`` = the blended registry price);
    transforms that change nothing (scale 1) are omitted.
    """
    price = ((scenario.input_cost_per_m, scenario.output_cost_per_m) if scenario.input_cost_per_m is not None
             else tuple(float(p) for p in base_price))
    events: list = [Onboard(step=start, arm=arm, n_forced=n_forced, input_cost_per_m=float(price[0]),
                            output_cost_per_m=float(price[1]), runs=runs,
                            ceiling_cost_per_m=scenario.ceiling_cost_per_m)]
    if stop > start and scenario.reward_scale != 1.0:
        events.append(RewardTransform.scaled(arm, start, stop, scenario.reward_scale, runs=runs))
    if stop > start and scenario.cost_scale != 1.0:
        events.append(CostTransform(arm=arm, start=start, stop=stop, scale=scenario.cost_scale, runs=runs))
    return events


# ------------------------------------------------------------------------------------- adoption
def rolling_share(chosen, window: int) -> np.ndarray:
    """Share of ``True`` among the last ``window`` entries ending at each step (inclusive).

    ``chosen`` is (T,) or (S, T) boolean; the result has the same shape with NaN where fewer than
    ``window`` entries exist (steps ``< window − 1``).
    """
    x = np.asarray(chosen, dtype=bool)
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 1:
        raise ConfigError(f"window must be a positive integer, got {window!r}")
    one = x.ndim == 1
    x2 = np.atleast_2d(x).astype(np.int64)
    csum = np.concatenate([np.zeros((x2.shape[0], 1), dtype=np.int64), np.cumsum(x2, axis=1)], axis=1)
    out = np.full(x2.shape, np.nan)
    if x2.shape[1] >= window:
        out[:, window - 1:] = (csum[:, window:] - csum[:, :-window]) / window
    return out[0] if one else out


def adoption_steps(chosen, *, n_forced: int = 20, window: int = 100, threshold: float = 0.10,
                   sustain: int = 50, search_start: int | None = None) -> np.ndarray:
    """Sustained-adoption step of each run (−1 = not adopted).

    Parameters
    ----------
    chosen : bool array (T,) or (S, T)
        Whether the new arm was selected at each P2 step (step 0 = the first forced pull).
    n_forced, window : int
        The search starts at ``search_start`` (default ``n_forced + window``), so windows hold only
        post-onboarding, non-forced selections.
    threshold : float
        Minimum share of the new arm in the window (≥, compared on integer counts: a window qualifies
        when ``count ≥ ceil(threshold · window)`` up to 1e-9).
    sustain : int
        Number of consecutive qualifying steps needed; they must all lie inside the sequence.

    Returns
    -------
    int64 array () or (S,)
        The first step ``k ≥ search_start`` such that steps ``k … k + sustain − 1`` all qualify.
    """
    x = np.asarray(chosen)
    if x.dtype != bool:
        raise InvalidInputError(f"chosen must be a boolean array, got {x.dtype}")
    for name, v, low in (("n_forced", n_forced, 0), ("window", window, 1), ("sustain", sustain, 1)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low:
            raise ConfigError(f"{name} must be an integer >= {low}, got {v!r}")
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 <= threshold <= 1:
        raise ConfigError(f"threshold must be a number in [0, 1], got {threshold!r}")
    start = n_forced + window if search_start is None else int(search_start)
    if start < window - 1:
        raise ConfigError(f"search_start must be >= window - 1 = {window - 1}, got {start}")
    one = x.ndim == 1
    x2 = np.atleast_2d(x).astype(np.int64)
    n_runs, n_steps = x2.shape
    out = np.full(n_runs, -1, dtype=np.int64)
    if n_steps >= start + sustain:
        csum = np.concatenate([np.zeros((n_runs, 1), dtype=np.int64), np.cumsum(x2, axis=1)], axis=1)
        counts = csum[:, window:] - csum[:, :-window]                  # counts[:, j - window + 1] ends at j
        need = math.ceil(threshold * window - 1e-9)
        ok = np.zeros((n_runs, n_steps), dtype=np.int64)
        ok[:, window - 1:] = counts >= need
        run_csum = np.concatenate([np.zeros((n_runs, 1), dtype=np.int64), np.cumsum(ok, axis=1)], axis=1)
        full = (run_csum[:, sustain:] - run_csum[:, :-sustain]) == sustain   # steps k..k+sustain-1 all ok
        full[:, :start] = False
        hit = full.any(axis=1)
        out[hit] = full[hit].argmax(axis=1)
    return out[0] if one else out


# ------------------------------------------------------------------------------------- protocol
def _budgets(budgets) -> tuple[list[str], np.ndarray]:
    if isinstance(budgets, Mapping):
        names = [str(k) for k in budgets]
        values = [budgets[k] for k in budgets]
    else:
        values = list(budgets)
        names = [f"budget_{i + 1}" for i in range(len(values))]
    if not values:
        raise ConfigError("at least one budget is needed")
    arr = np.array([np.nan if v is None else float(v) for v in values])
    finite = arr[np.isfinite(arr)]
    if (finite <= 0).any() or np.isinf(arr).any():
        raise ConfigError(f"budgets must be positive numbers or None (no pacer), got {budgets!r}")
    return names, arr


def _sampled(n: int, every: int) -> np.ndarray:
    steps = np.arange(0, n, max(1, int(every)))
    if steps.size == 0 or steps[-1] != n - 1:
        steps = np.append(steps, n - 1)
    return steps


def _trailing_mean(x: np.ndarray, window: int) -> np.ndarray:
    """Mean of the last ``min(window, t + 1)`` entries ending at each step (rows = runs)."""
    csum = np.concatenate([np.zeros((x.shape[0], 1)), np.cumsum(x, axis=1)], axis=1)
    t = np.arange(1, x.shape[1] + 1)
    lo = np.maximum(t - window, 0)
    return (csum[:, t] - csum[:, lo]) / (t - lo)


def _scenario_record(s: Scenario, default_price) -> dict:
    pin = float(s.input_cost_per_m if s.input_cost_per_m is not None else default_price[0])
    pout = float(s.output_cost_per_m if s.output_cost_per_m is not None else default_price[1])
    return {"reward_scale": s.reward_scale, "cost_scale": s.cost_scale, "input_cost_per_m": pin,
            "output_cost_per_m": pout,
            "ceiling_cost_per_m": float((pin + pout) / 2 if s.ceiling_cost_per_m is None
                                        else s.ceiling_cost_per_m)}


def run_onboarding(*, features_val, rewards_val, costs_val, features_test, rewards_test, costs_test,
                   models: Sequence[str], prices, new_model: str, budgets, seeds,
                   scenarios: Mapping[str, Scenario] | None = None, router_params: dict | None = None,
                   pacer_params: dict | None = None, priors=None, n_forced: int = 20, window: int = 100,
                   threshold: float = 0.10, sustain: int = 50, last_steps: int = 200,
                   trace_every: int = 10, trace_window: int = 50, trace_p1_steps: int = 400,
                   switch_steps: int = 200, index_base: int = 1,
                   variants: Mapping[str, Mapping[str, Scenario]] | None = None, n_jobs: int = 1,
                   policy=None) -> dict:
    """Run Exp 04 for every scenario × budget × seed; return per-seed metrics and traces (JSON-able).

    Parameters
    ----------
    features_val, features_test : array (n, d)
        Context vectors (bias last) of the P1 (val) and P2 (test) rows.
    rewards_val, costs_val : array (n_val, K) or (n_val, K − 1)
        P1 tables; the new model's column is never read in P1 and may be absent (it is then filled
        with zeros), so P1 can run on a K = 3 table.
    rewards_test, costs_test : array (n_test, K)
        P2 tables, columns in ``models`` order.
    models : sequence of str
        Model ids of the columns of the test tables (and of the val tables, minus ``new_model`` when
        they have K − 1 columns).
    prices : mapping or array (K, 2)
        Registry prices ($/M) in ``models`` order or by model id; the new model's entry is its default
        onboarding price.
    new_model : str
        The model registered at the start of P2.
    budgets : mapping {name: B or None} or sequence
        Budgets in $/request; ``None`` = no pacer (λ = 0 throughout).
    seeds : sequence of int
        Trial seeds (docs/PROTOCOLS.md §3: ``9000 + i``).
    scenarios : mapping {name: Scenario}, optional
        Default :data:`SCENARIOS`.
    router_params, pacer_params, priors
        As for :func:`~paretobandit.experiments.budget_pacing.run_budget_pacing`; λ_c defaults to 0.
        The priors cover the original arms only; the new arm starts cold in every case.
    n_forced, window, threshold, sustain : adoption definition (:func:`adoption_steps`).
    last_steps : int
        The new arm's share is also reported over the last ``last_steps`` P2 steps.
    trace_every, trace_window, trace_p1_steps : int
        Traces are sampled every ``trace_every`` steps; cost/B and reward traces are trailing means over
        ``trace_window`` steps; the switch trace starts ``trace_p1_steps`` steps before P2. The share
        trace starts at the adoption search start (earlier windows hold forced pulls).
    switch_steps : int
        ``lambda_peak_switch`` is the largest λ over the first ``switch_steps`` P2 steps.
    index_base : {0, 1}
        Reported ``adoption_step`` = 0-based P2 step + ``index_base`` (the paper: 1).
    variants : mapping {variant: {scenario name: Scenario}}, optional
        Further scenario runs reported beside the paper's (cells carry ``variant``; the paper's are
        ``"paper"``), e.g. good_expensive with one consistent price (:func:`variants_from_config`).

    Returns
    -------
    dict
        ``cells``: one entry per scenario × budget with ``per_seed`` lists (``adoption_step`` (None =
        not adopted), P2 ``mean_reward``, ``mean_cost``, ``cost_ratio`` (= mean cost / B),
        ``cost_ratio_post_forced`` (P2 without the forced pulls), ``switch_cost_ratio`` (the forced pulls
        and the following ``window`` steps), ``flash_share`` (all P2 steps, forced pulls included),
        ``flash_share_post_forced``, ``flash_share_last``, ``p1_cost_ratio``, ``p1_mean_reward``,
        ``lambda_end_p1``, ``lambda_mean_p2``, ``lambda_peak_switch``, shares of every model in P2;
        ratios are None without a budget) and ``traces`` (mean and 10th/90th percentiles over seeds of
        the windowed share, λ and windowed cost/B through the switch; mean windowed $ cost and reward).
    """
    models = [str(m) for m in models]
    if new_model not in models:
        raise ConfigError(f"new_model {new_model!r} is not one of {models}")
    j_new = models.index(new_model)
    k = len(models)
    rv, cv = np.asarray(rewards_val, dtype=float), np.asarray(costs_val, dtype=float)
    if rv.ndim != 2 or cv.shape != rv.shape:
        raise DimensionMismatchError(
            f"rewards_val {rv.shape} and costs_val {cv.shape} must be equal (n, K) arrays")
    if rv.shape[1] == k - 1:                                  # a K = 3 val table: insert an unused column
        rv = np.insert(rv, j_new, 0.0, axis=1)
        cv = np.insert(cv, j_new, 0.0, axis=1)
    feats, rewards, costs, n_val, n_test = stack_tables(features_val, rv, cv, features_test, rewards_test,
                                                         costs_test)
    if rewards.shape[1] != k:
        raise DimensionMismatchError(f"{k} models but the tables have {rewards.shape[1]} columns")
    # The new arm goes last: the simulator's columns are the router's registration order.
    order = [j for j in range(k) if j != j_new] + [j_new]
    col_models = [models[j] for j in order]
    rewards, costs = rewards[:, order], costs[:, order]
    price = as_price_array(prices, models)[order]
    arm = k - 1
    names, bud = _budgets(budgets)
    scen = dict(SCENARIOS if scenarios is None else scenarios)
    if not scen:
        raise ConfigError("at least one scenario is needed")
    if index_base not in (0, 1) or isinstance(index_base, bool):
        raise ConfigError(f"index_base must be 0 or 1, got {index_base!r}")
    blocks = [(PAPER_VARIANT, n, s) for n, s in scen.items()]
    for vname, vscen in dict(variants or {}).items():
        if str(vname) == PAPER_VARIANT or not vscen:
            raise ConfigError(f"variant {vname!r}: a non-empty scenario mapping with a name other than "
                              f"{PAPER_VARIANT!r} is needed")
        blocks += [(str(vname), n, s) for n, s in vscen.items()]
    seeds = parse_seeds(seeds)
    for name, v, low in (("n_forced", n_forced, 0), ("last_steps", last_steps, 1),
                         ("trace_every", trace_every, 1), ("trace_window", trace_window, 1),
                         ("trace_p1_steps", trace_p1_steps, 0), ("switch_steps", switch_steps, 1)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low:
            raise ConfigError(f"{name} must be an integer >= {low}, got {v!r}")
    if n_forced >= n_test:
        raise ConfigError(f"n_forced = {n_forced} leaves no P2 step (n_test = {n_test})")
    cfg = router_config(router_params)
    mode, pacer = parse_pacer(pacer_params)
    policy = parse_policy(policy) if policy is None or isinstance(policy, Mapping) else policy
    pri = resolve_priors(priors, col_models, feats.shape[1])
    if pri is not None:                                       # the new arm never has a prior
        mask = np.ones(k, dtype=bool) if pri.mask is None else np.asarray(pri.mask, dtype=bool).copy()
        mask[arm] = False
        pri = type(pri)(a_off=pri.a_off, b_off=pri.b_off, mask=mask)

    # runs: (variant, scenario) block-major, then budget, then seed
    n_sc, n_b, n_s = len(blocks), len(names), len(seeds)
    base = warmup_test_streams(seeds, n_val, n_test)                        # (n_s, T)
    n_runs = n_sc * n_b * n_s
    streams = np.tile(base, (n_sc * n_b, 1))
    run_seeds = seeds * (n_sc * n_b)
    run_budget = [None if not np.isfinite(b) else float(b) for b in np.repeat(bud, n_s)] * n_sc
    total = n_val + n_test
    events: list = []
    for i, (_, _, sc) in enumerate(blocks):
        runs = np.zeros(n_runs, dtype=bool)
        runs[i * n_b * n_s:(i + 1) * n_b * n_s] = True
        events += scenario_events(sc, arm=arm, start=n_val, stop=total, n_forced=n_forced,
                                  base_price=tuple(price[arm]), runs=runs)
    res = simulate(feats, rewards, costs, streams, price, seeds=run_seeds, budget=run_budget, pacer_mode=mode,
                   priors=pri, config=cfg, pacer=pacer, policy=policy, events=events, n_jobs=n_jobs)

    p2 = slice(n_val, None)
    arms_p2 = res.arm[:, p2]
    is_new = arms_p2 == arm
    adopt = adoption_steps(is_new, n_forced=n_forced, window=window, threshold=threshold, sustain=sustain)
    last = min(last_steps, n_test)
    mean_reward = res.reward[:, p2].mean(axis=1)
    mean_cost = res.cost[:, p2].mean(axis=1)
    share_all = is_new.mean(axis=1)
    share_post = is_new[:, n_forced:].mean(axis=1)
    share_last = is_new[:, -last:].mean(axis=1)
    p1_reward = res.reward[:, :n_val].mean(axis=1)
    p1_cost = res.cost[:, :n_val].mean(axis=1)
    lam_end_p1 = res.lam[:, n_val - 1] if n_val else np.zeros(n_runs)
    lam_p2 = res.lam[:, p2].mean(axis=1)
    # through the switch: the forced pulls and the first window after them; λ's peak after onboarding
    early = min(n_forced + window, n_test)
    post_cost = res.cost[:, n_val + n_forced:].mean(axis=1) if n_forced < n_test else mean_cost
    switch_cost = res.cost[:, n_val:n_val + early].mean(axis=1)
    lam_peak = res.lam[:, n_val:n_val + min(switch_steps, n_test)].max(axis=1)
    shares = {m: (arms_p2 == j).mean(axis=1) for j, m in enumerate(col_models)}

    # traces
    share_roll = rolling_share(is_new, window)                              # (S, n_test), NaN early
    share_steps = _sampled(n_test, trace_every)
    share_steps = share_steps[share_steps >= max(n_forced + window, window - 1)]
    pre = min(trace_p1_steps, n_val)
    sw = slice(n_val - pre, None)
    cost_roll = _trailing_mean(res.cost, trace_window)[:, sw]        # windows may reach back before sw
    reward_roll = _trailing_mean(res.reward, trace_window)[:, sw]
    lam_sw = res.lam[:, sw]
    sw_steps = _sampled(pre + n_test, trace_every)

    def band(a: np.ndarray, cols: np.ndarray, scale: float = 1.0) -> dict:
        a = a[:, cols] / scale
        return {"mean": a.mean(axis=0).tolist(), "p10": np.percentile(a, 10, axis=0).tolist(),
                "p90": np.percentile(a, 90, axis=0).tolist()}

    cells = []
    for i, (vname, sname, _) in enumerate(blocks):
        for jb, bname in enumerate(names):
            lo = (i * n_b + jb) * n_s
            sl = slice(lo, lo + n_s)
            b = bud[jb]
            has_b = bool(np.isfinite(b))
            per_seed = {
                "seed": list(seeds),
                "adoption_step": [None if a < 0 else int(a) + int(index_base) for a in adopt[sl]],
                "mean_reward": mean_reward[sl].tolist(),
                "mean_cost": mean_cost[sl].tolist(),
                "cost_ratio": (mean_cost[sl] / b).tolist() if has_b else None,
                "flash_share": share_all[sl].tolist(),
                "flash_share_post_forced": share_post[sl].tolist(),
                "flash_share_last": share_last[sl].tolist(),
                "p1_mean_reward": p1_reward[sl].tolist(),
                "p1_mean_cost": p1_cost[sl].tolist(),
                "p1_cost_ratio": (p1_cost[sl] / b).tolist() if has_b else None,
                "cost_ratio_post_forced": (post_cost[sl] / b).tolist() if has_b else None,
                "switch_cost_ratio": (switch_cost[sl] / b).tolist() if has_b else None,
                "lambda_peak_switch": lam_peak[sl].tolist(),
                "lambda_end_p1": lam_end_p1[sl].tolist(),
                "lambda_mean_p2": lam_p2[sl].tolist(),
                "share": {m: shares[m][sl].tolist() for m in col_models},
            }
            traces = {
                "share": {"p2_step": share_steps.tolist(), **band(share_roll[sl], share_steps)},
                "switch": {"step": (sw_steps - pre).tolist(),     # 0 = first P2 request
                           "lambda": band(lam_sw[sl], sw_steps),
                           "cost_ratio": band(cost_roll[sl], sw_steps, b) if has_b else None,
                           "cost": {"mean": cost_roll[sl][:, sw_steps].mean(axis=0).tolist()},
                           "reward": {"mean": reward_roll[sl][:, sw_steps].mean(axis=0).tolist()}},
            }
            cells.append({"variant": vname, "scenario": sname, "budget": bname,
                          "budget_value": float(b) if has_b else None, "per_seed": per_seed,
                          "traces": traces})
    return {
        "experiment": "onboarding",
        "models": col_models,
        "new_model": new_model,
        "n_val": int(n_val),
        "n_test": int(n_test),
        "seeds": list(seeds),
        "budgets": {n: (float(b) if np.isfinite(b) else None) for n, b in zip(names, bud, strict=True)},
        "scenarios": {n: _scenario_record(s, price[arm]) for n, s in scen.items()},
        "variants": {v: {n: _scenario_record(s, price[arm]) for n, s in vs.items()}
                     for v, vs in dict(variants or {}).items()},
        "adoption": {"n_forced": int(n_forced), "window": int(window), "threshold": float(threshold),
                     "sustain": int(sustain), "search_start": int(n_forced + window),
                     "last_steps": int(last), "index_base": int(index_base)},
        "router_params": cfg.to_dict(),
        "pacer_params": pacer_record(mode, pacer),
        "priors": pri is not None,
        "trace": {"every": int(trace_every), "window": int(trace_window), "p1_steps": int(pre)},
        "cells": cells,
    }


#: ``experiment`` keys read after the run (summaries), not by :func:`run_onboarding`.
REPORT_KEYS = ("bootstrap",)


def run_from_config(cfg, *, val=None, test=None) -> dict:
    """:func:`run_onboarding` with every argument taken from the composed config ``cfg``.

    ``val`` / ``test`` default to :func:`paretobandit.workbench.report_onboarding.load_onboarding_splits`
    (P1 on the K = 3 val table, P2 on test_k4); :class:`~paretobandit.errors.ConfigError` for a missing
    or unread ``experiment`` key.
    """
    from .binding import Binding

    b = Binding(cfg, "onboarding", REPORT_KEYS)
    exp = b.experiment
    if val is None or test is None:
        from ..workbench.report_onboarding import load_onboarding_splits

        val, test = load_onboarding_splits(b.omegaconf())
    scenarios = scenarios_from_config(exp.plain("scenarios"))
    adoption, traces = exp["adoption"], exp["traces"]
    kwargs = dict(models=test.models, prices=b.prices(as_tuples=True), new_model=exp["new_model"],
                  budgets=exp.plain("budgets"), scenarios=scenarios, seeds=b.seeds(),
                  variants=variants_from_config(exp.plain("variants"), scenarios),
                  router_params=b.router_params(), pacer_params=b.pacer_params(), policy=b.policy(),
                  priors=b.priors(),
                  n_forced=exp["n_forced"], window=adoption["window"], threshold=adoption["threshold"],
                  sustain=adoption["sustain"], last_steps=adoption["last_steps"], trace_every=traces["every"],
                  trace_window=traces["window"], trace_p1_steps=traces["p1_steps"],
                  index_base=adoption["index_base"])
    b.check()
    return run_onboarding(**b.table_kwargs(val, test), **kwargs)
