"""The censored-normal family (Tobit; Mplus CENSORED = y (b) / (a)), added as one module and a
registry line: the closed-form Tobit likelihood at one class, numpy brute force in the model kinds
it joins, simulation through ``mm.simulate``, recovery in a 2-class LCA.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, special, stats

import mlmix_pymc as mm
from mlmix_pymc.spec import ClassVariable, Indicator, ModelSpec, RandomEffect
from reference_gom import loglik_logistic_normal
from reference_integrals import factor_mixture_rows, random_intercept_rows
from test_simulate_components import g2_p_value

ROOT = Path(__file__).resolve().parents[1]


def tobit_logpdf(y, mean, var, point, side="below"):
    """Closed-form Tobit log density: censored values at the point, the normal density elsewhere."""
    sd = np.sqrt(var)
    censored = (y <= point) if side == "below" else (y >= point)
    tail = stats.norm.logcdf((point - mean) / sd) if side == "below" else stats.norm.logsf((point - mean) / sd)
    return np.where(censored, tail, stats.norm.logpdf(y, mean, sd))


def _tobit_data(rng, n, mean, sd, point=0.0, side="below"):
    y = rng.normal(mean, sd, size=n)
    return np.maximum(y, point) if side == "below" else np.minimum(y, point)


@pytest.mark.parametrize("side", ["below", "above"])
def test_one_class_equals_the_closed_form_tobit(side):
    rng = np.random.default_rng(2)
    y = _tobit_data(rng, 300, 0.3 if side == "below" else -0.3, 1.2, side=side)
    point = y.min() if side == "below" else y.max()
    model = mm.lca(pd.DataFrame({"y": y}), ["y"], 1, family={"y": f"censored-{side}"})
    for mean, var in [(0.3, 1.44), (-1.0, 0.5), (2.0, 4.0)]:
        expected = tobit_logpdf(y, mean, var, point, side).sum()
        assert model.loglik({"y|c#1": mean, "var(y)|c#1": var}) == pytest.approx(expected, abs=1e-8)
    result = model.fit(se=None)
    reference = optimize.minimize(lambda t: -tobit_logpdf(y, t[0], np.exp(t[1]), point, side).sum(), [0.0, 0.0],
                                  method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 4000})
    assert result.loglik == pytest.approx(-reference.fun, abs=1e-6)
    table = result.parameters.set_index("name")["estimate"]
    assert table["y|c#1"] == pytest.approx(reference.x[0], abs=1e-4)


def test_tobit_regression_with_a_covariate_equals_the_closed_form_fit():
    rng = np.random.default_rng(8)
    x = rng.normal(size=300)
    y = np.maximum(0.2 + 0.8 * x + rng.normal(size=300), 0.0)
    spec = ModelSpec(class_variables=(ClassVariable("c", 1),),
                     indicators=(Indicator("y", "censored-below", covariates=("x",)),))
    result = mm.from_spec(spec, pd.DataFrame({"y": y, "x": x})).fit(se=None)
    reference = optimize.minimize(lambda t: -tobit_logpdf(y, t[0] + t[1] * x, np.exp(t[2]), 0.0).sum(), [0.0, 0.0, 0.0],
                                  method="BFGS", options={"gtol": 1e-9})
    assert result.loglik == pytest.approx(-reference.fun, abs=1e-6)
    assert result.parameters.set_index("name").loc["y ON x|c#1", "estimate"] == pytest.approx(reference.x[1], abs=1e-4)


def test_simulate_censors_the_class_mixture_at_the_point():
    """``mm.simulate`` of a 2-class LCA with a censored item: the censored share and binned values
    against the normal mixture's closed form."""
    n = 20_000
    design = pd.DataFrame({"y": np.linspace(-1.0, 3.0, n), "u": np.arange(n) % 2.0})  # censoring point -1
    model = mm.lca(design, ["y", "u"], 2, family={"y": "censored-below", "u": "binary"})
    values = {"[c#1]": -0.3, "y|c#1": -0.5, "y|c#2": 1.5, "var(y)|c#1": 0.6, "var(y)|c#2": 1.0,
              "u$1|c#1": -1.0, "u$1|c#2": 1.0}
    drawn = mm.simulate(model, values, seed=3)["y"].to_numpy()
    assert drawn.min() == -1.0
    edges = np.array([-1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0])
    p1 = special.expit(-0.3)
    cdf = p1 * stats.norm.cdf(edges, -0.5, np.sqrt(0.6)) + (1 - p1) * stats.norm.cdf(edges, 1.5, 1.0)
    probs = np.concatenate([[cdf[0]], np.diff(cdf), [1 - cdf[-1]]])  # censored mass at -1 first
    counts = np.concatenate([[np.sum(drawn <= -1.0)], np.histogram(drawn[drawn > -1.0], bins=edges)[0],
                             [np.sum(drawn > edges[-1])]])
    assert g2_p_value(counts, np.log(probs)) > 1e-3


@pytest.mark.slow
def test_two_class_lca_recovers_the_generating_values():
    n = 1500
    items = ["y1", "y2", "u1", "u2", "u3"]
    family = {"y1": "censored-below", "y2": "censored-below", "u1": "binary", "u2": "binary", "u3": "binary"}
    design = pd.DataFrame({"y1": np.linspace(0.0, 3.0, n), "y2": np.linspace(0.0, 3.0, n),
                           **{u: np.arange(n) % 2.0 for u in ("u1", "u2", "u3")}})
    truth = {"[c#1]": 0.3, "y1|c#1": 0.2, "y1|c#2": 1.8, "y2|c#1": 1.4, "y2|c#2": 0.3, "var(y1)|c#1": 0.8,
             "var(y1)|c#2": 1.0, "var(y2)|c#1": 0.6, "var(y2)|c#2": 1.2, "u1$1|c#1": -1.5, "u1$1|c#2": 1.5,
             "u2$1|c#1": -1.0, "u2$1|c#2": 1.2, "u3$1|c#1": 1.0, "u3$1|c#2": -1.0}
    data = mm.simulate(mm.lca(design, items, 2, family=family), truth, seed=12)[items]
    assert (data["y1"] == 0.0).mean() > 0.1  # a real share of censored values
    result = mm.lca(data, items, 2, family=family).fit(seed=1)
    table = result.parameters.set_index("name")
    off = {k: (table.loc[k, "estimate"], table.loc[k, "se"], v) for k, v in truth.items()
           if abs(table.loc[k, "estimate"] - v) > 3 * table.loc[k, "se"]}
    assert off == {}


def test_gom_with_censored_items_equals_brute_force():
    rng = np.random.default_rng(4)
    y = np.maximum(rng.normal(0.5, 1.0, size=(60, 3)), 0.0)
    model = mm.gom(pd.DataFrame(y, columns=["a", "b", "c"]), ["a", "b", "c"], 2, family="censored-below")
    means, variances = np.array([[0.0, 1.0, 0.4], [1.2, 0.1, 0.9]]), np.array([[0.5, 1.2, 0.8], [1.0, 0.6, 2.0]])
    values = {"[c#1]": 0.3, "var(c#1)": 2.0}
    for c in range(2):
        for p, it in enumerate("abc"):
            values.update({f"{it}|c#{c + 1}": means[c, p], f"var({it})|c#{c + 1}": variances[c, p]})
    points = y.min(axis=0)
    f = np.exp(tobit_logpdf(y[:, :, None], means.T[None], variances.T[None], points[None, :, None]))  # (n, P, K)
    reference = loglik_logistic_normal(f, np.array([0.3]), np.array([[2.0]]), points=80)
    assert model.loglik(values, integration="gauss-hermite", points=81) == pytest.approx(reference, abs=1e-6)


def test_two_level_random_intercept_tobit_equals_brute_force():
    rng = np.random.default_rng(5)
    n_clusters, size = 25, 6
    cluster = np.repeat(np.arange(n_clusters), size)
    y = np.maximum(rng.normal(0.3, 1.0, size=len(cluster)), 0.0)
    spec = ModelSpec(class_variables=(ClassVariable("c", 1),), indicators=(Indicator("y", "censored-below"),),
                     cluster="g", random_effects=(RandomEffect("u", "intercept", ("y",)),))
    model = mm.from_spec(spec, pd.DataFrame({"y": y, "g": cluster}))
    reference = random_intercept_rows(lambda b: tobit_logpdf(y[:, None], 0.4 + b[None, :], 0.8, 0.0), cluster,
                                      0.5).sum()
    values = {"y|c#1": 0.4, "var(y)|c#1": 0.8, "var(u)": 0.5}
    assert model.loglik(values, integration="gauss-hermite", points=61) == pytest.approx(reference, abs=1e-6)


def test_factor_mixture_with_censored_items_equals_brute_force():
    rng = np.random.default_rng(6)
    y = np.maximum(rng.normal(0.4, 1.0, size=(50, 3)), 0.0)
    model = mm.fma(pd.DataFrame(y, columns=["a", "b", "c"]), ["a", "b", "c"], 2, family="censored-below")
    means, variances = np.array([[0.0, 1.0, 0.4], [1.2, 0.1, 0.9]]), np.array([[0.5, 1.2, 0.8], [1.0, 0.6, 2.0]])
    lam = np.array([0.6, 0.3, 0.8])
    values = {"[c#1]": -0.2, **{f"f BY {it}": lam[p] for p, it in enumerate("abc")}}
    for c in range(2):
        for p, it in enumerate("abc"):
            values.update({f"{it}|c#{c + 1}": means[c, p], f"var({it})|c#{c + 1}": variances[c, p]})
    assert set(values) <= set(model.parameter_names)

    def log_f_at(z):  # (n, Q, K)
        mu = means[None, :, :] + (z[:, None] * lam[None, :])[:, None, :]  # (Q, K, P)
        return tobit_logpdf(y[:, None, None, :], mu[None], variances[None, None], y.min(axis=0)).sum(axis=-1)

    reference = factor_mixture_rows(log_f_at, [-0.2, 0.0]).sum()
    assert model.loglik(values, integration="gauss-hermite", points=61) == pytest.approx(reference, abs=1e-6)


def test_adding_the_family_touched_only_its_module_and_the_registry():
    listing = subprocess.run(["grep", "-rlE", "censored-|CensoredNormal|CENSORED_", "mlmix_pymc", "--include=*.py"],
                             cwd=ROOT, capture_output=True, text=True).stdout.split()
    assert sorted(listing) == ["mlmix_pymc/families/__init__.py", "mlmix_pymc/families/censored.py"]
