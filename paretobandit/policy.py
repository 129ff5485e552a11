"""Disjoint LinUCB with geometric forgetting, held as stacked per-arm arrays (docs/PROTOCOLS.md §1.2, §1.5).

All K arms live in one contiguous matrix ``stack`` of shape ``(K·d + d + K, d)``: rows ``a·d … a·d+d−1``
are ``A_a⁻¹``, the next d rows an identity block (only for d ≤ :data:`EYE_MAX_D`), and the last K rows
the ridge estimates ``θ_a``.
Scoring every arm is then two matrix–vector products into preallocated buffers: ``y = stack·x`` gives
``A_a⁻¹x`` for every arm, ``x`` itself and ``θ_aᵀx``; ``Y·x`` (Y = the first K + 1 blocks of y) gives
every ``xᵀA_a⁻¹x`` and ``xᵀx`` (used for input validation) in one call. Each score is then
:func:`paretobandit.kernels.ucb_score` — the one home of the score equation, which the compiled simulator
compiles as-is. :class:`LinUCBPolicy` is the built-in :class:`~paretobandit.plugins.Policy` plug-in.

``A`` is only read by the rare re-inversions and by persistence, so its rank-one update touches the lower
triangle only (BLAS ``dsyr``); readers symmetrise it. Geometric forgetting is applied lazily: the arrays
hold ``M``, ``N``, ``c`` with per-arm scalars such that ``A⁻¹ = s·M``, ``A = σ·N``, ``b = β·c``; a decay
by ``g`` only changes the scalars (``s /= g``, ``σ *= g``, ``β *= g``), so it costs O(1) instead of three
O(d²) passes. The scalars are folded into the arrays (:meth:`normalise`) before any O(d³) step, on
registry changes, and whenever they leave [1e-100, 1e100]; persistence saves the raw arrays and scalars
so a reload continues bit for bit. The public :attr:`A`, :attr:`ainv` and :attr:`b` are materialised copies.

Feedback follows ``docs/ALGORITHM.md`` step by step — forgetting with the ridge floor,
Sherman–Morrison (in place, BLAS ``dger``), the corrupted-inverse guard and the periodic stability
check — in O(d²) except for the rare re-inversions.

Concurrency
-----------
``lock`` guards every read and write of the arrays and is only held for O(K·d²) work. Updates are
serialised by ``write_lock``. An O(d³) re-inversion is computed while holding ``write_lock`` only
(readers keep scoring the previous matrices) and is then published under ``lock`` by an O(d²) copy
into the stack, so a reader never waits on an inversion.

A router that finds ``lock`` busy multiplies outside it while waiting: :meth:`LinUCBPolicy.project`
runs the two products on the live
stack into pooled buffers and notes :attr:`~LinUCBPolicy.version`, which every change of the stack's
contents bumps while holding ``lock``; :meth:`LinUCBPolicy.scores_from` (under ``lock``) uses the
products only if the version is unchanged and redoes them otherwise, so a product that overlapped a
write is never used (a sequence lock; docs/DEPLOYMENT.md). The router does this for d ≤
:data:`UNLOCKED_MAX_D` only. Single-threaded, the products are the
same BLAS calls on the same arrays, so decisions are bit-identical to :meth:`LinUCBPolicy.scores`.
"""

from __future__ import annotations

import threading

import numpy as np

from . import kernels
from .config import RouterConfig

try:  # compiled per-arm loop for large K (optional; the same kernels.ucb_score)
    from ._accel import ucb_scores as _ucb_scores
except ImportError:  # pragma: no cover - numba not installed
    _ucb_scores = None

#: Above this many arms the scores are finished by the compiled loop (when numba is installed).
SMALL_K = 16

__all__ = ["LinUCBPolicy"]

#: Up to this context dimension the router takes the scoring products outside the lock
#: (:meth:`LinUCBPolicy.project`): there NumPy keeps the GIL through them, so they cannot interleave with
#: a write; above it they release the GIL, overlap writes often and are redone under the lock.
UNLOCKED_MAX_D = 128

#: Up to this context dimension the stack carries an identity block, so ``xᵀx`` comes with the variances
#: (one NumPy call less); above it the block would add 1/K to the scoring work and ``x·x`` is computed apart.
EYE_MAX_D = 128



def _sym(n: np.ndarray) -> np.ndarray:
    """Symmetric matrix (or stack) from its lower triangle (``N`` is updated on that half only)."""
    full = np.tril(n)
    full += np.swapaxes(np.tril(n, -1), -1, -2)
    return full


def _invert(a: np.ndarray) -> np.ndarray:
    """O(d³) inverse (module-level so tests can observe that it runs outside :attr:`LinUCBPolicy.lock`)."""
    return kernels.inverse(a)


class LinUCBPolicy:
    """Per-arm LinUCB state and the update/scoring rules.

    Parameters
    ----------
    dimension : int
        Context dimension d (bias included).
    n_arms : int
        Number of arms K (all start cold: ``A = λ₀I``, ``b = 0``).
    config : RouterConfig
        Constants (γ, λ₀, V_max, caps, ridge floor, stability check).

    Attributes
    ----------
    t : int
        Request counter (incremented by the router at each routing decision).
    A, ainv : ndarray (K, d, d)
        Materialised copies of ``A`` and ``A⁻¹`` (properties; the live state is lazily scaled).
    b : ndarray (K, d)
        Materialised copy (property).
    theta : ndarray (K, d)
        Live view into :attr:`stack` (never lazily scaled).
    stack : ndarray (K·d + e + K, d)
        ``[M_1; …; M_K; I; θ]`` (e = d rows of I if d ≤ EYE_MAX_D, else none) — what scoring multiplies.
    rho : list of float
        Decayed ridge tracker ρ of each arm.
    last_update, last_played, n_updates : list of int
    """

    def __init__(self, dimension: int, n_arms: int, config: RouterConfig, seed=None):
        self.d = int(dimension)
        self.config = config
        self.lock = threading.Lock()
        self.write_lock = threading.RLock()
        #: Bumped under :attr:`lock` by every change of :attr:`stack` (contents or object).
        self.version = 0
        #: Whether the router should use :meth:`project` / :meth:`scores_from` (d ≤ UNLOCKED_MAX_D).
        self.unlocked_products = self.d <= UNLOCKED_MAX_D
        self._pool: list = []  # scoring buffers of project(), one set per concurrent caller
        self.t = 0
        #: How often each rare re-inversion ran (diagnostics; not part of the state).
        self.repairs = {"ridge_floor": 0, "corrupted_inverse": 0, "stability": 0}
        self._table = kernels.staleness_table(config.forgetting_factor, config.v_max, config.staleness_cap)
        self._table_list = self._table.tolist()
        self._forget = config.forgetting_factor < 1.0
        self._decay = kernels.decay_factor(
            config.forgetting_factor, np.arange(config.staleness_cap + 1), config.staleness_cap
        ).tolist()
        self._set_arrays(
            np.broadcast_to(config.ridge * np.eye(self.d), (n_arms, self.d, self.d)).copy(),
            np.zeros((n_arms, self.d)),
            None,
            [config.ridge] * n_arms,
            [0] * n_arms,
            [0] * n_arms,
            [0] * n_arms,
        )

    # ------------------------------------------------------------------ array plumbing
    def _set_arrays(self, A, b, ainv, rho, last_update, last_played, n_updates, theta=None) -> None:
        """Install a full set of (materialised) arrays; A⁻¹ and θ computed when None. Not locked."""
        k, d = b.shape
        e = d if d <= EYE_MAX_D else 0  # rows of the identity block (x·x for free; skipped for large d)
        stack = np.empty((k * d + e + k, d))
        m_view = stack[: k * d].reshape(k, d, d)
        if ainv is None:
            if k:
                m_view[...] = kernels.inverse(A)
        else:
            m_view[...] = ainv
        if e:
            stack[k * d : k * d + d] = np.eye(d)
        theta_view = stack[k * d + e :]
        if theta is not None:
            theta_view[...] = theta
        elif k:
            theta_view[...] = kernels.matvec(m_view, b)
        self._N = np.array(A, dtype=float, order="C")
        self._c = np.array(b, dtype=float, order="C")
        self.stack = stack
        self.version += 1
        self._M = m_view
        self.theta = theta_view
        self._s = [1.0] * k  # A⁻¹ = s·M
        self._sig = [1.0] * k  # A = σ·N
        self._beta = [1.0] * k  # b = β·c
        self.rho = [float(v) for v in rho]
        self.last_update = [int(v) for v in last_update]
        self.last_played = [int(v) for v in last_played]
        self.n_updates = [int(v) for v in n_updates]
        self.last_touch = [max(u, p) for u, p in zip(self.last_update, self.last_played, strict=True)]
        # scoring buffers (used under ``lock`` only)
        self._eye = bool(e)
        kb = k + 1 if e else k
        self._y = np.empty(k * d + e + k)
        self._yblocks = self._y[: kb * d].reshape(kb, d)
        self._ymean = self._y[kb * d :]
        self._var = np.empty(kb)
        self._vark = self._var[:k]
        self._fast = _ucb_scores is not None and k > SMALL_K
        self._lt_arr = np.array(self.last_touch, dtype=np.int64)  # mirrors for the compiled loop
        self._s_arr = np.array(self._s)
        self._out = np.empty(k)

    def _normalise_arm(self, arm: int) -> None:
        """Fold the lazy scalars of ``arm`` into its arrays (O(d²); caller holds :attr:`lock`)."""
        if self._s[arm] != 1.0:
            self.version += 1
            m = self._M[arm]
            m *= self._s[arm]
            self._s[arm] = 1.0
            self._s_arr[arm] = 1.0
        if self._sig[arm] != 1.0:
            n = self._N[arm]
            n *= self._sig[arm]
            self._sig[arm] = 1.0
        if self._beta[arm] != 1.0:
            c = self._c[arm]
            c *= self._beta[arm]
            self._beta[arm] = 1.0

    def normalise(self) -> None:
        """Fold every lazy scalar into the arrays."""
        with self.lock:
            for arm in range(self.n_arms):
                self._normalise_arm(arm)

    @property
    def n_arms(self) -> int:
        """Number of arms K."""
        return self._c.shape[0]

    @property
    def A(self) -> np.ndarray:
        """Materialised design matrices ``A`` (K, d, d) — a copy."""
        with self.lock:
            return _sym(self._N) * np.array(self._sig)[:, None, None]

    @property
    def ainv(self) -> np.ndarray:
        """Materialised inverses ``A⁻¹`` (K, d, d) — a copy."""
        with self.lock:
            return self._M * np.array(self._s)[:, None, None]

    @property
    def b(self) -> np.ndarray:
        """Materialised ``b`` (K, d) — a copy."""
        with self.lock:
            return self._c * np.array(self._beta)[:, None]

    # ------------------------------------------------------------------ scoring
    def inflation(self, t: int) -> list:
        """Staleness multiplier of every arm at request ``t`` (``t`` > every ``last_touch``)."""
        tbl = self._table_list
        cap = self.config.staleness_cap
        return [tbl[t - lt] if t - lt < cap else tbl[cap] for lt in self.last_touch]

    def scores(self, x: np.ndarray, t: int, alpha: float, penalty) -> tuple[list, float]:
        """Scores of all arms for context ``x`` at request ``t`` (caller holds :attr:`lock`).

        ``penalty`` is the per-arm list ``w·c̃``. Two GEMVs give every ``θ_aᵀx`` and ``xᵀM_ax``; each
        arm's score is then :func:`paretobandit.kernels.ucb_score` with the staleness inflation times
        the arm's lazy scale ``s`` (``A⁻¹ = s·M``). Returns ``(scores, xᵀx)``.
        """
        np.dot(self.stack, x, out=self._y)
        np.dot(self._yblocks, x, out=self._var)
        if self._fast:
            xx = float(self._var[-1]) if self._eye else float(x.dot(x))
            _ucb_scores(self._vark, self._ymean, self._lt_arr, self._s_arr, t, self._table,
                        self.config.staleness_cap, alpha, np.array(penalty), self._out)
            return self._out.tolist(), xx
        var = self._var.tolist()
        xx = var.pop() if self._eye else float(x.dot(x))
        table = self._table_list
        cap = self.config.staleness_cap
        tcap = table[cap]
        score = kernels.ucb_score
        return [
            score(m, v, (table[t - lt] if t - lt < cap else tcap) * sc, alpha, p)
            for v, m, lt, sc, p in zip(var, self._ymean.tolist(), self.last_touch, self._s, penalty)  # noqa: B905
        ], xx

    def _buffers(self, stack):
        """Fresh scoring buffers for ``stack``: ``(stack, y, yblocks, ymean, var, vark)``."""
        d = self.d
        rows = stack.shape[0]  # K·d + e + K: the layout is read off this stack, not the live attributes
        k = (rows - d) // (d + 1) if d <= EYE_MAX_D else rows // (d + 1)
        kb = k + 1 if d <= EYE_MAX_D else k
        y = np.empty(rows)
        var = np.empty(kb)
        return stack, y, y[: kb * d].reshape(kb, d), y[kb * d:], var, var[:k]

    def project(self, x: np.ndarray):
        """The two products of :meth:`scores`, taken without any lock: ``(version, buffers)``.

        Multiplies the live stack into buffers taken from a pool (one set per concurrent caller, given
        back by :meth:`scores_from`); :meth:`scores_from` checks under :attr:`lock` that no write
        overlapped (same :attr:`version`). The version is read before the stack (writers replace the
        stack, then bump), so a replaced stack shows up as a changed version.
        """
        version = self.version
        stack = self.stack
        try:
            bufs = self._pool.pop()  # (atomic under the GIL; another thread never gets the same set)
        except IndexError:
            bufs = self._buffers(stack)
        if bufs[0] is not stack:
            bufs = self._buffers(stack)
        np.dot(stack, x, out=bufs[1])
        np.dot(bufs[2], x, out=bufs[4])
        return version, bufs

    def scores_from(self, projected, x: np.ndarray, t: int, alpha: float, penalty) -> tuple[list, float]:
        """:meth:`scores` from :meth:`project` output (caller holds :attr:`lock`); the products are
        recomputed here if the stack changed since they were taken."""
        version, bufs = projected
        if version != self.version:  # (a replaced stack bumps the version too)
            return self.scores(x, t, alpha, penalty)
        ymean, var = bufs[3], bufs[4]
        if self._fast:
            xx = float(var[-1]) if self._eye else float(x.dot(x))
            _ucb_scores(bufs[5], ymean, self._lt_arr, self._s_arr, t, self._table,
                        self.config.staleness_cap, alpha, np.array(penalty), self._out)
            self._pool.append(bufs)
            return self._out.tolist(), xx
        var = var.tolist()
        ym = ymean.tolist()
        self._pool.append(bufs)  # (after the last read: the next project() may overwrite them)
        xx = var.pop() if self._eye else float(x.dot(x))
        table = self._table_list
        cap = self.config.staleness_cap
        tcap = table[cap]
        score = kernels.ucb_score
        return [
            score(m, v, (table[t - lt] if t - lt < cap else tcap) * sc, alpha, p)
            for v, m, lt, sc, p in zip(var, ym, self.last_touch, self._s, penalty)  # noqa: B905
        ], xx

    def touch(self, arm: int, t: int) -> None:
        """Record that ``arm`` was played at request ``t`` (caller holds :attr:`lock`)."""
        self.last_played[arm] = t
        self.last_touch[arm] = t
        if self._fast:
            self._lt_arr[arm] = t

    # ------------------------------------------------------------------ update
    def _reinvert(self, arm: int, add_ridge: float) -> None:
        """``A ← A + add·I``; ``A⁻¹ ← inv(A)``; ``θ ← A⁻¹b`` — inversion outside :attr:`lock`.

        Caller holds :attr:`write_lock` (so ``A``/``b`` of the arm cannot change meanwhile).
        """
        with self.lock:
            self._normalise_arm(arm)
            a = _sym(self._N[arm])
            b = self._c[arm].copy()
        if add_ridge:
            a[np.diag_indices_from(a)] += add_ridge
        ainv = _invert(a)
        theta = kernels.matvec(ainv, b)
        with self.lock:
            self._N[arm] = a
            self._M[arm] = ainv
            self.theta[arm] = theta
            self.version += 1

    def _sherman_morrison_locked(self, arm: int, x: np.ndarray, reward: float, force: bool = False):
        """ALGORITHM.md feedback step 3 in place (caller holds :attr:`lock`), by
        :func:`paretobandit.kernels.sherman_morrison_inplace`. Returns ``(applied, stability_due)``;
        ``applied`` is False (nothing changed) when the inverse is corrupted, unless ``force``."""
        m = self._M[arm]
        sc = self._s[arm]
        den = kernels.sherman_morrison_inplace(m, self.theta[arm], self._N[arm], self._c[arm], x, reward, sc,
                                               self._sig[arm], self._beta[arm], force)
        if den is None:
            return False, False
        self.version += 1
        n = self.n_updates[arm] + 1
        self.n_updates[arm] = n
        cfg = self.config
        return True, (kernels.stability_due(n, cfg.stability_interval)
                      and kernels.unstable(sc * float(np.trace(m)), cfg.stability_trace))

    def update(self, arm: int, x: np.ndarray, reward: float) -> None:
        """Apply one (validated) reward for ``arm`` with context ``x`` at the current ``t``.

        Implements ALGORITHM.md ``feedback`` steps 1–4 (the pacer is the router's business). The
        common case runs in one short :attr:`lock` hold; re-inversions happen outside it.
        """
        cfg = self.config
        lam0 = cfg.ridge
        with self.write_lock:
            with self.lock:
                big_t = self.t
                add = 0.0
                # 1. forgetting (g = γ^min(dt, cap); dt <= 0 means g = 1): A ← gA, b ← gb, A⁻¹ ← A⁻¹/g, ρ ← gρ
                if self._forget:
                    dt = big_t - self.last_update[arm]
                    if dt > 0:
                        cap = cfg.staleness_cap
                        g = self._decay[dt if dt < cap else cap]
                        if g < 1e-100:  # a huge decay (small γ, long gap): fold first so s/g stays finite
                            self._normalise_arm(arm)
                        sc = self._s[arm] / g  # (before any assignment: a failure changes nothing)
                        sig = self._sig[arm] * g
                        self._sig[arm] = sig
                        self._beta[arm] *= g
                        self._s[arm] = sc
                        self._s_arr[arm] = sc
                        if sc > 1e100 or sig < 1e-100 or self._beta[arm] < 1e-100:
                            self._normalise_arm(arm)
                        rho = self.rho[arm] * g
                        add = kernels.ridge_deficit(rho, lam0, cfg.ridge_floor)
                        if add:
                            rho = lam0
                        self.rho[arm] = rho
                # 2.
                self.last_update[arm] = big_t
                if big_t > self.last_touch[arm]:
                    self.last_touch[arm] = big_t
                    self._lt_arr[arm] = big_t
                applied = check = False
                if not add:
                    applied, check = self._sherman_morrison_locked(arm, x, reward)
            if not applied:
                if add:  # ridge floor: A ← A + (λ₀ − ρ)I, re-invert
                    self.repairs["ridge_floor"] += 1
                    self._reinvert(arm, add)
                    with self.lock:
                        applied, check = self._sherman_morrison_locked(arm, x, reward)
                if not applied:  # corrupted inverse: A ← A + λ₀I, re-invert, retry
                    self.repairs["corrupted_inverse"] += 1
                    self._reinvert(arm, lam0)
                    with self.lock:
                        applied, check = self._sherman_morrison_locked(arm, x, reward, force=True)
            # 4. stability check
            if check:
                self.repairs["stability"] += 1
                self._reinvert(arm, lam0)

    # ------------------------------------------------------------------ arms
    def _lists(self, keep=None):
        lists = (self.rho, self.last_update, self.last_played, self.n_updates)
        if keep is None:
            return [list(v) for v in lists]
        return [[v for i, v in enumerate(lst) if keep[i]] for lst in lists]

    def add_arm(self, A=None, b=None, on_commit=None) -> None:
        """Append an arm (cold unless ``A``, ``b`` given) with ``last_update = last_played = t``.

        ``on_commit`` is called under :attr:`lock` right after the new arrays are installed (the router
        publishes its registry snapshot there, so readers never see mismatched shapes).
        """
        with self.write_lock:
            d = self.d
            a_new = self.config.ridge * np.eye(d) if A is None else np.asarray(A, dtype=float)
            b_new = np.zeros(d) if b is None else np.asarray(b, dtype=float)
            ainv_new = kernels.inverse(a_new)
            with self.lock:
                for arm in range(self.n_arms):
                    self._normalise_arm(arm)
                t = self.t
                rho, lu, lp, nu = self._lists()
                self._set_arrays(
                    np.concatenate([self._N, a_new[None]]),
                    np.concatenate([self._c, b_new[None]]),
                    np.concatenate([self._M, ainv_new[None]]),
                    rho + [self.config.ridge],
                    lu + [t],
                    lp + [t],
                    nu + [0],
                    np.concatenate([self.theta, kernels.matvec(ainv_new, b_new)[None]]),
                )
                if on_commit is not None:
                    on_commit()

    def remove_arm(self, arm: int, on_commit=None) -> None:
        """Drop every piece of state of ``arm`` (``on_commit`` as in :meth:`add_arm`)."""
        with self.write_lock, self.lock:
            for a in range(self.n_arms):
                self._normalise_arm(a)
            keep = np.arange(self.n_arms) != arm
            self._set_arrays(
                self._N[keep], self._c[keep], self._M[keep], *self._lists(keep), self.theta[keep]
            )
            if on_commit is not None:
                on_commit()

    def set_prior(self, arm: int, A, b) -> None:
        """Replace an arm's A, b (A⁻¹ and θ recomputed; ρ = λ₀). Used when loading priors."""
        with self.write_lock:
            a = np.array(A, dtype=float)
            bb = np.array(b, dtype=float)
            ainv = kernels.inverse(a)
            with self.lock:
                self._N[arm] = a
                self._c[arm] = bb
                self._M[arm] = ainv
                self._s[arm] = self._sig[arm] = self._beta[arm] = 1.0
                self._s_arr[arm] = 1.0
                self.theta[arm] = kernels.matvec(ainv, bb)
                self.rho[arm] = self.config.ridge
                self.version += 1

    # ------------------------------------------------------------------ state
    def arm_state(self, arm: int) -> dict:
        """Materialised copies of one arm's arrays, and its counters."""
        with self.lock:
            return {
                "A": _sym(self._N[arm]) * self._sig[arm],
                "A_inv": self._M[arm] * self._s[arm],
                "b": self._c[arm] * self._beta[arm],
                "theta": self.theta[arm].copy(),
                "rho": self.rho[arm],
                "last_update": self.last_update[arm],
                "last_played": self.last_played[arm],
                "n_updates": self.n_updates[arm],
            }

    def arrays(self, locked: bool = False) -> dict[str, np.ndarray]:
        """Copies of every array (for persistence); ``locked=True`` if the caller holds :attr:`lock`.

        ``A``, ``A_inv`` and ``b`` are materialised; ``raw_N``, ``raw_M``, ``raw_c`` and ``raw_scales``
        ((K, 3): s, σ, β) are the exact internal representation, so that a reload continues bit for bit.
        """
        if not locked:
            with self.lock:
                return self.arrays(locked=True)
        scales = np.array([self._s, self._sig, self._beta], dtype=float).T.reshape(self.n_arms, 3)
        return {
            "A": _sym(self._N) * scales[:, 1, None, None],
            "A_inv": self._M * scales[:, 0, None, None],
            "b": self._c * scales[:, 2, None],
            "theta": self.theta.copy(),
            "rho": np.array(self.rho, dtype=float),
            "last_update": np.array(self.last_update, dtype=np.int64),
            "last_played": np.array(self.last_played, dtype=np.int64),
            "n_updates": np.array(self.n_updates, dtype=np.int64),
            "t": np.array(self.t, dtype=np.int64),
            "raw_N": self._N.copy(),
            "raw_M": self._M.copy(),
            "raw_c": self._c.copy(),
            "raw_scales": scales,
        }

    def state_dict(self) -> dict[str, np.ndarray]:
        """The whole learned state as arrays (see :meth:`arrays`); inverse of :meth:`from_state`."""
        return self.arrays()

    @classmethod
    def from_state(cls, state: dict, config: RouterConfig) -> LinUCBPolicy:
        """A policy rebuilt from :meth:`state_dict` output after validating its meaning.

        Checks shapes and dtypes, finiteness, that the materialised ``A``, ``A⁻¹``, ``b`` equal the raw
        arrays times their scales, that ``A⁻¹`` inverts ``A`` and ``θ = A⁻¹b`` (probed with fixed vectors,
        relative tolerance :data:`STATE_TOLERANCE`), ``diag(A) > 0``, ``ρ > 0``, scales in (0, ∞) and
        counters in ``[0, t]`` with ``t <= 2^53``.

        Raises
        ------
        StateFileError
        """
        from .errors import StateFileError

        problem = validate_state(state)
        if problem:
            raise StateFileError(f"invalid policy state: {problem}")
        k, d = state["b"].shape
        policy = cls(d, k, config)
        policy.load_arrays(state)
        return policy

    def load_arrays(self, arrays: dict) -> None:
        """Install arrays produced by :meth:`arrays` (validated by the caller). θ is taken as saved; the
        raw arrays, when present, are used as they are (bit-exact continuation)."""
        raw = "raw_N" in arrays
        with self.write_lock, self.lock:
            self._set_arrays(
                arrays["raw_N" if raw else "A"],
                arrays["raw_c" if raw else "b"],
                arrays["raw_M" if raw else "A_inv"],
                arrays["rho"].tolist(),
                arrays["last_update"].tolist(),
                arrays["last_played"].tolist(),
                arrays["n_updates"].tolist(),
                arrays["theta"],
            )
            if raw:
                sc = arrays["raw_scales"]
                self._s, self._sig, self._beta = sc[:, 0].tolist(), sc[:, 1].tolist(), sc[:, 2].tolist()
                self._s_arr = np.array(self._s)
            self.t = int(arrays["t"])


#: Relative tolerance of the consistency checks of :func:`validate_state` (``A⁻¹A ≈ I``, ``θ ≈ A⁻¹b``).
STATE_TOLERANCE = 1e-6

#: Largest counter accepted in a state (integers stay exact in float64 and JSON).
MAX_COUNTER = 2**53

_STATE_ARRAYS = {  # name -> (shape in terms of (k, d), dtype kind)
    "A": ("kdd", "f"), "A_inv": ("kdd", "f"), "b": ("kd", "f"), "theta": ("kd", "f"), "rho": ("k", "f"),
    "last_update": ("k", "i"), "last_played": ("k", "i"), "n_updates": ("k", "i"), "t": ("", "i"),
    "raw_N": ("kdd", "f"), "raw_M": ("kdd", "f"), "raw_c": ("kd", "f"), "raw_scales": ("k3", "f"),
}


def state_shapes(k: int, d: int) -> dict[str, tuple[tuple[int, ...], str]]:
    """``{name: (shape, dtype kind)}`` of every array of :meth:`LinUCBPolicy.state_dict` for K, d."""
    dims = {"kdd": (k, d, d), "kd": (k, d), "k": (k,), "": (), "k3": (k, 3)}
    return {name: (dims[code], kind) for name, (code, kind) in _STATE_ARRAYS.items()}


def validate_state(state: dict) -> str | None:
    """Why ``state`` is not a meaningful :meth:`LinUCBPolicy.state_dict` (``None`` if it is).

    O(K·d²): the inverse is checked on fixed probe vectors rather than by an O(K·d³) product.
    """
    b = state.get("b") if isinstance(state, dict) else None
    if not isinstance(b, np.ndarray) or b.ndim != 2 or b.shape[1] < 1:
        return "array 'b' missing or not (K, d)"
    k, d = b.shape
    for name, (shape, kind) in state_shapes(k, d).items():
        arr = state.get(name)
        if not isinstance(arr, np.ndarray):
            return f"array {name!r} missing"
        if arr.shape != shape:
            return f"array {name!r} has shape {arr.shape}, expected {shape} (K={k}, d={d})"
        if arr.dtype.kind != kind:
            return f"array {name!r} has dtype {arr.dtype}"
        if kind == "f" and not np.isfinite(arr).all():
            return f"array {name!r} contains NaN or Inf"
    t = int(state["t"])
    if not 0 <= t <= MAX_COUNTER:
        return f"counter t = {t} outside [0, 2^53]"
    for name in ("last_update", "last_played", "n_updates"):
        arr = state[name]
        if arr.size and (arr.min() < 0 or arr.max() > t):
            return f"{name} outside [0, t = {t}]"
    scales = state["raw_scales"]
    if not ((scales > 0) & (scales < np.inf)).all() or not (state["rho"] > 0).all():
        return "raw_scales and rho must be > 0"
    # the materialised arrays must be the raw ones times their scales (how arrays() derives them)
    full_n = np.tril(state["raw_N"]) + np.swapaxes(np.tril(state["raw_N"], -1), -1, -2)
    if not (np.array_equal(full_n * scales[:, 1, None, None], state["A"])
            and np.array_equal(state["raw_M"] * scales[:, 0, None, None], state["A_inv"])
            and np.array_equal(state["raw_c"] * scales[:, 2, None], state["b"])):
        return "materialised A, A_inv, b differ from the raw arrays times their scales"
    a, ainv, theta = state["A"], state["A_inv"], state["theta"]
    if k and not (np.diagonal(a, axis1=1, axis2=2) > 0).all():
        return "A has a non-positive diagonal entry (not positive definite)"
    probes = np.random.default_rng(20260).standard_normal((d, 3))
    probes[:, 0] = 1.0
    for arm in range(k):
        an, inv_n = np.linalg.norm(a[arm]), np.linalg.norm(ainv[arm])
        err = np.linalg.norm(ainv[arm] @ (a[arm] @ probes) - probes)
        if not err <= STATE_TOLERANCE * an * inv_n * np.linalg.norm(probes):
            rel = err / np.linalg.norm(probes)
            return f"A_inv of arm {arm} is not the inverse of A (relative error {rel:.3g})"
        resid = np.linalg.norm(theta[arm] - ainv[arm] @ b[arm])
        scale = inv_n * np.linalg.norm(b[arm]) + np.linalg.norm(theta[arm])
        if not resid <= STATE_TOLERANCE * scale + 1e-12:
            return f"theta of arm {arm} is not A_inv @ b (error {resid:.3g})"
    return None
