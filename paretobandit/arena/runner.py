"""Run the arena: every contender × scenario × budget on the experiments' seeds, in parallel (joblib).

Three kinds of job, all returning ``{contender, family, form, budget, runs, reward (S', P), cost (S', P),
route_ns, update_ns, note}`` (per-run p50 timings in ns over the evaluated steps):

* online — a policy plug-in through :func:`~paretobandit.arena.loop.run_online` (one router per run);
* offline — fit on val, calibrate to each budget, decide every evaluated step (vectorised), time
  :meth:`route_one` on the first queries;
* reference — fixed models, uniform random and the per-prompt oracle on the realised tables.

ParetoBandit's budget rows come from the experiments' results (:mod:`.published`); the runner replays
``timing_runs`` of them through the loop to time the router and records the largest reward difference
between replay and published rows (``replay_max_abs_diff``, 0 when the two agree).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Mapping, Sequence

import numpy as np

from ..experiments.conditions import LAMBDA_GRID
from ..sim import Onboard
from .contenders import Contender
from .loop import make_router, run_online
from .metrics import oracle_runs, phase_means, summary_rows
from .published import experiment_per_seed, published_runs
from .scenarios import Scenario

__all__ = ["fit_static_penalty", "run_arena"]

N_TIMED = 200  # offline routers: queries timed one at a time per (contender, scenario)


def _label(c: Contender, form: str) -> str:
    main = {"paretobandit": "paced", "library": "paced"}.get(c.family, "quality")
    return c.name if form in ("", main) else f"{c.name} ({form})"


def _result(
    c: Contender, form: str, budget, runs, reward, cost, route=None, update=None, note="", all_budgets=True
) -> dict:
    return {
        "contender": _label(c, form),
        "name": c.name,
        "family": c.family,
        "form": form,
        "budget": budget,
        "runs": list(runs),
        "reward": np.asarray(reward).tolist(),
        "cost": np.asarray(cost).tolist(),
        "route_ns": None if route is None else [float(v) for v in route],
        "update_ns": None if update is None else [float(v) for v in update],
        "note": note,
        "all_budgets": all_budgets,
    }


# ------------------------------------------------------------------------------------------ online
def _online(
    scenario: Scenario,
    c: Contender,
    form: str,
    budget,
    runs,
    config,
    pacer_mode,
    pacer_params,
    priors,
    lam_c: float = 0.0,
) -> dict:
    factory = c.factory()
    cfg = config.replace(cost_penalty=float(lam_c))
    b = scenario.budgets[budget] if form == "paced" else None
    ev = scenario.eval_slice
    rew, cst, route, update, adopt = [], [], [], [], []
    for run in runs:
        router = make_router(
            scenario,
            seed=scenario.seeds[run],
            config=cfg,
            budget=b,
            pacer_params=pacer_params,
            pacer_mode=pacer_mode,
            policy=factory,
            priors=priors if c.priors else None,
        )
        out = run_online(scenario, run, router)
        rew.append(phase_means(scenario, out["reward"]))
        cst.append(phase_means(scenario, out["cost"]))
        route.append(np.median(out["route_ns"][ev]))
        update.append(np.median(out["update_ns"][ev]))
        if scenario.adoption is not None:
            adopt.append(_adoption(scenario, out["arm"]))
    note = f"lambda_c={lam_c:g} fitted on val" if form == "static" else ""
    res = _result(c, form, budget if form != "quality" else None, runs, rew, cst, route, update, note)
    if scenario.adoption is not None:
        res["metric_runs"] = adopt
    return res


def _adoption(scenario: Scenario, arm: np.ndarray) -> float:
    """Exp 04's sustained-adoption step of one run (1-indexed P2 step; NaN = not adopted)."""
    from ..experiments.onboarding import adoption_steps

    a = dict(scenario.adoption)
    chosen = np.asarray(arm)[scenario.eval_slice] == a["arm"]
    k = int(
        adoption_steps(
            chosen,
            n_forced=a["n_forced"],
            window=a.get("window", 100),
            threshold=a.get("threshold", 0.10),
            sustain=a.get("sustain", 50),
        )
    )
    return float(k + a.get("index_base", 1)) if k >= 0 else math.nan


def _val_scenario(scenario: Scenario, seed: int) -> Scenario:
    """The val split alone, shuffled by ``default_rng(seed)`` (the λ_c fit of :func:`fit_static_penalty`)."""
    order = np.random.default_rng(seed).permutation(scenario.n_val)
    onboard = [e for e in scenario.events if isinstance(e, Onboard)]  # keeps runtime arms unregistered
    return dataclasses.replace(
        scenario,
        streams=order[None, :],
        seeds=[int(seed)],
        events=onboard,
        phases=[("val", 0, scenario.n_val)],
    )


def _fit_cost(scenario: Scenario, c: Contender, lam_c: float, seed: int, config) -> float:
    val = _val_scenario(scenario, seed)
    router = make_router(
        val, seed=seed, config=config.replace(cost_penalty=float(lam_c)), policy=c.factory(), priors=None
    )
    return float(run_online(val, 0, router)["cost"].mean())


def fit_static_penalty(val_costs: Mapping[float, float], budgets: Mapping[str, float]) -> dict[str, float]:
    """Per budget the grid λ_c whose mean val cost is closest to B (ties: the smaller λ_c)."""
    grid = sorted(val_costs)
    return {label: float(min(grid, key=lambda g: (abs(val_costs[g] - b), g))) for label, b in budgets.items()}


# ------------------------------------------------------------------------------------------ offline
def _offline(scenario: Scenario, c: Contender, runs) -> list[dict]:
    cols = scenario.initial_arms  # an offline router cannot add a model at runtime
    fv, rv, cv = scenario.val_view()
    router = c.offline_router().fit(fv, rv[:, cols], cv[:, cols], scenario.prices[cols])
    ev = scenario.eval_slice
    note = "no online updates" + ("; cannot add a model at runtime" if scenario.onboarded else "")
    out = []
    route_ns = None
    for label in [None, *scenario.budgets]:
        router.calibrate(scenario.budgets[label] if label is not None else None)
        rew, cst = [], []
        for run in runs:
            r, cc, p = scenario.step_tables(run)
            rows = scenario.streams[run][ev]
            feats, price = scenario.feats[rows], p[ev]
            price = price[:, cols]
            if hasattr(router, "fit_dual"):
                router.fit_dual(feats, price)
            arm = np.asarray(cols)[router.decide(feats, price)]
            full_arm = np.zeros(scenario.streams.shape[1], dtype=np.int64)
            full_arm[ev] = arm
            steps = np.arange(full_arm.size)
            rew.append(phase_means(scenario, r[steps, full_arm]))
            cst.append(phase_means(scenario, cc[steps, full_arm]))
            if route_ns is None:
                route_ns = []
                for i in range(min(N_TIMED, rows.size)):
                    t0 = time.perf_counter_ns()
                    router.route_one(feats[i], price[i])
                    route_ns.append(time.perf_counter_ns() - t0)
        res = _result(c, "", label, runs, rew, cst, [np.median(route_ns)], None, note, all_budgets=False)
        if scenario.adoption is not None:
            res["metric_runs"] = [math.nan] * len(runs)  # never sees the new model
        out.append(res)
    return out


# ------------------------------------------------------------------------------------------ reference
def _reference(scenario: Scenario, c: Contender, runs) -> list[dict]:
    per_arm = {j: ([], []) for j in range(scenario.k)}
    rnd, orc = ([], []), ([], [])
    for run in runs:
        r, cc, _ = scenario.step_tables(run)
        steps = np.arange(r.shape[0])
        for j in range(scenario.k):
            per_arm[j][0].append(phase_means(scenario, r[:, j]))
            per_arm[j][1].append(phase_means(scenario, cc[:, j]))
        ok = scenario.registered(r.shape[0])
        n_ok = ok.sum(axis=1)
        nth = np.random.default_rng(scenario.seeds[run]).integers(n_ok)  # the nth registered arm
        pick = (np.cumsum(ok, axis=1) > nth[:, None]).argmax(axis=1)
        rnd[0].append(phase_means(scenario, r[steps, pick]))
        rnd[1].append(phase_means(scenario, cc[steps, pick]))
        ro = np.where(ok, r, -np.inf)
        best = ro.max(axis=1, keepdims=True)
        arm = np.where(ro >= best, cc, np.inf).argmin(axis=1)
        orc[0].append(phase_means(scenario, r[steps, arm]))
        orc[1].append(phase_means(scenario, cc[steps, arm]))
    if c.kind == "fixed":
        short = [m.split("/")[-1] for m in scenario.models]
        return [
            dict(_result(c, "", None, runs, *per_arm[j]), contender=f"fixed: {short[j]}")
            for j in range(scenario.k)
        ]
    return [_result(c, "", None, runs, *(rnd if c.kind == "random" else orc))]


# ------------------------------------------------------------------------------------------ driver
def fit_jobs_desc(fit_jobs):
    """Fit jobs ``(si, c, λ, seed)`` in the shape of run jobs (for the CPU accounting)."""
    return [(None, si, c, lam, s, None) for si, c, lam, s in fit_jobs]


def _timed(fn, *args):
    """``(fn(*args), CPU seconds of the call)`` (summed over jobs: the wall time of an idle machine)."""
    t0 = time.process_time()
    out = fn(*args)
    return out, time.process_time() - t0


def _plan(scenarios, contenders, max_seeds, fits) -> list[tuple]:
    jobs = []
    for si, sc in enumerate(scenarios):
        for c in contenders:
            limit = max_seeds.get(c.family)
            runs = list(range(len(sc.seeds) if limit is None else min(int(limit), len(sc.seeds))))
            if c.kind == "offline":
                jobs.append(("offline", si, c, "", None, runs, 0.0))
            elif c.kind in ("fixed", "random", "oracle"):
                jobs.append(("reference", si, c, "", None, runs, 0.0))
            elif c.family == "paretobandit":
                continue  # planned by _paretobandit_jobs
            else:
                for form in c.forms:
                    if form == "quality":
                        jobs.append(("online", si, c, form, None, runs, 0.0))
                        continue
                    for label in sc.budgets:
                        lam = fits.get((c.name, si), {}).get(label, 0.0) if form == "static" else 0.0
                        jobs.append(("online", si, c, form, label, runs, lam))
    return jobs


def _paretobandit_jobs(scenarios, c, timing_runs) -> list[tuple]:
    jobs = []
    for si, sc in enumerate(scenarios):
        timed = list(range(min(int(timing_runs), len(sc.seeds))))
        if sc.kind == "exp01":  # the experiment has no unpaced router: the quality form runs in full
            jobs.append(("online", si, c, "quality", None, list(range(len(sc.seeds))), 0.0))
        else:
            jobs.append(("online", si, c, "quality", None, timed, 0.0))
        jobs += [("online", si, c, "paced", label, timed, 0.0) for label in sc.budgets]
    return jobs


def run_arena(
    scenarios: Sequence[Scenario],
    contenders: Sequence[Contender],
    *,
    config,
    pacer_params,
    pacer_mode: str = "adaptive",
    priors=None,
    results_root=None,
    max_seeds: Mapping | None = None,
    fit_seeds: Sequence[int] = (0,),
    lambda_grid: Sequence[float] = LAMBDA_GRID,
    timing_runs: int = 1,
    n_jobs: int = 1,
    n_resamples: int = 10_000,
    ci_seed: int = 42,
) -> dict:
    """Run the arena and return ``{"rows": summary rows, "results": per-job results, "unavailable": {...},
    "static_penalty": {...}, "replay_max_abs_diff": {...}, "wall_seconds": {...}}``.

    ``max_seeds`` caps the seeds per family (``{"library": 5}``: the first five of each scenario's seeds);
    ``results_root`` is where the experiments' ``results.json`` are read for ParetoBandit's rows.
    """
    from joblib import Parallel, delayed

    t_start = time.perf_counter()
    max_seeds = dict(max_seeds or {})
    unavailable = {c.name: why for c in contenders if (why := c.available()) is not None}
    ready = [c for c in contenders if c.name not in unavailable]
    par = Parallel(n_jobs=n_jobs, backend="loky" if n_jobs != 1 else "sequential")

    # 1. static λ_c fits on val (one pass per contender × val split × grid value × fit seed; scenarios
    #    sharing a val split and its prices share the fit)
    first = {}
    for si, sc in enumerate(scenarios):
        first.setdefault(sc.val_key(), si)
    fit_jobs = [
        (si, c, lam, s)
        for si in sorted(set(first.values()))
        for c in ready
        if c.kind == "online" and "static" in c.forms
        for lam in lambda_grid
        for s in fit_seeds
    ]
    fitted = par(delayed(_timed)(_fit_cost, scenarios[si], c, lam, s, config) for si, c, lam, s in fit_jobs)
    cpu = sum(v[1] for v in fitted)
    by_cell: dict = {}
    for (si, c, lam, _), (v, _) in zip(fit_jobs, fitted, strict=True):
        by_cell.setdefault((c.name, scenarios[si].val_key()), {}).setdefault(float(lam), []).append(v)
    fits = {
        (name, si): fit_static_penalty(
            {g: float(np.mean(v)) for g, v in by_cell[(name, sc.val_key())].items()}, sc.budgets
        )
        for si, sc in enumerate(scenarios)
        for name in {k[0] for k in by_cell}
    }
    t_fit = time.perf_counter()

    # 2. every run
    jobs = _plan(scenarios, ready, max_seeds, fits)
    pb = [c for c in ready if c.family == "paretobandit"]
    if pb:
        jobs += _paretobandit_jobs(scenarios, pb[0], timing_runs)
    cost_rank = {"online": 0, "offline": 1, "reference": 2}
    order = sorted(range(len(jobs)), key=lambda i: (cost_rank[jobs[i][0]], -len(jobs[i][5])))

    def call(job):
        kind, si, c, form, label, runs, lam = job
        sc = scenarios[si]
        if kind == "online":
            return [_online(sc, c, form, label, runs, config, pacer_mode, pacer_params, priors, lam)]
        if kind == "offline":
            return _offline(sc, c, runs)
        return _reference(sc, c, runs)

    done = par(delayed(_timed)(call, jobs[i]) for i in order)
    cpu += sum(v[1] for v in done)
    by_job = dict(zip(order, (v[0] for v in done), strict=True))
    cpu_by: dict[str, float] = {}  # CPU seconds per contender (fits included): where the time goes
    for (_, _, c, _, _, _), (_, sec) in zip(fit_jobs_desc(fit_jobs), fitted, strict=True):
        cpu_by[c.name] = cpu_by.get(c.name, 0.0) + sec
    for i, (_, sec) in zip(order, done, strict=True):
        name = jobs[i][2].name
        cpu_by[name] = cpu_by.get(name, 0.0) + sec
    t_run = time.perf_counter()

    # 3. ParetoBandit: published rows + the loop's timings
    results, replay, sources, published = [], {}, {}, {}
    pacer_dict = {
        "mode": pacer_mode,
        "eta": pacer_params.eta,
        "ema": pacer_params.ema_alpha,
        "lambda_cap": pacer_params.lambda_cap,
        "ceiling_multiplier": pacer_params.ceiling_multiplier,
    }
    for i, job in enumerate(jobs):
        kind, si, c, form, label, runs, _ = job
        sc = scenarios[si]
        for res in by_job[i]:
            res["scenario"] = sc.name
            if c.family != "paretobandit" or (sc.kind == "exp01" and form == "quality"):
                results.append(res)
                continue
            if sc.name not in sources:
                per_seed, sources[sc.name] = experiment_per_seed(
                    sc, results_root, router_params=config.to_dict(), pacer_params=pacer_dict, priors=priors
                )
                published[sc.name] = published_runs(sc, per_seed)
            pub = published[sc.name]
            rew, cst, adopt = pub[label]
            diff = float(np.abs(np.asarray(res["reward"]) - rew[res["runs"]]).max())
            replay[f"{sc.name}/{label or 'unconstrained'}"] = diff
            all_runs = list(range(len(sc.seeds)))
            merged = _result(
                c,
                form,
                label,
                all_runs,
                rew,
                cst,
                res["route_ns"],
                res["update_ns"],
                f"experiment rows ({sources[sc.name]}); latency from {len(res['runs'])} replayed run(s)",
            )
            merged["scenario"] = sc.name
            if adopt is not None:
                merged["metric_runs"] = adopt
            results.append(merged)

    rows = []
    oracles = {sc.name: oracle_runs(sc) for sc in scenarios}
    for res in results:
        sc = next(s for s in scenarios if s.name == res["scenario"])
        if res["budget"] is None and not res.get("all_budgets", True):
            rows += [
                r
                for r in summary_rows(sc, res, oracles[sc.name], n_resamples=n_resamples, ci_seed=ci_seed)
                if r["budget"] == "unconstrained"
            ]
        else:
            rows += summary_rows(sc, res, oracles[sc.name], n_resamples=n_resamples, ci_seed=ci_seed)
    for name, why in unavailable.items():
        c = next(c for c in contenders if c.name == name)
        for sc in scenarios:
            rows.append(
                {
                    "contender": name,
                    "family": c.family,
                    "scenario": sc.name,
                    "budget": "",
                    "phase": "",
                    **{
                        k: math.nan
                        for k in (
                            "mean_reward",
                            "reward_ci_low",
                            "reward_ci_high",
                            "cost_ratio",
                            "cost_ratio_worst_seed",
                            "violation_share",
                            "regret",
                            "scenario_metric",
                            "route_p50_us",
                            "update_p50_us",
                            "budget_value",
                        )
                    },
                    "form": "",
                    "n_seeds": 0,
                    "note": f"not run: {why}",
                }
            )
    return {
        "rows": rows,
        "results": results,
        "unavailable": unavailable,
        "static_penalty": {f"{k[0]}/{scenarios[k[1]].name}": v for k, v in fits.items()},
        "replay_max_abs_diff": replay,
        "cpu_seconds_by_contender": cpu_by,
        "paretobandit_source": sources,
        "cpu_seconds": cpu,
        "wall_seconds": {
            "fit": t_fit - t_start,
            "runs": t_run - t_fit,
            "total": time.perf_counter() - t_start,
        },
    }
