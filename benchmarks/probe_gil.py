"""Which calls of the router's hot path release the GIL (issue 15 diagnosis; not a timing benchmark).

A second thread spins a counter while the main thread calls one operation at a time with the switch
interval raised to 1 s: the counter can only move during a call if that call released the GIL (a forced
switch would take a whole second). The table lists, per operation, in how many of ``--n`` calls another
thread ran. Every release inside a lock lets the other threads run into that lock, sleep on it and form
a convoy (docs/DEPLOYMENT.md, "Why eight threads are slower than one"). Also prints the voluntary
context switches per decision of the route + feedback loop with 1, 2 and 8 threads.

    OMP_NUM_THREADS=1 python benchmarks/probe_gil.py --d 26
"""

from __future__ import annotations

import argparse
import resource
import sys
import threading
import time

import numpy as np
from bench_threads import _router, run
from scipy.linalg.blas import daxpy, dger


def _probe(ops: dict, n: int) -> list[tuple[str, int]]:
    count = [0]
    stop = [False]

    def spin() -> None:
        while not stop[0]:
            count[0] += 1

    old = sys.getswitchinterval()
    sys.setswitchinterval(1.0)
    th = threading.Thread(target=spin)
    th.start()
    time.sleep(0.05)
    out = []
    try:
        for name, op in ops.items():
            released = 0
            for i in range(n):
                c = count[0]
                op(i)
                released += count[0] != c
            out.append((name, released))
    finally:
        stop[0] = True
        th.join()
        sys.setswitchinterval(old)
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--d", type=int, default=26)
    ap.add_argument("--n", type=int, default=2000)
    args = ap.parse_args(argv)
    d, n = args.d, args.n
    router = _router(3, d)
    vecs = np.random.default_rng(0).normal(size=(512, d - 1)) * 0.3
    run(router, vecs, 1, 500)
    policy = router.policy
    x = np.full(d, 0.1)
    m = np.eye(d)
    stack = policy.stack
    y = np.empty(stack.shape[0])
    logs: list = []
    pending = iter(logs)
    ops = {
        "router.route": lambda i: logs.append(router.route(vecs[i & 511])[1]),
        "router.process_feedback": lambda i: router.process_feedback(next(pending).request_id, 0.5),
        "np.dot(stack, x, out=y)": lambda i: np.dot(stack, x, out=y),
        "np.matmul(stack, x, out=y)": lambda i: np.matmul(stack, x, out=y),
        "M.dot(x)": lambda i: m.dot(x),
        "M @ x": lambda i: m @ x,
        "scipy dger (rank-1)": lambda i: dger(0.0, x, x, a=m.T, overwrite_a=1),
        "scipy daxpy": lambda i: daxpy(x, y[:d], a=0.0),
        "in-place ufunc on d×d": lambda i: np.multiply(m, 1.0, out=m),
    }
    print(f"# d = {d}, {n} calls each, numpy {np.__version__}")
    print("| operation | calls during which another thread ran |")
    print("|---|---|")
    for name, released in _probe(ops, n):
        print(f"| {name} | {released} / {n} |")
    print()
    print("| threads | decisions/s | voluntary context switches / decision |")
    print("|---|---|---|")
    for threads in (1, 2, 8):
        a = resource.getrusage(resource.RUSAGE_SELF).ru_nvcsw
        res = run(router, vecs, threads, 10_000)
        b = resource.getrusage(resource.RUSAGE_SELF).ru_nvcsw
        print(f"| {threads} | {res['throughput']:,.0f} | {(b - a) / 10_000:.3f} |")


if __name__ == "__main__":
    main()
