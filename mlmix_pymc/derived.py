"""Derived quantities with uncertainty: confidence intervals, odds ratios, R2 of class regressions, ICC.

* ``confidence_intervals``: estimate +- z SE for every parameter (Wald intervals, reported scale).
* ``odds_ratios``: exp(beta_ck - beta_rk) of every covariate of a class regression (eq 4) for
  class c against a chosen reference class r, with delta-method intervals (computed on the
  log scale and exponentiated, so they stay positive).
* ``r_squared``: the latent-response R2 of the class regressions, eq 14 generalized: for the
  logit of class k against the reference, the variance of its linear predictor over the
  covariates (empirical), the parent class (eq 14: sum_d p_d gamma_d^2 - (sum_d p_d gamma_d)^2,
  gamma^2 P(C1=1)(1 - P(C1=1)) with two parent classes) and the random intercept (var(alpha),
  eq 10), with the covariance of covariates and parent class, over that variance plus
  pi^2 / 3; each source's share of the total is its decomposition.
  For a two-level LTA (C2 on C1, both with random intercepts) the paper's section-4
  decomposition (``random_intercept_decomposition``) replaces the parent and random-intercept
  parts: cluster effect alpha_1, residual C1 and residual alpha_2.
* ``icc_interval``: ICC = v / (v + pi^2/3) (eq 20) with a delta-method interval on the logit
  scale, logit(ICC) = log v - log(pi^2/3) with SE se(v) / v, transformed back: it stays in [0, 1].
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special, stats

from .errors import SpecificationError

LOGISTIC_VARIANCE = np.pi**2 / 3  # residual variance of the logistic distribution (eq 20)


def _z(level: float) -> float:
    if not 0 < level < 1:
        raise SpecificationError(f"level must be between 0 and 1, got {level!r}")
    return float(stats.norm.ppf(0.5 + level / 2))


def confidence_intervals(result, level: float = 0.95) -> pd.DataFrame:
    """The parameter table with Wald ``lower`` / ``upper`` limits (NaN where there is no SE)."""
    table = result.parameters.copy()
    z = _z(level)
    table["lower"] = table["estimate"] - z * table["se"]
    table["upper"] = table["estimate"] + z * table["se"]
    return table


def icc_interval(variance, variance_se, level: float = 0.95):
    """(ICC, delta-method SE, lower, upper) of v / (v + pi^2/3), the interval on the logit scale (in [0, 1])."""
    v, se = np.asarray(variance, dtype=float), np.asarray(variance_se, dtype=float)
    z = _z(level)
    icc = v / (v + LOGISTIC_VARIANCE)
    icc_se = se * LOGISTIC_VARIANCE / (v + LOGISTIC_VARIANCE) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        logit = np.log(v) - np.log(LOGISTIC_VARIANCE)
        logit_se = se / v
    return icc, icc_se, special.expit(logit - z * logit_se), special.expit(logit + z * logit_se)


def odds_ratios(result, reference: int | None = None, level: float = 0.95) -> pd.DataFrame:
    """Odds ratios of covariate effects on class membership, class c against ``reference`` (1-based; default last).

    One row per class variable with covariates, class c != reference and covariate:
    log odds ratio with delta-method SE, the odds ratio and its interval.
    """
    if result.cov_phi is None:
        raise SpecificationError("odds ratio intervals need standard errors: fit with se='observed' or 'mlr'")
    layout = result.structure.layout
    z = _z(level)
    cov = result.cov_phi
    rows = []
    for cv in result.structure.class_vars + ((result.structure.between,) if result.structure.between else ()):
        key = f"slope:{cv.name}"
        if not cv.covariates or key not in layout.blocks:
            continue
        ref = cv.n_classes if reference is None else int(reference)
        if not 1 <= ref <= cv.n_classes:
            raise SpecificationError(f"reference={reference!r}: class variable {cv.name!r} has classes "
                                     f"1..{cv.n_classes}")
        index = layout.blocks[key].index  # (K, q) phi elements, last class fixed at 0
        for c in range(cv.n_classes):
            if c + 1 == ref:
                continue
            for q, x in enumerate(cv.covariates):
                a, b = index[c, q], index[ref - 1, q]
                est = result.phi[a] - result.phi[b]
                var = cov[a, a] + cov[b, b] - 2 * cov[a, b]
                se = float(np.sqrt(max(var, 0.0)))
                rows.append({"class_var": cv.name, "class": c + 1, "reference": ref, "covariate": x,
                             "log_odds_ratio": est, "se": se, "odds_ratio": np.exp(est),
                             "lower": np.exp(est - z * se), "upper": np.exp(est + z * se),
                             "p_value": 2 * stats.norm.sf(abs(est) / se) if se > 0 else np.nan})
    return pd.DataFrame(rows)


def random_intercept_decomposition(a1: float, gamma: float, v1: float, v2: float, c12: float,
                                   points: int = 60) -> dict:
    """The paper's decomposition (section 4, Figure 1) of the variance of C2's logit
    lambda = gamma I(C1 = 1) + alpha_2 when C1's logit is a1 + alpha_1 and (alpha_1, alpha_2) are
    normal with variances v1, v2 and covariance c12 (two classes each).

    With P(alpha_1) = P(C1 = 1 | alpha_1) and b = c12 / v1, lambda splits into three uncorrelated
    parts: the cluster effect alpha_1 (gamma P(alpha_1) + b alpha_1), the residual individual
    effect of C1 (gamma (I(C1) - P(alpha_1))) and the residual cluster effect alpha_2 - b alpha_1;
    their variances (E over alpha_1 by Gauss-Hermite) are returned with their sum.
    """
    z, w = np.polynomial.hermite.hermgauss(points)
    alpha1, w = np.sqrt(2.0 * v1) * z, w / np.sqrt(np.pi)
    p = special.expit(a1 + alpha1)
    b = c12 / v1 if v1 > 0 else 0.0
    part = gamma * p + b * alpha1
    between = float(w @ part**2 - (w @ part) ** 2)
    parent_residual = float(gamma**2 * (w @ (p * (1 - p))))
    random_residual = float(v2 - b * c12)
    return {"var_cluster_effect": between, "var_parent_residual": parent_residual,
            "var_random_residual": random_residual, "total": between + parent_residual + random_residual}


def r_squared(result) -> pd.DataFrame:
    """Latent-response R2 of every class regression logit and its decomposition (see module doc).

    Columns: class_var, class (the logit of class k against the last class), the variance of
    the linear predictor due to covariates, parent class, random intercept and the
    covariates-parent covariance, the total R2 and each source's share.
    """
    structure, layout, phi = result.structure, result.structure.layout, result.phi
    names = layout.names
    rows = []
    x = result.model.data.covariates if result.model is not None else None
    for cv in structure.class_vars:
        k_last = cv.n_classes
        parent_probs = None
        if cv.parent is not None:
            from .graph.likelihood import marginal_class_probs

            parent_probs = marginal_class_probs(structure, result.prior, cv.parent)  # (n, Kp) P(parent | x_i)
        for k in range(k_last - 1):
            lp_x = np.zeros(result.n_obs)
            if cv.covariates:
                if x is None:
                    raise SpecificationError("R2 with covariates needs the result's data (model)")
                cols = [structure.covariate_names.index(c) for c in cv.covariates]
                lp_x = x[:, cols] @ phi[layout.blocks[f"slope:{cv.name}"].index[k]]
            var_x = float(np.var(lp_x))
            var_parent = cov_xp = 0.0
            if parent_probs is not None:
                gamma = phi[layout.blocks[f"transition:{cv.name}"].index[k]]  # (Kp,)
                p = parent_probs.mean(axis=0)
                var_parent = float(p @ gamma**2 - (p @ gamma) ** 2)  # eq 14
                cond = parent_probs @ gamma  # E[gamma_parent | x_i]
                cov_xp = float(np.mean((lp_x - lp_x.mean()) * (cond - cond.mean())))
            var_random = 0.0
            name = f"var({cv.name}#{k + 1})"
            if cv.random_intercept and name in names:
                var_random = float(phi[names.index(name)])
            explained = var_x + var_parent + var_random + 2 * cov_xp
            row = {"class_var": cv.name, "class": k + 1, "var_covariates": var_x, "var_parent": var_parent,
                   "var_random_intercept": var_random, "cov_covariates_parent": cov_xp}
            parts = _two_level_lta_parts(structure, phi, names, cv) if not cv.covariates else None
            if parts is not None:  # section 4: cluster effect, residual C1, residual alpha_2 (uncorrelated)
                explained = parts["total"]
                total = explained + LOGISTIC_VARIANCE
                row.update({f"share_{key[4:]}": value / total for key, value in parts.items() if key != "total"})
            total = explained + LOGISTIC_VARIANCE
            row.update({"r_squared": explained / total, "share_covariates": var_x / total,
                        "share_parent": var_parent / total, "share_random_intercept": var_random / total})
            rows.append(row)
    return pd.DataFrame(rows)


def _two_level_lta_parts(structure, phi, names, cv) -> dict | None:
    """``random_intercept_decomposition`` for a 2-class C2 on a 2-class C1, both with random intercepts
    (``lta(..., cluster=, random_intercept=True)``); None for other models."""
    parent = structure.class_var(cv.parent) if cv.parent is not None else None
    if parent is None or cv.n_classes != 2 or parent.n_classes != 2 or parent.covariates:
        return None
    if not (cv.random_intercept and parent.random_intercept):
        return None
    lookup = {n: i for i, n in enumerate(names)}
    me, pa = f"{cv.name}#1", f"{parent.name}#1"
    cov_name = next((n for n in (f"cov({me},{pa})", f"cov({pa},{me})") if n in lookup), None)
    needed = [f"var({pa})", f"var({me})", f"[{pa}]", f"{me} ON {pa}"]
    if cov_name is None or any(n not in lookup for n in needed):
        return None  # e.g. a regression among the random effects instead of a covariance
    v1, v2, a1, gamma = (float(phi[lookup[n]]) for n in needed)
    return random_intercept_decomposition(a1, gamma, v1, v2, float(phi[lookup[cov_name]]))
