"""Driving the compiled kernel (:mod:`paretobandit.sim._compiled`) from Python: event-free segments, and
the runs it parks for a tie (broken with :func:`paretobandit.kernels.pick_arm` and the run's generator) or a
re-inversion (the compiled twin of :func:`paretobandit.kernels.inverse`). ``self`` is the
:class:`~paretobandit.sim.engine.BatchSimulator` whose arrays are advanced in place."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .. import kernels

if TYPE_CHECKING:  # pragma: no cover
    from .engine import BatchSimulator

__all__ = ["advance_compiled"]


def advance_compiled(self: BatchSimulator, ck, stop: int) -> None:
    """Steps ``[sim.step_index, stop)`` with the numba kernel ``ck``, one event-free segment at a time.

    Events are applied in Python at the first step of each segment (as in the NumPy step).
    Inside a segment :func:`paretobandit.sim._compiled.advance` steps the runs one after the
    other and parks a run that meets a tie or needs a re-inversion; this loop serves all parked
    runs at once (:func:`_serve_parked`) and resumes them until every run ends the segment.
    """
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
            _serve_parked(self, ck, run_k, run_phase, run_code, given_arm, outputs[0], base, scratch)
        self.step_index = k1
        self.t = k1
    targets = (self._out_arm, self._out_r, self._out_c, self._out_lam, self._out_forced)
    for dst, src in zip(targets, outputs, strict=True):
        dst[base:stop] = src.T

def _serve_parked(self: BatchSimulator, ck, run_k, run_phase, run_code, given_arm, out_arm, base,
                  scratch) -> None:
    """Break the ties and do the re-inversions of the runs the kernel parked; mark them resumable."""
    ridge, floor = self.config.ridge, self.config.ridge_floor
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
        shift = (np.array([kernels.ridge_deficit(float(r), ridge, floor) for r in self.rho[runs, arms]])
                 if kind == "ridge_floor" else np.full(runs.size, ridge))
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
