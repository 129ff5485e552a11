"""Arena scenarios: the experiments' own tables, seeds, streams, budgets and events (Exp 01, 02, 03).

A :class:`Scenario` holds the ``[val; test]`` stack, one stream per seed (built by the experiments'
stream functions, so every contender sees exactly the rows the paper's router saw), the budgets, the
simulator events and the evaluated phases (stream positions). :meth:`Scenario.step_tables` gives the
*realised* reward and cost of every arm at every step of one run (the events' transforms applied) and
the registry price in force, which is what reference points and offline routers are scored on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..errors import ConfigError
from ..experiments.budget_drift import drift_shift
from ..experiments.budget_pacing import default_budgets
from ..experiments.common import as_price_array, prepare_tables
from ..experiments.phased import (
    effective_phase_length,
    phase_bounds,
    three_phase_trial_streams,
)
from ..experiments.quality_degradation import degradation_shift
from ..sim import (
    CostTransform,
    Onboard,
    PriceChange,
    RewardTransform,
    three_phase_prompts,
    warmup_test_streams,
)

__all__ = ["SCENARIOS", "Scenario", "budget_pacing_scenario", "onboarding_scenario", "phased_scenario"]

#: arena scenario name → (experiment results folder, scenario metric)
SCENARIOS = {
    "exp01": ("budget_pacing", None),
    "exp02": ("budget_drift", "p2_lift"),
    "exp03": ("quality_degradation", "recovery_ratio"),
    "exp04": ("onboarding", "adoption_step"),
}


@dataclass(frozen=True)
class Scenario:
    """One experiment as the arena runs it (see the module docstring)."""

    name: str
    experiment: str
    models: list[str]
    feats: np.ndarray
    rewards: np.ndarray
    costs: np.ndarray
    n_val: int
    prices: np.ndarray
    seeds: list[int]
    streams: np.ndarray
    budgets: dict[str, float]
    phases: list[tuple[str, int, int]]
    events: list = field(default_factory=list)
    metric: str | None = None
    adoption: dict | None = None

    @property
    def kind(self) -> str:
        """``exp01`` … ``exp04`` (Exp 04 scenarios are named ``exp04-<onboarding scenario>``)."""
        return self.name.split("-")[0]

    @property
    def onboarded(self) -> dict[int, int]:
        """``{arm: step}`` of the arms registered at runtime (absent before ``step``)."""
        return {ev.arm: ev.step for ev in self.events if isinstance(ev, Onboard)}

    @property
    def initial_arms(self) -> list[int]:
        """Arms registered from the first request."""
        return [j for j in range(self.k) if j not in self.onboarded]

    def registered(self, n_steps: int) -> np.ndarray:
        """(T, K) bool: arm registered at each stream step."""
        mask = np.ones((n_steps, self.k), dtype=bool)
        for arm, step in self.onboarded.items():
            mask[:step, arm] = False
        return mask

    @property
    def k(self) -> int:
        """Number of arms."""
        return len(self.models)

    @property
    def eval_slice(self) -> slice:
        """Stream positions of the evaluated (test) steps."""
        return slice(self.phases[0][1], self.phases[-1][2])

    def val_view(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Val features, rewards and costs (the offline routers' training data)."""
        v = slice(0, self.n_val)
        return self.feats[v], self.rewards[v], self.costs[v]

    def val_key(self) -> str:
        """Digest of the val tables and initial prices (scenarios with equal keys share λ_c fits)."""
        import hashlib

        h = hashlib.sha256()
        for a in (*self.val_view(), self.prices):
            h.update(np.ascontiguousarray(a, dtype=float).tobytes())
        return h.hexdigest()[:16]

    def step_tables(self, run: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(R, C, P)`` of run ``run``: realised reward and $ cost of every arm at every stream step
        (events' transforms applied) and the registry's blended price ($/M, input + output over 2)."""
        rows = self.streams[run]
        r = self.rewards[rows].copy()
        c = self.costs[rows].copy()
        price = np.tile(self.prices.sum(axis=1) / 2.0, (rows.size, 1))
        for ev in sorted((e for e in self.events if isinstance(e, PriceChange)), key=lambda e: e.step):
            price[ev.step :, ev.arm] = (ev.input_cost_per_m + ev.output_cost_per_m) / 2.0
        for ev in self.events:
            if isinstance(ev, RewardTransform):
                r[ev.start : ev.stop, ev.arm] = ev.apply(r[ev.start : ev.stop, ev.arm])
            elif isinstance(ev, CostTransform):
                c[ev.start : ev.stop, ev.arm] = ev.apply(c[ev.start : ev.stop, ev.arm])
        return r, c, price


def _tables(val, test):
    return prepare_tables(
        val.models, val.features, val.rewards, val.costs, test.features, test.rewards, test.costs
    )


def budget_pacing_scenario(
    val, test, prices: Mapping, seeds: Sequence[int], budgets=None, n_budgets: int = 7
) -> Scenario:
    """Exp 01: warm-up on the seed's shuffled val, evaluate on its shuffled test (seven budgets)."""
    t = _tables(val, test)
    b = np.asarray(budgets if budgets is not None else default_budgets(val.costs, n_budgets), dtype=float)
    streams = warmup_test_streams(list(seeds), t.n_val, t.n_test)
    labels = {f"B{i + 1}": float(v) for i, v in enumerate(b)}
    return Scenario(
        "exp01",
        "budget_pacing",
        t.models,
        t.feats,
        t.rewards,
        t.costs,
        t.n_val,
        as_price_array(prices, t.models),
        [int(s) for s in seeds],
        streams,
        labels,
        [("test", t.n_val, t.n_val + t.n_test)],
        [],
        None,
    )


def phased_scenario(
    name: str,
    val,
    test,
    prices: Mapping,
    seeds: Sequence[int],
    budgets: Mapping[str, float],
    *,
    phase_length: int = 608,
    phase_seed: int = 42,
    drift_model: str | None = None,
    new_price: tuple[float, float] = (0.10, 0.10),
    degraded_model: str | None = None,
    degraded_reward: float = 0.75,
) -> Scenario:
    """Exp 02 (``drift_model`` repriced in P2) or Exp 03 (``degraded_model`` silently at a constant)."""
    if name not in ("exp02", "exp03"):
        raise ConfigError(f"phased scenarios are exp02 and exp03, got {name!r}")
    t = _tables(val, test)
    base = as_price_array(prices, t.models)
    if name == "exp02":
        shift = drift_shift(t.models, base, drift_model or "google/gemini-2.5-pro", new_price)
    else:
        shift = degradation_shift(t.models, degraded_model or "mistralai/mistral-large-2512", degraded_reward)
    length = effective_phase_length(t.n_test, phase_length)
    phases = three_phase_prompts(t.n_test, length, phase_seed)
    bounds = phase_bounds(t.n_val, [len(p) for p in phases])
    streams = three_phase_trial_streams(list(seeds), t.n_val, phases)
    experiment, metric = SCENARIOS[name]
    labelled = [(f"P{j + 1}", a, b) for j, (a, b) in enumerate(bounds)]
    return Scenario(
        name,
        experiment,
        t.models,
        t.feats,
        t.rewards,
        t.costs,
        t.n_val,
        base,
        [int(s) for s in seeds],
        streams,
        {str(k): float(v) for k, v in budgets.items()},
        labelled,
        shift.events(bounds, base),
        metric,
    )


def onboarding_scenario(
    val,
    test,
    prices: Mapping,
    seeds: Sequence[int],
    budgets: Mapping[str, float],
    *,
    new_model: str,
    scenario,
    n_forced: int = 20,
    adoption: Mapping | None = None,
) -> Scenario:
    """Exp 04 (one onboarding scenario): P1 routes the val split over the original arms, the new model is
    registered cold at the first P2 (test) request, forced ``n_forced`` times, then competes. ``val`` may
    lack the new model's column (it is then zero-filled: never read). ``scenario`` is an
    :class:`paretobandit.experiments.onboarding.Scenario`; its ``ceiling_cost_per_m`` must be ``None``
    (one price per arm: the online router has no separate ceiling price)."""
    from ..experiments.onboarding import scenario_events

    if scenario.ceiling_cost_per_m is not None:
        raise ConfigError(
            "the arena runs Exp 04 with one consistent registry price (ceiling_cost_per_m = None)"
        )
    models = [str(m) for m in test.models]
    if new_model not in models:
        raise ConfigError(f"new model {new_model!r} is not in the test portfolio {models}")
    arm = models.index(new_model)
    rv, cv = np.asarray(val.rewards, dtype=float), np.asarray(val.costs, dtype=float)
    if rv.shape[1] == len(models) - 1:
        rv, cv = (np.insert(a, arm, 0.0, axis=1) for a in (rv, cv))
    t = prepare_tables(models, val.features, rv, cv, test.features, test.rewards, test.costs)
    base = as_price_array(prices, models)
    streams = warmup_test_streams(list(seeds), t.n_val, t.n_test)
    total = t.n_val + t.n_test
    events = scenario_events(
        scenario, arm=arm, start=t.n_val, stop=total, n_forced=int(n_forced), base_price=tuple(base[arm])
    )
    return Scenario(
        f"exp04-{scenario.name}",
        "onboarding",
        models,
        t.feats,
        t.rewards,
        t.costs,
        t.n_val,
        base,
        [int(s) for s in seeds],
        streams,
        {str(k): float(v) for k, v in budgets.items()},
        [("P2", t.n_val, total)],
        events,
        "adoption_step",
        dict(adoption or {}, n_forced=int(n_forced), arm=arm),
    )
