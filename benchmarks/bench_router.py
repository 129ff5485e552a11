"""Hot-path benchmark of `BanditRouter` against a minimal NumPy Sherman–Morrison LinUCB.

For every K ∈ {3, 10, 50} and d ∈ {26, 64, 385} it reports route p50/p99, feedback p50/p99 (µs) and the
route+feedback throughput (requests/s) of the router and of the minimal reference written below, run
in the same process, alternating in short blocks (so machine load hits both alike), and the
ratio router/reference.

The router is measured through its public API with precomputed vectors: ``route(v)`` includes the
feature service (validation, bias append), the context store and the routing log; ``process_feedback``
includes the store lookup, forgetting, Sherman–Morrison and the bookkeeping. The reference gets the
finished context vector and does nothing but score / update.

Usage::

    python benchmarks/bench_router.py                 # full grid
    python benchmarks/bench_router.py --quick         # fewer samples
    python benchmarks/bench_router.py --k 3 --d 26 --json out.json
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np

from paretobandit import BanditRouter, FeatureService


class MinimalLinUCB:
    """The smallest reasonable NumPy LinUCB: θ, A⁻¹ per arm, Sherman–Morrison updates, no forgetting."""

    def __init__(self, k: int, d: int, alpha: float = 0.01):
        self.alpha = alpha
        self.ainv = np.broadcast_to(np.eye(d), (k, d, d)).copy()
        self.b = np.zeros((k, d))
        self.theta = np.zeros((k, d))

    def route(self, x: np.ndarray) -> int:
        var = (self.ainv @ x) @ x
        return int(np.argmax(self.theta @ x + self.alpha * np.sqrt(var)))

    def update(self, arm: int, x: np.ndarray, reward: float) -> None:
        ainv = self.ainv[arm]
        u = ainv @ x
        ainv -= np.outer(u, u) / (1.0 + x @ u)
        self.b[arm] += reward * x
        self.theta[arm] = ainv @ self.b[arm]


def _portfolio(k: int) -> dict:
    return {
        f"model-{i}": {"input_cost_per_m": 0.1 * (i + 1), "output_cost_per_m": 0.3 * (i + 1)}
        for i in range(k)
    }


def _pct(samples, q) -> float:
    return float(np.percentile(np.asarray(samples) / 1e3, q))


def bench(k: int, d: int, n: int, rounds: int, budget=None, seed: int = 0) -> dict:
    """Measure one (K, d) cell; ``n`` samples per round per implementation."""
    rng = np.random.default_rng(seed)
    vecs = rng.normal(size=(512, d - 1)) * 0.3
    xs = np.c_[vecs, np.ones(512)]
    rewards = rng.random(512)
    router = BanditRouter.create(
        model_registry=_portfolio(k),
        feature_service=FeatureService.for_precomputed(d - 1),
        priors="none",
        seed=seed,
        budget=budget,
    )
    ref = MinimalLinUCB(k, d)
    clock = time.perf_counter_ns
    for i in range(min(n, 300)):  # warm-up
        _, log = router.route(vecs[i % 512])
        router.process_feedback(log.request_id, float(rewards[i % 512]))
        ref.update(ref.route(xs[i % 512]), xs[i % 512], float(rewards[i % 512]))
    res = {
        "router": {"route": [], "feedback": [], "loop": []},
        "ref": {"route": [], "feedback": [], "loop": []},
    }
    route, feedback = router.route, router.process_feedback
    r_route, r_fb = res["router"]["route"], res["router"]["feedback"]
    f_route, f_fb = res["ref"]["route"], res["ref"]["feedback"]
    chunk = max(n // 20, 20)
    for _ in range(rounds):
        # per-call latencies in alternating blocks of `chunk` calls (warm caches, and load hits both alike)
        for start in range(0, n, chunk):
            for i in range(start, start + chunk):
                v = vecs[i & 511]
                t0 = clock()
                _, log = route(v)
                t1 = clock()
                feedback(log.request_id, 0.5)
                t2 = clock()
                r_route.append(t1 - t0)
                r_fb.append(t2 - t1)
            for i in range(start, start + chunk):
                x = xs[i & 511]
                t2 = clock()
                a = ref.route(x)
                t3 = clock()
                ref.update(a, x, 0.5)
                t4 = clock()
                f_route.append(t3 - t2)
                f_fb.append(t4 - t3)
        # throughput: alternating chunks without per-call timers
        for start in range(0, n, chunk):
            t0 = clock()
            for i in range(start, start + chunk):
                _, log = route(vecs[i & 511])
                feedback(log.request_id, 0.5)
            res["router"]["loop"].append(chunk / ((clock() - t0) / 1e9))
            t0 = clock()
            for i in range(start, start + chunk):
                x = xs[i & 511]
                ref.update(ref.route(x), x, 0.5)
            res["ref"]["loop"].append(chunk / ((clock() - t0) / 1e9))
    out = {"K": k, "d": d, "n": n * rounds, "budget": budget}
    for impl in ("router", "ref"):
        r = res[impl]
        out[impl] = {
            "route_p50": _pct(r["route"], 50),
            "route_p99": _pct(r["route"], 99),
            "feedback_p50": _pct(r["feedback"], 50),
            "feedback_p99": _pct(r["feedback"], 99),
            "throughput": float(np.median(r["loop"])),
        }
    out["ratio"] = {key: out["router"][key] / out["ref"][key] for key in out["router"]}
    return out


def _samples(d: int, quick: bool) -> int:
    base = {26: 4000, 64: 2000, 385: 300}.get(d, 1000)
    return max(base // (4 if quick else 1), 50)


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--k", type=int, nargs="*", default=[3, 10, 50])
    ap.add_argument("--d", type=int, nargs="*", default=[26, 64, 385])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--budget", type=float, default=None, help="also enable an adaptive pacer ($/request)")
    ap.add_argument("--blas-threads", type=int, default=None, help="limit BLAS threads (needs threadpoolctl)")
    ap.add_argument("--json", default=None, help="write the results here")
    args = ap.parse_args(argv)
    if args.blas_threads:
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.blas_threads)
    print(
        f"# {platform.processor() or platform.machine()}, numpy {np.__version__}, "
        f"python {platform.python_version()}"
    )
    print(
        "| K | d | route p50 µs (×ref) | route p99 µs | feedback p50 µs (×ref) | feedback p99 µs | "
        "route+feedback /s (×ref) |"
    )
    print("|---|---|---|---|---|---|---|")
    results = []
    for d in args.d:
        for k in args.k:
            r = bench(k, d, _samples(d, args.quick), args.rounds, budget=args.budget)
            results.append(r)
            a, f, q = r["router"], r["ref"], r["ratio"]
            print(
                f"| {k} | {d} | {a['route_p50']:.1f} ({q['route_p50']:.2f}×; ref {f['route_p50']:.1f}) "
                f"| {a['route_p99']:.1f} | {a['feedback_p50']:.1f} ({q['feedback_p50']:.2f}×; ref "
                f"{f['feedback_p50']:.1f}) | {a['feedback_p99']:.1f} | {a['throughput']:,.0f} "
                f"({q['throughput']:.2f}×; ref {f['throughput']:,.0f}) |",
                flush=True,
            )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1)
    return results


if __name__ == "__main__":
    main()
