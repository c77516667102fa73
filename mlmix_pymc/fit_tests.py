"""Tests between fitted models: likelihood ratio, MLR scaled difference, Wald, Vuong-Lo-Mendell-Rubin.

* ``lrt(restricted, general)``: 2 (logL_1 - logL_0) against chi-square with df = p_1 - p_0.
* ``scaling_factor(result)``: the MLR scaling correction factor of the log-likelihood as Mplus
  reports it, c = tr(I^-1 B) / p, with I the observed information and B the sum of outer
  products of the independent units' scores (1 under a correctly specified model).
* ``scaled_difference_test``: Satorra-Bentler (2001) for log-likelihoods, as Mplus computes it
  for MLR: cd = (p0 c0 - p1 c1) / (p0 - p1), TRd = -2 (L0 - L1) / cd, df = p1 - p0.
* ``wald_test(result, R, r)``: W = (R phi - r)' (R V R')^-1 (R phi - r) on the reported scale.
* ``vlmr_test(k_minus_1, k)``: Lo, Mendell & Rubin (2001) / Vuong (1989): 2 (L_k - L_{k-1}) is
  asymptotically a weighted sum of chi-square(1) variables whose weights are the eigenvalues of
  W = [[-B_ff A_f^-1, -B_fg A_g^-1], [B_gf A_f^-1, B_gg A_g^-1]] (A: mean Hessians, B: mean
  outer products of scores); the p-value is its upper tail (Imhof 1961). The adjusted LMR
  divides the statistic by 1 + 1 / ((p_k - p_{k-1}) log n) (Lo et al. 2001, eq 16), as TECH11.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import integrate, stats

from .errors import SpecificationError


@dataclass
class TestResult:
    """A test statistic with its degrees of freedom and p-value (and what went into it)."""

    name: str
    statistic: float
    df: float
    p_value: float
    details: dict

    def __repr__(self):
        return f"<{self.name}: statistic={self.statistic:.4f} df={self.df:g} p={self.p_value:.4g}>"


def _objective(result):
    """The fitted objective of ``result`` (its model's compiled likelihood at the fit's settings)."""
    if result.model is None:
        raise SpecificationError("this result has no model attached (load it with its data to run tests)")
    objective = result.model.compile(**result.integration_settings)
    objective.adapt(result.theta)
    return objective


def _active(result) -> np.ndarray:
    """Free parameters not held at a bound (those carry no curvature)."""
    layout = result.structure.layout
    return np.array([f for f in range(layout.n_free) if layout.free_names[f] not in result.at_bound], dtype=int)


def _check_nested(restricted, general):
    if restricted.n_obs != general.n_obs:
        raise SpecificationError(f"the two models were fitted to different numbers of observations "
                                 f"({restricted.n_obs} and {general.n_obs})")
    if restricted.n_params >= general.n_params:
        raise SpecificationError(f"the restricted model must have fewer parameters than the general one "
                                 f"({restricted.n_params} >= {general.n_params}); pass (restricted, general)")


def lrt(restricted, general) -> TestResult:
    """Likelihood ratio test of a nested (restricted) model against a general one: 2 (L1 - L0), chi-square df = p1 - p0.

    Valid when the restriction is interior (not for k-1 against k classes: use ``vlmr_test``
    or the bootstrap of ``enumerate``).
    """
    _check_nested(restricted, general)
    stat = 2.0 * (general.loglik - restricted.loglik)
    df = general.n_params - restricted.n_params
    _check_sign(restricted, general, stat)
    return TestResult("likelihood ratio", stat, df, float(stats.chi2.sf(max(stat, 0.0), df)),
                      {"loglik_restricted": restricted.loglik, "loglik_general": general.loglik})


def _integration_error(result) -> float:
    return float(getattr(result, "integration_error", None) or 0.0)


def _check_sign(restricted, general, stat: float) -> None:
    """A general model below the model nested in it: refuse, naming the likely causes; a difference within
    the two fits' integration errors (or 1e-6) is a tie, with a warning."""
    slack = 2.0 * (_integration_error(restricted) + _integration_error(general)) + 1e-6
    if stat >= 0:
        return
    message = (f"the general model's loglikelihood {general.loglik:.4f} is below the restricted model's "
               f"{restricted.loglik:.4f} (statistic {stat:.4g}): ")
    if stat >= -slack:
        import warnings

        warnings.warn(message + "within the fits' integration error, taken as 0", stacklevel=3)
        return
    raise SpecificationError(message + "the models may not be nested (pass (restricted, general)), the general "
                             "fit may have stopped at a local maximum (more starts, or start it from the restricted "
                             "solution) or on a boundary (see its result.boundary), or the two were integrated "
                             "with different accuracy (compare result.integration_error)")


def scaling_factor(result) -> float:
    """MLR scaling correction factor c = tr(I^-1 B) / p of ``result`` (Mplus's "H0 scaling correction factor").

    I is the observed information (minus the Hessian) and B the sum of the outer products of the
    scores of the independent units (rows, or clusters in two-level models), over the free
    parameters not at a bound; p is the number of free parameters.
    """
    cached = getattr(result, "_scaling_factor", None)
    if cached is not None:
        return cached
    objective = _objective(result)
    active = _active(result)
    info = -objective.hessian(result.theta)[np.ix_(active, active)]
    scores = objective.scores(result.theta)[:, active]
    meat = scores.T @ scores
    c = float(np.trace(np.linalg.solve(info, meat)) / result.n_params)
    result._scaling_factor = c
    return c


def scaled_difference_test(restricted, general, c0: float | None = None, c1: float | None = None) -> TestResult:
    """Satorra-Bentler (2001) scaled likelihood ratio difference test for MLR (Mplus's formula).

    cd = (p0 c0 - p1 c1) / (p0 - p1), TRd = -2 (L0 - L1) / cd, df = p1 - p0; c0, c1 default to
    each model's ``scaling_factor``.
    """
    _check_nested(restricted, general)
    _check_sign(restricted, general, 2.0 * (general.loglik - restricted.loglik))
    c0 = scaling_factor(restricted) if c0 is None else float(c0)
    c1 = scaling_factor(general) if c1 is None else float(c1)
    p0, p1 = restricted.n_params, general.n_params
    cd = (p0 * c0 - p1 * c1) / (p0 - p1)
    stat = -2.0 * (restricted.loglik - general.loglik) / cd
    df = p1 - p0
    p = float(stats.chi2.sf(stat, df)) if cd > 0 else float("nan")
    return TestResult("scaled likelihood ratio difference (MLR)", stat, df, p,
                      {"c0": c0, "c1": c1, "cd": cd, "loglik_restricted": restricted.loglik,
                       "loglik_general": general.loglik})


def wald_test(result, restrictions, values=None) -> TestResult:
    """Wald test of linear restrictions R phi = r on the reported parameters.

    ``restrictions``: a list of dicts parameter name -> coefficient (one row of R each), or a
    list of lists of names meaning "all equal" (each list gives consecutive differences),
    e.g. ``[["u1$1|c#1", "u1$1|c#2"]]`` for equal thresholds across classes. ``values``: r
    (default 0). Needs standard errors (``fit(se="observed")`` or ``"mlr"``).
    """
    if result.cov_phi is None:
        raise SpecificationError("the Wald test needs standard errors: fit with se='observed' or se='mlr'")
    names = result.structure.layout.names
    lookup = {n: k for k, n in enumerate(names)}
    rows = []
    for item in restrictions:
        if isinstance(item, dict):
            rows.append(dict(item))
        else:
            group = list(item)
            if len(group) < 2:
                raise SpecificationError(f"an equality restriction needs two or more parameters, got {group}")
            rows += [{group[i]: 1.0, group[i + 1]: -1.0} for i in range(len(group) - 1)]
    R = np.zeros((len(rows), len(names)))
    for i, row in enumerate(rows):
        for name, coef in row.items():
            if name not in lookup:
                raise SpecificationError(f"unknown parameter {name!r} in the Wald restrictions; see "
                                         "result.parameters['name']")
            R[i, lookup[name]] = coef
    r = np.zeros(len(rows)) if values is None else np.asarray(values, dtype=float).reshape(-1)
    if r.shape != (len(rows),):
        raise SpecificationError(f"values must have one entry per restriction ({len(rows)}), got {r.shape}")
    cov = np.nan_to_num(result.cov_phi)
    diff = R @ result.phi - r
    V = R @ cov @ R.T
    if np.linalg.matrix_rank(V) < len(rows):
        raise SpecificationError("the restrictions are linearly dependent or involve fixed parameters only")
    stat = float(diff @ np.linalg.solve(V, diff))
    return TestResult("Wald", stat, len(rows), float(stats.chi2.sf(stat, len(rows))),
                      {"R": R, "r": r, "difference": diff})


# ---------------------------------------------------------------- Vuong-Lo-Mendell-Rubin
def weighted_chi2_sf(x: float, weights: np.ndarray) -> float:
    """P(sum_j w_j Z_j^2 > x), Z_j iid N(0, 1), by Imhof's (1961) inversion formula.

    P = 1/2 + (1/pi) int_0^inf sin(beta(u) - x u / 2) / (u rho(u)) du with beta(u) = 1/2 sum
    atan(w_j u) and rho(u) = prod (1 + w_j^2 u^2)^(1/4); beyond u = 1 the oscillating factor is
    split into cos(x u / 2) and sin(x u / 2) parts and integrated by QUADPACK's Fourier rule.
    """
    w = np.asarray(weights, dtype=float)
    w = w[np.abs(w) > 1e-10 * max(1.0, np.abs(w).max(initial=0.0))]
    if w.size == 0:
        return float(x < 0)

    def beta(u):
        return 0.5 * np.arctan(w * u).sum()

    def envelope(u):
        return 1.0 / (u * np.exp(0.25 * np.log1p((w * u) ** 2).sum()))

    def full(u):
        return 0.5 * w.sum() - 0.5 * x if u == 0 else np.sin(beta(u) - 0.5 * x * u) * envelope(u)

    head, _ = integrate.quad(full, 0.0, 1.0, limit=200)
    if x == 0:
        tail, _ = integrate.quad(full, 1.0, np.inf, limit=500)
    else:  # sin(b - a u) = sin b cos(a u) - cos b sin(a u), a = x / 2
        a = 0.5 * abs(x)
        sign = 1.0 if x > 0 else -1.0
        cos_part, _ = integrate.quad(lambda u: np.sin(beta(u + 1.0)) * envelope(u + 1.0), 0.0, np.inf,
                                     weight="cos", wvar=a)
        sin_part, _ = integrate.quad(lambda u: np.cos(beta(u + 1.0)) * envelope(u + 1.0), 0.0, np.inf,
                                     weight="sin", wvar=a)
        # shift u -> u + 1: cos(a (u + 1)) = cos a cos(a u) - sin a sin(a u), and likewise for sin
        cos_sin, _ = integrate.quad(lambda u: np.sin(beta(u + 1.0)) * envelope(u + 1.0), 0.0, np.inf,
                                    weight="sin", wvar=a)
        sin_cos, _ = integrate.quad(lambda u: np.cos(beta(u + 1.0)) * envelope(u + 1.0), 0.0, np.inf,
                                    weight="cos", wvar=a)
        int_cos = np.cos(a) * cos_part - np.sin(a) * cos_sin  # int sin(b) env cos(a u)
        int_sin = np.sin(a) * sin_cos + np.cos(a) * sin_part  # int cos(b) env sin(a u)
        tail = int_cos - sign * int_sin
    return float(np.clip(0.5 + (head + tail) / np.pi, 0.0, 1.0))


def _derivatives(result) -> tuple[np.ndarray, np.ndarray]:
    """Per-unit scores (n_units, n_free) and the Hessian at the estimates.

    Single-level objectives: central differences of the per-row log-likelihoods and of the
    exact gradient, which need no further compilation (the exact per-row score and Hessian
    graphs take longer to compile than these differences take to run); two-level objectives:
    their own per-cluster scores and Hessian.
    """
    from .engine.integrated import central_differences

    objective = _objective(result)
    theta = np.asarray(result.theta, dtype=float)
    if objective.unit_name != "row":
        return objective.scores(theta), objective.hessian(theta)
    scores = central_differences(objective.pointwise_loglik, theta, 1e-6).T
    hess = central_differences(lambda t: objective.loglik_grad(t)[1], theta, 1e-5)
    return scores, (hess + hess.T) / 2


def vlmr_test(smaller, larger) -> TestResult:
    """Vuong-Lo-Mendell-Rubin test of ``smaller`` (k-1 classes) against ``larger`` (k classes), TECH11.

    Both fitted to the same data. ``details`` holds the adjusted LMR statistic and p-value
    (``adjusted_statistic``, ``adjusted_p_value``) and the eigenvalue weights.
    """
    if smaller.n_obs != larger.n_obs:
        raise SpecificationError("the two models were fitted to different data (numbers of observations differ)")
    if smaller.n_params >= larger.n_params:
        raise SpecificationError("pass the model with fewer classes first: vlmr_test(smaller, larger)")
    af, ag = _active(larger), _active(smaller)
    sf, hf = _derivatives(larger)
    sg, hg = _derivatives(smaller)
    sf, sg = sf[:, af], sg[:, ag]
    n_units = sf.shape[0]
    A_f = hf[np.ix_(af, af)] / n_units
    A_g = hg[np.ix_(ag, ag)] / n_units
    B_ff, B_gg, B_fg = sf.T @ sf / n_units, sg.T @ sg / n_units, sf.T @ sg / n_units
    Af_inv, Ag_inv = np.linalg.inv(A_f), np.linalg.inv(A_g)
    W = np.block([[-B_ff @ Af_inv, -B_fg @ Ag_inv], [B_fg.T @ Af_inv, B_gg @ Ag_inv]])
    weights = np.real(np.linalg.eigvals(W))
    stat = 2.0 * (larger.loglik - smaller.loglik)
    p = weighted_chi2_sf(stat, weights)
    dp = larger.n_params - smaller.n_params
    adjusted = stat / (1.0 + 1.0 / (dp * np.log(larger.n_obs)))
    return TestResult("Vuong-Lo-Mendell-Rubin", stat, dp, p,
                      {"adjusted_statistic": adjusted, "adjusted_p_value": weighted_chi2_sf(adjusted, weights),
                       "weights": np.sort(weights)[::-1], "loglik_smaller": smaller.loglik,
                       "loglik_larger": larger.loglik})


def tests_table(tests: list[TestResult]) -> pd.DataFrame:
    """Several tests as one table (name, statistic, df, p)."""
    return pd.DataFrame([{"test": t.name, "statistic": t.statistic, "df": t.df, "p_value": t.p_value} for t in tests])
