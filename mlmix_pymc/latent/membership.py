"""Grade-of-membership vectors g_j and the class of each item (paper eq 28-35, 43-47).

Per person j the membership is drawn from its distribution (``graph.membership.Membership``):

* logistic-normal (eq 30, 33-34): g_j = softmax(a + Gamma x_j + M z_j), z_j ~ N(0, I_d), M the
  Cholesky factor of Sigma with a zero last row;
* restricted (eq 35): M = lambda (K, 1), one dimension for any K;
* Dirichlet (Erosheva): g_j ~ Dirichlet(alpha);
* fixed: no person-level latent (the 3PL's guessing part, eq 44-47).

Then every item gets its own class, P(C_ij = k) = softmax(logits + gamma_ik)_k with the
item-specific logits gamma (eq 44) where the model has them, g_jk otherwise (eq 28).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from .base import Draws, draw_categories, elements
from .class_variable import fixed_logits


@dataclass(frozen=True, eq=False)
class Membership:
    """The membership latent of a measurement-level (item-level) class variable."""

    structure: object  # graph.structure.GraphStructure
    membership: object  # graph.membership.Membership

    level = "measurement"

    @property
    def name(self) -> str:
        """The item-level class variable's name."""
        return self.membership.class_var

    def simulate(self, draws: Draws) -> None:
        """Draw g_j per row (``_membership_<c>#k`` columns) and a class per item (``item_classes``)."""
        memb, structure = self.membership, self.structure
        n, k = draws.n, memb.n_classes
        if memb.kind == "dirichlet":
            alpha = draws.phi[memb.alpha]
            logits = np.log(np.maximum(draws.rng.dirichlet(alpha, size=n), 1e-300))  # (n, K)
        else:
            logits = fixed_logits(structure, draws.phi, structure.class_var(memb.class_var), draws.x)
            if memb.random is not None:  # b_j = M z_j; M holds Cholesky-factor elements (u scale)
                loadings = elements(draws.u, memb.random)  # (K, d)
                logits = logits + draws.rng.standard_normal((n, memb.dim)) @ loadings.T
        g = special.softmax(logits, axis=1)
        by_item = np.repeat(logits[:, None, :], len(memb.items), axis=1)  # (n, P, K)
        if memb.item_logits is not None:  # eq 44: item-specific class logits
            by_item = by_item + elements(draws.phi, memb.item_logits).T[None]
        draws.item_classes[memb.class_var] = draw_categories(draws.rng, special.softmax(by_item, axis=-1))
        draws.item_order[memb.class_var] = list(memb.items)
        for c in range(k):
            draws.columns[f"_membership_{memb.class_var}#{c + 1}"] = g[:, c]
