"""Batched simulation engine: S independent router runs advanced in lockstep.

A *run* is one online ``BanditRouter`` with its own configuration (α, γ, λ_c, prior strength,
pacer mode and budget, tie-break seed), fed its own stream of prompt indices and scenario events.
A *batch* holds S runs of equal length; every step scores all arms of all runs with
:func:`paretobandit.kernels.arm_scores`, picks with the router's tie rule, gathers reward and cost,
updates the chosen arm of every run (forgetting, ridge floor, Sherman–Morrison, stability check —
docs/ALGORITHM.md) and steps each run's pacer. All equations come from :mod:`paretobandit.kernels`,
the module the online router uses, so a run of the batch reproduces the router exactly.

Exactness by construction
-------------------------
* Tie-breaking: each run owns ``numpy.random.default_rng(seed)``, consumed only when that run has a
  tie (through :func:`kernels.pick_arm` itself) — the router's rule, so random streams never mix.
* Arm order: table columns must be the router's registration order; arms onboarded later must come
  after the arms registered before them (validated).
* Steps: stream position ``k`` is the router's request ``t = k + 1``.
* Numerics: every decision, reward, cost and λ is computed with the kernels' expressions; ``A``
  (read only by the rare re-inversions and reported at the end) is updated lazily in closed form,
  equal to the sequential updates up to rounding (≪ 1e-9; ``tests/test_sim_exactness.py``).

Two step implementations
------------------------
* NumPy (``compiled=False``): the reference described above, array operations over all runs per
  step (:meth:`BatchSimulator._step_numpy`).
* Compiled (``compiled=True``; the default when numba is installed): :mod:`paretobandit.sim._compiled`
  runs the same algorithm run after run in machine code, ~4–5× faster (``benchmarks/bench_sim.py``).
  Ties and re-inversions still go through :func:`kernels.pick_arm` and :func:`kernels.inverse`; the
  arithmetic differs from the NumPy step only by rounding. The compiled step is machine independent
  (bit-identical on every x86-64 CPU and BLAS kernel): no BLAS/LAPACK, no libm transcendental and no
  re-association on its decision path (see :mod:`paretobandit.sim._compiled`); the NumPy step scores
  with ``@`` (BLAS) and is exact only to rounding across CPUs. ``tests/test_sim_exactness.py`` holds
  both to the router contract; ``PARETOBANDIT_SIM_NUMBA=0`` makes NumPy the default.

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

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import kernels
from ..config import RouterConfig
from ..errors import ConfigError, DimensionMismatchError, InvalidInputError
from .events import CostTransform, Onboard, PriceChange, RewardTransform, run_mask
from .parallel import run_split
from .results import SimResult, merge_results

__all__ = ["BatchSimulator", "PacerParams", "Priors", "SimResult", "merge_results", "numba_available",
           "simulate"]

_MODES = {"hard": (True, False), "soft": (False, True), "adaptive": (True, True)}

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


# ------------------------------------------------------------------------------------- parameters
@dataclass(frozen=True)
class PacerParams:
    """Pacer constants shared by every run of a batch (docs/PROTOCOLS.md §1.4 defaults)."""

    eta: float = 0.05
    ema_alpha: float = 0.05
    lambda_cap: float = 5.0
    ceiling_multiplier: float = 1.0

    def __post_init__(self) -> None:
        for name in ("eta", "ema_alpha", "lambda_cap", "ceiling_multiplier"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise ConfigError(f"PacerParams.{name} must be a finite number >= 0, got {v!r}")
        if not 0 < self.ema_alpha <= 1:
            raise ConfigError(f"PacerParams.ema_alpha must be in (0, 1], got {self.ema_alpha!r}")
        if self.eta <= 0 or self.ceiling_multiplier <= 0:
            raise ConfigError("PacerParams.eta and ceiling_multiplier must be > 0")

    @classmethod
    def from_dict(cls, params: dict | None) -> PacerParams:
        """Build from a config mapping; accepts ``ema`` for ``ema_alpha`` and ignores ``mode``."""
        params = dict(params or {})
        params.pop("mode", None)
        if "ema" in params:
            params["ema_alpha"] = params.pop("ema")
        unknown = set(params) - {"eta", "ema_alpha", "lambda_cap", "ceiling_multiplier"}
        if unknown:
            raise ConfigError(f"unknown pacer parameter(s): {sorted(unknown)}")
        return cls(**params)


@dataclass(frozen=True)
class Priors:
    """Offline warm-up statistics in the batch's arm (column) order.

    Attributes
    ----------
    a_off : array (K, d, d) or (S, K, d, d)
        ``A_off`` per arm (optionally per run).
    b_off : array (K, d) or (S, K, d)
        ``b_off`` per arm.
    mask : array (K,) or (S, K) of bool, optional
        Arms that have a prior; the others start cold (``A = λ₀I, b = 0``). Default: all.
    """

    a_off: np.ndarray
    b_off: np.ndarray
    mask: np.ndarray | None = None


# ------------------------------------------------------------------------------------- validation
def _per_run(name: str, value: Any, n_runs: int, *, low: float | None = None, high: float | None = None,
             allow_nan: bool = False) -> np.ndarray:
    """Broadcast a scalar or length-S sequence to a float64 (S,) array, validated."""
    try:
        arr = np.array([np.nan if v is None else v for v in value] if isinstance(value, (list, tuple))
                       else (np.nan if value is None else value), dtype=float)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number or a sequence of {n_runs} numbers, got {value!r}"
                          ) from None
    if arr.ndim == 0:
        arr = np.full(n_runs, float(arr))
    if arr.shape != (n_runs,):
        raise ConfigError(f"{name} must be a scalar or have length {n_runs}, got shape {arr.shape}")
    finite = np.isfinite(arr)
    if not allow_nan and not finite.all():
        raise ConfigError(f"{name} must be finite, got {value!r}")
    if np.isinf(arr).any():
        raise ConfigError(f"{name} must not be infinite")
    vals = arr[finite]
    if low is not None and (vals < low).any():
        raise ConfigError(f"{name} must be >= {low}, got {value!r}")
    if high is not None and (vals > high).any():
        raise ConfigError(f"{name} must be <= {high}, got {value!r}")
    return arr


def _modes(pacer_mode: Any, n_runs: int) -> tuple[np.ndarray, np.ndarray]:
    """(uses_ceiling, uses_penalty) boolean arrays from a mode or a per-run list of modes."""
    items = list(pacer_mode) if isinstance(pacer_mode, (list, tuple, np.ndarray)) else [pacer_mode] * n_runs
    if len(items) != n_runs:
        raise ConfigError(f"pacer_mode must be one mode or {n_runs} modes, got {len(items)}")
    ceiling, penalty = np.zeros(n_runs, dtype=bool), np.zeros(n_runs, dtype=bool)
    for i, m in enumerate(items):
        key = str(getattr(m, "value", m)).lower()
        if key not in _MODES:
            raise ConfigError(f"pacer_mode must be one of {sorted(_MODES)}, got {m!r}")
        ceiling[i], penalty[i] = _MODES[key]
    return ceiling, penalty


def _array(name: str, value: Any, ndim: int, *, dtype=float) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=dtype)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{name} must be a numeric array") from None
    if arr.ndim != ndim:
        raise DimensionMismatchError(f"{name} must be {ndim}-D, got shape {arr.shape}")
    return arr


# ------------------------------------------------------------------------------------- Sherman–Morrison
def _sm_terms(ainv: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``u = A⁻¹x`` and ``den = 1 + xᵀu`` exactly as :func:`kernels.sherman_morrison` computes them."""
    u = (ainv @ x[..., :, None])[..., 0]
    den = 1.0 + (u[..., None, :] @ x[..., :, None])[..., 0, 0]
    return u, den


def _sm_apply(ainv: np.ndarray, u: np.ndarray, den: np.ndarray, buf: np.ndarray) -> None:
    """``A⁻¹ ← A⁻¹ − uuᵀ/den`` in place, through a reused buffer.

    The same IEEE operations as :func:`kernels.sherman_morrison` (product, division, subtraction),
    without its three (S, d, d) temporaries; ``tests/test_sim_engine.py`` checks bit-equality.
    """
    np.einsum("si,sj->sij", u, u, out=buf)
    np.divide(buf, den[:, None, None], out=buf)
    np.subtract(ainv, buf, out=ainv)


# ------------------------------------------------------------------------------------- engine
class BatchSimulator:
    """S router runs over one set of tables, advanced step by step (see :func:`simulate`)."""

    def __init__(self, features, rewards, costs, streams, prices, *, seeds, alpha=None, gamma=None,
                 cost_penalty=None, budget=None, pacer_mode="adaptive", priors: Priors | None = None,
                 n_eff=None, events: Iterable = (), config: RouterConfig | None = None,
                 pacer: PacerParams | None = None, compiled: bool | None = None):
        #: Step with the numba kernel (:mod:`paretobandit.sim._compiled`) instead of NumPy.
        self.compiled = _resolve_compiled(compiled)
        cfg = config if config is not None else RouterConfig()
        if not isinstance(cfg, RouterConfig):
            raise ConfigError(f"config must be a RouterConfig, got {type(cfg).__name__}")
        self.config = cfg
        self.pacer = pacer if pacer is not None else PacerParams()
        if not isinstance(self.pacer, PacerParams):
            raise ConfigError(f"pacer must be PacerParams, got {type(self.pacer).__name__}")

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
        self._ar = np.arange(n_runs)
        self._ark = self._ar * k
        self._eye = np.eye(d)
        self._outer = np.empty((n_runs, d, d))
        self._log_g = np.ones((n_steps, n_runs))          # decay of A at each step's update
        self._mat_step = np.zeros((n_runs, k), dtype=np.int64)   # A[s, a] holds steps < this
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
        self._mat_step[m, a] = self.step_index
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
        if self.compiled:
            self._advance_compiled(self.step_index + 1)
        else:
            self._step_numpy()

    def _step_numpy(self) -> None:
        """One step of every run with NumPy array operations (the reference implementation)."""
        k_step = self.step_index
        cfg, pp = self.config, self.pacer
        self._apply_events(k_step)
        self.t += 1
        t = self.t
        idx = self._streams_t[k_step]
        x = self._x[idx]                                          # (S, d)
        lam = self.lam

        # -- route: score all arms of all runs, eligibility, ties
        dt = t - np.maximum(self.last_update, self.last_played)
        infl = self._stale[self._gamma_col, np.minimum(dt, cfg.staleness_cap)]
        weight = self.lam_c + np.where(self.uses_penalty, lam, 0.0)
        scores = kernels.arm_scores(self.theta, self.ainv, x, infl, self.alpha, weight, self.ncost)
        lam_ceiling = np.where(self.uses_ceiling, lam, 0.0)
        elig = kernels.ceiling_eligible(self._price_masked, self.pmax, lam_ceiling, pp.ceiling_multiplier)
        elig &= self.active
        tied = kernels.tied_best(scores, elig)
        chosen = tied.argmax(axis=1)
        multi = np.count_nonzero(tied, axis=1) > 1
        forced = self._forced_left > 0
        any_forced = bool(forced.any())
        if any_forced:
            multi &= ~forced
            chosen = np.where(forced, self._forced_arm, chosen)
            self._forced_left[forced] -= 1
        if multi.any():
            for s in np.flatnonzero(multi):
                chosen[s] = kernels.pick_arm(scores[s], elig[s], self._rngs[s])
        flat = self._ark + chosen
        lp = self.last_played.reshape(-1)
        lp[flat] = t

        # -- observe
        cell = idx * self.k + chosen
        reward = self._r[cell]
        cost = self._c[cell]
        if self._has_transforms:
            reward = np.clip(self._r_scale.reshape(-1)[flat] * reward + self._r_shift.reshape(-1)[flat],
                             0.0, 1.0)
            cost = self._c_scale.reshape(-1)[flat] * cost

        # -- record (λ as it was at the decision)
        self._out_arm[k_step] = chosen
        self._out_r[k_step] = reward
        self._out_c[k_step] = cost
        self._out_lam[k_step] = lam
        if any_forced:
            self._out_forced[k_step] = forced

        # -- bandit update of the chosen arm of every run
        self._update(flat, chosen, x, reward, t)

        # -- pacer
        new_lam, new_ema = kernels.pacer_step(lam, self.cost_ema, cost, self.budget, pp.eta, pp.ema_alpha,
                                              pp.lambda_cap)
        self.lam = np.where(self.has_pacer, new_lam, lam)
        self.cost_ema = np.where(self.has_pacer, new_ema, self.cost_ema)
        self.step_index += 1

    def _update(self, flat: np.ndarray, chosen: np.ndarray, x: np.ndarray, reward: np.ndarray,
                t: int) -> None:
        """Feedback of every run for its chosen arm (ALGORITHM.md ``feedback`` steps 1–4).

        ``A⁻¹``, ``b``, ``θ``, ``ρ`` and the counters are updated eagerly. ``A`` is only read by the
        rare re-inversions and reported at the end, so its updates ``A ← gA; A ← A + xxᵀ`` are
        logged (the decay factor per step, the arm and row are already recorded) and applied on
        demand by :meth:`_replay` — this removes two thirds of the memory traffic of a step.
        """
        cfg = self.config
        ridge = cfg.ridge
        n_runs, k, d = self.n_runs, self.k, self.d
        step = self.step_index
        ai_f = self.ainv.reshape(n_runs * k, d, d)
        b_f = self.b.reshape(n_runs * k, d)
        th_f = self.theta.reshape(n_runs * k, d)
        rho_f = self.rho.reshape(-1)
        lu_f = self.last_update.reshape(-1)
        nu_f = self.n_updates.reshape(-1)
        ai = ai_f[flat]
        b = b_f[flat]
        th = th_f[flat]

        # 1. geometric forgetting + ridge floor (γ = 1 gives g = 1 exactly: a no-op)
        if self._any_decay:
            g = kernels.decay_factor(self.gamma, t - lu_f[flat], cfg.staleness_cap)
            self._log_g[step] = g
            b *= g[:, None]
            ai /= g[:, None, None]
            rho = rho_f[flat] * g
            low = rho < cfg.ridge_floor * ridge
            if low.any():
                self.repairs["ridge_floor"] += int(low.sum())
                for s in np.flatnonzero(low):
                    ai[s], th[s] = self._repair("ridge_floor", s, chosen[s], step, b[s], rho[s])
                    rho[s] = ridge
            rho_f[flat] = rho
        # 2.
        lu_f[flat] = t
        # 3. Sherman–Morrison (+ repair of a corrupted inverse), in place on the gathered A⁻¹
        u, den = _sm_terms(ai, x)
        bad = den < 1.0
        if bad.any():
            self.repairs["corrupted_inverse"] += int(bad.sum())
            for s in np.flatnonzero(bad):
                ai[s], th[s] = self._repair("corrupted_inverse", s, chosen[s], step, b[s])
                _, u[s], den[s] = kernels.sherman_morrison(ai[s], x[s])
        _sm_apply(ai, u, den, self._outer)
        th = kernels.theta_update(th, u, x, reward, den)
        b += reward[:, None] * x
        nup = nu_f[flat] + 1
        nu_f[flat] = nup
        # 4. periodic stability check
        due = nup % cfg.stability_interval == 0
        if due.any():
            for s in np.flatnonzero(due):
                if np.trace(ai[s]) > cfg.stability_trace:
                    self.repairs["stability"] += 1
                    ai[s], th[s] = self._repair("stability", s, chosen[s], step, b[s])
        ai_f[flat] = ai
        b_f[flat] = b
        th_f[flat] = th

    # ------------------------------------------------------------------ compiled steps
    def _advance_compiled(self, stop: int) -> None:
        """Steps ``[step_index, stop)`` with the numba kernel, one event-free segment at a time.

        Events are applied in Python at the first step of each segment (as in the NumPy step).
        Inside a segment :func:`paretobandit.sim._compiled.advance` steps the runs one after the
        other and parks a run that meets a tie or needs a re-inversion; this loop serves all parked
        runs at once (:meth:`_serve_parked`) and resumes them until every run ends the segment.
        """
        ck = _compiled_module()
        cfg, pp = self.config, self.pacer
        n_runs, k_arms, d = self.n_runs, self.k, self.d
        consts = (float(kernels.TIE_TOLERANCE), float(cfg.ridge), float(cfg.ridge_floor),
                  float(cfg.stability_trace), float(pp.ceiling_multiplier), float(pp.eta),
                  float(pp.ema_alpha), float(pp.lambda_cap), float(cfg.staleness_cap),
                  float(cfg.stability_interval))
        scratch = (np.zeros((n_runs, k_arms)), np.zeros((n_runs, k_arms), dtype=bool),
                   np.zeros((n_runs, k_arms, d)), np.zeros(d), np.zeros(d))
        ai_scale, a_scale = np.ones((n_runs, k_arms)), np.ones((n_runs, k_arms))
        state = (self.A, self.ainv, ai_scale, a_scale, self.b, self.theta, self.rho, self.last_update,
                 self.last_played, self.n_updates, self.lam, self.cost_ema)
        # Run-major (S, n) stream and outputs of steps [base, stop), copied to the (T, S) arrays at the end.
        base = self.step_index
        tables = (self._x, self._r, self._c, np.ascontiguousarray(self._streams_t[base:stop].T))
        outputs = tuple(np.zeros((n_runs, stop - base), dtype=a.dtype)
                        for a in (self._out_arm, self._out_r, self._out_c, self._out_lam, self._out_forced))
        run_k, run_phase, run_code, given_arm = (np.zeros(n_runs, dtype=np.int64) for _ in range(4))
        gamma_col = np.ascontiguousarray(self._gamma_col[:, 0])
        event_steps = sorted(self._point)
        while self.step_index < stop:
            k0 = self.step_index
            self._apply_events(k0)              # may replace price arrays: rebuild the tuples below
            k1 = min([stop] + [e for e in event_steps if e > k0])
            params = (self.alpha, self.lam_c, self.gamma, self.budget, self.has_pacer, self.uses_penalty,
                      self.uses_ceiling, gamma_col, self._stale, self._decay, self.ncost, self._price_masked,
                      self.pmax, self.active)
            scenario = (self._has_transforms, self._r_scale, self._r_shift, self._c_scale, self._forced_left,
                        self._forced_arm)
            run_k[:], run_phase[:], run_code[:] = k0, ck.ROUTE, ck.DONE
            while ck.advance(k1, base, run_k, run_phase, run_code, given_arm, tables, state, params,
                             scenario, outputs, consts, scratch):
                self._serve_parked(ck, run_k, run_phase, run_code, given_arm, outputs[0], base, scratch)
            self.step_index = k1
            self.t = k1
        targets = (self._out_arm, self._out_r, self._out_c, self._out_lam, self._out_forced)
        for dst, src in zip(targets, outputs, strict=True):
            dst[base:stop] = src.T
        self._mat_step[:] = stop            # the kernel keeps A up to date: nothing to replay

    def _serve_parked(self, ck, run_k, run_phase, run_code, given_arm, out_arm, base, scratch) -> None:
        """Break the ties and do the re-inversions of the runs the kernel parked; mark them resumable."""
        ridge = self.config.ridge
        parked = np.flatnonzero(run_code)
        codes = run_code[parked]
        for s in parked[codes == ck.TIE]:       # the router's rule with the run's own generator
            given_arm[s] = kernels.pick_arm(scratch[0][s], scratch[1][s], self._rngs[s])
            run_phase[s] = ck.OBSERVE
        for code, kind, phase in ((ck.FLOOR, "ridge_floor", ck.AFTER_FLOOR),
                                  (ck.CORRUPT, "corrupted_inverse", ck.AFTER_CORRUPT),
                                  (ck.STABILITY, "stability", ck.AFTER_STABILITY)):
            runs = parked[codes == code]
            if runs.size == 0:
                continue
            arms = out_arm[runs, run_k[runs] - base].astype(np.intp)
            shift = ridge - self.rho[runs, arms] if kind == "ridge_floor" else np.full(runs.size, ridge)
            a_new = self.A[runs, arms] + shift[:, None, None] * self._eye
            self.A[runs, arms] = a_new
            ainv = ck.inverse(a_new)       # compiled kernels.inverse: the same bits
            self.ainv[runs, arms] = ainv
            self.theta[runs, arms] = kernels.matvec(ainv, self.b[runs, arms])
            if kind == "ridge_floor":
                self.rho[runs, arms] = ridge
            self.repairs[kind] += int(runs.size)
            run_phase[runs] = phase
        run_code[parked] = ck.DONE

    def _repair(self, kind: str, s: int, a: int, step: int, b: np.ndarray,
                rho: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """NumPy step: re-regularise, re-invert ``A[s, a]`` in the update of ``step``; returns ``(A⁻¹, θ)``.

        ``kind`` is ``"ridge_floor"`` (``A ← A + (λ₀ − ρ)I`` after the decay, ``rho`` = decayed ρ),
        ``"corrupted_inverse"`` (``A ← A + λ₀I`` after the decay) or ``"stability"``
        (``A ← A + λ₀I`` after the rank-one update). ``b`` is the arm's current ``b``; the callers
        count the repairs. (The compiled step, which keeps ``A`` current, does the same re-inversions
        stacked over the runs it parked: :meth:`_serve_parked`.)
        """
        ridge = self.config.ridge
        shift = ridge - rho if kind == "ridge_floor" else ridge
        if kind == "stability":
            a_mat = self._replay(s, a, step + 1) + shift * self._eye
        else:
            a_mat = self._decayed_A(s, a, step) + shift * self._eye
        self.A[s, a] = a_mat
        ainv = kernels.inverse(a_mat)
        return ainv, kernels.matvec(ainv, b)

    # ------------------------------------------------------------------ lazily materialised A
    def _replay(self, s: int, a: int, upto: int) -> np.ndarray:
        """Bring ``A[s, a]`` up to date with the logged updates of steps ``< upto``; return a copy.

        ``n`` logged updates ``A ← g_i·A; A ← A + x_i x_iᵀ`` compose to
        ``(Π g_i)·A + Σ_i (Π_{j>i} g_j)·x_i x_iᵀ``, evaluated with one matrix product (equal to the
        sequential form up to rounding: well within the 1e-9 contract).
        """
        k0 = int(self._mat_step[s, a])
        if upto > k0:
            steps = k0 + np.flatnonzero(self._out_arm[k0:upto, s] == a)
            if steps.size:
                g = self._log_g[steps, s]
                xs = self._x[self._streams_t[steps, s]]
                c = np.cumprod(g[::-1])
                w = np.empty_like(g)
                w[-1] = 1.0
                w[:-1] = c[::-1][1:]
                self.A[s, a] = c[-1] * self.A[s, a] + (xs.T * w) @ xs
            self._mat_step[s, a] = upto
        return self.A[s, a].copy()

    def _decayed_A(self, s: int, a: int, step: int) -> np.ndarray:
        """``A[s, a]`` after the decay of ``step`` but before its rank-one update (for a repair)."""
        a_mat = self._replay(s, a, step)
        g = self._log_g[step, s]
        if g != 1.0:
            a_mat = a_mat * g
            self._log_g[step, s] = 1.0   # the decay of this step is now part of the base
        return a_mat

    def materialize(self) -> None:
        """Apply every logged update to :attr:`A` (done by :meth:`result`)."""
        for s in range(self.n_runs):
            for a in range(self.k):
                self._replay(s, a, self.step_index)

    # ------------------------------------------------------------------ splitting (parallel runs)
    #: Attributes whose first axis is the run axis S (sliced by :meth:`split`).
    _PER_RUN = ("alpha", "gamma", "_gamma_col", "lam_c", "budget", "has_pacer", "uses_ceiling",
                "uses_penalty", "price", "ncost", "_price_masked", "pmax", "active", "A", "ainv", "b",
                "theta", "rho", "last_update", "last_played", "n_updates", "lam", "cost_ema", "_r_scale",
                "_r_shift", "_c_scale", "_forced_left", "_forced_arm", "_outer", "_mat_step", "ceiling_price")
    #: Attributes shaped (T, S) (sliced on the second axis).
    _PER_STEP_RUN = ("_streams_t", "_out_arm", "_out_r", "_out_c", "_out_lam", "_out_forced", "_log_g")

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
            sub._ar = np.arange(sub.n_runs)
            sub._ark = sub._ar * self.k
            sub.repairs = dict.fromkeys(self.repairs, 0)
            sub._point = {step: [item[:-1] + (item[-1][lo:hi],) for item in items]
                          for step, items in self._point.items()}
            parts.append(sub)
        return parts

    # ------------------------------------------------------------------ whole batch
    def run(self, n_steps: int | None = None) -> SimResult:
        """Advance ``n_steps`` (default: all remaining) steps and return the result so far."""
        stop = self.n_steps if n_steps is None else min(self.n_steps, self.step_index + int(n_steps))
        if self.compiled:
            self._advance_compiled(stop)
        while self.step_index < stop:
            self._step_numpy()
        return self.result()

    def result(self) -> SimResult:
        """Outputs of the steps done so far, as (S, T_done) arrays, plus the current state."""
        n = self.step_index
        self.materialize()
        return SimResult(
            arm=np.ascontiguousarray(self._out_arm[:n].T),
            reward=np.ascontiguousarray(self._out_r[:n].T),
            cost=np.ascontiguousarray(self._out_c[:n].T),
            lam=np.ascontiguousarray(self._out_lam[:n].T),
            forced=np.ascontiguousarray(self._out_forced[:n].T),
            final={
                "A": self.A.copy(), "ainv": self.ainv.copy(), "b": self.b.copy(), "theta": self.theta.copy(),
                "rho": self.rho.copy(), "last_update": self.last_update.copy(),
                "last_played": self.last_played.copy(), "n_updates": self.n_updates.copy(),
                "active": self.active.copy(), "price": self.price.copy(), "lam": self.lam.copy(),
                "cost_ema": self.cost_ema.copy(), "t": self.t,
                "repairs": dict(self.repairs),
            },
        )


def simulate(features, rewards, costs, streams, prices, *, seeds, alpha=None, gamma=None, cost_penalty=None,
             budget=None, pacer_mode="adaptive", priors: Priors | None = None, n_eff=None,
             events: Sequence = (), config: RouterConfig | None = None,
             pacer: PacerParams | None = None, n_jobs: int = 1, backend: str = "threads",
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
    pacer : PacerParams, optional
        Pacer constants (η, EMA weight, λ cap, ceiling multiplier).
    n_jobs : int
        Split the runs into this many sub-batches stepped in parallel (results identical to
        ``n_jobs=1``; worthwhile for large S on several free cores).
    backend : {"threads", "processes"}
        How sub-batches run in parallel (:mod:`paretobandit.sim.parallel`).
    compiled : bool, optional
        Step with the compiled numba kernel (:mod:`paretobandit.sim._compiled`) — ``None`` (default)
        uses it when numba is importable and ``PARETOBANDIT_SIM_NUMBA`` is not ``0``; ``False`` runs
        the NumPy reference step. Both implement docs/ALGORITHM.md and equal the online router.

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
                         n_eff=n_eff, events=events, config=config, pacer=pacer, compiled=compiled)
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
