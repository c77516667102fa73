"""Starting a grade-of-membership fit from the nested LCA (the paper's advice, section 7).

The LCA (or, with factors, the FMA) with the same items, families and class covariates is
the GoM whose membership puts every item of a person in one class (variance -> infinity,
eq 16). Its ML solution, with a moderately large membership variance, is one extra start of
the GoM fit, beside the random starts; its log-likelihood is reported beside the GoM's.
"""

from __future__ import annotations

import dataclasses

import numpy as np

LCA_START_VARIANCE = 10.0  # logistic-normal membership variance of the LCA-based start
LCA_START_LOADING = 3.0  # restricted loadings of the LCA-based start
LCA_START_ALPHA0 = 0.5  # Dirichlet alpha_0 of the LCA-based start (memberships near the vertices)


def nested_lca(model):
    """The person-level-class model nested in GoM ``model``: the same spec with the item-level
    class variable turned into a within-level one (no membership, no item logits)."""
    from ..model import Model

    spec = model.spec
    cv = spec.membership_class_variable
    person = dataclasses.replace(cv, level="within", membership=None, item_logits=False)
    indicators = tuple(dataclasses.replace(ind, covariates=()) for ind in spec.indicators)  # single-level LCA
    nested = dataclasses.replace(spec, class_variables=(person,), indicators=indicators,
                                 constraints=type(spec.constraints)())  # names of constraints may be GoM's own
    return Model(nested, model.frame)


def lca_start(model, lca_result) -> np.ndarray:
    """GoM ``theta`` from the nested LCA's estimates (shared parameter names) plus a membership
    close to the LCA limit."""
    structure = model.structure
    layout = structure.layout
    from .starts import partition_start

    phi = partition_start(structure, None)
    lca_values = dict(zip(lca_result.structure.layout.names, lca_result.phi))
    for k, name in enumerate(layout.names):
        if name in lca_values and not layout.fixed_mask[k]:
            phi[k] = lca_values[name]
    memb = structure.membership
    proportions = lca_result.prior.mean(axis=0)
    if memb.kind == "logistic-normal" and memb.random is not None:
        tri = memb.random[:-1]
        for a in range(tri.shape[0]):
            phi[tri[a, :a]] = 0.0
            phi[tri[a, a]] = LCA_START_VARIANCE
    elif memb.kind == "restricted" and memb.random is not None:
        phi[memb.random[:-1, 0]] = LCA_START_LOADING
    elif memb.kind == "dirichlet":
        phi[memb.alpha] = LCA_START_ALPHA0 * proportions
    phi[layout.fixed_mask] = layout.fixed_values[layout.fixed_mask]
    return layout.theta_from_natural(phi)
