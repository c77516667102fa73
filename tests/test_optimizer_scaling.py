"""The optimizer's covariate scaling (``estimate/optimize.py``, ``parameter_scales``)."""

import numpy as np
import pandas as pd
import pytest

import mlmix_pymc as mm
from mlmix_pymc.estimate.optimize import parameter_scales


@pytest.fixture(scope="module")
def badly_scaled():
    """Logistic data on age and age squared (scales ~10 and ~100), plus a covariate whose mean
    is four times its SD (the intercept stays inside the thresholds' +-15 bounds)."""
    rng = np.random.default_rng(5)
    n = 800
    age = rng.uniform(-15, 20, n)
    school = 12 + rng.normal(0, 3, n)
    eta = -0.4 + 0.05 * age - 0.004 * age**2 + 0.1 * (school - 12)
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-eta))).astype(int)
    return pd.DataFrame({"y": y, "age": age, "age2": age**2, "school": school})


def test_slopes_are_scaled_by_their_covariates_rms(badly_scaled):
    model = mm.regression_mixture(badly_scaled, "y", ["age", "age2", "school"], 1, family="binary")
    layout = model.structure.layout
    scale = parameter_scales(model.structure, model.structure.layout.n_free)
    for name, s in zip(layout.free_names, scale):
        column = name.split(" ON ")[1].split("|")[0] if " ON " in name else None
        expected = np.sqrt(np.mean(badly_scaled[column] ** 2)) if column else 1.0
        assert s == pytest.approx(expected, rel=1e-12), name


def test_logistic_regression_equals_statsmodels(badly_scaled):
    """The one-class binary regression mixture is logistic regression: statsmodels' Newton fit
    is an independent optimum (the slopes span scales from 1e-3 to 1e2)."""
    sm = pytest.importorskip("statsmodels.api")
    df = badly_scaled
    x = sm.add_constant(df[["age", "age2", "school"]].to_numpy())
    ref = sm.Logit(df["y"].to_numpy(), x).fit(method="newton", tol=1e-12, disp=0)
    res = mm.regression_mixture(df, "y", ["age", "age2", "school"], 1, family="binary").fit(starts=(0, 0), se=None)
    assert res.loglik == pytest.approx(ref.llf, abs=1e-7)
    est = res.parameters.set_index("name")["estimate"]
    for k, col in enumerate(["age", "age2", "school"], start=1):
        assert est[f"y ON {col}|c#1"] == pytest.approx(ref.params[k], rel=1e-5, abs=1e-8)
    assert est["y$1|c#1"] == pytest.approx(-ref.params[0], rel=1e-5)  # a threshold: minus the intercept
