"""Class ordering rule for ML solutions (label switching).

Rule: the classes of each class variable are ordered by decreasing model-estimated class
proportion (the mean over rows of P(C = k | x_i), eq 4; over clusters for a between-level
class variable, eq 17), ties broken by the original order. Class variables that share measurement (``same_measurement``) follow the order of
the first variable of their group, so that "class 1" means the same profile at every time
point. After permuting, the multinomial logits are re-referenced so the (new) last class
is again the reference with logits fixed at 0 (eq 4: alpha_L = beta_L = 0).

Random class-logit intercepts (eq 10) are re-referenced with the logits: the vector of
random effects of a class variable is transformed linearly, b' = A b, and their covariance
matrix with it, Psi' = A Psi A^T (for two classes A = -1: the variance is unchanged).

Reordering is skipped when the user constrained parameters by name or gave starting
values: their class numbers are then the user's; also when the transformation would break
the model's structure (a diagonal covariance with three or more random-logit classes, or
between-level regressions involving random logits).
"""

from __future__ import annotations

import numpy as np

from ..graph.params import symmetric_matrix
from ..graph.structure import GraphStructure


def class_permutations(structure: GraphStructure, proportions: dict[str, np.ndarray],
                       same_measurement=()) -> dict[str, np.ndarray]:
    """For each class variable, ``perm`` such that new class i is old class perm[i]."""
    perms = {name: np.argsort(-np.asarray(p), kind="stable") for name, p in proportions.items()}
    for group in same_measurement:
        for name in group[1:]:
            perms[name] = perms[group[0]]
    return perms


def reorderable(structure: GraphStructure) -> bool:
    """Whether ``permute_classes`` can relabel this model (see the module docstring)."""
    if structure.known_class is not None:  # observed classes fix the labels
        return False
    bm = structure.between_model
    if bm is None:
        return True
    logit_effects = {r for r, e in enumerate(bm.effects) if e.kind == "class-logit"}
    for group in range(bm.n_groups):
        if any(a in logit_effects or b in logit_effects for a, b, _ in bm.effect_regressions[group]):
            return False
        if any(a in logit_effects for a, _, _ in bm.covariate_regressions[group]):
            return False
        tri = structure.layout.blocks[bm.covariance_keys[group]].index if logit_effects else None
        if tri is not None and (tri[np.tril_indices(len(tri), -1)] < 0).any():  # diagonal covariance
            if any(cv.random_intercept and cv.n_classes > 2 for cv in structure.class_vars):
                return False
    return True


def _random_logit_transform(structure: GraphStructure, perms: dict[str, np.ndarray]) -> np.ndarray | None:
    """The (dim, dim) matrix A with b' = A b for the relabelled random class-logit intercepts."""
    bm = structure.between_model
    if bm is None or not any(e.kind == "class-logit" for e in bm.effects):
        return None
    transform = np.eye(bm.dim)
    for cv in structure.class_vars:
        if not cv.random_intercept or cv.name not in perms:
            continue
        k = cv.n_classes
        idx = [r for r, e in enumerate(bm.effects) if e.kind == "class-logit" and e.class_var == cv.name]
        full = np.zeros((k, k - 1))
        full[: k - 1] = np.eye(k - 1)  # random part of all K logits; the reference class has none
        moved = full[perms[cv.name]]
        transform[np.ix_(idx, idx)] = moved[: k - 1] - moved[k - 1]  # re-referenced on the new last class
    return transform


def permute_classes(structure: GraphStructure, phi: np.ndarray, perms: dict[str, np.ndarray]) -> np.ndarray:
    """Natural parameters with classes permuted and logits re-referenced."""
    layout = structure.layout
    out = phi.copy()
    for block in layout.blocks.values():
        axes = {name: axis for name, axis in block.class_axes.items() if name in perms}
        if not axes:
            continue
        vals = phi[block.index]
        for name, axis in axes.items():
            vals = np.take(vals, perms[name], axis=axis)
        out[block.index] = vals
    between = (structure.between,) if structure.between is not None else ()
    for cv in structure.class_vars + between:
        # a child's transition table is re-referenced also when only its parent was relabelled
        if (cv.name not in perms and cv.parent not in perms) or f"intercept:{cv.name}" not in layout.blocks:
            continue
        icpt = layout.blocks[f"intercept:{cv.name}"].index
        slope = layout.blocks[f"slope:{cv.name}"].index
        if cv.parent is not None:
            trans = layout.blocks[f"transition:{cv.name}"].index
            # parent's last class is the reference column: move its column into the intercept
            out[icpt] += out[trans[:, -1]]
            out[trans] -= out[trans[:, -1:]]
            out[trans] -= out[trans[-1:, :]]
        out[icpt] -= out[icpt[-1]]
        if slope.size:
            out[slope] -= out[slope[-1:, :]]
    _rereference_factor_means(structure, out, perms)
    _rereference_membership(structure, phi, out, perms)
    transform = _random_logit_transform(structure, perms)
    if transform is not None:
        for key in structure.between_model.covariance_keys:
            tri = layout.blocks[key].index
            cov = symmetric_matrix(phi, tri)
            out[tri[tri >= 0]] = (transform @ cov @ transform.T)[tri >= 0]
    return out


def _rereference_membership(structure: GraphStructure, phi: np.ndarray, out: np.ndarray, perms) -> None:
    """A grade-of-membership latent after a permutation (in place on ``out``): item logits and
    restricted loadings re-referenced on the new last class (eq 35, 44), the logistic-normal
    covariance transformed as Sigma' = A Sigma A^T (eq 34). Dirichlet concentrations only permute."""
    memb = structure.membership
    if memb is None or memb.class_var not in perms:
        return
    layout = structure.layout
    key = f"ilogit:{memb.class_var}"
    if key in layout.blocks:
        index = layout.blocks[key].index
        out[index] -= out[index[-1:, :]]
    if memb.kind == "restricted" and memb.random is not None:
        out[memb.random[:, 0]] -= out[memb.random[-1, 0]]
    if memb.kind == "logistic-normal" and memb.random is not None:
        k = memb.n_classes
        full = np.zeros((k, k - 1))
        full[: k - 1] = np.eye(k - 1)
        moved = full[perms[memb.class_var]]
        transform = moved[: k - 1] - moved[k - 1]
        tri = memb.random[: k - 1]
        cov = symmetric_matrix(phi, tri)
        out[tri[tri >= 0]] = (transform @ cov @ transform.T)[tri >= 0]


def _rereference_factor_means(structure: GraphStructure, out: np.ndarray, perms) -> None:
    """Class-specific factor means after a permutation: the new last class is the reference again.

    mu' = mu - mu_L, and every item absorbs lambda . mu_L in its intercept (thresholds move by
    -lambda mu_L, means and log rates by +lambda mu_L), which leaves eta and the likelihood
    unchanged. In place on ``out`` (natural parameters).
    """
    for latent in structure.unit_latents:
        if latent.means is None or latent.class_var not in perms:
            continue
        means = latent.means  # (K, m), -1 for a zero mean
        shift = np.where(means[-1] >= 0, out[np.maximum(means[-1], 0)], 0.0)  # (m,) mu of the new last class
        if not np.any(shift):
            continue
        for a in range(latent.dim):
            if means[-1, a] >= 0:
                out[means[:, a]] -= shift[a]
        for g in structure.groups:
            if g.class_var != latent.class_var or not g.has_factors or g.family.intercept_role not in g.params:
                continue
            lam = np.where(g.loadings[0] >= 0, out[np.maximum(g.loadings[0], 0)], 0.0)  # (P, m), class-invariant
            index = structure.layout.blocks[g.params[g.family.intercept_role]].index  # (K, P[, extra])
            delta = g.family.intercept_sign * (lam @ shift)  # (P,)
            out[index] += delta.reshape((1, -1) + (1,) * (index.ndim - 2))
