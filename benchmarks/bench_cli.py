"""Command-line start-up cost of the commands that need no embedding model.

Times whole processes, as a script calling the CLI sees them: ``paretobandit route --vector ...`` and
``paretobandit feedback ...`` on a precomputed-vector state, each run ``--n`` times in turn, reporting wall
and CPU (user + system of the child) medians and p90. A bare ``python -c pass`` start-up is timed alongside as
the floor. Target: wall < 1 s per command on an idle machine (CPU time is the load-independent figure).

Usage::

    python benchmarks/bench_cli.py [--n 10] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])} ... failed: {proc.stderr[-1000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc.stdout


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10, help="runs per command (default 10)")
    ap.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = ap.parse_args(argv)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    cli = [sys.executable, "-m", "paretobandit"]
    vector = ",".join(["0.1"] * 25)
    times: dict[str, list[tuple[float, float]]] = {"python -c pass": [], "route --vector": [], "feedback": []}
    with tempfile.TemporaryDirectory() as tmp:
        state = str(Path(tmp) / "router")
        _timed([*cli, "route", "--vector", vector, "--state", state, "--budget", "0.001", "--json"], env)
        for _ in range(args.n):
            wall, cpu, _ = _timed([sys.executable, "-c", "pass"], env)
            times["python -c pass"].append((wall, cpu))
            wall, cpu, out = _timed([*cli, "route", "--vector", vector, "--state", state, "--json"], env)
            times["route --vector"].append((wall, cpu))
            rid = json.loads(out)["request_id"]
            wall, cpu, _ = _timed([*cli, "feedback", rid, "0.8", "--state", state], env)
            times["feedback"].append((wall, cpu))
    report = {"n": args.n, "load_average_1m": os.getloadavg()[0], "commands": {}}
    print(f"{'command':<16} {'wall p50 s':>10} {'wall p90 s':>10} {'CPU p50 s':>10} {'CPU p90 s':>10}")
    for name, rows in times.items():
        walls, cpus = np.array([r[0] for r in rows]), np.array([r[1] for r in rows])
        stats = {"wall_p50": float(np.median(walls)), "wall_p90": float(np.quantile(walls, 0.9)),
                 "cpu_p50": float(np.median(cpus)), "cpu_p90": float(np.quantile(cpus, 0.9))}
        report["commands"][name] = stats
        print(f"{name:<16} {stats['wall_p50']:>10.3f} {stats['wall_p90']:>10.3f} {stats['cpu_p50']:>10.3f} "
              f"{stats['cpu_p90']:>10.3f}")
    print(f"load average (1 min) at the end: {report['load_average_1m']:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2, sort_keys=True))
    return report


if __name__ == "__main__":
    main()
