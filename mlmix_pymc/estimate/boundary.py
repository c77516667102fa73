"""Boundary solutions: parameters at a bound, and fits that reduce to a nested model in the limit.

Mixture likelihoods often have their supremum on the boundary of the parameter space, where a
variance runs to 0 or to infinity or a concentration to 0 (design guide, section 2). There an
optimizer stops wherever the gradient becomes flat, and the value it stops at depends on the
integration rule. So, after the fit:

* ``at_bound_names``: free parameters whose estimate sits at a bound are reported "at bound"
  with no standard error (as thresholds at +-15 are, as Mplus does): thresholds and logits at
  +-15, collapsed ordinal thresholds, Dirichlet concentrations at 1e-3 or 1e3, variances whose
  Cholesky factor is at its bound (a random-effect variance at 0, a membership variance at 1e8).
* ``boundary_solution``: a limit-type nested model (``nested.py``: GoM -> LCA, FMA-GoM -> FMA,
  Dirichlet -> LCA, Model 6 -> Model 5) whose log-likelihood the fit does not exceed means the
  supremum is that limit. The fit is reported as the boundary solution: the running-off
  parameters "at bound" with no standard error, the summary naming the nested model, and the
  reported log-likelihood the nested model's (the limit), never the lower value where the
  optimizer stopped.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..graph.structure import THRESHOLD_BOUND

FAR_VARIANCE = 100.0  # a membership / class-logit variance beyond this is running off (sd 10)
FAR_LOADING = 10.0  # a restricted-membership loading beyond this
FAR_ALPHA0 = 0.05  # Dirichlet concentrations summing below this: memberships at the vertices (the LCA)
NEAR = {"variance": 25.0, "loading": 5.0, "alpha0": 0.2}  # toward the limit: where a rule's failure is the limit's
ZERO_VARIANCE = 1e-5  # a random-effect variance below this is at its bound 0


@dataclasses.dataclass(frozen=True)
class BoundarySolution:
    """A fit whose supremum is the limit of a nested model (``result.boundary``).

    ``parameters``: the running-off parameters (reported at bound); ``reduces_to``: the nested
    model's label; ``loglik_fit``: the value where the optimizer stopped (at the fit's rule);
    ``loglik_limit``: the nested model's log-likelihood, which the result reports.
    """

    parameters: tuple[str, ...]
    reduces_to: str
    loglik_fit: float
    loglik_limit: float

    def line(self) -> str:
        """One line for the summary."""
        names = ", ".join(self.parameters) if self.parameters else "its membership parameters"
        return (f"Boundary solution: {names} at the boundary; the model reduces to {self.reduces_to}, whose "
                f"loglikelihood {self.loglik_limit:.3f} is the supremum reported (the optimizer stopped at "
                f"{self.loglik_fit:.3f}); see result.nested for that model's estimates")

    def to_dict(self) -> dict:
        """Plain values (JSON)."""
        return {"parameters": list(self.parameters), "reduces_to": self.reduces_to,
                "loglik_fit": float(self.loglik_fit), "loglik_limit": float(self.loglik_limit)}


def at_bound_names(layout, phi: np.ndarray, theta: np.ndarray) -> list[str]:
    """Names of free parameters held at a bound (module docstring)."""
    out = []
    for f, (lo, hi) in enumerate(layout.bounds):
        low = np.isfinite(lo) and theta[f] <= lo + 1e-6
        high = np.isfinite(hi) and theta[f] >= hi - 1e-6
        k = layout.representative[f]
        info = layout.infos[k]
        if info.transform == "identity" and (low or high) and abs(phi[k]) >= THRESHOLD_BOUND - 1e-6:
            out.append(info.name)
        elif info.transform == "increment" and low:
            out.append(info.name)  # collapsed onto the previous threshold (families/base.py)
        elif info.transform == "log" and (low or high):
            out.append(info.name)  # a concentration or a Cholesky factor at its bound
    return out


def bound_message(names: list[str]) -> str:
    """The warning (and summary line) naming the parameters held at a bound."""
    return (f"parameters fixed at +-{THRESHOLD_BOUND:g} (thresholds, logits), at the previous threshold (collapsed "
            "ordinal thresholds: a category empty in that class) or at the bound of a variance or concentration, "
            f"to avoid singularity; they have no standard error: {names}")


def zero_variances(layout, phi: np.ndarray) -> list[str]:
    """Random-effect variances (``var(...)`` of a Cholesky block) estimated at 0 (below ``ZERO_VARIANCE``)."""
    out = []
    for k, info in enumerate(layout.infos):
        if info.group == "covariance" and info.name.startswith("var(") and not layout.fixed_mask[k] \
                and phi[k] < ZERO_VARIANCE:
            out.append(info.name)
    return out


def _running_off(structure, phi: np.ndarray, names: tuple[str, ...], near: bool = False) -> bool:
    """True when the limit nesting's parameters are far toward their limit (module constants); ``near``:
    on the way there (``NEAR``), where a failed integration certificate is taken as the limit's."""
    layout = structure.layout
    values = [phi[layout.names.index(n)] for n in names]
    if not values:
        return False
    if all(n.startswith("alpha(") for n in names):
        return float(np.sum(values)) <= (NEAR["alpha0"] if near else FAR_ALPHA0)
    if all(n.startswith("eta BY") for n in names):
        return min(abs(v) for v in values) >= (NEAR["loading"] if near else FAR_LOADING)
    return min(values) >= (NEAR["variance"] if near else FAR_VARIANCE)


def boundary_solution(structure, theta: np.ndarray, loglik: float, nestings, tolerance: float,
                      running_off_only: bool = False, near: bool = False):
    """The boundary solution of a fit at ``theta`` with log-likelihood ``loglik``, or None.

    A limit nesting whose fitted log-likelihood equals ``loglik`` within ``tolerance`` or exceeds
    it while the running-off parameters are far toward the limit, or (unless ``running_off_only``:
    before the fit's own value is certified) exceeds it by more than ``tolerance`` wherever the
    optimizer stopped (short of the supremum), makes the fit that boundary solution. ``near``: the
    parameters need only be on their way (``NEAR``; after a failed certificate). Running-off
    parameters held at their optimizer bound (a variance at 1e8, concentrations at 1e-3) are the
    limit whatever the rule's value there: their integrand is a step that no rule integrates (a
    trapezoid rule put Model 6 with var(c#1) = 1e8 0.41 above the Model 5 it tends to).
    """
    layout = structure.layout
    phi = layout.natural(theta)
    pinned = set(at_bound_names(layout, phi, theta))
    best = None
    for nest in nestings:
        if nest.kind != "limit" or nest.result is None:
            continue
        limit = float(nest.result.loglik)
        far = _running_off(structure, phi, nest.running_off, near)
        at_limit = bool(nest.running_off) and pinned.issuperset(nest.running_off)
        if at_limit or (far and limit >= loglik - tolerance) or (not running_off_only and limit > loglik + tolerance):
            if best is None or limit > best.loglik_limit:
                best = BoundarySolution(nest.running_off, nest.label, float(loglik), limit)
    return best


def interior_shortfalls(loglik: float, nestings, tolerance: float) -> list[str]:
    """Interior nestings the fit ended below (their embedding was a start, so this means the
    optimizer failed on it): a warning each."""
    out = []
    for nest in nestings:
        if nest.kind == "interior" and nest.result is not None and nest.result.loglik > loglik + tolerance:
            out.append(f"the fit's loglikelihood {loglik:.4f} is below that of {nest.label} nested in it "
                       f"({nest.result.loglik:.4f}); increase starts or max_iter")
    return out
