"""Build the arena's scenarios and run arguments from the composed workbench config (``experiment=arena``)."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from ..errors import ConfigError
from .scenarios import SCENARIOS, budget_pacing_scenario, onboarding_scenario, phased_scenario

__all__ = ["arena_kwargs", "build_scenarios"]


def _prices(cfg: DictConfig) -> dict:
    return {
        m.id: {"input_cost_per_m": m.input_cost_per_m, "output_cost_per_m": m.output_cost_per_m}
        for m in cfg.portfolio.models
    }


def build_scenarios(cfg: DictConfig, names=None) -> list:
    """The configured scenarios (``experiment.scenarios``; ``names`` picks some), data loaded at the scale."""
    from ..workbench import inputs

    exp = cfg.experiment
    wanted = list(names if names is not None else exp.scenarios)
    unknown = [n for n in wanted if n not in SCENARIOS or n not in exp.scenarios]
    if unknown:
        raise ConfigError(f"unknown arena scenario(s) {unknown}; configured: {list(exp.scenarios)}")
    val, test = inputs.load_split(cfg, "val"), inputs.load_split(cfg, "test")
    prices = _prices(cfg)
    out = []
    for name in wanted:
        sc = exp.scenarios[name]
        seeds = [int(sc.seed_offset) + i for i in range(int(exp.n_seeds))]
        if name == "exp04":
            out += _onboarding(cfg, sc, seeds)
        elif name == "exp01":
            budgets = list(sc.budgets) if sc.get("budgets") is not None else None
            out.append(budget_pacing_scenario(val, test, prices, seeds, budgets, int(sc.n_budgets)))
        else:
            extra = OmegaConf.to_container(sc, resolve=True)
            extra.pop("seed_offset")
            if "new_price" in extra:
                extra["new_price"] = tuple(extra["new_price"])
            out.append(
                phased_scenario(
                    name,
                    val,
                    test,
                    prices,
                    seeds,
                    dict(exp.named_budgets),
                    phase_length=int(exp.phase_length),
                    phase_seed=int(exp.phase_seed),
                    **extra,
                )
            )
    return out


def _onboarding(cfg: DictConfig, sc: DictConfig, seeds: list[int]) -> list:
    """Exp 04 scenarios on the onboarding preset's data (k4 portfolio, K = 3 val table)."""
    from ..experiments.onboarding import scenarios_from_config
    from ..workbench.config import compose
    from ..workbench.report_onboarding import load_onboarding_splits

    ocfg = compose(["experiment=onboarding", f"scale={cfg.scale.name}"], root=cfg.paths.root)
    val, test = load_onboarding_splits(ocfg)
    spec = OmegaConf.to_container(sc, resolve=True)
    budgets = {k: float(v) for k, v in spec["budgets"].items()}
    out = []
    for onb in scenarios_from_config(spec["scenarios"]).values():
        out.append(
            onboarding_scenario(
                val,
                test,
                _prices(ocfg),
                seeds,
                budgets,
                new_model=spec["new_model"],
                scenario=onb,
                n_forced=int(spec["n_forced"]),
                adoption=spec["adoption"],
            )
        )
    return out


def arena_kwargs(cfg: DictConfig) -> dict:
    """Keyword arguments of :func:`paretobandit.arena.run_arena` from the config."""
    from ..experiments.budget_pacing import router_config
    from ..experiments.common import parse_pacer
    from ..workbench.config import repo_path

    exp = cfg.experiment
    mode, pacer = parse_pacer(OmegaConf.to_container(cfg.pacer, resolve=True))
    priors = repo_path(cfg, cfg.router.priors) if cfg.router.priors else None
    return {
        "config": router_config(OmegaConf.to_container(cfg.router.params, resolve=True)),
        "pacer_params": pacer,
        "pacer_mode": mode,
        "priors": priors,
        "results_root": Path(repo_path(cfg, cfg.paths.results_root)),
        "max_seeds": OmegaConf.to_container(exp.max_seeds, resolve=True) if exp.get("max_seeds") else None,
        "fit_seeds": list(exp.fit_seeds),
        "lambda_grid": list(exp.lambda_grid),
        "timing_runs": int(exp.timing_runs),
        "n_jobs": int(exp.n_jobs),
        "n_resamples": int(exp.bootstrap.n_resamples),
        "ci_seed": int(exp.bootstrap.seed),
    }
