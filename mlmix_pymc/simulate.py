"""Draw data from a model specification and parameter values (Monte Carlo studies, tests).

The generating process follows the paper's two-level form top-down, per cluster j:
D_j from eq 17 / 26; random effects b_j = B b_j + Gamma x_j + L z (eq 5, 18, 25); per row
the within classes from eq 4 / 9 / 24 (with random class-logit intercepts, eq 10); then
each indicator given its class by its family (``families/``: ordered categories from
P(y <= m) = F(tau_m - eta), eq 1; normal with mean + eta; counts; nominal). ``eta`` holds
the item's covariate slopes, random effects and factor loadings times factors (eq 36).
Covariates and cluster ids come from a *design* DataFrame; only indicators are drawn.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd
from scipy import special

from .errors import DataError
from .graph.params import lower_triangular


def simulate(model, values: Mapping[str, float] | np.ndarray, design: pd.DataFrame | None = None,
             seed=None) -> pd.DataFrame:
    """A copy of ``design`` (default: the model's data) with the indicators drawn from the model.

    ``values`` are parameter values by name (natural scale; missing ones take the default
    start) or a ``theta`` vector. The result also holds the drawn classes (columns
    ``_class_<name>``, 1-based), random effects (``_re_<name>``) and within-level factors
    (``_factor_<name>``) for checking.
    """
    rng = np.random.default_rng(seed)
    spec, structure = model.spec, model.structure
    layout = structure.layout
    theta = model.theta_from_values(values)
    phi, u = layout.natural(theta), layout.u_from_theta(theta)
    frame = (model.frame if design is None else design).copy()
    n = len(frame)
    x = _covariates(frame, structure.covariate_names)
    if spec.cluster is not None:
        codes, _ = pd.factorize(frame[spec.cluster], sort=True)
    else:
        codes = np.arange(n)
    n_clusters = int(codes.max()) + 1
    first_row = np.array([np.flatnonzero(codes == j)[0] for j in range(n_clusters)])

    classes: dict[str, np.ndarray] = {}
    between = structure.between
    group_of_cluster = np.zeros(n_clusters, dtype=int)
    if between is not None:
        probs = special.softmax(_logits(structure, phi, between, x[first_row]), axis=1)
        group_of_cluster = _draw(rng, probs)
        classes[between.name] = group_of_cluster[codes]
    b = _random_effects(structure, phi, u, group_of_cluster, x[first_row], rng)[codes]  # (n, dim)
    for cv in structure.class_vars:
        logits = _logits(structure, phi, cv, x)
        if cv.parent is not None:
            gamma = phi[layout.blocks[f"transition:{cv.name}"].index]  # (K, Kp)
            logits = logits + gamma[:, classes[cv.parent]].T
        if cv.random_intercept:
            for r, eff in enumerate(structure.between_model.effects):
                if eff.kind == "class-logit" and eff.class_var == cv.name:
                    logits[:, eff.cls] += b[:, r]
        classes[cv.name] = _draw(rng, special.softmax(logits, axis=1))

    factors = _factor_values(structure, phi, classes, n, rng)  # class variable -> (n, m)
    for g in structure.groups:
        cls = classes[g.class_var]
        for p, item in enumerate(g.items):
            eta = _item_eta(structure, phi, g, item, x, b, cls)
            if g.has_factors:  # eq 36: lambda_cp . eta_i
                lam = np.where(g.loadings[:, p] >= 0, phi[np.maximum(g.loadings[:, p], 0)], 0.0)  # (K|1, m)
                eta = eta + np.einsum("nm,nm->n", lam[np.minimum(cls, len(lam) - 1)], factors[g.class_var])
            params = {role: phi[layout.blocks[key].index][:, p][cls] for role, key in g.params.items()}
            frame[item] = g.family.simulate(rng, params, eta, g.link)
    for name, drawn in classes.items():
        frame[f"_class_{name}"] = drawn + 1
    for name, values in factors.items():
        for a, fac in enumerate(structure.unit_latent(name).factors):
            frame[f"_factor_{fac}"] = values[:, a]
    if structure.between_model is not None:
        for r, eff in enumerate(structure.between_model.effects):
            frame[f"_re_{eff.name}"] = b[:, r]
    return frame


def _factor_values(structure, phi, classes, n, rng) -> dict:
    """eta_i = mu_c + sqrt(psi_c) z_i per class variable with within-level factors, (n, m)."""
    out = {}
    for latent in structure.unit_latents:
        cls = classes[latent.class_var]
        psi = phi[latent.variances]  # (K|1, m)
        out[latent.class_var] = np.sqrt(psi[np.minimum(cls, len(psi) - 1)]) * rng.standard_normal((n, latent.dim))
        if latent.means is not None:  # eta = mu_c + sqrt(psi_c) z
            out[latent.class_var] += np.where(latent.means >= 0, phi[np.maximum(latent.means, 0)], 0.0)[cls]
    return out


def _covariates(frame: pd.DataFrame, names) -> np.ndarray:
    missing = [c for c in names if c not in frame.columns]
    if missing:
        raise DataError(f"the design has no column(s) {missing} needed as covariates")
    return frame[list(names)].to_numpy(dtype=float) if names else np.zeros((len(frame), 0))


def _draw(rng, probs: np.ndarray) -> np.ndarray:
    """One category per row from (n, K) probabilities."""
    return (rng.uniform(size=(len(probs), 1)) > np.cumsum(probs, axis=1)[:, :-1]).sum(axis=1)


def _logits(structure, phi, cv, x) -> np.ndarray:
    """Fixed multinomial logits (n, K), eq 4 / 17."""
    layout = structure.layout
    logits = np.broadcast_to(phi[layout.blocks[f"intercept:{cv.name}"].index], (len(x), cv.n_classes)).copy()
    if cv.covariates:
        cols = [structure.covariate_names.index(c) for c in cv.covariates]
        logits += x[:, cols] @ phi[layout.blocks[f"slope:{cv.name}"].index].T
    return logits


def _random_effects(structure, phi, u, group_of_cluster, x_cluster, rng) -> np.ndarray:
    """b_j = B b_j + Gamma x_j + L z per cluster (eq 5, 18, 25), shape (J, dim); ``u`` holds L."""
    bm = structure.between_model
    n_clusters = len(group_of_cluster)
    if bm is None or bm.dim == 0:
        return np.zeros((n_clusters, 0))
    groups = group_of_cluster if bm.n_groups > 1 else np.zeros(n_clusters, dtype=int)
    z = rng.standard_normal((n_clusters, bm.dim))
    out = np.zeros((n_clusters, bm.dim))
    chols = [lower_triangular(u, structure.layout.blocks[key].index) for key in bm.covariance_keys]
    for j in range(n_clusters):
        g = groups[j]
        xi = chols[g] @ z[j]
        for r in range(bm.dim):
            out[j, r] = xi[r]
            for a, s, elem in bm.effect_regressions[g]:
                if a == r:
                    out[j, r] += phi[elem] * out[j, s]
            for a, col, elem in bm.covariate_regressions[g]:
                if a == r:
                    out[j, r] += phi[elem] * x_cluster[j, structure.covariate_names.index(col)]
    return out


def _item_eta(structure, phi, group, item, x, b, cls) -> np.ndarray:
    """Covariate slopes and random effects in the item's linear predictor, (n,)."""
    eta = np.zeros(len(x))
    if group.is_regression and group.covariates:
        cols = [structure.covariate_names.index(c) for c in group.covariates]
        slopes = phi[structure.layout.blocks[group.slope_key].index]  # (K, q)
        eta += np.einsum("nq,nq->n", x[:, cols], slopes[cls])
    bm = structure.between_model
    if bm is not None:
        for r, eff, loading in bm.effects_of_item(item):
            term = b[:, r] * (x[:, structure.covariate_names.index(eff.covariate)] if eff.kind == "slope" else 1.0)
            eta += term * (phi[loading] if loading is not None else 1.0)
    return eta
