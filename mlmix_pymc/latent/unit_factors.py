"""Within-level factors eta_ij of a factor mixture, IRT or FMA-GoM model (paper eq 2-3, 36-41).

eta_c = mu_c + sqrt(psi_c) z with z ~ N(0, I_m) per person: means and variances may depend
on the class c that governs the item (the person's class, or in an FMA-GoM the item's own
class, eq 38-41, with one z per person shared by the items).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .base import Draws, elements


def factor_values(latent, phi: np.ndarray, z: np.ndarray, cls: np.ndarray) -> np.ndarray:
    """eta_c = mu_c + sqrt(psi_c) z (n, m) for standard-normal ``z`` (n, m) and classes ``cls`` (n,)."""
    psi = phi[latent.variances]  # (K|1, m)
    eta = np.sqrt(psi[np.minimum(cls, len(psi) - 1)]) * z
    if latent.means is not None:
        eta = eta + elements(phi, latent.means)[cls]
    return eta


@dataclass(frozen=True, eq=False)
class UnitFactors:
    """The within-level factors of one class variable (``graph.structure.UnitLatent``)."""

    latent: object  # graph.structure.UnitLatent
    person_level: bool = False  # True when the class variable is measurement-level (GoM)

    level = "unit"

    @property
    def name(self) -> str:
        """The factors' names joined (``f1,f2``)."""
        return ",".join(self.latent.factors)

    def simulate(self, draws: Draws) -> None:
        """Draw z per row; report eta at the row's class (``_factor_<name>``; for a
        measurement-level class variable, at the first class when the factor distribution
        is class-invariant, else z)."""
        latent = self.latent
        z = draws.rng.standard_normal((draws.n, latent.dim))
        draws.factors[latent.class_var] = z
        if self.person_level:
            invariant = len(draws.phi[latent.variances]) == 1 and latent.means is None
            shown = factor_values(latent, draws.phi, z, np.zeros(draws.n, dtype=int)) if invariant else z
        else:
            shown = factor_values(latent, draws.phi, z, draws.classes[latent.class_var])
        for a, factor in enumerate(latent.factors):
            draws.columns[f"_factor_{factor}"] = shown[:, a]

    def values(self, draws: Draws, cls: np.ndarray) -> np.ndarray:
        """eta (n, m) of the drawn z at classes ``cls`` (n,) (the class governing an item)."""
        return factor_values(self.latent, draws.phi, draws.factors[self.latent.class_var], cls)
