"""Tests between models: LRT, MLR scaled difference, Wald, Vuong-Lo-Mendell-Rubin.

Checked against hand computations and against a plain-numpy LCA (``reference_lca.py``):
the MLR scaling factor and the LMR weights/p-value are computed there from analytic scores
in another parameterization (tr(I^-1 B) and the eigenvalues of Vuong's W are invariant to it),
and the weighted chi-square tail by Monte Carlo instead of Imhof's formula.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import mlmix_pymc as mm
from mlmix_pymc.errors import SpecificationError
from mlmix_pymc.fit_tests import weighted_chi2_sf

import reference_lca as ref
from conftest import LSAT_ITEMS


def _fit(df, items, k, se=None, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mm.lca(df, items, k, **kw).fit(starts=(10, 3), seed=1, se=se)


@pytest.fixture(scope="module")
def lsat_fits(lsat):
    general = _fit(lsat, LSAT_ITEMS, 2, se="mlr")
    restricted = _fit(lsat, LSAT_ITEMS, 2, se="mlr", equal=[["item1$1|c#1", "item1$1|c#2"]])
    return general, restricted


def test_lrt_is_twice_the_loglik_difference_with_the_parameter_difference_as_df(lsat_fits):
    general, restricted = lsat_fits
    assert restricted.n_params == general.n_params - 1  # one equality
    test = mm.lrt(restricted, general)
    assert test.statistic == pytest.approx(2 * (general.loglik - restricted.loglik), abs=1e-12)
    assert test.statistic > 0
    assert test.df == 1
    assert test.p_value == pytest.approx(stats.chi2.sf(test.statistic, 1), rel=1e-12)
    with pytest.raises(SpecificationError, match="fewer parameters"):
        mm.lrt(general, restricted)


def test_scaled_difference_equals_the_hand_computation(lsat_fits):
    general, restricted = lsat_fits
    c0, c1 = restricted.scaling_factor, general.scaling_factor
    p0, p1 = restricted.n_params, general.n_params
    cd = (p0 * c0 - p1 * c1) / (p0 - p1)
    trd = -2 * (restricted.loglik - general.loglik) / cd
    test = mm.scaled_difference_test(restricted, general)
    assert test.details["cd"] == pytest.approx(cd, rel=1e-12)
    assert test.statistic == pytest.approx(trd, rel=1e-12)
    assert test.df == 1
    assert test.p_value == pytest.approx(stats.chi2.sf(trd, 1), rel=1e-10)
    assert "H0 scaling correction factor for MLR" in general.summary()


def test_mlr_scaling_factor_matches_numpy_lca(lsat, lsat_fits):
    general, _ = lsat_fits
    y = lsat[LSAT_ITEMS].to_numpy(float)
    params = ref.polish(ref.from_result(general, LSAT_ITEMS), y, 2)
    assert ref.loglik_rows(params, y, 2).sum() == pytest.approx(general.loglik, abs=1e-6)
    s = ref.scores(params, y, 2)
    info = -ref.hessian(params, y, 2)
    c = np.trace(np.linalg.solve(info, s.T @ s)) / len(params)
    assert general.scaling_factor == pytest.approx(c, rel=1e-4)


def test_wald_test_of_equal_thresholds_equals_the_hand_computation(lsat):
    res = _fit(lsat, LSAT_ITEMS, 2, se="observed")
    names = list(res.parameters["name"])
    a, b = names.index("item1$1|c#1"), names.index("item1$1|c#2")
    d = res.phi[a] - res.phi[b]
    v = res.cov_phi[a, a] + res.cov_phi[b, b] - 2 * res.cov_phi[a, b]
    test = mm.wald_test(res, [["item1$1|c#1", "item1$1|c#2"]])
    assert test.statistic == pytest.approx(d**2 / v, rel=1e-10)
    assert test.df == 1
    # two restrictions: the quadratic form by hand
    rows = [["item1$1|c#1", "item1$1|c#2"], {"item2$1|c#1": 1.0, "item2$1|c#2": -1.0}]
    R = np.zeros((2, len(names)))
    R[0, a], R[0, b] = 1, -1
    R[1, names.index("item2$1|c#1")], R[1, names.index("item2$1|c#2")] = 1, -1
    diff = R @ res.phi
    w = diff @ np.linalg.inv(R @ res.cov_phi @ R.T) @ diff
    test2 = mm.wald_test(res, rows)
    assert test2.statistic == pytest.approx(w, rel=1e-10)
    assert test2.p_value == pytest.approx(stats.chi2.sf(w, 2), rel=1e-10)
    with pytest.raises(SpecificationError, match="unknown parameter"):
        mm.wald_test(res, [["item1$1|c#1", "nope"]])


def test_imhof_tail_matches_closed_forms():
    # equal weights: a scaled chi-square; one negative weight: symmetric case
    assert weighted_chi2_sf(7.3, np.ones(4)) == pytest.approx(stats.chi2.sf(7.3, 4), abs=1e-7)
    assert weighted_chi2_sf(5.0, np.full(3, 2.0)) == pytest.approx(stats.chi2.sf(2.5, 3), abs=1e-7)
    assert weighted_chi2_sf(0.0, np.array([1.0, -1.0])) == pytest.approx(0.5, abs=1e-7)


def _weak_two_class(seed=1, n=300, n_items=6):
    rng = np.random.default_rng(seed)
    c = rng.uniform(size=n) < 0.5
    y = (rng.uniform(size=(n, n_items)) < np.where(c[:, None], 0.62, 0.42)).astype(int)
    return pd.DataFrame(y, columns=[f"u{j}" for j in range(n_items)])


def _numpy_lmr(y, p1, p2):
    """Lo, Mendell & Rubin (2001) from the formula: weights = eig(W) (Vuong 1989, Theorem 3.3), p by Monte Carlo."""
    n = len(y)
    sf, sg = ref.scores(p2, y, 2), ref.scores(p1, y, 1)
    af, ag = ref.hessian(p2, y, 2) / n, ref.hessian(p1, y, 1) / n
    bff, bgg, bfg = sf.T @ sf / n, sg.T @ sg / n, sf.T @ sg / n
    w = np.block([[-bff @ np.linalg.inv(af), -bfg @ np.linalg.inv(ag)],
                  [bfg.T @ np.linalg.inv(af), bgg @ np.linalg.inv(ag)]])
    lam = np.real(np.linalg.eigvals(w))
    lr = 2 * (ref.loglik_rows(p2, y, 2).sum() - ref.loglik_rows(p1, y, 1).sum())
    rng = np.random.default_rng(0)
    draws = np.concatenate([(rng.standard_normal((100_000, len(lam))) ** 2) @ lam for _ in range(4)])
    dp = len(p2) - len(p1)
    adj = lr / (1 + 1 / (dp * np.log(n)))
    return lr, np.mean(draws > lr), np.mean(draws > adj), lam


def test_lmr_agrees_with_an_independent_numpy_implementation():
    df = _weak_two_class()
    items = list(df.columns)
    r1, r2 = _fit(df, items, 1), _fit(df, items, 2)
    assert not r2.at_bound
    y = df.to_numpy(float)
    p1 = ref.polish(ref.from_result(r1, items), y, 1)
    p2 = ref.polish(ref.from_result(r2, items), y, 2)
    lr, p, p_adj, lam = _numpy_lmr(y, p1, p2)
    test = mm.vlmr_test(r1, r2)
    assert test.statistic == pytest.approx(lr, abs=1e-5)
    assert 0.05 < test.p_value < 0.95  # a data set where the p-value is not in a tail
    assert test.p_value == pytest.approx(p, abs=0.006)  # Monte Carlo SE of p ~ 0.0008
    assert test.details["adjusted_p_value"] == pytest.approx(p_adj, abs=0.006)
    np.testing.assert_allclose(np.sort(test.details["weights"]), np.sort(lam), atol=1e-4)
