"""The likelihood against independent computations: finite differences, closed forms,
brute-force enumeration in numpy, and statsmodels' multinomial logit."""

import numpy as np
import pandas as pd
import pytest
from scipy import special, stats

import mlmix_pymc as mm

from simdata import draw_classes, frame, simulate_categorical


def _mixed_model(n=300, seed=0):
    """Binary probit + ordinal logit + continuous items, a covariate, 10% missing."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    cls = draw_classes(rng, n, np.column_stack([0.8 * x, np.zeros(n)]))
    ub = simulate_categorical(rng, cls, np.array([[[-1.0], [0.5]], [[1.0], [-0.5]]]), "probit")
    uo = simulate_categorical(rng, cls, np.array([[[-1.0, 0.5]], [[0.0, 1.5]]]), "logit")
    y = rng.normal(np.where(cls == 0, 1.0, -1.0), 1.0)
    df = pd.DataFrame({"b1": ub[:, 0], "b2": ub[:, 1], "o1": uo[:, 0], "y": y, "x": x})
    mask = rng.uniform(size=(n, 4)) < 0.1
    for j, col in enumerate(["b1", "b2", "o1", "y"]):
        df.loc[mask[:, j], col] = np.nan
    spec = mm.ModelSpec(
        (mm.ClassVariable("c", 2, covariates=("x",)),),
        (mm.Indicator("b1", "binary", "probit"), mm.Indicator("b2", "binary", "probit"),
         mm.Indicator("o1", "ordinal", "logit"), mm.Indicator("y", "normal")),
    )
    return mm.from_spec(spec, df), df


def _numpy_loglik(model, theta, df):
    """Independent numpy likelihood of _mixed_model by explicit class enumeration."""
    names = model.parameter_names
    phi = dict(zip(names, model.structure.layout.natural(theta)))
    total = 0.0
    for _, row in df.iterrows():
        logit1 = phi["[c#1]"] + phi["c#1 ON x"] * row["x"]
        prior = special.softmax([logit1, 0.0])
        lik = 0.0
        for k in (1, 2):
            f = prior[k - 1]
            for item in ("b1", "b2"):
                if not np.isnan(row[item]):
                    p1 = stats.norm.cdf(-phi[f"{item}$1|c#{k}"])
                    f *= p1 if row[item] == 1 else 1 - p1
            if not np.isnan(row["o1"]):
                t1, t2 = phi[f"o1$1|c#{k}"], phi[f"o1$2|c#{k}"]
                cum = [special.expit(t1), special.expit(t2), 1.0]
                m = int(row["o1"])
                f *= cum[m] - (cum[m - 1] if m > 0 else 0.0)
            if not np.isnan(row["y"]):
                f *= stats.norm.pdf(row["y"], phi[f"y|c#{k}"], np.sqrt(phi[f"var(y)|c#{k}"]))
            lik += f
        total += np.log(lik)
    return total


def test_loglik_equals_numpy_enumeration():
    model, df = _mixed_model()
    rng = np.random.default_rng(5)
    theta = 0.3 * rng.normal(size=model.n_free)
    ll, _ = model.evaluate(theta)
    assert ll == pytest.approx(_numpy_loglik(model, theta, df), abs=1e-8)


def test_gradient_matches_central_differences():
    model, _ = _mixed_model()
    rng = np.random.default_rng(6)
    theta = 0.3 * rng.normal(size=model.n_free)
    _, grad = model.evaluate(theta)
    h = 1e-5
    fd = np.array([(model.evaluate(theta + h * e)[0] - model.evaluate(theta - h * e)[0]) / (2 * h)
                   for e in np.eye(model.n_free)])
    np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-5)


def test_one_class_binary_closed_form_ml_and_se():
    """One class: thresholds are logit(1 - p_hat); both SEs equal 1/sqrt(n p (1-p))."""
    rng = np.random.default_rng(2)
    df = frame((rng.uniform(size=(500, 3)) < [0.2, 0.5, 0.7]).astype(int), "u")
    for se in ("observed", "mlr"):
        res = mm.lca(df, items=list(df.columns), n_classes=1).fit(starts=(0, 0), se=se)
        p = df.mean().to_numpy()
        table = res.parameters.set_index("name")
        tau = table.loc[[f"u{i}$1|c#1" for i in (1, 2, 3)]]
        np.testing.assert_allclose(tau["estimate"], special.logit(1 - p), atol=1e-5)
        np.testing.assert_allclose(tau["se"], 1 / np.sqrt(500 * p * (1 - p)), rtol=1e-4)
        expected_ll = (500 * (p * np.log(p) + (1 - p) * np.log(1 - p))).sum()
        assert res.loglik == pytest.approx(expected_ll, abs=1e-6)


def test_one_class_normal_closed_form_se():
    """Mean SE = sqrt(s2/n); variance SE = s2 sqrt(2/n) (observed) or the 4th-moment sandwich (MLR)."""
    rng = np.random.default_rng(3)
    y = rng.standard_t(df=6, size=400) * 2 + 1
    df = pd.DataFrame({"y": y})
    s2 = y.var()
    obs = mm.lca(df, items=["y"], n_classes=1, family="normal").fit(starts=(0, 0), se="observed")
    mlr = mm.lca(df, items=["y"], n_classes=1, family="normal").fit(starts=(0, 0), se="mlr")
    t_obs, t_mlr = obs.parameters.set_index("name"), mlr.parameters.set_index("name")
    assert t_obs.loc["y|c#1", "estimate"] == pytest.approx(y.mean(), abs=1e-5)
    assert t_obs.loc["var(y)|c#1", "estimate"] == pytest.approx(s2, rel=1e-5)
    assert t_obs.loc["y|c#1", "se"] == pytest.approx(np.sqrt(s2 / 400), rel=1e-4)
    assert t_obs.loc["var(y)|c#1", "se"] == pytest.approx(s2 * np.sqrt(2 / 400), rel=1e-4)
    robust_var_se = np.sqrt(((y - y.mean()) ** 2 - s2) @ ((y - y.mean()) ** 2 - s2)) / 400
    assert t_mlr.loc["var(y)|c#1", "se"] == pytest.approx(robust_var_se, rel=1e-4)


def test_covariate_logits_equal_statsmodels_mnlogit():
    """Items fixed at +-15 reveal the class exactly, so the class regression (eq 4) is an
    ordinary multinomial logit: log-likelihood, slopes and SEs equal statsmodels MNLogit."""
    import statsmodels.api as sm

    rng = np.random.default_rng(4)
    n = 600
    x = rng.normal(size=n)
    cls = draw_classes(rng, n, np.column_stack([0.5 + 1.0 * x, -0.3 - 0.8 * x, np.zeros(n)]))
    df = pd.DataFrame({"a": (cls == 0).astype(int), "b": (cls == 1).astype(int), "x": x})
    fixed = {"a$1|c#1": -15, "b$1|c#1": 15, "a$1|c#2": 15, "b$1|c#2": -15, "a$1|c#3": 15, "b$1|c#3": 15}
    res = mm.lca(df, items=["a", "b"], n_classes=3, covariates=["x"], fixed=fixed).fit(starts=(5, 2), seed=1)
    # statsmodels: reference is the first category; recode so our last class (3) is its reference
    endog = np.where(cls == 2, 0, cls + 1)
    sm_fit = sm.MNLogit(endog, sm.add_constant(x)).fit(disp=0, method="newton", tol=1e-12)
    assert res.loglik == pytest.approx(sm_fit.llf, abs=1e-3)
    table = res.parameters.set_index("name")
    for k in (1, 2):
        assert table.loc[f"[c#{k}]", "estimate"] == pytest.approx(sm_fit.params[0, k - 1], abs=1e-4)
        assert table.loc[f"c#{k} ON x", "estimate"] == pytest.approx(sm_fit.params[1, k - 1], abs=1e-4)
        assert table.loc[f"c#{k} ON x", "se"] == pytest.approx(sm_fit.bse[1, k - 1], rel=1e-3)
