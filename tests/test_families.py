"""Count (Poisson) and nominal indicator families: each a module of families/ behind one interface.

1-class models equal statsmodels (GLM Poisson with a covariate; MNLogit with a constant);
mixtures equal exact numpy log-likelihoods and recover simulated parameters."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy.special import gammaln, log_softmax, logsumexp

import mlmix_pymc as mm
import reference_fma as ref
from mlmix_pymc.spec import ClassVariable, Indicator, ModelSpec


def test_one_class_poisson_regression_equals_statsmodels_glm():
    rng = np.random.default_rng(1)
    x = rng.normal(size=400)
    df = pd.DataFrame({"x": x, "k": rng.poisson(np.exp(0.3 + 0.5 * x)).astype(float)})
    spec = ModelSpec((ClassVariable("c", 1),), (Indicator("k", "poisson", covariates=("x",)),))
    res = mm.from_spec(spec, df).fit(starts=(0, 0))
    glm = sm.GLM(df["k"], sm.add_constant(df["x"]), family=sm.families.Poisson()).fit()
    est = res.parameters.set_index("name")
    assert res.loglik == pytest.approx(glm.llf, abs=1e-6)
    assert est.loc["[k]|c#1", "estimate"] == pytest.approx(glm.params["const"], abs=1e-5)
    assert est.loc["k ON x|c#1", "estimate"] == pytest.approx(glm.params["x"], abs=1e-5)
    assert est.loc["k ON x|c#1", "se"] == pytest.approx(glm.bse["x"], rel=1e-3)


def test_one_class_nominal_equals_statsmodels_mnlogit():
    rng = np.random.default_rng(2)
    df = pd.DataFrame({"n": rng.choice(["red", "green", "blue"], 500, p=[0.5, 0.3, 0.2])})
    res = mm.lca(df, ["n"], 1, family="nominal").fit(starts=(0, 0))
    codes = pd.Categorical(df["n"], categories=["blue", "green", "red"]).codes  # sorted; 'red' is the reference
    endog = np.where(codes == 2, 0, codes + 1)  # MNLogit's reference is its first category: put 'red' first
    mn = sm.MNLogit(endog, np.ones((500, 1))).fit(disp=0)
    assert res.loglik == pytest.approx(mn.llf, abs=1e-6)
    est = res.parameters.set_index("name")["estimate"]
    # ours: log P(m) / P(red) for m = blue (#1), green (#2); MNLogit: log P(m) / P(red) for its categories 1, 2
    np.testing.assert_allclose([est["n#1|c#1"], est["n#2|c#1"]], np.asarray(mn.params).ravel(), atol=1e-5)


def test_poisson_and_nominal_mixture_logliks_equal_numpy():
    rng = np.random.default_rng(3)
    log_rates = np.array([[0.2, 1.0], [1.5, -0.3]])
    intercepts = np.array([[[1.0, 0.2]], [[-0.8, 0.5]]])
    alpha = np.array([0.4, 0.0])
    counts, _ = ref.simulate_poisson_lca(rng, 200, log_rates, alpha)
    nominal, _ = ref.simulate_nominal_lca(rng, 200, intercepts, alpha)
    df = pd.DataFrame({"k1": counts[:, 0], "k2": counts[:, 1], "n1": nominal[:, 0]})
    df.loc[3, "k1"] = np.nan
    model = mm.lca(df, ["k1", "k2", "n1"], 2, family={"k1": "poisson", "k2": "poisson", "n1": "nominal"})
    v = {"[c#1]": 0.4}
    for c in range(2):
        for p, it in enumerate(["k1", "k2"]):
            v[f"[{it}]|c#{c + 1}"] = log_rates[c, p]
        for t in range(2):
            v[f"n1#{t + 1}|c#{c + 1}"] = intercepts[c, 0, t]
    y = df[["k1", "k2"]].to_numpy()
    lam = np.exp(log_rates)
    lp = np.nansum(y[:, None, :] * log_rates[None] - lam[None] - gammaln(y[:, None, :] + 1), axis=2)  # (n, K)
    probs = log_softmax(np.concatenate([intercepts[:, 0], np.zeros((2, 1))], axis=1), axis=1)  # (K, 3)
    codes = df["n1"].to_numpy().astype(int)  # categories 0, 1, 2 sort as their codes
    expected = logsumexp(log_softmax(alpha)[None] + lp + probs[:, codes].T, axis=1).sum()
    assert model.loglik(v) == pytest.approx(expected, abs=1e-8)


@pytest.mark.slow
def test_poisson_lca_recovered():
    rng = np.random.default_rng(4)
    log_rates = np.array([[0.2, 1.0, 0.5, 1.4], [1.5, -0.3, 1.2, 0.0]])
    counts, _ = ref.simulate_poisson_lca(rng, 1500, log_rates, np.array([0.4, 0.0]))
    df = pd.DataFrame(counts, columns=[f"k{p + 1}" for p in range(4)])
    res = mm.lca(df, list(df.columns), 2, family="poisson").fit(seed=1)
    est = res.parameters.set_index("name")
    for c in range(2):
        for p in range(4):
            name = f"[k{p + 1}]|c#{c + 1}"
            assert abs(est.loc[name, "estimate"] - log_rates[c, p]) < 3 * est.loc[name, "se"], name
    assert abs(est.loc["[c#1]", "estimate"] - 0.4) < 3 * est.loc["[c#1]", "se"]


@pytest.mark.slow
def test_nominal_lca_recovered():
    rng = np.random.default_rng(5)
    intercepts = np.array([[[1.5, 0.5], [1.0, -1.0], [-1.0, 1.0], [0.8, 0.8]],
                           [[-1.0, 0.5], [-0.5, 1.2], [1.0, -0.5], [-1.0, -1.0]]])
    nominal, _ = ref.simulate_nominal_lca(rng, 1500, intercepts, np.array([0.3, 0.0]))
    df = pd.DataFrame(nominal, columns=[f"n{p + 1}" for p in range(4)])
    res = mm.lca(df, list(df.columns), 2, family="nominal").fit(seed=1)
    est = res.parameters.set_index("name")
    for c in range(2):
        for p in range(4):
            for t in range(2):
                name = f"n{p + 1}#{t + 1}|c#{c + 1}"
                assert abs(est.loc[name, "estimate"] - intercepts[c, p, t]) < 3 * est.loc[name, "se"], name


def test_count_column_errors_name_the_value():
    df = pd.DataFrame({"k": [0.0, 1.0, 2.5, 3.0], "u": [0, 1, 0, 1]})
    with pytest.raises(mm.DataError, match="count indicator 'k' has value 2.5"):
        mm.lca(df, ["k", "u"], 1, family={"k": "poisson", "u": "binary"})
    with pytest.raises(mm.SpecificationError, match="nominal.*cannot take covariates"):
        ModelSpec((ClassVariable("c", 1),), (Indicator("n", "nominal", covariates=("x",)),))
