"""The arena's contenders: what each one is, its family and the forms it runs in.

Online contenders are policy plug-ins (``policy`` = a factory ``(dimension=, n_arms=, config=, seed=)``;
``None`` = the built-in LinUCB) run by :func:`paretobandit.arena.loop.run_online` in up to three forms:

* ``quality``  — as the library routes: no cost penalty, no pacer (one run per seed, every budget);
* ``static``   — a static cost penalty λ_c fitted on val to each budget (grid of the experiments);
* ``paced``    — our primal–dual pacer at each budget (penalty and hard ceiling on the library's scores).

ParetoBandit's budget rows are the experiments' own rows (read from ``results/<experiment>/results.json``,
:mod:`paretobandit.arena.published`); its loop runs only time it and fill rows an experiment lacks.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..errors import ConfigError

__all__ = ["CONTENDERS", "FAMILIES", "FORMS", "Contender", "get_contenders", "library_policy"]

FAMILIES = ("paretobandit", "library", "offline", "reference")
FORMS = ("quality", "static", "paced")


def library_policy(path: str, **params) -> Callable:
    """A policy factory importing ``paretobandit.arena.adapters.<module>:<Class>`` lazily."""
    module, cls = path.split(":")

    def factory(*, dimension, n_arms, config=None, seed=None):
        import importlib

        klass = getattr(importlib.import_module(f"paretobandit.arena.adapters.{module}"), cls)
        return klass(dimension, n_arms, config, seed, **params)

    factory.__qualname__ = f"{cls}({', '.join(f'{k}={v}' for k, v in params.items())})"
    return factory


@dataclass(frozen=True)
class Contender:
    """One router of the arena.

    Attributes
    ----------
    name, family : str
        Row label and family (:data:`FAMILIES`).
    kind : {"online", "offline", "fixed", "random", "oracle"}
        How it runs.
    forms : tuple of str
        Online forms (:data:`FORMS`).
    policy : str or None
        ``"module:Class"`` of an adapter (online; ``None`` = LinUCB), or the offline router's name.
    priors : bool
        Start from the experiments' warm-up priors (ParetoBandit only).
    onboarding : bool
        Whether it can add a model at runtime (Exp 04).
    library : str or None
        The pip distribution it needs (for the "not installed" note).
    params : tuple
        Constructor keywords of the adapter / offline router.
    """

    name: str
    family: str
    kind: str
    forms: tuple[str, ...] = ()
    policy: str | None = None
    priors: bool = False
    onboarding: bool = False
    library: str | None = None
    params: tuple = ()

    def factory(self) -> Callable | None:
        """Policy factory of an online contender (``None``: the built-in LinUCB)."""
        if self.kind != "online" or self.policy is None:
            return None
        return library_policy(self.policy, **dict(self.params))

    def offline_router(self):
        """A fresh (unfitted) offline router."""
        from .offline import OFFLINE_ROUTERS

        return OFFLINE_ROUTERS[self.policy](**dict(self.params))

    def available(self) -> str | None:
        """``None`` when runnable here, else why not (a missing library)."""
        if self.library is None:
            return None
        import importlib.util

        return None if importlib.util.find_spec(self.library) is not None else f"{self.library} not installed"


def _c(*args, **kw) -> Contender:
    return Contender(*args, **kw)


CONTENDERS: dict[str, Contender] = {
    c.name: c
    for c in (
        _c(
            "paretobandit", "paretobandit", "online", ("quality", "paced"), None, priors=True, onboarding=True
        ),
        _c(
            "mabwiser-linucb",
            "library",
            "online",
            FORMS,
            "mabwiser:MabwiserLinUCB",
            onboarding=True,
            library="mabwiser",
            params=(("alpha", 0.1),),
        ),
        _c(
            "mabwiser-lints",
            "library",
            "online",
            FORMS,
            "mabwiser:MabwiserLinTS",
            onboarding=True,
            library="mabwiser",
            params=(("alpha", 0.01),),
        ),
        _c(
            "river-linucb",
            "library",
            "online",
            FORMS,
            "river:RiverLinUCB",
            onboarding=True,
            library="river",
            params=(("alpha", 1.0), ("beta", 1.0)),
        ),
        _c(
            "contextualbandits-linucb",
            "library",
            "online",
            FORMS,
            "contextualbandits:ContextualBanditsLinUCB",
            onboarding=True,
            library="contextualbandits",
            params=(("alpha", 0.1),),
        ),
        _c(
            "vw-squarecb",
            "library",
            "online",
            FORMS,
            "vw:VowpalSquareCB",
            onboarding=True,
            library="vowpalwabbit",
        ),
        _c("routellm-threshold", "offline", "offline", (), "routellm-threshold"),
        _c("knn", "offline", "offline", (), "knn", params=(("k", 10),)),
        _c("port", "offline", "offline", (), "port", params=(("k", 10), ("n_fit", 100))),
        _c(
            "epsilon-greedy",
            "reference",
            "online",
            ("quality", "paced"),
            "epsilon:EpsilonGreedy",
            onboarding=True,
            params=(("epsilon", 0.1),),
        ),
        _c("uniform-random", "reference", "random"),
        _c("fixed", "reference", "fixed"),
        _c("oracle", "reference", "oracle"),
    )
}


@functools.cache
def _names() -> tuple[str, ...]:
    return tuple(CONTENDERS)


def get_contenders(names: Sequence[str] | None = None) -> list[Contender]:
    """Contenders by name (``None``: all), in registry order; unknown names raise ConfigError."""
    if names is None:
        return list(CONTENDERS.values())
    unknown = [n for n in names if n not in CONTENDERS]
    if unknown:
        raise ConfigError(f"unknown contender(s) {unknown}; known: {list(_names())}")
    return [CONTENDERS[n] for n in _names() if n in set(names)]
