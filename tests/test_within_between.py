"""Within and between class variables in one model (section 6, eq 22-26), class-specific
between models (eq 18), and chunked evaluation, against independent numpy computations."""

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, log_softmax, logsumexp

import mlmix_pymc as mm
from mlmix_pymc.engine import integrated
from mlmix_pymc.spec import ClassVariable, Indicator, ModelSpec, RandomEffect


def _data(seed=1, n_clusters=30, size=5):
    rng = np.random.default_rng(seed)
    cluster = np.repeat(np.arange(n_clusters), size)
    w = rng.normal(size=n_clusters)
    df = pd.DataFrame({"school": cluster, "w": w[cluster]})
    for p in range(4):
        df[f"u{p + 1}"] = (rng.random(len(cluster)) < 0.3 + 0.4 * (rng.random(n_clusters)[cluster] > 0.5)).astype(float)
    df["y"] = rng.normal(size=len(cluster)) + rng.normal(size=n_clusters)[cluster]
    return df


def test_within_class_depending_on_between_class_equals_enumeration():
    """P(D_j) from a cluster covariate (eq 26), P(C_ij | D_j) (eq 24), binary items of C, y of D."""
    df = _data()
    spec = ModelSpec(
        class_variables=(ClassVariable("cb", 2, level="between", covariates=("w",)),
                         ClassVariable("c", 2, depends_on="cb")),
        indicators=tuple(Indicator(f"u{p}", class_variable="c") for p in range(1, 5))
        + (Indicator("y", "normal", class_variable="cb"),),
        cluster="school")
    model = mm.from_spec(spec, df)
    v = {"[cb#1]": 0.3, "cb#1 ON w": 0.8, "[c#1]": -0.5, "c#1 ON cb#1": 1.7, "y|cb#1": 0.5, "y|cb#2": -0.4,
         "var(y)|cb#1": 1.3, "var(y)|cb#2": 0.9}
    for p in range(1, 5):
        v[f"u{p}$1|c#1"], v[f"u{p}$1|c#2"] = -1.0 + 0.2 * p, 1.0 - 0.1 * p
    total = 0.0
    for _, rows in df.groupby("school"):
        w = rows.w.iloc[0]
        log_pd = log_softmax([v["[cb#1]"] + v["cb#1 ON w"] * w, 0.0])
        terms = []
        for d in range(2):
            log_pc = log_softmax([v["[c#1]"] + (v["c#1 ON cb#1"] if d == 0 else 0.0), 0.0])
            per_row = []
            for _, r in rows.iterrows():
                lf = []
                for k in range(2):
                    p1 = expit(-np.array([v[f"u{p}$1|c#{k + 1}"] for p in range(1, 5)]))
                    u = r[[f"u{p}" for p in range(1, 5)]].to_numpy(dtype=float)
                    lf.append(log_pc[k] + np.sum(u * np.log(p1) + (1 - u) * np.log1p(-p1)))
                mean, var = v[f"y|cb#{d + 1}"], v[f"var(y)|cb#{d + 1}"]
                ly = -0.5 * (np.log(2 * np.pi * var) + (r.y - mean) ** 2 / var)
                per_row.append(logsumexp(lf) + ly)
            terms.append(log_pd[d] + np.sum(per_row))
        total += logsumexp(terms)
    assert model.loglik(v) == pytest.approx(total, abs=1e-8)


def test_class_specific_random_intercept_variance_equals_quadrature():
    """random_by_class: var(u) differs by D (eq 18); numpy 1-D Gauss-Hermite with 150 nodes."""
    df = _data(seed=2)
    spec = ModelSpec(
        class_variables=(ClassVariable("cb", 2, level="between"),),
        indicators=(Indicator("y", "normal", class_variable="cb", variance="class-equal"),),
        random_effects=(RandomEffect("u", "intercept", ("y",)),), cluster="school", random_by_class=True)
    model = mm.from_spec(spec, df)
    assert {"var(u)|cb#1", "var(u)|cb#2"} <= set(model.parameter_names)
    v = {"[cb#1]": -0.2, "y|cb#1": 0.4, "y|cb#2": -0.3, "var(y)|cb#1": 1.1, "var(y)|cb#2": 1.1,
         "var(u)|cb#1": 0.3, "var(u)|cb#2": 1.6}
    x, wts = np.polynomial.hermite.hermgauss(150)
    total = 0.0
    for _, rows in df.groupby("school"):
        terms = []
        for d in range(2):
            u = np.sqrt(2 * v[f"var(u)|cb#{d + 1}"]) * x
            resid = rows.y.to_numpy()[:, None] - v[f"y|cb#{d + 1}"] - u[None, :]
            ll = (-0.5 * (np.log(2 * np.pi * 1.1) + resid**2 / 1.1)).sum(axis=0)
            terms.append(log_softmax([v["[cb#1]"], 0.0])[d] + logsumexp(ll, b=wts / np.sqrt(np.pi)))
        total += logsumexp(terms)
    assert model.loglik(v, "adaptive", 5) == pytest.approx(total, abs=1e-8)


def test_chunked_evaluation_equals_one_chunk(monkeypatch):
    df = _data(seed=3)
    model = mm.lca(df, [f"u{p}" for p in range(1, 5)], 2, cluster="school", random_intercept=True)
    v = {"[c#1]": 0.2, "var(c#1)": 1.5}
    for p in range(1, 5):
        v[f"u{p}$1|c#1"], v[f"u{p}$1|c#2"] = -1.0, 1.0 + 0.1 * p
    theta = model.theta_from_values(v)
    whole = model.compile(integration="gauss-hermite", points=15).loglik_grad(theta)
    monkeypatch.setattr(integrated, "MAX_CHUNK_CELLS", 300)  # a few clusters per chunk
    compiled = integrated.IntegratedObjective(model.structure, "gauss-hermite", 15)
    assert len(compiled._chunks) > 5
    parts = compiled.loglik_grad(theta)
    assert parts[0] == pytest.approx(whole[0], abs=1e-9)
    np.testing.assert_allclose(parts[1], whole[1], atol=1e-8)
