"""ML estimation pipeline: random starts -> class ordering -> standard errors -> result."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
from threadpoolctl import threadpool_limits

from ..errors import SpecificationError
from ..engine.objective import Objective
from ..graph.likelihood import marginal_class_probs
from ..results import MLResult
from . import certificate, checks
from .boundary import at_bound_names, bound_message, boundary_solution, interior_shortfalls, zero_variances
from .nested import fit_nested, nested_models
from .optimize import _check_starts, default_starts, maximize, run_starts
from .posterior_mode import PosteriorObjective
from .relabel import class_permutations, permute_classes, reorderable
from .stderr import SE_METHODS, covariance


def fit_ml(model, starts=None, seed=None, se="observed", start_values=None, st_iterations=10,
           max_iter=5000, reorder=True, integration=None, points=None, factor_points=None, prior=None,
           method="ml", progress=None, backend="c", integration_tol=certificate.DEFAULT_TOLERANCE,
           nested=True) -> MLResult:
    """Maximum likelihood for ``model`` (see ``Model.fit`` for the options).

    With a ``prior`` (``priors.Prior``) the objective is the log posterior: MAP, and with
    ``se="observed"`` its Laplace approximation (``method`` labels the result). ``progress``: the
    starts' bar (``progress.py``; the compile notice follows ``Model.fit``'s ``verbose``).
    ``integration_tol``: the integration certificate's tolerance (``certificate.py``; None: no
    certificate). ``nested``: fit the models nested in this one as starts and as the floor of its
    log-likelihood (``nested.py``, ``boundary.py``; with random starts only).
    """
    starts = default_starts(model.spec) if starts is None else starts  # Mplus's defaults
    se = "none" if se is None else se
    if se not in SE_METHODS:
        raise SpecificationError(f"se={se!r} is not one of {SE_METHODS + (None,)}")
    structure = model.structure
    checks.check_seed(seed)
    n_initial, _ = _check_starts(starts)  # before compiling
    checks.check_mlr_clusters(model, se)
    settings = model.integration_settings(integration, points, factor_points)  # validated, defaults filled in
    integration_tol = checks.check_tolerance(integration_tol)
    checks.warn_ignored_integration(model, integration, points, factor_points)
    checks.warn_identification(model)
    objective = model.compile(backend=backend, settings=settings)
    compiled = objective if prior is None else PosteriorObjective(objective, prior)
    layout = structure.layout
    start_theta = None if start_values is None else model.theta_from_values(start_values)
    nestings = []
    if nested and start_values is None and prior is None and n_initial > 0:
        nestings = fit_nested(nested_models(model), starts, seed, progress)
    # The graph's matrix products are small: one BLAS thread avoids several thread pools
    # (PyTensor's, numpy's, scipy's) competing for the same cores.
    with threadpool_limits(limits=1, user_api="blas"):
        outcome = run_starts(compiled, starts, seed, start_theta, st_iterations, max_iter, model.data.n_obs,
                             progress=progress, nested_starts=[n.embed(n.result) for n in nestings])
    theta, loglik = outcome.theta, outcome.loglik
    try:
        with threadpool_limits(limits=1, user_api="blas"):
            theta, loglik = _snap_run_off(compiled, theta, loglik, max_iter, model.data.n_obs)
    except KeyboardInterrupt:  # Ctrl-C while polishing run-off parameters: keep the best start's solution
        compiled.adapt(theta)
        outcome.interrupted = True
        warnings.warn("estimation was interrupted (KeyboardInterrupt) while holding run-off parameters at their "
                      "bound; the best start's solution is kept", stacklevel=3)
    floor = [n for n in nestings if n.floor]
    tolerance = integration_tol if integration_tol is not None else certificate.DEFAULT_TOLERANCE
    # a fit running off toward a nested model's limit is that boundary solution (``boundary.py``):
    # no rule certifies an integral whose integrand becomes a step, and none is needed for the limit
    limit = boundary_solution(structure, theta, loglik, floor, tolerance, running_off_only=True)
    cert = None
    if limit is None and integration_tol is not None and certificate.integrates(settings) and not outcome.interrupted:
        def toward_limit(th, value):  # a failed certificate on the way to a nested model's limit: that limit
            return boundary_solution(structure, th, value, floor, tolerance, True, near=True)

        with threadpool_limits(limits=1, user_api="blas"):
            objective, settings, theta, cert, limit = _certified(model, objective, settings, theta, integration_tol,
                                                                 prior, max_iter, backend, outcome, toward_limit)
        compiled = objective if prior is None else PosteriorObjective(objective, prior)
        loglik = cert.loglik
        if limit is None:
            limit = boundary_solution(structure, theta, loglik, floor, tolerance + cert.error)
    if limit is not None:  # the log-likelihood reported is the nested model's: so is its certificate
        cert = next(n.result.certificate for n in floor if n.label == limit.reduces_to)
    for msg in _start_warnings(outcome):
        warnings.warn(msg, stacklevel=3)
    if cert is not None and not cert.ok:
        warnings.warn(certificate.warning_text(cert, settings, structure.is_two_level), stacklevel=3)

    user_constrained = bool(model.spec.constraints.fixed or model.spec.constraints.equal)
    probabilities = class_probabilities(compiled, theta)
    reordered = False
    if reorder and start_values is None and not user_constrained and reorderable(structure) and limit is None:
        theta, reordered = _order_classes(model, compiled, theta, loglik, probabilities)
        if reordered:
            probabilities = class_probabilities(compiled, theta)
    loglik, posterior, class_prior, clusters = probabilities
    phi = layout.natural(theta)
    at_bound = at_bound_names(layout, phi, theta)
    at_bound += [n for n in zero_variances(layout, phi) if n not in at_bound]  # a random effect's variance at 0
    if limit is not None:
        at_bound += [n for n in limit.parameters if n not in at_bound]
        warnings.warn(limit.line(), stacklevel=3)
    for msg in interior_shortfalls(loglik, floor, tolerance):
        warnings.warn(msg, stacklevel=3)
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
        structure=structure, theta=theta, phi=phi, loglik=_reported_loglik(loglik, cert, limit),
        n_obs=model.data.n_obs, cov_phi=cov_phi,
        se_method=se, posterior=posterior, prior=class_prior, index=model.data.index,
        input_index=model.data.input_index, starts=outcome, at_bound=at_bound, singular_parameters=singular,
        category_maps=model.data.category_maps, dropped=model.data.dropped, reordered=reordered, method=method,
        lca=next((n.result for n in nestings if structure.is_gom and n.kind in ("limit", "start")), None),
        nested={n.label: n.result for n in nestings}, certificate=cert, boundary=limit,
        model=model, integration_settings=settings.as_options(structure.is_two_level),
        clusters=(dataclasses.replace(clusters, labels=model.data.cluster_labels)
                  if model.spec.cluster is not None else None),
    )
    if result.empty_classes:
        warnings.warn(f"empty or near-empty class(es) {result.empty_classes}: the solution may really have fewer "
                      "classes", stacklevel=3)
    if at_bound:
        warnings.warn(bound_message(at_bound), stacklevel=3)
    for msg in result.messages():
        if msg.startswith("ICC of the random class-logit intercept"):
            warnings.warn(msg, stacklevel=3)
    return result


def _reported_loglik(loglik: float, cert, limit) -> float:
    """The log-likelihood a result reports: a boundary solution's limit, else the certificate's finer
    value once it agrees with the fit's rule, else the fit's own."""
    if limit is not None:
        return float(limit.loglik_limit)
    if cert is not None and cert.reported == "finer":
        return float(cert.loglik_finer)
    return float(loglik)


def class_probabilities(compiled: Objective, theta):
    """Log-likelihood, posterior and model class probabilities per row (and per cluster info)."""
    return compiled.class_probabilities(theta)


REFIT_SOLUTIONS = 3  # distinct final-stage solutions refitted under a refined rule


def _final_solutions(outcome, best) -> list[list]:
    """[theta, number of completed starts that reached it] of the final stage's distinct solutions
    (log-likelihoods more than 1e-3 apart), the best (``best``, after run-off polishing) first."""
    done = sorted((r for r in outcome.records if r.status in ("completed", "not converged") and hasattr(r, "_theta")),
                  key=lambda r: -r.final_loglik)
    out, seen = [[best, 0]], [outcome.loglik]
    for r in done:
        near = [i for i, v in enumerate(seen) if abs(r.final_loglik - v) <= 1e-3]
        if near:
            out[near[0]][1] += r.status == "completed"
        else:
            out.append([r._theta, int(r.status == "completed")])
            seen.append(r.final_loglik)
    return out


def _refit(compiled: Objective, solutions, bounds, max_iter, n_obs) -> list:
    """(log-likelihood, theta, count) of ``solutions`` under a refined rule, best first: each is
    evaluated once under it (adaptive nodes placed there), and the best is run to convergence; a
    coarse rule's error can rank the solutions differently from the finer rule."""
    scored = []
    for start, count in solutions:
        try:
            compiled.adapt(start)
            value = compiled.loglik(start)
        except (FloatingPointError, np.linalg.LinAlgError, ValueError, OverflowError):
            continue
        if np.isfinite(value):
            scored.append((float(value), start, count))
    scored.sort(key=lambda t: -t[0])
    if not scored:
        return []
    try:
        res = maximize(compiled, scored[0][1], bounds, max_iter, n_obs, refine=True)
        if np.all(np.isfinite(res.x)) and np.isfinite(res.fun) and -res.fun * n_obs >= scored[0][0] - 1e-9:
            scored[0] = (-res.fun * n_obs, res.x, scored[0][2])
    except (FloatingPointError, np.linalg.LinAlgError, ValueError, OverflowError):
        pass
    return sorted(scored, key=lambda t: -t[0])


def _certified(model, objective: Objective, settings, theta, tolerance, prior, max_iter, backend, outcome,
               toward_limit):
    """The integration certificate at ``theta``; while it exceeds ``tolerance``, the rule is refined
    and the fit resumed (``certificate.MAX_REFINEMENTS`` times) from every distinct final-stage
    solution of the starts (best first): a coarse rule's error can favour a solution that is not
    the best under the finer rule; ``outcome`` then holds the refined best and its replication
    count. A failed certificate where ``toward_limit(theta, loglik)`` finds a nested model's limit
    stops there: that boundary solution is returned instead of refining. Returns the final
    objective, settings, theta, certificate and boundary solution (``model.compile()`` left on the
    final settings)."""
    solutions = _final_solutions(outcome, theta)[:REFIT_SOLUTIONS]
    n_obs = model.data.n_obs
    objective.adapt(theta)
    cert = certificate.certify(model, objective, settings, theta, objective.loglik(theta), tolerance)
    rounds, limit = 0, None
    while not cert.ok and certificate.refinable(settings) and rounds < certificate.MAX_REFINEMENTS:
        # the fit's value is known only within [finer, coarse]: a nested limit inside that band,
        # with the parameters on their way to it, is the supremum as far as any rule can tell
        limit = toward_limit(theta, min(cert.loglik, cert.loglik_finer))
        if limit is not None:
            break
        rounds += 1
        settings = certificate.finer_settings(settings, model.structure)
        objective = model.compile(backend=backend, settings=settings)
        compiled = objective if prior is None else PosteriorObjective(objective, prior)
        refitted = _refit(compiled, solutions, model.structure.layout.bounds, max_iter, n_obs)
        if refitted:
            best, theta = refitted[0][0], refitted[0][1]
            solutions = [[th, count] for _, th, count in refitted]
            outcome.theta, outcome.loglik = theta, float(best)
            outcome.n_replicated = sum(count for value, _, count in refitted if abs(value - best) <= 1e-3)
        objective.adapt(theta)
        cert = certificate.certify(model, objective, settings, theta, objective.loglik(theta), tolerance, rounds)
    if limit is None and cert.ok and certificate.refinable(settings):
        # the finer rule's value is the more accurate one: it is the log-likelihood reported; the
        # difference to the fit's rule bounds its error (posterior probabilities and standard errors,
        # which need no such accuracy, stay with the fit's rule: no second set of derivatives)
        cert = dataclasses.replace(cert, reported="finer")
    model.compile(backend=backend, settings=settings)  # ``compile()`` without arguments: this fit's objective
    return objective, settings, theta, cert, limit


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


def _order_classes(model, compiled: Objective, theta, loglik, probabilities):
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


def _snap_run_off(compiled: Objective, theta, loglik, max_iter, n_obs):
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
