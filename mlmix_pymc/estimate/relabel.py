"""Class ordering rule for ML solutions (label switching).

Rule: the classes of each class variable are ordered by decreasing model-estimated class
proportion (the mean over rows of P(C = k | x_i), eq 4; over clusters for a between-level
class variable, eq 17), ties broken by the original order. Class variables that share measurement (``same_measurement``) follow the order of
the first variable of their group, so that "class 1" means the same profile at every time
point. After permuting, the multinomial logits are re-referenced so the (new) last class
is again the reference with logits fixed at 0 (eq 4: alpha_L = beta_L = 0).

Reordering is skipped when the user constrained parameters by name or gave starting
values: their class numbers are then the user's.
"""

from __future__ import annotations

import numpy as np

from ..graph.structure import GraphStructure


def class_permutations(structure: GraphStructure, proportions: dict[str, np.ndarray],
                       same_measurement=()) -> dict[str, np.ndarray]:
    """For each class variable, ``perm`` such that new class i is old class perm[i]."""
    perms = {name: np.argsort(-np.asarray(p), kind="stable") for name, p in proportions.items()}
    for group in same_measurement:
        for name in group[1:]:
            perms[name] = perms[group[0]]
    return perms


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
        if cv.name not in perms:
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
    return out
