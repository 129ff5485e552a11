"""Per-run budget compliance: the spend-guard pacer and a PI baseline (docs/ALGORITHM.md, per-run section).

:class:`SpendGuardPacer` holds each run's realised spend near ``B·t`` at every step, so any long enough
window of requests averages at most ``B·(1 + (θ + C)/L)`` (the guarantee and its assumptions are in
docs/ALGORITHM.md). Per feedback with realised cost ``c`` (``t`` = feedbacks so far)::

    Z ← max(−C·B, Z + c − B)                                   # overspend account, credit capped at C·B
    m ← m₀·√(τ / (τ + t))                                      # margin that shrinks with t
    g ← c/B − (1 − m)                                          # raw (unsmoothed) dual gradient
    v ← (1 − β)·v + β·g² ;  η_t = η / max(1, √v)               # adaptive step size
    λ ← min(cap, max(0, λ + η_t·g))                            # dual update
    penalty = min(cap, λ + k_I·max(0, Z)/(θ·B))                # plus an integral term on Z

and at every routing decision the guard allows only the arms whose cost estimate ĉ_a fits the headroom
``(1 + θ)·B − Z`` (keeping ``Z ≤ θ·B``); if none fits, only the cheapest price. ĉ_a = κ_a·p_a, with
``p_a`` the arm's blended $/1k price and κ_a its learned kilotokens per request. The pacer is not told
which arm served a request: each cost is attributed to the arm eligible at that decision whose estimate
is nearest in log-cost (arms whose cost levels are close share the error; the error is then small in $).

The PI-controller baseline of notebook 14 is the worked plug-in example ``examples/pi_pacer.py``.
"""

from __future__ import annotations

import math
import numbers
import threading

from .errors import ConfigError, StateFileError
from .plugins import PacerBase

__all__ = ["LOG_SPREAD", "SpendGuardPacer"]

#: Spread (sd of log cost) of one arm's realised costs in the attribution model.
LOG_SPREAD = 0.8
#: EMA weight of the attribution shares.
SHARE_ALPHA = 0.02


def _number(name, value, *, low=0.0, allow_low=False, high=None) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number, got {value!r}")
    v = float(value)
    if v < low or (v == low and not allow_low) or (high is not None and v > high):
        top = "inf)" if high is None else f"{high:g}]"
        rng = f"{'[' if allow_low else '('}{low:g}, {top}"
        raise ConfigError(f"{name} must be in {rng}, got {value!r}")
    return v


def _state_number(data: dict, key: str, *, low: float = 0.0, signed: bool = False) -> float:
    v = data[key]
    if (isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)
            or (not signed and v < low)):
        raise StateFileError(f"invalid pacer state: {key} = {v!r}")
    return float(v)


def _state_count(data: dict, key: str) -> int:
    n = data[key]
    if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= 2**53:
        raise StateFileError(f"invalid pacer state: {key} = {n!r}")
    return n


class SpendGuardPacer(PacerBase):
    """Dual pacer with a per-step spend guard keeping every run's spend within ``θ·B`` of ``B·t``.

    Parameters
    ----------
    budget : float
        Target mean $ per request B (> 0).
    eta : float
        Base dual step η (> 0, default 0.05).
    margin, margin_tau : float
        Initial target tightening m₀ ∈ [0, 1) (default 0.02) and its time scale τ > 0 in requests
        (default 500): the target is ``B·(1 − m₀·√(τ/(τ + t)))``.
    allowance : float
        θ ≥ 0: the overspend account Z may reach θ·B (default 6.0).
    credit : float
        C ≥ 0: underspending is banked down to Z = −C·B only (default 6.0).
    integral_gain : float
        k_I ≥ 0 (default 0: off): penalty added at Z = θ·B.
    lambda_cap : float
        Upper bound of λ and of the penalty (default 5.0).
    step_beta : float
        β ∈ [0, 1] of the gradient's second-moment EMA that scales the step (default 0: a constant η).
    init_kilotokens : float
        κ of an arm before any of its cost is seen is the largest of this (> 0, default 1.0) and
        the κ of every seen arm (a cautious start).
    estimate_alpha : float
        Floor of the weight of a new cost in κ_a's running mean (default 0.02):
        ``max(1/(n_a + prior_count), α)``.
    prior_count : float
        Pseudo-count ≥ 0 of the start value in κ_a's running mean (default 3), so that one odd first cost
        cannot lock an arm out.
    probe_count : int
        Until an arm has this many credited costs (default 10) its estimate is capped at its start value,
        so a heavy first cost cannot exclude it for good.
    ema_alpha : float
        Weight in (0, 1] of the cost EMA the dual gradient uses (default 0.05 as the paper; 1 = raw cost).
    ceiling : bool
        Also apply the paper's price ceiling ``p ≤ p_max/(1 + λ)`` (default True).
    """

    def __init__(self, budget, eta=0.05, margin=0.02, margin_tau=500.0, allowance=6.0, credit=6.0,
                 integral_gain=0.0, lambda_cap=5.0, step_beta=0.0, init_kilotokens=1.0,
                 estimate_alpha=0.02, ema_alpha=0.05, ceiling=True, integral_from_credit=False, prior_count=3,
                 probe_count=10):
        self.budget = _number("budget", budget)
        self.eta = _number("eta", eta)
        self.margin = _number("margin", margin, allow_low=True, high=0.999)
        self.margin_tau = _number("margin_tau", margin_tau)
        self.allowance = _number("allowance", allowance, allow_low=True)
        self.credit = _number("credit", credit, allow_low=True)
        self.integral_gain = _number("integral_gain", integral_gain, allow_low=True)
        self.lambda_cap = _number("lambda_cap", lambda_cap, allow_low=True)
        self.step_beta = _number("step_beta", step_beta, allow_low=True, high=1.0)
        self.init_kilotokens = _number("init_kilotokens", init_kilotokens)
        self.estimate_alpha = _number("estimate_alpha", estimate_alpha, high=1.0)
        self.ema_alpha = _number("ema_alpha", ema_alpha, high=1.0)
        self.prior_count = _number("prior_count", prior_count, allow_low=True)
        if isinstance(probe_count, bool) or not isinstance(probe_count, int) or probe_count < 0:
            raise ConfigError(f"probe_count must be an integer >= 0, got {probe_count!r}")
        self.probe_count = probe_count
        if not isinstance(ceiling, bool):
            raise ConfigError(f"ceiling must be a bool, got {ceiling!r}")
        self.ceiling = ceiling
        if not isinstance(integral_from_credit, bool):
            raise ConfigError(f"integral_from_credit must be a bool, got {integral_from_credit!r}")
        self.integral_from_credit = integral_from_credit
        self.cost_ema = self.budget
        self._lock = threading.Lock()
        self.lambda_ = 0.0
        self.overspend = 0.0          # Z, $
        self.grad_sq = 0.0            # v
        self.n_updates = 0
        self.kilotokens: list[float | None] = []   # κ_a (None = no cost seen yet)
        self.counts: list[int] = []
        self.start: list[float | None] = []        # κ an arm started from (its first credited cost)
        self.shares: list[float] = []              # EMA of how often each arm was credited
        self._prices: list[float] = []
        self._pending: list[int] | None = None     # arms eligible at the last decision
        self.orphans: list[float] = []             # costs of requests routed without a decision seen

    # ------------------------------------------------------------------ decision side
    def penalty_weight(self) -> float:
        """λ plus the integral term on the overspend account, capped."""
        if self.integral_from_credit:      # 0 at full credit Z = −C·B, k_I at the guard's limit Z = θ·B
            span = max(self.allowance + self.credit, 1e-12) * self.budget
            extra = self.integral_gain * max(0.0, self.overspend + self.credit * self.budget) / span
        else:
            extra = self.integral_gain * max(0.0, self.overspend) / (max(self.allowance, 1e-12) * self.budget)
        return min(self.lambda_cap, self.lambda_ + extra)

    def headroom(self) -> float:
        """$ the next request may cost while keeping ``Z ≤ θ·B``."""
        return (1.0 + self.allowance) * self.budget - self.overspend

    def _default_kilotokens(self) -> float:
        return max([self.init_kilotokens, *(k for k in self.kilotokens if k is not None)])

    def estimates(self, prices) -> list[float]:
        """Cost estimates ĉ_a = κ_a·p_a ($) for the blended prices ``prices`` ($/1k)."""
        default = self._default_kilotokens()
        out = []
        for j, p in enumerate(prices):
            k = self.kilotokens[j] if j < len(self.kilotokens) else None
            if k is None:
                k = default
            elif self.counts[j] < self.probe_count:      # a few costs cannot price an arm above its start
                k = min(k, self.start[j])
            out.append(float(p) * k)
        return out

    def eligible(self, prices, p_max):
        """Arms whose estimate fits the headroom (the cheapest price if none does); ``None`` = all."""
        with self._lock:
            grew = len(prices) > len(self.kilotokens) and bool(self.kilotokens)
            self._sync(prices)
            self._credit_orphans(len(prices) - 1 if grew else None)
            est = self.estimates(prices)
            room = max(self.headroom(), self.budget)     # over the limit: arms that pay Z down (ĉ ≤ B)
            ok = [e <= room for e in est]
            if self.ceiling and self.lambda_ > 0.0:      # the paper's price ceiling p ≤ p_max/(1 + λ),
                top = float(p_max) / (1.0 + self.lambda_)    # dropped where it would empty the set
                capped = [v and float(p) <= top for v, p in zip(ok, prices, strict=True)]
                ok = capped if any(capped) else ok
            if not any(ok):               # the cheapest blended price (robust to a misattributed κ)
                cheapest = min(range(len(est)), key=lambda j: (float(prices[j]), est[j]))
                ok[cheapest] = True
            self._pending = [j for j, v in enumerate(ok) if v]
            return None if all(ok) else ok

    def _sync(self, prices) -> None:
        k = len(prices)
        if len(self.kilotokens) > k:          # arms removed: keep the first k (positions shift)
            del self.kilotokens[k:], self.counts[k:], self.shares[k:], self.start[k:]
        while len(self.kilotokens) < k:
            self.kilotokens.append(None)
            self.counts.append(0)
            self.start.append(None)
            self.shares.append(1.0 / k)
        self._prices = [float(p) for p in prices]

    def _credit_orphans(self, arm: int | None) -> None:
        """Credit the costs of forced pulls (no decision seen): to ``arm`` (the newest arm, when arms were
        just added — the router forces a newly registered model), else each to its most likely arm."""
        for cost in self.orphans:
            self._credit(arm if arm is not None else self._attribute(cost), cost)
        self.orphans = []

    def _credit(self, j: int | None, cost: float) -> None:
        if j is None or self._prices[j] <= 0.0:
            return
        n = self.counts[j] + 1
        if self.kilotokens[j] is None:
            self.start[j] = self._default_kilotokens()
        k = self.kilotokens[j] if self.kilotokens[j] is not None else self.start[j]
        w = max(1.0 / (n + self.prior_count), self.estimate_alpha)
        self.kilotokens[j] = k + w * (cost / self._prices[j] - k)
        self.counts[j] = n
        self.shares = [(1.0 - SHARE_ALPHA) * x for x in self.shares]
        self.shares[j] += SHARE_ALPHA

    # ------------------------------------------------------------------ feedback side
    def _attribute(self, cost: float) -> int | None:
        """Arm the cost is credited to: among the arms eligible at the last decision, the most likely
        under a log-normal cost model (spread :data:`LOG_SPREAD`) weighted by how often each arm was
        credited recently (so a dominant arm keeps its own tails)."""
        if not self._prices or cost <= 0.0:
            return None
        cands = self._pending if self._pending is not None else range(len(self._prices))
        cands = [j for j in cands if self._prices[j] > 0.0]
        if not cands:
            return None
        est = self.estimates(self._prices)
        lc = math.log(cost)

        def score(j: int) -> float:
            z = (lc - math.log(est[j])) / LOG_SPREAD
            return math.log(self.shares[j] + 1e-3) - 0.5 * z * z

        return max(cands, key=score)

    def step(self, cost: float) -> float:
        """One pacer step on a validated cost (:meth:`update` validates)."""
        with self._lock:
            if self._pending is None and self._prices:
                if cost > 0.0:
                    self.orphans.append(cost)
            else:
                self._credit(self._attribute(cost), cost)
            self._pending = None
            b = self.budget
            self.overspend = max(-self.credit * b, self.overspend + cost - b)
            m = self.margin * math.sqrt(self.margin_tau / (self.margin_tau + self.n_updates))
            self.cost_ema += self.ema_alpha * (cost - self.cost_ema)
            g = self.cost_ema / b - (1.0 - m)
            self.grad_sq += self.step_beta * (g * g - self.grad_sq)
            eta = self.eta / max(1.0, math.sqrt(self.grad_sq))
            self.lambda_ = min(self.lambda_cap, max(0.0, self.lambda_ + eta * g))
            self.n_updates += 1
            return self.lambda_

    # ------------------------------------------------------------------ serialisation
    _SETTINGS = ("budget", "eta", "margin", "margin_tau", "allowance", "credit", "integral_gain",
                 "lambda_cap", "step_beta", "init_kilotokens", "estimate_alpha", "ema_alpha", "ceiling",
                 "integral_from_credit", "prior_count", "probe_count")

    def state_dict(self) -> dict:
        """JSON-able settings and state."""
        with self._lock:
            out = {k: getattr(self, k) for k in self._SETTINGS}
            out.update(kind="spend_guard", **{"lambda": self.lambda_}, overspend=self.overspend,
                       grad_sq=self.grad_sq, cost_ema=self.cost_ema, n_updates=self.n_updates,
                       kilotokens=list(self.kilotokens),
                       counts=list(self.counts), shares=list(self.shares), start=list(self.start),
                       orphans=list(self.orphans))
            return out

    @classmethod
    def from_state(cls, data: dict) -> SpendGuardPacer:
        """Inverse of :meth:`state_dict`; malformed data raises :class:`StateFileError`."""
        if not isinstance(data, dict) or data.get("kind") != "spend_guard":
            raise StateFileError("invalid pacer state: not a spend_guard pacer mapping")
        try:
            pacer = cls(**{k: data[k] for k in cls._SETTINGS})
            lam = _state_number(data, "lambda")
            z = _state_number(data, "overspend", signed=True)
            v = _state_number(data, "grad_sq")
            ema = _state_number(data, "cost_ema")
            n = _state_count(data, "n_updates")
            kt, counts, shares, start = data["kilotokens"], data["counts"], data["shares"], data["start"]
            orphans = data["orphans"]
        except (KeyError, TypeError, ConfigError) as exc:
            raise StateFileError(f"invalid pacer state: {exc}") from None
        if lam > pacer.lambda_cap or z < -pacer.credit * pacer.budget * (1 + 1e-12):
            raise StateFileError(f"invalid pacer state: lambda={lam!r}, overspend={z!r}")
        if (not all(isinstance(v, list) for v in (kt, counts, shares, start))
                or not len(kt) == len(counts) == len(shares) == len(start)):
            raise StateFileError("invalid pacer state: kilotokens, counts, shares and start must be lists "
                                 "of one length")
        for k0, k in zip(start, kt, strict=True):
            bad = (k0 is None) != (k is None) or (k0 is not None and (
                isinstance(k0, bool) or not isinstance(k0, (int, float)) or not math.isfinite(k0) or k0 <= 0))
            if bad:
                raise StateFileError(f"invalid pacer state: start={k0!r} for kilotokens={k!r}")
        if any(isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1 for v in shares):
            raise StateFileError(f"invalid pacer state: shares = {shares!r}")
        for k, c in zip(kt, counts, strict=True):
            bad_k = k is not None and (isinstance(k, bool) or not isinstance(k, (int, float))
                                       or not math.isfinite(k) or k < 0)
            if bad_k or isinstance(c, bool) or not isinstance(c, int) or c < 0 or (k is None) != (c == 0):
                raise StateFileError(f"invalid pacer state: kilotokens={k!r}, count={c!r}")
        pacer.lambda_, pacer.overspend, pacer.grad_sq, pacer.n_updates = lam, z, v, n
        pacer.cost_ema = ema
        pacer.kilotokens = [None if k is None else float(k) for k in kt]
        pacer.counts = list(counts)
        pacer.shares = [float(v) for v in shares]
        pacer.start = [None if v is None else float(v) for v in start]
        if not isinstance(orphans, list) or any(
                isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0
                for v in orphans):
            raise StateFileError(f"invalid pacer state: orphans = {orphans!r}")
        pacer.orphans = [float(v) for v in orphans]
        return pacer

    def __repr__(self) -> str:
        return (f"SpendGuardPacer(budget={self.budget!r}, lambda={self.lambda_:.4f}, "
                f"overspend={self.overspend / self.budget:+.3f}·B)")
