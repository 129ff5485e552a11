"""Batched simulation engine: S independent router runs advanced in lockstep.

A *run* is one online ``BanditRouter`` with its own configuration (α, γ, λ_c, prior strength,
pacer mode and budget, tie-break seed), fed its own stream of prompt indices and scenario events
(:mod:`paretobandit.sim.events`). Two paths implement it:

* **Compiled** (the default for the built-in LinUCB policy and primal–dual pacer when numba is
  installed): :mod:`paretobandit.sim._compiled` steps every run in machine code. Its equations are
  the router's own — :mod:`paretobandit.kernels`' scalar functions compiled as-is — and its linear
  algebra is fixed-order (no BLAS), so its results are the same bits on every x86-64 CPU. Ties and
  re-inversions are served in Python with :func:`kernels.pick_arm` and the compiled twin of
  :func:`kernels.inverse`.
* **Generic** (:mod:`paretobandit.sim.generic`; plug-ins, ``compiled=False``, or no numba): one real
  ``BanditRouter`` per run, driven through its public API — so any
  :class:`~paretobandit.plugins.Policy` / :class:`~paretobandit.plugins.Pacer` behaves exactly as
  in the router.

``tests/test_sim_exactness.py`` holds both paths to the router contract: identical decisions,
rewards, costs and λ; final ``A``, ``b`` within 1e-9 (the compiled kernel's dot products and deferred
decay differ from the router's BLAS by rounding only).

Exactness by construction
-------------------------
* Tie-breaking: each run owns ``numpy.random.default_rng(seed)``, consumed only when that run has a
  tie (through :func:`kernels.pick_arm` / :func:`kernels.break_tie`, the router's rule).
* Arm order: table columns must be the router's registration order; arms onboarded later must come
  after the arms registered before them (validated).
* Steps: stream position ``k`` is the router's request ``t = k + 1``.

Not modelled (no experiment needs them): per-request ``max_cost``, ``remove_model``, delayed or
missing feedback (every request gets its feedback before the next route).

Example
-------
>>> import numpy as np
>>> from paretobandit.sim import simulate
>>> rng = np.random.default_rng(0)
>>> feats = np.c_[rng.normal(size=(50, 4)), np.ones(50)]          # d = 5, bias last
>>> rewards, costs = rng.uniform(size=(50, 3)), rng.uniform(1e-5, 1e-3, size=(50, 3))
>>> prices = [[0.1, 0.1], [0.5, 1.5], [1.25, 10.0]]               # $/M (input, output)
>>> streams = np.stack([np.random.default_rng(s).permutation(50) for s in range(4)])
>>> res = simulate(feats, rewards, costs, streams, prices, seeds=range(4), alpha=0.05,
...                cost_penalty=0.0, budget=[1e-4, 3e-4, 1e-3, None])
>>> res.arm.shape, res.lam.shape
((4, 50), (4, 50))
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from .. import kernels
from ..config import RouterConfig
from ..errors import ConfigError, DimensionMismatchError, InvalidInputError
from .compiled_driver import advance_compiled
from .events import CostTransform, Onboard, PriceChange, RewardTransform, run_mask
from .generic import advance_generic
from .parallel import run_split
from .params import PacerParams, Priors, _array, _modes, _per_run, _resolve_pacer_arg, _resolve_policy_arg
from .results import SimResult, merge_results

__all__ = ["BatchSimulator", "PacerParams", "Priors", "SimResult", "merge_results", "numba_available",
           "simulate"]


#: Environment switch: ``PARETOBANDIT_SIM_NUMBA=0`` makes the NumPy reference path the default.
_NUMBA_ENV = "PARETOBANDIT_SIM_NUMBA"


def _compiled_module():
    """The numba kernel module (:mod:`paretobandit.sim._compiled`), or ``None`` without numba."""
    try:
        from . import _compiled
    except ImportError:
        return None
    return _compiled


def numba_available() -> bool:
    """Whether the compiled step (numba) can be used in this environment."""
    return _compiled_module() is not None


def _resolve_compiled(compiled: Any) -> bool:
    """``compiled`` argument → whether to use the numba step (``None`` = when importable)."""
    if compiled is None:
        if os.environ.get(_NUMBA_ENV, "1").strip().lower() in ("0", "false", "no", "off"):
            return False
        return numba_available()
    if not isinstance(compiled, (bool, np.bool_)):
        raise ConfigError(f"compiled must be True, False or None, got {compiled!r}")
    if compiled and not numba_available():
        raise ConfigError("compiled=True needs numba (pip install 'paretobandit[workbench]')")
    return bool(compiled)


# ------------------------------------------------------------------------------------- engine
class BatchSimulator:
    """S router runs over one set of tables, advanced step by step (see :func:`simulate`)."""

    def __init__(self, features, rewards, costs, streams, prices, *, seeds, alpha=None, gamma=None,
                 cost_penalty=None, budget=None, pacer_mode="adaptive", priors: Priors | None = None,
                 n_eff=None, events: Iterable = (), config: RouterConfig | None = None,
                 pacer=None, policy=None, compiled: bool | None = None):
        cfg = config if config is not None else RouterConfig()
        if not isinstance(cfg, RouterConfig):
            raise ConfigError(f"config must be a RouterConfig, got {type(cfg).__name__}")
        self.config = cfg
        #: Built-in pacer constants, and the pacer / policy factories of plug-ins (None = built-in).
        self.pacer, self.pacer_factory, pacer_mode = _resolve_pacer_arg(pacer, pacer_mode)
        self.policy_factory = _resolve_policy_arg(policy)
        plugins = self.pacer_factory is not None or self.policy_factory is not None
        if plugins and compiled:
            raise ConfigError("compiled=True needs the built-in LinUCB policy and BudgetPacer "
                              "(plug-ins run on the generic path: leave compiled=None)")
        #: Step with the numba kernel (:mod:`paretobandit.sim._compiled`); else the generic per-run
        #: router path (:mod:`paretobandit.sim.generic`).
        self.compiled = False if plugins else _resolve_compiled(compiled)
        self._routers = None

        # ---- tables
        x = _array("features", features, 2)
        r = _array("rewards", rewards, 2)
        c = _array("costs", costs, 2)
        n, d = x.shape
        if r.shape[0] != n or c.shape != r.shape:
            raise DimensionMismatchError(
                f"features {x.shape}, rewards {r.shape} and costs {c.shape} must share rows (and K)")
        if not np.isfinite(x).all():
            raise InvalidInputError("features contain NaN or inf")
        if not np.isfinite(r).all() or not np.isfinite(c).all():
            raise InvalidInputError("rewards and costs must be finite (fill unused cells with 0)")
        if (c < 0).any():
            raise InvalidInputError("costs must be >= 0")
        k = r.shape[1]
        self.n_rows, self.d, self.k = n, d, k
        self._x = np.ascontiguousarray(x)
        # The router clamps finite rewards to [0, 1]; clamp the table once (identical result).
        self._r = np.clip(np.ascontiguousarray(r), 0.0, 1.0).ravel()
        self._c = np.ascontiguousarray(c).ravel()

        # ---- streams and per-run parameters
        s_arr = np.asarray(streams)
        if s_arr.ndim == 1:
            s_arr = s_arr[None, :]
        if s_arr.ndim != 2 or not (np.issubdtype(s_arr.dtype, np.integer) or s_arr.size == 0):
            raise InvalidInputError(
                f"streams must be an (S, T) integer array, got {s_arr.dtype} {s_arr.shape}")
        if s_arr.size and (s_arr.min() < 0 or s_arr.max() >= n):
            raise InvalidInputError(f"stream indices must be in [0, {n})")
        n_runs, n_steps = s_arr.shape
        if n_runs == 0:
            raise ConfigError("a batch needs at least one run")
        self.n_runs, self.n_steps = n_runs, n_steps
        self._streams_t = np.ascontiguousarray(s_arr.T.astype(np.intp))  # (T, S): row reads per step

        seed_list = [seeds] if np.ndim(seeds) == 0 else list(seeds)
        if len(seed_list) != n_runs:
            raise ConfigError(f"seeds must have one entry per run ({n_runs}), got {len(seed_list)}")
        for sd in seed_list:
            if isinstance(sd, bool) or not isinstance(sd, (int, np.integer)) or sd < 0:
                raise ConfigError(f"seeds must be non-negative integers, got {sd!r}")
        self.seeds = [int(sd) for sd in seed_list]
        self._rngs = [np.random.default_rng(sd) for sd in self.seeds]

        self.alpha = _per_run("alpha", cfg.alpha if alpha is None else alpha, n_runs, low=0.0)
        self.gamma = _per_run("gamma", cfg.forgetting_factor if gamma is None else gamma, n_runs,
                              low=np.nextafter(0.0, 1.0), high=1.0)
        self.lam_c = _per_run("cost_penalty", cfg.cost_penalty if cost_penalty is None else cost_penalty,
                              n_runs, low=0.0)
        bud = _per_run("budget", budget, n_runs, allow_nan=True)
        if (bud[np.isfinite(bud)] <= 0).any():
            raise ConfigError("budget must be > 0 (or None for no pacer)")
        self.has_pacer = np.isfinite(bud)
        self.budget = np.where(self.has_pacer, bud, 1.0)
        ceiling, penalty = _modes(pacer_mode, n_runs)
        self.uses_ceiling = ceiling & self.has_pacer
        self.uses_penalty = penalty & self.has_pacer
        self._any_decay = bool((self.gamma < 1.0).any())
        # Staleness inflation by table lookup, one table per distinct γ — the router's own table
        # (kernels.staleness_table), so the multipliers are bitwise the router's.
        gammas, gamma_idx = np.unique(self.gamma, return_inverse=True)
        self._gamma_col = gamma_idx.reshape(-1)[:, None]
        self._stale = np.stack([kernels.staleness_table(float(g), cfg.v_max, cfg.staleness_cap)
                                for g in gammas])
        # Forgetting factors g = γ^min(dt, cap) by lookup too (used by the compiled step).
        self._decay = np.stack([kernels.decay_factor(float(g), np.arange(cfg.staleness_cap + 1),
                                                     cfg.staleness_cap) for g in gammas])

        # ---- prices
        p = _array("prices", prices, 2 if np.ndim(prices) == 2 else 3)
        if p.shape[-2:] != (k, 2):
            raise DimensionMismatchError(
                f"prices must be (K, 2) or (S, K, 2) $/M with K = {k}, got {p.shape}")
        if p.ndim == 3 and p.shape[0] != n_runs:
            raise DimensionMismatchError(f"per-run prices need {n_runs} rows, got {p.shape[0]}")
        if not np.isfinite(p).all() or (p < 0).any():
            raise ConfigError("prices must be finite and >= 0 ($ per million tokens)")
        p = np.broadcast_to(p, (n_runs, k, 2))
        #: Initial (input, output) $/M of every column (the generic path registers them).
        self.prices_io = np.ascontiguousarray(p)
        self.price = np.ascontiguousarray(kernels.blended_price(p[..., 0], p[..., 1]))
        #: $/1k price the hard ceiling compares (= :attr:`price` unless an Onboard event gives its own).
        self.ceiling_price = self.price.copy()
        self.ncost = self._ncost(self.price)

        # ---- events (validated before any state is built)
        self._compile_events(list(events))

        # ---- arm state
        self._init_state(priors, n_eff)

        # ---- outputs
        self.step_index = 0
        self.t = 0
        self._out_arm = np.zeros((n_steps, n_runs), dtype=np.int16 if k < 32000 else np.int32)
        self._out_r = np.zeros((n_steps, n_runs))
        self._out_c = np.zeros((n_steps, n_runs))
        self._out_lam = np.zeros((n_steps, n_runs))
        self._out_forced = np.zeros((n_steps, n_runs), dtype=bool)
        self._eye = np.eye(d)
        #: How often each rare repair ran (diagnostics; the router does the same repairs).
        self.repairs = {"ridge_floor": 0, "corrupted_inverse": 0, "stability": 0}

    # ------------------------------------------------------------------ setup helpers
    def _ncost(self, price: np.ndarray) -> np.ndarray:
        return kernels.normalised_cost(price, self.config.cost_floor, self.config.cost_ceil)

    def _refresh_prices(self) -> None:
        self.ncost = self._ncost(self.price)
        self._price_masked = np.where(self.active, self.ceiling_price, np.inf)
        self.pmax = np.where(self.active, self.ceiling_price, -np.inf).max(axis=1)

    def _compile_events(self, events: list) -> None:
        n_runs, k, n_steps = self.n_runs, self.k, self.n_steps
        self._point: dict[int, list] = {}
        self._has_transforms = False
        onboard_step = np.full((n_runs, k), -1, dtype=np.int64)
        ranges: list[tuple[str, int, int, int, np.ndarray]] = []
        for ev in events:
            if not isinstance(ev, (PriceChange, RewardTransform, CostTransform, Onboard)):
                raise ConfigError(f"unknown event {ev!r}")
            if ev.arm >= k:
                raise ConfigError(f"{type(ev).__name__}.arm = {ev.arm} but the tables have {k} arms")
            mask = run_mask(ev.runs, n_runs)
            if isinstance(ev, (PriceChange, Onboard)):
                if ev.step >= max(n_steps, 1):
                    raise ConfigError(
                        f"{type(ev).__name__}.step = {ev.step} is past the last step {n_steps - 1}")
                self._point.setdefault(ev.step, []).append((ev, mask))
                if isinstance(ev, Onboard):
                    if (onboard_step[mask, ev.arm] >= 0).any():
                        raise ConfigError(f"arm {ev.arm} is onboarded twice in some run")
                    onboard_step[mask, ev.arm] = ev.step
            else:
                if ev.stop > n_steps:
                    raise ConfigError(
                        f"{type(ev).__name__} range [{ev.start}, {ev.stop}) ends past {n_steps}")
                kind = "reward" if isinstance(ev, RewardTransform) else "cost"
                for other_kind, arm, start, stop, other_mask in ranges:
                    if (other_kind == kind and arm == ev.arm and start < ev.stop and ev.start < stop
                            and (other_mask & mask).any()):
                        raise ConfigError(f"overlapping {kind} transforms of arm {arm} in some run")
                ranges.append((kind, ev.arm, ev.start, ev.stop, mask))
                self._point.setdefault(ev.start, []).append((ev, mask))
                self._point.setdefault(ev.stop, []).append(("end", ev, mask))
                self._has_transforms = True
        # Onboarding order must equal column order (the router keeps registration order), forced
        # windows may not overlap, and a price change needs a registered arm.
        self.active = onboard_step < 0
        for s in range(n_runs):
            cols = np.flatnonzero(onboard_step[s] >= 0)
            if cols.size == 0:
                continue
            if self.active[s].any() and cols.min() < np.flatnonzero(self.active[s]).max():
                raise ConfigError(f"run {s}: onboarded arms must come after the initially registered arms "
                                  "(columns are the router's registration order)")
            steps = onboard_step[s, cols]
            if (np.diff(steps) < 0).any():
                raise ConfigError(f"run {s}: arms must be onboarded in column order")
        forced_until = np.zeros(n_runs, dtype=np.int64)
        for step in sorted(self._point):
            for item in self._point[step]:
                ev = item[0] if not isinstance(item[0], str) else None
                if isinstance(ev, Onboard):
                    m = item[1]
                    if (forced_until[m] > step).any():
                        raise ConfigError(
                            f"Onboard at step {step} overlaps an earlier onboarding's forced pulls")
                    forced_until[m] = step + ev.n_forced
                if isinstance(ev, PriceChange):
                    m = item[1]
                    pending = onboard_step[m, ev.arm]
                    if ((pending >= 0) & (pending > step)).any():
                        raise ConfigError(
                            f"PriceChange of arm {ev.arm} at step {step} precedes its onboarding")
        # Inside one step: onboard before repricing, transform ends before starts.
        order = {"end": 0, Onboard: 1, PriceChange: 2, RewardTransform: 3, CostTransform: 3}
        for items in self._point.values():
            items.sort(key=lambda it: order["end"] if isinstance(it[0], str) else order[type(it[0])])
        self._r_scale = np.ones((n_runs, k))
        self._r_shift = np.zeros((n_runs, k))
        self._c_scale = np.ones((n_runs, k))
        self._forced_left = np.zeros(n_runs, dtype=np.int64)
        self._forced_arm = np.zeros(n_runs, dtype=np.intp)

    def _init_state(self, priors: Priors | None, n_eff: Any) -> None:
        n_runs, k, d, ridge = self.n_runs, self.k, self.d, self.config.ridge
        eye = np.eye(d)
        self.A = np.broadcast_to(ridge * eye, (n_runs, k, d, d)).copy()
        self.ainv = np.broadcast_to(eye / ridge, (n_runs, k, d, d)).copy()
        self.b = np.zeros((n_runs, k, d))
        self.theta = np.zeros((n_runs, k, d))
        self.rho = np.full((n_runs, k), float(ridge))
        self.last_update = np.zeros((n_runs, k), dtype=np.int64)
        self.last_played = np.zeros((n_runs, k), dtype=np.int64)
        self.n_updates = np.zeros((n_runs, k), dtype=np.int64)
        self.lam = np.zeros(n_runs)
        self.cost_ema = self.budget.copy()
        #: Arms whose A, b hold a rescaled warm-up prior (the generic path installs them in its routers).
        self.prior_used = np.zeros((n_runs, k), dtype=bool)
        if priors is not None:
            if not isinstance(priors, Priors):
                raise ConfigError(f"priors must be a paretobandit.sim.Priors, got {type(priors).__name__}")
            a_off = np.asarray(priors.a_off, dtype=float)
            b_off = np.asarray(priors.b_off, dtype=float)
            if a_off.shape[-3:] != (k, d, d) or b_off.shape[-2:] != (k, d) or a_off.ndim not in (3, 4):
                raise DimensionMismatchError(
                    f"priors must be (K, d, d)/(K, d) with K={k}, d={d}; got {a_off.shape} and {b_off.shape}")
            if not np.isfinite(a_off).all() or not np.isfinite(b_off).all():
                raise InvalidInputError("priors contain NaN or inf")
            a_off = np.broadcast_to(a_off, (n_runs, k, d, d))
            b_off = np.broadcast_to(b_off, (n_runs, k, d))
            pmask = np.ones(k, dtype=bool) if priors.mask is None else np.asarray(priors.mask, dtype=bool)
            pmask = np.broadcast_to(pmask, (n_runs, k))
            ne = _per_run("n_eff", self.config.prior_n_effective if n_eff is None else n_eff, n_runs,
                          allow_nan=True)
            if (ne[np.isfinite(ne)] <= 0).any():
                raise ConfigError("n_eff must be > 0 (NaN/None = no priors for that run)")
            use = pmask & np.isfinite(ne)[:, None] & self.active
            self.prior_used = use.copy()
            if use.any():
                a, b = kernels.rescale_prior(a_off[use], b_off[use], ne[np.nonzero(use)[0]], ridge)
                ainv = kernels.inverse(a)
                self.A[use], self.b[use], self.ainv[use] = a, b, ainv
                self.theta[use] = kernels.matvec(ainv, b)
        self._refresh_prices()

    # ------------------------------------------------------------------ events at a step
    def _apply_events(self, step: int) -> None:
        items = self._point.get(step)
        if not items:
            return
        prices_changed = False
        for item in items:
            if isinstance(item[0], str):          # end of a range transform
                _, ev, m = item
                if isinstance(ev, RewardTransform):
                    self._r_scale[m, ev.arm], self._r_shift[m, ev.arm] = 1.0, 0.0
                else:
                    self._c_scale[m, ev.arm] = 1.0
                continue
            ev, m = item
            if isinstance(ev, RewardTransform):
                self._r_scale[m, ev.arm], self._r_shift[m, ev.arm] = ev.scale, ev.shift
            elif isinstance(ev, CostTransform):
                self._c_scale[m, ev.arm] = ev.scale
            elif isinstance(ev, PriceChange):
                self.price[m, ev.arm] = kernels.blended_price(ev.input_cost_per_m, ev.output_cost_per_m)
                self.ceiling_price[m, ev.arm] = self.price[m, ev.arm]
                prices_changed = True
            elif isinstance(ev, Onboard):
                self._onboard(ev, m)
                prices_changed = True
        if prices_changed:
            self._refresh_prices()

    def _onboard(self, ev: Onboard, m: np.ndarray) -> None:
        ridge, d, a = self.config.ridge, self.d, ev.arm
        self.A[m, a] = ridge * np.eye(d)
        self.ainv[m, a] = np.eye(d) / ridge
        self.b[m, a] = 0.0
        self.theta[m, a] = 0.0
        self.rho[m, a] = ridge
        self.last_update[m, a] = self.t
        self.last_played[m, a] = self.t
        self.n_updates[m, a] = 0
        self.active[m, a] = True
        if ev.input_cost_per_m is not None:
            self.price[m, a] = kernels.blended_price(ev.input_cost_per_m, ev.output_cost_per_m)
        self.ceiling_price[m, a] = (self.price[m, a] if ev.ceiling_cost_per_m is None
                                    else float(ev.ceiling_cost_per_m) / 1000.0)
        self._forced_left[m] = ev.n_forced
        self._forced_arm[m] = a

    # ------------------------------------------------------------------ one step
    def step(self) -> None:
        """Route, observe and learn one request in every run."""
        if self.step_index >= self.n_steps:
            raise ConfigError("the batch has no steps left")
        self._advance(self.step_index + 1)

    def _advance(self, stop: int) -> None:
        if self.compiled:
            advance_compiled(self, _compiled_module(), stop)
        else:
            advance_generic(self, stop)

    # ------------------------------------------------------------------ splitting (parallel runs)
    #: Attributes whose first axis is the run axis S (sliced by :meth:`split`).
    _PER_RUN = ("alpha", "gamma", "_gamma_col", "lam_c", "budget", "has_pacer", "uses_ceiling",
                "uses_penalty", "price", "ncost", "_price_masked", "pmax", "active", "A", "ainv", "b",
                "theta", "rho", "last_update", "last_played", "n_updates", "lam", "cost_ema", "_r_scale",
                "_r_shift", "_c_scale", "_forced_left", "_forced_arm", "ceiling_price", "prices_io",
                "prior_used")
    #: Attributes shaped (T, S) (sliced on the second axis).
    _PER_STEP_RUN = ("_streams_t", "_out_arm", "_out_r", "_out_c", "_out_lam", "_out_forced")

    def split(self, n_parts: int) -> list[BatchSimulator]:
        """Independent sub-batches over contiguous groups of runs (state copied, nothing shared).

        Runs never interact, so stepping the parts separately (e.g. in threads) and concatenating
        their results (:func:`merge_results`) gives exactly the unsplit batch's result.
        """
        bounds = np.linspace(0, self.n_runs, min(int(n_parts), self.n_runs) + 1).round().astype(int)
        parts = []
        for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
            sub = object.__new__(BatchSimulator)
            sub.__dict__.update(self.__dict__)
            for name in self._PER_RUN:
                setattr(sub, name, np.array(getattr(self, name)[lo:hi]))
            for name in self._PER_STEP_RUN:
                setattr(sub, name, np.array(getattr(self, name)[:, lo:hi]))
            sub.n_runs = int(hi - lo)
            sub.seeds = self.seeds[lo:hi]
            sub._rngs = self._rngs[lo:hi]
            sub._any_decay = bool((sub.gamma < 1.0).any())
            if self._routers is not None:
                sub._routers = self._routers[lo:hi]
            sub.repairs = dict.fromkeys(self.repairs, 0)
            sub._point = {step: [item[:-1] + (item[-1][lo:hi],) for item in items]
                          for step, items in self._point.items()}
            parts.append(sub)
        return parts

    # ------------------------------------------------------------------ whole batch
    def run(self, n_steps: int | None = None) -> SimResult:
        """Advance ``n_steps`` (default: all remaining) steps and return the result so far."""
        stop = self.n_steps if n_steps is None else min(self.n_steps, self.step_index + int(n_steps))
        self._advance(stop)
        return self.result()

    def result(self) -> SimResult:
        """Outputs of the steps done so far, as (S, T_done) arrays, plus the current state."""
        n = self.step_index
        if not self.compiled:
            from .generic import final_state

            final = final_state(self)
        else:
            final = {
                "A": self.A.copy(), "ainv": self.ainv.copy(), "b": self.b.copy(), "theta": self.theta.copy(),
                "rho": self.rho.copy(), "last_update": self.last_update.copy(),
                "last_played": self.last_played.copy(), "n_updates": self.n_updates.copy(),
                "active": self.active.copy(), "price": self.price.copy(), "lam": self.lam.copy(),
                "cost_ema": self.cost_ema.copy(), "t": self.t,
                "repairs": dict(self.repairs),
            }
        return SimResult(
            arm=np.ascontiguousarray(self._out_arm[:n].T),
            reward=np.ascontiguousarray(self._out_r[:n].T),
            cost=np.ascontiguousarray(self._out_c[:n].T),
            lam=np.ascontiguousarray(self._out_lam[:n].T),
            forced=np.ascontiguousarray(self._out_forced[:n].T),
            final=final,
        )


def simulate(features, rewards, costs, streams, prices, *, seeds, alpha=None, gamma=None, cost_penalty=None,
             budget=None, pacer_mode="adaptive", priors: Priors | None = None, n_eff=None,
             events: Sequence = (), config: RouterConfig | None = None,
             pacer=None, policy=None, n_jobs: int = 1, backend: str = "threads",
             compiled: bool | None = None) -> SimResult:
    """Simulate S independent router runs in lockstep and return their per-step outputs.

    Parameters
    ----------
    features : array (n, d)
        Context vectors of the table rows, bias included as the last coordinate.
    rewards, costs : array (n, K)
        Reward and realised $ cost of each arm on each row (finite; costs >= 0; rewards are clamped
        to [0, 1] as the router does; cells never routed may hold 0). Columns are arms in the
        router's registration order.
    streams : int array (S, T) or (T,)
        Row index of the request each run sees at each step.
    prices : array (K, 2) or (S, K, 2)
        Initial registry prices (input, output) in $ per million tokens.
    seeds : int or sequence of S ints
        Each run's router seed: its tie-break generator is ``numpy.random.default_rng(seed)``.
    alpha, gamma, cost_penalty : float or sequence of S floats, optional
        Exploration weight α, forgetting factor γ, static cost weight λ_c (default: ``config``).
    budget : float or sequence of S floats (None/NaN entries = no pacer), optional
        Pacer target B in $ per request; ``None`` = no pacer in any run.
    pacer_mode : str or sequence of S str
        ``"adaptive"`` (ceiling + penalty), ``"soft"`` (penalty) or ``"hard"`` (ceiling).
    priors : Priors, optional
        Offline warm-up statistics in column order; ``None`` = every arm cold.
    n_eff : float or sequence of S floats (None/NaN = no priors for that run), optional
        Prior effective sample size (default ``config.prior_n_effective``).
    events : sequence of PriceChange / RewardTransform / CostTransform / Onboard
        Scenario events (:mod:`paretobandit.sim.events`).
    config : RouterConfig, optional
        Shared constants (ridge, V_max, staleness cap, ridge floor, stability check, cost floor/ceil).
    pacer : PacerParams, BudgetPacer partial or pacer factory, optional
        The built-in pacer's constants (η, EMA weight, λ cap, ceiling multiplier) — as
        :class:`PacerParams` or ``functools.partial(BudgetPacer, ...)`` — or a
        :class:`~paretobandit.plugins.Pacer` plug-in factory ``factory(budget=B)`` (generic path).
    policy : policy factory, optional
        A :class:`~paretobandit.plugins.Policy` plug-in factory
        ``factory(dimension=, n_arms=, config=, seed=)`` (generic path); ``None`` or
        :class:`~paretobandit.policy.LinUCBPolicy`: the built-in LinUCB.
    n_jobs : int
        Split the runs into this many sub-batches stepped in parallel (results identical to
        ``n_jobs=1``; worthwhile for large S on several free cores).
    backend : {"threads", "processes"}
        How sub-batches run in parallel (:mod:`paretobandit.sim.parallel`).
    compiled : bool, optional
        Step with the compiled numba kernel (:mod:`paretobandit.sim._compiled`) — ``None`` (default)
        uses it for the built-in policy and pacer when numba is importable and ``PARETOBANDIT_SIM_NUMBA``
        is not ``0``; ``False`` runs the generic path (:mod:`paretobandit.sim.generic`: one online router
        per run — the reference the kernel is checked against, and the path of every plug-in).

    Returns
    -------
    SimResult

    Raises
    ------
    ConfigError, InvalidInputError, DimensionMismatchError
        On malformed inputs, before any computation.
    """
    sim = BatchSimulator(features, rewards, costs, streams, prices, seeds=seeds, alpha=alpha, gamma=gamma,
                         cost_penalty=cost_penalty, budget=budget, pacer_mode=pacer_mode, priors=priors,
                         n_eff=n_eff, events=events, config=config, pacer=pacer, policy=policy,
                         compiled=compiled)
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer)) or n_jobs < 1:
        raise ConfigError(f"n_jobs must be a positive integer, got {n_jobs!r}")
    if backend not in ("threads", "processes"):
        raise ConfigError(f"backend must be 'threads' or 'processes', got {backend!r}")
    if n_jobs > 1 and sim.n_runs > 1:
        return run_split(sim, int(n_jobs), backend)
    from .._progress import relay_active

    if relay_active() and sim.n_runs > 1:
        return _run_with_progress(sim)
    return sim.run()


_PROGRESS_PARTS = 8


def _run_with_progress(sim: BatchSimulator) -> SimResult:
    """Run ``sim`` as consecutive sub-batches, one progress-bar step each (for the workbench runner's
    terminal). Sub-batches give results identical to one batch (the ``n_jobs`` guarantee, tested)."""
    from .._progress import bar

    parts = sim.split(min(_PROGRESS_PARTS, sim.n_runs))
    out = []
    with bar(total=sum(p.n_runs for p in parts), desc="simulate", unit="run") as progress:
        for part in parts:
            out.append(part.run())
            progress.update(part.n_runs)
    return merge_results(out)
