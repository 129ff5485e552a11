"""Mutation check of the router's core: does the fast test subset fail when the code is wrong?

Each entry of :data:`MUTANTS` is a single-line fault (file, the exact source snippet, its replacement,
a description). For every mutant the tool copies the repository (:data:`COPY`) into a temporary
directory, replaces the snippet there — the working tree is never modified, also not on Ctrl-C — and
runs :data:`FAST_TESTS` (``-x -q -p no:cacheprovider``, with a timeout). A mutant is

* ``killed``    — the tests fail;
* ``timeout``   — the tests did not finish in time (counted as killed, but a test that fails fast
  would be better);
* ``survived``  — the tests pass: a test is missing;
* ``not found`` — the snippet is not in the file (or not exactly once): update the snippet after a
  refactoring, it proves nothing as it stands.

Before the mutants, the unmutated copy is tested once; if it fails, nothing is reported (exit 2).

Usage::

    python tools/mutants.py                # every mutant, one at a time
    python tools/mutants.py --jobs 2       # two at a time
    python tools/mutants.py --only 4 --only 7
    python tools/mutants.py --list         # numbered list, no test run

Exit status: 0 when every mutant is killed, 1 when one survives, 2 when a snippet is not found, the
baseline fails or pytest cannot run. Not part of the test suite (about 10 s per mutant); see
docs/TESTING.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: What a mutant's scratch copy contains (relative to the repository root).
COPY = ("paretobandit", "tests", "conf", "data", "pyproject.toml")

#: The fast subset run against every mutant, quickest and most targeted first (``-x`` stops at the first
#: failure, so a mutant dies in seconds instead of after the slow router simulations).
FAST_TESTS = (
    "tests/test_mutant_survivors.py", "tests/test_kernels.py", "tests/test_pacer.py", "tests/test_stores.py",
    "tests/test_policy.py", "tests/test_router_badinput.py", "tests/test_router.py",
)


@dataclass(frozen=True)
class Mutant:
    """A single-line fault: replace ``snippet`` (exactly once in ``path``) by ``replacement``."""

    path: str
    snippet: str
    replacement: str
    description: str


K, P, R, S, PO = ("paretobandit/kernels.py", "paretobandit/pacer.py", "paretobandit/router.py",
                  "paretobandit/stores.py", "paretobandit/policy.py")
_STEP = "lam + eta * (new_ema / budget - 1.0)"

MUTANTS: tuple[Mutant, ...] = (
    # the eight that once survived (tests/test_mutant_survivors.py)
    Mutant(K, "return np.clip(c, 0.0, 1.0)", "return np.maximum(c, 0.0)",
           "normalised cost: upper clip removed"),
    Mutant(K, "TIE_TOLERANCE = 1e-12", "TIE_TOLERANCE = 0.0", "tie tolerance 0"),
    Mutant(S, "if self.ttl is not None and self._clock() - entry[2] > self.ttl:",
           "if self.ttl is not None and self._clock() - entry[2] >= self.ttl:",
           "in-memory context TTL: > becomes >="),
    Mutant(K, "    return den < 1.0", "    return den < 0.0",
           "corrupted-inverse guard: den < 1 becomes den < 0"),
    Mutant(R, "fits = [e <= max_cost for e in est]", "fits = [e < max_cost for e in est]",
           "max_cost: estimate <= max_cost becomes <"),
    Mutant(P, "ceiling_eligible_into(prices, p_max, lam, self.ceiling_multiplier, out)",
           "ceiling_eligible_into(prices, p_max, lam, 1.0, out)",
           "router's pacer ignores ceiling_multiplier in the hard ceiling"),
    Mutant(K, "limit = (multiplier * p_max) / (1.0 + lam)", "limit = p_max / (1.0 + lam)",
           "kernels.ceiling_eligible_into ignores the multiplier"),
    Mutant(R, "return both if any(both) else fits", "return both if any(both) else mask",
           "max_cost/ceiling conflict falls back to the ceiling instead of max_cost"),
    # scores
    Mutant(K, "return mean + alpha * math.sqrt(v) - penalty", "return mean + alpha * math.sqrt(v) + penalty",
           "score: cost penalty sign flipped (router and simulator)"),
    Mutant(K, "return mean + alpha * math.sqrt(v) - penalty", "return mean - alpha * math.sqrt(v) - penalty",
           "score: exploration bonus sign flipped (router and simulator)"),
    Mutant("paretobandit/_accel.py", "* scale[a], alpha, penalty[a])", ", alpha, penalty[a])",
           "score (K > 16, compiled loop): lazy scale of A⁻¹ ignored"),
    Mutant(R, "w = w + pacer.penalty_weight()", "w = w", "pacer λ missing from the score penalty"),
    # forgetting, staleness, ridge floor
    Mutant(PO, "sc = self._s[arm] / g", "sc = self._s[arm] * g",
           "forgetting: A⁻¹ multiplied by g, not divided"),
    Mutant(PO, "sig = self._sig[arm] * g", "sig = self._sig[arm] / g", "forgetting: A divided by g"),
    Mutant(PO, "self._beta[arm] *= g", "self._beta[arm] /= g", "forgetting: b divided by g"),
    Mutant(K, "return np.where(dt > 0, 1.0 / g, 1.0)", "return np.where(dt > 0, g, 1.0)",
           "staleness inflation g instead of 1/g"),
    Mutant(K, "g = np.maximum(decay_factor(gamma, dt, cap), 1.0 / v_max)", "g = decay_factor(gamma, dt, cap)",
           "staleness inflation not capped at V_max"),
    Mutant(K, "return ridge - rho if rho < ridge_floor * ridge else 0.0",
           "return ridge + rho if rho < ridge_floor * ridge else 0.0",
           "ridge floor adds λ₀ + ρ instead of λ₀ − ρ"),
    # Sherman–Morrison, stability check
    Mutant(K, "dger(-s / den, mx, mx", "dger(s / den, mx, mx",
           "Sherman–Morrison: sign of the rank-one term"),
    Mutant(K, "daxpy(mx, theta, a=s * resid / den)", "daxpy(mx, theta, a=-s * resid / den)",
           "θ update: sign of the residual step"),
    Mutant(K, "    return trace > limit", "    return trace < limit",
           "stability check: > trace bound becomes <"),
    # pacer (the scalar step the router uses)
    Mutant(K, f"new_lam = min(lam_cap, max(0.0, {_STEP}))",
           "new_lam = min(lam_cap, max(0.0, lam - eta * (new_ema / budget - 1.0)))",
           "pacer step: sign of η flipped"),
    Mutant(K, f"new_lam = min(lam_cap, max(0.0, {_STEP}))", f"new_lam = min(lam_cap, {_STEP})",
           "pacer: λ not clipped at 0"),
    Mutant(K, f"new_lam = min(lam_cap, max(0.0, {_STEP}))", f"new_lam = max(0.0, {_STEP})",
           "pacer: λ not clipped at the cap"),
    Mutant(K, "    new_ema = (1.0 - ema_alpha) * ema + ema_alpha * cost",
           "    new_ema = ema_alpha * ema + (1.0 - ema_alpha) * cost",
           "pacer EMA weights swapped"),
    # feedback
    Mutant(R, "            r = min(1.0, max(0.0, r))", "            r = min(1.0, r)",
           "process_feedback: negative rewards not clamped to 0"),
)


_RUNNING: set[subprocess.Popen] = set()  # pytest processes in flight (killed on Ctrl-C / SIGTERM)
_RUNNING_LOCK = threading.Lock()
_STOP = threading.Event()  # set on interruption: no new pytest process is started


def _kill_running() -> None:
    with _RUNNING_LOCK:
        _STOP.set()
        for proc in _RUNNING:
            proc.kill()


def _terminate(signum, frame) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@dataclass
class Outcome:
    """Result of one mutant."""

    status: str  # killed | survived | not found | error
    seconds: float = 0.0
    detail: str = ""


def _copy_repo(dest: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")
    for name in COPY:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=ignore, symlinks=True)
        elif src.exists():
            shutil.copy2(src, dest / name)


def _apply(dest: Path, mutant: Mutant) -> str | None:
    """Apply ``mutant`` in the copy at ``dest``; the reason it cannot be applied, or None."""
    target = dest / mutant.path
    if not target.is_file():
        return f"file not found: {mutant.path}"
    source = target.read_text(encoding="utf-8")
    count = source.count(mutant.snippet)
    if count != 1:
        return f"snippet not found in {mutant.path}" if count == 0 else f"snippet found {count} times"
    target.write_text(source.replace(mutant.snippet, mutant.replacement), encoding="utf-8")
    return None


def _pytest(dest: Path, timeout: float) -> tuple[str, str]:
    """Run :data:`FAST_TESTS` in ``dest``: ``("passed" | "failed" | "timeout" | "error", detail)``, the
    detail being the first failing test, or pytest's last line."""
    env = {**os.environ, "PYTHONPATH": str(dest), "PYTHONDONTWRITEBYTECODE": "1"}
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *FAST_TESTS]
    with _RUNNING_LOCK:
        if _STOP.is_set():
            return "error", "interrupted"
        proc = subprocess.Popen(cmd, cwd=dest, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        _RUNNING.add(proc)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return "timeout", f"no result after {timeout:g} s"
    except BaseException:  # Ctrl-C / SIGTERM while waiting: no orphan pytest
        proc.kill()
        proc.communicate()
        raise
    finally:
        with _RUNNING_LOCK:
            _RUNNING.discard(proc)
    code = proc.returncode
    lines = [ln for ln in stdout.splitlines() if ln.strip()]
    failed = [ln for ln in lines if ln.startswith(("FAILED ", "ERROR "))]  # -ra summary: the killing test
    last = (failed or lines or [stderr.strip()[-200:]])[0 if failed else -1][:160]
    if code == 0:
        return "passed", last
    if code in (1, 2, 3):  # tests failed, interrupted (import error in the mutant) or internal error
        return "failed", last
    return "error", f"pytest exit {code}: {last}"


def run_one(mutant: Mutant | None, timeout: float) -> Outcome:
    """Test one mutant (``None``: the unmutated baseline) in a fresh scratch copy."""
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="pb-mutant-") as tmp:
        dest = Path(tmp)
        _copy_repo(dest)
        if mutant is not None:
            problem = _apply(dest, mutant)
            if problem:
                return Outcome("not found", 0.0, problem)
        result, last = _pytest(dest, timeout)
    seconds = time.monotonic() - start
    status = {"passed": "survived", "failed": "killed", "timeout": "timeout", "error": "error"}[result]
    if mutant is None and result == "passed":
        status = "passed"
    return Outcome(status, seconds, last)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument("--only", type=int, action="append", metavar="N", help="run mutant N (repeatable)")
    parser.add_argument("--jobs", type=int, default=1, help="mutants tested in parallel (default 1)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per test run (default 300)")
    args = parser.parse_args(argv)
    numbered = list(enumerate(MUTANTS, start=1))
    if args.list:
        for n, m in numbered:
            print(f"{n:3d}  {m.path:26s} {m.description}")
        return 0
    if args.only:
        bad = [n for n in args.only if not 1 <= n <= len(MUTANTS)]
        if bad:
            parser.error(f"--only takes 1..{len(MUTANTS)}, got {bad}")
        numbered = [(n, m) for n, m in numbered if n in set(args.only)]
    if args.jobs < 1:
        parser.error("--jobs must be >= 1")
    signal.signal(signal.SIGTERM, _terminate)  # SIGTERM cleans up like Ctrl-C
    try:
        return _run(numbered, args)
    except KeyboardInterrupt:
        _kill_running()  # the worker threads then delete their scratch copies
        print("interrupted", file=sys.stderr)
        return 130


def _run(numbered, args) -> int:
    base = run_one(None, args.timeout)
    if base.status != "passed":
        print(f"baseline (no mutant) does not pass: {base.detail}", file=sys.stderr)
        return 2
    print(f"baseline passes ({base.seconds:.0f} s); {len(numbered)} mutant(s)", flush=True)
    counts: dict[str, int] = {}
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = [(n, m, pool.submit(run_one, m, args.timeout)) for n, m in numbered]
        try:
            for n, m, fut in futures:
                out = fut.result()
                counts[out.status] = counts.get(out.status, 0) + 1
                print(f"{n:3d}  {out.status:9s} {out.seconds:5.0f} s  {m.path:26s} {m.description}\n"
                      f"     {out.detail}", flush=True)
        except KeyboardInterrupt:
            for _, _, fut in futures:
                fut.cancel()
            _kill_running()
            raise
    print("summary: " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())))
    if counts.get("survived"):
        return 1
    return 2 if counts.get("not found") or counts.get("error") else 0


if __name__ == "__main__":
    sys.exit(main())
