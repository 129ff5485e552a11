"""Benchmark: Exp 01 at full scale through the batched engine vs. the online router loop.

Usage::

    python benchmarks/bench_sim.py                 # real data (data/raw + data/features)
    python benchmarks/bench_sim.py --router-runs 14 --n-jobs 2
    python benchmarks/bench_sim.py --standin       # random stand-in features (timing only)
    python benchmarks/bench_sim.py --compare-with /tmp/old   # side by side with another checkout

``--compare-with DIR`` times only the compiled Exp 01 engine, alternately for this checkout and for the
``paretobandit`` package under ``DIR`` (e.g. ``git archive HEAD~3 paretobandit | tar -x -C DIR``),
in fresh subprocesses with the same data, ``--repeats`` times each, and prints the best CPU seconds
of each side and their ratio.

Reports (1) Exp 01 = 20 seeds × 7 budgets (val warm-up + test, 140 runs) through
:func:`paretobandit.experiments.run_budget_pacing` with each step backend of the engine — the
compiled numba kernel and the generic path (one ``BanditRouter`` per run, ``PARETOBANDIT_SIM_NUMBA=0``,
the path of plug-ins) — and through ``BanditRouter`` loops in the same process (a subset of the 140
router runs is timed and extrapolated unless ``--router-runs 140``), and checks that those router runs
make the engine's decisions; (2) the numba compile time (cold cache, in a subprocess) and the
cached-load time; (3) engine throughput in run-steps per second for S ∈ {1, 20, 140, 1000} per backend.

Wall-clock and CPU (process) seconds are both printed: on a shared machine the wall clock depends on
the other jobs (the load average is printed), the CPU time much less. Timings only: nothing here is
a result.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from paretobandit.experiments import default_budgets, run_budget_pacing
from paretobandit.experiments.common import default_priors_path, load_prior_arrays, make_seeds
from paretobandit.sim import simulate, warmup_test_streams
from paretobandit.sim.engine import numba_available
from paretobandit.sim.reference import run_router


@contextlib.contextmanager
def _numba_env(enabled: bool):
    """Select the engine's step backend for code that calls :func:`simulate` with defaults."""
    old = os.environ.get("PARETOBANDIT_SIM_NUMBA")
    os.environ["PARETOBANDIT_SIM_NUMBA"] = "1" if enabled else "0"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("PARETOBANDIT_SIM_NUMBA")
        else:
            os.environ["PARETOBANDIT_SIM_NUMBA"] = old


def _backends() -> list[tuple[str, bool]]:
    return ([("numba", True)] if numba_available() else []) + [("generic", False)]


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
    engine = {}
    for name, enabled in _backends():
        with _numba_env(enabled):
            run_budget_pacing(**{**common, "seeds": seeds[:1], "budgets": budgets[:1]})   # warm caches
            t0, c0 = time.perf_counter(), time.process_time()
            res = run_budget_pacing(**common, n_jobs=args.n_jobs, backend=args.backend)
            engine[name] = (time.perf_counter() - t0, time.process_time() - c0, res)
    first = next(iter(engine))
    for name, (_, _, other) in engine.items():     # both backends give the same Exp 01 numbers
        for a, b in zip(engine[first][2]["per_budget"], other["per_budget"], strict=True):
            ok = np.allclose(a["per_seed"]["mean_reward"], b["per_seed"]["mean_reward"], rtol=0, atol=1e-12)
            assert ok, f"{name} and {first} disagree"

    # Router loop over a subset of (budget, seed) runs, spread across budgets.
    n_val, n_test = len(val), len(test)
    feats = np.vstack([fv, ft])
    rewards = np.vstack([val.rewards, test.rewards])
    costs = np.vstack([val.costs, test.costs])
    streams = warmup_test_streams(seeds, n_val, n_test)
    pairs = [(b, s) for s in range(len(seeds)) for b in range(len(budgets))][: args.router_runs]
    sims = [simulate(feats, rewards, costs, streams[[s for _, s in pairs]], prices,
                     seeds=[seeds[s] for _, s in pairs], budget=[budgets[b] for b, _ in pairs], alpha=0.01,
                     gamma=0.997, cost_penalty=0.0, priors=None if pri is None else _aligned(pri, models),
                     compiled=enabled) for _, enabled in _backends()]
    mismatches = 0
    t0, c0 = time.perf_counter(), time.process_time()
    for i, (b, s) in enumerate(pairs):
        out = run_router(feats, rewards, costs, streams[s], prices, models, seed=seeds[s], alpha=0.01,
                         gamma=0.997, cost_penalty=0.0, budget=float(budgets[b]), pacer_mode="adaptive",
                         priors_path=pri_path, n_eff=1163.9)
        mismatches += sum(int((out["arm"] != sim.arm[i]).sum()) for sim in sims)
    t_router_subset, c_router_subset = time.perf_counter() - t0, time.process_time() - c0
    n_total = len(budgets) * len(seeds)
    t_router = t_router_subset / len(pairs) * n_total
    c_router = c_router_subset / len(pairs) * n_total
    return {"kind": kind, "engine": engine, "t_router": t_router,
            "c_router": c_router, "router_runs": len(pairs), "n_total": n_total, "steps": n_val + n_test,
            "mismatches": mismatches}


def _aligned(pri, models):
    from paretobandit.experiments.common import align_priors

    return align_priors(*pri, models)


_COMPILE_PROBE = """
import time
t0 = time.perf_counter()
import numpy as np
from paretobandit.sim import simulate
from paretobandit.sim.synthetic import synthetic_tables
tb = synthetic_tables(50, 5, 3, seed=0)
t1 = time.perf_counter()
simulate(tb.features, tb.rewards, tb.costs, np.arange(50), tb.prices, seeds=[0], budget=1e-3, compiled=True)
print(t1 - t0, time.perf_counter() - t1)
"""


def bench_compile() -> tuple[float, float]:
    """Seconds of the first compiled ``simulate`` call in a fresh interpreter: (cold cache, warm cache)."""
    out = []
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        for _ in range(2):                 # 1st: compiles and writes the cache; 2nd: loads it
            p = subprocess.run([sys.executable, "-c", _COMPILE_PROBE], env=env, capture_output=True,
                               text=True, check=True)
            out.append(float(p.stdout.split()[-1]))
    return out[0], out[1]


def bench_throughput(sizes, n_steps, n_jobs, backend, compiled) -> list[tuple[int, float, float, float]]:
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
                 backend=backend, compiled=compiled)
        dt, ct = time.perf_counter() - t0, time.process_time() - c0
        rows.append((s, dt / n_steps * 1e3, s * n_steps / dt, s * n_steps / ct))
    return rows


_EXP01_PROBE = """
import os, sys, time
sys.path.insert(0, sys.argv[1])
sys.path.insert(1, sys.argv[2])
import bench_sim
import paretobandit
assert paretobandit.__file__.startswith(sys.argv[1]), paretobandit.__file__
from paretobandit.experiments import run_budget_pacing
common = bench_sim.exp01_inputs(standin=False)
run_budget_pacing(**{**common, "seeds": common["seeds"][:1], "budgets": common["budgets"][:1]})
t0, c0 = time.perf_counter(), time.process_time()
run_budget_pacing(**common)
print(time.perf_counter() - t0, time.process_time() - c0)
"""


def exp01_inputs(standin: bool) -> dict:
    """Keyword arguments of :func:`run_budget_pacing` for Exp 01 at full scale (the paper's inputs)."""
    val, test, catalog, fv, ft, _ = _load(standin)
    models = list(val.models)
    prices = np.array([[catalog[m]["input_cost_per_m"], catalog[m]["output_cost_per_m"]] for m in models])
    return dict(features_val=fv, rewards_val=val.rewards, costs_val=val.costs, features_test=ft,
                rewards_test=test.rewards, costs_test=test.costs, models=models, prices=prices,
                budgets=default_budgets(val.costs, 7), seeds=make_seeds(3000, 20),
                router_params={"alpha": 0.01, "forgetting_factor": 0.997, "prior_n_effective": 1163.9,
                               "cost_penalty": 0.0},
                pacer_params={"mode": "adaptive"}, priors=load_prior_arrays(_priors_path()), n_resamples=1000)


def compare_with(other: Path, repeats: int) -> None:
    """Side-by-side CPU seconds of the compiled Exp 01 engine: this checkout vs ``other``."""
    here = Path(__file__).resolve().parents[1]
    bench_dir = str(Path(__file__).resolve().parent)
    times: dict[str, list[float]] = {"this checkout": [], str(other): []}
    for _ in range(repeats):
        for label, root in (("this checkout", here), (str(other), other)):
            with tempfile.TemporaryDirectory() as cache:
                env = dict(os.environ, NUMBA_CACHE_DIR=cache, PARETOBANDIT_SIM_NUMBA="1",
                           PYTHONPATH=str(root))
                p = subprocess.run([sys.executable, "-c", _EXP01_PROBE, str(root), bench_dir], env=env,
                                   capture_output=True, text=True, check=True, cwd=str(here))
            times[label].append(float(p.stdout.split()[-1]))
    print(f"\nExp 01 full scale, compiled engine, CPU seconds over {repeats} alternating runs")
    for label, ts in times.items():
        print(f"  {label:<40} best {min(ts):7.2f}   all {' '.join(f'{t:.2f}' for t in ts)}")
    new, old = min(times["this checkout"]), min(times[str(other)])
    print(f"  ratio this/other (best CPU): {new / old:.3f}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--router-runs", type=int, default=14, help="router runs timed (extrapolated to 140)")
    ap.add_argument("--n-jobs", type=int, default=1, help="engine sub-batches run in parallel")
    ap.add_argument("--backend", choices=("threads", "processes"), default="threads")
    ap.add_argument("--standin", action="store_true", help="random stand-in features (no feature cache)")
    ap.add_argument("--throughput-steps", type=int, default=300)
    ap.add_argument("--skip-exp01", action="store_true")
    ap.add_argument("--compare-with", type=Path, default=None,
                    help="folder holding another paretobandit package: time Exp 01 side by side only")
    ap.add_argument("--repeats", type=int, default=3, help="alternating runs per side (--compare-with)")
    args = ap.parse_args(argv)
    if args.compare_with is not None:
        compare_with(args.compare_with.resolve(), args.repeats)
        return 0
    try:
        import numba
        nb_version = f"numba {numba.__version__}"
    except ImportError:
        nb_version = "numba not installed (generic path only)"
    print(f"numpy {np.__version__}, {nb_version}, {os.cpu_count()} CPUs, n_jobs={args.n_jobs} "
          f"({args.backend}), load average {os.getloadavg()[0]:.2f} at start")
    print("wall = elapsed seconds (depends on the other jobs on the machine); CPU = process CPU seconds")
    if numba_available():
        cold, warm = bench_compile()
        print(f"\nnumba kernel: first call in a fresh process {cold:.2f} s with a cold cache (compilation), "
              f"{warm:.2f} s with the on-disk cache (cache=True); excluded from the timings below")
    if not args.skip_exp01:
        r = bench_exp01(args)
        print(f"\nExp 01 full scale ({r['n_total']} runs × {r['steps']} steps, {r['kind']})")
        print(f"{'path':<40}{'wall s':>9}{'CPU s':>9}{'× wall':>9}{'× CPU':>9}")
        for name, (t, c, _) in r["engine"].items():
            label = f"engine, {name} step (run_budget_pacing)"
            print(f"{label:<40}{t:>9.2f}{c:>9.2f}{r['t_router'] / t:>8.1f}×{r['c_router'] / c:>8.1f}×")
        extra = "" if r["router_runs"] == r["n_total"] else f"  (extrapolated from {r['router_runs']} runs)"
        print(f"{'online BanditRouter loop':<40}{r['t_router']:>9.2f}{r['c_router']:>9.2f}{'1.0×':>9}"
              f"{'1.0×':>9}{extra}")
        print("target: ≥ 30× the router loop and ≤ 5 s wall for the engine")
        print(f"router-vs-engine decision mismatches over the timed runs (both backends): {r['mismatches']}")
    for name, enabled in _backends():
        rows = bench_throughput([1, 20, 140, 1000], args.throughput_steps, args.n_jobs, args.backend, enabled)
        print(f"\nEngine throughput, {name} step ({args.throughput_steps} steps, d=26, K=3, priors, "
              "adaptive pacer)")
        print(f"{'S':>6}{'ms/step':>10}{'run-steps/s':>14}{'per CPU s':>14}")
        for s, ms, rate, cpu_rate in rows:
            print(f"{s:>6}{ms:>10.3f}{rate:>14,.0f}{cpu_rate:>14,.0f}")
    print(f"\nload average {os.getloadavg()[0]:.2f} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
