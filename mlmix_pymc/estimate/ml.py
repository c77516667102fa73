"""ML estimation pipeline: random starts -> class ordering -> standard errors -> result."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
from threadpoolctl import threadpool_limits

from ..errors import SpecificationError
from ..graph.likelihood import marginal_class_probs
from ..graph.structure import THRESHOLD_BOUND
from ..results import MLResult
from . import checks
from .optimize import _check_starts, maximize, run_starts
from .posterior_mode import PosteriorObjective
from .relabel import class_permutations, permute_classes, reorderable
from .stderr import SE_METHODS, covariance


def fit_ml(model, starts=(20, 5), seed=None, se="observed", start_values=None, st_iterations=10,
           max_iter=5000, reorder=True, integration="gauss-hermite", points=None, factor_points=None, prior=None,
           method="ml", progress=None, verbose=None) -> MLResult:
    """Maximum likelihood for ``model`` (see ``Model.fit`` for the options).

    With a ``prior`` (``priors.Prior``) the objective is the log posterior: MAP, and with
    ``se="observed"`` its Laplace approximation (``method`` labels the result). ``progress`` /
    ``verbose``: the starts' bar and the compile notice (``progress.py``).
    """
    from ..progress import verbosity

    if verbose is False and progress is None:  # verbose=False: silent
        progress = False
    with verbosity(verbose):
        return _fit_ml(model, starts, seed, se, start_values, st_iterations, max_iter, reorder, integration, points,
                       factor_points, prior, method, progress, verbose)


def _fit_ml(model, starts, seed, se, start_values, st_iterations, max_iter, reorder, integration, points,
            factor_points, prior, method, progress, verbose) -> MLResult:
    se = "none" if se is None else se
    if se not in SE_METHODS:
        raise SpecificationError(f"se={se!r} is not one of {SE_METHODS + (None,)}")
    structure = model.structure
    checks.check_seed(seed)
    _check_starts(starts)  # before compiling
    checks.check_mlr_clusters(model, se)
    checks.warn_ignored_integration(model, integration, points, factor_points)
    checks.warn_identification(model)
    objective = model.compile(integration, points, factor_points)  # fixed rules are part of the objective
    compiled = objective if prior is None else PosteriorObjective(objective, prior)
    layout = structure.layout
    start_theta = None if start_values is None else model.theta_from_values(start_values)
    lca = None
    if structure.is_gom and start_values is None and structure.membership.kind != "fixed" and prior is None:
        start_theta, lca = _gom_lca_start(model, starts, seed, progress, verbose)
    # The graph's matrix products are small: one BLAS thread avoids several thread pools
    # (PyTensor's, numpy's, scipy's) competing for the same cores.
    with threadpool_limits(limits=1, user_api="blas"):
        outcome = run_starts(compiled, starts, seed, start_theta, st_iterations, max_iter, model.data.n_obs,
                             progress=progress)
    for msg in _start_warnings(outcome):
        warnings.warn(msg, stacklevel=3)
    theta, loglik = outcome.theta, outcome.loglik
    try:
        with threadpool_limits(limits=1, user_api="blas"):
            theta, loglik = _snap_run_off(compiled, theta, loglik, max_iter, model.data.n_obs)
    except KeyboardInterrupt:  # Ctrl-C while polishing run-off parameters: keep the best start's solution
        compiled.adapt(theta)
        outcome.interrupted = True
        warnings.warn("estimation was interrupted (KeyboardInterrupt) while holding run-off parameters at their "
                      "bound; the best start's solution is kept", stacklevel=3)
    _check_factor_integration(objective, theta, loglik)

    user_constrained = bool(model.spec.constraints.fixed or model.spec.constraints.equal)
    probabilities = class_probabilities(compiled, theta)
    reordered = False
    if reorder and start_values is None and not user_constrained and reorderable(structure):
        theta, reordered = _order_classes(model, compiled, theta, loglik, probabilities)
        if reordered:
            probabilities = class_probabilities(compiled, theta)
    loglik, posterior, class_prior, clusters = probabilities
    phi = layout.natural(theta)
    at_bound = _at_bound(layout, phi, theta)
    checks.warn_separation(model, phi)
    checks.warn_collapsed_variances(model, theta)

    cov_phi, singular = None, []
    if se != "none":
        active = np.array([f for f in range(layout.n_free) if layout.free_names[f] not in at_bound], dtype=int)
        try:
            hess = compiled.hessian(theta)
            scores = compiled.scores(theta) if se == "mlr" else None
            cov = covariance(hess, scores, layout.jacobian(theta), active, layout.free_names, se)
            cov_phi, singular = cov.cov_phi, cov.singular_parameters
        except KeyboardInterrupt:  # Ctrl-C while computing standard errors: keep the estimates
            outcome.interrupted = True
            warnings.warn("standard errors were interrupted (KeyboardInterrupt); the estimates are kept, without "
                          "standard errors", stacklevel=3)

    result = MLResult(
        structure=structure, theta=theta, phi=phi, loglik=loglik, n_obs=model.data.n_obs, cov_phi=cov_phi,
        se_method=se, posterior=posterior, prior=class_prior, index=model.data.index,
        input_index=model.data.input_index, starts=outcome, at_bound=at_bound, singular_parameters=singular,
        category_maps=model.data.category_maps, dropped=model.data.dropped, reordered=reordered, method=method,
        lca=lca,
        model=model, integration_settings={"integration": integration, "points": points,
                                           "factor_points": factor_points},
        clusters=(dataclasses.replace(clusters, labels=model.data.cluster_labels)
                  if model.spec.cluster is not None else None),
    )
    if result.empty_classes:
        warnings.warn(f"empty or near-empty class(es) {result.empty_classes}: the solution may really have fewer "
                      "classes", stacklevel=3)
    if at_bound:
        warnings.warn(f"parameters fixed at +-{THRESHOLD_BOUND:g} (thresholds, logits) or at the previous threshold "
                      "(collapsed ordinal thresholds: a category empty in that class) to avoid singularity: "
                      f"{at_bound}", stacklevel=3)
    for msg in result.messages():
        if msg.startswith("ICC of the random class-logit intercept"):
            warnings.warn(msg, stacklevel=3)
    return result


def _gom_lca_start(model, starts, seed, progress=None, verbose=None):
    """The nested LCA's solution as an extra start of a GoM fit (``gom_start.py``) and its result."""
    from .gom_start import lca_start, nested_lca

    n_initial, n_final = _check_starts(starts)
    if n_initial == 0:
        return None, None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lca = nested_lca(model).fit(starts=(n_initial, n_final), seed=seed, se=None, progress=progress,
                                    verbose=verbose)
    return lca_start(model, lca), lca


def class_probabilities(compiled, theta):
    """Log-likelihood, posterior and model class probabilities per row (and per cluster info)."""
    return compiled.class_probabilities(theta)


def _check_factor_integration(objective, theta, loglik) -> None:
    """Adaptive nodes of within-level factors: warn when twice the points change the optimum's
    log-likelihood. Steep loadings (a binary item with a loading running off to a step) make a
    factor's posterior skewed, where few adaptive nodes integrate badly and the optimizer can
    exploit the error."""
    if not (objective.unit_name == "row" and objective.adapts):
        return
    points = 2 * objective.unit_rule.n_points ** (1 / objective.unit_rule.dim) + 1
    dense = objective.loglik_with_points(theta, int(round(points)))
    if abs(dense - loglik) > max(1e-3, 1e-7 * abs(loglik)):
        warnings.warn(f"adaptive integration of the factors is inaccurate at the solution: loglikelihood "
                      f"{loglik:.4f}, with {int(round(points))} points per dimension {dense:.4f}; a loading may be "
                      "running off to a step function. Use more points, or integration='gauss-hermite' with "
                      "many points", stacklevel=4)


def _start_warnings(outcome) -> list[str]:
    msgs = []
    if outcome.interrupted:
        msgs.append("estimation was interrupted (KeyboardInterrupt); the result is the best of the starts completed "
                    "so far (result.starts.records tells which)")
    failed = [r for r in outcome.records if r.status == "failed"]
    if failed:
        msgs.append(f"{len(failed)} of {len(outcome.records)} random start(s) failed numerically and were skipped")
    completed = [r for r in outcome.records if r.status in ("completed", "not converged")]
    if len(completed) > 1 and outcome.n_replicated < 2 and not outcome.interrupted:
        msgs.append(f"the best loglikelihood {outcome.loglik:.3f} was not replicated by another completed start; "
                    "increase starts=(n_initial, n_final)")
    if not outcome.converged and not outcome.interrupted:  # interrupted: said above
        msgs.append("the best solution did not meet the convergence criterion; increase max_iter")
    return msgs


def _order_classes(model, compiled, theta, loglik, probabilities):
    """Apply the ordering rule of ``relabel.py``; keep the original if the likelihood changes.

    ``probabilities`` is ``class_probabilities`` at ``theta``.
    """
    structure = model.structure
    _, _, prior, clusters = probabilities
    props = {cv.name: marginal_class_probs(structure, prior, cv.name).mean(axis=0) for cv in structure.class_vars}
    if structure.between is not None:
        props[structure.between.name] = clusters.between_prior.mean(axis=0)
    perms = class_permutations(structure, props, model.spec.constraints.same_measurement)
    if all(np.array_equal(p, np.arange(len(p))) for p in perms.values()):
        return theta, False
    phi = permute_classes(structure, structure.layout.natural(theta), perms)
    new_theta = structure.layout.theta_from_natural(phi)
    compiled.adapt(new_theta)  # adaptive nodes belong to between classes: move them along
    new_ll = compiled.loglik(new_theta)
    # relabelling rotates random class-logit intercepts, which moves the quadrature nodes a little:
    # allow the integration error there; a labelling bug changes the likelihood by far more
    integrated = structure.between_model is not None and structure.between_model.dim > 0
    tol = max(1e-2, 1e-5 * abs(loglik)) if integrated else 1e-6 * max(1.0, abs(loglik))
    if abs(new_ll - loglik) > tol:
        warnings.warn("class reordering changed the loglikelihood; classes left in estimation order", stacklevel=4)
        compiled.adapt(theta)  # the nodes back at the kept solution (standard errors use them)
        return theta, False
    return new_theta, True


RUN_OFF = 10.0  # a bounded threshold / logit beyond +-10 (a probability within 5e-5 of 0 or 1) is running off


def _snap_run_off(compiled, theta, loglik, max_iter, n_obs):
    """Bounded thresholds / logits that stopped between +-10 and their bound (+-15) are running off
    to +-inf on a flat likelihood (the gradient there is ~exp(-|logit|) and the optimizer stops on
    it): put them at the bound, as Mplus does, and polish the other parameters with them held.
    Kept only if the log-likelihood does not drop (beyond the optimizer's tolerance), so a
    genuine interior optimum beyond 10 stays where it is."""
    layout = compiled.structure.layout
    bounds = list(layout.bounds)
    snapped = theta.copy()
    moved = False
    for f, (lo, hi) in enumerate(bounds):
        k = layout.representative[f]
        if layout.infos[k].transform != "identity" or not (np.isfinite(lo) and np.isfinite(hi)):
            continue
        if abs(theta[f]) >= RUN_OFF and lo < theta[f] < hi:  # the parameter's own bounds (+-15 today)
            snapped[f] = lo if theta[f] < 0 else hi
            moved = True
        if snapped[f] in (lo, hi):
            bounds[f] = (snapped[f], snapped[f])  # held at the bound while the rest is polished
    if not moved:
        return theta, loglik
    res = maximize(compiled, snapped, bounds, max_iter, n_obs, refine=True)
    new_ll = -res.fun * n_obs
    if not np.isfinite(new_ll) or new_ll < loglik - max(1e-3, 1e-7 * abs(loglik)):
        compiled.adapt(theta)
        return theta, loglik
    return res.x, float(new_ll)


def _at_bound(layout, phi, theta) -> list[str]:
    """Names of thresholds / logits held at the +-15 bound."""
    out = []
    for f, (lo, hi) in enumerate(layout.bounds):
        if (np.isfinite(lo) and theta[f] <= lo + 1e-6) or (np.isfinite(hi) and theta[f] >= hi - 1e-6):
            k = layout.representative[f]
            if layout.infos[k].transform == "identity" and abs(phi[k]) >= THRESHOLD_BOUND - 1e-6:
                out.append(layout.infos[k].name)
            elif layout.infos[k].transform == "increment" and theta[f] <= lo + 1e-6:
                out.append(layout.infos[k].name)  # collapsed onto the previous threshold (families/base.py)
    return out
