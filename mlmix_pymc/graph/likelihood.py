"""The one likelihood graph: classes summed out with logsumexp.

For row i (eq 2-4, 8-9):

    log L_i = logsumexp_j [ sum_v log P(C_v = j_v | x_i, C_parent(v) = j_parent) + sum_v log f(y_i^(v) | j_v) ]

over joint classes j of all within-level class variables. ``log_joint`` (n, J) is kept for
posterior class probabilities. The same function builds the ordinary graph (R = 1 row of
parameters) and the per-row score graph (R = n), see ``families.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytensor.tensor as pt

from ..families import categorical_loglik, contract, normal_loglik
from .structure import GraphStructure


@dataclass
class LikelihoodTerms:
    """Symbolic outputs of ``build_loglik``."""

    loglik_rows: object  # (n,)
    log_joint: object  # (n, J) log P(classes, y_i)
    log_prior: object  # (n, J) log P(classes | x_i)


def class_logits(structure: GraphStructure, phi, cv, per_row: bool, covariates=None):
    """Fixed part of the multinomial logits, (R, K) or (n, K) (eq 4, 17; last class 0).

    ``covariates`` (n, q) defaults to the structure's covariate matrix; the two-level graph
    passes its symbolic rows (or one row per cluster for a between-level class variable).
    """
    layout = structure.layout
    logits = layout.gather(phi, f"intercept:{cv.name}")  # (R, K)
    if cv.covariates:
        x_all = structure.covariates if covariates is None else covariates
        x = x_all[:, [structure.covariate_names.index(c) for c in cv.covariates]]
        logits = logits + contract(pt.as_tensor_variable(x), layout.gather(phi, f"slope:{cv.name}"), per_row)
    return logits


def class_log_probs(structure: GraphStructure, phi, cv, per_row: bool):
    """log P(C_v = k | x, parent) as (n, K) or (n, K_parent, K) (eq 4, 8, 9)."""
    logits = class_logits(structure, phi, cv, per_row)
    if cv.parent is None:
        return pt.special.log_softmax(logits, axis=-1)
    gamma = structure.layout.gather(phi, f"transition:{cv.name}")  # (R, K, Kp)
    table = logits[:, None, :] + gamma.dimshuffle(0, 2, 1)  # (n, Kp, K)
    return pt.special.log_softmax(table, axis=-1)


def measurement_loglik(structure: GraphStructure, phi, per_row: bool, group_data=None) -> dict:
    """Per class variable, the (n, K) sum of log f over its items (regression groups excluded).

    ``group_data`` (one array or tensor per group) replaces the groups' own data arrays.
    """
    out: dict = {}
    layout = structure.layout
    for i, g in enumerate(structure.groups):
        if g.is_regression:
            continue
        data = g.data if group_data is None else group_data[i]
        if g.family == "categorical":
            term = categorical_loglik(data, layout.gather(phi, g.keys[0]), g.link, per_row)
        else:
            term = normal_loglik(data, layout.gather(phi, g.keys[0]), layout.gather(phi, g.keys[1]), per_row)
        out[g.class_var] = term if g.class_var not in out else out[g.class_var] + term
    return out


def build_loglik(structure: GraphStructure, theta_rows, per_row: bool = False) -> LikelihoodTerms:
    """Symbolic per-row log-likelihood for a (R, n_free) matrix of parameter rows."""
    phi = structure.layout.symbolic_natural(theta_rows)
    logf = measurement_loglik(structure, phi, per_row)
    n = structure.covariates.shape[0]
    single = len(structure.class_vars) == 1
    log_prior, log_f = 0.0, 0.0
    for cv in structure.class_vars:
        jm = structure.joint_map[cv.name]
        prior = class_log_probs(structure, phi, cv, per_row)
        if cv.parent is not None:
            prior = prior[:, structure.joint_map[cv.parent], jm]
        elif not single:
            prior = prior[:, jm]
        log_prior = log_prior + prior
        if cv.name in logf:
            log_f = log_f + (logf[cv.name] if single else logf[cv.name][:, jm])
    log_prior = pt.broadcast_to(log_prior, (n, structure.n_joint))
    log_joint = log_prior + log_f
    return LikelihoodTerms(pt.logsumexp(log_joint, axis=1), log_joint, log_prior)


def joint_class_labels(structure: GraphStructure) -> list[str]:
    """Readable labels of the joint classes, e.g. 'c1=1,c2=2'."""
    names = [cv.name for cv in structure.class_vars]
    return [",".join(f"{v}={structure.joint_map[v][j] + 1}" for v in names) for j in range(structure.n_joint)]


def marginal_class_probs(structure: GraphStructure, joint_probs: np.ndarray, name: str) -> np.ndarray:
    """(n, J) joint probabilities -> (n, K) for class variable ``name``."""
    k = structure.class_var(name).n_classes
    out = np.zeros((joint_probs.shape[0], k))
    np.add.at(out.T, structure.joint_map[name], joint_probs.T)
    return out
