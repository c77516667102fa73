"""The Laplace log-likelihood and its exact gradient (implicit differentiation of the modes).

References, both independent of the library's graph:
* a numpy Laplace approximation of the random intercept + slope logistic model (Newton on
  each cluster's b_j, closed-form Hessian), and its numpy central differences;
* the closed-form likelihood of the between-level class regression with a normal outcome
  (Model 5), where the Laplace approximation is exact (the integrand is Gaussian in u_j).
"""

import numpy as np
import pytest
from reference_twolevel import (loglik_between_class_regression, simulate_model5, simulate_ri_logistic,
                                unbalanced_clusters)

import mlmix_pymc as mm
from mlmix_pymc.engine.integrated import IntegratedObjective, central_differences

TAU, BETA = 0.5, 1.0  # y$1 = -intercept


def _numpy_laplace_per_cluster(df, tau, beta, cov):
    """log L_j ~ h(b*) + log 2pi - 1/2 log det(-H(b*)), h = sum_i log f(y_ij | b) + log N(b; 0, cov)."""
    y, x, cl = df.y.to_numpy(), df.x.to_numpy(), df.cluster.to_numpy()
    inv = np.linalg.inv(cov)
    out = []
    for j in np.unique(cl):
        yj, xj = y[cl == j], x[cl == j]
        design = np.c_[np.ones_like(xj), xj]
        b = np.zeros(2)
        for _ in range(100):
            p = 1 / (1 + np.exp(-(-tau + beta * xj + design @ b)))
            grad = design.T @ (yj - p) - inv @ b
            hess = -(design.T * (p * (1 - p))) @ design - inv
            b = b - np.linalg.solve(hess, grad)
            if np.max(np.abs(grad)) < 1e-13:
                break
        p = 1 / (1 + np.exp(-(-tau + beta * xj + design @ b)))
        hess = -(design.T * (p * (1 - p))) @ design - inv
        h = (np.sum(yj * np.log(p) + (1 - yj) * np.log(1 - p)) - 0.5 * b @ inv @ b
             - 0.5 * np.log(np.linalg.det(2 * np.pi * cov)))
        out.append(h + np.log(2 * np.pi) - 0.5 * np.log(np.linalg.det(-hess)))
    return np.array(out)


def _numpy_laplace(df, params):
    tau, beta, vu, c, vs = params
    return _numpy_laplace_per_cluster(df, tau, beta, np.array([[vu, c], [c, vs]])).sum()


def test_two_dimensional_laplace_value_gradient_and_scores_equal_numpy():
    df = simulate_ri_logistic(40, 8, -TAU, BETA, 1.0, seed=2)
    model = mm.regression_mixture(df, "y", "x", 1, cluster="cluster", random=["intercept", "slope"],
                                  family="binary")
    params = np.array([TAU, BETA, 1.0, 0.2, 0.5])
    names = ["y$1|c#1", "y ON x|c#1", "var(u)", "cov(s,u)", "var(s)"]
    theta = model.theta_from_values(dict(zip(names, params)))
    objective = model.compile("laplace", 1)
    ll, grad = objective.loglik_grad(theta)
    assert ll == pytest.approx(_numpy_laplace(df, params), abs=1e-8)

    # numpy central differences of numpy's Laplace, as a function of the free vector theta
    reference = central_differences(lambda t: _numpy_laplace(df, _natural(model, t, names)), theta, 1e-6)
    np.testing.assert_allclose(grad, reference, rtol=1e-5, atol=1e-5)
    scores = objective.scores(theta)  # exact per-cluster gradients: they add up to the gradient
    assert scores.shape == (40, len(theta))
    np.testing.assert_allclose(scores.sum(axis=0), grad, atol=1e-9)
    per_cluster = central_differences(
        lambda t: _numpy_laplace_per_cluster(df, *_natural(model, t, names)[:2],
                                             _cov(_natural(model, t, names)))[:3], theta, 1e-6).T
    np.testing.assert_allclose(scores[:3], per_cluster, rtol=1e-5, atol=1e-6)


def test_jax_laplace_on_unequal_clusters_equals_numpy_with_its_scores():
    """backend="jax": one XLA function per chunk shape, single clusters padded to one shape."""
    pytest.importorskip("jax")
    df = unbalanced_clusters(simulate_ri_logistic(30, 8, -TAU, BETA, 1.0, seed=3), seed=3)
    model = mm.regression_mixture(df, "y", "x", 1, cluster="cluster", random=["intercept", "slope"],
                                  family="binary")
    params = np.array([TAU, BETA, 1.0, 0.2, 0.5])
    names = ["y$1|c#1", "y ON x|c#1", "var(u)", "cov(s,u)", "var(s)"]
    theta = model.theta_from_values(dict(zip(names, params)))
    objective = model.compile("laplace", 1, backend="jax")
    ll, grad = objective.loglik_grad(theta)
    assert ll == pytest.approx(_numpy_laplace(df, params), abs=1e-8)
    reference = central_differences(lambda t: _numpy_laplace(df, _natural(model, t, names)), theta, 1e-6)
    np.testing.assert_allclose(grad, reference, rtol=1e-5, atol=1e-5)
    scores = objective.scores(theta)
    np.testing.assert_allclose(scores.sum(axis=0), grad, atol=1e-9)
    sizes = df.groupby("cluster").size().to_numpy()  # clusters in code order = sorted labels
    first, smallest, largest = 0, int(np.argmin(sizes)), int(np.argmax(sizes))
    per_cluster = central_differences(
        lambda t: _numpy_laplace_per_cluster(df, *_natural(model, t, names)[:2],
                                             _cov(_natural(model, t, names)))[[first, smallest, largest]], theta,
        1e-6).T
    np.testing.assert_allclose(scores[[first, smallest, largest]], per_cluster, rtol=1e-5, atol=1e-6)


def _values(model, theta):
    """Parameter name -> natural value at the free vector ``theta``."""
    layout = model.structure.layout
    return dict(zip(layout.names, layout.natural(theta)))


def _natural(model, theta, names):
    values = _values(model, theta)
    return np.array([values[n] for n in names])


def _cov(params):
    return np.array([[params[2], params[3]], [params[3], params[4]]])


def test_between_class_laplace_is_exact_for_normal_outcomes_and_its_gradient_is_exact():
    """Model 5 (between-level class D, random intercept, normal y): Laplace = the exact likelihood."""
    df = simulate_model5(30, 6, seed=3, var_u=0.3)
    model = mm.regression_mixture(df, "y", "x", 2, cluster="cluster", random=["intercept"],
                                  class_level="between")
    values = {"[cb#1]": 0.2, "y|cb#1": 1.0, "y|cb#2": 0.0, "y ON x|cb#1": 0.2, "y ON x|cb#2": 0.8,
              "var(y)|cb#1": 1.0, "var(y)|cb#2": 1.0, "var(u)": 0.3}
    values = {n: v for n, v in values.items() if n in model.parameter_names}
    theta = model.theta_from_values(values)
    objective = model.compile("laplace", 1)
    ll, grad = objective.loglik_grad(theta)
    natural = _values(model, theta)
    assert ll == pytest.approx(loglik_between_class_regression(df, "y", "x", "cluster", natural, method="closed"),
                               abs=1e-8)
    closed = central_differences(lambda t: loglik_between_class_regression(
        df, "y", "x", "cluster", _values(model, t), method="closed"), theta, 1e-6)
    np.testing.assert_allclose(grad, closed, rtol=1e-5, atol=1e-5)
    # and the former route, central differences of Laplace evaluations, agrees
    IntegratedObjective.laplace_gradient = "central"
    try:
        _, central = objective.loglik_grad(theta)
    finally:
        IntegratedObjective.laplace_gradient = "exact"
    np.testing.assert_allclose(grad, central, rtol=1e-4, atol=1e-4)
