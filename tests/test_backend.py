"""The JAX backend (``fit(backend="jax")``) against independent references.

The graph is the same; only the compiler differs, so a JAX fit must reach the numpy
maximum likelihood estimate of ``reference_lca.py`` and its standard errors (the inverse of
numpy's Hessian), and two-level JAX functions (one per chunk shape) the brute-force
integrals of ``reference_twolevel.py``. The Laplace case is in ``test_laplace_gradient.py``.
"""

import numpy as np
import pandas as pd
import pytest
import reference_lca as ref
from reference_twolevel import lca_random_logit_posteriors, loglik_lca_random_logit, simulate_lca, unbalanced_clusters

import mlmix_pymc as mm
from mlmix_pymc.errors import SpecificationError

pytest.importorskip("jax")


def test_jax_fit_reaches_the_numpy_optimum_and_standard_errors(lsat):
    items = [f"item{i}" for i in range(1, 6)]
    model = mm.lca(lsat, items, n_classes=2)
    result = model.fit(seed=1, starts=(4, 2), backend="jax")
    assert model.compile(backend="jax").backend == "jax"
    y = lsat[items].to_numpy(dtype=float)
    mle = ref.polish(ref.from_result(result, items), y, 2)
    assert result.loglik == pytest.approx(ref.loglik_rows(mle, y, 2).sum(), abs=1e-6)
    np.testing.assert_allclose(ref.from_result(result, items), mle, atol=1e-4)
    # SE of the class-1 logit [c#1]: the numpy Hessian's inverse, own parameterization = ours for it
    se_numpy = np.sqrt(np.diag(np.linalg.inv(-ref.hessian(mle, y, 2))))[0]
    se_ours = result.parameters.set_index("name").loc["[c#1]", "se"]
    assert se_ours == pytest.approx(se_numpy, rel=1e-3)


def test_jax_mlr_standard_errors_equal_the_numpy_sandwich(lsat):
    """The per-row score graph under JAX (static shapes): the robust SE of [c#1] is numpy's
    H^-1 (S'S) H^-1 at the numpy optimum (invariant to the items' parameterization)."""
    items = [f"item{i}" for i in range(1, 6)]
    result = mm.lca(lsat, items, n_classes=2).fit(seed=1, starts=(4, 2), backend="jax", se="mlr")
    y = lsat[items].to_numpy(dtype=float)
    mle = ref.polish(ref.from_result(result, items), y, 2)
    s = ref.scores(mle, y, 2)
    h_inv = np.linalg.inv(-ref.hessian(mle, y, 2))
    se_numpy = np.sqrt(np.diag(h_inv @ (s.T @ s) @ h_inv))[0]
    assert result.parameters.set_index("name").loc["[c#1]", "se"] == pytest.approx(se_numpy, rel=1e-3)


def test_jax_refuses_adaptive_factor_nodes_naming_the_option():
    rng = np.random.default_rng(0)
    df = pd.DataFrame((rng.uniform(size=(200, 5)) < 0.5).astype(float), columns=list("abcde"))
    with pytest.raises(SpecificationError, match="integration='gauss-hermite'"):
        mm.fma(df, list("abcde"), 2, 1).fit(integration="adaptive", backend="jax")


def test_backend_errors_name_the_option(lsat):
    model = mm.lca(lsat, ["item1", "item2", "item3"], n_classes=2)
    with pytest.raises(SpecificationError, match="backend='numba' is not one of"):
        model.fit(backend="numba")


def test_two_level_jax_equals_bruteforce_and_c_on_unbalanced_clusters():
    """JAX compiles the two-level graph per chunk shape: unequal, shuffled clusters give the
    brute-force log-likelihood and class posteriors, and C's value and gradient (1e-8)."""
    df = unbalanced_clusters(simulate_lca(30, 10, seed=8, var_c=2.0), seed=8)
    items = [f"u{m}" for m in range(1, 5)]
    model = mm.lca(df, items=items, n_classes=2, cluster="cluster", random_intercept=True)
    values = {"[c#1]": 0.3, "var(c#1)": 2.0}
    for p, item in enumerate(items):
        values[f"{item}$1|c#1"], values[f"{item}$1|c#2"] = -1.0 + 0.3 * p, 1.2 - 0.2 * p
    theta = model.theta_from_values(values)
    jax_objective = model.compile("gauss-hermite", 60, backend="jax")
    ll, grad = jax_objective.loglik_grad(theta)
    assert ll == pytest.approx(loglik_lca_random_logit(df, items, "cluster", values, K=2, points=600), abs=1e-6)
    ll_c, grad_c = model.compile("gauss-hermite", 60).loglik_grad(theta)
    assert ll == pytest.approx(ll_c, abs=1e-8)
    np.testing.assert_allclose(grad, grad_c, rtol=1e-8, atol=1e-8)
    _, posterior, _, _ = jax_objective.class_probabilities(theta)
    np.testing.assert_allclose(posterior, lca_random_logit_posteriors(df, items, values), atol=1e-6)
    # per-cluster scores: single clusters padded to one shape, adding up to the gradient
    scores = jax_objective.scores(theta)
    np.testing.assert_allclose(scores.sum(axis=0), grad, atol=1e-8)
    assert jax_objective.functions.value_grad.n_compiled <= 1 + len(jax_objective._chunks)
