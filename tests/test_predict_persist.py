"""``result.predict`` without refitting, and the save / load round trip of a result."""

import warnings

import numpy as np
import pandas as pd
import pytest

import mlmix_pymc as mm
from mlmix_pymc.errors import DataError

from conftest import LSAT_ITEMS


def _labelled_lsat(lsat):
    """LSAT with text categories, a covariate with one missing value and a non-default index."""
    df = lsat[LSAT_ITEMS].replace({0: "wrong", 1: "right"}).copy()
    df["x"] = np.random.default_rng(7).standard_normal(len(df))  # the LSAT rows are sorted by pattern
    df.loc[5, "x"] = np.nan
    df.index = [f"r{i}" for i in range(len(df))]
    return df


@pytest.fixture(scope="module")
def fitted(lsat):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mm.lca(_labelled_lsat(lsat), LSAT_ITEMS, 2, covariates=["x"]).fit(starts=(4, 2), seed=1,
                                                                                 se="observed")


def test_predict_on_the_training_rows_equals_posterior_probabilities(fitted):
    frame = fitted.model.frame
    pred = fitted.predict(frame)
    pd.testing.assert_frame_equal(pred, fitted.posterior_probabilities(), check_exact=False, rtol=1e-10, atol=1e-12)
    assert pred.loc["r5"].isna().all()  # the row left out of the fit (missing covariate)


def test_predict_single_new_rows_and_unseen_categories(fitted):
    frame = fitted.model.frame
    rows = frame.iloc[[3, 10]].copy()
    rows.index = ["new1", "new2"]
    rows.loc["new2", "item2"] = np.nan  # a missing item drops out
    pred = fitted.predict(rows)
    ref = fitted.posterior_probabilities().iloc[[3]]
    np.testing.assert_allclose(pred.iloc[0, :2].to_numpy(float), ref.iloc[0, :2].to_numpy(float), rtol=1e-10)
    assert pred.iloc[1, :2].sum() == pytest.approx(1.0)
    bad = rows.copy()
    bad.loc["new1", "item3"] = "maybe"
    with pytest.raises(DataError, match="item3.*maybe"):
        fitted.predict(bad)
    with pytest.raises(DataError, match="'x'"):
        fitted.predict(rows.drop(columns="x"))


def test_save_and_load_reproduce_every_table_exactly(fitted, tmp_path):
    path = fitted.save(tmp_path / "fit.json")
    loaded = mm.load_result(path)
    pd.testing.assert_frame_equal(loaded.model.frame, fitted.model.frame, check_exact=True)
    for name in ("parameters",):
        pd.testing.assert_frame_equal(getattr(loaded, name), getattr(fitted, name), check_exact=True)
    for method in ("class_proportions", "item_probabilities", "posterior_probabilities",
                   "average_posterior_probabilities", "confidence_intervals", "odds_ratios", "r_squared"):
        pd.testing.assert_frame_equal(getattr(loaded, method)(), getattr(fitted, method)(), check_exact=True)
    assert loaded.summary() == fitted.summary()
    assert loaded.to_dict() == fitted.to_dict()
    for attr in ("loglik", "aic", "bic", "abic", "entropy", "n_params", "n_obs", "n_replicated"):
        assert getattr(loaded, attr) == getattr(fitted, attr)
    np.testing.assert_array_equal(loaded.cov_phi, fitted.cov_phi)
    assert loaded.model.spec == fitted.model.spec
    again = mm.MLResult.from_json(path.read_text())
    np.testing.assert_array_equal(again.theta, fitted.theta)
    # the loaded result still evaluates its likelihood (the model is rebuilt from spec + data)
    assert loaded.model.loglik(loaded.theta) == pytest.approx(fitted.loglik, abs=1e-8)


def test_odds_ratios_and_intervals(fitted):
    table = fitted.odds_ratios()
    names = list(fitted.parameters["name"])
    k = names.index("c#1 ON x")
    se = fitted.se[k]
    row = table.iloc[0]
    assert row["odds_ratio"] == pytest.approx(np.exp(fitted.phi[k]))
    assert row["lower"] == pytest.approx(np.exp(fitted.phi[k] - 1.959963984540054 * se))
    flipped = fitted.odds_ratios(reference=1).iloc[0]
    assert flipped["odds_ratio"] == pytest.approx(1 / row["odds_ratio"])
    ci = fitted.confidence_intervals(0.9)
    assert ci.loc[k, "upper"] == pytest.approx(fitted.phi[k] + 1.6448536269514722 * se)
    r2 = fitted.r_squared().iloc[0]
    x = fitted.model.data.covariates[:, 0]
    v = np.var(fitted.phi[k] * x)
    assert r2["r_squared"] == pytest.approx(v / (v + np.pi**2 / 3))


def test_icc_interval_stays_inside_zero_one():
    from mlmix_pymc.derived import icc_interval

    icc, se, lo, hi = icc_interval(np.array([0.2, 5.0, 40.0]), np.array([0.3, 4.0, 60.0]))
    assert np.all((lo > 0) & (hi < 1) & (lo < icc) & (icc < hi))
    # closed form on the logit scale: logit(ICC) +- z se(v) / v
    z = 1.959963984540054
    logit = np.log(5.0 / (np.pi**2 / 3))
    assert hi[1] == pytest.approx(1 / (1 + np.exp(-(logit + z * 4.0 / 5.0))))
    assert icc[1] == pytest.approx(5.0 / (5.0 + np.pi**2 / 3))


def _two_level_data(n_clusters=40, size=8, seed=3):
    """2-class LCA with a random class-logit intercept per cluster (var 1), 5 binary items."""
    rng = np.random.default_rng(seed)
    cl = np.repeat(np.arange(n_clusters), size)
    alpha = rng.normal(0.0, 1.0, n_clusters)
    c = np.where(rng.uniform(size=cl.size) < 1 / (1 + np.exp(-(0.5 + alpha[cl]))), 0, 1)
    probs = np.array([[0.8, 0.8, 0.2, 0.2, 0.8], [0.2, 0.2, 0.8, 0.8, 0.2]])
    df = pd.DataFrame((rng.uniform(size=(cl.size, 5)) < probs[c]).astype(int), columns=[f"u{i}" for i in range(5)])
    df["cluster"] = cl
    return df


@pytest.mark.slow
def test_two_level_predict_new_clusters_and_icc_interval():
    df = _two_level_data()
    items = [f"u{i}" for i in range(5)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = mm.lca(df, items, 2, cluster="cluster", random_intercept=True).fit(starts=(4, 2), seed=1)
    pd.testing.assert_frame_equal(res.predict(df), res.posterior_probabilities(), check_exact=False, rtol=1e-9,
                                  atol=1e-12)
    # a new cluster made of rows of cluster 0: its rows' probabilities equal those in the fit
    # (a cluster's posterior depends only on its own rows)
    new = df[df["cluster"] == 0].assign(cluster=1000)
    np.testing.assert_allclose(res.predict(new).iloc[:, :2].to_numpy(float),
                               res.posterior_probabilities()[df["cluster"] == 0].iloc[:, :2].to_numpy(float),
                               rtol=1e-9)
    icc = res.icc().iloc[0]
    assert 0 < icc["lower"] < icc["icc"] < icc["upper"] < 1


def test_random_intercept_decomposition_against_simulation():
    """Section 4's decomposition of C2's logit variance: the three parts are uncorrelated and sum
    to the simulated variance of gamma I(C1) + alpha_2; each part equals its simulated variance."""
    from mlmix_pymc.derived import random_intercept_decomposition

    a1, gamma, v1, v2, c12 = 0.4, 2.0, 1.5, 1.0, 0.8
    parts = random_intercept_decomposition(a1, gamma, v1, v2, c12)
    rng = np.random.default_rng(0)
    alpha = rng.multivariate_normal([0, 0], [[v1, c12], [c12, v2]], size=2_000_000)
    p = 1 / (1 + np.exp(-(a1 + alpha[:, 0])))
    c1 = rng.uniform(size=len(p)) < p
    lam = gamma * c1 + alpha[:, 1]
    b = c12 / v1
    assert parts["total"] == pytest.approx(np.var(lam), rel=5e-3)
    assert parts["var_cluster_effect"] == pytest.approx(np.var(gamma * p + b * alpha[:, 0]), rel=5e-3)
    assert parts["var_parent_residual"] == pytest.approx(np.var(gamma * (c1 - p)), rel=5e-3)
    assert parts["var_random_residual"] == pytest.approx(np.var(alpha[:, 1] - b * alpha[:, 0]), rel=5e-3)
