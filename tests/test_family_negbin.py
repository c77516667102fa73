"""The negative binomial family (Mplus COUNT = y (nb)), added as one module and a registry line:
its likelihood against scipy / statsmodels and numpy brute force in the model kinds it joins,
simulation through ``mm.simulate``, recovery in a 2-class LCA.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import special, stats

import mlmix_pymc as mm
from mlmix_pymc.spec import ClassVariable, Indicator, ModelSpec, RandomEffect
from reference_gom import loglik_logistic_normal
from reference_integrals import factor_mixture_rows, random_intercept_rows
from test_simulate_components import g2_p_value

ROOT = Path(__file__).resolve().parents[1]


def nb_logpmf(y, log_rate, alpha):
    """scipy's NB2 log pmf: mean exp(log_rate), Var = mu + alpha mu^2."""
    r, mu = 1.0 / alpha, np.exp(log_rate)
    return stats.nbinom.logpmf(y, r, r / (r + mu))


def _counts(rng, n, log_rate, alpha):
    r, mu = 1.0 / alpha, np.exp(log_rate)
    return rng.negative_binomial(r, r / (r + mu)).astype(float)


def test_one_class_equals_scipy_and_statsmodels():
    """1 class: the log-likelihood at any point is scipy's NB2 sum; with a covariate the ML fit is
    statsmodels' NegativeBinomial (nb2) fit."""
    from statsmodels.discrete.discrete_model import NegativeBinomial

    rng = np.random.default_rng(1)
    n = 400
    x = rng.normal(size=n)
    y = _counts(rng, n, 0.5 + 0.4 * x, 0.7)
    frame = pd.DataFrame({"y": y, "x": x})
    plain = mm.lca(frame, ["y"], 1, family={"y": "negbin"})
    for nu, alpha in [(0.6, 0.8), (-0.2, 2.5), (1.1, 0.01)]:
        assert plain.loglik({"[y]|c#1": nu, "disp(y)|c#1": alpha}) == pytest.approx(nb_logpmf(y, nu, alpha).sum(),
                                                                                      abs=1e-8)
    spec = ModelSpec(class_variables=(ClassVariable("c", 1),),
                     indicators=(Indicator("y", "negbin", covariates=("x",)),))
    result = mm.from_spec(spec, frame).fit(se=None)
    reference = NegativeBinomial(y, np.column_stack([np.ones(n), x]), loglike_method="nb2").fit(disp=0)
    assert result.loglik == pytest.approx(reference.llf, abs=1e-6)
    table = result.parameters.set_index("name")["estimate"]
    assert table["y ON x|c#1"] == pytest.approx(reference.params[1], abs=1e-4)
    assert table["disp(y)|c#1"] == pytest.approx(reference.params[2], abs=1e-4)


def test_simulate_draws_the_class_mixture_of_negative_binomials():
    """``mm.simulate`` of a 2-class LCA with an NB item: binned counts against the scipy mixture."""
    frame = pd.DataFrame({"y": np.arange(20_000) % 7, "u": np.arange(20_000) % 2}, dtype=float)
    model = mm.lca(frame, ["y", "u"], 2, family={"y": "negbin", "u": "binary"})
    values = {"[c#1]": 0.4, "[y]|c#1": 0.2, "[y]|c#2": 1.8, "disp(y)|c#1": 0.5, "disp(y)|c#2": 1.5,
              "u$1|c#1": -1.0, "u$1|c#2": 1.0}
    drawn = mm.simulate(model, values, seed=4)["y"].to_numpy()
    top = 25
    support = np.arange(top)
    p1 = special.expit(0.4)
    pmf = p1 * np.exp(nb_logpmf(support, 0.2, 0.5)) + (1 - p1) * np.exp(nb_logpmf(support, 1.8, 1.5))
    probs = np.append(pmf, 1.0 - pmf.sum())  # the last bin: counts >= top
    counts = np.bincount(np.minimum(drawn, top).astype(int), minlength=top + 1)
    assert g2_p_value(counts, np.log(probs)) > 1e-3


@pytest.mark.slow
def test_two_class_lca_recovers_the_generating_values():
    rng = np.random.default_rng(7)
    design = pd.DataFrame({"y1": np.zeros(1500), "y2": 0.0, "u1": 0.0, "u2": 0.0, "u3": 0.0})
    items = list(design.columns)
    model = mm.lca(design.assign(y1=np.arange(1500) % 5, y2=np.arange(1500) % 3, u1=np.arange(1500) % 2,
                                 u2=np.arange(1500) % 2, u3=np.arange(1500) % 2), items, 2,
                   family={"y1": "negbin", "y2": "negbin", "u1": "binary", "u2": "binary", "u3": "binary"})
    truth = {"[c#1]": 0.3, "[y1]|c#1": 0.3, "[y1]|c#2": 1.6, "[y2]|c#1": 1.2, "[y2]|c#2": 0.1,
             "disp(y1)|c#1": 0.6, "disp(y1)|c#2": 0.3, "disp(y2)|c#1": 0.4, "disp(y2)|c#2": 0.9,
             "u1$1|c#1": -1.5, "u1$1|c#2": 1.5, "u2$1|c#1": -1.0, "u2$1|c#2": 1.2, "u3$1|c#1": 1.0, "u3$1|c#2": -1.0}
    data = mm.simulate(model, truth, seed=int(rng.integers(1e6)))[items]
    result = mm.lca(data, items, 2, family={"y1": "negbin", "y2": "negbin", "u1": "binary", "u2": "binary",
                                           "u3": "binary"}).fit(seed=1)
    table = result.parameters.set_index("name")
    if table.loc["[y1]|c#1", "estimate"] > table.loc["[y1]|c#2", "estimate"]:  # the other labelling
        pytest.fail("the classes came out in the other labelling: class 1 (the larger, [c#1] = 0.3) "
                    "should have the lower y1 rate, as generated")
    off = {k: (table.loc[k, "estimate"], table.loc[k, "se"], v) for k, v in truth.items()
           if abs(table.loc[k, "estimate"] - v) > 3 * table.loc[k, "se"]}
    assert off == {}


def _nb_item_probs(y, log_rates, alphas, eta=None):
    """f(y_ip | class k [, eta]) (n, [Q,] P, K) for log rates and dispersions (K, P)."""
    lr = log_rates.T[None]  # (1, P, K)
    if eta is None:
        return np.exp(nb_logpmf(y[:, :, None], lr, alphas.T[None]))
    return np.exp(nb_logpmf(y[:, None, :, None], lr[:, None] + eta[None, :, None, None], alphas.T[None, None]))


def test_gom_with_negative_binomial_items_equals_brute_force():
    rng = np.random.default_rng(3)
    y = rng.poisson(2.0, size=(60, 3)).astype(float)
    frame = pd.DataFrame(y, columns=["a", "b", "c"])
    model = mm.gom(frame, ["a", "b", "c"], 2, family="negbin")
    log_rates, alphas = np.array([[0.2, 0.9, 0.5], [1.3, 0.1, 1.0]]), np.array([[0.5, 1.2, 0.3], [0.8, 0.2, 2.0]])
    values = {"[c#1]": 0.3, "var(c#1)": 2.0}
    for c in range(2):
        for p, it in enumerate("abc"):
            values.update({f"[{it}]|c#{c + 1}": log_rates[c, p], f"disp({it})|c#{c + 1}": alphas[c, p]})
    reference = loglik_logistic_normal(_nb_item_probs(y, log_rates, alphas), np.array([0.3]), np.array([[2.0]]),
                                       points=80)
    assert model.loglik(values, integration="gauss-hermite", points=81) == pytest.approx(reference, abs=1e-6)


def test_two_level_random_intercept_negative_binomial_equals_brute_force():
    """A 1-class two-level NB regression with a cluster random intercept (an NB GLMM): Gauss-Hermite by hand."""
    rng = np.random.default_rng(5)
    n_clusters, size = 25, 6
    cluster = np.repeat(np.arange(n_clusters), size)
    y = rng.poisson(1.5, size=len(cluster)).astype(float)
    frame = pd.DataFrame({"y": y, "g": cluster})
    spec = ModelSpec(class_variables=(ClassVariable("c", 1),), indicators=(Indicator("y", "negbin"),),
                     cluster="g", random_effects=(RandomEffect("u", "intercept", ("y",)),))
    model = mm.from_spec(spec, frame)
    values = {"[y]|c#1": 0.4, "disp(y)|c#1": 0.6, "var(u)": 0.5}
    reference = random_intercept_rows(lambda b: nb_logpmf(y[:, None], 0.4 + b[None, :], 0.6), cluster, 0.5).sum()
    assert model.loglik(values, integration="gauss-hermite", points=61) == pytest.approx(reference, abs=1e-6)


def test_factor_mixture_with_negative_binomial_items_equals_brute_force():
    rng = np.random.default_rng(6)
    y = rng.poisson(1.5, size=(50, 3)).astype(float)
    model = mm.fma(pd.DataFrame(y, columns=["a", "b", "c"]), ["a", "b", "c"], 2, family="negbin")
    log_rates, alphas = np.array([[0.2, 0.9, 0.5], [1.0, 0.1, 0.8]]), np.array([[0.5, 1.2, 0.3], [0.8, 0.2, 2.0]])
    lam = np.array([0.6, 0.3, 0.8])
    values = {"[c#1]": -0.2, **{f"f BY {it}": lam[p] for p, it in enumerate("abc")}}
    for c in range(2):
        for p, it in enumerate("abc"):
            values.update({f"[{it}]|c#{c + 1}": log_rates[c, p], f"disp({it})|c#{c + 1}": alphas[c, p]})
    assert set(values) <= set(model.parameter_names)

    def log_f_at(z):  # (n, Q, K)
        lr = log_rates[None, :, :] + (z[:, None] * lam[None, :])[:, None, :]  # (Q, K, P)
        return nb_logpmf(y[:, None, None, :], lr[None], alphas[None, None]).sum(axis=-1)

    reference = factor_mixture_rows(log_f_at, [-0.2, 0.0]).sum()
    assert model.loglik(values, integration="gauss-hermite", points=61) == pytest.approx(reference, abs=1e-6)


def test_adding_the_family_touched_only_its_module_and_the_registry():
    """Every file of the package that names the family: its module and the registry."""
    listing = subprocess.run(["grep", "-rlE", "negbin|NegativeBinomial|NEGATIVE_BINOMIAL", "mlmix_pymc",
                              "--include=*.py"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    assert sorted(listing) == ["mlmix_pymc/families/__init__.py", "mlmix_pymc/families/negative_binomial.py"]


@pytest.mark.slow
def test_nuts_with_negative_binomial_and_censored_items():
    """Both new families under NUTS, in one model with binary items (the observed ``responses``
    span every item while each family's parameters have a dim of their own): posterior means
    sit within 3 posterior SDs of the ML estimates."""
    rng = np.random.default_rng(0)
    n = 300
    frame = pd.DataFrame({"y": rng.negative_binomial(2, 0.4, n).astype(float), "t": np.maximum(rng.normal(size=n), 0),
                          "u": (rng.uniform(size=n) < 0.5).astype(float)})
    model = mm.lca(frame, ["y", "t", "u"], 1, family={"y": "negbin", "t": "censored-below", "u": "binary"})
    ml = model.fit(se=None).parameters.set_index("name")["estimate"]
    idata = model.sample(draws=150, tune=150, chains=2, seed=1, progressbar=False)
    assert sorted(idata.observed_data.data_vars) == ["t", "u", "y"]
    for var, name in [("log_rates", "[y]|c#1"), ("dispersions", "disp(y)|c#1"), ("means", "t|c#1")]:
        draws = idata.posterior[var].values.ravel()
        assert abs(draws.mean() - ml[name]) < 3 * draws.std(), (name, draws.mean(), ml[name])


def test_mplus_export_refuses_the_new_families_by_name():
    """The Mplus writer does not spell COUNT (nb) or CENSORED yet: it names the items instead of
    writing an input that means another model."""
    frame = pd.DataFrame({"y": np.arange(30) % 4, "t": np.maximum(np.linspace(-1, 2, 30), 0), "u": np.arange(30) % 2},
                         dtype=float)
    model = mm.lca(frame, ["y", "t", "u"], 2, family={"y": "negbin", "t": "censored-below", "u": "binary"})
    with pytest.raises(mm.SpecificationError, match=r"\['censored-below', 'negbin'\].*\['t', 'y'\]"):
        model.to_mplus()


def test_a_count_above_the_models_support_is_named_with_its_column():
    frame = pd.DataFrame({"y": np.arange(60) % 5, "u": np.arange(60) % 2}, dtype=float)
    result = mm.lca(frame, ["y", "u"], 2, family={"y": "negbin", "u": "binary"}).fit(seed=1, starts=(2, 1), se=None)
    with pytest.raises(mm.DataError, match=r"item 'y' has count 9, above the largest count 4"):
        result.predict(pd.DataFrame({"y": [1.0, 9.0], "u": [0.0, 1.0]}))
