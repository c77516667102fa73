"""Likelihood of a grade-of-membership model from wide data (paper eq 28-35, 38-47).

Person j's items each have their own class C_ij (eq 28), drawn from the person's membership
g_j (``membership.py``):

    L_j = E_{g, eta} [ prod_i sum_k g_k(x_j, i) f_ik(y_ij | eta) ]

with eta the person's within-level factors (FMA-GoM, eq 38-41; absent in a plain GoM). The
sum over classes sits *inside* the product over items (the paper's long-format two-level
model with person = cluster, item dummies and random class-logit intercepts, evaluated here
without expanding the data).

* Logistic-normal and restricted memberships (eq 30, 34, 35): g = softmax(a + Gamma x + M z),
  z ~ N(0, I_d); (z, eta) are integrated jointly by the unit rule (fixed, or adaptive nodes
  per person: ``RowNodes`` with a class axis of 1).
* Dirichlet memberships: prod_i sum_k g_k f_ik is a polynomial of degree P in g, whose
  Dirichlet expectation is exact: with e_m the sum over assignments of items to classes with
  counts m of prod f (a dynamic programme over items),
  L = sum_m e_m Gamma(alpha_0) / Gamma(alpha_0 + P) prod_k Gamma(alpha_k + m_k) / Gamma(alpha_k).
  A missing item contributes sum_k g_k = 1 (log f = 0), which leaves the polynomial's value
  unchanged.

``log_joint`` holds log L_j + log E[g_jk | y_j] so that the posterior "class probabilities"
of a GoM are the persons' posterior mean memberships; ``log_prior`` holds log E[g_jk | x_j].
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pytensor.tensor as pt

from ..families import contract
from .structure import GraphStructure
from .unit import RowNodes, SharedNodes, _gather_elements, class_logits, factor_eta

DEAD = -1e30  # log of an impossible count state of the Dirichlet programme (finite: no NaN gradients)
MAX_DIRICHLET_STATES = 200_000


@dataclass
class GomTerms:
    """Symbolic outputs of ``gom_loglik``: per row log L (n,), log L + log E[g | y] and
    log E[g | x] (n, K), the integrand before the sum over nodes (n, Rn), and log E[g_k^2 | y]
    (n, K) for the posterior SD of the membership."""

    loglik_rows: object
    log_joint: object
    log_prior: object
    node_terms: object
    log_second: object


def _split_rule(rule, dim_membership: int):
    """(membership nodes (n|1, Rn, d), factor rule for ``factor_eta``, log weights (n|1, Rn))."""
    if rule is None:
        return None, None, pt.zeros((1, 1))
    if isinstance(rule, RowNodes):  # z (n, 1, Rn, d + m), log weights (n, 1, Rn)
        z = rule.z
        factor_rule = RowNodes(z[:, :, :, dim_membership:], rule.log_weights)
        return z[:, 0, :, :dim_membership], factor_rule, rule.log_weights[:, 0]
    nodes = rule.nodes if isinstance(rule, SharedNodes) else np.asarray(rule.nodes)  # symbolic or fixed (Q, d + m)
    factor_rule = _FixedNodes(nodes[:, dim_membership:])
    return pt.as_tensor_variable(nodes)[None, :, :dim_membership], factor_rule, \
        pt.as_tensor_variable(rule.log_weights)[None, :]


@dataclass(frozen=True)
class _FixedNodes:
    """The factor coordinates of a fixed joint rule, as ``factor_eta`` reads them."""

    nodes: object  # (Q, m): an array, or symbolic (``SharedNodes``)


def _group_coefficients(structure: GraphStructure, phi, group, per_row: bool, factor_rule):
    """A group's family coefficients (R|n, K, Rn|1, P, S) and statistics (n, P, S): log f(y | k, eta)
    = sum_s stats * coef (``families/base.py``), with factors and item covariates (section 7's
    item-specific covariates) in the linear predictor."""
    layout = structure.layout
    params = {role: layout.gather(phi, key) for role, key in group.params.items()}  # (R, K, P[, extra])
    n_items = len(group.items)
    data = pt.as_tensor_variable(group.data.reshape(group.data.shape[0], n_items, -1))  # (n, P, S)
    eta = None
    if group.has_factors:
        eta = factor_eta(structure, phi, group, factor_rule)  # (R|n, K|1, Rn, P)
    if group.is_regression:  # one item with class-specific slopes on its covariates (eq 2)
        x = pt.as_tensor_variable(structure.covariates)
        xg = x[:, [structure.covariate_names.index(c) for c in group.covariates]]
        row = contract(xg, layout.gather(phi, group.slope_key), per_row)[:, :, None, None]  # (n, K, 1, 1)
        eta = row if eta is None else eta + row
    if eta is None:
        return group.family.coefficients(params, None, group.link)[:, :, None], data  # (R, K, 1, P, S)
    with_nodes = {role: p[:, :, None] for role, p in params.items()}  # (R, K, 1, P[, extra])
    return group.family.coefficients(with_nodes, eta, group.link), data


def _categorical_mix(structure: GraphStructure, phi, factor_rule, probs, order: list[str]):
    """sum_k P(C_ij = k | z_r) f_ijk(y | eta_r) for categorical items, (P, n, Rn), in probability
    scale: the class sum is taken on the (node, item, category) table of probabilities
    M_rpm = sum_k P(k | z_r) P(y = m | k, eta_r), then each row picks its category (one-hot
    statistics; a missing item contributes 1). No exp or log per (row, node, item, class).
    ``probs`` (Rn|1, P|1, K) must not depend on the row."""
    mixes = []
    offset = 0
    for group in structure.groups:
        coef, data = _group_coefficients(structure, phi, group, False, factor_rule)  # (1, K, Rn|1, P, S)
        n_items = len(group.items)
        part = probs if probs.type.shape[1] == 1 else probs[:, offset:offset + n_items]  # (Rn|1, P|1, K)
        offset += n_items
        table = (pt.exp(coef[0]) * part.dimshuffle(2, 0, 1, "x")).sum(axis=0)  # (Rn, P, S)
        by_item = data.dimshuffle(1, 0, 2)  # (P, n, S)
        missing = 1.0 - by_item.sum(axis=-1, keepdims=True)  # (P, n, 1): 1 where the item is missing
        # one small matrix product per item: (n, S) @ (S, Rn)
        mix = pt.matmul(by_item, table.dimshuffle(1, 2, 0)) + missing  # (P, n, Rn)
        mixes.append(mix)
    return mixes[0] if len(mixes) == 1 else pt.concatenate(mixes, axis=0)


def item_log_densities(structure: GraphStructure, phi, per_row: bool, factor_rule) -> tuple[object, list[str]]:
    """log f(y_ij | C_ij = k, eta) of every item, (n, Rn|1, P, K), and the items in that order.

    Each family's coefficients contracted item by item (not summed over items, as the
    person-level class sum of ``unit.py`` does).
    """
    terms, order = [], []
    for group in structure.groups:
        coef, data = _group_coefficients(structure, phi, group, per_row, factor_rule)  # (R|n, K, Rn|1, P, S)
        term = (data[:, None, None, :, :] * coef).sum(axis=-1)  # (n, K, Rn|1, P)
        terms.append(term.dimshuffle(0, 2, 3, 1))  # (n, Rn|1, P, K)
        order.extend(group.items)
    if len(terms) == 1:
        return terms[0], order
    rn = max(_static_nodes(t) for t in terms)
    if rn > 1:
        terms = [t if _static_nodes(t) == rn else pt.repeat(t, rn, axis=1) for t in terms]
    return pt.concatenate(terms, axis=2), order


def _static_nodes(term) -> int:
    shape = term.type.shape[1]
    return 1 if shape == 1 else 2  # 2: "more than one" (the node axis of factor groups)


def _membership_log_probs(structure: GraphStructure, phi, per_row: bool, z, order: list[str]):
    """log P(C_ij = k | x_j, z_r) (eq 30, 34, 35, 44): (n|R, Rn|1, P|1, K)."""
    memb = structure.membership
    cv = structure.class_var(memb.class_var)
    logits = class_logits(structure, phi, cv, per_row)[:, None, None, :]  # (R|n, 1, 1, K)
    if memb.random is not None:
        loadings = _gather_elements(structure, phi, memb.random)  # (R, K, d)
        b = (z[:, :, None, :] * loadings[:, None, :, :]).sum(axis=-1)  # (n|R, Rn, K)
        logits = logits + b[:, :, None, :]
    if memb.item_logits is not None:
        columns = [memb.items.index(it) for it in order]
        gamma = _gather_elements(structure, phi, memb.item_logits[:, columns])  # (R, K, P)
        logits = logits + gamma.dimshuffle(0, "x", 2, 1)
    return pt.special.log_softmax(logits, axis=-1)


def gom_loglik(structure: GraphStructure, phi, per_row: bool = False, rule=None) -> GomTerms:
    """Per-person log-likelihood of the GoM (eq 28-35) or FMA-GoM (eq 38-44) and membership moments."""
    memb = structure.membership
    z, factor_rule, log_w = _split_rule(rule, memb.dim)
    if memb.kind == "dirichlet":
        logf, _ = item_log_densities(structure, phi, per_row, factor_rule)  # (n, Rn|1, P, K)
        return _dirichlet(structure, phi, logf, log_w)
    order = [it for g in structure.groups for it in g.items]
    logp = _membership_log_probs(structure, phi, per_row, z, order)  # (n|R, Rn|1, P|1, K)
    categorical = all(g.family.data_kind == "categorical" and not g.is_regression for g in structure.groups)
    if categorical and not per_row and logp.type.shape[0] == 1 and not isinstance(rule, RowNodes):  # shared nodes
        mix = _categorical_mix(structure, phi, factor_rule, pt.exp(logp[0]), order)  # (P, n, Rn)
        integrand = _log_product(mix, 0, len(order)) + log_w
    else:
        logf, order = item_log_densities(structure, phi, per_row, factor_rule)  # (n, Rn|1, P, K)
        integrand = _item_product(logf, logp) + log_w  # (n, Rn)
    loglik = pt.logsumexp(integrand, axis=1)
    n = structure.n_patterns
    mean_logp = pt.logsumexp(logp, axis=2) - np.log(_n_item_axis(logp, len(order)))  # log mean over items
    post = integrand - loglik[:, None]
    log_mean_post = pt.logsumexp(post[:, :, None] + mean_logp, axis=1)  # (n, K): log E[g | y]
    log_mean_prior = pt.logsumexp(log_w[:, :, None] + mean_logp, axis=1)  # (n|1, K): log E[g | x]
    log_second = pt.logsumexp(post[:, :, None] + 2 * mean_logp, axis=1)  # (n, K): log E[g^2 | y]
    k = memb.n_classes
    return GomTerms(loglik, pt.broadcast_to(loglik[:, None] + log_mean_post, (n, k)),
                    pt.broadcast_to(log_mean_prior, (n, k)), integrand, log_second)


ITEM_BLOCK = 8  # items multiplied in probability scale before one log (products stay above ~1e-100)


def _item_product(logf, logp):
    """sum_i log sum_k P(C_ij = k | z_r) f_ijk (the class sum inside the item product): (n, Rn).

    Computed in probability scale on f / max_k f (in [0, 1]), the maxima kept in logs, and
    multiplied over blocks of ``ITEM_BLOCK`` items before taking one log: no exp/log pair per
    (row, node, item, class). When neither factor depends on both the row and the node (no
    covariates, item logits or factors), the class sum is one matrix product.
    """
    top = pt.max(logf, axis=-1)  # (n, Rn|1, P)
    scaled = pt.exp(logf - top[..., None])  # (n, Rn|1, P, K)
    probs = pt.exp(logp)  # (n|R, Rn|1, P|1, K)
    shared = logf.type.shape[1] == 1 and logp.type.shape[0] == 1 and logp.type.shape[2] == 1
    if shared:
        flat = scaled[:, 0].reshape((-1, scaled.shape[-1]))  # (n P, K)
        mix = pt.dot(flat, probs[0, :, 0, :].T).reshape((scaled.shape[0], scaled.shape[2], -1))  # (n, P, Rn)
        item_axis = 1
    else:
        mix = (scaled * probs).sum(axis=-1)  # (n, Rn, P)
        item_axis = 2
    return _log_product(mix, item_axis, logf.type.shape[2]) + top.sum(axis=-1)  # top (n, Rn|1)


def _log_product(mix, item_axis: int, n_items: int):
    """sum over items of log mix, (n, Rn): products over blocks of ``ITEM_BLOCK`` items, one log each."""
    logs = []
    for first in range(0, n_items, ITEM_BLOCK):
        block = None
        for i in range(first, min(first + ITEM_BLOCK, n_items)):
            item = mix[i] if item_axis == 0 else (mix[:, i] if item_axis == 1 else mix[:, :, i])  # (n, Rn)
            block = item if block is None else block * item
        logs.append(pt.log(pt.maximum(block, 1e-300)))
    total = logs[0]
    for term in logs[1:]:
        total = total + term
    return total


def _n_item_axis(logp, n_items: int) -> int:
    return n_items if logp.type.shape[2] != 1 else 1


def dirichlet_states(n_items: int, n_classes: int) -> np.ndarray:
    """Counts m (B, K) of the Dirichlet programme's states: m_1..m_{K-1} on a box of side P+1,
    m_K = P - sum (negative where the state is impossible at the end)."""
    box = np.array(list(itertools.product(range(n_items + 1), repeat=n_classes - 1)), dtype=float)
    box = box.reshape(-1, n_classes - 1)
    return np.column_stack([box, n_items - box.sum(axis=1)])


def _dirichlet(structure: GraphStructure, phi, logf, log_w) -> GomTerms:
    """Exact Dirichlet expectation of prod_i sum_k g_k f_ik by a dynamic programme over items."""
    memb = structure.membership
    k, n_items = memb.n_classes, len(memb.items)
    counts = dirichlet_states(n_items, k)  # (B, K)
    n_states = counts.shape[0]
    if n_states > MAX_DIRICHLET_STATES:
        from ..errors import SpecificationError

        raise SpecificationError(f"a Dirichlet membership with {k} classes and {n_items} items sums over "
                                 f"{n_states} count states (more than {MAX_DIRICHLET_STATES}); use "
                                 "membership='logistic-normal' or 'restricted', or fewer classes")
    strides = [(n_items + 1) ** (k - 2 - a) for a in range(k - 1)]  # flattened offset of m_a + 1
    # the programme runs on f_ik / max_k f_ik (in [0, 1], no underflow), the maxima kept in logs
    top = pt.max(logf, axis=-1)  # (n, Rn, P)
    scaled = pt.exp(logf - top[..., None])  # (n, Rn, P, K)
    start = np.zeros(n_states)
    start[0] = 1.0  # m = 0 before any item
    state = pt.as_tensor_variable(start[None, None, :])  # (1, 1, B), (n, Rn, B) after the first item
    for i in range(n_items):
        a = scaled[:, :, i, :]  # (n, Rn, K)
        new = state * a[:, :, k - 1:k]  # the item in the last class: m unchanged
        for c, s in enumerate(strides):  # the item in class c: m_c + 1
            shifted = pt.concatenate([pt.zeros_like(state[:, :, :s]), state[:, :, :-s]], axis=2)
            new = new + shifted * a[:, :, c:c + 1]
        state = new
    log_state = pt.log(pt.maximum(state, 1e-300)) + top.sum(axis=-1)[:, :, None]  # (n, Rn, B)
    alpha = _gather_elements(structure, phi, memb.alpha)  # (R, K)
    alpha0 = alpha.sum(axis=1, keepdims=True)
    m = pt.as_tensor_variable(counts)
    valid = pt.as_tensor_variable(counts[:, -1] >= 0)
    log_moment = (pt.gammaln(alpha0) - pt.gammaln(alpha0 + n_items)
                  + (pt.gammaln(alpha[:, None, :] + pt.maximum(m, 0)[None]) - pt.gammaln(alpha[:, None, :])).sum(-1))
    log_moment = pt.switch(valid[None, :], log_moment, DEAD)  # (R, B)
    joint = log_state + log_moment[:, None, :]  # (n, Rn, B)
    integrand = pt.logsumexp(joint, axis=2) + log_w  # (n, Rn)
    loglik = pt.logsumexp(integrand, axis=1)
    # E[g_k | y] = sum_m P(m | y) (alpha_k + m_k) / (alpha_0 + P)
    post = joint + log_w[:, :, None] - loglik[:, None, None]  # (n, Rn, B)
    log_ratio = pt.log(alpha[:, None, :] + pt.maximum(m, 0)[None]) - pt.log(alpha0 + n_items)[:, :, None]  # (R, B, K)
    post_counts = pt.logsumexp(post, axis=1)  # (n, B): P(m | y)
    log_mean_post = pt.logsumexp(post_counts[:, :, None] + log_ratio, axis=1)  # (n, K)
    log_mean_prior = pt.log(alpha / alpha0)  # (R, K)
    # E[g_k^2 | y] = sum_m P(m | y) (alpha_k + m_k)(alpha_k + m_k + 1) / ((alpha_0 + P)(alpha_0 + P + 1))
    log_ratio2 = log_ratio + pt.log(alpha[:, None, :] + pt.maximum(m, 0)[None] + 1) \
        - pt.log(alpha0 + n_items + 1)[:, :, None]
    log_second = pt.logsumexp(post_counts[:, :, None] + log_ratio2, axis=1)
    n = structure.n_patterns
    return GomTerms(loglik, pt.broadcast_to(loglik[:, None] + log_mean_post, (n, k)),
                    pt.broadcast_to(log_mean_prior, (n, k)), integrand, log_second)


def explicit_membership_loglik(structure: GraphStructure, phi, g):
    """sum_j sum_i log sum_k g_jk f_ijk with explicit memberships ``g`` (N persons, K) (eq 28; the
    items' classes summed out, g sampled): the Bayesian Dirichlet GoM of Erosheva."""
    logf, _ = item_log_densities(structure, phi, False, None)  # (n_patterns, 1, P, K)
    per_person = logf[:, 0][structure.row_pattern]  # (N, P, K)
    return pt.logsumexp(per_person + pt.log(g)[:, None, :], axis=-1).sum()
