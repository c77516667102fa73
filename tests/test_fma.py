"""Factor mixtures and IRT (eq 36-37, 49-50) against independent numpy brute force
(tests/reference_fma.py), an independent 2PL fitter and the long-format route."""

import warnings

import numpy as np
import pandas as pd
import pytest

import mlmix_pymc as mm
import reference_fma as ref


def _values(items, tau, lam, alpha, loadings, names=("f",), beta=None, covariate=None):
    """Our parameter names for reference arrays: tau (K, P[, M-1]), lam (K, P[, m]), alpha (K,)."""
    k = tau.shape[0]
    v = {f"[c#{c + 1}]": alpha[c] for c in range(k - 1)}
    for c in range(k):
        for p, it in enumerate(items):
            taus = np.atleast_1d(tau[c, p])
            for t, value in enumerate(taus):
                v[f"{it}${t + 1}|c#{c + 1}"] = value
    lam3 = lam if lam.ndim == 3 else lam[:, :, None]
    for a, f in enumerate(names):
        for p, it in enumerate(items[a:], start=a):
            if loadings == "class-specific":
                for c in range(k):
                    v[f"{f} BY {it}|c#{c + 1}"] = lam3[c, p, a]
            else:
                v[f"{f} BY {it}"] = lam3[0, p, a]
    if beta is not None:
        for c in range(k - 1):
            v[f"c#{c + 1} ON {covariate}"] = beta[c, 0]
    return v


def _data(Y, prefix="y"):
    return pd.DataFrame(Y, columns=[f"{prefix}{p + 1}" for p in range(Y.shape[1])])


@pytest.mark.parametrize("loadings,link,covariate", [
    ("class-invariant", "logit", False), ("class-specific", "logit", False),
    ("class-invariant", "probit", False), ("class-specific", "probit", True)])
def test_fma_loglik_equals_brute_force(loadings, link, covariate):
    """2-class FMA, 6 binary items with missing values: GH-61 equals a 401-point trapezoid brute force."""
    rng = np.random.default_rng(3)
    tau = np.array([[-1.0, -0.5, 0.0, 0.4, 1.0, 0.2], [0.6, 1.1, 1.5, -0.2, -0.6, 0.3]])
    lam = np.array([[1.2, 0.9, 1.6, 0.7, 1.3, 1.0], [0.8, 1.4, 1.1, 1.2, 0.5, 1.5]])
    if loadings == "class-invariant":
        lam = np.broadcast_to(lam[:1], lam.shape).copy()
    alpha = np.array([0.3, 0.0])
    x = rng.standard_normal((250, 1)) if covariate else None
    beta = np.array([[0.7], [0.0]]) if covariate else None
    Y, _, _ = ref.simulate_fma(rng, 250, tau, lam, alpha, link, x=x, beta=beta)
    Y[rng.random(Y.shape) < 0.05] = np.nan
    df = _data(Y)
    items = list(df.columns)
    if covariate:
        df["x"] = x[:, 0]
    model = mm.fma(df, items, 2, loadings=loadings, link=link, covariates=["x"] if covariate else None)
    values = _values(items, tau, lam, alpha, loadings, beta=beta, covariate="x")
    expected = ref.fma_loglik(Y, tau, lam, alpha, link, x=x, beta=beta)
    assert model.loglik(values, points=61) == pytest.approx(expected, abs=1e-6)


def test_two_factor_fma_equals_tensor_grid():
    """2 factors in echelon form (f2 skips item 1), class-specific loadings: GH 41 x 41 = 121 x 121 trapezoid."""
    rng = np.random.default_rng(4)
    k, p = 2, 5
    tau = rng.normal(0, 0.8, size=(k, p))
    lam = rng.uniform(0.5, 1.5, size=(k, p, 2))
    lam[:, 0, 1] = 0.0
    alpha = np.array([-0.2, 0.0])
    Y, _, _ = ref.simulate_fma(rng, 150, tau, lam, alpha)
    df = _data(Y)
    items = list(df.columns)
    model = mm.fma(df, items, 2, n_factors=2, loadings="class-specific")
    values = _values(items, tau, lam, alpha, "class-specific", names=("f1", "f2"))
    assert model.loglik(values, points=41) == pytest.approx(ref.fma_loglik(Y, tau, lam, alpha), abs=1e-6)


def test_within_factor_with_cluster_intercept_equals_nested_brute_force():
    """Two-level 2-class FMA: person factor integrated inside classes, school intercept outside (nested)."""
    rng = np.random.default_rng(5)
    tau = np.array([[-0.8, -0.2, 0.3, 0.9], [0.7, 1.2, -0.3, 0.1]])
    lam = np.broadcast_to(np.array([[1.1, 0.8, 1.4, 0.9]]), (2, 4)).copy()
    alpha = np.array([0.4, 0.0])
    cluster = np.repeat(np.arange(25), 6)
    Y = np.vstack([ref.simulate_fma(rng, 6, tau - u_j, lam, alpha)[0] for u_j in rng.normal(0, 0.7, 25)])
    df = _data(Y)
    items = list(df.columns)
    df["school"] = cluster
    model = mm.fma(df, items, 2, cluster="school", cluster_intercept=True)
    values = _values(items, tau, lam, alpha, "class-invariant")
    values["var(u)"] = 0.5
    expected = ref.fma_twolevel_loglik(Y, cluster, tau, lam, alpha, 0.5)
    got = model.loglik(values, integration="gauss-hermite", points=41, factor_points=41)
    assert got == pytest.approx(expected, abs=1e-6)


def test_graded_response_model_equals_brute_force():
    """Samejima's GRM (1 class, 4 ordinal items with 4 categories), logit and probit."""
    rng = np.random.default_rng(6)
    tau = np.sort(rng.normal(0, 1, size=(1, 4, 3)), axis=-1)
    lam = rng.uniform(0.7, 1.8, size=(1, 4))
    Y, _, _ = ref.simulate_fma(rng, 300, tau, lam, np.array([0.0]))
    df = _data(Y)
    items = list(df.columns)
    for link in ("logit", "probit"):
        model = mm.irt(df, items, model="grm", link=link)
        values = _values(items, tau, lam, np.array([0.0]), "class-invariant")
        assert model.loglik(values, points=61) == pytest.approx(ref.fma_loglik(Y, tau, lam, np.array([0.0]), link),
                                                                abs=1e-6)


def test_2pl_fit_equals_independent_marginal_ml():
    """1-class FMA = 2PL: log-likelihood and a, b of an independent EM + Newton fitter."""
    rng = np.random.default_rng(7)
    a = rng.uniform(0.8, 2.0, 8)
    b = rng.normal(0, 0.8, 8)
    Y, _, _ = ref.simulate_fma(rng, 800, (a * b)[None, :], a[None, :], np.array([0.0]))
    df = _data(Y)
    items = list(df.columns)
    result = mm.irt(df, items, model="2pl").fit(starts=(0, 0), points=61)
    expected = ref.fit_2pl(Y)
    assert result.loglik == pytest.approx(expected["loglik"], abs=1e-5)
    table = result.irt_parameters().set_index("item")
    np.testing.assert_allclose(table.loc[items, "a"], expected["a"], atol=2e-3)
    np.testing.assert_allclose(table.loc[items, "b"], expected["b"], atol=2e-3)
    np.testing.assert_allclose(table.loc[items, "a_se"], expected["se_a"], rtol=0.02)


def test_rasch_equals_long_format_random_intercept_model(lsat):
    """Rasch on LSAT (wide, factor) = logistic regression with item dummies and a person random intercept (long)."""
    items = ["item1", "item2", "item3", "item4", "item5"]
    wide = mm.irt(lsat, items, model="rasch").fit(starts=(0, 0), points=61)
    long = lsat[items].reset_index(names="person").melt(id_vars="person", var_name="item", value_name="y")
    for it in items[1:]:
        long[f"d_{it}"] = (long["item"] == it).astype(float)
    model = mm.regression_mixture(long, "y", [f"d_{it}" for it in items[1:]], 1, cluster="person",
                                  random=["intercept"], family="binary")
    long_fit = model.fit(starts=(0, 0), integration="adaptive", points=21)
    assert wide.loglik == pytest.approx(long_fit.loglik, abs=1e-5)
    var_wide = wide.parameters.set_index("name").loc["var(f)", "estimate"]
    var_long = long_fit.parameters.set_index("name").loc["var(u)", "estimate"]
    assert var_wide == pytest.approx(var_long, rel=1e-3)
    # 1PL: the same model with a common loading and var(f) = 1
    onepl = mm.irt(lsat, items, model="1pl").fit(starts=(0, 0), points=61)
    assert onepl.loglik == pytest.approx(wide.loglik, abs=1e-5)


def test_factor_scores_equal_brute_force_eap():
    rng = np.random.default_rng(8)
    p = 10
    tau = np.stack([np.linspace(-1, 1, p), np.linspace(1, -1, p) + 0.3])
    lam = np.array([rng.uniform(0.8, 1.5, p)] * 2)
    alpha = np.array([0.2, 0.0])
    Y, _, _ = ref.simulate_fma(rng, 300, tau, lam, alpha)
    df = _data(Y)
    df.index = df.index + 1000  # scores are aligned to the input index
    items = list(df.columns)
    result = mm.fma(df, items, 2).fit(seed=1, se=None, points=61)
    est = result.parameters.set_index("name")["estimate"]
    tau_hat = np.array([[est[f"{it}$1|c#{c}"] for it in items] for c in (1, 2)])
    lam_hat = np.array([[est[f"f BY {it}"] for it in items]] * 2)
    scores = result.factor_scores()
    mean, sd = ref.fma_eap(Y, tau_hat, lam_hat, np.array([est["[c#1]"], 0.0]))
    assert list(scores.index) == list(df.index)
    np.testing.assert_allclose(scores["f"], mean, atol=1e-6)
    np.testing.assert_allclose(scores["f_sd"], sd, atol=1e-6)


@pytest.mark.slow
def test_fma_class_specific_loadings_recovered():
    """2-class FMA with class-specific loadings, n = 2000, 10 items: every parameter within 3 SE."""
    rng = np.random.default_rng(11)
    p = 10
    tau = np.stack([np.linspace(-1.2, 1.2, p), np.linspace(1.0, -1.0, p) + 0.5])
    lam = np.stack([rng.uniform(1.0, 2.0, p), rng.uniform(0.4, 1.0, p)])
    alpha = np.array([0.4, 0.0])
    Y, _, _ = ref.simulate_fma(rng, 2000, tau, lam, alpha)
    df = _data(Y)
    items = list(df.columns)
    result = mm.fma(df, items, 2, loadings="class-specific").fit(starts=(20, 5), seed=2)
    truth = _values(items, tau, lam, alpha, "class-specific")
    table = result.parameters.set_index("name")
    z = [(table.loc[name, "estimate"] - value) / table.loc[name, "se"] for name, value in truth.items()]
    assert np.max(np.abs(z)) < 3.0, dict(zip(truth, np.round(z, 2)))


def test_factor_reflection_is_aligned_and_leaves_loglik_unchanged():
    """eta -> -eta with every loading negated is the same model: the Bayesian aligner undoes it."""
    from mlmix_pymc.bayes.align import align_draws

    rng = np.random.default_rng(9)
    df = _data((rng.random((100, 5)) < 0.5).astype(float))
    model = mm.fma(df, list(df.columns), 2, loadings="class-specific")
    layout = model.structure.layout
    theta = rng.normal(0, 0.5, model.n_free)
    phi = layout.natural(theta)
    flipped = phi.copy()
    elements = layout.blocks["floading:f"].index.ravel()
    flipped[elements] *= -1
    assert model.loglik(layout.theta_from_natural(flipped), points=21) == pytest.approx(
        model.loglik(theta, points=21), abs=1e-9)
    aligned, n_changed = align_draws(model.structure, flipped[None, :], phi)
    assert n_changed == 1
    np.testing.assert_allclose(aligned[0], phi, atol=1e-12)


@pytest.mark.parametrize("n_factors,points,loadings,tolerance", [
    (1, 11, (0.8, 1.6), 1e-5), (1, 21, (2.0, 3.5), 1e-3), (2, 9, (2.0, 3.5), 0.05), (3, 7, (2.0, 3.5), 0.1)])
def test_adaptive_factor_quadrature_equals_brute_force(n_factors, points, loadings, tolerance):
    """Adaptive Gauss-Hermite per row and class equals the brute force, and beats the fixed rule with
    the same points by 10x or more. Strong loadings (2-3.5 on 8 items) give narrow, skewed posteriors
    for extreme response patterns: there every rule needs more points (measured: 1-D adaptive-7 off by
    0.05, fixed GH-41 by 0.013 on 120 rows)."""
    rng = np.random.default_rng(20 + n_factors)
    k, p = 2, 8
    tau = rng.normal(0, 1.0, size=(k, p))
    lam = rng.uniform(*loadings, size=(k, p, n_factors))
    for a in range(n_factors):
        lam[:, :a, a] = 0.0  # echelon form: factor a starts at item a
    alpha = np.array([0.3, 0.0])
    lam_ref = lam if n_factors > 1 else lam[..., 0]
    Y, _, _ = ref.simulate_fma(rng, 120, tau, lam_ref, alpha)
    df = _data(Y)
    items = list(df.columns)
    names = ("f",) if n_factors == 1 else tuple(f"f{a + 1}" for a in range(n_factors))
    model = mm.fma(df, items, 2, n_factors=n_factors, loadings="class-specific")
    values = _values(items, tau, lam, alpha, "class-specific", names=names)
    expected = ref.fma_loglik(Y, tau, lam_ref, alpha)
    adaptive = model.loglik(values, integration="adaptive", points=points)
    fixed = model.loglik(values, integration="gauss-hermite", points=points)
    assert adaptive == pytest.approx(expected, abs=tolerance)
    assert abs(fixed - expected) > 10 * abs(adaptive - expected)


def test_adaptive_factor_fit_and_scores():
    """ML with adaptive factor nodes: its log-likelihood equals the brute force at its estimates and
    the GH-61 optimum; MLR standard errors exist; EAP scores equal the brute force."""
    rng = np.random.default_rng(31)
    p = 10
    tau = np.stack([np.linspace(-1, 1, p), np.linspace(1, -1, p) + 0.3])
    lam = np.array([rng.uniform(0.8, 1.5, p)] * 2)
    Y, _, _ = ref.simulate_fma(rng, 500, tau, lam, np.array([0.2, 0.0]))
    df = _data(Y)
    items = list(df.columns)
    adaptive = mm.fma(df, items, 2).fit(seed=1, integration="adaptive", se="mlr")
    fixed = mm.fma(df, items, 2).fit(seed=1, points=61, se=None)
    assert adaptive.loglik == pytest.approx(fixed.loglik, abs=1e-4)
    assert np.all(np.isfinite(adaptive.se[~adaptive.structure.layout.fixed_mask]))
    est = adaptive.parameters.set_index("name")["estimate"]
    tau_hat = np.array([[est[f"{it}$1|c#{c}"] for it in items] for c in (1, 2)])
    lam_hat = np.array([[est[f"f BY {it}"] for it in items]] * 2)
    alpha_hat = np.array([est["[c#1]"], 0.0])
    assert adaptive.loglik == pytest.approx(ref.fma_loglik(Y, tau_hat, lam_hat, alpha_hat), abs=1e-4)
    mean, sd = ref.fma_eap(Y, tau_hat, lam_hat, alpha_hat)
    scores = adaptive.factor_scores()
    np.testing.assert_allclose(scores["f"], mean, atol=1e-4)
    np.testing.assert_allclose(scores["f_sd"], sd, atol=1e-4)


def test_adaptive_factor_fit_with_a_loading_running_off_is_refined_or_warns():
    """5 items, 2 classes: with 11 adaptive nodes the optimizer reaches a loading of ~90 (a step
    function) where the nodes overstate the likelihood by ~8. The integration certificate catches
    it: the rule is refined and the fit resumed until a finer rule agrees to 1e-3, or a warning
    names the figure; the value reported is never the 11-node artefact."""
    rng = np.random.default_rng(30)
    tau = np.array([[-1.0, 0.0, 0.5, 1.0, -0.5], [0.5, 1.0, -0.5, 0.0, 1.5]])
    lam = np.array([[1.5, 1.2, 1.8, 1.0, 1.4]] * 2)
    Y, _, _ = ref.simulate_fma(rng, 400, tau, lam, np.array([0.2, 0.0]))
    df = _data(Y)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = mm.fma(df, list(df.columns), 2).fit(seed=1, integration="adaptive", points=11, se=None)
    cert = result.certificate
    assert cert.refinements >= 1 or cert.error <= 1e-3
    if cert.ok:
        assert abs(result.loglik - cert.loglik_finer) < 1e-9 and cert.reported == "finer"
    else:
        assert any("not accurate to integration_tol" in str(w.message) for w in caught)


def test_class_specific_factor_means_equal_brute_force():
    """A mixture of factor distributions: eta | c ~ N(mu_c, psi_c), invariant thresholds and loadings."""
    rng = np.random.default_rng(40)
    p = 6
    tau1 = rng.normal(0, 0.8, p)
    tau = np.stack([tau1, tau1])
    lam = np.array([rng.uniform(0.8, 1.6, p)] * 2)
    lam[:, 0] = 1.0  # first loading fixed with class-specific variances
    alpha = np.array([0.4, 0.0])
    fmean, fvar = np.array([1.2, 0.0]), np.array([0.6, 1.4])
    Y, _, _ = ref.simulate_fma(rng, 300, tau, lam, alpha, fmean=fmean, fvar=fvar)
    df = _data(Y)
    items = list(df.columns)
    model = mm.fma(df, items, 2, factor_mean="class-specific", factor_variance="class-specific")
    assert "[f]|c#1" in model.parameter_names and "var(f)|c#2" in model.parameter_names
    values = _values(items, tau, lam, alpha, "class-invariant")
    values.update({"[f]|c#1": 1.2, "var(f)|c#1": 0.6, "var(f)|c#2": 1.4})
    expected = ref.fma_loglik(Y, tau, lam, alpha, fmean=fmean, fvar=fvar)
    assert model.loglik(values, points=61) == pytest.approx(expected, abs=1e-6)
    # thresholds are class-invariant (one free parameter per item)
    assert model.n_free == 1 + (p - 1) + 2 + 1 + p


@pytest.mark.slow
def test_class_specific_factor_means_recovered():
    """Invariant measurement, two classes apart on the factor (mu_1 = 1.5, var 0.5 and 1): within 3 SE."""
    rng = np.random.default_rng(41)
    p = 8
    tau1 = np.linspace(-1.0, 1.5, p)
    tau = np.stack([tau1, tau1])
    lam = np.array([np.r_[1.0, rng.uniform(0.8, 1.6, p - 1)]] * 2)
    alpha = np.array([-0.4, 0.0])
    Y, _, _ = ref.simulate_fma(rng, 2000, tau, lam, alpha, fmean=np.array([1.5, 0.0]), fvar=np.array([0.5, 1.0]))
    df = _data(Y)
    items = list(df.columns)
    result = mm.fma(df, items, 2, factor_mean="class-specific", factor_variance="class-specific").fit(
        starts=(20, 5), seed=3, reorder=False)
    table = result.parameters.set_index("name")
    truth = {"[c#1]": -0.4, "[f]|c#1": 1.5, "var(f)|c#1": 0.5, "var(f)|c#2": 1.0}
    truth.update({f"f BY {it}": lam[0, q] for q, it in enumerate(items) if q > 0})
    truth.update({f"{it}$1|c#1": tau1[q] for q, it in enumerate(items)})
    if table.loc["[f]|c#1", "estimate"] < 0:  # estimated in the other labelling: class 1 is the reference (mean 0)
        truth.update({"[c#1]": 0.4, "[f]|c#1": -1.5, "var(f)|c#1": 1.0, "var(f)|c#2": 0.5})
        truth.update({f"{it}$1|c#1": tau1[q] - 1.5 * lam[0, q] for q, it in enumerate(items)})
    z = {name: (table.loc[name, "estimate"] - value) / table.loc[name, "se"] for name, value in truth.items()}
    assert max(abs(v) for v in z.values()) < 3.0, z
