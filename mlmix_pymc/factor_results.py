"""Result sections of within-level factors: IRT parameters (eq 49-50) and factor scores.

Binary items with a factor follow P(y = 1 | c, f) = F(lambda f - tau) = F(a (f - b)) with
a = lambda and b = tau / lambda (the paper's eq 49-50 with Mplus's threshold sign); an
ordinal item has one b per threshold (Samejima's graded response model). Standard errors
of b come from the delta method on the estimates' covariance. Factor scores are the
expected a posteriori (EAP) factor values and posterior SDs per row, classes summed out.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .data import to_input_rows
from .errors import SpecificationError


def irt_parameters(result) -> pd.DataFrame:
    """a, b (with delta-method SEs) beside lambda, tau for every item loading on one factor."""
    structure, phi = result.structure, result.phi
    layout = structure.layout
    cov = result.cov_phi
    rows = []
    for g in structure.groups:
        if not g.has_factors or "thresholds" not in g.params:
            continue
        if g.loadings.shape[-1] != 1:
            raise SpecificationError("irt_parameters() needs a model with one factor per class variable")
        tau_index = layout.blocks[g.params["thresholds"]].index  # (K, P, M-1)
        n_classes = tau_index.shape[0]
        for c in range(n_classes):
            for p, item in enumerate(g.items):
                lam_k = int(g.loadings[min(c, g.loadings.shape[0] - 1), p, 0])
                lam = phi[lam_k]
                for t in range(tau_index.shape[2]):
                    tau_k = int(tau_index[c, p, t])
                    tau = phi[tau_k]
                    grad = np.zeros(len(phi))  # b = tau / lambda
                    grad[tau_k] += 1.0 / lam
                    if not layout.fixed_mask[lam_k]:
                        grad[lam_k] += -tau / lam**2
                    b_se = float(np.sqrt(max(grad @ cov @ grad, 0.0))) if cov is not None else np.nan
                    a_se = float(np.sqrt(max(cov[lam_k, lam_k], 0.0))) if cov is not None and \
                        not layout.fixed_mask[lam_k] else np.nan
                    rows.append({"item": item, "class_var": g.class_var, "class": c + 1, "threshold": t + 1,
                                 "lambda": lam, "tau": tau, "a": lam, "a_se": a_se, "b": tau / lam, "b_se": b_se})
    if not rows:
        raise SpecificationError("the model has no items with thresholds loading on a within-level factor")
    table = pd.DataFrame(rows)
    if table["class"].max() == 1:
        table = table.drop(columns=["class_var", "class"])
    if table["threshold"].max() == 1:
        table = table.drop(columns="threshold")
    return table


def factor_scores(result) -> pd.DataFrame:
    """EAP factor scores and posterior SDs per input row (NaN for rows left out)."""
    structure = result.structure
    if structure.is_two_level:
        raise SpecificationError("factor scores are available for single-level models only (for now)")
    if not structure.unit_latents:
        raise SpecificationError("the model has no within-level factors")
    if len(structure.within_vars) != 1:
        raise SpecificationError("factor scores need a model with one within-level class variable")
    (latent,) = structure.unit_latents
    compiled = result.model.compile(**result.integration_settings)  # the fit's own rule / nodes
    post, z = compiled.factor_posterior(result.theta)  # (n, K, Rn); (Rn, m) or (n, K, Rn, m)
    scale = np.sqrt(result.phi[latent.variances])  # (K|1, m)
    eta = scale[:, None, :] * z if z.ndim == 2 else scale[None, :, None, :] * z
    if latent.means is not None:  # eta_c = mu_c + sqrt(psi_c) z
        mu = np.where(latent.means >= 0, result.phi[np.maximum(latent.means, 0)], 0.0)  # (K, m)
        eta = eta + (mu[:, None, :] if z.ndim == 2 else mu[None, :, None, :])
    eta = np.broadcast_to(eta, post.shape + (latent.dim,))
    mean = np.einsum("nkr,nkrm->nm", post, eta)
    second = np.einsum("nkr,nkrm->nm", post, eta**2)
    sd = np.sqrt(np.maximum(second - mean**2, 0.0))
    cols = {}
    for a, name in enumerate(latent.factors):
        cols[name] = mean[:, a]
        cols[f"{name}_sd"] = sd[:, a]
    return to_input_rows(pd.DataFrame(cols, index=result.index), result.input_index, result.model.data.kept)
