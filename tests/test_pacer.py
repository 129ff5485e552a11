"""BudgetPacer: exact recursion, bounds, modes, serialisation, validation."""

from __future__ import annotations

import numpy as np
import pytest

from paretobandit import BudgetPacer, PacingMode
from paretobandit.errors import ConfigError, InvalidInputError, StateFileError


def test_recursion_exact_and_bounded():
    rng = np.random.default_rng(0)
    b = 0.002
    p = BudgetPacer(b)
    lam, ema = 0.0, b
    for c in rng.exponential(0.004, size=3000):
        ema = (1 - 0.05) * ema + 0.05 * c
        lam = min(5.0, max(0.0, lam + 0.05 * (ema / b - 1)))
        assert p.update(float(c)) == lam
        assert p.cost_ema == ema
        assert 0.0 <= p.lambda_ <= 5.0
    for _ in range(5000):
        p.update(1.0)
    assert p.lambda_ == 5.0
    for _ in range(5000):
        p.update(0.0)
    assert p.lambda_ == 0.0


def test_modes():
    assert BudgetPacer(1.0).mode is PacingMode.ADAPTIVE
    hard, soft, adaptive = (BudgetPacer(1.0, mode=m) for m in ("hard", "soft", "adaptive"))
    for p in (hard, soft, adaptive):
        p.lambda_ = 2.0
    assert hard.penalty_weight() == 0.0 and hard.uses_ceiling
    assert soft.penalty_weight() == 2.0 and not soft.uses_ceiling
    assert adaptive.penalty_weight() == 2.0 and adaptive.uses_ceiling


def test_state_round_trip():
    p = BudgetPacer(0.5, mode=PacingMode.SOFT, eta=0.1)
    p.update(2.0)
    q = BudgetPacer.from_dict(p.state_dict())
    assert q.state_dict() == p.state_dict()
    with pytest.raises(StateFileError):
        BudgetPacer.from_dict({"budget": 1})
    bad = dict(p.state_dict(), **{"lambda": float("nan")})
    with pytest.raises(StateFileError):
        BudgetPacer.from_dict(bad)


@pytest.mark.parametrize(
    "kw",
    [
        {"budget": 0},
        {"budget": -1},
        {"budget": float("nan")},
        {"budget": "1"},
        {"budget": 1, "mode": "x"},
        {"budget": 1, "eta": 0},
        {"budget": 1, "ema_alpha": 2},
        {"budget": 1, "lambda_cap": -1},
        {"budget": 1, "ceiling_multiplier": 0},
    ],
)
def test_validation(kw):
    with pytest.raises(ConfigError):
        BudgetPacer(**kw)


@pytest.mark.parametrize("cost", [-1, float("nan"), float("inf"), None, "1"])
def test_bad_cost(cost):
    p = BudgetPacer(1.0)
    with pytest.raises(InvalidInputError):
        p.update(cost)
    assert p.n_updates == 0
