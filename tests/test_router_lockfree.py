"""Routing products taken outside the lock are used only if no write of the stack overlapped them."""

from __future__ import annotations

import numpy as np
import pytest

from paretobandit import BanditRouter
from paretobandit.config import RouterConfig
from paretobandit.policy import LinUCBPolicy


def _policy(d=6, k=3, seed=0):
    pol = LinUCBPolicy(d, k, RouterConfig())
    rng = np.random.default_rng(seed)
    for i in range(12):
        pol.t += 1
        pol.update(i % k, np.append(rng.normal(size=d - 1), 1.0), float(rng.random()))
    return pol, rng


def _x(rng, d=6):
    return np.append(rng.normal(size=d - 1), 1.0)


@pytest.mark.parametrize("d", [6, 200])  # with and without the identity block
def test_unchanged_stack_gives_the_locked_scores_exactly(d):
    pol, rng = _policy(d)
    x = _x(rng, d)
    pen = [0.1, 0.2, 0.3]
    assert pol.scores_from(pol.project(x), x, pol.t + 1, 0.05, pen) == pol.scores(x, pol.t + 1, 0.05, pen)


@pytest.mark.parametrize("write", ["update", "add_arm", "remove_arm", "set_prior", "normalise", "reinvert"])
def test_a_write_between_project_and_scores_from_is_detected(write):
    pol, rng = _policy()
    x = _x(rng)
    pol.normalise()  # (so that no write below is detected only through its own normalisation)
    projected = pol.project(x)
    before = pol.scores(x, pol.t + 1, 0.05, [0.0] * pol.n_arms)
    pol.t += 5  # (decay: the lazy scale s != 1, so normalise changes the stack)
    if write == "update":
        pol.update(0, _x(rng), 0.9)
    elif write == "add_arm":
        pol.add_arm()
    elif write == "remove_arm":
        pol.remove_arm(1)
    elif write == "set_prior":
        pol.set_prior(2, 3.0 * np.eye(6), np.ones(6))
    elif write == "normalise":
        pol.update(1, _x(rng), 0.1)
        projected = pol.project(x)
        pol.normalise()
    else:
        pol._reinvert(0, 0.5)
    pen = [0.0] * pol.n_arms
    fresh = pol.scores(x, pol.t + 1, 0.05, pen)
    assert pol.scores_from(projected, x, pol.t + 1, 0.05, pen) == fresh
    if write != "normalise":  # (normalise changes the representation, not the scores)
        assert fresh != before[: len(fresh)]


class _BusyOnFirstTry:
    """A lock whose non-blocking acquire always fails (the router then sees it as contended)."""

    def __init__(self, lock):
        self._lock = lock
        self.busy = 0

    def acquire(self, blocking=True, timeout=-1):
        if not blocking:
            self.busy += 1
            return False
        return self._lock.acquire(blocking, timeout)

    def release(self):
        self._lock.release()

    def __enter__(self):
        return self._lock.__enter__()

    def __exit__(self, *exc):
        return self._lock.__exit__(*exc)


def test_contended_route_uses_unlocked_products_and_decides_exactly_as_uncontended(monkeypatch):
    a = BanditRouter.create(priors="none", seed=5)
    b = BanditRouter.create(priors="none", seed=5)
    a.policy.lock = busy = _BusyOnFirstTry(a.policy.lock)
    used = []
    real = LinUCBPolicy.scores_from

    def spy(self, *args):
        used.append(self is a.policy)
        return real(self, *args)

    monkeypatch.setattr(LinUCBPolicy, "scores_from", spy)
    rng = np.random.default_rng(1)
    for _ in range(200):
        v = rng.normal(size=25)
        ma, la = a.route(v)
        mb, lb = b.route(v)
        assert (ma, la.scores) == (mb, lb.scores)
        r = float(rng.random())
        a.process_feedback(la.request_id, r)
        b.process_feedback(lb.request_id, r)
    assert busy.busy == 200 and used == [True] * 200  # b (uncontended) never took the unlocked path
    assert np.array_equal(a.state_dict()["arrays"]["A_inv"], b.state_dict()["arrays"]["A_inv"])


def test_only_small_d_and_the_builtin_policy_route_from_unlocked_products():
    from paretobandit import FeatureService

    assert BanditRouter.create(priors="none")._lockfree
    big = BanditRouter.create(priors="none", feature_service=FeatureService.for_precomputed(200))
    assert not big._lockfree  # d = 201 > UNLOCKED_MAX_D: products under the lock
