"""Bind a composed config to an experiment's run function: config keys become keyword arguments once.

Every experiment module has ``run_from_config(cfg, ...)``: it reads the keys it needs from the composed
config (``experiment``, ``router``, ``pacer``, ``portfolio``, ``scale`` and ``paths`` groups, as a notebook
has them) through a :class:`Binding` and calls the module's ``run_*`` function. A missing key is a
:class:`~paretobandit.errors.ConfigError` naming its dotted path; so is an ``experiment`` key that
neither the run function nor the notebook's report step reads (a typo, or a key no code honours).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..errors import ConfigError

__all__ = ["Binding", "ConfigView", "WORKBENCH_KEYS", "as_plain"]

#: ``experiment`` keys the workbench reads (runner, README, publish), never the run functions.
WORKBENCH_KEYS = ("name", "notebook", "title", "macro_prefix", "depends_on", "inputs", "outputs")

_MISSING = object()


def as_plain(cfg: Any) -> dict:
    """A resolved plain-dict copy of an OmegaConf ``DictConfig`` or a mapping."""
    if isinstance(cfg, Mapping) and not hasattr(cfg, "_metadata"):
        return copy.deepcopy(dict(cfg))
    from omegaconf import DictConfig, OmegaConf

    if isinstance(cfg, DictConfig):
        return OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)
    raise ConfigError(f"config must be a DictConfig or a mapping, got {type(cfg).__name__}")


class ConfigView:
    """Read-only view of one config mapping that records which dotted keys were read.

    ``view["a"]`` returns a nested :class:`ConfigView` for a mapping and the plain value otherwise;
    :meth:`plain` returns a whole subtree as plain Python data (the subtree counts as read).
    """

    def __init__(self, data: Mapping, path: str, reads: set[str]):
        self._data, self._path, self._reads = data, path, reads

    def _key(self, key: str) -> str:
        return f"{self._path}.{key}" if self._path else key

    def _value(self, key: str, default: Any = _MISSING) -> Any:
        if key in self._data:
            return self._data[key]
        if default is _MISSING:
            raise ConfigError(f"missing config key {self._key(key)}")
        return default

    def __getitem__(self, key: str) -> Any:
        value = self._value(key)
        if isinstance(value, Mapping):
            return ConfigView(value, self._key(key), self._reads)
        self._reads.add(self._key(key))
        return copy.deepcopy(value)

    def __contains__(self, key: str) -> bool:
        return key in self._data

    def get(self, key: str, default: Any = None) -> Any:
        """``self[key]`` if present, else ``default`` (a missing optional key is not an error)."""
        return self[key] if key in self._data else default

    def plain(self, key: str) -> Any:
        """The subtree at ``key`` as plain data (dicts keep their key order)."""
        value = self._value(key)
        self._reads.add(self._key(key))
        return copy.deepcopy(value)

    def keys(self) -> Iterable[str]:
        """Keys of the mapping (reading none of them)."""
        return self._data.keys()


def _leaves(tree: Mapping, path: str) -> list[str]:
    out = []
    for key, value in tree.items():
        sub = f"{path}.{key}"
        out += _leaves(value, sub) if isinstance(value, Mapping) and value else [sub]
    return out


class Binding:
    """The composed config of one experiment run, read once into keyword arguments.

    Parameters
    ----------
    cfg : DictConfig or mapping
        The composed configuration (``experiment`` and the groups the experiment uses).
    experiment : str
        Expected ``experiment.name`` (a config of another experiment is an error).
    report_keys : iterable of str
        ``experiment`` keys read by the notebook's report step (summaries, figures), not by the run.
    """

    def __init__(self, cfg: Any, experiment: str, report_keys: Iterable[str] = ()):
        self._cfg = cfg
        self._data = as_plain(cfg)
        self._reads: set[str] = set()
        self._declared = {f"experiment.{k}" for k in (*WORKBENCH_KEYS, *report_keys)}
        self.root = ConfigView(self._data, "", self._reads)
        self.experiment = self.root["experiment"]
        name = self.experiment.get("name")
        if name != experiment:
            raise ConfigError(f"config is for experiment {name!r}, not {experiment!r}")

    # ------------------------------------------------------------------ shared groups
    def seeds(self) -> list[int]:
        """``experiment.seed_offset + i`` for ``i < experiment.n_seeds`` (docs/PROTOCOLS.md §2)."""
        from .common import make_seeds

        return make_seeds(self.experiment["seed_offset"], self.experiment["n_seeds"])

    def models(self) -> list[str]:
        """Model ids of ``portfolio.models``, in portfolio order."""
        return [m["id"] for m in self.root.plain("portfolio")["models"]]

    def prices(self, as_tuples: bool = False) -> dict:
        """``{id: {input_cost_per_m, output_cost_per_m}}`` (or ``{id: (in, out)}``) of the portfolio."""
        models = self.root["portfolio"].plain("models")
        if as_tuples:
            return {m["id"]: (m["input_cost_per_m"], m["output_cost_per_m"]) for m in models}
        keys = ("input_cost_per_m", "output_cost_per_m")
        return {m["id"]: {k: m[k] for k in keys} for m in models}

    def router_params(self) -> dict:
        """``router.params``: :class:`~paretobandit.config.RouterConfig` fields."""
        return self.root["router"].plain("params")

    def policy(self) -> dict | None:
        """``router.policy`` (a ``_target_`` mapping) or ``None`` (the built-in LinUCB)."""
        router = self.root["router"]
        return router.plain("policy") if "policy" in router else None

    def pacer_params(self) -> dict:
        """``pacer``: :class:`~paretobandit.pacer.BudgetPacer` arguments (``mode``, ``eta``, ...)."""
        return self.root.plain("pacer")

    def path(self, value: str | Path | None) -> Path | None:
        """``value`` anchored at ``paths.root`` (the repository by default); ``None`` stays ``None``."""
        if value is None:
            return None
        path = Path(value)
        if path.is_absolute():
            return path
        paths = self._data.get("paths") or {}
        root = paths.get("root")
        if root is None or root == "???":
            from ..workbench.config import REPO_ROOT

            root = REPO_ROOT
        return Path(root) / path

    def priors(self) -> Path | None:
        """``router.priors`` as an absolute path, ``None`` for a cold start (tabula rasa)."""
        return self.path(self.root["router"]["priors"])

    def splits(self, *which: str, given: Mapping[str, Any] | None = None) -> list:
        """The portfolio's splits (``"val"``, ``"test"``), loaded by
        :func:`paretobandit.workbench.inputs.load_split` unless ``given`` already holds them (a notebook
        that shows them too passes its own)."""
        given = dict(given or {})
        missing = [w for w in which if given.get(w) is None]
        if missing:
            from ..workbench.inputs import load_split

            cfg = self.omegaconf()
            for w in missing:
                given[w] = load_split(cfg, w)
        return [given[w] for w in which]

    @staticmethod
    def table_kwargs(val=None, test=None) -> dict:
        """``features_val=…, rewards_test=…`` keyword arguments of the ``run_*`` functions from splits."""
        out = {}
        for name, split in (("val", val), ("test", test)):
            if split is not None:
                out.update({f"features_{name}": split.features, f"rewards_{name}": split.rewards,
                            f"costs_{name}": split.costs})
        return out

    def omegaconf(self):
        """The config as an OmegaConf ``DictConfig`` (for workbench loaders that take one)."""
        from omegaconf import DictConfig, OmegaConf

        return self._cfg if isinstance(self._cfg, DictConfig) else OmegaConf.create(self._data)

    # ------------------------------------------------------------------ checks
    def unread_keys(self) -> list[str]:
        """``experiment`` leaf keys read neither by the run (so far) nor declared as report keys."""
        covered = self._reads | self._declared

        def is_covered(path: str) -> bool:
            parts = path.split(".")
            return any(".".join(parts[:i]) in covered for i in range(1, len(parts) + 1))

        return [p for p in _leaves(self._data["experiment"], "experiment") if not is_covered(p)]

    def check(self) -> None:
        """:class:`ConfigError` naming every ``experiment`` key that no code reads, and a plug-in
        ``router.policy`` that this experiment does not pass on (it would silently run LinUCB)."""
        from .common import BUILTIN_POLICY_TARGETS

        spec = (self._data.get("router") or {}).get("policy") or {}
        if spec.get("_target_") not in (None, *BUILTIN_POLICY_TARGETS) and "router.policy" not in self._reads:
            name = self._data["experiment"]["name"]
            raise ConfigError(f"experiment {name} runs the built-in LinUCB only; router.policy "
                              f"{spec['_target_']!r} is supported by budget_pacing, budget_drift, "
                              "quality_degradation and onboarding")
        unread = self.unread_keys()
        if unread:
            raise ConfigError(f"unknown config key(s) {', '.join(unread)}: read by neither the "
                              f"{self._data['experiment']['name']} run nor its report")
