"""Quadrature rules in mlmix_pymc.integration, each checked against a closed form."""

import math
import warnings

import numpy as np
import pytest
from scipy.stats import multivariate_normal, norm

from mlmix_pymc.integration import (
    QuadratureRule, gauss_hermite, make_rule, quasi_monte_carlo, shift_scale, trapezoid,
)


def expect(rule, g):
    return float(np.sum(np.exp(rule.log_weights) * g(rule.nodes)))


@pytest.mark.parametrize("method,dim,points", [
    ("gauss-hermite", 1, 1), ("gauss-hermite", 1, 10), ("gauss-hermite", 3, 8), ("gauss-hermite", 2, 60),
    ("trapezoid", 1, 1), ("trapezoid", 1, 41), ("trapezoid", 2, 15), ("qmc", 5, 4096), ("qmc", 3, 1000),
])
def test_weights_sum_to_one_and_shapes(method, dim, points):
    rule = make_rule(method, dim, points)
    assert isinstance(rule, QuadratureRule) and rule.method == method
    assert rule.dim == dim
    assert rule.n_points == (points if method == "qmc" else points ** dim)
    assert rule.nodes.shape == (rule.n_points, dim) and rule.log_weights.shape == (rule.n_points,)
    assert math.isclose(np.exp(rule.log_weights).sum(), 1.0, rel_tol=1e-12)
    assert np.all(np.isfinite(rule.nodes)) and not rule.nodes.flags.writeable


def test_gauss_hermite_moments():
    rule = gauss_hermite(1, 10)
    assert abs(expect(rule, lambda z: z[:, 0] ** 2) - 1.0) < 1e-10
    assert abs(expect(rule, lambda z: z[:, 0] ** 4) - 3.0) < 1e-10
    assert abs(expect(rule, lambda z: z[:, 0] ** 3)) < 1e-10
    rule2 = gauss_hermite(2, 15)
    a = np.array([0.7, 0.7])
    assert abs(expect(rule2, lambda z: np.exp(z @ a)) - math.exp(a @ a / 2)) < 1e-8
    assert abs(expect(rule2, lambda z: np.exp(0.7 * z[:, 0])) - math.exp(0.7 ** 2 / 2)) < 1e-8
    assert abs(expect(rule2, lambda z: z[:, 0] ** 2 * z[:, 1] ** 2) - 1.0) < 1e-10


def test_trapezoid_mplus_default():
    rule = trapezoid(1, 41)
    assert rule.nodes[0, 0] == -5.0 and rule.nodes[-1, 0] == 5.0
    assert abs(expect(rule, lambda z: np.exp(0.5 * z[:, 0])) - math.exp(0.125)) < 1e-4
    assert abs(expect(rule, lambda z: z[:, 0] ** 2) - 1.0) < 1e-3
    rule2 = trapezoid(2, 21, limit=4.0)
    assert abs(expect(rule2, lambda z: np.exp(0.3 * z[:, 0] - 0.2 * z[:, 1])) - math.exp(0.13 / 2)) < 1e-3


def test_qmc_moments_and_reproducibility():
    rule = quasi_monte_carlo(5, 4096, seed=3)
    assert abs(expect(rule, lambda z: np.sum(z ** 2, axis=1)) - 5.0) < 0.05
    again = make_rule("qmc", 5, 4096, seed=3)
    np.testing.assert_array_equal(rule.nodes, again.nodes)
    assert not np.array_equal(rule.nodes, quasi_monte_carlo(5, 4096, seed=4).nodes)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert quasi_monte_carlo(2, 1000).n_points == 1000  # not a power of 2: no scipy warning


def test_shift_scale_identity_is_base_rule():
    rule = gauss_hermite(2, 5)
    nodes, logw = shift_scale(rule, np.zeros((3, 2)), np.tile(np.eye(2), (3, 1, 1)))
    assert nodes.shape == (3, 25, 2) and logw.shape == (3, 25)
    np.testing.assert_allclose(nodes[1], rule.nodes)
    np.testing.assert_allclose(logw[2], rule.log_weights, atol=1e-12)


def test_adaptive_gauss_hermite_1d_peaked_likelihood():
    # h(b) = N(y=3 | 2b, 0.1^2); with b ~ N(0, 1): int h phi db = N(3 | 0, 4 + 0.01).
    y, lam, sd = 3.0, 2.0, 0.1
    exact = norm.pdf(y, 0.0, math.sqrt(lam ** 2 + sd ** 2))
    h = lambda b: norm.pdf(y, lam * b[..., 0], sd)  # noqa: E731
    rule = gauss_hermite(1, 7)
    post_var = 1.0 / (1.0 + lam ** 2 / sd ** 2)
    post_mean = post_var * lam * y / sd ** 2  # 1.496...
    for mean, scale in [(post_mean, math.sqrt(post_var)), (1.5, 0.05), (1.49, 0.055)]:
        nodes, logw = shift_scale(rule, [[mean]], [[[scale]]])
        approx = np.sum(np.exp(logw) * h(nodes), axis=1)[0]
        assert abs(approx / exact - 1.0) < 1e-6
    plain = expect(rule, h)
    assert abs(plain / exact - 1.0) > 0.10  # non-adaptive 7-point GH misses the peak


def test_adaptive_gauss_hermite_2d_correlated():
    # h(b) = N(y | A b + c, S), b ~ N(0, I_2):  int h phi db = N(y | c, A A' + S).
    A = np.array([[1.5, 0.4], [-0.6, 2.0]])
    c = np.array([0.2, -0.1])
    S = np.array([[0.09, 0.05], [0.05, 0.16]])
    ys = np.array([[1.0, 2.0], [-2.0, 0.5], [0.3, -3.0]])
    exact = multivariate_normal(c, A @ A.T + S).pdf(ys)
    Sinv = np.linalg.inv(S)
    post_cov = np.linalg.inv(np.eye(2) + A.T @ Sinv @ A)
    means = (post_cov @ A.T @ Sinv @ (ys - c).T).T
    chol = np.tile(np.linalg.cholesky(post_cov), (len(ys), 1, 1))

    def integrate(rule, mean, L):
        nodes, logw = shift_scale(rule, mean, L)
        resid = ys[:, None, :] - nodes @ A.T - c
        logh = -0.5 * np.einsum("jqa,ab,jqb->jq", resid, Sinv, resid) - 0.5 * np.log(np.linalg.det(2 * np.pi * S))
        return np.exp(logw + logh).sum(axis=1)

    np.testing.assert_allclose(integrate(gauss_hermite(2, 3), means, chol), exact, rtol=1e-8)
    # mode and scale slightly off: 10-point adaptive GH still accurate to 1e-8
    off_mean, off_chol = means + 0.02, chol * 1.08
    np.testing.assert_allclose(integrate(gauss_hermite(2, 10), off_mean, off_chol), exact, rtol=1e-8)


@pytest.mark.parametrize("kwargs,needle", [
    (dict(method="newton-cotes", dim=1, points=5), "method='newton-cotes'"),
    (dict(method="trapezoid", dim=0, points=5), "dim=0"),
    (dict(method="gauss-hermite", dim=2, points=0), "points=0"),
    (dict(method="qmc", dim=2, points=2.5), "points=2.5"),
])
def test_invalid_options_raise(kwargs, needle):
    with pytest.raises(ValueError) as info:
        make_rule(**kwargs)
    msg = str(info.value)
    assert needle in msg and "'gauss-hermite'" in msg and "'trapezoid'" in msg and "'qmc'" in msg


def test_tensor_size_limits():
    with pytest.raises(ValueError, match="points=30"):
        make_rule("gauss-hermite", 5, 30)  # 24.3 million nodes
    with pytest.raises(ValueError, match="limit"):
        trapezoid(1, 5, limit=-1.0)
    with pytest.warns(UserWarning, match="nodes"):
        rule = make_rule("trapezoid", 2, 1001)
    assert rule.n_points == 1001 ** 2
    with pytest.raises(ValueError, match="shape"):
        shift_scale(gauss_hermite(2, 3), np.zeros((2, 2)), np.zeros((3, 2, 2)))
