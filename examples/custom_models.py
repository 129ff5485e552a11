"""Bring your own models: a custom portfolio, runtime onboarding, repricing and removal, save/load."""

import tempfile
from pathlib import Path

import numpy as np

from paretobandit import BanditRouter, FeatureService

models = {
    "small-fast": {"input_cost_per_m": 0.05, "output_cost_per_m": 0.20, "speed": "fast"},
    "medium": {"input_cost_per_m": 0.50, "output_cost_per_m": 1.50},
    "large": {"blended": 6.0},  # one price for input and output
}
router = BanditRouter.create(
    model_registry=models,
    feature_service=FeatureService.for_precomputed(16),
    priors="none",
    alpha=0.05,
    budget=0.001,
    seed=1,
)
rng = np.random.default_rng(1)
quality = {"small-fast": 0.55, "medium": 0.7, "large": 0.85, "gemini-2.0-flash": 0.8}


def serve(n):
    for _ in range(n):
        model, log = router.route(rng.normal(size=16))
        router.process_feedback(log.request_id, reward=quality[model] + 0.05 * rng.normal())


serve(300)

# onboard a new model at runtime: cold arm + 20 forced pulls, then normal selection
router.register_model("gemini-2.0-flash", input_cost_per_m=0.10, output_cost_per_m=0.40, speed="fast")
for _ in range(20):
    model, log = router.route(rng.normal(size=16), force_model="gemini-2.0-flash")
    router.process_feedback(log.request_id, reward=quality[model])
serve(300)

router.update_model_pricing("gemini-2.0-flash", input_cost_per_m=0.05, output_cost_per_m=0.20)  # price cut
router.remove_model("small-fast")
serve(100)
print(router)

with tempfile.TemporaryDirectory() as tmp:
    router.save(Path(tmp) / "router")
    restored = BanditRouter.load(Path(tmp) / "router")
    assert restored.models == router.models and restored.t == router.t
    print("restored:", restored.models, "t =", restored.t)
