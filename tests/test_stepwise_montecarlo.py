"""Monte Carlo: with a step-1 entropy near 0.6 the naive modal-assignment regression of the class on a
covariate is attenuated, while the 3-step ML and BCH corrections recover the effect (data simulated from
known parameters; slow)."""

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import special

import mlmix_pymc as mm

TRUE_SLOPE = 1.0
ITEM_PROBS = np.array([[0.75, 0.75, 0.72, 0.75, 0.72], [0.25, 0.28, 0.25, 0.3, 0.25]])  # class 1, class 2


def _replication(seed: int, n: int = 800) -> tuple[float, dict]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    cls = (rng.random(n) > special.expit(0.8 + TRUE_SLOPE * x)).astype(int)  # class 1 (code 0) vs class 2
    items = [f"u{j}" for j in range(ITEM_PROBS.shape[1])]
    df = pd.DataFrame((rng.random((n, len(items))) < ITEM_PROBS[cls]).astype(int), columns=items).assign(x=x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = mm.lca(df, items=items, n_classes=2).fit(starts=(5, 2), seed=seed, se=None)
    probs = res.item_probabilities().query("category == 1 and `class` == 1").probability.mean()
    sign = 1.0 if probs > 0.5 else -1.0  # estimated class 1 is the true class 1 (high item probabilities)
    slopes = {}
    for correction in ("none", "ml", "bch"):
        est = mm.three_step(res, covariates=["x"], correction=correction).parameters.set_index("name").estimate
        slopes[correction] = sign * est["c#1 ON x"]
    return res.entropy, slopes


@pytest.mark.slow
def test_three_step_corrections_remove_attenuation():
    reps = [_replication(seed) for seed in range(30)]
    entropy = np.mean([e for e, _ in reps])
    slopes = {c: np.array([s[c] for _, s in reps]) for c in ("none", "ml", "bch")}
    bias = {c: v.mean() - TRUE_SLOPE for c, v in slopes.items()}
    print(f"entropy {entropy:.3f}; bias of the slope (true {TRUE_SLOPE}; Monte Carlo SE): "
          + ", ".join(f"{c} {bias[c]:+.3f} ({v.std(ddof=1) / np.sqrt(len(v)):.3f})" for c, v in slopes.items()))
    assert 0.5 < entropy < 0.7  # "about 0.6"
    assert bias["none"] < -0.15  # naive modal assignment: attenuated towards 0
    assert abs(bias["ml"]) < 0.1 and abs(bias["bch"]) < 0.1
