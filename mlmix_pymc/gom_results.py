"""Reporting of grade-of-membership fits (paper section 7-9): memberships, ICC, LCA beside GoM.

Tables are built from a fitted ``MLResult`` (estimates, their covariance, the compiled
objective's membership moments); no likelihood code lives here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .data import to_input_rows
from .derived import icc_interval
from .errors import SpecificationError



def _check_gom(result) -> None:
    if not result.structure.is_gom:
        raise SpecificationError("this result is not a grade-of-membership model (mlmix_pymc.gom)")


def membership_scores(result) -> pd.DataFrame:
    """Posterior mean and SD of every person's membership vector g (E[g | y], eq 28-35), aligned
    to the input rows (NaN for rows left out), and the dominant profile."""
    _check_gom(result)
    objective = result.model.compile(**_settings(result))
    mean, sd = objective.membership_moments(result.theta)
    name = result.structure.membership.class_var
    k = mean.shape[1]
    cols = {f"g({name}#{c + 1})": mean[:, c] for c in range(k)}
    cols.update({f"sd({name}#{c + 1})": sd[:, c] for c in range(k)})
    out = pd.DataFrame(cols, index=result.index)
    out[f"dominant_{name}"] = mean.argmax(axis=1) + 1
    out = to_input_rows(out, result.input_index, result.model.data.kept)
    out[f"dominant_{name}"] = out[f"dominant_{name}"].astype("Int64")
    return out


def _settings(result) -> dict:
    s = result.integration_settings or {}
    return {"integration": s.get("integration"), "points": s.get("points"), "factor_points": s.get("factor_points")}


def membership_icc(result, level: float = 0.95) -> pd.DataFrame:
    """ICC of the random class logits of a logistic-normal or restricted membership (section 8
    reports 86%): var / (var + pi^2 / 3), with var = var(c#k) (eq 34) or lambda_k^2 (eq 35), and
    a delta-method confidence interval on the logit scale of the ICC (``derived.icc_interval``)."""
    _check_gom(result)
    memb = result.structure.membership
    layout = result.structure.layout
    se = result.se
    rows = []
    if memb.random is None:
        return pd.DataFrame(rows)
    for c in range(memb.n_classes - 1):
        if memb.kind == "logistic-normal":
            k = int(memb.random[c, c])
            v, v_se = result.phi[k], se[k]
        else:
            k = int(memb.random[c, 0])
            v, v_se = result.phi[k] ** 2, 2 * abs(result.phi[k]) * se[k]
        icc, icc_se, lower, upper = icc_interval(v, v_se, level)  # logit scale: inside [0, 1]
        rows.append({"effect": f"{memb.class_var}#{c + 1}", "parameter": layout.names[k], "variance": v,
                     "variance_se": v_se, "icc": icc, "se": icc_se, "lower": lower, "upper": upper})
    return pd.DataFrame(rows)


def lca_comparison(result) -> pd.DataFrame:
    """The nested LCA (the GoM's LCA-based start) beside the GoM: log-likelihood, parameters,
    AIC, BIC (Table 5). The logistic-normal GoM nests the LCA with K(K-1)/2 more parameters;
    the restricted GoM (eq 35) does not nest it."""
    _check_gom(result)
    if result.lca is None:
        raise SpecificationError("no nested LCA was fitted (start values were given, or the membership is fixed)")
    rows = []
    for label, res in (("LCA", result.lca), ("GoM", result)):
        rows.append({"model": label, "loglik": res.loglik, "n_params": res.n_params, "aic": res.aic,
                     "bic": res.bic})
    return pd.DataFrame(rows)


def profile_comparison(result, lca=None) -> pd.DataFrame:
    """P(y = 1 | class) of binary items under the LCA and the GoM (Fig 4's data), classes matched
    by the closest profiles. ``lca``: a fitted LCA result of the same items and number of classes
    (default: the GoM's nested LCA, ``result.lca``)."""
    _check_gom(result)
    lca_result = result.lca if lca is None else lca
    if lca_result is None:
        raise SpecificationError("no nested LCA was fitted (start values were given, or the membership is fixed)")
    if lca_result.structure.is_gom:
        raise SpecificationError("profile_comparison(gom, lca): the second result is a GoM, not an LCA")
    from itertools import permutations

    gom_table = _binary_profiles(result)
    gom = gom_table.to_numpy()
    lca_table = _binary_profiles(lca_result)
    if lca_table.shape != gom_table.shape or set(lca_table.index) != set(gom_table.index):
        raise SpecificationError(f"profile_comparison: the LCA has items {list(lca_table.index)} and "
                                 f"{lca_table.shape[1]} classes, the GoM {list(gom_table.index)} and "
                                 f"{gom_table.shape[1]}")
    lca = lca_table.reindex(gom_table.index).to_numpy()
    k = gom.shape[1]
    best = min(permutations(range(k)), key=lambda p: float(np.sum((gom - lca[:, list(p)]) ** 2)))
    rows = []
    for c in range(k):
        for item, g, l in zip(gom_table.index, gom[:, c], lca[:, best[c]]):
            rows.append({"class": c + 1, "lca_class": best[c] + 1, "item": item, "lca": l, "gom": g})
    return pd.DataFrame(rows)


def _binary_profiles(result) -> pd.DataFrame:
    probs = result.item_probabilities()
    last = probs.groupby("item")["category"].transform("max")
    ones = probs[probs["category"] == last]
    return ones.pivot_table(index="item", columns="class", values="probability", sort=False)


def guessing_parameters(result) -> pd.DataFrame:
    """3PL parameters from the constrained FMA-GoM (eq 48-50): guessing g = expit(gamma_i),
    discrimination a = lambda_i2, difficulty b = tau_i2 / lambda_i2 (Mplus threshold sign), with
    delta-method SEs, beside the GoM parameters gamma, lambda, tau."""
    _check_gom(result)
    structure, phi, cov = result.structure, result.phi, result.cov_phi
    memb = structure.membership
    if memb.item_logits is None or not structure.unit_latents:
        raise SpecificationError("guessing_parameters() needs the 3PL model (mlmix_pymc.irt(model='3pl'))")
    layout = structure.layout
    lookup = {name: k for k, name in enumerate(layout.names)}
    name = memb.class_var

    def se_of(grad):
        return float(np.sqrt(max(grad @ cov @ grad, 0.0))) if cov is not None else np.nan

    rows = []
    for item in memb.items:
        kg, kl, kt = lookup[f"{name}#1|{item}"], lookup[f"f BY {item}|{name}#2"], lookup[f"{item}$1|{name}#2"]
        gamma, lam, tau = phi[kg], phi[kl], phi[kt]
        g = 1.0 / (1.0 + np.exp(-gamma))
        grad_g = np.zeros(len(phi))
        grad_g[kg] = g * (1 - g)
        grad_b = np.zeros(len(phi))
        grad_b[kt], grad_b[kl] = 1.0 / lam, -tau / lam**2
        grad_a = np.zeros(len(phi))
        grad_a[kl] = 1.0
        g_se = np.nan if layout.names[kg] in result.at_bound else se_of(grad_g)  # g held at 0 or 1
        rows.append({"item": item, "gamma": gamma, "lambda": lam, "tau": tau, "g": g, "g_se": g_se,
                     "a": lam, "a_se": se_of(grad_a), "b": tau / lam, "b_se": se_of(grad_b)})
    return pd.DataFrame(rows)
