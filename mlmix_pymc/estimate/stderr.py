"""Standard errors: observed information and the robust MLR sandwich (White, 1980).

Both are computed for the free vector ``theta`` and carried to the natural parameters
``phi`` by the delta method (``ParameterLayout.jacobian``). Parameters held at a +-15
bound are treated as fixed (no standard error), as Mplus does. When the information
matrix is singular the standard errors are NaN and the warning names the parameters
involved (those loading on the near-null eigenvectors).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

SE_METHODS = ("observed", "mlr", "none")


@dataclass
class Covariance:
    """Covariance of the natural parameters and how it was obtained."""

    method: str
    cov_phi: np.ndarray | None
    singular_parameters: list[str]
    condition_number: float = np.nan


def covariance(hessian: np.ndarray, scores: np.ndarray | None, jacobian: np.ndarray, active: np.ndarray,
               free_names: list[str], method: str) -> Covariance:
    """Covariance of phi from the Hessian (and scores for MLR) of the active free parameters."""
    n_phi = jacobian.shape[0]
    info = -hessian[np.ix_(active, active)]
    info = (info + info.T) / 2
    eigval, eigvec = np.linalg.eigh(info)
    top = max(abs(eigval).max(), 1e-300) if eigval.size else 1.0
    small = eigval <= 1e-9 * top
    if small.any():
        involved = set()
        for col in np.flatnonzero(small):
            vec = np.abs(eigvec[:, col])
            involved.update(np.flatnonzero(vec >= 0.5 * vec.max()))
        names = [free_names[active[i]] for i in sorted(involved)]
        rest = np.array([a for i, a in enumerate(active) if i not in involved], dtype=int)
        if 0 < len(rest) < len(active) and len(involved) <= 2:
            # as Mplus: report the parameters involved and give the others their standard errors,
            # treating the involved ones as fixed at their estimates
            warnings.warn(
                "the information matrix is singular (a parameter may be at the boundary of its space or "
                f"not identified); no standard errors for {names}",
                stacklevel=4,
            )
            cov_phi = covariance(hessian, scores, jacobian, rest, free_names, method).cov_phi.copy()
            bad = np.any(jacobian[:, [active[i] for i in sorted(involved)]] != 0, axis=1)
            cov_phi[bad, :] = np.nan
            cov_phi[:, bad] = np.nan
            return Covariance(method, cov_phi, names, np.inf)
        warnings.warn(
            "the information matrix is singular (the model may not be identified); standard errors are "
            f"set to NaN. Parameters involved: {names}",
            stacklevel=4,
        )
        return Covariance(method, np.full((n_phi, n_phi), np.nan), names, np.inf)
    inv_info = (eigvec / eigval) @ eigvec.T
    if method == "mlr":
        meat = scores[:, active].T @ scores[:, active]
        cov_theta = inv_info @ meat @ inv_info
    else:
        cov_theta = inv_info
    jac = jacobian[:, active]
    return Covariance(method, jac @ cov_theta @ jac.T, [], float(eigval.max() / eigval.min()))
