"""The single-level likelihood: the unit level (``unit.py``) with no cluster level.

For row i (eq 2-4, 8-9, 36-37)

    log L_i = logsumexp_j [ log P(C = j | x_i) + log f(y_i | j) ]

over joint classes j, with within-level factors integrated inside (``unit.py``). Rows are
distinct response patterns weighted by their counts (``structure.py``). ``log_joint`` (n, J)
is kept for posterior class probabilities. The same function builds the ordinary graph
(R = 1 row of parameters) and the per-row score graph (R = n).

Known classes (Mplus KNOWNCLASS): a row whose class of the first class variable is observed
keeps only the joint classes with that class, log L_i = logsumexp_{j: c_j = k_i} [...]; the
others get ``KNOWN_CLASS_OFF`` added (exp of it is 0; finite, so no inf - inf in gradients).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytensor.tensor as pt

from ..integration import QuadratureRule
from .structure import GraphStructure
from .unit import (class_logits, joint_class_labels, marginal_class_probs, measurement_terms, unit_log_joint,
                   within_log_prior)

KNOWN_CLASS_OFF = -1e12  # log "probability" of a joint class excluded by an observed class

__all__ = ["KNOWN_CLASS_OFF", "known_class_mask", "LikelihoodTerms", "build_loglik", "class_logits",
           "joint_class_labels", "marginal_class_probs"]


@dataclass
class LikelihoodTerms:
    """Symbolic outputs of ``build_loglik``."""

    loglik_rows: object  # (n,)
    log_joint: object  # (n, J) log P(classes, y_i)
    log_prior: object  # (n, J) log P(classes | x_i)


def known_class_mask(structure: GraphStructure) -> np.ndarray | None:
    """(n_patterns, J) additive mask: 0 for joint classes allowed by the row's known class, else
    ``KNOWN_CLASS_OFF``; None without known classes."""
    if structure.known_class is None:
        return None
    first = structure.joint_map[structure.class_vars[0].name]  # (J,) class of the first variable
    known = structure.known_class[:, None]
    return np.where((known < 0) | (known == first[None, :]), 0.0, KNOWN_CLASS_OFF)


def build_loglik(structure: GraphStructure, theta_rows, per_row: bool = False,
                 rule: QuadratureRule | None = None, group_data=None, covariates=None,
                 known_mask=None) -> LikelihoodTerms:
    """Symbolic per-row log-likelihood for a (R, n_free) matrix of parameter rows.

    ``rule`` integrates the within-level factors (fixed nodes; required when there are any).
    ``group_data`` (one (n, P*S) tensor per measurement group), ``covariates`` (n, q) and
    ``known_mask`` (n, J; ``known_class_mask``) replace the structure's own data, e.g. by
    symbolic inputs so that one compiled graph serves any data set of the same structure
    (``engine/reuse.py``) or any chunk of its rows (``engine/row_chunks.py``; not for
    grade-of-membership models).
    """
    phi = structure.layout.symbolic_natural(theta_rows)
    if structure.is_gom:  # item-level classes: the class sum inside the item product (eq 28-35)
        from .gom_likelihood import gom_loglik

        gom = gom_loglik(structure, phi, per_row, rule)
        return LikelihoodTerms(gom.loglik_rows, gom.log_joint, gom.log_prior)
    data = [g.data for g in structure.groups] if group_data is None else group_data
    log_joint, log_prior, _ = unit_log_joint(structure, phi, data, per_row, x=covariates, rule=rule)
    n_rows = structure.covariates.shape[0] if covariates is None else covariates.shape[0]
    shape = (n_rows, structure.n_joint)
    log_joint = pt.broadcast_to(log_joint[:, 0, :], shape)
    log_prior = pt.broadcast_to(log_prior[:, 0, :], shape)
    mask = known_class_mask(structure) if known_mask is None else known_mask
    if mask is not None:
        log_joint = log_joint + pt.as_tensor_variable(mask)
    return LikelihoodTerms(pt.logsumexp(log_joint, axis=1), log_joint, log_prior)


def build_factor_node_terms(structure: GraphStructure, theta, rule, group_data=None):
    """log w_r + log f(y_i | c, eta_c(z_r)) of the (single) class variable with factors, (n, K, Rn):
    the integrand whose per-(row, class) moments place adaptive nodes. ``group_data`` as in
    ``build_loglik``."""
    phi = structure.layout.symbolic_natural(theta[None, :])
    if structure.is_gom:  # one set of nodes per person (membership and factors jointly): (n, 1, Rn)
        from .gom_likelihood import gom_loglik

        return gom_loglik(structure, phi, False, rule).node_terms[:, None, :]
    data = [g.data for g in structure.groups] if group_data is None else group_data
    node_terms: dict = {}
    measurement_terms(structure, phi, data, False, rule=rule, node_terms=node_terms)
    (terms,) = node_terms.values()
    n_rows = structure.n_patterns if group_data is None else group_data[0].shape[0]
    return pt.broadcast_to(terms[:, 0], (n_rows,) + tuple(terms.shape[2:]))


def build_factor_posterior(structure: GraphStructure, theta, rule, group_data=None, covariates=None,
                           known_mask=None):
    """Log posterior weights of (class, factor node) per row, (n, K, Rn), for factor scores.

    Only for a model whose factors belong to its single within-level class variable:
    log P(c | x_i) + log w_r + log f(y_i | c, eta_c(z_r)), normalized over (c, r). The data
    arguments as in ``build_loglik``.
    """
    phi = structure.layout.symbolic_natural(theta[None, :])
    (cv,) = structure.within_vars
    data = [g.data for g in structure.groups] if group_data is None else group_data
    node_terms: dict = {}
    measurement_terms(structure, phi, data, False, rule=rule, node_terms=node_terms)
    logits = class_logits(structure, phi, cv, False, covariates=covariates)
    log_prior = within_log_prior(structure, phi, cv, logits)  # (n|1, 1, K)
    joint = log_prior[:, 0, :, None] + node_terms[cv.name][:, 0]  # (n, K, Rn)
    mask = known_class_mask(structure) if known_mask is None else known_mask
    if mask is not None:
        joint = joint + pt.as_tensor_variable(mask)[:, :, None]
    flat = joint.reshape((joint.shape[0], -1))
    return (flat - pt.logsumexp(flat, axis=1, keepdims=True)).reshape(joint.shape)
