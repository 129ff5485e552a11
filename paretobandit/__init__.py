"""ParetoBandit: budget-paced, non-stationary LLM routing.

A contextual bandit (disjoint LinUCB on prompt embeddings) picks one model per request; an online
primal–dual pacer keeps the average $ cost per request under a ceiling; geometric forgetting
follows price cuts and silent quality regressions; models can be added, removed and repriced at
runtime.

Public names are imported lazily so that ``import paretobandit`` stays cheap (no torch, no scipy
until needed).
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "BanditRouter": "router",
    "RoutingLog": "router",
    "RouterConfig": "config",
    "BudgetPacer": "pacer",
    "PacingMode": "pacer",
    "FeatureService": "features",
    "EphemeralContextStore": "stores",
    "SqliteContextStore": "stores",
    "generate_warmup_priors": "priors",
    "load_priors": "priors",
    "RewardTable": "data",
    "load_reward_table": "data",
    "load_catalog": "data",
    "load_features": "data",
    "build_features": "data",
    "fetch": "data",
    "train_pca": "pca",
    "load_pca": "pca",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'paretobandit' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
