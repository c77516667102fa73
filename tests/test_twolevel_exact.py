"""Two-level likelihood against independent computations.

The references are ``reference_twolevel.py`` (numpy brute-force integration with 400+
trapezoid points, and closed forms for normal outcomes) and statsmodels ``MixedLM``.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
from reference_twolevel import (lca_random_logit_posteriors, loglik_between_class_regression, loglik_lca_random_logit,
                                loglik_linear_mixed, loglik_ri_logistic, loglik_within_class_random_logit,
                                simulate_lca, simulate_model5, simulate_ri_logistic, unbalanced_clusters)

import mlmix_pymc as mm


@pytest.fixture(scope="module")
def ri_logistic():
    df = simulate_ri_logistic(100, 10, -0.5, 1.0, 1.0, seed=2)
    model = mm.regression_mixture(df, "y", "x", 1, cluster="cluster", random=["intercept"], family="binary")
    return df, model


def _ref_ri(df, var):
    return loglik_ri_logistic(df.y.to_numpy(), df.cluster.to_numpy(), df.x.to_numpy(), -0.5, 1.0, var)


def test_ri_logistic_equals_bruteforce_400_points(ri_logistic):
    df, model = ri_logistic
    values = {"y$1|c#1": 0.5, "y ON x|c#1": 1.0, "var(u)": 1.0}  # threshold = -intercept
    reference = _ref_ri(df, 1.0)
    assert model.loglik(values, "gauss-hermite", 100) == pytest.approx(reference, abs=1e-6)
    # the trapezoid rule stops at +-5 SD (as Mplus): it misses ~6e-7 of the mass per cluster
    assert model.loglik(values, "trapezoid", 200) == pytest.approx(reference, abs=2e-4)
    assert abs(model.loglik(values, "adaptive", 7) - reference) < 1e-4


def test_adaptive_is_adaptive_on_a_large_variance(ri_logistic):
    df, model = ri_logistic
    values = {"y$1|c#1": 0.5, "y ON x|c#1": 1.0, "var(u)": 5.0}
    reference = _ref_ri(df, 5.0)
    adaptive_error = abs(model.loglik(values, "adaptive", 7) - reference)
    fixed_error = abs(model.loglik(values, "gauss-hermite", 7) - reference)
    assert fixed_error > 0.3  # non-adaptive 7 points: visibly off
    assert adaptive_error < 0.05 * fixed_error


def test_laplace_is_close_and_qmc_converges(ri_logistic):
    df, model = ri_logistic
    values = {"y$1|c#1": 0.5, "y ON x|c#1": 1.0, "var(u)": 1.0}
    reference = _ref_ri(df, 1.0)
    laplace = model.loglik(values, "laplace", 1)
    assert 1e-3 < abs(laplace - reference) < 1.0  # an approximation of its known size (~0.5%/cluster)
    assert model.loglik(values, "qmc", 4096) == pytest.approx(reference, abs=0.05)


def test_linear_random_intercept_and_slope_equals_statsmodels_mixedlm():
    sm = pytest.importorskip("statsmodels.formula.api")
    rng = np.random.default_rng(5)
    n_clusters, size = 60, 8
    cluster = np.repeat(np.arange(n_clusters), size)
    x = rng.normal(size=n_clusters * size)
    u = rng.multivariate_normal([0, 0], [[0.6, 0.15], [0.15, 0.3]], size=n_clusters)
    y = 1.0 + 0.5 * x + u[cluster, 0] + u[cluster, 1] * x + rng.normal(scale=0.8, size=len(x))
    df = pd.DataFrame({"y": y, "x": x, "cluster": cluster})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        peer = sm.mixedlm("y ~ x", df, groups=df["cluster"], re_formula="~x").fit(reml=False, method="lbfgs",
                                                                                 gtol=1e-10)
    model = mm.regression_mixture(df, "y", "x", 1, cluster="cluster", random=["intercept", "slope"])
    res = model.fit(integration="adaptive", points=3, starts=(0, 0), se="observed")
    est = dict(zip(res.parameters.name, res.parameters.estimate))
    assert res.loglik == pytest.approx(peer.llf, abs=1e-4)
    assert est["y|c#1"] == pytest.approx(peer.fe_params["Intercept"], abs=1e-4)
    assert est["y ON x|c#1"] == pytest.approx(peer.fe_params["x"], abs=1e-4)
    assert est["var(y)|c#1"] == pytest.approx(peer.scale, abs=1e-4)
    cov = peer.cov_re.to_numpy()
    assert est["var(u)"] == pytest.approx(cov[0, 0], abs=1e-4)
    assert est["var(s)"] == pytest.approx(cov[1, 1], abs=1e-4)
    assert est["cov(s,u)"] == pytest.approx(cov[0, 1], abs=1e-4)
    # and the closed-form multivariate normal log-likelihood at our estimates
    closed = loglik_linear_mixed(y, cluster, x, est["y|c#1"], est["y ON x|c#1"], est["var(y)|c#1"], est["var(u)"],
                                 est["var(s)"], est["cov(s,u)"])
    assert res.loglik == pytest.approx(closed, abs=1e-8)
    se = dict(zip(res.parameters.name, res.parameters.se))
    assert se["y ON x|c#1"] == pytest.approx(peer.bse["x"], rel=1e-3)


def test_between_class_model5_equals_closed_form():
    df = simulate_model5(40, 10, seed=3)
    model = mm.regression_mixture(df, "y", "x", 2, cluster="cluster", random=["intercept"], class_level="between")
    values = {"[cb#1]": 0.3, "y|cb#1": 1.0, "y|cb#2": 0.1, "y ON x|cb#1": 0.2, "y ON x|cb#2": 0.8,
              "var(y)|cb#1": 1.1, "var(y)|cb#2": 1.1, "var(u)": 0.3}
    reference = loglik_between_class_regression(df, "y", "x", "cluster", values, M=2, method="closed")
    assert model.loglik(values, "adaptive", 3) == pytest.approx(reference, abs=1e-8)
    assert model.loglik(values, "gauss-hermite", 40) == pytest.approx(reference, abs=1e-6)


def test_within_class_random_logit_model6_equals_bruteforce():
    df = simulate_model5(40, 10, seed=4)
    model = mm.regression_mixture(df, "y", "x", 2, cluster="cluster", class_random_intercept=True)
    values = {"[c#1]": 0.2, "y|c#1": 1.0, "y|c#2": 0.1, "y ON x|c#1": 0.2, "y ON x|c#2": 0.8,
              "var(y)|c#1": 1.2, "var(y)|c#2": 1.2, "var(c#1)": 4.0}
    reference = loglik_within_class_random_logit(df, "y", "x", "cluster", values, K=2, points=800)
    assert model.loglik(values, "gauss-hermite", 150) == pytest.approx(reference, abs=1e-6)


@pytest.mark.parametrize("link", ["logit", "probit"])
def test_two_level_lca_random_logit_equals_bruteforce(link):
    df = simulate_lca(60, 8, seed=5, var_c=2.0)
    items = [c for c in df.columns if c.startswith("u")]
    model = mm.lca(df, items=items, n_classes=2, cluster="cluster", random_intercept=True, link=link)
    values = {"[c#1]": 0.3, "var(c#1)": 2.0}
    for p, item in enumerate(items):
        values[f"{item}$1|c#1"] = -1.0 + 0.3 * p
        values[f"{item}$1|c#2"] = 1.2 - 0.2 * p
    reference = loglik_lca_random_logit(df, items, "cluster", values, K=2, link=link, points=600)
    assert model.loglik(values, "gauss-hermite", 100) == pytest.approx(reference, abs=1e-6)
    assert model.loglik(values, "adaptive", 11) == pytest.approx(reference, abs=1e-3)


def test_mlr_standard_errors_are_clustered_like_statsmodels():
    sm = pytest.importorskip("statsmodels.api")
    rng = np.random.default_rng(8)
    cluster = np.repeat(np.arange(80), 6)
    x = rng.normal(size=len(cluster)) + rng.normal(size=80)[cluster]
    eta = 0.4 + 0.9 * x + rng.normal(scale=0.8, size=80)[cluster]  # correlated within clusters
    y = (rng.random(len(x)) < 1 / (1 + np.exp(-eta))).astype(float)
    df = pd.DataFrame({"y": y, "x": x, "g": cluster})
    peer = sm.Logit(y, sm.add_constant(x)).fit(disp=0, cov_type="cluster",
                                              cov_kwds={"groups": cluster, "use_correction": False})
    res = mm.regression_mixture(df, "y", "x", 1, cluster="g", family="binary").fit(starts=(0, 0), se="mlr")
    est = dict(zip(res.parameters.name, res.parameters.estimate))
    se = dict(zip(res.parameters.name, res.parameters.se))
    assert res.loglik == pytest.approx(peer.llf, abs=1e-6)
    assert -est["y$1|c#1"] == pytest.approx(peer.params[0], abs=1e-5)  # threshold = -intercept
    assert se["y$1|c#1"] == pytest.approx(peer.bse[0], rel=1e-3)
    assert se["y ON x|c#1"] == pytest.approx(peer.bse[1], rel=1e-3)


def test_between_regression_on_cluster_covariate_equals_mixedlm():
    """u_j = gamma w_j + xi_j (eq 5): with 1 class this is MixedLM with w as a fixed effect."""
    sm = pytest.importorskip("statsmodels.formula.api")
    rng = np.random.default_rng(9)
    cluster = np.repeat(np.arange(50), 7)
    w = rng.normal(size=50)
    x = rng.normal(size=len(cluster))
    y = 1.0 + 0.5 * x + 0.8 * w[cluster] + rng.normal(scale=0.7, size=50)[cluster] + rng.normal(size=len(x))
    df = pd.DataFrame({"y": y, "x": x, "w": w[cluster], "g": cluster})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        peer = sm.mixedlm("y ~ x + w", df, groups=df["g"]).fit(reml=False)
    spec = mm.ModelSpec(
        class_variables=(mm.ClassVariable("c", 1),),
        indicators=(mm.Indicator("y", "normal", covariates=("x",)),),
        random_effects=(mm.RandomEffect("u", "intercept", ("y",), on=("w",)),), cluster="g")
    res = mm.from_spec(spec, df).fit(integration="adaptive", points=3, starts=(0, 0))
    between = res.between_regressions()
    assert list(between.name) == ["u ON w"]
    assert between.estimate[0] == pytest.approx(peer.fe_params["w"], abs=1e-4)
    assert between.se[0] == pytest.approx(peer.bse["w"], rel=2e-3)
    assert res.loglik == pytest.approx(peer.llf, abs=1e-4)


def test_icc_is_eq20_with_delta_method_interval():
    df = simulate_lca(60, 8, seed=6, var_c=3.0)
    items = [c for c in df.columns if c.startswith("u")]
    res = mm.lca(df, items=items, n_classes=2, cluster="cluster", random_intercept=True).fit(
        integration="adaptive", points=7, starts=(4, 2), seed=1)
    icc = res.icc().iloc[0]
    var = dict(zip(res.parameters.name, res.parameters.estimate))["var(c#1)"]
    se = dict(zip(res.parameters.name, res.parameters.se))["var(c#1)"]
    assert icc["icc"] == pytest.approx(var / (var + np.pi**2 / 3))
    assert icc["se"] == pytest.approx(se * (np.pi**2 / 3) / (var + np.pi**2 / 3) ** 2)
    # the interval is the delta method's on the logit scale, logit(ICC) +- z se(var) / var, inside [0, 1]
    logit = np.log(var / (np.pi**2 / 3))
    assert icc["lower"] == pytest.approx(1 / (1 + np.exp(-(logit - 1.959964 * se / var))), abs=1e-6)
    assert icc["upper"] == pytest.approx(1 / (1 + np.exp(-(logit + 1.959964 * se / var))), abs=1e-6)
    assert 0 < icc["lower"] < icc["icc"] < icc["upper"] < 1


def test_regression_among_random_effects_reproduces_the_full_covariance():
    """s = beta u + xi (eq 5) with independent residuals spans the same 2x2 covariance as a free one,
    so its ML fit equals MixedLM's with a free covariance: beta = cov(s, u) / var(u)."""
    sm = pytest.importorskip("statsmodels.formula.api")
    rng = np.random.default_rng(12)
    cluster = np.repeat(np.arange(70), 8)
    x = rng.normal(size=len(cluster))
    u = rng.multivariate_normal([0, 0], [[0.8, 0.3], [0.3, 0.4]], size=70)
    y = 0.5 + 0.7 * x + u[cluster, 0] + u[cluster, 1] * x + rng.normal(scale=0.9, size=len(x))
    df = pd.DataFrame({"y": y, "x": x, "g": cluster})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        peer = sm.mixedlm("y ~ x", df, groups=df["g"], re_formula="~x").fit(reml=False)
    spec = mm.ModelSpec(
        class_variables=(mm.ClassVariable("c", 1),),
        indicators=(mm.Indicator("y", "normal", covariates=("x",)),),
        random_effects=(mm.RandomEffect("u", "intercept", ("y",)),
                        mm.RandomEffect("s", "slope", ("y",), covariate="x", on=("u",))),
        random_covariance="diagonal", cluster="g")
    res = mm.from_spec(spec, df).fit(integration="adaptive", points=3, starts=(0, 0))
    est = dict(zip(res.parameters.name, res.parameters.estimate))
    cov = peer.cov_re.to_numpy()
    assert res.loglik == pytest.approx(peer.llf, abs=1e-4)
    assert est["s ON u"] == pytest.approx(cov[0, 1] / cov[0, 0], abs=1e-3)
    assert est["var(u)"] == pytest.approx(cov[0, 0], abs=1e-3)


def test_between_factor_with_free_loadings_equals_closed_form():
    """y_ijp = mu_p + lambda_p f_j + e: per cluster all items of all persons are jointly normal."""
    from scipy.stats import multivariate_normal

    rng = np.random.default_rng(13)
    n_clusters, size = 30, 4
    cluster = np.repeat(np.arange(n_clusters), size)
    f = rng.normal(size=n_clusters)[cluster]
    lam, mu, var = np.array([1.0, 0.6, 1.4]), np.array([0.2, -0.5, 1.0]), np.array([0.7, 1.1, 0.5])
    df = pd.DataFrame({f"y{p + 1}": mu[p] + lam[p] * f + rng.normal(scale=np.sqrt(var[p]), size=len(f))
                       for p in range(3)})
    df["g"] = cluster
    spec = mm.ModelSpec(
        class_variables=(mm.ClassVariable("c", 1),),
        indicators=tuple(mm.Indicator(f"y{p}", "normal") for p in (1, 2, 3)),
        random_effects=(mm.RandomEffect("f", "intercept", ("y1", "y2", "y3"), loadings="free"),), cluster="g")
    model = mm.from_spec(spec, df)
    values = {"var(f)": 0.9, "f BY y2": 0.5, "f BY y3": 1.3}
    for p in range(3):
        values[f"y{p + 1}|c#1"], values[f"var(y{p + 1})|c#1"] = mu[p], var[p]
    loadings = np.array([1.0, 0.5, 1.3])
    reference = 0.0
    for _, rows in df.groupby("g"):
        y = rows[["y1", "y2", "y3"]].to_numpy().ravel()  # person-major
        ones = np.ones((len(rows), 1))
        cov = 0.9 * np.kron(ones @ ones.T, np.outer(loadings, loadings)) + np.diag(np.tile(var, len(rows)))
        reference += multivariate_normal(np.tile(mu, len(rows)), cov).logpdf(y)
    assert model.loglik(values, "adaptive", 3) == pytest.approx(reference, abs=1e-8)


def test_unbalanced_shuffled_clusters_lca_and_posteriors_equal_bruteforce():
    """Padded chunks of unequal clusters (the engine's layout): values and per-row class
    posteriors P(C_ij = k | y_j) against a numpy grid over the random class logit."""
    df = unbalanced_clusters(simulate_lca(40, 12, seed=8, var_c=2.0), seed=8)
    assert df.groupby("cluster").size().nunique() > 5
    items = [f"u{m}" for m in range(1, 5)]
    model = mm.lca(df, items=items, n_classes=2, cluster="cluster", random_intercept=True)
    values = {"[c#1]": 0.3, "var(c#1)": 2.0}
    for p, item in enumerate(items):
        values[f"{item}$1|c#1"], values[f"{item}$1|c#2"] = -1.0 + 0.3 * p, 1.2 - 0.2 * p
    reference = loglik_lca_random_logit(df, items, "cluster", values, K=2, points=600)
    assert model.loglik(values, "gauss-hermite", 100) == pytest.approx(reference, abs=1e-6)

    expected = lca_random_logit_posteriors(df, items, values)  # a grid over the random logit
    theta = model.theta_from_values(values)
    _, posterior, _, _ = model.compile("gauss-hermite", 100).class_probabilities(theta)
    np.testing.assert_allclose(posterior, expected, atol=1e-6)


def test_unbalanced_shuffled_clusters_random_intercept_logistic_equals_bruteforce():
    df = unbalanced_clusters(simulate_ri_logistic(50, 12, -0.5, 1.0, 1.0, seed=9), seed=9)
    model = mm.regression_mixture(df, "y", "x", 1, cluster="cluster", random=["intercept"], family="binary")
    values = {"y$1|c#1": 0.5, "y ON x|c#1": 1.0, "var(u)": 1.0}
    reference = loglik_ri_logistic(df.y.to_numpy(), df.cluster.to_numpy(), df.x.to_numpy(), -0.5, 1.0, 1.0)
    assert model.loglik(values, "gauss-hermite", 100) == pytest.approx(reference, abs=1e-6)
    assert model.loglik(values, "laplace", 1) == pytest.approx(reference, abs=1.0)
