"""Monte Carlo studies: simulate from the model, refit, summarize (Mplus MONTECARLO)."""

import numpy as np
import pandas as pd
import pytest

import mlmix_pymc as mm


def _design(rng, n_clusters=40, size=6):
    cluster = np.repeat(np.arange(n_clusters), size)
    return pd.DataFrame({"cluster": cluster, "x": rng.normal(size=len(cluster)), "y": rng.normal(size=len(cluster))})


TRUE = {"y|c#1": 1.0, "y ON x|c#1": 0.5, "var(y)|c#1": 1.0, "var(u)": 0.4}


def test_simulate_draws_from_the_stated_model():
    rng = np.random.default_rng(0)
    model = mm.regression_mixture(_design(rng), "y", "x", 1, cluster="cluster", random=["intercept"])
    df = mm.simulate(model, TRUE, design=_design(rng, n_clusters=3000, size=5), seed=1)
    # independent moment checks of y = 1 + 0.5 x + u_j + e, var(u) = 0.4, var(e) = 1
    slope, intercept = np.polyfit(df.x, df.y, 1)
    assert slope == pytest.approx(0.5, abs=0.02) and intercept == pytest.approx(1.0, abs=0.03)
    means = df.groupby("cluster").y.mean() - 1.0 - 0.5 * df.groupby("cluster").x.mean()
    assert means.var() == pytest.approx(0.4 + 1.0 / 5, abs=0.04)
    assert df._re_u.groupby(df.cluster).nunique().max() == 1


@pytest.mark.slow
def test_montecarlo_bias_se_ratio_and_coverage():
    rng = np.random.default_rng(0)
    model = mm.regression_mixture(_design(rng), "y", "x", 1, cluster="cluster", random=["intercept"])
    mc = mm.montecarlo(model, TRUE, n_reps=40, seed=3, design=_design,
                       fit_options={"integration": "adaptive", "points": 3}, n_jobs=2)
    assert not mc.failed
    table = mc.summary().set_index("parameter")
    for name in ("y ON x|c#1", "y|c#1"):
        row = table.loc[name]
        assert abs(row["bias"]) < 3 * row["sd"] / np.sqrt(40)
        assert 0.7 < row["se_ratio"] < 1.4
        assert 0.8 <= row["coverage"] <= 1.0
    assert table.loc["var(u)", "n_reps"] == 40
