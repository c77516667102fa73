"""The single-level objective: log-likelihood, gradient, Hessian, scores of one model.

The degenerate case of the two-level objective (``integrated.py``) with the same contract
(``loglik_grad``, ``hessian``, ``scores``, ``class_probabilities``, ``pointwise_loglik``,
``symbolic_total``, ``adapt``), so estimation and sampling code never branch on the level.
The graph is built and compiled once per model and reused by every random start; the
Hessian and the per-row score function are compiled lazily, only when standard errors are
asked for.
"""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
from scipy import special

from ..graph.likelihood import build_loglik
from ..graph.structure import GraphStructure


class CompiledLikelihood:
    """Log-likelihood functions of the free-parameter vector ``theta`` (single-level model)."""

    unit_name = "row"  # the independent units of the likelihood (``pointwise_loglik``)
    adapts = False
    dim = 0  # no cluster random effects

    def __init__(self, structure: GraphStructure, rule=None):
        self.structure = structure
        self.unit_rule = rule  # fixed nodes of the within-level factors (None without factors)
        theta = pt.vector("theta")
        terms = build_loglik(structure, theta[None, :], rule=rule)
        total = pt.dot(pt.as_tensor_variable(structure.pattern_counts), terms.loglik_rows)
        self._theta = theta
        self._grad = pytensor.grad(total, theta)
        # one compiled function serves the optimizer and the posterior: compiling two
        # functions of the same graph would double the (cached) compile time of a model
        self._all = pytensor.function([theta], [total, self._grad, terms.loglik_rows, terms.log_joint,
                                                terms.log_prior], on_unused_input="ignore")
        self._hess = None
        self._scores = None
        self._factor_posterior = None

    def loglik_grad(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """Total log-likelihood and its gradient at ``theta``."""
        ll, g = self._all(np.asarray(theta, dtype=float))[:2]
        return float(ll), np.asarray(g)

    def loglik(self, theta: np.ndarray) -> float:
        """Total log-likelihood at ``theta``."""
        return self.loglik_grad(theta)[0]

    def rows(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per data row: log-likelihood (n,), log P(joint class, y_i) and log P(joint class | x_i), both (n, J)."""
        idx = self.structure.row_pattern
        return tuple(np.asarray(a)[idx] for a in self._all(np.asarray(theta, dtype=float))[2:])

    def adapt(self, theta: np.ndarray, *args, **kwargs) -> None:
        """Nothing to place: a single-level model has no cluster integration nodes."""

    def class_probabilities(self, theta: np.ndarray):
        """Log-likelihood, posterior and model class probabilities per row, and no cluster info."""
        loglik_rows, log_joint, log_prior = self.rows(theta)
        posterior = np.exp(log_joint - special.logsumexp(log_joint, axis=1, keepdims=True))
        return float(loglik_rows.sum()), posterior, np.exp(log_prior), None

    def pointwise_loglik(self, theta: np.ndarray) -> np.ndarray:
        """Log-likelihood of every data row."""
        return self.rows(theta)[0]

    def symbolic_total(self, theta, z=None, ml_theta=None):
        """The total log-likelihood as a PyTensor expression of the symbolic ``theta`` (Bayes)."""
        terms = build_loglik(self.structure, theta[None, :], rule=self.unit_rule)
        return pt.dot(pt.as_tensor_variable(self.structure.pattern_counts), terms.loglik_rows)

    def hessian(self, theta: np.ndarray) -> np.ndarray:
        """Exact Hessian of the total log-likelihood (PyTensor second derivatives)."""
        if self._hess is None:
            h = pytensor.gradient.jacobian(self._grad, self._theta)
            self._hess = pytensor.function([self._theta], h, on_unused_input="ignore")
        return np.asarray(self._hess(np.asarray(theta, dtype=float)))

    def scores(self, theta: np.ndarray) -> np.ndarray:
        """Per data row scores d log L_i / d theta, shape (n, n_free).

        Built from the per-row graph: every distinct row gets its own copy of theta, so one
        reverse pass yields all rows' gradients.
        """
        if self._scores is None:
            rows = pt.matrix("theta_rows")
            terms = build_loglik(self.structure, rows, per_row=True, rule=self.unit_rule)
            g = pytensor.grad(terms.loglik_rows.sum(), rows)
            self._scores = pytensor.function([rows], g, on_unused_input="ignore")
        n = self.structure.n_patterns
        per_pattern = np.asarray(self._scores(np.tile(np.asarray(theta, dtype=float), (n, 1))))
        return per_pattern[self.structure.row_pattern]

    def factor_posterior(self, theta: np.ndarray) -> np.ndarray:
        """Per data row, posterior weights of (class, factor node), (n, K, Rn) (factor scores)."""
        if self._factor_posterior is None:
            from ..graph.likelihood import build_factor_posterior

            logp = build_factor_posterior(self.structure, self._theta, self.unit_rule)
            self._factor_posterior = pytensor.function([self._theta], pt.exp(logp), on_unused_input="ignore")
        return np.asarray(self._factor_posterior(np.asarray(theta, dtype=float)))[self.structure.row_pattern]
