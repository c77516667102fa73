"""Normal cluster random effects b_j (paper eq 5, 18, 25; section 10).

b_j = B_d b_j + Gamma_d x_j + L_d z_j with z_j ~ N(0, I): random intercepts and slopes of
indicator regressions, random intercepts of class logits and between-level factors; the
between model (its Cholesky factor L, regressions B and Gamma) may depend on the cluster's
between-level class d.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..graph.params import lower_triangular
from .base import Draws


@dataclass(frozen=True, eq=False)
class ClusterEffects:
    """The cluster random effects of a two-level model, drawn once per cluster."""

    structure: object  # graph.structure.GraphStructure

    name = "random effects"
    level = "cluster"

    def simulate(self, draws: Draws) -> None:
        """Draw b_j per cluster; rows get their cluster's values (``_re_<effect>`` columns)."""
        structure = self.structure
        bm = structure.between_model
        n_clusters = draws.n_clusters
        if bm.n_groups > 1:
            groups = draws.classes[structure.between.name][draws.first_row]
        else:
            groups = np.zeros(n_clusters, dtype=int)
        x_cluster = draws.x[draws.first_row]
        z = draws.rng.standard_normal((n_clusters, bm.dim))
        chols = [lower_triangular(draws.u, structure.layout.blocks[key].index) for key in bm.covariance_keys]
        b = np.zeros((n_clusters, bm.dim))
        for j in range(n_clusters):
            g = groups[j]
            xi = chols[g] @ z[j]
            for r in range(bm.dim):  # effects listed earlier enter later ones (B is lower triangular)
                b[j, r] = xi[r]
                for a, s, elem in bm.effect_regressions[g]:
                    if a == r:
                        b[j, r] += draws.phi[elem] * b[j, s]
                for a, col, elem in bm.covariate_regressions[g]:
                    if a == r:
                        b[j, r] += draws.phi[elem] * x_cluster[j, structure.covariate_names.index(col)]
        draws.effects = b[draws.codes]
        for r, eff in enumerate(bm.effects):
            draws.columns[f"_re_{eff.name}"] = draws.effects[:, r]
