"""Appendix — latency benchmark (docs/PROTOCOLS.md §A7; notebook 11).

Two measurements, both single-process:

* **Micro-benchmark** (§A7.1): ``route`` then the direct ``update`` of the production
  :class:`~paretobandit.router.BanditRouter` (synthetic K = 3 registry, precomputed features, no priors,
  library defaults, no pacer) against three minimal LinUCB baselines written here — bare
  Sherman–Morrison (:class:`BareSM`), cached full inverse (:class:`CachedInverse`) and an inverse per
  route (:class:`PerRouteInverse`) — at d = 26 and d = 385. Contexts are N(0, 1) rows of
  ``default_rng(seed)``, L2-normalised, bias appended; rewards a separate ``default_rng(seed)``
  U[0.3, 0.9] vector shared by every configuration. Each cycle times ``route(x)`` and then
  ``update(arm, x, r)`` with :func:`time.perf_counter_ns`; the first ``warmup`` cycles are not recorded.
* **End-to-end** (§A7.2): MiniLM encode, PCA + whitening + bias, ``route`` of the 26-d vector and
  ``route`` of the prompt string, each timed separately per iteration over a fixed prompt pool.

Every timing is machine-dependent: only the *structure* of the outputs (counts, configuration) and
robust orderings are reproducible. The hosted-model inference table (§A7.3) needs network access and an
API key; it is not measured here — :func:`inference_overhead` only summarises a user-supplied file.
"""

from __future__ import annotations

import contextlib
import csv
import math
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, DataError
from ..workbench.stats import bootstrap_ci

__all__ = [
    "BASELINES",
    "BareSM",
    "CachedInverse",
    "PerRouteInverse",
    "inference_overhead",
    "micro_benchmark",
    "percentiles",
    "run_e2e_benchmark",
    "synthetic_workload",
    "time_cycles",
    "run_from_config",
]

PCTS = (50, 95, 99)


# ------------------------------------------------------------------ workload
def synthetic_workload(d: int, rounds: int, seed: int = 42) -> tuple[np.ndarray, np.ndarray]:
    """Contexts ``(rounds, d)`` (unit-norm N(0, 1) rows of length d − 1, bias 1.0 last) and rewards.

    Both come from their own fresh ``default_rng(seed)``: contexts from ``standard_normal``, rewards from
    ``uniform(0.3, 0.9, rounds)`` (so the reward vector does not depend on d).
    """
    if int(d) != d or d < 2:
        raise ConfigError(f"d must be an integer >= 2, got {d!r}")
    if int(rounds) != rounds or rounds < 1:
        raise ConfigError(f"rounds must be a positive integer, got {rounds!r}")
    z = np.random.default_rng(seed).standard_normal((int(rounds), int(d) - 1))
    z /= np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)
    contexts = np.hstack([z, np.ones((int(rounds), 1))])
    rewards = np.random.default_rng(seed).uniform(0.3, 0.9, int(rounds))
    return contexts, rewards


# ------------------------------------------------------------------ baselines
class BareSM:
    """Minimal disjoint LinUCB: ``A = I``, ``A⁻¹ = I``, ``b = 0`` per arm; Sherman–Morrison updates.

    ``route(x)`` returns the index of the first maximum (strict ``>``) of ``θᵀx + α·sqrt(max(xᵀA⁻¹x, 0))``
    — no cost term, no forgetting, no locks.
    """

    def __init__(self, n_arms: int, d: int, alpha: float = 0.1):
        self.alpha = float(alpha)
        self.A = [np.eye(d) for _ in range(n_arms)]
        self.A_inv = [np.eye(d) for _ in range(n_arms)]
        self.b = [np.zeros(d) for _ in range(n_arms)]
        self.theta = [np.zeros(d) for _ in range(n_arms)]

    def route(self, x: np.ndarray) -> int:
        """Index of the highest UCB score (first maximum wins)."""
        best, best_score = 0, -math.inf
        for a in range(len(self.A)):
            bonus = math.sqrt(max(float(x @ self.A_inv[a] @ x), 0.0))
            score = float(self.theta[a] @ x) + self.alpha * bonus
            if score > best_score:
                best, best_score = a, score
        return best

    def update(self, arm: int, x: np.ndarray, reward: float) -> None:
        """``A += xxᵀ``, ``b += r·x``, rank-one Sherman–Morrison on ``A⁻¹``, ``θ = A⁻¹b``."""
        self.A[arm] += np.outer(x, x)
        self.b[arm] += reward * x
        u = self.A_inv[arm] @ x
        self.A_inv[arm] -= np.outer(u, u) / (1.0 + float(x @ u))
        self.theta[arm] = self.A_inv[arm] @ self.b[arm]


class CachedInverse(BareSM):
    """:class:`BareSM` whose update re-inverts ``A`` in full (``O(d³)`` per update) instead of SM."""

    def update(self, arm: int, x: np.ndarray, reward: float) -> None:
        """``A += xxᵀ``, ``b += r·x``, ``A⁻¹ = inv(A)``, ``θ = A⁻¹b``."""
        self.A[arm] += np.outer(x, x)
        self.b[arm] += reward * x
        self.A_inv[arm] = np.linalg.inv(self.A[arm])
        self.theta[arm] = self.A_inv[arm] @ self.b[arm]


class PerRouteInverse:
    """Keeps only ``A`` and ``b``; every ``route`` inverts each arm's ``A`` and recomputes ``θ``."""

    def __init__(self, n_arms: int, d: int, alpha: float = 0.1):
        self.alpha = float(alpha)
        self.A = [np.eye(d) for _ in range(n_arms)]
        self.b = [np.zeros(d) for _ in range(n_arms)]

    def route(self, x: np.ndarray) -> int:
        """Index of the highest UCB score after K inversions (first maximum wins)."""
        best, best_score = 0, -math.inf
        for a in range(len(self.A)):
            a_inv = np.linalg.inv(self.A[a])
            theta = a_inv @ self.b[a]
            score = float(theta @ x) + self.alpha * math.sqrt(max(float(x @ a_inv @ x), 0.0))
            if score > best_score:
                best, best_score = a, score
        return best

    def update(self, arm: int, x: np.ndarray, reward: float) -> None:
        """Accumulate ``A += xxᵀ`` and ``b += r·x`` only."""
        self.A[arm] += np.outer(x, x)
        self.b[arm] += reward * x


BASELINES: dict[str, type] = {"bare_sm": BareSM, "cached_inv": CachedInverse,
                              "per_route_inv": PerRouteInverse}
"""Baseline configurations of §A7.1, in the protocol's run order (after ``paretobandit``)."""


# ------------------------------------------------------------------ timing
def time_cycles(route: Callable[[Any], Any], update: Callable[[Any, np.ndarray, float], None],
                route_inputs: Sequence[Any], contexts: np.ndarray, rewards: np.ndarray,
                warmup: int) -> tuple[np.ndarray, np.ndarray]:
    """Run every cycle ``i``: time ``a = route(route_inputs[i])``, then ``update(a, contexts[i], r_i)``.

    Returns the route and update durations in nanoseconds of the cycles ``i ≥ warmup``.
    """
    n = len(rewards)
    if not 0 <= warmup < n:
        raise ConfigError(f"warmup must be in [0, rounds), got {warmup} with rounds = {n}")
    clock = time.perf_counter_ns
    route_ns = np.empty(n, dtype=np.int64)
    update_ns = np.empty(n, dtype=np.int64)
    rew = [float(r) for r in rewards]
    for i in range(n):
        t0 = clock()
        arm = route(route_inputs[i])
        t1 = clock()
        update(arm, contexts[i], rew[i])
        t2 = clock()
        route_ns[i] = t1 - t0
        update_ns[i] = t2 - t1
    return route_ns[warmup:], update_ns[warmup:]


def percentiles(values: np.ndarray, scale: float, pcts: Sequence[int] = PCTS) -> dict[str, float]:
    """``{"p50": .., "p95": .., "p99": ..}`` of ``values * scale`` (NumPy linear interpolation)."""
    arr = np.asarray(values, dtype=float) * scale
    return {f"p{p}": float(np.percentile(arr, p)) for p in pcts}


def _cycle_stats(route_ns: np.ndarray, update_ns: np.ndarray) -> dict[str, Any]:
    total = route_ns + update_ns
    return {"n_measured": int(route_ns.size),
            "route_us": percentiles(route_ns, 1e-3), "update_us": percentiles(update_ns, 1e-3),
            "total_us": percentiles(total, 1e-3, (50, 95)),
            "throughput": float(route_ns.size / (total.sum() * 1e-9))}


@contextlib.contextmanager
def _blas_threads(n: int | None):
    """Limit BLAS threads to ``n`` (needs threadpoolctl; a no-op without it or when ``n`` is None)."""
    if n is None:
        yield
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl ships with scikit-learn
        yield
        return
    with threadpool_limits(int(n)):
        yield


def _model_of(route: Callable) -> Callable:
    """``route`` returning only the chosen model (BanditRouter.route returns ``(model, log)``)."""
    def call(v):
        return route(v)[0]
    return call


def _production_router(registry: Mapping[str, Sequence[float]], d: int, router_params: Mapping[str, Any]):
    from ..features import FeatureService
    from ..router import BanditRouter

    models = {name: {"input_cost_per_m": float(p[0]), "output_cost_per_m": float(p[1])}
              for name, p in registry.items()}
    return BanditRouter.create(model_registry=models, feature_service=FeatureService.for_precomputed(d - 1),
                               priors="none", budget=None, **dict(router_params))


def micro_benchmark(*, dims: Sequence[int], rounds: int, warmup: int, seed: int,
                    registry: Mapping[str, Sequence[float]], router_params: Mapping[str, Any],
                    baseline_alpha: float, reduced: Mapping[str, Mapping[str, Any]] | None = None,
                    blas_threads: int | None = 1) -> dict[str, Any]:
    """§A7.1: every configuration at every d, run sequentially, each freshly constructed.

    Parameters
    ----------
    dims : sequence of int
        Context dimensions including the bias (paper: 26 and 385).
    rounds, warmup : int
        Cycles run and cycles not recorded (paper: 5,000 and 500).
    seed : int
        Seed of the context and reward generators (paper: 42).
    registry : mapping
        ``{name: (input $/M, output $/M)}`` of the synthetic arms (K = its length).
    router_params : mapping
        Keyword arguments of :meth:`BanditRouter.create` (paper: the library defaults).
    baseline_alpha : float
        Exploration weight of the three baselines (paper: 0.1).
    reduced : mapping, optional
        ``{config: {str(d): {"rounds": n, "warmup": w}}}``: cells run the first ``n`` cycles of the same
        workload instead (the generators' prefixes do not depend on the length), ``w`` not recorded.
    blas_threads : int, optional
        BLAS thread limit during the runs (paper: single-threaded); None leaves it alone.

    Returns
    -------
    dict
        ``{"n_arms", "dims", "configs": {config: {str(d): stats}}, "ratios": {...}}``; stats hold ``rounds``,
        ``warmup``,
        ``n_measured``,
        ``route_us`` / ``update_us`` (p50, p95, p99), ``total_us`` (p50, p95) and ``throughput``
        (measured cycles per second of timed route + update).
    """
    if not registry:
        raise ConfigError("registry must name at least one arm")
    k = len(registry)
    configs: dict[str, dict[str, Any]] = {name: {} for name in ("paretobandit", *BASELINES)}
    reduced = dict(reduced or {})
    unknown = set(reduced) - set(configs)
    if unknown:
        raise ConfigError(f"reduced names unknown configurations {sorted(unknown)}; known: {list(configs)}")
    with _blas_threads(blas_threads):
        for name in configs:
            for d in dims:
                cell = (reduced.get(name) or {}).get(str(d))
                n, w = (int(cell["rounds"]), int(cell["warmup"])) if cell else (int(rounds), int(warmup))
                contexts, rewards = synthetic_workload(d, n, seed)
                if name == "paretobandit":
                    router = _production_router(registry, d, router_params)
                    raw = np.ascontiguousarray(contexts[:, :-1])  # the router appends the bias itself
                    route_ns, update_ns = time_cycles(_model_of(router.route), router.update,
                                                      raw, contexts, rewards, w)
                else:
                    policy = BASELINES[name](k, d, baseline_alpha)
                    route_ns, update_ns = time_cycles(policy.route, policy.update, contexts, contexts,
                                                      rewards, w)
                configs[name][str(d)] = {"rounds": n, "warmup": w, **_cycle_stats(route_ns, update_ns)}
    return {"n_arms": k, "dims": [int(d) for d in dims], "configs": configs, "ratios": _ratios(configs, dims)}


def _ratios(configs: Mapping[str, Mapping[str, Any]], dims: Sequence[int]) -> dict[str, Any]:
    """SM vs cached-inverse and production-overhead ratios per d, and the PCA throughput gain."""
    out: dict[str, Any] = {}
    for d in dims:
        sm, ci, pb = (configs[c][str(d)] for c in ("bare_sm", "cached_inv", "paretobandit"))
        out[str(d)] = {
            "cached_over_sm_route_p50": ci["route_us"]["p50"] / sm["route_us"]["p50"],
            "cached_over_sm_update_p50": ci["update_us"]["p50"] / sm["update_us"]["p50"],
            "sm_over_cached_throughput": sm["throughput"] / ci["throughput"],
            "pb_over_sm_route_p50": pb["route_us"]["p50"] / sm["route_us"]["p50"],
            "pb_over_sm_update_p50": pb["update_us"]["p50"] / sm["update_us"]["p50"],
        }
    if len(dims) >= 2:
        lo, hi = str(min(dims)), str(max(dims))
        pb = configs["paretobandit"]
        out["pca_gain"] = pb[lo]["throughput"] / pb[hi]["throughput"]
    return out


# ------------------------------------------------------------------ end to end
E2E_STAGES = ("encode", "pca", "route_vector", "route_prompt")
"""§A7.2 stages: MiniLM encode; PCA + whitening + bias; route(26-d vector); route(prompt) = full pipeline."""


def run_e2e_benchmark(prompts: Sequence[str], *, warmup_iters: int, timed_iters: int,
                      router_params: Mapping[str, Any], pca_path: str | Path | None = None,
                      torch_threads: int | None = 1, feature_service=None) -> dict[str, Any]:
    """§A7.2: time the four stages of routing a prompt, independently, per iteration.

    One untimed ``extract("warmup")`` loads the encoder and PCA; then ``warmup_iters`` untimed and
    ``timed_iters`` timed iterations cycle through ``prompts`` in order. The prompt router uses the
    MiniLM feature service; the vector stage routes the iteration's 26-d context (bias dropped, appended
    again) on a twin router with a precomputed-vector service and the same registry and parameters (a
    MiniLM-service router reads vectors as raw embeddings). No feedback is ever given.

    Parameters
    ----------
    prompts : sequence of str
        The fixed prompt pool (paper: 20 prompts).
    warmup_iters, timed_iters : int
        Paper: 50 and 200.
    router_params : mapping
        Keyword arguments of :meth:`BanditRouter.create` (default K = 3 registry, no priors, no pacer).
    pca_path : path, optional
        PCA artifact (default: the feature service's own resolution).
    torch_threads : int, optional
        ``torch.set_num_threads`` during the run (restored afterwards); None leaves it alone.
    feature_service : FeatureService, optional
        Replaces the MiniLM service (tests); must have an ``encoder``-free :meth:`extract` path.

    Returns
    -------
    dict
        ``{"stages": {stage: {"p50_ms", "p95_ms", "p99_ms"}}, "sum_stage_p50_ms", "total_p50_ms",
        "embed_share_pct", "route_share_pct", "n_timed", "n_prompts", "dimension"}``.
    """
    from ..features import FeatureService
    from ..router import BanditRouter

    if not prompts or not all(isinstance(p, str) and p.strip() for p in prompts):
        raise ConfigError("prompts must be a non-empty list of non-empty strings")
    if warmup_iters < 0 or timed_iters < 1:
        raise ConfigError(f"need warmup_iters >= 0 and timed_iters >= 1, got {warmup_iters}, {timed_iters}")
    fs = feature_service if feature_service is not None else (
        FeatureService(pca_path=str(pca_path)) if pca_path is not None else FeatureService())
    encode = _stage_encoder(fs)
    params = dict(router_params)
    router = BanditRouter.create(feature_service=fs, priors="none", budget=None, **params)
    twin = BanditRouter.create(feature_service=FeatureService.for_precomputed(fs.dimension - 1),
                               priors="none", budget=None, **params)
    clock = time.perf_counter_ns
    times = {s: np.empty(timed_iters, dtype=np.int64) for s in E2E_STAGES}
    with _torch_threads(torch_threads):
        fs.extract("warmup")
        for it in range(warmup_iters + timed_iters):
            prompt = prompts[it % len(prompts)]
            t0 = clock()
            emb = encode([prompt])
            t1 = clock()
            x = fs.extract(emb[0])
            t2 = clock()
            raw = np.ascontiguousarray(x[:-1])
            t3 = clock()
            twin.route(raw)
            t4 = clock()
            router.route(prompt)
            t5 = clock()
            j = it - warmup_iters
            if j >= 0:
                for stage, dt in zip(E2E_STAGES, (t1 - t0, t2 - t1, t4 - t3, t5 - t4), strict=True):
                    times[stage][j] = dt
    stages = {s: {f"{k}_ms": v for k, v in percentiles(times[s], 1e-6).items()} for s in E2E_STAGES}
    total = stages["route_prompt"]["p50_ms"]
    return {"stages": stages, "n_timed": int(timed_iters), "n_warmup": int(warmup_iters),
            "n_prompts": len(prompts), "dimension": int(fs.dimension),
            "sum_stage_p50_ms": sum(stages[s]["p50_ms"] for s in ("encode", "pca", "route_vector")),
            "total_p50_ms": total,
            "embed_share_pct": 100.0 * stages["encode"]["p50_ms"] / total,
            "route_share_pct": 100.0 * stages["route_vector"]["p50_ms"] / total}


def _stage_encoder(fs) -> Callable[[list[str]], np.ndarray]:
    """Stage 1: the bare sentence-transformers encode (normalised), or the custom encoder via ``embed``."""
    if fs.encoder is None:
        return fs.embed
    model = fs.encoder.model  # loads the weights (untimed)

    def encode(texts):
        return model.encode(texts, batch_size=1, convert_to_numpy=True, normalize_embeddings=True,
                            show_progress_bar=False)
    return encode


@contextlib.contextmanager
def _torch_threads(n: int | None):
    if n is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


# ------------------------------------------------------------------ §A7.3 (user-supplied)
def inference_overhead(path: str | Path | None, e2e_total_p50_ms: float, *, n_resamples: int = 10_000,
                       seed: int = 42) -> dict[str, Any] | None:
    """Summarise a user-supplied hosted-model latency file (§A7.3); ``None`` when no file is given.

    The file is a CSV with one successful trial per row and the columns ``model``, ``bucket``
    (short / medium / long), ``ttft_ms`` and ``total_ms``. Per (model, bucket): mean TTFT and total with
    a percentile-bootstrap CI of the mean, and ``routing_pct`` = ``e2e_total_p50_ms`` / mean total × 100.

    Raises
    ------
    DataError
        Missing file, missing column or a non-numeric / non-positive latency (names the line).
    """
    if path is None:
        return None
    path = Path(path)
    if not path.is_file():
        raise DataError(f"inference latency file not found: {path}")
    groups: dict[tuple[str, str], dict[str, list[float]]] = {}
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = {"model", "bucket", "ttft_ms", "total_ms"} - set(reader.fieldnames or ())
        if missing:
            raise DataError(f"{path}: missing column(s) {sorted(missing)}")
        for line, row in enumerate(reader, start=2):
            try:
                ttft, total = float(row["ttft_ms"]), float(row["total_ms"])
            except (TypeError, ValueError):
                raise DataError(f"{path}:{line}: ttft_ms/total_ms must be numbers") from None
            if not (ttft > 0 and total > 0 and math.isfinite(ttft) and math.isfinite(total)):
                raise DataError(f"{path}:{line}: latencies must be finite and > 0")
            g = groups.setdefault((row["model"], row["bucket"]), {"ttft_ms": [], "total_ms": []})
            g["ttft_ms"].append(ttft)
            g["total_ms"].append(total)
    rows = []
    for (model, bucket), g in groups.items():
        entry: dict[str, Any] = {"model": model, "bucket": bucket, "n": len(g["total_ms"])}
        for key, vals in g.items():
            lo, hi = bootstrap_ci(vals, n_resamples=n_resamples, seed=seed)
            entry[f"{key}_mean"] = float(np.mean(vals))
            entry[f"{key}_ci_low"], entry[f"{key}_ci_high"] = lo, hi
        entry["routing_pct"] = 100.0 * e2e_total_p50_ms / entry["total_ms_mean"]
        rows.append(entry)
    return {"source": str(path), "rows": rows}


#: ``experiment`` keys the notebook reads itself (none beyond the workbench's).
REPORT_KEYS = ()


def run_from_config(cfg) -> dict[str, Any]:
    """§A7.1–§A7.3 with every argument taken from the composed config ``cfg``.

    Returns ``{"micro": micro_benchmark(...), "e2e": run_e2e_benchmark(...), "inference":
    inference_overhead(...)}`` (``inference`` is ``None`` without ``experiment.inference_file``).
    :class:`~paretobandit.errors.ConfigError` for a missing or unread ``experiment`` key.
    """
    from .binding import Binding

    b = Binding(cfg, "latency", REPORT_KEYS)
    exp = b.experiment
    m, e = exp["micro"], exp["e2e"]
    micro_kwargs = dict(dims=m["dims"], rounds=m["rounds"], warmup=m["warmup"], seed=m["seed"],
                        registry=m.plain("registry"), router_params=m.plain("router"),
                        baseline_alpha=m["baseline_alpha"], reduced=m.plain("reduced"),
                        blas_threads=exp["blas_threads"])
    e2e_kwargs = dict(warmup_iters=e["warmup_iters"], timed_iters=e["timed_iters"],
                      router_params=e.plain("router"), pca_path=b.path(e["pca_path"]),
                      torch_threads=e["torch_threads"])
    prompts = e["prompts"]
    inference_file = b.path(exp.get("inference_file"))
    boot = {"n_resamples": exp["bootstrap"]["n_resamples"], "seed": exp["bootstrap"]["seed"]}
    b.check()
    micro = micro_benchmark(**micro_kwargs)
    e2e = run_e2e_benchmark(prompts, **e2e_kwargs)
    inference = inference_overhead(inference_file, e2e["total_p50_ms"], **boot)
    return {"micro": micro, "e2e": e2e, "inference": inference}
