"""Quadrature rules for integrating over standard normal cluster random effects.

A multilevel mixture likelihood integrates each cluster's conditional likelihood
over its random effects z ~ N(0, I_d). A *rule* is a set of nodes ``Z`` (Q, d) and
log-weights ``logw`` (Q,) with ``E[g(z)] ~= sum_q exp(logw_q) g(Z_q)``.

The weights carry every normalising constant (pi**(-d/2) of Gauss-Hermite, the
grid spacing and the normal density of the trapezoid rule, 1/Q of Monte Carlo), so
each base rule's weights sum to 1 and log-likelihoods computed with different
rules or numbers of points are on one scale and can be compared directly.

Rules (Asparouhov & Muthen, multilevel mixture models, section 10, which describes
the numerical integration options of Mplus):

* ``"trapezoid"`` -- equally spaced nodes on [-limit, limit]; the Mplus default
  (``INTEGRATION = STANDARD``), see :func:`trapezoid`.
* ``"gauss-hermite"`` -- tensor-product Gauss-Hermite (``INTEGRATION = GAUSSHERMITE``).
* ``"qmc"`` -- scrambled Sobol quasi Monte Carlo; Mplus recommends Monte Carlo
  integration for 5 or more dimensions, where tensor products grow as points**d.

:func:`shift_scale` turns any rule into an adaptive one (nodes centred and scaled
per cluster at the posterior mode), see its docstring.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from numpy.polynomial.hermite import hermgauss
from scipy.special import roots_hermite
from scipy.special import logsumexp, ndtri
from scipy.stats import qmc

from .errors import SpecificationError

METHODS = ("gauss-hermite", "trapezoid", "qmc")
WARN_NODES = 1_000_000
MAX_NODES = 20_000_000
_LOG_2PI = math.log(2.0 * math.pi)


@dataclass(frozen=True, eq=False)
class QuadratureRule:
    """Nodes and log-weights for E[g(z)], z ~ N(0, I_d).

    ``nodes`` has shape (Q, d), ``log_weights`` shape (Q,), and
    ``E[g(z)] ~= sum_q exp(log_weights[q]) * g(nodes[q])``. The weights include all
    normalising constants (they sum to 1). ``method`` names the rule that built it.
    Both arrays are stored as read-only float64 copies.
    """

    nodes: np.ndarray
    log_weights: np.ndarray
    method: str

    def __post_init__(self):
        nodes = np.array(self.nodes, dtype=float, ndmin=2)
        logw = np.array(self.log_weights, dtype=float).reshape(-1)
        if nodes.ndim != 2 or nodes.shape[0] != logw.shape[0]:
            raise SpecificationError(
                f"QuadratureRule: nodes shape {nodes.shape} does not match log_weights shape {logw.shape}")
        nodes.setflags(write=False)
        logw.setflags(write=False)
        object.__setattr__(self, "nodes", nodes)
        object.__setattr__(self, "log_weights", logw)

    @property
    def n_points(self) -> int:
        """Number of nodes Q."""
        return int(self.nodes.shape[0])

    @property
    def dim(self) -> int:
        """Dimension d of the random effect."""
        return int(self.nodes.shape[1])


def _check_int(name: str, value, minimum: int = 1) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise SpecificationError(
            f"integration option {name}={value!r} is invalid: expected an integer >= {minimum}; "
            f"allowed methods are {', '.join(repr(m) for m in METHODS)}")
    return int(value)


def _check_tensor_size(dim: int, points: int, method: str) -> None:
    total = points ** dim  # exact Python integer, no overflow
    if total > MAX_NODES:
        raise SpecificationError(
            f"integration method {method!r} with points={points} and dim={dim} needs {total:,} nodes "
            f"(more than {MAX_NODES:,}); use fewer points or method='qmc'")
    if total > WARN_NODES:
        warnings.warn(f"integration method {method!r} with points={points} and dim={dim} uses {total:,} "
                      "nodes; this is slow, consider method='qmc'", UserWarning, stacklevel=3)


def _tensor(z1: np.ndarray, logw1: np.ndarray, dim: int, method: str) -> QuadratureRule:
    """Tensor product of a 1-D rule, renormalised so the weights sum to exactly 1."""
    grids = np.meshgrid(*([z1] * dim), indexing="ij")
    wgrids = np.meshgrid(*([logw1] * dim), indexing="ij")
    nodes = np.stack([g.reshape(-1) for g in grids], axis=1)
    logw = np.sum([g.reshape(-1) for g in wgrids], axis=0)
    return QuadratureRule(nodes, logw - logsumexp(logw), method)


def gauss_hermite(dim: int, points: int) -> QuadratureRule:
    """Tensor-product Gauss-Hermite rule with ``points`` nodes per dimension.

    From the physicists' nodes x and weights w for exp(-x^2) (``hermgauss``; scipy's
    ``roots_hermite`` above 150 points, where ``hermgauss`` overflows) the standard
    normal rule is z = sqrt(2) x with weight w / sqrt(pi) per dimension. It is exact
    for polynomials of degree <= 2 * points - 1 in each coordinate. Nodes whose weight
    underflows to 0 are dropped.
    """
    dim, points = _check_int("dim", dim), _check_int("points", points)
    _check_tensor_size(dim, points, "gauss-hermite")
    x, w = hermgauss(points) if points <= 150 else roots_hermite(points)
    keep = w > 0
    return _tensor(math.sqrt(2.0) * x[keep], np.log(w[keep]) - 0.5 * math.log(math.pi), dim, "gauss-hermite")


def trapezoid(dim: int, points: int, limit: float = 5.0) -> QuadratureRule:
    """Tensor-product trapezoid rule on [-limit, limit], the Mplus default.

    Nodes are ``points`` equally spaced values per dimension (a single node at 0 when
    points == 1); weights are the trapezoid weights times the standard normal density,
    renormalised to sum to 1. Renormalising divides by the rule's estimate of the
    normal mass inside [-limit, limit], which removes the tail truncation error to
    first order (constants are integrated exactly) as well as the discretisation
    error of the normalising constant.
    """
    dim, points = _check_int("dim", dim), _check_int("points", points)
    if not (np.isfinite(limit) and limit > 0):
        raise SpecificationError(f"integration option limit={limit!r} is invalid: expected a positive number")
    _check_tensor_size(dim, points, "trapezoid")
    if points == 1:
        z1, logw1 = np.zeros(1), np.zeros(1)
    else:
        z1 = np.linspace(-limit, limit, points)
        trap = np.full(points, z1[1] - z1[0])
        trap[[0, -1]] *= 0.5
        logw1 = np.log(trap) - 0.5 * z1 ** 2 - 0.5 * _LOG_2PI
    return _tensor(z1, logw1 - logsumexp(logw1), dim, "trapezoid")


def quasi_monte_carlo(dim: int, points: int, seed=0) -> QuadratureRule:
    """Scrambled Sobol quasi Monte Carlo rule with equal weights 1/points.

    Draws 2**ceil(log2(points)) scrambled Sobol points (``scipy.stats.qmc.Sobol``,
    reproducible for a fixed ``seed``) and keeps the first ``points``; powers of two
    keep Sobol's balance properties and are recommended. Uniforms are clipped into
    [eps, 1 - eps] and mapped to normals with ``ndtri``.
    """
    dim, points = _check_int("dim", dim), _check_int("points", points)
    m = max(0, math.ceil(math.log2(points)))
    u = qmc.Sobol(d=dim, scramble=True, seed=seed).random_base2(m)[:points]
    eps = np.finfo(float).eps
    nodes = ndtri(np.clip(u, eps, 1.0 - eps))
    return QuadratureRule(nodes, np.full(points, -math.log(points)), "qmc")


def make_rule(method: str, dim: int, points: int, seed=0) -> QuadratureRule:
    """Build a rule by name: ``"gauss-hermite"``, ``"trapezoid"`` or ``"qmc"``.

    ``seed`` is used by ``"qmc"`` only. Raises :class:`SpecificationError` (a
    ``ValueError``) naming the bad option for an unknown method, dim < 1 or
    points < 1, and for tensor-product rules above 2e7 nodes (warns above 1e6).
    """
    key = method.strip().lower() if isinstance(method, str) else method
    if key not in METHODS:
        raise SpecificationError(f"integration option method={method!r} is invalid: "
                                 f"allowed methods are {', '.join(repr(m) for m in METHODS)}")
    dim, points = _check_int("dim", dim), _check_int("points", points)
    if key == "gauss-hermite":
        return gauss_hermite(dim, points)
    if key == "trapezoid":
        return trapezoid(dim, points)
    return quasi_monte_carlo(dim, points, seed=seed)


def log_std_normal(x: np.ndarray) -> np.ndarray:
    """Log density of N(0, I_d) over the last axis."""
    return -0.5 * np.sum(x * x, axis=-1) - 0.5 * x.shape[-1] * _LOG_2PI


def shift_scale(rule: QuadratureRule, mean, chol):
    """Adaptive nodes and log-weights per cluster (adaptive Gauss-Hermite).

    For cluster j with ``mean[j]`` (d,) and lower-triangular ``chol[j]`` (d, d),
    typically the posterior mode of the random effect and the Cholesky factor of
    its posterior covariance, the nodes are b_jq = mean_j + L_j z_q. Changing
    variables b = mean + L z in the integral against the N(0, I) density phi,

        E[h(b)] = int h(b) phi(b) db = int h(mean + L z) phi(mean + L z) |det L| dz
                = E_z[ h(b) phi(b) |det L| / phi(z) ],

    so the returned log-weights are
    ``logw_q + log phi(b_jq) - log phi(z_q) + log|det L_j|`` and
    ``E[h(b)] ~= sum_q exp(logw_jq) h(b_jq)``: evaluate the integrand at the nodes b.
    When h(b) phi(b) is proportional to N(mean, L L^T) the rule is exact; the adapted
    weights therefore no longer sum to 1. See Pinheiro & Bates (1995) and
    Rabe-Hesketh, Skrondal & Pickles (2005).

    ``mean`` is (J, d) and ``chol`` (J, d, d) (a single (d,) / (d, d) is treated as
    J = 1). Returns ``(nodes, log_weights)`` of shapes (J, Q, d) and (J, Q).
    """
    mean = np.asarray(mean, dtype=float)
    chol = np.asarray(chol, dtype=float)
    if mean.ndim == 1:
        mean = mean[None, :]
    if chol.ndim == 2:
        chol = chol[None, :, :]
    d = rule.dim
    if mean.ndim != 2 or mean.shape[1] != d or chol.shape != (mean.shape[0], d, d):
        raise SpecificationError(f"shift_scale: mean shape {mean.shape} and chol shape {chol.shape} do not "
                                 f"match (J, {d}) and (J, {d}, {d}) for a rule of dim {d}")
    sign, logdet = np.linalg.slogdet(chol)
    if np.any(sign == 0) or not np.all(np.isfinite(logdet)):
        raise SpecificationError("shift_scale: chol must be nonsingular for every cluster")
    z = rule.nodes
    nodes = mean[:, None, :] + np.einsum("jab,qb->jqa", chol, z)
    logw = rule.log_weights[None, :] + log_std_normal(nodes) - log_std_normal(z)[None, :] + logdet[:, None]
    return nodes, logw


# Within-level (unit) factors are integrated with fixed nodes shared by every row, so that a
# group's log densities at all nodes are one matrix product (``graph/unit.py``). Defaults per
# number of factors, checked against brute force in tests/test_fma.py.
UNIT_METHODS = METHODS + ("adaptive",)
DEFAULT_UNIT_POINTS = {1: 41, 2: 21, 3: 11}
DEFAULT_ADAPTIVE_UNIT_POINTS = {1: 21, 2: 11, 3: 7}  # the default of single-level factors (integration_settings.py)
# grade of membership (trapezoid; QMC beyond 3 dimensions): at membership variances of 4-30 the
# trapezoid rule is 10-1000x more accurate than Gauss-Hermite or adaptive Gauss-Hermite with as
# many points (measured against 150-point brute force, tests/reference_gom.py)
DEFAULT_MEMBERSHIP_POINTS = {1: 41, 2: 31, 3: 15}


def unit_rule(dim: int, integration: str = "gauss-hermite", points: int | None = None, seed: int = 0):
    """The rule for ``dim`` within-level factors (None when ``dim`` is 0).

    ``"adaptive"`` gives the Gauss-Hermite rule that ``engine/compiled.py`` moves to every
    row's and class's posterior (single-level models); ``"laplace"`` uses fixed Gauss-Hermite.
    """
    if dim == 0:
        return None
    method = integration if integration in METHODS else "gauss-hermite"
    if points is None:
        if integration == "adaptive":
            points = DEFAULT_ADAPTIVE_UNIT_POINTS.get(dim, 3)
        else:
            points = DEFAULT_UNIT_POINTS.get(dim, 7) if method != "qmc" else 2 ** (8 + 2 * dim)
    return make_rule(method, dim, points, seed=seed)
