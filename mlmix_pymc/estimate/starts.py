"""Random starting values.

Each random start draws a random partition of the rows for every class variable
(every row joins the nearest of K randomly chosen rows, on its items), then takes the
class-specific item statistics of that partition as starting values (each family's
``start_values``: smoothed category proportions -> thresholds, class means and variances,
log mean counts), class sizes -> logits. Slopes and transition effects start at 0; factor
loadings at 1 (random starts: uniform on 0.5-1.5; a loading of 0 is a stationary point of
the likelihood, eq 36), factor variances at 1. This gives well-spread, data-informed
starts, playing the role of the perturbed starting values of Mplus's STARTS option.
"""

from __future__ import annotations

import numpy as np

from ..graph.structure import GraphStructure


def partition_start(structure: GraphStructure, rng: np.random.Generator | None) -> np.ndarray:
    """Natural parameters ``phi`` of one start; ``rng=None`` gives the deterministic start."""
    layout = structure.layout
    phi = layout.natural(np.zeros(layout.n_free)).copy()
    for key, block in layout.blocks.items():  # loadings away from the stationary point 0
        if key.startswith("floading:"):  # within-level factors (graph/structure.py)
            phi[block.index] = 1.0 if rng is None else rng.uniform(0.5, 1.5, size=block.index.shape)
    between = (structure.between,) if structure.between is not None else ()
    for cv in structure.class_vars + between:
        groups = [g for g in structure.groups if g.class_var == cv.name]
        if cv.level == "between":  # D (eq 16): partition whole clusters
            weights = _cluster_partition(groups, cv.n_classes, rng, structure.cluster_codes)
        else:
            weights = _random_partition(groups, cv.n_classes, rng, structure.pattern_counts)
        sizes = weights.sum(axis=0) + 1.0
        if f"intercept:{cv.name}" in layout.blocks:
            phi[layout.blocks[f"intercept:{cv.name}"].index] = np.clip(np.log(sizes / sizes[-1]), -5, 5)
        if structure.membership is not None and structure.membership.class_var == cv.name:
            _membership_start(structure, phi, sizes, rng)
        for g in groups:
            stats = g.data.reshape(g.data.shape[0], len(g.items), -1)
            starts = g.family.start_values(weights, stats, g.n_categories, g.link)
            if g.has_factors and "thresholds" in starts:  # marginal proportions are attenuated by the factor
                starts["thresholds"] = starts["thresholds"] * _attenuation(phi, g, cv.n_classes)
            for role, values in starts.items():
                phi[layout.blocks[g.params[role]].index] = values
    _scale_normal_loadings(structure, phi)
    phi[layout.fixed_mask] = layout.fixed_values[layout.fixed_mask]
    return phi


def _scale_normal_loadings(structure: GraphStructure, phi: np.ndarray) -> None:
    """Loadings of normal items start on the item's scale (times its SD): a loading of 1 on an
    item with SD 0.002 puts every start far from the data (eq 36 with a unit-variance factor)."""
    for g in structure.groups:
        if g.loadings is None or g.family.data_kind != "continuous":
            continue
        stats = g.data.reshape(g.data.shape[0], len(g.items), -1)
        w = structure.pattern_counts[:, None] * stats[..., 0]
        mean = (w * stats[..., 2]).sum(0) / w.sum(0)
        sd = np.sqrt(np.maximum((w * stats[..., 1]).sum(0) / w.sum(0) - mean**2, 0.0))
        for p in range(len(g.items)):
            elements = g.loadings[:, p, :]
            elements = elements[elements >= 0]
            phi[elements] = phi[elements] * (sd[p] if sd[p] > 0 else 1.0)


def _membership_start(structure: GraphStructure, phi: np.ndarray, sizes: np.ndarray, rng) -> None:
    """Membership parameters of a GoM (``graph/membership.py``): logistic-normal variances 4
    (random: 1-8) and covariances 0, restricted loadings 2 (random: 1-3), Dirichlet alpha_k
    = class proportion (alpha_0 = 1: memberships near the vertices, close to the LCA), item
    logits = the class logits of the partition."""
    memb = structure.membership
    layout = structure.layout
    if memb.kind == "logistic-normal" and memb.random is not None:
        tri = memb.random[:-1]
        for a in range(tri.shape[0]):
            phi[tri[a, :a]] = 0.0
            phi[tri[a, a]] = 4.0 if rng is None else float(np.exp(rng.uniform(0.0, np.log(8.0))))
    elif memb.kind == "restricted" and memb.random is not None:
        phi[memb.random[:, 0]] = 2.0 if rng is None else rng.uniform(1.0, 3.0, size=memb.n_classes)
    elif memb.kind == "dirichlet":
        phi[memb.alpha] = sizes / sizes.sum()
    if memb.item_logits is not None:
        phi[memb.item_logits] = np.clip(np.log(sizes / sizes[-1]), -5, 5)[:, None]


def _attenuation(phi: np.ndarray, group, n_classes: int) -> np.ndarray:
    """(K, P, 1) factor sqrt(1 + c lambda^2) relating marginal and conditional thresholds.

    E[F(lambda eta - tau)] ~ F(-tau / sqrt(1 + c lambda^2)) with c = 1 (probit) or pi / 8
    (logit), eta ~ N(0, 1).
    """
    loadings = np.where(group.loadings >= 0, phi[np.maximum(group.loadings, 0)], 0.0)  # (K|1, P, m)
    c = 1.0 if group.link == "probit" else np.pi / 8
    factor = np.sqrt(1.0 + c * (loadings**2).sum(axis=-1))  # (K|1, P)
    return np.broadcast_to(factor, (n_classes, factor.shape[1]))[:, :, None]


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
    """Row features for partitioning, from each family (one-hot categories, standardized numbers)."""
    features = [g.family.features(g.data.reshape(g.data.shape[0], len(g.items), -1), counts) for g in groups]
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
        # squared distances to each centre in turn: no (n, k, features) temporary (1 GB at 1,000,000 rows)
        d = np.column_stack([((x - c) ** 2).sum(-1) for c in centres])
        d += rng.uniform(0, 1e-6, size=d.shape)
        labels = d.argmin(axis=1)
    hard = np.eye(k)[labels]
    return (0.9 * hard + 0.1 / k) * counts[:, None]
