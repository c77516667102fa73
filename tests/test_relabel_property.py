"""Relabelling classes leaves the log-likelihood unchanged, for every kind of spec the tests use.

Every class-specific parameter carries its class axis (design guide section 4), so one
permutation (``estimate/relabel.py``, also used by the Bayesian alignment) must map a
parameter vector to an equivalent one. The corpus covers each model family of the test
suite: LCA / LPA / ordinal / covariates, LTA (joint classes, transitions), count and
nominal items, factor mixtures (class-specific loadings and variances), two-level models
with random intercepts, random class-logit intercepts, between classes with class-specific
between models (random_by_class, eq 18) and C ~ D (eq 24).
"""

import itertools

import numpy as np
import pandas as pd
import pytest

import mlmix_pymc as mm
from mlmix_pymc.estimate.relabel import permute_classes
from mlmix_pymc.spec import ClassVariable, Factor, Indicator, ModelSpec, RandomEffect


def _frame(seed=0, n_clusters=12, size=5):
    rng = np.random.default_rng(seed)
    n = n_clusters * size
    df = pd.DataFrame({"school": np.repeat(np.arange(n_clusters), size), "x": rng.normal(size=n)})
    df["w"] = rng.normal(size=n_clusters)[df["school"]]
    for p in range(1, 6):
        df[f"u{p}"] = (rng.random(n) < 0.3 + 0.1 * p).astype(float)
    df["o1"] = rng.integers(0, 3, n).astype(float)
    df["y1"], df["y2"] = rng.normal(size=n), rng.normal(size=n)
    df["k1"], df["k2"] = rng.poisson(2.0, n).astype(float), rng.poisson(1.0, n).astype(float)
    df["n1"] = rng.choice(["a", "b", "c"], n)
    return df


U = [f"u{p}" for p in range(1, 6)]


def _corpus():
    df = _frame()
    yield "lca", mm.lca(df, U, 3)
    yield "lca covariate probit", mm.lca(df, U, 2, covariates=["x"], link="probit")
    yield "lpa + ordinal", mm.lca(df, ["y1", "y2", "o1"], 3, family={"y1": "normal", "y2": "normal", "o1": "ordinal"})
    yield "lta", mm.lta(df, [U[:2], U[2:4]], 2, covariates=["x"], time_invariant=False)
    yield "lta invariant", mm.lta(df, [U[:2], U[2:4]], 2)
    yield "poisson + nominal", mm.lca(df, ["k1", "k2", "n1"], 3,
                                      family={"k1": "poisson", "k2": "poisson", "n1": "nominal"})
    yield "fma class-specific", mm.fma(df, U, 2, loadings="class-specific")
    yield "fma variances", mm.fma(df, U, 3, factor_variance="class-specific")
    yield "fma means", mm.fma(df, U + ["y1"], 3, factor_mean="class-specific", factor_variance="class-specific",
                              family={**{u: "binary" for u in U}, "y1": "normal"})
    yield "two-level random logit", mm.lca(df, U, 2, cluster="school", random_intercept=True)
    yield "regression mixture", mm.regression_mixture(df, "y1", "x", 2, cluster="school", random=["intercept"])
    spec = ModelSpec(
        class_variables=(ClassVariable("cb", 2, level="between", covariates=("w",)),
                         ClassVariable("c", 2, depends_on="cb")),
        indicators=tuple(Indicator(u, class_variable="c") for u in U[:3])
        + (Indicator("y1", "normal", class_variable="cb", variance="class-specific"),),
        random_effects=(RandomEffect("u", "intercept", ("y1",)),), cluster="school", random_by_class=True)
    yield "within + between, random_by_class", mm.from_spec(spec, df)
    spec = ModelSpec(
        class_variables=(ClassVariable("cb", 2, level="between"),),
        indicators=(Indicator("y1", "normal", class_variable="cb", covariates=("x",)),),
        random_effects=(RandomEffect("u", "intercept", ("y1",)), RandomEffect("s", "slope", ("y1",), covariate="x",
                                                                               on=("u", "w"))),
        cluster="school", random_by_class=True)
    yield "between regressions by class", mm.from_spec(spec, df)
    spec = ModelSpec(class_variables=(ClassVariable("c", 2),), indicators=tuple(Indicator(u) for u in U),
                     factors=(Factor("f", tuple(U), "class-specific"),), cluster="school",
                     random_effects=(RandomEffect("v", "intercept", tuple(U)),))
    yield "fma two-level", mm.from_spec(spec, df)
    df["c1"], df["t1"] = df["k1"], np.maximum(df["y1"], -0.5)
    yield "negbin + censored", mm.lca(df, ["c1", "t1", "u1"], 3,
                                      family={"c1": "negbin", "t1": "censored-below", "u1": "binary"})
    yield "gom logistic-normal", mm.gom(df, U, 3)
    yield "gom restricted", mm.gom(df, U, 3, membership="restricted")
    yield "gom dirichlet", mm.gom(df, U, 3, membership="dirichlet")
    yield "gom covariate", mm.gom(df, U, 2, covariates=["x"])
    yield "fma-gom", mm.gom(df, U, 2, n_factors=1, loadings="class-specific")


CORPUS = list(_corpus())


@pytest.mark.parametrize("name,model", CORPUS, ids=[c[0] for c in CORPUS])
def test_relabelling_leaves_loglik_unchanged(name, model):
    structure = model.structure
    rng = np.random.default_rng(1)
    theta = rng.normal(0, 0.4, model.n_free)
    phi = structure.layout.natural(theta)
    base = model.loglik(theta, points=9, factor_points=9) if structure.is_two_level else model.loglik(theta, points=15)
    variables = [cv for cv in structure.class_vars + ((structure.between,) if structure.between else ())
                 if cv.n_classes > 1]
    tied = {name: group for group in model.spec.constraints.same_measurement for name in group}
    checked = 0
    for cv in variables:
        for perm in itertools.permutations(range(cv.n_classes)):
            if perm == tuple(range(cv.n_classes)):
                continue
            # class variables sharing measurement are relabelled together (as relabel.py does)
            moved = permute_classes(structure, phi, {v: np.array(perm) for v in tied.get(cv.name, (cv.name,))})
            new_theta = structure.layout.theta_from_natural(moved)
            if structure.is_two_level:
                value = model.loglik(new_theta, points=9, factor_points=9)
            else:
                value = model.loglik(new_theta, points=15)
            assert value == pytest.approx(base, abs=1e-7 * max(1.0, abs(base))), (cv.name, perm)
            checked += 1
    assert checked > 0
