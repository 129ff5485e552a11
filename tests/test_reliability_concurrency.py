"""Concurrency: 8 worker threads route + feed back while a registry thread registers, reprices and removes.

Checks: no exception other than the documented ``UnknownModelError`` for feedback whose model was removed
meanwhile; no deadlock (every thread joins within a timeout); and, with γ = 1 (no forgetting, so the
update is a plain sum), each surviving arm's ``A`` equals ``λ₀I + Σ xxᵀ`` and ``b`` equals ``Σ r·x`` over
exactly the feedbacks that were acknowledged for it — an order-independent check that no update was lost,
duplicated or applied to the wrong arm. ``A⁻¹`` and ``θ`` must match ``A`` and ``b``; counters must add up.

Size: ``STEPS_PER_THREAD`` route+feedback pairs per thread (10,000, i.e. 80,000 in total); on this
2-core machine the 80,000 steps take about 15 s (the file about 20 s).
"""

from __future__ import annotations

import threading
import time

import numpy as np

from paretobandit import BanditRouter
from paretobandit.errors import UnknownModelError

N_THREADS = 8
STEPS_PER_THREAD = 10_000
JOIN_TIMEOUT = 240.0
D = 25


def test_threads_route_feedback_and_registry_changes():
    router = BanditRouter.create(priors="none", forgetting_factor=1.0, alpha=0.05, cost_penalty=0.0,
                                 budget=0.002, seed=3)
    errors: list[BaseException] = []
    applied: list[list[tuple[str, np.ndarray, float]]] = [[] for _ in range(N_THREADS)]
    rejected_removed = [0] * N_THREADS
    routes = [0] * N_THREADS
    stop = threading.Event()
    registry_ops = {"register": 0, "reprice": 0, "remove": 0}
    registered_all: list[str] = []

    def worker(k: int) -> None:
        rng = np.random.default_rng(100 + k)
        try:
            pending = []
            for step in range(STEPS_PER_THREAD):
                v = rng.normal(size=D)
                if step % 25 == 0:  # force a pull of a (possibly just removed) dynamic arm
                    dyn = [m for m in router.models if m.startswith("dyn-")]
                    try:
                        _, log = router.route(v, force_model=dyn[-1] if dyn else None)
                    except UnknownModelError:
                        _, log = router.route(v)
                else:
                    _, log = router.route(v)
                routes[k] += 1
                pending.append((log, np.append(v, 1.0)))
                if len(pending) > 2 or step == STEPS_PER_THREAD - 1:
                    while pending:
                        old, x = pending.pop(0)
                        r = float(rng.random())
                        try:
                            router.process_feedback(old.request_id, r, cost=float(rng.random() * 0.004))
                        except UnknownModelError:
                            rejected_removed[k] += 1
                            continue
                        applied[k].append((old.model, x, r))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    def registry() -> None:
        rng = np.random.default_rng(7)
        i = 0
        try:
            while not stop.is_set():
                name = f"dyn-{i}"
                router.register_model(name, input_cost_per_m=float(rng.uniform(0.05, 2)),
                                      output_cost_per_m=float(rng.uniform(0.05, 4)))
                registered_all.append(name)
                registry_ops["register"] += 1
                time.sleep(0.005)
                router.update_model_pricing("google/gemini-2.5-pro",
                                            input_cost_per_m=float(rng.uniform(0.5, 2)),
                                            output_cost_per_m=float(rng.uniform(5, 12)))
                registry_ops["reprice"] += 1
                if i:  # the previous dynamic arm goes (with whatever feedback is still pending for it)
                    router.remove_model(f"dyn-{i - 1}")
                    registry_ops["remove"] += 1
                time.sleep(0.005)
                i += 1
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(N_THREADS)]
    reg = threading.Thread(target=registry, daemon=True)
    t0 = time.monotonic()
    reg.start()
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=max(1.0, JOIN_TIMEOUT - (time.monotonic() - t0)))
    stop.set()
    reg.join(timeout=10)
    elapsed = time.monotonic() - t0
    alive = [th.name for th in [*threads, reg] if th.is_alive()]
    assert not alive, f"deadlock or too slow after {elapsed:.0f} s: {alive}"
    assert not errors, errors[:3]
    print(f"concurrency: {N_THREADS}x{STEPS_PER_THREAD} route+feedback in {elapsed:.1f} s, registry ops "
          f"{registry_ops}, feedback rejected for removed arms: {sum(rejected_removed)}")
    assert registry_ops["register"] >= 5 and registry_ops["remove"] >= 2

    total_routes = N_THREADS * STEPS_PER_THREAD
    assert sum(routes) == total_routes and router.t == total_routes
    n_applied = sum(len(a) for a in applied)
    assert n_applied + sum(rejected_removed) == total_routes
    assert router.pacer.n_updates == n_applied

    d = router.dimension
    lam0 = router.config.ridge
    per_arm: dict[str, tuple[np.ndarray, np.ndarray, int]] = {}
    for rows in applied:
        for model, x, r in rows:
            a, b, n = per_arm.get(model, (lam0 * np.eye(d), np.zeros(d), 0))
            per_arm[model] = (a + np.outer(x, x), b + r * x, n + 1)
    assert router.models == ["meta-llama/llama-3.1-8b-instruct", "mistralai/mistral-large-2512",
                             "google/gemini-2.5-pro", registered_all[-1]]
    assert sum(rejected_removed) > 0, "no feedback hit a removed arm (removal path not exercised)"
    for model in router.models:
        state = router.arm_state(model)
        a, b, n = per_arm.get(model, (lam0 * np.eye(d), np.zeros(d), 0))
        assert state["n_updates"] == n, model
        np.testing.assert_allclose(state["A"], a, rtol=1e-10, atol=1e-8, err_msg=model)
        np.testing.assert_allclose(state["b"], b, rtol=1e-10, atol=1e-8, err_msg=model)
        np.testing.assert_allclose(state["A_inv"] @ state["A"], np.eye(d), atol=1e-7, err_msg=model)
        np.testing.assert_allclose(state["theta"], np.linalg.solve(state["A"], state["b"]), rtol=1e-6,
                                   atol=1e-8, err_msg=model)
