"""Independent numpy brute force for grade-of-membership likelihoods (paper eq 28-50).

Nothing here imports the library's graph code: memberships are integrated by plain
Gauss-Hermite tensor grids with many points (logistic-normal, restricted, FMA-GoM, 3PL) or
Gauss-Jacobi rules on the simplex (Dirichlet: stick-breaking product of Beta rules), and the
items' classes are summed inside the product over items.
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy import special


def gh(points: int, dim: int):
    """Tensor Gauss-Hermite rule for E over N(0, I_dim): nodes (Q, dim), weights (Q,)."""
    x, w = np.polynomial.hermite_e.hermegauss(points)
    w = w / w.sum()
    nodes = np.array(list(itertools.product(x, repeat=dim)))
    weights = np.prod(np.array(list(itertools.product(w, repeat=dim))), axis=1)
    return nodes, weights


def binary_item_probs(y: np.ndarray, thresholds: np.ndarray, eta: np.ndarray | None = None,
                      loadings: np.ndarray | None = None) -> np.ndarray:
    """P(y_ij | C_ij = k [, eta]) of binary logit items, (n, [Q,] P, K); missing y -> 1.

    ``thresholds`` (K, P): P(y = 1 | k, eta) = 1 / (1 + exp(tau_k - lambda_k eta)); ``eta``
    (Q,) factor values and ``loadings`` (K, P) add a factor axis Q after the rows.
    """
    tau = thresholds.T[None]  # (1, P, K)
    if eta is None:
        p1 = special.expit(-tau)  # (1, P, K)
        y3 = y[:, :, None]
        out = np.where(y3 == 1, p1, 1 - p1)
        return np.where(np.isnan(y3), 1.0, out)
    lin = loadings.T[None, None] * eta[None, :, None, None] - tau[:, None]  # (1, Q, P, K)
    p1 = special.expit(lin)
    y4 = y[:, None, :, None]
    return np.where(np.isnan(y4), 1.0, np.where(y4 == 1, p1, 1 - p1))


def loglik_logistic_normal(f: np.ndarray, intercepts: np.ndarray, cov: np.ndarray, points: int = 60,
                           x_logits: np.ndarray | None = None) -> float:
    """GoM with g = softmax(a + b, 0), b ~ N(0, cov) (eq 30, 34): sum_j log E prod_i sum_k g_k f_ijk.

    ``f`` (n, P, K); ``intercepts`` (K-1,); ``x_logits`` (n, K-1) adds covariate effects.
    """
    k = f.shape[2]
    nodes, w = gh(points, k - 1)
    b = nodes @ np.linalg.cholesky(np.atleast_2d(cov)).T  # (Q, K-1)
    base = np.zeros((f.shape[0], 1, k - 1)) + intercepts
    if x_logits is not None:
        base = base + x_logits[:, None, :]
    logits = np.concatenate([base + b[None], np.zeros((f.shape[0], len(w), 1))], axis=2)  # (n, Q, K)
    g = special.softmax(logits, axis=2)
    per_item = np.einsum("nqk,npk->nqp", g, f)
    return float(np.sum(np.log(np.exp(np.log(per_item).sum(axis=2)) @ w)))


def loglik_restricted(f: np.ndarray, intercepts: np.ndarray, loadings: np.ndarray, points: int = 200) -> float:
    """Restricted GoM (eq 35): logits a_c + lambda_c eta, eta ~ N(0, 1), last class 0."""
    k = f.shape[2]
    z, w = gh(points, 1)
    logits = np.concatenate([intercepts[None, :] + z * loadings[None, :], np.zeros((len(w), 1))], axis=1)
    g = special.softmax(logits, axis=1)  # (Q, K)
    per_item = np.einsum("qk,npk->nqp", g, f)
    return float(np.sum(np.log(np.exp(np.log(per_item).sum(axis=2)) @ w)))


def beta_rule(a: float, b: float, points: int):
    """Gauss-Jacobi rule for E over Beta(a, b): nodes in (0, 1), weights summing to 1."""
    x, w = special.roots_jacobi(points, b - 1.0, a - 1.0)  # weight (1 - x)^(b-1) (1 + x)^(a-1)
    return (x + 1.0) / 2.0, w / w.sum()


def loglik_dirichlet(f: np.ndarray, alpha: np.ndarray, points: int = 40) -> float:
    """GoM with g ~ Dirichlet(alpha), K = 2 or 3, by stick breaking: g_1 ~ Beta(a_1, a_2 + a_3),
    g_2 = (1 - g_1) v with v ~ Beta(a_2, a_3); the integrand is a polynomial of degree P,
    integrated exactly by rules with more than P / 2 + 1 points."""
    k = f.shape[2]
    if k == 2:
        g1, w = beta_rule(alpha[0], alpha[1], points)
        g = np.column_stack([g1, 1 - g1])
    elif k == 3:
        g1, w1 = beta_rule(alpha[0], alpha[1] + alpha[2], points)
        v, w2 = beta_rule(alpha[1], alpha[2], points)
        g1g, vg = np.meshgrid(g1, v, indexing="ij")
        g = np.column_stack([g1g.ravel(), ((1 - g1g) * vg).ravel(), ((1 - g1g) * (1 - vg)).ravel()])
        w = np.outer(w1, w2).ravel()
    else:
        raise ValueError("K = 2 or 3")
    per_item = np.einsum("qk,npk->nqp", g, f)
    return float(np.sum(np.log(np.exp(np.log(per_item).sum(axis=2)) @ w)))


def loglik_fma_gom(y: np.ndarray, thresholds: np.ndarray, loadings: np.ndarray, intercept: float, variance: float,
                   points: int = 60) -> float:
    """2-class FMA-GoM (eq 38-41): logit a + b, b ~ N(0, variance), factor eta ~ N(0, 1), both
    integrated on a Gauss-Hermite tensor grid."""
    z, w = gh(points, 1)
    eta = z[:, 0]
    f = binary_item_probs(y, thresholds, eta, loadings)  # (n, Qe, P, K)
    g1 = special.expit(intercept + np.sqrt(variance) * z[:, 0])  # (Qb,)
    g = np.column_stack([g1, 1 - g1])
    per_item = np.einsum("bk,nepk->nbep", g, f)  # (n, Qb, Qe, P)
    like = np.exp(np.log(per_item).sum(axis=3))
    return float(np.sum(np.log(np.einsum("nbe,b,e->n", like, w, w))))


def loglik_3pl(y: np.ndarray, guess: np.ndarray, a: np.ndarray, b: np.ndarray, points: int = 121) -> float:
    """3PL (eq 42): P(y = 1 | eta) = g + (1 - g) / (1 + exp(-a (eta - b))), eta ~ N(0, 1)."""
    z, w = gh(points, 1)
    p = guess[None, :] + (1 - guess[None, :]) * special.expit(a[None, :] * (z - b[None, :]))  # (Q, P)
    y3 = y[:, None, :]
    lik = np.where(np.isnan(y3), 1.0, np.where(y3 == 1, p[None], 1 - p[None]))
    return float(np.sum(np.log(np.prod(lik, axis=2) @ w)))


def simulate_gom(rng, n: int, thresholds: np.ndarray, membership: str, intercepts=None, cov=None,
                 alpha=None, loadings=None) -> np.ndarray:
    """Binary GoM data (n, P): memberships drawn per person, one class per item (eq 28).

    ``membership``: "logistic-normal" (``intercepts`` (K-1,), ``cov``), "restricted" (logits
    intercepts + loadings * eta, eta ~ N(0, 1), eq 35) or "dirichlet" (``alpha``)."""
    k, p = thresholds.shape
    if membership == "dirichlet":
        g = rng.dirichlet(alpha, size=n)
    elif membership == "restricted":
        eta = rng.normal(size=(n, 1))
        g = special.softmax(np.column_stack([intercepts + loadings * eta, np.zeros(n)]), axis=1)
    else:
        b = rng.multivariate_normal(np.zeros(k - 1), np.atleast_2d(cov), size=n)
        g = special.softmax(np.column_stack([intercepts + b, np.zeros(n)]), axis=1)
    cls = (rng.uniform(size=(n, p, 1)) > np.cumsum(g, axis=1)[:, None, :]).sum(axis=2)  # (n, P)
    cls = np.minimum(cls, k - 1)
    prob = special.expit(-thresholds[cls, np.arange(p)[None, :]])
    return (rng.uniform(size=(n, p)) < prob).astype(float)
