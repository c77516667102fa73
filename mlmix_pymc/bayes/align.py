"""Label alignment of posterior draws (label switching across and within chains).

Rule: every draw is relabelled, class variable by class variable, with the permutation of
its classes that brings its class-specific parameters closest (sum of squared differences
on the reported scale) to a reference labelling, the ML solution by default. The
permutation is applied with ``relabel.permute_classes`` (logits re-referenced, random
class-logit covariances rotated), so an aligned draw has the same likelihood. Class
variables sharing measurement (``same_measurement``) are permuted together. Within-level
factors are then reflected (all loadings negated) when their loadings point away from the
reference's: the factor's sign is the other label switch of a factor mixture.
"""

from __future__ import annotations

import itertools

import numpy as np

from ..graph.structure import GraphStructure
from ..estimate.relabel import permute_classes


def class_specific_elements(structure: GraphStructure, name: str) -> np.ndarray:
    """Indices (into phi) of parameters with a class axis of class variable ``name``."""
    out = [block.index.ravel() for block in structure.layout.blocks.values() if name in block.class_axes]
    return np.unique(np.concatenate(out)) if out else np.zeros(0, dtype=int)


def align_draws(structure: GraphStructure, draws: np.ndarray, reference: np.ndarray,
                same_measurement=()) -> tuple[np.ndarray, int]:
    """Relabel every row of ``draws`` (S, n_params) towards ``reference``; returns (aligned, n_relabelled)."""
    between = (structure.between,) if structure.between is not None else ()
    variables = [cv for cv in structure.class_vars + between if cv.n_classes > 1]
    followers = {name: group[0] for group in same_measurement for name in group[1:]}
    leaders = [cv for cv in variables if cv.name not in followers]
    aligned = draws.copy()
    changed = np.zeros(len(draws), dtype=bool)
    for cv in leaders:
        names = [cv.name] + [n for n, lead in followers.items() if lead == cv.name]
        elements = np.unique(np.concatenate([class_specific_elements(structure, n) for n in names]))
        identity = tuple(range(cv.n_classes))
        perms = list(itertools.permutations(identity))
        for s in range(len(aligned)):
            best, best_dist = identity, np.inf
            for perm in perms:
                candidate = permute_classes(structure, aligned[s], {n: np.array(perm) for n in names})
                dist = float(np.sum((candidate[elements] - reference[elements]) ** 2))
                if dist < best_dist - 1e-12:
                    best, best_dist = perm, dist
            if best != identity:
                aligned[s] = permute_classes(structure, aligned[s], {n: np.array(best) for n in names})
                changed[s] = True
    changed |= _align_factor_signs(structure, aligned, reference)
    return aligned, int(changed.sum())


def _align_factor_signs(structure: GraphStructure, draws: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Reflect within-level factors (eta -> -eta, all its loadings negated: the same likelihood, as
    eta ~ N(0, psi_c) is symmetric) whose loadings point away from the reference; in place."""
    flipped = np.zeros(len(draws), dtype=bool)
    free = ~structure.layout.fixed_mask
    for latent in structure.unit_latents:
        for name in latent.factors:
            elements = structure.layout.blocks[f"floading:{name}"].index.ravel()
            elements = elements[free[elements]]
            if not elements.size:
                continue
            away = draws[:, elements] @ reference[elements] < 0
            draws[np.ix_(away, elements)] *= -1.0
            flipped |= away
    return flipped
