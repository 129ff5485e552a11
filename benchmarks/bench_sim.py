"""Benchmark: Exp 01 at full scale through the batched engine vs. the online router loop.

Usage::

    python benchmarks/bench_sim.py                 # real data (data/raw + data/features)
    python benchmarks/bench_sim.py --router-runs 14 --n-jobs 2
    python benchmarks/bench_sim.py --standin       # random stand-in features (timing only)

Reports (1) Exp 01 = 20 seeds × 7 budgets (val warm-up + test, 140 runs) through
:func:`paretobandit.experiments.run_budget_pacing` (the engine) and through ``BanditRouter``
loops — a subset of the 140 router runs is timed and extrapolated unless ``--router-runs 140`` —
and checks that those router runs make the engine's decisions; (2) engine throughput in
run-steps per second for S ∈ {1, 20, 140, 1000}. Timings only: nothing here is a result.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

from paretobandit.experiments import default_budgets, run_budget_pacing
from paretobandit.experiments.common import default_priors_path, load_prior_arrays, make_seeds
from paretobandit.sim import simulate, warmup_test_streams
from paretobandit.sim.reference import run_router


def _load(standin: bool):
    from paretobandit.data import load_catalog, load_features, load_reward_table

    src = os.environ.get("PARETOBANDIT_DATA")
    try:
        val, test = load_reward_table("val"), load_reward_table("test")
        catalog = load_catalog("k3")
    except Exception:  # no data step yet: read the reference copy directly
        root = Path(src) if src else Path(__file__).resolve().parents[2] / "shared" / "data"
        val = load_reward_table(root / "rewards" / "val.jsonl")
        test = load_reward_table(root / "rewards" / "test.jsonl")
        catalog = load_catalog(root / "models" / "models_k3.json")
    if standin:
        rng = np.random.default_rng(0)
        fv = np.c_[rng.normal(size=(len(val), 25)), np.ones(len(val))]
        ft = np.c_[rng.normal(size=(len(test), 25)), np.ones(len(test))]
        kind = "random stand-in features (timing only)"
    else:
        fv, ft = load_features("val"), load_features("test")
        kind = "real MiniLM→PCA→whitened features"
    return val, test, catalog, fv, ft, kind


def _priors_path():
    try:
        return default_priors_path()
    except Exception:
        return Path(__file__).resolve().parents[2] / "shared" / "data" / "artifacts" / "priors_k3_d26.npz"


def bench_exp01(args) -> dict:
    val, test, catalog, fv, ft, kind = _load(args.standin)
    models = list(val.models)
    prices = np.array([[catalog[m]["input_cost_per_m"], catalog[m]["output_cost_per_m"]] for m in models])
    budgets = default_budgets(val.costs, 7)
    seeds = make_seeds(3000, 20)
    pri_path = _priors_path()
    pri = load_prior_arrays(pri_path)
    common = dict(features_val=fv, rewards_val=val.rewards, costs_val=val.costs, features_test=ft,
                  rewards_test=test.rewards, costs_test=test.costs, models=models, prices=prices,
                  budgets=budgets, seeds=seeds,
                  router_params={"alpha": 0.01, "forgetting_factor": 0.997, "prior_n_effective": 1163.9,
                                 "cost_penalty": 0.0},
                  pacer_params={"mode": "adaptive"}, priors=pri, n_resamples=1000)
    run_budget_pacing(**{**common, "seeds": seeds[:1], "budgets": budgets[:1]})      # warm caches
    t0, c0 = time.perf_counter(), time.process_time()
    res = run_budget_pacing(**common, n_jobs=args.n_jobs, backend=args.backend)
    t_engine, c_engine = time.perf_counter() - t0, time.process_time() - c0

    # Router loop over a subset of (budget, seed) runs, spread across budgets.
    n_val, n_test = len(val), len(test)
    feats = np.vstack([fv, ft])
    rewards = np.vstack([val.rewards, test.rewards])
    costs = np.vstack([val.costs, test.costs])
    streams = warmup_test_streams(seeds, n_val, n_test)
    pairs = [(b, s) for s in range(len(seeds)) for b in range(len(budgets))][: args.router_runs]
    sim = simulate(feats, rewards, costs, streams[[s for _, s in pairs]], prices,
                   seeds=[seeds[s] for _, s in pairs], budget=[budgets[b] for b, _ in pairs], alpha=0.01,
                   gamma=0.997, cost_penalty=0.0, priors=None if pri is None else _aligned(pri, models))
    mismatches = 0
    t0, c0 = time.perf_counter(), time.process_time()
    for i, (b, s) in enumerate(pairs):
        out = run_router(feats, rewards, costs, streams[s], prices, models, seed=seeds[s], alpha=0.01,
                         gamma=0.997, cost_penalty=0.0, budget=float(budgets[b]), pacer_mode="adaptive",
                         priors_path=pri_path, n_eff=1163.9)
        mismatches += int((out["arm"] != sim.arm[i]).sum())
    t_router_subset, c_router_subset = time.perf_counter() - t0, time.process_time() - c0
    n_total = len(budgets) * len(seeds)
    t_router = t_router_subset / len(pairs) * n_total
    c_router = c_router_subset / len(pairs) * n_total
    return {"kind": kind, "t_engine": t_engine, "c_engine": c_engine, "t_router": t_router,
            "c_router": c_router, "router_runs": len(pairs), "n_total": n_total, "steps": n_val + n_test,
            "mismatches": mismatches, "result": res}


def _aligned(pri, models):
    from paretobandit.experiments.common import align_priors

    return align_priors(*pri, models)


def bench_throughput(sizes, n_steps, n_jobs, backend) -> list[tuple[int, float, float, float]]:
    from paretobandit.sim.synthetic import synthetic_tables

    tb = synthetic_tables(3609, 26, 3, seed=0)
    a_off, b_off = tb.priors()
    from paretobandit.sim import Priors

    rows = []
    for s in sizes:
        streams = np.stack([np.random.default_rng(i).integers(0, 3609, n_steps) for i in range(s)])
        budgets = np.geomspace(3e-5, 1.5e-2, 7)[np.arange(s) % 7]
        t0, c0 = time.perf_counter(), time.process_time()
        simulate(tb.features, tb.rewards, tb.costs, streams, tb.prices, seeds=list(range(s)), budget=budgets,
                 cost_penalty=0.0, priors=Priors(a_off, b_off), n_jobs=n_jobs if s > 1 else 1,
                 backend=backend)
        dt, ct = time.perf_counter() - t0, time.process_time() - c0
        rows.append((s, dt / n_steps * 1e3, s * n_steps / dt, s * n_steps / ct))
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--router-runs", type=int, default=14, help="router runs timed (extrapolated to 140)")
    ap.add_argument("--n-jobs", type=int, default=1, help="engine sub-batches run in parallel")
    ap.add_argument("--backend", choices=("threads", "processes"), default="threads")
    ap.add_argument("--standin", action="store_true", help="random stand-in features (no feature cache)")
    ap.add_argument("--throughput-steps", type=int, default=300)
    ap.add_argument("--skip-exp01", action="store_true")
    args = ap.parse_args(argv)
    print(f"numpy {np.__version__}, {os.cpu_count()} CPUs, n_jobs={args.n_jobs} ({args.backend}), "
          f"load average {os.getloadavg()[0]:.2f} (timings are wall clock; CPU seconds alongside)")
    if not args.skip_exp01:
        r = bench_exp01(args)
        speed = r["t_router"] / r["t_engine"]
        print(f"\nExp 01 full scale ({r['n_total']} runs × {r['steps']} steps, {r['kind']})")
        print(f"{'path':<34}{'wall s':>10}{'CPU s':>10}")
        print(f"{'engine (run_budget_pacing)':<34}{r['t_engine']:>10.2f}{r['c_engine']:>10.2f}")
        extra = "" if r["router_runs"] == r["n_total"] else f"   (extrapolated from {r['router_runs']} runs)"
        print(f"{'online BanditRouter loop':<34}{r['t_router']:>10.2f}{r['c_router']:>10.2f}{extra}")
        print(f"{'speed-up':<34}{speed:>9.1f}×{r['c_router'] / r['c_engine']:>9.1f}×   "
              "target ≥ 30× and engine ≤ 5 s")
        print(f"router-vs-engine decision mismatches over the timed runs: {r['mismatches']}")
    rows = bench_throughput([1, 20, 140, 1000], args.throughput_steps, args.n_jobs, args.backend)
    print(f"\nEngine throughput ({args.throughput_steps} steps, d=26, K=3, priors, adaptive pacer)")
    print(f"{'S':>6}{'ms/step':>10}{'run-steps/s':>14}{'per CPU s':>14}")
    for s, ms, rate, cpu_rate in rows:
        print(f"{s:>6}{ms:>10.3f}{rate:>14,.0f}{cpu_rate:>14,.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
