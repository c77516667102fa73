"""Where the integration nodes of the cluster random effects go (the paper's section 10).

Pure functions of arrays: the objective (``integrated.py``) calls them with its compiled
graph's outputs and keeps the nodes they return.

* fixed rules (Gauss-Hermite, trapezoid, QMC): the same standard-normal nodes for every
  cluster and between class;
* adaptive Gauss-Hermite: nodes centred and scaled per cluster (and between class) by the
  posterior mean and Cholesky factor of the posterior covariance of the random effects,
  computed from the quadrature itself and iterated to a fixed point (Rabe-Hesketh,
  Skrondal & Pickles 2005), starting from a fine fixed grid so that the nodes depend on
  theta alone;
* Laplace: one node at each cluster's posterior mode (modified Newton), scaled by the
  inverse curvature.
"""

from __future__ import annotations

import numpy as np
from scipy import special

from ..integration import QuadratureRule, log_std_normal, make_rule, shift_scale


def fixed_nodes(rule: QuadratureRule, n_between: int, n_clusters: int) -> tuple[np.ndarray, np.ndarray]:
    """The rule's nodes for every (between class, cluster): (M, J, Q, dim) and log weights
    without the N(0, I) density, (M, J, Q)."""
    z = rule.nodes
    logq = rule.log_weights - log_std_normal(z)
    shape = (n_between, n_clusters)
    return np.broadcast_to(z, shape + z.shape).copy(), np.broadcast_to(logq, shape + logq.shape).copy()


def start_grid(dim: int) -> QuadratureRule:
    """A fine fixed grid (about 20 points per dimension, at most ~125 nodes) to start adapting from."""
    per_dim = max(3, int(round(min(125, 20 ** dim) ** (1 / dim))))
    return make_rule("gauss-hermite", dim, per_dim)


def posterior_moments(node_terms: np.ndarray, nodes: np.ndarray):
    """Posterior mean (M, J, dim) and Cholesky factor of the posterior covariance per (d, j)."""
    if not np.all(np.isfinite(node_terms)):
        raise FloatingPointError("non-finite integrand at the quadrature nodes")
    dim = nodes.shape[-1]
    w = np.exp(node_terms - special.logsumexp(node_terms, axis=-1, keepdims=True))  # (M, J, Q)
    mean = np.einsum("mjq,mjqa->mja", w, nodes)
    centred = nodes - mean[:, :, None, :]
    cov = np.einsum("mjq,mjqa,mjqb->mjab", w, centred, centred) + 1e-12 * np.eye(dim)
    return mean, np.linalg.cholesky(cov)


def adapted_nodes(rule: QuadratureRule, mean: np.ndarray, chol: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rule moved to mean + chol z per (d, j) (``integration.shift_scale``)."""
    n_between, n_clusters, dim = mean.shape
    nodes = np.empty((n_between, n_clusters, rule.n_points, dim))
    logq = np.empty((n_between, n_clusters, rule.n_points))
    for d in range(n_between):
        nodes[d], logw = shift_scale(rule, mean[d], chol[d])
        logq[d] = logw - log_std_normal(nodes[d])
    return nodes, logq


def adaptive(node_terms_at, rule: QuadratureRule, n_between: int, n_clusters: int, max_rounds: int = 30,
             tol: float = 1e-6):
    """Adaptive Gauss-Hermite nodes at theta: ``node_terms_at(nodes, logq)`` evaluates the log
    integrand (M, J, Q) there. Returns (nodes, logq, mean, chol)."""
    grid = start_grid(rule.dim)
    z, logq = fixed_nodes(grid, n_between, n_clusters)
    mean, chol = posterior_moments(node_terms_at(z, logq), z)
    nodes, logq = adapted_nodes(rule, mean, chol)
    for _ in range(max_rounds):
        new_mean, new_chol = posterior_moments(node_terms_at(nodes, logq), nodes)
        change = max(np.max(np.abs(new_mean - mean)), np.max(np.abs(new_chol - chol)))
        mean, chol = new_mean, new_chol
        nodes, logq = adapted_nodes(rule, mean, chol)
        if change < tol:
            break
    return nodes, logq, mean, chol


def laplace(derivatives_at, start: np.ndarray, max_iter: int = 100):
    """Posterior modes per (d, j) by modified Newton and the inverse-curvature Cholesky factor.

    ``derivatives_at(z)`` gives the log integrand, its gradient and Hessian at one node per
    (d, j): (M, J), (M, J, dim), (M, J, dim, dim). Returns (mode, chol).
    """
    z = start.copy()
    value, grad, hess = derivatives_at(z)
    if not np.all(np.isfinite(value)):  # a warm start from far-away parameters: restart at 0
        z = np.zeros_like(z)
        value, grad, hess = derivatives_at(z)
    for _ in range(max_iter):
        # modified Newton: the curvature's eigenvalues are made positive, so every step is an
        # ascent direction even where the log integrand is not concave (far from the mode)
        eigval, eigvec = np.linalg.eigh(-hess)
        eigval = np.maximum(np.abs(eigval), 1e-8 * np.maximum(1.0, np.abs(eigval).max()))
        coords = np.einsum("...ba,...b->...a", eigvec, grad) / eigval
        step = np.einsum("...ab,...b->...a", eigvec, coords)
        new_z = z + step
        new_value, new_grad, new_hess = derivatives_at(new_z)
        worse = ~(new_value >= value - 1e-12)
        halvings = 0
        while worse.any() and halvings < 30:
            step[worse] /= 2
            new_z = z + step
            new_value, new_grad, new_hess = derivatives_at(new_z)
            worse = ~(new_value >= value - 1e-12)
            halvings += 1
        z, value, grad, hess = new_z, new_value, new_grad, new_hess
        if np.max(np.abs(grad)) < 1e-9:
            break
    eig = np.linalg.eigvalsh(-hess)
    if not np.all(eig > 0):
        raise np.linalg.LinAlgError("the curvature at a cluster's posterior mode is not negative definite")
    return z, np.linalg.cholesky(np.linalg.inv(-hess))
