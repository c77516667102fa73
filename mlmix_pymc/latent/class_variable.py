"""Latent class variables at the cluster and unit levels (paper eq 4, 8-10, 16-18, 24).

``ClassVariable`` draws D_j once per cluster (between level, eq 17 / 26) or C_ij once per
row (within level): multinomial logits a_k + gamma_k x (eq 4), plus the transition effects
of a parent class variable (an LTA's C_(t-1), eq 9; C ~ D, eq 24) and the cluster random
intercepts of the class logits (eq 10, 15), last class the reference.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from .base import Draws, draw_categories


def fixed_logits(structure, phi: np.ndarray, cv, x: np.ndarray) -> np.ndarray:
    """a_k + gamma_k x of class variable ``cv`` for rows ``x`` (n, q): (n, K) (eq 4, 17)."""
    layout = structure.layout
    logits = np.broadcast_to(phi[layout.blocks[f"intercept:{cv.name}"].index], (len(x), cv.n_classes)).copy()
    if cv.covariates:
        cols = [structure.covariate_names.index(c) for c in cv.covariates]
        logits += x[:, cols] @ phi[layout.blocks[f"slope:{cv.name}"].index].T
    return logits


@dataclass(frozen=True, eq=False)
class ClassVariable:
    """A class variable with one class per cluster (``between``) or per row (``within``)."""

    structure: object  # graph.structure.GraphStructure
    cv: object  # graph.structure.ClassStructure

    @property
    def name(self) -> str:
        """The class variable's name."""
        return self.cv.name

    @property
    def level(self) -> str:
        """``"cluster"`` for a between-level class variable, ``"unit"`` otherwise."""
        return "cluster" if self.cv.level == "between" else "unit"

    def simulate(self, draws: Draws) -> None:
        """Draw the classes; 1-based codes are reported as ``_class_<name>``."""
        structure, cv = self.structure, self.cv
        if self.level == "cluster":
            logits = fixed_logits(structure, draws.phi, cv, draws.x[draws.first_row])
            drawn = draw_categories(draws.rng, special.softmax(logits, axis=1))[draws.codes]
        else:
            logits = fixed_logits(structure, draws.phi, cv, draws.x)
            if cv.parent is not None:  # eq 9 / 24: logits + gamma[k, parent class]
                gamma = draws.phi[structure.layout.blocks[f"transition:{cv.name}"].index]  # (K, Kp)
                logits = logits + gamma[:, draws.classes[cv.parent]].T
            if cv.random_intercept:  # eq 10: a cluster random intercept on class k's logit
                for r, eff in enumerate(structure.between_model.effects):
                    if eff.kind == "class-logit" and eff.class_var == cv.name:
                        logits[:, eff.cls] += draws.effects[:, r]
            drawn = draw_categories(draws.rng, special.softmax(logits, axis=1))
        draws.classes[cv.name] = drawn
        draws.columns[f"_class_{cv.name}"] = drawn + 1
