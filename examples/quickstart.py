"""Quick start: route requests with the paper's 3-model portfolio and a $ budget per request.

Runs anywhere (no embedding model): contexts are precomputed 25-d vectors; the router appends the bias.
With the reference data present, ``priors="auto"`` warm-starts from ``priors_k3_d26.npz``.
"""

import numpy as np

from paretobandit import BanditRouter

router = BanditRouter.create(budget=0.002, seed=0)  # mean $/request target -> adaptive pacer
rng = np.random.default_rng(0)

for _ in range(200):
    x = rng.normal(size=25)  # your prompt embedding (PCA-whitened, 25-d)
    model, log = router.route(x)
    reward = 0.9 if "gemini" in model else 0.6  # observe quality of the answer (0..1)
    router.process_feedback(log.request_id, reward=reward, cost=log.cost_usd)

print(router)
print("last decision:", log.model, f"est. ${log.cost_usd:.5f}", f"lambda={log.pacer_lambda:.3f}")

with router.exploit():  # greedy (alpha = 0) for this thread
    model, log = router.route(rng.normal(size=25))
router.process_feedback(log.request_id, reward=0.8)
