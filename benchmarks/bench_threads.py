"""Throughput of one shared `BanditRouter` driven by 1, 2, 4 and 8 threads, measured in one run.

Each thread runs the route + process_feedback loop on precomputed vectors (the paper's cost structure,
K arms, context dimension d) until the threads together have done ``--n`` decisions. The table reports,
for every thread count, the decisions per second of all threads together, the ratio to one thread (same
run, same router configuration), and the p50/p99 latency of a single ``route`` call. Thread counts are
measured in alternating rounds (1, 2, 4, 8, 1, 2, …) and the median round is reported, so machine load
hits every row alike. ``CPU µs/decision`` is the process's CPU time (all threads, user + system) per
decision: on a machine shared with other jobs, wall-clock throughput also measures how much of the cores
the process got (more threads get a larger share), while CPU time per decision shows the cost of
concurrency itself (lock hand-offs, GIL switches).

Usage::

    OMP_NUM_THREADS=1 python benchmarks/bench_threads.py               # d = 26 and d = 385, K = 3
    OMP_NUM_THREADS=1 python benchmarks/bench_threads.py --d 26 --n 10000 --rounds 5 --json out.json
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import threading
import time

import numpy as np

from paretobandit import BanditRouter, FeatureService


def _portfolio(k: int) -> dict:
    return {
        f"model-{i}": {"input_cost_per_m": 0.1 * (i + 1), "output_cost_per_m": 0.3 * (i + 1)}
        for i in range(k)
    }


def _router(k: int, d: int, seed: int = 0) -> BanditRouter:
    return BanditRouter.create(model_registry=_portfolio(k), priors="none", budget=0.002, seed=seed,
                               feature_service=FeatureService.for_precomputed(d - 1))


def run(router: BanditRouter, vecs: np.ndarray, n_threads: int, n: int) -> dict:
    """``n`` route + feedback pairs split over ``n_threads`` threads; throughput and route latencies."""
    per = n // n_threads
    lat: list[list[int]] = [[] for _ in range(n_threads)]
    barrier = threading.Barrier(n_threads + 1)
    errors: list[BaseException] = []

    def worker(j: int) -> None:
        route, feedback, clock, out = router.route, router.process_feedback, time.perf_counter_ns, lat[j]
        barrier.wait()
        try:
            for i in range(per):
                t0 = clock()
                _, log = route(vecs[(i * n_threads + j) & 511])
                out.append(clock() - t0)
                feedback(log.request_id, 0.5)
        except BaseException as exc:  # noqa: BLE001 - re-raised by the caller
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(j,)) for j in range(n_threads)]
    for th in threads:
        th.start()
    barrier.wait()
    t0, c0 = time.perf_counter(), time.process_time()
    for th in threads:
        th.join()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    if errors:
        raise errors[0]
    us = np.concatenate([np.asarray(v, dtype=float) for v in lat]) / 1e3
    done = per * n_threads
    return {"throughput": done / wall, "cpu_us": cpu / done * 1e6, "route_p50": float(np.percentile(us, 50)),
            "route_p99": float(np.percentile(us, 99))}


def bench(k: int, d: int, n: int, rounds: int, threads=(1, 2, 4, 8), seed: int = 0) -> dict:
    """Alternating rounds over ``threads`` on one router per (K, d); the median round of each count."""
    rng = np.random.default_rng(seed)
    vecs = rng.normal(size=(512, d - 1)) * 0.3
    router = _router(k, d, seed)
    run(router, vecs, 1, min(n, 500))  # warm-up
    samples: dict[int, list[dict]] = {m: [] for m in threads}
    for _ in range(rounds):
        for m in threads:
            samples[m].append(run(router, vecs, m, n))
    rows = []
    for m in threads:
        med = {key: float(np.median([s[key] for s in samples[m]])) for key in samples[m][0]}
        rows.append({"threads": m, **med})
    base = rows[0]
    for row in rows:
        row["ratio"] = row["throughput"] / base["throughput"]
        row["p99_ratio"] = row["route_p99"] / base["route_p99"]
    return {"K": k, "d": d, "n": n, "rounds": rounds, "rows": rows}


def _default_n(d: int) -> int:
    return 10_000 if d <= 64 else 2_000


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--k", type=int, nargs="*", default=[3])
    ap.add_argument("--d", type=int, nargs="*", default=[26, 385])
    ap.add_argument("--n", type=int, default=None, help="decisions per round (10,000; 2,000 for d > 64)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, nargs="*", default=[1, 2, 4, 8])
    ap.add_argument("--switch-interval", type=float, default=None,
                    help="sys.setswitchinterval for the run (s; CPython default 0.005)")
    ap.add_argument("--json", default=None, help="write the results here")
    args = ap.parse_args(argv)
    if args.switch_interval is not None:
        sys.setswitchinterval(args.switch_interval)
    print(f"# {platform.processor() or platform.machine()}, numpy {np.__version__}, "
          f"python {platform.python_version()}, switch interval {sys.getswitchinterval() * 1e3:g} ms, "
          f"{time.strftime('%Y-%m-%d', time.gmtime())}")
    print("| K | d | threads | decisions/s | × 1 thread | CPU µs/decision | route p50 µs | route p99 µs "
          "| p99 × 1 thread |")
    print("|---|---|---|---|---|---|---|---|---|")
    results = []
    for d in args.d:
        for k in args.k:
            res = bench(k, d, args.n or _default_n(d), args.rounds, tuple(args.threads))
            results.append(res)
            for r in res["rows"]:
                print(f"| {k} | {d} | {r['threads']} | {r['throughput']:,.0f} | {r['ratio']:.2f} | "
                      f"{r['cpu_us']:.1f} | {r['route_p50']:.1f} | {r['route_p99']:.1f} | "
                      f"{r['p99_ratio']:.2f} |", flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1)
    return results


if __name__ == "__main__":
    main()
