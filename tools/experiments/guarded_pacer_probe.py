"""Experiment (issue 13, not product code): the paper's pacer plus a leaky-bucket spend guard.

The committed :class:`paretobandit.pacers.SpendGuardPacer` runs its own λ update (a second copy of the
paper's dual step, with a margin) and guesses which arm served each request from the cost alone. This
script measures the design meant to replace it, on the same streams, seeds and budgets as notebook 14:

* λ, the cost EMA, the price ceiling and the score penalty are the paper's, by composition: a
  :class:`~paretobandit.pacer.BudgetPacer` inside (one home for the dual step). While the guard does not
  act, decisions are exactly the paper pacer's.
* A leaky bucket ``Z ← max(−C·B, Z + c − B)``; at a decision only arms whose cost estimate
  ``ĉ_a = κ_a·p_a`` fits the headroom ``(1 + θ)·B − Z`` stay eligible (within the paper's ceiling when
  possible; else every arm that fits; else the cheapest estimate). Over any window of N requests this
  bounds the spend by ``N·B + (θ + C)·B + ε`` (ε: how far the last admitted request's realised cost
  exceeded its estimate), so θ + C ≈ 18 fits a 608-request phase at 3 %.
* κ_a is learned from the costs of the arm that actually served. The Pacer protocol has no hook for the
  served arm yet, so this *experiment* wraps ``LinUCBPolicy.update`` (the router calls it with the arm,
  just before ``pacer.step``) to learn it; the real implementation adds the hook to the protocol.

Nothing is written: the script prints one line per pacer × cell (binding cells marked ``B``)::

    python tools/experiments/guarded_pacer_probe.py --allowance 10 --credit 8
    python tools/experiments/guarded_pacer_probe.py --scenarios quality_degradation onboarding
"""

from __future__ import annotations

import argparse
import functools
import time

from paretobandit import policy as _policy
from paretobandit.experiments import per_run_compliance as prc
from paretobandit.pacer import BudgetPacer
from paretobandit.plugins import PacerBase

_SERVED: dict = {"arm": None}


def _learn_served_arm() -> None:
    """Record the arm of each applied feedback (the router updates the policy, then steps the pacer)."""
    original = _policy.LinUCBPolicy.update
    if getattr(original, "_records_arm", False):
        return

    def update(self, arm, x, reward):
        _SERVED["arm"] = arm
        return original(self, arm, x, reward)

    update._records_arm = True
    _policy.LinUCBPolicy.update = update


class GuardedPaperPacer(PacerBase):
    """The paper's :class:`BudgetPacer` plus a leaky-bucket guard on each decision (see module doc)."""

    def __init__(self, budget, allowance=10.0, credit=8.0, prior_count=3.0, estimate_alpha=0.02,
                 init_kilotokens=1.0, **paper):
        self.paper = BudgetPacer(budget, **paper)
        self.budget = self.paper.budget
        self.allowance, self.credit = float(allowance), float(credit)
        self.prior_count, self.estimate_alpha = float(prior_count), float(estimate_alpha)
        self.init_kilotokens = float(init_kilotokens)
        self.overspend = 0.0
        self.kilotokens: list[float | None] = []
        self.counts: list[int] = []
        self._prices: list[float] = []

    @property
    def lambda_(self) -> float:
        return self.paper.lambda_

    def penalty_weight(self) -> float:
        return self.paper.penalty_weight()

    def _default(self) -> float:
        return max([self.init_kilotokens, *(k for k in self.kilotokens if k is not None)])

    def estimates(self, prices) -> list[float]:
        d = self._default()
        return [p * (k if k is not None else d) for p, k in zip(prices, self.kilotokens, strict=True)]

    def eligible(self, prices, p_max):
        while len(self.kilotokens) < len(prices):
            self.kilotokens.append(None)
            self.counts.append(0)
        self._prices = [float(p) for p in prices]
        ceiling = self.paper.eligible(prices, p_max)
        est = self.estimates(self._prices)
        room = max((1.0 + self.allowance) * self.budget - self.overspend, self.budget)
        fits = [e <= room for e in est]
        ok = [f and (ceiling is None or c) for f, c in zip(fits, ceiling or fits, strict=True)]
        if not any(ok):
            cheapest = min(range(len(est)), key=lambda j: (est[j], self._prices[j]))
            ok = fits if any(fits) else [j == cheapest for j in range(len(est))]
        return None if all(ok) else ok

    def step(self, cost: float) -> None:
        j = _SERVED["arm"]
        if j is not None and j < len(self.kilotokens) and self._prices[j] > 0.0:
            n = self.counts[j] + 1
            k = self.kilotokens[j] if self.kilotokens[j] is not None else self._default()
            w = max(1.0 / (n + self.prior_count), self.estimate_alpha)
            self.kilotokens[j] = k + w * (cost / self._prices[j] - k)
            self.counts[j] = n
        self.overspend = max(-self.credit * self.budget, self.overspend + cost - self.budget)
        self.paper.step(cost)

    def state_dict(self) -> dict:  # an experiment: not persisted
        raise NotImplementedError("the probe pacer is not persisted")

    @classmethod
    def from_state(cls, data):
        raise NotImplementedError("the probe pacer is not persisted")


def main(argv=None) -> list[dict]:
    from omegaconf import OmegaConf

    from paretobandit.workbench import report_per_run_compliance as report
    from paretobandit.workbench.notebook import setup

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--allowance", type=float, default=10.0, help="θ (units of B)")
    ap.add_argument("--credit", type=float, default=8.0, help="C (units of B)")
    ap.add_argument("--scenarios", nargs="*", default=list(report.SCENARIOS))
    ap.add_argument("--scale", default="full")
    ap.add_argument("--n-jobs", type=int, default=2)
    args = ap.parse_args(argv)
    _learn_served_arm()
    guard = functools.partial(GuardedPaperPacer, allowance=args.allowance, credit=args.credit)
    prc.pacer_factories = lambda *_: {"paretobandit": BudgetPacer, "guarded": guard}
    prc.PACER_NAMES = ("paretobandit", "guarded")
    cfg = setup("per_run_compliance", args.scale, [])
    OmegaConf.set_struct(cfg, False)
    cfg.experiment.scenarios = list(args.scenarios)
    t0 = time.perf_counter()
    rows = prc.summary_rows(report.run_all(cfg, args.scale, n_jobs=args.n_jobs), recommended="guarded")
    for r in rows:
        metric = "" if r["scenario_metric"] is None else f"{r['scenario_metric']:.4f}"
        print(f"{r['pacer']:12s} {r['scenario']:20s} {r['case']:10s} {r['budget']!s:>20.20s} {r['phase']:2s} "
              f"{'B' if r['binding'] else ' '} cost/B mean {r['cost_ratio_mean']:.3f} "
              f"worst {r['cost_ratio_worst_seed']:.3f} reward {r['mean_reward']:.4f} metric {metric}")
    print(f"# {time.perf_counter() - t0:.0f} s")
    return rows


if __name__ == "__main__":
    main()
