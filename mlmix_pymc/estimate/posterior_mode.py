"""MAP and MAP-Laplace (MAP + Gaussian approximation) estimation on the ML machinery.

The objective is log-likelihood + log prior (``bayes/priors.py``) of the same compiled graph;
random starts, optimizer, class ordering and the result type are those of ML. ``map-laplace``
adds standard errors from the curvature of the log posterior at the mode (the Gaussian
approximation); ``map`` reports none. With ``priors="flat"`` both equal ML.
"""

from __future__ import annotations

import numpy as np

from ..engine.objective import Objective


class PosteriorObjective:
    """A compiled likelihood plus a prior on ``theta``, with the compiled interface."""

    def __init__(self, compiled: Objective, prior):
        self._compiled = compiled
        self.prior = prior
        self.structure = compiled.structure

    def __getattr__(self, name):  # adapt, rows, details, adapts, ...
        return getattr(self._compiled, name)

    def loglik_grad(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """Log posterior (up to a constant) and its gradient."""
        ll, grad = self._compiled.loglik_grad(theta)
        lp, lp_grad, _ = self.prior.logp_grad_hess(np.asarray(theta, dtype=float))
        return ll + lp, grad + lp_grad

    def loglik(self, theta: np.ndarray) -> float:
        """Log posterior (up to a constant)."""
        return self.loglik_grad(theta)[0]

    def hessian(self, theta: np.ndarray) -> np.ndarray:
        """Hessian of the log posterior."""
        return self._compiled.hessian(theta) + self.prior.logp_grad_hess(np.asarray(theta, dtype=float))[2]
