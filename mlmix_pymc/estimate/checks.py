"""Checks around an ML fit: options that cannot work, and solutions that need a warning.

Before the fit: the seed, clustered MLR standard errors with too few clusters, integration
options that the model ignores, and more free parameters than distinct response patterns
(a model that cannot be identified). After the fit: class-logit slopes of a covariate that
separates the classes, and normal-item variances that collapsed onto their floor.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np

from ..errors import SpecificationError

SEPARATION_LOGITS = 15.0  # |slope| x SD(x) above: the class-logit slope is running off (as the +-15 bound)


def check_seed(seed) -> None:
    """``seed``: None, a non-negative integer (numpy integers too) or a numpy ``SeedSequence`` / ``Generator``."""
    if seed is None or isinstance(seed, (np.random.SeedSequence, np.random.Generator)):
        return
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise SpecificationError(f"seed must be a non-negative integer (or None), got {seed!r}")


def check_tolerance(tolerance):
    """``integration_tol``: None (no certificate) or a positive number, returned as a float."""
    if tolerance is None:
        return None
    if isinstance(tolerance, bool) or not isinstance(tolerance, numbers.Real) or not np.isfinite(tolerance) \
            or tolerance <= 0:
        raise SpecificationError(f"integration_tol={tolerance!r} is invalid: expected a positive number (the "
                                 "largest accepted change of the log-likelihood with a finer rule) or None")
    return float(tolerance)


def check_mlr_clusters(model, se: str) -> None:
    """Clustered MLR (the sandwich over cluster scores) needs clusters: refuse one, warn when fewer
    clusters than free parameters (the meat matrix is then singular; Mplus warns likewise)."""
    if se != "mlr" or model.spec.cluster is None:
        return
    n_clusters, n_free = len(model.data.cluster_labels), model.n_free
    if n_clusters < 2:
        raise SpecificationError(
            f"se='mlr' with cluster={model.spec.cluster!r}: the data have {n_clusters} cluster "
            f"({list(model.data.cluster_labels)[:1]}); robust standard errors need many clusters. Use "
            "se='observed', or a cluster column with more clusters")
    if n_clusters < n_free:
        warnings.warn(
            f"se='mlr': the number of clusters ({n_clusters}) in column {model.spec.cluster!r} is less than the "
            f"number of free parameters ({n_free}); the robust standard errors may not be trustworthy "
            "(the sandwich's middle matrix has rank at most the number of clusters)", stacklevel=4)


def warn_ignored_integration(model, integration, points, factor_points) -> None:
    """Integration options on a model with nothing to integrate (single level, no factors) do nothing."""
    structure = model.structure
    if structure.is_two_level or structure.unit_dim > 0:
        return
    given = {k: v for k, v in (("integration", integration), ("points", points),
                               ("factor_points", factor_points)) if v is not None}
    if given:
        warnings.warn(f"{sorted(given)} have no effect: this model has no random effects or factors to integrate "
                      "(its likelihood is exact)", stacklevel=4)


def warn_identification(model) -> None:
    """More free parameters than distinct response patterns minus one: not identified.

    Only for single-level models of categorical items without covariates, where the data are
    a multinomial over the prod(C_p) patterns (Goodman's necessary condition).
    """
    structure, data = model.structure, model.data
    if structure.is_two_level or data.covariate_names:
        return
    n_categories = [ind.n_categories for ind in data.indicators.values()]
    if any(c == 0 for c in n_categories):  # continuous or count items
        return
    patterns = float(np.prod(np.array(n_categories, dtype=float)))
    if model.n_free > patterns - 1:
        warnings.warn(
            f"the model has {model.n_free} free parameters but the items allow only {patterns:.0f} response patterns "
            f"({patterns - 1:.0f} degrees of freedom): it is not identified; use fewer classes or more items",
            stacklevel=4)


def warn_separation(model, phi: np.ndarray) -> None:
    """A class-logit slope beyond 15 logits per SD of its covariate: the covariate (nearly) separates
    the classes, the ML estimate is infinite and the reported slope and its SE are not meaningful."""
    layout, data = model.structure.layout, model.data
    sd = {name: float(np.std(data.covariates[:, k])) for k, name in enumerate(data.covariate_names)}
    running = []
    for k, info in enumerate(layout.infos):
        if info.group == "slope" and not layout.fixed_mask[k] and info.item in sd and " ON " in info.name:
            if abs(phi[k]) * sd[info.item] > SEPARATION_LOGITS:
                running.append(f"{info.name} = {phi[k]:.4g}")
    if running:
        warnings.warn(f"(quasi-)complete separation: class-logit slopes {running} exceed {SEPARATION_LOGITS:g} logits "
                      "per SD of the covariate; the covariate separates the classes, so these estimates and their "
                      "standard errors are not meaningful (the ML estimate is infinite)", stacklevel=4)


def warn_collapsed_variances(model, theta: np.ndarray) -> list[str]:
    """Normal-item variances at their floor (1e-6 x the item's variance): a class sits on one value,
    a singularity of the likelihood (its log-likelihood is unbounded). Returns their names."""
    layout = model.structure.layout
    out = []
    for f, (lo, _hi) in enumerate(layout.bounds):
        k = layout.representative[f]
        info = layout.infos[k]
        if info.group == "variance" and info.transform == "log" and np.isfinite(lo) and theta[f] <= lo + 1e-6:
            out.append(info.name)
    if out:
        warnings.warn(f"variance(s) {out} collapsed onto their lower bound (1e-6 x the item's variance): a class "
                      "sits on a single value, a singularity where the log-likelihood is unbounded, not a proper "
                      "maximum. Use variance='class-equal', fewer classes, or check the item for a spike of one "
                      "value", stacklevel=4)
    return out
