"""The integration certificate of a fit: its log-likelihood evaluated again with a finer rule.

An integrated log-likelihood is only as good as its rule, and a default rule that is accurate
on most data can be off on a given data set (large variances, steep loadings). So every
integrated fit is checked at its solution (the design guide's section 2; the paper's
section 10 advises that technical options "should not affect the estimation results"):

* quadrature rules (adaptive or fixed Gauss-Hermite, trapezoid): the log-likelihood with the
  next finer rule of the same kind (about twice the points per dimension, ``finer_points``);
  the difference is ``result.integration_error``;
* quasi Monte Carlo: the same with four times the points, and the Monte Carlo standard error of
  the log-likelihood (per cluster, the sample standard deviation of the integrand over the
  points, carried to the log scale by the delta method and added over clusters in variance);
* Laplace: an approximation, not a rule that converges: its difference to adaptive
  Gauss-Hermite quadrature with many points (up to 3 dimensions), reported as the
  approximation's error.

When the difference exceeds the tolerance (``fit(integration_tol=1e-3)``), ``estimate/ml.py``
refines the rule and refits from the solution (``MAX_REFINEMENTS`` times), then warns naming
the figure and the options to change. A single-level objective evaluates the finer rule with
its own compiled graph (the rule's nodes are graph inputs, ``engine/compiled.py``); a two-level one
with the objective of the finer settings, whose compiled cluster functions are shared.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..engine.objective import Objective
from ..integration_settings import IntegrationSettings, default_points, finer_points

DEFAULT_TOLERANCE = 1e-3
MAX_REFINEMENTS = 2
LAPLACE_CHECK_MAX_DIM = 3  # the adaptive quadrature comparison of a Laplace fit, up to this many dimensions


@dataclasses.dataclass(frozen=True)
class IntegrationCertificate:
    """How accurately a fit's log-likelihood was integrated (``result.certificate``).

    ``loglik`` is the value at the fit's rule (``rule``), ``loglik_finer`` at ``finer_rule``;
    ``error`` is their absolute difference (for Laplace: the approximation's difference to
    adaptive quadrature), ``tolerance`` the fit's ``integration_tol``; ``refinements`` counts the
    automatic refinements that led to ``rule``; ``mc_standard_error`` is the Monte Carlo
    standard error of ``loglik`` (quasi Monte Carlo only). Once the two agree within the
    tolerance the result reports the finer value as its log-likelihood (``reported ==
    "finer"``; posterior probabilities and standard errors stay with the fit's rule): ``error``
    then bounds the error of the coarser rule, and the reported value's is smaller still (the
    rules converge).
    """

    rule: str
    finer_rule: str
    loglik: float
    loglik_finer: float
    tolerance: float
    refinements: int = 0
    approximation: bool = False
    mc_standard_error: float | None = None
    reported: str = "rule"  # which value the result reports: "rule" or "finer" (once within the tolerance)

    @property
    def error(self) -> float:
        """|loglik_finer - loglik|."""
        return float(abs(self.loglik_finer - self.loglik))

    @property
    def ok(self) -> bool:
        """True when the error is within the tolerance."""
        return self.error <= self.tolerance

    def line(self) -> str:
        """One line for the summary."""
        what = "Laplace approximation error" if self.approximation else "Integration error"
        if self.reported == "finer":
            text = f"{what} {self.error:.2g} ({self.finer_rule}, reported, against {self.rule}; " \
                   f"tolerance {self.tolerance:g})"
        else:
            text = f"{what} {self.error:.2g} (against {self.finer_rule}; tolerance {self.tolerance:g})"
        if self.mc_standard_error is not None:
            text += f"; Monte Carlo standard error {self.mc_standard_error:.2g}"
        if self.refinements:
            text += f"; rule refined {self.refinements} time(s)"
        return text

    def to_dict(self) -> dict:
        """Plain values (JSON)."""
        out = dataclasses.asdict(self)
        out["error"] = self.error
        return out


def integrates(settings: IntegrationSettings) -> bool:
    """True when the fit integrates anything (a certificate applies)."""
    return settings.cluster_method is not None or settings.unit_method is not None


def finer_settings(settings: IntegrationSettings, structure) -> IntegrationSettings:
    """The next finer rule of every integral of ``settings`` (Laplace: adaptive quadrature)."""
    out = settings
    if settings.cluster_method is not None:
        dim = structure.between_model.dim
        if settings.cluster_method == "laplace":
            method = "adaptive"
            points = finer_points(method, default_points(method, dim), dim)
        else:
            method, points = settings.cluster_method, finer_points(settings.cluster_method, settings.cluster_points,
                                                                    dim)
        out = dataclasses.replace(out, cluster_method=method, cluster_points=points)
    if settings.unit_method is not None:
        per_row = settings.unit_method == "adaptive" and not structure.is_two_level
        out = dataclasses.replace(out, unit_points=finer_points(settings.unit_method, settings.unit_points,
                                                                structure.unit_dim, per_row))
    return out


def refinable(settings: IntegrationSettings) -> bool:
    """Rules that converge with more points (Laplace does not: it is an approximation)."""
    return settings.cluster_method != "laplace"


def finer_loglik(model, objective: Objective, settings: IntegrationSettings,
                 theta: np.ndarray) -> tuple[float, IntegrationSettings]:
    """The log-likelihood at ``theta`` with the finer rule of ``settings``, and those settings."""
    finer = finer_settings(settings, model.structure)
    if not model.structure.is_two_level:  # the same compiled graph with the finer rule's nodes
        method = "gauss-hermite" if finer.unit_method == "adaptive" else finer.unit_method
        return float(objective.loglik_with_rule(theta, method, finer.unit_points)), finer
    other = model.compile(settings=finer, backend=getattr(objective, "backend", "c"))
    other.adapt(theta)
    return float(other.loglik(theta)), finer


def qmc_standard_error(objective: Objective, theta: np.ndarray) -> float:
    """Monte Carlo standard error of a quasi Monte Carlo log-likelihood (two-level models).

    Per cluster j, the integrand's values s_jq at the Q equally weighted points (summed over the
    between classes with their prior probabilities) have mean L_j and variance var_q(s_jq) / Q;
    the delta method gives SE(log L_j) = SD(s_j) / (sqrt(Q) L_j), added over clusters in variance.
    (Sobol points are less variable than independent draws: a conservative figure.)"""
    det = objective.details(theta)
    terms = det["node_terms"]  # (M, J, Q): log of weight x integrand
    n_points = terms.shape[2]
    log_prior = det["d_log_prior"].T[:, :, None]  # (M, J, 1)
    samples = np.exp(terms + log_prior + np.log(n_points)).sum(axis=0)  # (J, Q)
    mean = samples.mean(axis=1)
    se = samples.std(axis=1, ddof=1) / np.sqrt(n_points)
    return float(np.sqrt(np.sum((se / mean) ** 2)))


def certify(model, objective: Objective, settings: IntegrationSettings, theta: np.ndarray, loglik: float,
            tolerance: float, refinements: int = 0) -> IntegrationCertificate:
    """Evaluate the log-likelihood at ``theta`` with the finer rule and compare (module docstring)."""
    value, finer = finer_loglik(model, objective, settings, theta)
    objective.adapt(theta)  # the fit's own nodes back at the solution (finer evaluations may move shared state)
    laplace = settings.cluster_method == "laplace"
    mc_se = qmc_standard_error(objective, theta) if settings.cluster_method == "qmc" else None
    return IntegrationCertificate(rule=settings.describe(), finer_rule=finer.describe(), loglik=float(loglik),
                                  loglik_finer=value, tolerance=float(tolerance), refinements=refinements,
                                  approximation=laplace, mc_standard_error=mc_se)


def laplace_affordable(structure) -> bool:
    """A Laplace fit's comparison with adaptive quadrature costs (points per dimension) ** dim nodes per cluster."""
    return structure.between_model is not None and structure.between_model.dim <= LAPLACE_CHECK_MAX_DIM


def warning_text(cert: IntegrationCertificate, settings: IntegrationSettings, two_level: bool) -> str:
    """The warning of a certificate above its tolerance, naming the figure and the options to change."""
    if cert.approximation:
        return (f"the Laplace approximation's log-likelihood {cert.loglik:.4f} differs from adaptive quadrature "
                f"({cert.finer_rule}: {cert.loglik_finer:.4f}) by {cert.error:.3g}, more than integration_tol="
                f"{cert.tolerance:g}; for an accurate log-likelihood fit with integration='adaptive'")
    option = "points / factor_points" if two_level and settings.unit_method is not None else "points"
    return (f"the log-likelihood is not accurate to integration_tol={cert.tolerance:g}: {cert.loglik:.4f} with "
            f"{cert.rule}, {cert.loglik_finer:.4f} with {cert.finer_rule} (difference {cert.error:.3g}) after "
            f"{cert.refinements} refinement(s); use more {option}, another integration= rule, or a larger "
            "integration_tol")

