"""The two-level likelihood: classes summed out, random effects integrated, per cluster.

For cluster j (design guide section 1; paper eq 2-5, 16-18, 22-26):

    L_j = sum_d P(D_j = d | x_j) * E_z[ prod_{i in j} sum_c P(C_ij = c | d, b_j(z), x_ij) f(y_ij | c, d, b_j(z)) ]

with z ~ N(0, I) standard normal and b_j(z) the random effects of the between model
(``random_effects.py``). The expectation is a weighted sum over nodes z_jq that the
estimator supplies per between class and cluster (non-adaptive rules, adaptive
quadrature, Laplace: ``engine/integrated.py``) as

    E_z[g(z)] ~= sum_q exp(logq_jq + log phi(z_jq)) g(z_jq),

so that log phi(z) is part of the graph (Laplace needs its derivatives) and every
normalizing constant is kept: log-likelihoods are on one scale across methods.

The row level is the unit level of ``unit.py`` (shared with single-level models, which
are its degenerate case); this module adds the node axis Q, the per-cluster sums and the
sum over D. Data enter
as symbolic inputs, so one compiled function serves any chunk of clusters.

Rows come in a padded cluster layout: a chunk of J clusters holds J x m rows, cluster
j's rows at j*m .. j*m + m - 1, padding rows (copies of a real row) masked out. A per-cluster
quantity reaches its rows by a broadcast and per-row terms reach their cluster by a
reshape and a sum (``_to_rows`` / ``_sum_rows``), not by gathers and scatters, whose
gradients (advanced increments) cost more than the rest of the graph. Class variables
without covariates get their logit table and softmax once per cluster and node, not once
per row (``unit_log_terms``' ``b_clusters``), and where the items do not depend on the
node, the sum over classes is a product sum with no exponential per row and node
(``mixture_by_products``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pytensor.tensor as pt

from ..families import LOG_2PI
from ..integration import QuadratureRule
from .structure import GraphStructure
from .unit import UnitTerms, class_logits, unit_log_terms

@dataclass
class ClusterInputs:
    """Symbolic inputs of the two-level graph (one chunk of whole clusters)."""

    theta: object  # (n_free,)
    group_data: list  # per measurement group: (n, ...) data matrix
    covariates: object  # (n, q)
    row_mask: object  # (J, m) 1 for a real row, 0 for padding (n = J x m rows, ``ClusterData``)
    first_row: object  # (J,) int: a row of each cluster (cluster covariates)
    nodes: object  # (M, J, Q, dim) standard-normal nodes per between class
    logq: object  # (M, J, Q) log weights without the N(0, I) density

    @classmethod
    def create(cls, structure: GraphStructure, shapes=None) -> "ClusterInputs":
        """Fresh symbolic variables matching ``structure``; with ``shapes`` (one per input, in
        ``as_list`` order) of those static shapes (JAX, ``toolchain/jax_functions.py``)."""
        names = (["theta"] + [f"data_{i}" for i in range(len(structure.groups))]
                 + ["covariates", "row_mask", "first_row", "nodes", "logq"])
        ndims = [1] + [2] * len(structure.groups) + [2, 2, 1, 4, 3]
        dtypes = ["float64"] * (len(names) - 3) + ["int64", "float64", "float64"]
        shapes = [(None,) * nd for nd in ndims] if shapes is None else shapes
        v = [pt.tensor(name=name, dtype=dtype, shape=tuple(shape)) for name, dtype, shape in zip(names, dtypes, shapes)]
        return cls(v[0], v[1:-5], *v[-5:])

    @staticmethod
    def structural_shapes(structure: GraphStructure, n_nodes: int | None = None) -> list:
        """Input shapes (``as_list`` order) with the axes every data set of ``structure`` shares
        static: parameters, data and covariate columns, between classes, random-effect
        dimension, and ``n_nodes`` nodes per cluster if given (1: the Laplace modes). Rows and
        clusters stay free, so one compiled function serves every chunk and data set; the
        static axes spare the graph its shape checks, broadcasts and their gradients."""
        n_between = structure.between.n_classes if structure.between is not None else 1
        dim = structure.between_model.dim
        return ([(structure.layout.n_free,)] + [(None, g.data.shape[1]) for g in structure.groups]
                + [(None, structure.covariates.shape[1]), (None, None), (None,),
                   (n_between, None, n_nodes, dim), (n_between, None, n_nodes)])

    def as_list(self) -> list:
        """Inputs in the order the compiled functions take them (theta first)."""
        return [self.theta, *self.group_data, self.covariates, self.row_mask, self.first_row, self.nodes,
                self.logq]


@dataclass
class ClusterTerms:
    """Symbolic outputs of ``build_cluster_loglik``."""

    total: object  # scalar: sum_j log L_j
    cluster_loglik: object  # (J,)
    node_terms: object  # (M, J, Q): logq + log phi(z) + sum_i log f_i, the integrand on the log scale
    d_log_prior: object  # (J, M) log P(D_j = d | x_j)
    d_log_post: object  # (J, M) log P(D_j = d | data of cluster j)
    class_post: object  # (M, n, Jw) P(C_ij = c | data of cluster j, D_j = d)
    class_prior: object  # (M, n, Jw) P(C_ij = c | x_ij, D_j = d), random effects integrated out


def index_axis(x, i: int, axis: int):
    """``x`` at index ``i`` of ``axis``. Where that axis has the static length 1 this is a
    squeeze, whose gradient is an expand_dims: an index's gradient is an increment of a
    tensor of zeros (two more compiled nodes, more again in second and third derivatives)."""
    axis = axis % x.ndim
    if x.type.shape[axis] == 1 and i in (0, -1):
        return pt.squeeze(x, axis=axis)
    return x[(slice(None),) * axis + (i,)]


def log_std_normal(z):
    """log N(z; 0, I) summed over the last axis."""
    return -0.5 * (z**2).sum(axis=-1) - 0.5 * LOG_2PI * z.shape[-1]


def random_effect_values(structure: GraphStructure, phi, group: int, z, x_cluster):
    """b_j(z) = B b_j + Gamma x_j + L z (eq 5, 18, 25), shape (J, Q, dim); B strictly lower."""
    bm = structure.between_model
    tri = structure.layout.blocks[bm.covariance_keys[group]].index
    rows, cols = np.nonzero(tri >= 0)
    chol = pt.set_subtensor(pt.zeros((bm.dim, bm.dim))[rows, cols], phi[0, tri[rows, cols]])
    # (J, Q, dim): L z, a broadcast sum over dim (no reshape to 2-D: shapes stay static for JAX)
    xi = (z[:, :, None, :] * chol[None, None, :, :]).sum(axis=-1)
    effects = []
    names = structure.covariate_names
    for r in range(bm.dim):
        b_r = index_axis(xi, r, 2)
        for a, s, elem in bm.effect_regressions[group]:
            if a == r:
                b_r = b_r + phi[0, elem] * effects[s]
        for a, col, elem in bm.covariate_regressions[group]:
            if a == r:
                b_r = b_r + phi[0, elem] * x_cluster[:, names.index(col)][:, None]
        effects.append(b_r)
    return pt.stack(effects, axis=-1)


def _to_rows(per_cluster, n_clusters, size):
    """(J, ...) per cluster -> (J*m, ...) on the padded rows: a broadcast (its gradient a sum)."""
    rest = tuple(per_cluster.shape[i] for i in range(1, per_cluster.ndim))
    spread = pt.broadcast_to(per_cluster[:, None], (n_clusters, size, *rest))
    return spread.reshape((-1, *rest))  # -1, not J*m: shapes stay static for JAX


def _sum_rows(per_row, mask, n_clusters, size):
    """(J*m, ...) per padded row -> (J, ...) summed over each cluster's real rows."""
    rest = tuple(per_row.shape[i] for i in range(1, per_row.ndim))
    real = mask.reshape((-1,) + (1,) * (per_row.ndim - 1)) > 0
    return pt.switch(real, per_row, 0.0).reshape((n_clusters, size, *rest)).sum(axis=1)


def _held_shift(shift):
    """A logsumexp shift (a max over classes) out of the gradient, where its derivative is
    exactly 0; 0 where all terms are -inf, so that log(0) = -inf comes out."""
    from pytensor.gradient import zero_grad

    return zero_grad(pt.switch(pt.isinf(shift), 0.0, shift))


def logsumexp_classes(log_joint, n_classes: int):
    """logsumexp over the last axis (the joint classes, ``n_classes`` of them, few).

    Written out class by class so that PyTensor fuses it into one elementwise loop over
    (rows, nodes): a reduction over a short trailing axis is several strided passes
    otherwise. The shift m is held out of the gradient (its derivative is exactly 0), so
    the backward pass reuses the forward exponentials.
    """
    if n_classes == 1:
        return index_axis(log_joint, 0, -1)
    if n_classes > 16:
        return pt.logsumexp(log_joint, axis=-1)
    parts = [log_joint[..., k] for k in range(n_classes)]
    shift = parts[0]
    for part in parts[1:]:
        shift = pt.maximum(shift, part)
    shift = _held_shift(shift)
    total = pt.exp(parts[0] - shift)
    for part in parts[1:]:
        total = total + pt.exp(part - shift)
    return shift + pt.log(total)


def mixture_by_products(cluster_prior, log_f, n_clusters, size, n_classes: int):
    """log sum_j P(j | b_q) f(y_i | j) per row and node, (n, Q), from a per-cluster prior.

    ``cluster_prior`` (J, Q, K) is log P(j | cluster, node), ``log_f`` (n, 1, K) does not
    depend on the node. With s_i = max_j log f(y_i | j) the value is
    s_i + log sum_j exp(prior_cqj) exp(log f_ij - s_i): exponentials once per cluster and
    node and once per row, multiply-adds on the (rows, nodes) grid. Equal to the log-space
    sum in double precision unless at a node every class that fits row i has a prior
    probability below ~1e-308 (that row's value there underflows to -inf).
    """
    log_f = log_f[:, 0, :]  # (n, K)
    shift = _held_shift(log_f.max(axis=-1))
    fit = pt.exp(log_f - shift[:, None]).reshape((n_clusters, size, n_classes))  # (J, m, K)
    prob = pt.exp(cluster_prior)  # (J, Q, K)
    total = pt.matmul(fit, prob.dimshuffle(0, 2, 1))  # (J, m, Q): one small matrix product per cluster
    return pt.log(total).reshape((-1, total.shape[2])) + shift[:, None]


def _within_loglik(parts: UnitTerms, log_joint, n_classes: int, n_clusters, size):
    """log P(y_i | b_q, d) per row and node: by products where the prior is per cluster and
    the items do not depend on the node (``mixture_by_products``), else in log space."""
    by_products = (parts.row_prior is None and parts.cluster_prior is not None and 1 < n_classes <= 16
                   and parts.log_f.type.shape[1] == 1 and parts.log_f.type.shape[0] != 1)
    if by_products:
        return mixture_by_products(parts.cluster_prior, parts.log_f, n_clusters, size, n_classes)
    return logsumexp_classes(log_joint, n_classes)


def _shapes_tied(inputs: ClusterInputs, n_clusters, size) -> ClusterInputs:
    """``inputs`` with their row, cluster and node axes declared equal to the mask's (J*m rows,
    J clusters) and to each other's (Q nodes): the graph then needs no run-time checks that
    the broadcasts between them agree, nor the nodes computing them."""
    n_rows = n_clusters * size
    n_nodes = inputs.nodes.shape[2]

    def tied(v, *shape):
        return pt.specify_shape(v, tuple(d if s is None else s for d, s in zip(shape, v.type.shape)))

    return dataclasses.replace(
        inputs, group_data=[tied(g, n_rows, None) for g in inputs.group_data],
        covariates=tied(inputs.covariates, n_rows, None), first_row=tied(inputs.first_row, n_clusters),
        nodes=tied(inputs.nodes, None, n_clusters, None, None), logq=tied(inputs.logq, None, n_clusters, n_nodes))


def build_cluster_loglik(structure: GraphStructure, inputs: ClusterInputs,
                         rule: QuadratureRule | None = None) -> ClusterTerms:
    """Symbolic per-cluster log-likelihood of one chunk of clusters.

    ``rule`` integrates within-level factors (inside every cluster node, ``unit.py``).
    """
    layout = structure.layout
    # J clusters of m rows in the padded layout; both read off the mask's shape (not n // J),
    # so every shape is static once the inputs' shapes are (JAX traces them)
    n_clusters, size = inputs.row_mask.shape[0], inputs.row_mask.shape[1]
    inputs = _shapes_tied(inputs, n_clusters, size)
    phi = layout.symbolic_natural(inputs.theta[None, :])
    x = inputs.covariates
    x_cluster = x[inputs.first_row]
    n_rows = x.shape[0]

    def to_rows(per_cluster):
        return _to_rows(per_cluster, n_clusters, size)

    between = structure.between
    n_between = between.n_classes if between is not None else 1
    bm = structure.between_model
    if between is not None:  # eq 17 / 26
        d_log_prior = pt.special.log_softmax(class_logits(structure, phi, between, False, x_cluster), axis=-1)
        d_log_prior = pt.broadcast_to(d_log_prior, (n_clusters, n_between))
    else:
        d_log_prior = pt.zeros((n_clusters, 1))

    node_terms, cluster_given_d, class_post, class_prior = [], [], [], []
    for d in range(n_between):
        z = index_axis(inputs.nodes, d, 0)
        logq = index_axis(inputs.logq, d, 0)
        n_nodes = z.shape[1]
        if bm is not None and bm.dim:
            group = d if bm.n_groups > 1 else 0
            b_clusters = random_effect_values(structure, phi, group, z, x_cluster)  # (J, Q, dim)
            b_rows = to_rows(b_clusters)
        else:
            b_rows = b_clusters = None
        parts = unit_log_terms(structure, phi, inputs.group_data, False, x, b_rows, d, rule,
                               b_clusters)
        log_prior = parts.row_prior
        if parts.cluster_prior is not None:
            on_rows = to_rows(parts.cluster_prior)
            log_prior = on_rows if log_prior is None else log_prior + on_rows
        log_joint, row_extra = log_prior + parts.log_f, parts.between_term  # (n|1, Q|1, Jw)
        n_classes = structure.n_joint if structure.within_vars else 1
        within_ll = _within_loglik(parts, log_joint, n_classes, n_clusters, size)
        row_ll = pt.broadcast_to(within_ll + row_extra, (n_rows, n_nodes))
        summed = _sum_rows(row_ll, inputs.row_mask, n_clusters, size)
        terms = logq + log_std_normal(z) + summed  # (J, Q)
        ell_d = pt.logsumexp(terms, axis=1)
        node_terms.append(terms)
        cluster_given_d.append(ell_d)
        # class probabilities given D = d: average over the nodes' posterior (or prior) weights
        within_post = pt.exp(log_joint - within_ll[..., None])
        node_post = to_rows(pt.exp(terms - ell_d[:, None]))  # (n, Q)
        class_post.append(pt.sum(node_post[:, :, None] * within_post, axis=1))
        node_prior = to_rows(pt.exp(logq + log_std_normal(z)))
        class_prior.append(pt.sum(node_prior[:, :, None] * pt.exp(log_prior), axis=1)
                           / pt.sum(node_prior, axis=1)[:, None])
    ell_jd = pt.stack(cluster_given_d, axis=1)  # (J, M)
    joint_d = d_log_prior + ell_jd
    cluster_loglik = pt.logsumexp(joint_d, axis=1)
    n_joint = structure.n_joint
    return ClusterTerms(
        total=cluster_loglik.sum(),
        cluster_loglik=cluster_loglik,
        node_terms=pt.stack(node_terms, axis=0),
        d_log_prior=d_log_prior,
        d_log_post=joint_d - cluster_loglik[:, None],
        class_post=pt.stack([pt.broadcast_to(c, (n_rows, n_joint)) for c in class_post], axis=0),
        class_prior=pt.stack([pt.broadcast_to(c, (n_rows, n_joint)) for c in class_prior], axis=0),
    )
