"""Draw data from a model specification and parameter values (Monte Carlo studies, tests).

The generating process follows the paper's two-level form top-down, through the model's
latent components (``latent/``): per cluster j the between class D_j (eq 17 / 26) and the
random effects b_j (eq 5, 18, 25); per row the within classes (eq 4 / 9 / 24, with random
class-logit intercepts, eq 10), the within-level factors (eq 36) and, in a grade-of-membership
model, the membership g_j and one class per item (eq 28-35, 44). Then each indicator is drawn
given the class that governs it by its family (``families/``: ordered categories from
P(y <= m) = F(tau_m - eta), eq 1; normal with mean + eta; counts; nominal), where ``eta``
holds the item's covariate slopes, random effects and factor loadings times factors (eq 36).
Covariates and cluster ids come from a *design* DataFrame; only indicators are drawn.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from .errors import DataError
from .latent import Draws, UnitFactors, components_of, elements


def simulate(model, values: Mapping[str, float] | np.ndarray, design: pd.DataFrame | None = None,
             seed=None) -> pd.DataFrame:
    """A copy of ``design`` (default: the model's data) with the indicators drawn from the model.

    ``values`` are parameter values by name (natural scale; missing ones take the default
    start) or a ``theta`` vector. The result also holds the drawn latent variables for
    checking: classes (``_class_<name>``, 1-based), random effects (``_re_<name>``),
    within-level factors (``_factor_<name>``) and grade-of-membership vectors
    (``_membership_<name>#k``).
    """
    spec, structure = model.spec, model.structure
    layout = structure.layout
    theta = model.theta_from_values(values)
    frame = (model.frame if design is None else design).copy()
    n = len(frame)
    if spec.cluster is not None:
        codes, _ = pd.factorize(frame[spec.cluster], sort=True)
    else:
        codes = np.arange(n)
    first_row = np.unique(codes, return_index=True)[1]
    draws = Draws(np.random.default_rng(seed), layout.natural(theta), layout.u_from_theta(theta),
                  _covariates(frame, structure.covariate_names), codes, first_row)
    components = components_of(structure)
    for component in components:
        component.simulate(draws)
    factors = {c.latent.class_var: c for c in components if isinstance(c, UnitFactors)}
    for group in structure.groups:
        for p, item in enumerate(group.items):
            cls = draws.class_of_item(group.class_var, item)
            eta = _item_eta(structure, draws, group, item, cls)
            if group.has_factors:  # eq 36: lambda_cp . eta_c
                lam = elements(draws.phi, group.loadings[:, p])  # (K|1, m)
                eta_c = factors[group.class_var].values(draws, cls)  # (n, m)
                eta = eta + np.einsum("nm,nm->n", lam[np.minimum(cls, len(lam) - 1)], eta_c)
            params = {role: draws.phi[layout.blocks[key].index][:, p][cls] for role, key in group.params.items()}
            frame[item] = group.family.simulate(draws.rng, params, eta, group.link, item=p)
    for name, column in draws.columns.items():
        frame[name] = column
    return frame


def _covariates(frame: pd.DataFrame, names) -> np.ndarray:
    missing = [c for c in names if c not in frame.columns]
    if missing:
        raise DataError(f"the design has no column(s) {missing} needed as covariates")
    return frame[list(names)].to_numpy(dtype=float) if names else np.zeros((len(frame), 0))


def _item_eta(structure, draws: Draws, group, item, cls) -> np.ndarray:
    """Covariate slopes (eq 2) and cluster random effects (eq 5, 19) in the item's linear predictor, (n,)."""
    phi, x = draws.phi, draws.x
    eta = np.zeros(draws.n)
    if group.is_regression and group.covariates:
        cols = [structure.covariate_names.index(c) for c in group.covariates]
        slopes = phi[structure.layout.blocks[group.slope_key].index]  # (K, q)
        eta += np.einsum("nq,nq->n", x[:, cols], slopes[cls])
    bm = structure.between_model
    if bm is not None and draws.effects is not None:
        for r, eff, loading in bm.effects_of_item(item):
            term = draws.effects[:, r] * (x[:, structure.covariate_names.index(eff.covariate)]
                                          if eff.kind == "slope" else 1.0)
            eta += term * (phi[loading] if loading is not None else 1.0)
    return eta
