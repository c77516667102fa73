"""Dirichlet and Beta priors on the probability scale, as PyMC variables that set entries of theta.

The standard Bayesian LCA priors (``priors.ProbabilityPriors``): the class proportions
p ~ Dirichlet(a) give the class logits alpha_k = log(p_k / p_K) (eq 4 with the last class
the reference), and P(y = 1 | class) = p ~ Beta(a, b) gives the binary item's threshold
tau = -F^{-1}(p) (eq 1: P(y = 1 | c) = F(-tau)). The likelihood stays the graph's function of
theta; only theta's prior changes (the Jacobian is PyMC's, as p is the sampled variable).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special, stats

from ..errors import SpecificationError
from .variables import started_variable


@dataclass
class ProbabilityBlock:
    """theta ``entries`` set from one probability variable; ``place`` creates it (in a pm.Model)."""

    entries: np.ndarray
    place: object  # callable (theta tensor, ml_theta | None) -> theta tensor


def _free_representatives(layout, elements: np.ndarray) -> bool:
    """Whether every element is free and the representative of its own theta entry."""
    return all(not layout.fixed_mask[k] and layout.representative[layout.free_of[k]] == k for k in elements)


def probability_blocks(structure, priors) -> list[ProbabilityBlock]:
    """The blocks of theta that ``priors`` (``ProbabilityPriors``) covers; a clear error where they don't apply."""
    out = []
    if priors.dirichlet is not None:
        out += _dirichlet_blocks(structure, priors.dirichlet)
    if priors.beta is not None:
        out += _beta_blocks(structure, *priors.beta)
    return out


def _dirichlet_blocks(structure, concentration: np.ndarray) -> list[ProbabilityBlock]:
    layout = structure.layout
    eligible = [cv for cv in structure.class_vars if cv.parent is None and not cv.covariates
                and not cv.random_intercept and cv.n_classes > 1]
    if structure.is_gom or not eligible:
        raise SpecificationError("priors['class proportions'] = ('dirichlet', a) needs a class variable without "
                                 "covariates, parent (transitions) or random logit intercepts")
    single = len(structure.class_vars) + (structure.between is not None) == 1
    out = []
    for cv in eligible:
        k = cv.n_classes
        a = np.broadcast_to(concentration, (k,)) if concentration.size in (1, k) else None
        if a is None:
            raise SpecificationError(f"priors['class proportions']: {concentration.size} concentrations for "
                                     f"class variable {cv.name!r} with {k} classes")
        index = layout.blocks[f"intercept:{cv.name}"].index
        if not (_free_representatives(layout, index[:-1]) and layout.fixed_mask[index[-1]]
                and layout.fixed_values[index[-1]] == 0.0):
            raise SpecificationError(f"priors['class proportions']: the class logits of {cv.name!r} are constrained; "
                                     "a Dirichlet prior needs them free (the last class the reference)")
        entries = layout.free_of[index[:-1]]
        dim = "class" if single else cv.name
        name = "class_proportions" if single else f"class_proportions_{cv.name}"

        def place(theta, ml_theta, entries=entries, a=np.array(a, dtype=float), dim=dim, name=name, k=k):
            import pymc as pm
            import pytensor.tensor as pt

            model = pm.modelcontext(None)
            if dim not in model.coords:
                model.add_coord(dim, list(range(1, k + 1)))
            init = None
            if ml_theta is not None:
                init = special.softmax(np.append(ml_theta[entries], 0.0))
            p = started_variable(name, pm.Dirichlet, (a,), init, dim, signature="(k)->(k)",
                                 transform=pm.distributions.transforms.simplex)
            return pt.set_subtensor(theta[entries], pt.log(p[:-1]) - pt.log(p[-1]))

        out.append(ProbabilityBlock(entries, place))
    return out


def _beta_blocks(structure, a, b) -> list[ProbabilityBlock]:
    layout = structure.layout
    elements, links = [], []
    for g in structure.groups:
        if g.family.data_kind != "categorical" or g.n_categories != 2 or g.has_factors or g.is_regression \
                or "thresholds" not in g.params:
            continue
        index = layout.blocks[g.params["thresholds"]].index.ravel()
        chosen = [int(k) for k in index if not layout.fixed_mask[k] and layout.representative[layout.free_of[k]] == k]
        elements += chosen
        links += [g.link] * len(chosen)
    if not elements:
        raise SpecificationError("priors['item probabilities'] = ('beta', a, b) needs binary items of a latent class "
                                 "model (no factors or covariate effects on them)")
    elements = np.array(elements)
    entries = layout.free_of[elements]
    names = [layout.infos[k].name for k in elements]
    probit = np.array([link == "probit" for link in links])
    try:
        alpha, beta = (np.broadcast_to(np.asarray(v, dtype=float), (len(names),)).copy() for v in (a, b))
    except ValueError:
        raise SpecificationError(f"priors['item probabilities']: a and b are numbers or {len(names)} values, one per "
                                 f"binary threshold {names}") from None

    def place(theta, ml_theta):
        import pymc as pm
        import pytensor.tensor as pt

        model = pm.modelcontext(None)
        model.add_coord("binary_threshold", names)
        init = None
        if ml_theta is not None:  # P(y = 1 | c) = F(-tau)
            tau = ml_theta[entries]
            init = np.where(probit, stats.norm.cdf(-tau), special.expit(-tau))
        p = started_variable("item_probabilities_binary", pm.Beta, (alpha, beta),
                             init, "binary_threshold", transform=pm.distributions.transforms.logodds)
        tau = pt.switch(probit, np.sqrt(2.0) * pt.erfcinv(2.0 * p), pt.log1p(-p) - pt.log(p))  # -F^{-1}(p)
        return pt.set_subtensor(theta[entries], tau)

    return [ProbabilityBlock(entries, place)]
