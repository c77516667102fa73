"""Which integration rule a fit uses: the user's options validated, and the defaults of every model kind.

A model integrates at most two kinds of continuous latents (the paper's section 10):

* cluster random effects b_j of a two-level model (random class-logit intercepts eq 10 / 15,
  random intercepts and slopes eq 5 / 19 / 22), integrated per cluster;
* unit latents of a person: within-level factors (eq 36-41) and grade-of-membership logits
  (eq 30-35), integrated per person, inside the sum over classes.

``resolve_integration`` turns ``fit(integration=, points=, factor_points=)`` into an
``IntegrationSettings`` (hashable: ``Model.compile`` keeps one objective per settings). Every
name is checked against the rules the model can use, so a typo is an error naming the valid
values, never a silent fallback. The defaults, and why (docs/integration.md has the table):

* cluster random effects of indicators (random intercepts, slopes, between factors): adaptive
  Gauss-Hermite (nodes moved to each cluster's posterior mode and curvature, re-adapted during
  the fit; Pinheiro & Bates 1995), 11 / 7 / 5 / 3 points per dimension for 1 / 2 / 3 / more
  dimensions. A fixed 15-point rule was 0.07-0.49 off on two-level models with large variances;
  the adaptive rule with fewer nodes is exact to 1e-4 there.
* random intercepts of class logits (eq 10, 15; with or without other effects): the trapezoid
  rule, 15 / 11 / 7 / 5 points per dimension, the Mplus default the paper prefers (section 10).
  As the variance grows the class probability becomes a step in the random effect (Table 4,
  Figures 2-3) and the cluster posterior a truncated normal, where adaptive Gauss-Hermite
  fails (Table 3's Model 6: 0.85 off with 63 adaptive points per dimension) while the
  trapezoid rule degrades gracefully; the limit itself is the between-level class model
  (``estimate/boundary.py``).
* within-level factors of a single-level model (FMA, IRT): adaptive Gauss-Hermite per row and
  class, 21 / 11 points for 1 / 2 factors (a fixed 41-point rule was 4e-3 off on a 316 x 24
  Rasch model; 11 adaptive points were 2e-3 off on a 600 x 6 two-class FMA, 21 points 2e-6);
  3 or more factors: fixed Gauss-Hermite, 11 points per dimension (adaptive placement per row
  and class of 7^3 nodes took 423 s on 400 x 12 items).
* grade-of-membership models (logistic-normal and restricted memberships, and the factors of
  FMA-GoM and the 3PL): the trapezoid rule, 41 / 31 / 15 points per dimension (QMC beyond 3).
  Their integrand is a product over items of mixtures whose posterior is far from normal, where
  (adaptive) Gauss-Hermite is 10-1000 times less accurate than the trapezoid rule with as many
  points (the 3PL: adaptive with 31 points 6e-3 off, trapezoid 41 5e-7), as the paper's
  section 10 says of the trapezoid.
* within-level factors inside a two-level model: fixed Gauss-Hermite, 41 / 21 / 11 points.

Every integrated fit is then certified (``estimate/certificate.py``): its log-likelihood is
evaluated again with a finer rule at the solution and refined until the two agree.
"""

from __future__ import annotations

import dataclasses
import math
import numbers

from .errors import SpecificationError
from .integration import DEFAULT_ADAPTIVE_UNIT_POINTS, DEFAULT_MEMBERSHIP_POINTS, DEFAULT_UNIT_POINTS, METHODS

CLUSTER_METHODS = ("adaptive", "gauss-hermite", "trapezoid", "qmc", "laplace")
UNIT_METHODS = ("adaptive", "gauss-hermite", "trapezoid", "qmc")
ALL_METHODS = CLUSTER_METHODS
DEFAULT_ADAPTIVE_POINTS = {1: 11, 2: 7, 3: 5}  # cluster random effects, per dimension; 3 beyond
DEFAULT_CLUSTER_POINTS = {1: 15, 2: 11, 3: 7}  # fixed rules for cluster random effects, per dimension; 5 beyond
FINE_NODES = 4000  # the finer rule of a certificate stays below this many nodes per unit (tensor rules)
FINE_NODES_PER_ROW = 1000  # ... and below this many for per-row adaptive nodes (single-level factors)


@dataclasses.dataclass(frozen=True)
class IntegrationSettings:
    """The integration rules of one fit, resolved (no None left where an integral exists).

    ``cluster_method`` / ``cluster_points``: the rule of the cluster random effects (two-level
    models with random effects; None otherwise). ``unit_method`` / ``unit_points``: the rule of
    the unit latents (within-level factors and membership logits; None without them);
    ``unit_points`` is per dimension (``qmc``: in total).
    """

    cluster_method: str | None = None
    cluster_points: int | None = None
    unit_method: str | None = None
    unit_points: int | None = None

    def describe(self) -> str:
        """A short text, e.g. 'adaptive Gauss-Hermite, 11 points per dimension'."""
        parts = []
        if self.cluster_method is not None:
            parts.append("clusters: " + rule_text(self.cluster_method, self.cluster_points))
        if self.unit_method is not None:
            parts.append(("persons: " if parts else "") + rule_text(self.unit_method, self.unit_points))
        return "; ".join(parts) if parts else "none (exact likelihood)"

    def as_options(self, two_level: bool) -> dict:
        """The ``fit`` options that give these settings again (``integration``, ``points``, ``factor_points``)."""
        if two_level:
            method = self.cluster_method or (self.unit_method if self.unit_method in ("trapezoid", "qmc") else None)
            return {"integration": method, "points": self.cluster_points,
                    "factor_points": self.unit_points if self.unit_method is not None else None}
        return {"integration": self.unit_method, "points": self.unit_points, "factor_points": None}


def rule_text(method: str, points: int | None) -> str:
    """'adaptive Gauss-Hermite, 11 points per dimension' and the like."""
    if method == "laplace":
        return "Laplace approximation (one node at each mode)"
    name = {"adaptive": "adaptive Gauss-Hermite", "gauss-hermite": "Gauss-Hermite", "trapezoid": "trapezoid",
            "qmc": "quasi Monte Carlo (Sobol)"}[method]
    unit = "points in total" if method == "qmc" else "points per dimension"
    return f"{name}, {points} {unit}"


def _check_method(integration, allowed: tuple[str, ...], what: str) -> str | None:
    if integration is None:
        return None
    key = integration.strip().lower() if isinstance(integration, str) else integration
    if key not in ALL_METHODS:
        raise SpecificationError(f"integration={integration!r} is not one of the rules "
                                 f"{', '.join(repr(m) for m in ALL_METHODS)} (or None for the default)")
    if key not in allowed:
        raise SpecificationError(f"integration={integration!r} does not apply to {what}; use one of "
                                 f"{', '.join(repr(m) for m in allowed)}")
    return key


def check_points(name: str, value) -> int | None:
    """A positive integer number of points (or None), else an error naming the option."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise SpecificationError(f"{name}={value!r} is invalid: expected a positive integer number of points "
                                 "(or None for the default)")
    return int(value)


def default_points(method: str, dim: int, membership: bool = False, unit: bool = False, cluster: bool = False) -> int:
    """The default points of ``method`` for a ``dim``-dimensional integral (per dimension; qmc in total);
    ``unit``: a person's factors (adaptive nodes per row and class: more points than a cluster's,
    whose posterior, pooling many rows, is closer to normal)."""
    if method == "qmc":
        return 2 ** (8 + 2 * dim)
    if method == "adaptive":
        return DEFAULT_ADAPTIVE_UNIT_POINTS.get(dim, 5) if unit else DEFAULT_ADAPTIVE_POINTS.get(dim, 3)
    if method == "laplace":
        return 1
    if membership and method == "trapezoid":
        return DEFAULT_MEMBERSHIP_POINTS.get(dim, 7)
    if cluster:
        return DEFAULT_CLUSTER_POINTS.get(dim, 5)
    return DEFAULT_UNIT_POINTS.get(dim, 7)


def finer_points(method: str, points: int, dim: int, per_row: bool = False) -> int:
    """The points of the next finer rule (a certificate's comparison, or a refinement step):
    about twice as many per dimension, fewer than ``FINE_NODES`` nodes in all, and at least 2
    more; qmc four times as many. ``per_row`` (adaptive nodes of a person's factors): four times
    as many, below ``FINE_NODES_PER_ROW`` in all. A steep loading makes a person's integrand a
    logistic step, where adaptive Gauss-Hermite converges slowly (on a 2PL with a loading of 8.5:
    error 6e-4 / 1e-4 / 6e-6 with 41 / 81 / 161 points): the wider step keeps the reported
    (finer) value well inside the tolerance."""
    if method == "qmc":
        return 4 * points
    cap = int(round((FINE_NODES_PER_ROW if per_row else FINE_NODES) ** (1.0 / max(dim, 1)), 6))
    return max(points + 2, min((4 if per_row else 2) * points + 1, cap))


def resolve_integration(structure, integration=None, points=None, factor_points=None) -> IntegrationSettings:
    """Validate ``fit``'s integration options for ``structure`` and fill in the defaults.

    Two-level models: ``integration`` / ``points`` set the rule of the cluster random effects
    (``CLUSTER_METHODS``), ``factor_points`` the fixed Gauss-Hermite rule of within-level
    factors (``integration="trapezoid"`` / ``"qmc"`` apply to both). Single-level models:
    ``integration`` / ``points`` (or ``factor_points``) set the rule of the unit latents
    (``UNIT_METHODS``). A model with nothing to integrate accepts any valid name (and warns
    elsewhere that it has no effect).
    """
    points = check_points("points", points)
    factor_points = check_points("factor_points", factor_points)
    dim_unit = structure.unit_dim
    membership = structure.is_gom  # memberships (and the factors of FMA-GoM and the 3PL): the trapezoid rule
    if structure.is_two_level:
        dim_cluster = structure.between_model.dim if structure.between_model is not None else 0
        method = _check_method(integration, CLUSTER_METHODS, "a two-level model")
        cluster_method = cluster_points = unit_method = unit_points = None
        if dim_cluster > 0:
            class_logits = any(e.kind == "class-logit" for e in structure.between_model.effects)
            cluster_method = method or ("trapezoid" if class_logits else "adaptive")
            cluster_points = points or default_points(cluster_method, dim_cluster, cluster=True)
            if cluster_method == "laplace":
                cluster_points = 1
        if dim_unit > 0:  # factors inside the cluster graph: a fixed rule (trapezoid / qmc if asked)
            unit_method = method if method in ("trapezoid", "qmc") else "gauss-hermite"
            unit_points = factor_points or default_points(unit_method, dim_unit, membership)
        return IntegrationSettings(cluster_method, cluster_points, unit_method, unit_points)
    if dim_unit == 0:
        _check_method(integration, ALL_METHODS, "this model")
        return IntegrationSettings()
    what = "the memberships and factors of a single-level model" if membership else \
        "the factors of a single-level model"
    method = _check_method(integration, UNIT_METHODS, what + " ('laplace' is for cluster random effects)")
    several = len(structure.unit_latents) > 1  # factors on several class variables (an LTA of factor models)
    if method is None:
        if membership:
            method = "trapezoid" if dim_unit in DEFAULT_MEMBERSHIP_POINTS else "qmc"
        else:  # fixed nodes, shared by every response pattern; the certificate refines them where needed
            # (adaptive nodes are placed per person and class: on a 2-class FMA, 7326 x 17, a fit took 178 s
            # with adaptive 21 against 5 s with Gauss-Hermite 41, and 0.6 s more to certify it at 83)
            method = "gauss-hermite"
    if method == "adaptive" and several:
        raise SpecificationError("integration='adaptive' places factor nodes for one class variable with factors; "
                                 "this model has factors on several: use 'gauss-hermite' or 'trapezoid'")
    pts = factor_points or points or default_points(method, dim_unit, membership, unit=True)
    return IntegrationSettings(unit_method=method, unit_points=pts)


def tensor_nodes(method: str, points: int, dim: int) -> int:
    """Number of nodes of a rule (qmc: ``points``; tensor rules: points ** dim)."""
    return points if method == "qmc" else int(math.pow(points, dim))


assert set(UNIT_METHODS) - {"adaptive"} == set(METHODS)  # the fixed rules of integration.py
