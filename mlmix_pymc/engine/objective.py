"""What every objective provides: the contract the estimators are written against.

The single-level objective (``compiled.CompiledLikelihood``) and the two-level one
(``integrated.IntegratedObjective``) are functions of the free-parameter vector ``theta``
(the estimation scale of ``graph/params.py``) with the methods below; the MAP objective
(``estimate/posterior_mode.py``) wraps one and adds a prior to its value, gradient and
Hessian, and ``reuse.DataObjective`` (one compiled graph for other data sets) provides all
but ``scores`` and ``symbolic_total``. The estimators (``estimate/``) take an ``Objective``.
``ClusterInfo`` is what a two-level objective reports of its clusters with the class probabilities.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np


@dataclass
class ClusterInfo:
    """Cluster-level parts of a two-level result."""

    labels: tuple  # cluster ids in code order
    codes: np.ndarray  # (n,) cluster code of every row used
    integration: str
    points: int
    between_prior: np.ndarray | None  # (J, M) P(D_j = d | x_j)
    between_posterior: np.ndarray | None  # (J, M) P(D_j = d | data of cluster j)
    adaptive_failed: bool = False

    @property
    def n_clusters(self) -> int:
        """Number of clusters."""
        return len(self.labels)


@runtime_checkable
class Objective(Protocol):
    """A log-likelihood of ``theta`` with its derivatives, per-unit terms and class probabilities.

    ``unit_name`` names the independent units of the likelihood: ``"row"`` (single level) or
    ``"cluster"`` (two levels, random effects integrated); ``pointwise_loglik`` and ``scores``
    have one entry per unit.
    """

    structure: Any  # the GraphStructure the graph was built from
    unit_name: str
    adapts: bool  # whether ``adapt`` moves integration nodes

    def loglik(self, theta: np.ndarray) -> float:
        """Total log-likelihood at ``theta``."""

    def loglik_grad(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """Total log-likelihood and its gradient in ``theta`` (what the optimizer calls)."""

    def hessian(self, theta: np.ndarray) -> np.ndarray:
        """Hessian of the total log-likelihood, (n_free, n_free) (standard errors)."""

    def scores(self, theta: np.ndarray) -> np.ndarray:
        """Per-unit gradients d log L_u / d theta, (n_units, n_free) (the MLR sandwich)."""

    def pointwise_loglik(self, theta: np.ndarray) -> np.ndarray:
        """Log-likelihood of every unit (information criteria, ``log_likelihood`` of a posterior)."""

    def class_probabilities(self, theta: np.ndarray) -> tuple[float, np.ndarray, np.ndarray, ClusterInfo | None]:
        """Log-likelihood, posterior and model class probabilities per row, (n, J) each, and the
        ``ClusterInfo`` of a two-level objective (None for a single-level one)."""

    def adapt(self, theta: np.ndarray) -> None:
        """Place adaptive integration nodes at ``theta`` (nothing for fixed rules)."""

    def symbolic_total(self, theta, z=None, ml_theta=None):
        """The total log-likelihood as a PyTensor expression of a symbolic ``theta`` (Bayes)."""
