"""Plug-ins beside ParetoBandit: Exp 01 and Exp 03 (ParetoBandit's condition) for each router.

A *router* is a (policy, pacer) pair, each ``"builtin"`` (the composed ``router.policy`` / ``pacer`` group:
LinUCB and the primal–dual pacer) or ``"plugin"`` (``experiment.plugins.router.policy`` /
``experiment.plugins.pacer``: by default examples/thompson_policy.py and examples/pi_pacer.py). Every
(experiment, router) pair is one call of the experiment's own run function —
:func:`~.budget_pacing.run_budget_pacing` and :func:`~.quality_degradation.run_quality_degradation` with
``conditions=["paretobandit"]`` — so the ParetoBandit entries are notebook 01's and 03's runs (same seeds,
budgets, function). The pairs run in ``n_jobs`` worker processes; each call is deterministic, so the results
do not depend on ``n_jobs``.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor

from ..errors import ConfigError
from .budget_pacing import default_budgets, run_budget_pacing
from .common import make_seeds
from .quality_degradation import run_quality_degradation

__all__ = ["EXPERIMENTS", "ROUTER_LABELS", "router_specs", "run_jobs", "run_plugins", "run_from_config"]

#: The two experiments and the run function each job calls.
EXPERIMENTS = {"budget_pacing": run_budget_pacing, "quality_degradation": run_quality_degradation}
ROUTER_LABELS = {"paretobandit": "ParetoBandit", "pi_pacer": "PI pacer", "thompson": "Thompson",
                 "thompson_pi": "Thompson + PI"}
_CHOICES = ("builtin", "plugin")


def router_specs(routers: Mapping[str, Mapping[str, str]], *, policy: Mapping | None, pacer: Mapping,
                 plugin_policy: Mapping, plugin_pacer: Mapping) -> dict[str, dict]:
    """``{router: {"policy": spec | None, "pacer_params": spec}}`` from each router's builtin/plugin choice.

    Raises :class:`~paretobandit.errors.ConfigError` for a choice other than ``builtin`` / ``plugin`` or a
    plug-in without ``_target_``.
    """
    for what, spec in (("policy", plugin_policy), ("pacer", plugin_pacer)):
        if not isinstance(spec, Mapping) or "_target_" not in spec:
            raise ConfigError(f"the plug-in {what} needs a _target_, got {spec!r}")
    out = {}
    for name, choice in routers.items():
        picks = {k: choice.get(k) for k in ("policy", "pacer")} if isinstance(choice, Mapping) else {}
        if set(picks.values()) - set(_CHOICES) or len(picks) != 2:
            raise ConfigError(f"router {name!r}: policy and pacer must each be one of {_CHOICES}, "
                              f"got {choice!r}")
        builtin_policy = dict(policy) if policy else None
        out[str(name)] = {"policy": dict(plugin_policy) if picks["policy"] == "plugin" else builtin_policy,
                          "pacer_params": dict(plugin_pacer if picks["pacer"] == "plugin" else pacer)}
    if not out:
        raise ConfigError("routers must name at least one router")
    return out


def _call(job: tuple[str, dict]) -> dict:
    experiment, kwargs = job
    return EXPERIMENTS[experiment](**kwargs)


def run_jobs(jobs: Sequence[tuple[str, dict]], n_jobs: int = 1) -> list[dict]:
    """Results of ``[(experiment, kwargs)]`` in order; ``n_jobs > 1`` runs them in forked worker processes
    (sequentially where ``fork`` is unavailable)."""
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs < 1:
        raise ConfigError(f"n_jobs must be a positive integer, got {n_jobs!r}")
    bad = [e for e, _ in jobs if e not in EXPERIMENTS]
    if bad:
        raise ConfigError(f"unknown experiment(s) {bad}; known: {sorted(EXPERIMENTS)}")
    if n_jobs == 1 or len(jobs) < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return [_call(j) for j in jobs]
    with ProcessPoolExecutor(min(n_jobs, len(jobs)), mp_context=multiprocessing.get_context("fork")) as pool:
        return list(pool.map(_call, jobs))


def run_plugins(*, tables: Mapping, models: Sequence[str], prices, routers: Mapping[str, Mapping],
                router_params: Mapping, priors, pacing: Mapping, degradation: Mapping,
                n_resamples: int = 10_000, ci_seed: int = 42, n_jobs: int = 1) -> dict:
    """Exp 01 and Exp 03 for every router of :func:`router_specs`; returns ``{"routers": [...],
    "budget_pacing": {router: run_budget_pacing output}, "quality_degradation": {router: ...}}``.

    ``tables`` holds the ``features_val`` … ``costs_test`` keyword arguments; ``pacing`` has ``seeds`` and
    ``budgets``; ``degradation`` the keyword arguments of ``run_quality_degradation`` besides the tables,
    models, prices, router and priors (``seeds``, ``budgets``, ``phase_length``, ``degraded_model``, …).
    """
    common = dict(tables, models=list(models), prices=prices, router_params=dict(router_params),
                  priors=priors)
    jobs, keys = [], []
    for name, spec in routers.items():
        jobs.append(("budget_pacing", dict(common, **spec, seeds=list(pacing["seeds"]),
                                           budgets=list(pacing["budgets"]), n_resamples=n_resamples,
                                           ci_seed=ci_seed)))
        jobs.append(("quality_degradation", dict(common, **spec, **degradation, conditions=["paretobandit"])))
        keys += [("budget_pacing", name), ("quality_degradation", name)]
    out: dict = {"experiment": "plugins", "routers": list(routers), "budget_pacing": {},
                 "quality_degradation": {}}
    for (experiment, name), result in zip(keys, run_jobs(jobs, n_jobs), strict=True):
        out[experiment][name] = result
    return out


#: ``experiment`` keys read after the run (summaries), not by :func:`run_plugins`.
REPORT_KEYS = ("bootstrap",)


def run_from_config(cfg, *, val=None, test=None) -> dict:
    """:func:`run_plugins` with every argument taken from the composed config ``cfg`` (``val`` / ``test``
    loaded when not given). Exp 01's budgets are ``experiment.pacing.budget_index`` of its seven
    (:func:`~.budget_pacing.default_budgets`; ``null`` = all), ``budget_index`` is stored 1-based in the
    output as ``budget_numbers``."""
    from .binding import Binding

    b = Binding(cfg, "plugins", REPORT_KEYS)
    exp = b.experiment
    val, test = b.splits("val", "test", given={"val": val, "test": test})
    plugins = exp.plain("plugins")      # the whole plug-in router group; only its policy is used
    specs = router_specs(exp.plain("routers"), policy=b.policy(), pacer=b.pacer_params(),
                         plugin_policy=plugins["router"]["policy"], plugin_pacer=plugins["pacer"])
    pace, deg = exp["pacing"], exp["degradation"]
    grid = default_budgets(val.costs, pace["n_budgets"])
    index = pace.get("budget_index")
    index = list(range(len(grid))) if index is None else [int(i) for i in index]
    if not index or any(not 0 <= i < len(grid) for i in index):
        raise ConfigError(f"experiment.pacing.budget_index must pick from 0..{len(grid) - 1}, got {index}")
    degradation = dict(seeds=make_seeds(deg["seed_offset"], deg["n_seeds"]), budgets=deg.plain("budgets"),
                       phase_length=deg["phase_length"], phase_seed=deg["phase_seed"],
                       degraded_model=deg["model"], degraded_reward=deg["reward"],
                       penalty_mode=deg["penalty_mode"], static_penalty=deg.plain("static_penalty"),
                       window=deg["window"], late_steps=deg["late_steps"], trace_stride=deg["trace_stride"])
    boot = exp["bootstrap"]
    kwargs = dict(tables=b.table_kwargs(val, test), models=val.models, prices=b.prices(), routers=specs,
                  router_params=b.router_params(), priors=b.priors(),
                  pacing={"seeds": make_seeds(pace["seed_offset"], pace["n_seeds"]),
                          "budgets": [float(grid[i]) for i in index]},
                  degradation=degradation, n_resamples=boot["n_resamples"], ci_seed=boot["seed"],
                  n_jobs=exp["n_jobs"])
    b.check()
    out = run_plugins(**kwargs)
    out["budget_numbers"] = [i + 1 for i in index]
    return out
