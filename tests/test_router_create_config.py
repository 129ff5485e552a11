"""BanditRouter.create: an explicitly passed keyword always overrides ``config``."""

from __future__ import annotations

import pytest

from paretobandit import BanditRouter
from paretobandit.config import RouterConfig


def _create(**kw):
    return BanditRouter.create(priors="none", **kw)


@pytest.mark.parametrize(("name", "in_config", "explicit"), [
    ("alpha", 0.05, 0.01),                 # explicit value equals the RouterConfig default
    ("forgetting_factor", 0.99, 0.997),
    ("cost_penalty", 0.0, 0.3),
    ("prior_n_effective", 10.0, 1163.9),
    ("alpha", 0.05, 0.2),                  # explicit value differs from both
])
def test_explicit_keyword_wins_over_config(name, in_config, explicit):
    router = _create(config=RouterConfig(**{name: in_config}), **{name: explicit})
    assert getattr(router.config, name) == explicit


def test_omitted_keywords_keep_config():
    cfg = RouterConfig(alpha=0.05, forgetting_factor=0.99, cost_penalty=0.0, prior_n_effective=10.0)
    router = _create(config=cfg)
    assert router.config == cfg


def test_no_config_uses_router_config_defaults_and_keywords():
    assert _create().config == RouterConfig()
    assert _create(alpha=0.2).config == RouterConfig(alpha=0.2)
