"""Priors of the Bayesian model and of MAP estimation, on the estimation scale ``theta``.

Every free parameter gets an independent normal prior on the scale the optimizer and the
sampler work on (``graph/params.py``): identity parameters on their own scale, variances
and threshold increments on the log scale, random-effect covariances on their Cholesky
factor (log diagonal). Putting the priors there needs no Jacobian and keeps MAP and NUTS
on the same target. Defaults (weakly informative; mean 0):

=================================  =====================  ==========
group                              scale of theta         prior sd
=================================  =====================  ==========
threshold (first) / logit terms    logit or probit scale  2.5
threshold increments               log of the gap         1.5
class-logit intercepts and slopes  logit                  2.5
item slopes, between regressions   natural                2.5
means of continuous items          natural, centred       10 x SD of the item
variances of continuous items      log, centred           1.5
random-effect Cholesky diagonal    log SD                 1.0
random-effect Cholesky off-diag.   natural                1.0
loadings                           natural                2.5
factor variances                   log                    1.0
log rates of count items           log                    2.5
nominal intercepts                 logit                  2.5
=================================  =====================  ==========

Means of continuous items are centred at the item's sample mean and variances at its log
sample variance. Replace a group with ``priors={"mean": (0, 100), ...}`` (mean, sd of
theta) or use ``priors="flat"`` (improper uniform: MAP then equals ML).

Item-specific class logits (``"item logit"``: the 3PL's guessing logits gamma, eq 44-48) may
instead take the Beta prior IRT users set on the guessing probability g = expit(gamma):
``priors={"item logit": ("beta", 5, 17)}`` puts g ~ Beta(5, 17), i.e. log p(gamma) =
5 log g + 17 log(1 - g) (the Jacobian of g(gamma) included); MAP only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

from ..errors import SpecificationError
from ..families import REGISTRY

# Structural groups here; each indicator family declares the defaults of its own parameter
# groups (``Family.prior_sd``: thresholds, means, variances, log rates, nominal intercepts).
STRUCTURAL_SD = {"intercept": 2.5, "slope": 2.5, "transition": 2.5, "item slope": 2.5, "between regression": 2.5,
                 "covariance": 1.0, "covariance off-diagonal": 1.0, "loading": 2.5, "factor variance": 1.0,
                 "factor mean": 2.5, "membership loading": 2.5, "membership concentration": 1.5,
                 "item logit": 2.5}
DEFAULT_SD = {**STRUCTURAL_SD, **{group: sd for fam in dict.fromkeys(REGISTRY.values()) for group, sd in fam.prior_sd.items()}}
GROUPS = tuple(DEFAULT_SD)
# probability-scale priors of the sampler (``split_probability_priors``)
PROBABILITY_GROUPS = ("class proportions", "item probabilities")


@dataclass(frozen=True)
class Prior:
    """Independent normal priors on ``theta`` (``flat``: none)."""

    mean: np.ndarray
    sd: np.ndarray
    flat: bool = False
    beta: np.ndarray | None = None  # (n_free, 2) Beta(a, b) on expit(theta) where not NaN (guessing logits)

    def logp_grad_hess(self, theta: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        """Log density (up to a constant), gradient and (diagonal) Hessian."""
        if self.flat:
            k = len(theta)
            return 0.0, np.zeros(k), np.zeros((k, k))
        z = (theta - self.mean) / self.sd
        logp, grad, hess = -0.5 * z**2, -z / self.sd, -1.0 / self.sd**2
        if self.beta is not None:
            on = ~np.isnan(self.beta[:, 0])
            a, b = self.beta[on, 0], self.beta[on, 1]
            g = 1.0 / (1.0 + np.exp(-theta[on]))
            logp[on] = a * np.log(g) + b * np.log1p(-g)
            grad[on] = a * (1 - g) - b * g
            hess[on] = -(a + b) * g * (1 - g)
        return float(np.sum(logp)), grad, np.diag(hess)


def prior_group(layout, k: int) -> str:
    """The prior group of model parameter ``k`` (an element of ``phi``)."""
    info = layout.infos[k]
    if info.group == "threshold":
        return "increment" if info.transform == "increment" else "threshold"
    if info.group == "covariance":
        return "covariance" if info.transform == "log" else "covariance off-diagonal"
    return info.group


def make_prior(structure, data, priors: str | Mapping | None = None) -> Prior:
    """Default priors, overridden per group by ``priors`` (dict group -> (mean, sd)), or flat."""
    layout = structure.layout
    if isinstance(priors, str):
        if priors != "flat":
            raise SpecificationError(f"priors={priors!r}: use 'flat', None (defaults) or a dict group -> (mean, sd)")
        return Prior(np.zeros(layout.n_free), np.ones(layout.n_free), flat=True)
    overrides = dict(priors or {})
    if set(overrides) & set(PROBABILITY_GROUPS):
        raise SpecificationError(f"priors on {sorted(set(overrides) & set(PROBABILITY_GROUPS))} (Dirichlet / Beta "
                                 "on the probability scale) are available for sampling (Model.sample, to_pymc) only")
    unknown = set(overrides) - set(GROUPS)
    if unknown:
        raise SpecificationError(f"unknown prior group(s) {sorted(unknown)}; groups are {list(GROUPS)}")
    mean = np.zeros(layout.n_free)
    sd = np.zeros(layout.n_free)
    beta = np.full((layout.n_free, 2), np.nan)
    beta_groups: dict[str, tuple[float, float]] = {}
    for group in [g for g, v in overrides.items() if isinstance(v, (tuple, list)) and len(v) == 3 and v[0] == "beta"]:
        _, a, b = overrides.pop(group)
        if group != "item logit" or not (float(a) > 0 and float(b) > 0):
            raise SpecificationError(f"priors[{group!r}] = ('beta', a, b) is available for the 'item logit' group "
                                     "(guessing probabilities) with a, b > 0")
        beta_groups[group] = (float(a), float(b))
    for f, k in enumerate(layout.representative):
        group = prior_group(layout, k)
        info = layout.infos[k]
        centre, scale = 0.0, DEFAULT_SD[group]
        if group in ("mean", "variance") and info.item in data.indicators:
            values = data.indicators[info.item].values
            if group == "mean":
                centre, scale = float(np.nanmean(values)), 10.0 * float(np.nanstd(values))
            else:
                centre = float(np.log(np.nanvar(values)))
        if group in overrides:
            try:
                centre, scale = (float(v) for v in overrides[group])
            except (TypeError, ValueError):
                raise SpecificationError(f"priors[{group!r}] must be (mean, sd), got {overrides[group]!r}") from None
            if scale <= 0:
                raise SpecificationError(f"priors[{group!r}]: the sd must be positive, got {scale}")
        mean[f], sd[f] = centre, scale
        if group in beta_groups:
            beta[f] = beta_groups[group]
    return Prior(mean, sd, beta=beta if np.isfinite(beta).any() else None)


@dataclass(frozen=True)
class ProbabilityPriors:
    """The standard Bayesian LCA priors, on the probability scale (sampling only).

    ``dirichlet``: class proportions ~ Dirichlet(a_1..a_K), for class variables without a parent,
    covariates or random logit intercepts; the class logits are alpha_k = log(p_k / p_K).
    ``beta``: P(y = 1 | class) ~ Beta(a, b) for every binary item of a latent class measurement
    model (no factors, no covariate effects); its threshold is tau = -F^{-1}(p) (eq 1). ``a`` and
    ``b`` are numbers or arrays with one value per binary threshold, in the order of the
    ``binary_threshold`` coordinate (their Mplus names, e.g. ``item1$1|c#1``).
    """

    dirichlet: np.ndarray | None = None  # (K,) concentrations, or None
    beta: tuple | None = None  # (a, b): numbers or one value per binary threshold


def split_probability_priors(priors):
    """(the normal / flat priors for ``make_prior``, ``ProbabilityPriors``) from the user's ``priors``.

    ``priors={"class proportions": ("dirichlet", a), "item probabilities": ("beta", a, b)}``;
    ``a`` of the Dirichlet is a number (symmetric) or one concentration per class.
    """
    if not isinstance(priors, Mapping):
        return priors, ProbabilityPriors()
    rest = {k: v for k, v in priors.items() if k not in PROBABILITY_GROUPS}
    dirichlet = beta = None
    if "class proportions" in priors:
        spec = priors["class proportions"]
        if not (isinstance(spec, (tuple, list)) and len(spec) == 2 and spec[0] == "dirichlet"):
            raise SpecificationError(f"priors['class proportions'] must be ('dirichlet', a), got {spec!r}")
        dirichlet = np.atleast_1d(np.asarray(spec[1], dtype=float))
        if not np.all(dirichlet > 0):
            raise SpecificationError(f"priors['class proportions']: concentrations must be positive, got {spec[1]!r}")
    if "item probabilities" in priors:
        spec = priors["item probabilities"]
        ok = isinstance(spec, (tuple, list)) and len(spec) == 3 and spec[0] == "beta"
        if ok:
            a, b = (np.asarray(v, dtype=float) for v in spec[1:])
            ok = bool(np.all(a > 0) and np.all(b > 0))
        if not ok:
            raise SpecificationError(f"priors['item probabilities'] must be ('beta', a, b) with a, b > 0, got {spec!r}")
        beta = (a, b)
    return (rest or None) if rest or not priors else None, ProbabilityPriors(dirichlet, beta)
