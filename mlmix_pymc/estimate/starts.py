"""Random starting values.

Each random start draws a random partition of the rows for every class variable
(every row joins the nearest of K randomly chosen rows, on its items), then takes the
class-specific item statistics of that partition as starting values: smoothed category
proportions -> thresholds, class means and variances, class sizes -> logits. Slopes and
transition effects start at 0. This gives well-spread, data-informed starts, playing the
role of the perturbed starting values of Mplus's STARTS option.
"""

from __future__ import annotations

import numpy as np
from scipy import special, stats

from ..graph.structure import GraphStructure


def inverse_link(p: np.ndarray, link: str) -> np.ndarray:
    """F^{-1}(p) for the logit or probit link."""
    return special.logit(p) if link == "logit" else stats.norm.ppf(p)


def partition_start(structure: GraphStructure, rng: np.random.Generator | None) -> np.ndarray:
    """Natural parameters ``phi`` of one start; ``rng=None`` gives the deterministic start."""
    layout = structure.layout
    phi = layout.natural(np.zeros(layout.n_free)).copy()
    between = (structure.between,) if structure.between is not None else ()
    for cv in structure.class_vars + between:
        groups = [g for g in structure.groups if g.class_var == cv.name]
        if cv.level == "between":  # D (eq 16): partition whole clusters
            weights = _cluster_partition(groups, cv.n_classes, rng, structure.cluster_codes)
        else:
            weights = _random_partition(groups, cv.n_classes, rng, structure.pattern_counts)
        sizes = weights.sum(axis=0) + 1.0
        phi[layout.blocks[f"intercept:{cv.name}"].index] = np.clip(np.log(sizes / sizes[-1]), -5, 5)
        for g in groups:
            if g.family == "categorical":
                m = g.n_categories
                counts = np.einsum("nk,nd->kd", weights, g.data).reshape(cv.n_classes, len(g.items), m) + 1.0
                cum = np.cumsum(counts / counts.sum(axis=-1, keepdims=True), axis=-1)[..., :-1]
                phi[layout.blocks[g.keys[0]].index] = inverse_link(np.clip(cum, 1e-4, 1 - 1e-4), g.link)
            else:
                p = len(g.items)
                obs, y2, y = g.data[:, :p], g.data[:, p:2 * p], g.data[:, 2 * p:]
                n_k = weights.T @ obs + 1e-9
                mean = (weights.T @ y) / n_k
                var = (weights.T @ y2) / n_k - mean**2
                row_w = weights.sum(axis=1)
                total_var = (row_w @ y2) / (row_w @ obs) - ((row_w @ y) / (row_w @ obs)) ** 2
                var = np.maximum(var, 0.1 * total_var)
                phi[layout.blocks[g.keys[0]].index] = mean
                phi[layout.blocks[g.keys[1]].index] = var
    phi[layout.fixed_mask] = layout.fixed_values[layout.fixed_mask]
    return phi


def clip_to_bounds(structure: GraphStructure, theta: np.ndarray) -> np.ndarray:
    """Project ``theta`` into the optimizer's box bounds."""
    lo = np.array([b[0] for b in structure.layout.bounds])
    hi = np.array([b[1] for b in structure.layout.bounds])
    return np.clip(theta, lo, hi)


def _cluster_partition(groups, k: int, rng, codes: np.ndarray) -> np.ndarray:
    """(n, K) row weights from a random partition of the clusters on their mean item features."""
    features = _features(groups, np.ones(len(codes)))
    n_clusters = int(codes.max()) + 1
    sums = np.zeros((n_clusters, features.shape[1]))
    np.add.at(sums, codes, features)
    means = sums / np.bincount(codes, minlength=n_clusters)[:, None]
    cluster_weights = _partition(means, k, rng, np.ones(n_clusters))
    return cluster_weights[codes]


def _random_partition(groups, k: int, rng, counts: np.ndarray) -> np.ndarray:
    """(n_patterns, K) partition weighted by pattern counts: 90% nearest random centre, 10% spread."""
    return _partition(_features(groups, counts), k, rng, counts)


def _features(groups, counts: np.ndarray) -> np.ndarray:
    """Row features for partitioning: one-hot categories and standardized continuous items."""
    features = []
    for g in groups:
        if g.family == "categorical":
            features.append(g.data)
        else:
            p = len(g.items)
            obs, y = g.data[:, :p], g.data[:, 2 * p:]
            mean = counts @ y / (counts @ obs)
            sd = np.sqrt(np.maximum((counts @ g.data[:, p:2 * p]) / (counts @ obs) - mean**2, 1e-12))
            features.append(np.where(obs > 0, (y - mean) / sd, 0.0))
    return np.concatenate(features, axis=1) if features else np.zeros((len(counts), 0))


def _partition(x: np.ndarray, k: int, rng, counts: np.ndarray) -> np.ndarray:
    """Soft partition of the rows of ``x``: nearest of k random centres (or score split)."""
    n = x.shape[0]
    if k == 1 or n == 0:
        return np.ones((n, k)) * counts[:, None]
    if rng is None:  # deterministic: split rows into k groups on the total item score
        order = np.argsort(x.sum(axis=1), kind="stable")
        below = np.empty(n)
        below[order] = np.cumsum(counts[order]) - counts[order]
        labels = np.minimum((below * k // counts.sum()).astype(int), k - 1)
    else:
        centres = x[rng.choice(n, size=min(k, n), replace=False, p=counts / counts.sum())]
        if len(centres) < k:  # fewer distinct patterns than classes
            centres = np.concatenate([centres, centres[rng.integers(0, len(centres), k - len(centres))]])
        d = ((x[:, None, :] - centres[None, :, :]) ** 2).sum(-1)
        d += rng.uniform(0, 1e-6, size=d.shape)
        labels = d.argmin(axis=1)
    hard = np.eye(k)[labels]
    return (0.9 * hard + 0.1 / k) * counts[:, None]
