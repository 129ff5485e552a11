"""End-to-end routing latency from a raw prompt vs. the MiniLM encode alone.

Runs single-threaded (``OMP_NUM_THREADS=1``, ``torch.set_num_threads(1)``) so figures are comparable on a
shared machine. For each prompt, in interleaved order: (a) the bare sentence-transformers encode,
(b) ``FeatureService.extract`` (encode + PCA + whitening + bias), (c) ``BanditRouter.route`` from the
raw prompt (extract + scoring + pacer + context store), and (d) ``route`` from the precomputed 384-d
embedding (everything except the encoder). Target: p50(route) <= 1.2 x p50(encode).

Usage::

    python benchmarks/bench_features.py [--n 300] [--json out.json]
"""

from __future__ import annotations

import os

os.environ["OMP_NUM_THREADS"] = "1"
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from paretobandit.data import DataError, load_reward_table  # noqa: E402
from paretobandit.features import FeatureService  # noqa: E402


def _prompts(n: int) -> list[str]:
    try:
        table = load_reward_table("val")
        rng = np.random.default_rng(0)
        return [table.prompts[i] for i in rng.choice(len(table), size=n, replace=len(table) < n)]
    except DataError:
        base = ["Summarize this document in three sentences.", "What is the capital of Australia?",
                "Write a Python function that merges two sorted lists.", "Explain photosynthesis to a child."]
        return [f"{base[i % len(base)]} (variant {i})" for i in range(n)]


def _pct(samples: list[float]) -> dict[str, float]:
    arr = np.asarray(samples) * 1e3
    return {"p50_ms": float(np.percentile(arr, 50)), "p99_ms": float(np.percentile(arr, 99)),
            "mean_ms": float(arr.mean())}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300, help="timed prompts per variant")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    from paretobandit.router import BanditRouter

    fs = FeatureService()
    model = fs.encoder.model
    router = BanditRouter.create(feature_service=fs, priors="auto", budget=6.62e-4, seed=0)
    prompts = _prompts(args.n + args.warmup)

    def encode(p):
        return model.encode([p], batch_size=1, convert_to_numpy=True, normalize_embeddings=True,
                            show_progress_bar=False)

    times = {"encode": [], "extract": [], "route": [], "route_emb": []}
    cpu0 = time.process_time()
    for i, p in enumerate(prompts):
        t0 = time.perf_counter()
        emb = encode(p)[0]
        t1 = time.perf_counter()
        fs.extract(p)
        t2 = time.perf_counter()
        _, log = router.route(p)
        t3 = time.perf_counter()
        router.process_feedback(log.request_id, 0.9)  # keep the context store from growing
        t4 = time.perf_counter()
        _, log = router.route(emb)  # same request minus the encoder: PCA + scoring + pacer + store
        t5 = time.perf_counter()
        router.process_feedback(log.request_id, 0.9)
        if i >= args.warmup:
            times["route_emb"].append(t5 - t4)
            times["encode"].append(t1 - t0)
            times["extract"].append(t2 - t1)
            times["route"].append(t3 - t2)
    cpu = time.process_time() - cpu0
    stats = {k: _pct(v) for k, v in times.items()}
    ratio_p50 = stats["route"]["p50_ms"] / stats["encode"]["p50_ms"]
    ratio_p99 = stats["route"]["p99_ms"] / stats["encode"]["p99_ms"]
    result = {"threads": "OMP_NUM_THREADS=1, torch.set_num_threads(1)", "n": args.n,
              "dimension": fs.dimension,
              "stats": stats, "route_over_encode_p50": ratio_p50, "route_over_encode_p99": ratio_p99,
              "target": "route p50 <= 1.2 x encode p50", "meets_target": bool(ratio_p50 <= 1.2),
              "cpu_seconds": cpu, "load_average": list(os.getloadavg())}
    print(f"single-threaded (OMP_NUM_THREADS=1, torch threads 1); d={fs.dimension}; n={args.n} prompts "
          f"from {'the val split' if 'variant' not in prompts[0] else 'synthetic prompts'}")
    labels = {"encode": "encode only (sentence-transformers)", "extract": "FeatureService.extract",
              "route": "route(prompt), end to end", "route_emb": "route(embedding): all but the encoder"}
    for k, label in labels.items():
        s = stats[k]
        print(f"  {label:<38} p50 {s['p50_ms']:8.3f} ms   p99 {s['p99_ms']:8.3f} ms   "
              f"mean {s['mean_ms']:8.3f} ms")
    print(f"  route / encode: p50 {ratio_p50:.3f}x, p99 {ratio_p99:.3f}x (target <= 1.2x at p50: "
          f"{'met' if ratio_p50 <= 1.2 else 'NOT met'})")
    print(f"  load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores (shared machine)")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
