"""The unit level of the one likelihood: classes and within-level factors of a row.

For row i (design guide section 1; paper eq 2-4, 8-9, 22-24, 36-41), given the cluster
random effects b (a node of the cluster integral, or none) and the between class d,

    log P(C = j, y_i | b, d) = sum_v log P(C_v = j_v | x_i, parent, d, b) + sum_v log f_v(y_i | j_v, b, d)

over joint classes j of the within-level class variables v. ``log f_v`` is the measurement
level: the family log densities of v's items (``families/``) and, when v has within-level
factors, log E_z[ prod_items f(y | c, eta_c(z), b) ] with eta_c = sqrt(psi_c) z and
z ~ N(0, I_m), integrated *inside* the sum over classes (eq 36-41: loadings and factor
variances may depend on the class) by a fixed rule, or by adaptive nodes per row and class
(``RowNodes``, single-level models).

Shapes: parameter tensors carry a leading row axis R (R = 1: shared by all rows; R = n: the
per-row score graph). Row-level results are 3-D (n|1, Q|1, J), Q being the cluster
integration nodes (Q = 1 in a single-level model, which is the degenerate case of the same
assembly, see ``likelihood.py`` and ``cluster_likelihood.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytensor.tensor as pt

from ..families import contract
from ..integration import QuadratureRule
from .structure import GraphStructure, MeasurementGroup


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


def _gather_elements(structure: GraphStructure, phi, index: np.ndarray):
    """phi at ``index`` (any shape) with -1 meaning 0: (R, *index.shape)."""
    n_params = len(structure.layout.infos)
    padded = pt.concatenate([phi, pt.zeros_like(phi[:, :1])], axis=1)  # column n_params is 0
    return padded[:, np.where(index >= 0, index, n_params)]


@dataclass(frozen=True)
class RowNodes:
    """Adaptive nodes of the within-level factors, per row and class (symbolic graph inputs).

    ``z`` (n, K, Rn, m) standard-normal nodes placed at each row's posterior, ``log_weights``
    (n, K, Rn) their log weights for E_z[.] (``integration.shift_scale``).
    """

    z: object
    log_weights: object


@dataclass(frozen=True)
class SharedNodes:
    """A fixed rule as symbolic graph inputs shared by every row: ``nodes`` (Q, m) standard-normal
    nodes and ``log_weights`` (Q,). The compiled graph then serves a rule of any size (a finer
    rule for the integration certificate, a refinement) without compiling again."""

    nodes: object
    log_weights: object


def factor_eta(structure: GraphStructure, phi, group: MeasurementGroup, rule):
    """lambda_cp . eta_c(z_r) for the group's items at the nodes (eq 36): (R, K|1, Rn, P) at a
    fixed rule's nodes, (n, K, Rn, P) at per-row adaptive nodes (``RowNodes``)."""
    latent = structure.unit_latent(group.class_var)
    loadings = _gather_elements(structure, phi, group.loadings)  # (R, K|1, P, m)
    scale = pt.sqrt(phi[:, latent.variances])  # (R, K|1, m)
    if isinstance(rule, RowNodes):
        factors = scale[:, :, None, :] * rule.z  # (n, K, Rn, m)
    else:
        z = pt.as_tensor_variable(rule.nodes)  # (Rn, m)
        factors = scale[:, :, None, :] * z[None, None, :, :]  # (R, K|1, Rn, m)
    if latent.means is not None:  # eta_c = mu_c + sqrt(psi_c) z
        factors = factors + _gather_elements(structure, phi, latent.means)[:, :, None, :]
    return (loadings[:, :, None, :, :] * factors[:, :, :, None, :]).sum(axis=-1)


def _row_eta(structure: GraphStructure, phi, group: MeasurementGroup, x, b_rows):
    """Covariate slopes and cluster random effects in a regression group's predictor, (n|1, Q|1, K) or None."""
    layout = structure.layout
    eta = None
    if group.covariates:
        xg = x[:, [structure.covariate_names.index(c) for c in group.covariates]]
        eta = contract(xg, layout.gather(phi, group.slope_key), False)[:, None, :]  # (n, 1, K)
    bm = structure.between_model
    if bm is not None and b_rows is not None:
        for r, eff, loading in bm.effects_of_item(group.items[0]):
            term = b_rows[:, :, r]
            if eff.kind == "slope":
                term = term * x[:, structure.covariate_names.index(eff.covariate)][:, None]
            if loading is not None:
                term = term * phi[0, loading]
            eta = term[:, :, None] if eta is None else eta + term[:, :, None]
    return eta


def group_loglik(structure: GraphStructure, phi, group: MeasurementGroup, data, per_row: bool, x=None,
                 b_rows=None, rule: QuadratureRule | None = None):
    """log f of one measurement group, summed over its items: (n|1, Q|1, K, Rn|1).

    Rn is the axis of the within-level factor nodes (1 without factors). A group whose
    coefficients do not depend on the row is one matrix product with its statistics.
    """
    family, layout = group.family, structure.layout
    params = {role: layout.gather(phi, key) for role, key in group.params.items()}  # (R, K, P[, extra])
    data = pt.as_tensor_variable(data)
    eta_fac = factor_eta(structure, phi, group, rule) if group.has_factors else None  # (R, K|1, Rn, P)
    eta_row = _row_eta(structure, phi, group, x, b_rows) if group.is_regression else None  # (n|1, Q|1, K)
    if eta_row is None and eta_fac is None:
        coef = family.coefficients(params, None, group.link)  # (R, K, P, S)
        term = contract(data, coef.reshape((coef.shape[0], coef.shape[1], -1)), per_row)  # (n, K)
        return term[:, None, :, None]
    if eta_row is None:
        with_nodes = {role: p[:, :, None] for role, p in params.items()}  # (R, K, 1, P[, extra])
        coef = family.coefficients(with_nodes, eta_fac, group.link)  # (R or n, K, Rn, P, S)
        n_classes, n_nodes = coef.shape[1], coef.shape[2]
        by_row = per_row or isinstance(rule, RowNodes)  # adaptive nodes differ by row
        term = contract(data, coef.reshape((coef.shape[0], n_classes * n_nodes, -1)), by_row)  # (n, K*Rn)
        return term.reshape((term.shape[0], n_classes, n_nodes))[:, None, :, :]
    # a one-item regression group (R = 1): the predictor varies by row (and cluster node)
    one = {role: p[0, :, 0] for role, p in params.items()}  # (K[, extra])
    if eta_fac is None:
        coef = family.coefficients(one, eta_row, group.link)  # (n|1, Q|1, K, S)
        return (data[:, None, None, :] * coef).sum(axis=-1)[..., None]
    eta = eta_row[:, :, :, None] + eta_fac[0, :, :, 0][None, None, :, :]  # (n|1, Q|1, K, Rn)
    one = {role: p[:, None] for role, p in one.items()}  # (K, 1[, extra])
    coef = family.coefficients(one, eta, group.link)  # (n|1, Q|1, K, Rn, S)
    return (data[:, None, None, None, :] * coef).sum(axis=-1)


def measurement_terms(structure: GraphStructure, phi, group_data, per_row: bool, x=None, b_rows=None,
                      rule: QuadratureRule | None = None, node_terms: dict | None = None) -> dict:
    """Per class variable, log f of all its items (factors integrated): (n|1, Q|1, K).

    ``node_terms`` (a dict), when given, receives per class variable with factors the
    integrand before the sum over nodes, log w_r + log f(y | c, eta(z_r)): (n|1, Q|1, K, Rn).
    """
    plain: dict = {}
    on_nodes: dict = {}
    for g, data in zip(structure.groups, group_data):
        term = group_loglik(structure, phi, g, data, per_row, x, b_rows, rule)
        target = on_nodes if g.has_factors else plain
        target[g.class_var] = term if g.class_var not in target else target[g.class_var] + term
    out = {name: term[..., 0] for name, term in plain.items()}
    for name, term in on_nodes.items():  # E_z[prod f]: the factor integral inside the sum over classes
        integrand = term + (rule.log_weights[:, None] if isinstance(rule, RowNodes)
                            else pt.as_tensor_variable(rule.log_weights))
        integral = pt.logsumexp(integrand, axis=-1)
        if node_terms is not None:
            node_terms[name] = integrand if name not in out else integrand + out[name][..., None]
        out[name] = integral if name not in out else out[name] + integral
    return out


def on_joint(tensor, index: np.ndarray, last_axes: int = 1):
    """``tensor[..., index]`` on the last axis, skipped when ``index`` is the identity (one class
    variable: its classes are the joint classes), which saves an advanced-indexing op and its
    gradient in the common case."""
    if np.array_equal(index, np.arange(len(index))) and tensor.type.shape[-1] in (len(index), None):
        return tensor
    return tensor[..., index]


def within_log_prior(structure: GraphStructure, phi, cv, logits, d: int | None = None, b_rows=None):
    """log P(C = k | x, parent, D = d, b) gathered on the joint classes, (n|R, Q|1, J).

    Fixed logits (eq 4) + effect of D (eq 24) + cluster random intercepts (eq 10, 15); with a
    within-level parent (an LTA, eq 9) the table has a parent-class axis before K.
    """
    layout = structure.layout
    table = logits[:, None, :]  # (n|R, 1, K)
    between = structure.between
    parent_is_between = between is not None and cv.parent == between.name
    if parent_is_between:
        table = table + layout.gather(phi, f"transition:{cv.name}")[:, :, d][:, None, :]
    if cv.random_intercept and b_rows is not None:
        for r, eff in enumerate(structure.between_model.effects):
            if eff.kind == "class-logit" and eff.class_var == cv.name:
                unit = np.zeros(cv.n_classes)
                unit[eff.cls] = 1.0
                table = table + b_rows[:, :, r][:, :, None] * unit
    jm = structure.joint_map[cv.name]
    if cv.parent is not None and not parent_is_between:
        gamma = layout.gather(phi, f"transition:{cv.name}")  # (R, K, Kp)
        table = table[:, :, None, :] + gamma.dimshuffle(0, "x", 2, 1)  # (n|R, Q|1, Kp, K)
        return pt.special.log_softmax(table, axis=-1)[:, :, structure.joint_map[cv.parent], jm]
    return on_joint(pt.special.log_softmax(table, axis=-1), jm)


@dataclass(frozen=True)
class UnitTerms:
    """The parts of log P(joint class, y_i | b, d) (``unit_log_terms``)."""

    row_prior: object  # (n|1, Q|1, J) log prior of the class variables that need the rows, or None
    cluster_prior: object  # (J_clusters, Q, J) log prior of those that need only the cluster, or None
    log_f: object  # (n|1, Q|1, J) log f(y_i | joint class, b, d)
    between_term: object  # (n|1, Q|1) or 0.0: log f of the items measuring the between class at d


def unit_log_terms(structure: GraphStructure, phi, group_data, per_row: bool, x=None, b_rows=None,
                   d: int | None = None, rule: QuadratureRule | None = None, b_clusters=None) -> UnitTerms:
    """log P(joint class | x, b, d) and log f(y | joint class, b, d) of every row, apart.

    ``b_clusters`` (two-level graphs): the random effects per cluster (J, Q, dim); a class
    variable without covariates then gets its prior (eq 10, 15) once per cluster and node
    (``cluster_prior``), not once per row.
    """
    logf = measurement_terms(structure, phi, group_data, per_row, x, b_rows, rule)
    between = structure.between
    row_prior, cluster_prior, log_f = None, None, None
    for cv in structure.within_vars:
        logits = class_logits(structure, phi, cv, per_row, x)
        if b_clusters is not None and cv.random_intercept and not cv.covariates and not per_row:
            prior = within_log_prior(structure, phi, cv, logits, d, b_clusters)
            cluster_prior = prior if cluster_prior is None else cluster_prior + prior
        else:
            prior = within_log_prior(structure, phi, cv, logits, d, b_rows)
            row_prior = prior if row_prior is None else row_prior + prior
        if cv.name in logf:
            term = on_joint(logf[cv.name], structure.joint_map[cv.name])
            log_f = term if log_f is None else log_f + term
    if row_prior is None and cluster_prior is None:  # no within-level class variable (a between-level class only)
        row_prior = pt.zeros((1, 1, 1))
    if log_f is None:
        log_f = pt.zeros((1, 1, 1))
    between_term = logf[between.name][:, :, d] if between is not None and between.name in logf else 0.0
    return UnitTerms(row_prior, cluster_prior, log_f, between_term)


def unit_log_joint(structure: GraphStructure, phi, group_data, per_row: bool, x=None, b_rows=None,
                   d: int | None = None, rule: QuadratureRule | None = None):
    """log P(joint class, y_i | b, d) (n|1, Q|1, J), its log prior part and the D-item term.

    Returns ``(log_joint, log_prior, between_term)``; ``between_term`` (n|1, Q|1) is the log
    density of items measuring the between class variable at class ``d`` (0 without D).
    (Two-level graphs call ``unit_log_terms`` with per-cluster effects themselves.)
    """
    terms = unit_log_terms(structure, phi, group_data, per_row, x, b_rows, d, rule)
    return terms.row_prior + terms.log_f, terms.row_prior, terms.between_term


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
