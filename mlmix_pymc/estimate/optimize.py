"""Maximum likelihood with random starts (Mplus STARTS = n_initial n_final).

Every start of the initial set gets a partial optimization (``st_iterations`` L-BFGS
iterations); the best ``n_final`` of them are optimized to convergence. A start that fails
numerically is recorded and skipped. The best log-likelihood is reported together with
how many completed starts reached it (Asparouhov & Muthen, section 10: the best value
should be reached at least twice).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np
from scipy import optimize

from ..errors import EstimationError, SpecificationError
from ..engine.objective import Objective
from .starts import clip_to_bounds, partition_start


# parameter groups of coefficients on a covariate (``ParamInfo.item`` the covariate's name)
SLOPE_GROUPS = ("slope", "item slope", "between regression")


class NonFiniteLikelihood(FloatingPointError):
    """Raised inside the objective when the log-likelihood is not finite."""


@dataclass
class StartRecord:
    """What happened to one random start."""

    start: int
    initial_loglik: float = np.nan
    final_loglik: float = np.nan
    status: str = "initial"  # initial | completed | not converged | failed
    message: str = ""
    iterations: int = 0


@dataclass
class StartsOutcome:
    """Best solution over all starts and the record of every start."""

    theta: np.ndarray
    loglik: float
    converged: bool
    records: list[StartRecord]
    n_replicated: int
    interrupted: bool = False


def maximize(compiled: Objective, theta0: np.ndarray, bounds, max_iter: int, n_obs: int,
             gtol: float = 1e-8, refine: bool = False):
    """L-BFGS-B on the mean negative log-likelihood; returns scipy's result.

    With adaptive integration (``compiled.adapts``) the nodes are adapted to ``theta0``
    first; with ``refine`` they are re-adapted at the solution and the optimizer rerun
    until the log-likelihood stops changing (the nodes are fixed within one run, so every
    run optimizes one smooth function).
    """
    adapts = getattr(compiled, "adapts", False)
    if adapts:
        compiled.adapt(theta0)
    res = _lbfgs(compiled, theta0, bounds, max_iter, n_obs, gtol)
    if not (adapts and refine):
        return res
    previous = -res.fun * n_obs
    for _ in range(25):
        compiled.adapt(res.x)
        res = _lbfgs(compiled, res.x, bounds, max_iter, n_obs, gtol)
        current = -res.fun * n_obs
        if abs(current - previous) <= 1e-8 * max(1.0, abs(current)) or not compiled.adapts:
            break
        previous = current
    compiled.adapt(res.x)
    ll, grad = compiled.loglik_grad(res.x)
    res.fun, res.jac = -ll / n_obs, -grad / n_obs
    return res


def _lbfgs(compiled: Objective, theta0, bounds, max_iter, n_obs, gtol):
    last: list = []  # the last finite (value, gradient): a non-finite trial point makes the line search back off
    scale = parameter_scales(getattr(compiled, "structure", None), len(theta0))  # the optimizer sees u = theta * scale

    def objective(u):
        ll, grad = compiled.loglik_grad(u / scale)
        grad = grad / scale
        if not np.isfinite(ll) or not np.all(np.isfinite(grad)):
            if not last:  # the start itself is not finite
                raise NonFiniteLikelihood("log-likelihood or gradient is not finite")
            return _backoff_value(last[0]), last[1]
        last[:] = [-ll / n_obs, -grad / n_obs]
        return -ll / n_obs, -grad / n_obs

    scaled_bounds = None if bounds is None else [(None if lo is None else lo * s, None if hi is None else hi * s)
                                                 for (lo, hi), s in zip(bounds, scale)]
    res = optimize.minimize(objective, np.asarray(theta0, dtype=float) * scale, jac=True, method="L-BFGS-B",
                            bounds=scaled_bounds,
                            options={"maxiter": max_iter, "ftol": 1e-15, "gtol": gtol, "maxcor": 20})
    res.x = res.x / scale
    if "jac" in res:  # absent where bounds fix every parameter (no evaluation)
        res.jac = res.jac * scale
    return res


def parameter_scales(structure, n_free: int) -> np.ndarray:
    """Per free parameter, the scale the optimizer sees it on: a slope on covariate x in units
    of the root mean square of x (its curvature grows with x^2; L-BFGS otherwise crawls when
    covariates differ in scale, such as age and age squared), everything else 1."""
    scale = np.ones(n_free)
    names = list(getattr(structure, "covariate_names", ()))
    if not names:
        return scale
    layout, rms = structure.layout, structure.covariate_rms  # computed once per structure
    for f, k in enumerate(layout.representative):
        info = layout.infos[k]
        if info.group in SLOPE_GROUPS and info.transform == "identity" and info.item in names:
            value = rms[names.index(info.item)]
            if np.isfinite(value) and value > 0:
                scale[f] = value
    return scale


def _backoff_value(last_value: float) -> float:
    """A finite objective far above the last finite one, returned at a trial point where the
    log-likelihood or its gradient overflows: the line search then shortens the step (an
    infinite value would make its cubic interpolation NaN)."""
    return float(last_value + 1e8 * max(1.0, abs(last_value)))


def run_starts(compiled: Objective, starts=(20, 5), seed=None, start_theta=None,
               st_iterations: int = 10, max_iter: int = 5000, n_obs: int = 1, progress=None,
               nested_starts=()) -> StartsOutcome:
    """Random starts, partial optimization, then the best ``n_final`` to convergence.

    ``start_theta`` (user starting values) is used as an extra start; with
    ``starts=(0, 0)`` it is the only one (Mplus STARTS = 0). ``nested_starts`` (the embedded
    solutions of nested models, ``nested.py``) are run to convergence whatever their partial
    log-likelihood, beside the best ``n_final``. ``progress``: a bar on stderr over
    the starts with the best log-likelihood so far (None: on a terminal only; ``progress.py``).
    """
    from ..progress import ProgressBar

    n_initial, n_final = _check_starts(starts)
    structure = compiled.structure
    bounds = structure.layout.bounds
    rng = np.random.default_rng(seed)
    candidates: list[np.ndarray] = []
    if start_theta is not None:
        candidates.append(clip_to_bounds(structure, np.asarray(start_theta, dtype=float)))
    if n_initial == 0 and start_theta is None:  # the deterministic start only (no random start)
        candidates.append(_theta_of(structure, partition_start(structure, None)))
    for _ in range(n_initial):
        candidates.append(_theta_of(structure, partition_start(structure, rng)))
    kept = set()  # indexes of the nested starts: always carried to the final stage
    for th in nested_starts:
        kept.add(len(candidates))
        candidates.append(clip_to_bounds(structure, np.asarray(th, dtype=float)))
    if n_final == 0:
        n_final = 1
    records = [StartRecord(i + 1) for i in range(len(candidates))]
    interrupted = False

    partial: list[tuple[float, int, np.ndarray]] = []
    single_stage = len(candidates) <= n_final + len(kept)
    n_runs = min(n_final + len(kept), len(candidates)) + (0 if single_stage else len(candidates))
    bar = ProgressBar(n_runs, "random starts", progress)
    try:
        if single_stage:
            partial = [(0.0, i, th) for i, th in enumerate(candidates)]
        else:
            for i, th in enumerate(candidates):
                try:
                    res = maximize(compiled, th, bounds, st_iterations, n_obs)
                    records[i].initial_loglik = -res.fun * n_obs
                    records[i].iterations = int(res.nit)
                    partial.append((records[i].initial_loglik, i, res.x))
                except (FloatingPointError, np.linalg.LinAlgError, ValueError, OverflowError) as err:
                    records[i].status, records[i].message = "failed", f"{type(err).__name__}: {err}"
                bar.update(1, _best_text("initial", [r.initial_loglik for r in records]))
        partial.sort(key=lambda t: -t[0])
        finals = partial[:n_final] + [t for t in partial[n_final:] if t[1] in kept]
        for _, i, th in finals:
            try:
                res = maximize(compiled, th, bounds, max_iter, n_obs, refine=True)
                records[i].final_loglik = -res.fun * n_obs
                records[i].iterations += int(res.nit)
                records[i].status = "completed" if _converged(res) else "not converged"
                records[i].message = str(res.message)
                records[i]._theta = res.x  # type: ignore[attr-defined]
            except (FloatingPointError, np.linalg.LinAlgError, ValueError, OverflowError) as err:
                records[i].status, records[i].message = "failed", f"{type(err).__name__}: {err}"
            bar.update(1, _best_text("final", [r.final_loglik for r in records]))
    except KeyboardInterrupt:
        interrupted = True
        _keep_partial_starts(records, partial)
    finally:
        bar.close()

    done = [r for r in records if r.status in ("completed", "not converged")]
    if interrupted and not done:
        raise KeyboardInterrupt  # interrupted before any start had a log-likelihood: nothing to keep
    if not done:
        reasons = sorted({r.message for r in records if r.message})[:3]
        raise EstimationError(f"every start failed ({len(records)} tried); reasons: {reasons}")
    completed = [r for r in done if r.status == "completed"]
    best = max(completed or done, key=lambda r: r.final_loglik)
    tol = max(1e-3, 1e-7 * abs(best.final_loglik))
    n_rep = sum(1 for r in done if r.status == "completed" and abs(r.final_loglik - best.final_loglik) <= tol)
    return StartsOutcome(best._theta, float(best.final_loglik), best.status == "completed", records,  # type: ignore[attr-defined]
                         n_rep, interrupted)


def _best_text(stage: str, logliks) -> str:
    """'final stage, best LL -2985.340' from the log-likelihoods reached so far (NaN: not yet)."""
    finite = [v for v in logliks if np.isfinite(v)]
    return f"{stage} stage, best LL {max(finite):.3f}" if finite else f"{stage} stage"


def _keep_partial_starts(records: list[StartRecord], partial: list) -> None:
    """After a Ctrl-C in the initial stage no start was run to convergence: the partially optimized
    starts become the candidates (status "not converged"), so the best so far is returned."""
    if any(r.status in ("completed", "not converged") for r in records):
        return
    for loglik, i, theta in partial:
        records[i].final_loglik, records[i].status = loglik, "not converged"
        records[i].message = "interrupted after the initial stage"
        records[i]._theta = theta  # type: ignore[attr-defined]


def _converged(res) -> bool:
    """Converged if scipy says so, or if a line search stalled where the gradient is ~0.

    L-BFGS-B reports ABNORMAL_TERMINATION_IN_LNSRCH when rounding noise stops the line
    search at the optimum; the mean-scale gradient then is tiny.
    """
    return bool(res.success) or float(np.max(np.abs(res.jac))) < 1e-5


def _theta_of(structure, phi):
    return clip_to_bounds(structure, structure.layout.theta_from_natural(phi))


MIXTURE_STARTS = (20, 5)  # Mplus's STARTS default under TYPE = MIXTURE


def default_starts(spec) -> tuple[int, int]:
    """``fit``'s ``starts`` when none are given, as Mplus: ``(20, 5)`` random starts for a mixture
    (a class variable with 2 or more classes, GoM included); ``(0, 0)``, the one deterministic
    start, for a model without latent classes (a GLMM, IRT, a 1-class factor model), whose
    likelihood has no label switching and no class-splitting local optima."""
    return MIXTURE_STARTS if has_latent_classes(spec) else (0, 0)


def has_latent_classes(spec) -> bool:
    """True when some class variable of ``spec`` has 2 or more classes (a mixture)."""
    return any(cv.n_classes > 1 for cv in spec.class_variables)


def _check_starts(starts):
    """``(n_initial, n_final)`` as two integers (numpy integers too); one integer n means (n, max(1, n // 4))."""
    if isinstance(starts, numbers.Integral) and not isinstance(starts, bool):
        starts = (int(starts), max(1, int(starts) // 4)) if starts > 0 else (0, 0)
    try:
        values = tuple(starts)
    except TypeError:
        raise SpecificationError(f"starts must be (n_initial, n_final), got {starts!r}") from None
    if len(values) != 2 or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in values):
        raise SpecificationError(f"starts must be two integers (n_initial, n_final), got {starts!r}")
    n_initial, n_final = (int(v) for v in values)
    if n_initial < 0 or n_final < 0 or (n_initial > 0 and n_final > n_initial):
        raise SpecificationError(
            f"starts=({n_initial}, {n_final}): need 0 <= n_final <= n_initial (as Mplus STARTS)"
        )
    return n_initial, n_final
