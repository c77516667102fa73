"""Numpy brute-force integrals shared by the family tests: a cluster random intercept and a
one-factor mixture, each integrated by a Gauss-Hermite rule with many points (``reference_gom.gh``).
Nothing here imports the library."""

from __future__ import annotations

import numpy as np
from scipy import special

from reference_gom import gh


def random_intercept_rows(log_density_at, cluster: np.ndarray, variance: float, points: int = 80) -> np.ndarray:
    """Per cluster log Integral prod_{i in j} f(y_i | b) N(b; 0, variance) db, (J,).

    ``log_density_at(b)`` maps the nodes b (Q,) to the rows' log densities (n, Q)."""
    z, w = gh(points, 1)
    per_node = log_density_at(np.sqrt(variance) * z[:, 0])  # (n, Q)
    by_cluster = np.vstack([per_node[cluster == j].sum(axis=0) for j in np.unique(cluster)])  # (J, Q)
    return special.logsumexp(by_cluster + np.log(w)[None], axis=1)


def factor_mixture_rows(log_f_at, class_logits, points: int = 80) -> np.ndarray:
    """Per row log sum_k P(k) Integral f(y_i | k, eta) N(eta; 0, 1) d eta, (n,) (one factor, eq 36).

    ``log_f_at(z)`` maps the nodes z (Q,) to log f(y_i | k, z_q) summed over items, (n, Q, K)."""
    z, w = gh(points, 1)
    probs = special.softmax(np.asarray(class_logits, dtype=float))
    return np.log(np.einsum("nqk,q,k->n", np.exp(log_f_at(z[:, 0])), w, probs))
