"""The two-level likelihood: classes summed out, random effects integrated, per cluster.

For cluster j (design guide section 1; paper eq 2-5, 16-18, 22-26):

    L_j = sum_d P(D_j = d | x_j) * E_z[ prod_{i in j} sum_c P(C_ij = c | d, b_j(z), x_ij) f(y_ij | c, d, b_j(z)) ]

with z ~ N(0, I) standard normal and b_j(z) the random effects of the between model
(``random_effects.py``). The expectation is a weighted sum over nodes z_jq that the
estimator supplies per between class and cluster (non-adaptive rules, adaptive
quadrature, Laplace: ``estimate/integrated.py``) as

    E_z[g(z)] ~= sum_q exp(logq_jq + log phi(z_jq)) g(z_jq),

so that log phi(z) is part of the graph (Laplace needs its derivatives) and every
normalizing constant is kept: log-likelihoods are on one scale across methods.

The row level is the unit level of ``unit.py`` (shared with single-level models, which
are its degenerate case); this module adds the node axis Q, the per-cluster sums and the
sum over D. Data enter
as symbolic inputs, so one compiled function serves any chunk of clusters.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytensor.tensor as pt

from ..families import LOG_2PI
from ..integration import QuadratureRule
from .structure import GraphStructure
from .unit import class_logits, unit_log_joint

@dataclass
class ClusterInputs:
    """Symbolic inputs of the two-level graph (one chunk of whole clusters)."""

    theta: object  # (n_free,)
    group_data: list  # per measurement group: (n, ...) data matrix
    covariates: object  # (n, q)
    row_cluster: object  # (n,) int: cluster of each row, 0..J-1 within the chunk
    first_row: object  # (J,) int: a row of each cluster (cluster covariates)
    nodes: object  # (M, J, Q, dim) standard-normal nodes per between class
    logq: object  # (M, J, Q) log weights without the N(0, I) density

    @classmethod
    def create(cls, structure: GraphStructure) -> "ClusterInputs":
        """Fresh symbolic variables matching ``structure``."""
        return cls(pt.vector("theta"), [pt.matrix(f"data_{i}") for i in range(len(structure.groups))],
                   pt.matrix("covariates"), pt.lvector("row_cluster"), pt.lvector("first_row"),
                   pt.tensor4("nodes"), pt.tensor3("logq"))

    def as_list(self) -> list:
        """Inputs in the order the compiled functions take them (theta first)."""
        return [self.theta, *self.group_data, self.covariates, self.row_cluster, self.first_row, self.nodes,
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


def log_std_normal(z):
    """log N(z; 0, I) summed over the last axis."""
    return -0.5 * (z**2).sum(axis=-1) - 0.5 * LOG_2PI * z.shape[-1]


def random_effect_values(structure: GraphStructure, phi, group: int, z, x_cluster):
    """b_j(z) = B b_j + Gamma x_j + L z (eq 5, 18, 25), shape (J, Q, dim); B strictly lower."""
    bm = structure.between_model
    tri = structure.layout.blocks[bm.covariance_keys[group]].index
    rows, cols = np.nonzero(tri >= 0)
    chol = pt.set_subtensor(pt.zeros((bm.dim, bm.dim))[rows, cols], phi[0, tri[rows, cols]])
    xi = pt.tensordot(z, chol, axes=[[2], [1]])  # (J, Q, dim): L z
    effects = []
    names = structure.covariate_names
    for r in range(bm.dim):
        b_r = xi[:, :, r]
        for a, s, elem in bm.effect_regressions[group]:
            if a == r:
                b_r = b_r + phi[0, elem] * effects[s]
        for a, col, elem in bm.covariate_regressions[group]:
            if a == r:
                b_r = b_r + phi[0, elem] * x_cluster[:, names.index(col)][:, None]
        effects.append(b_r)
    return pt.stack(effects, axis=-1)


def build_cluster_loglik(structure: GraphStructure, inputs: ClusterInputs,
                         rule: QuadratureRule | None = None) -> ClusterTerms:
    """Symbolic per-cluster log-likelihood of one chunk of clusters.

    ``rule`` integrates within-level factors (inside every cluster node, ``unit.py``).
    """
    layout = structure.layout
    phi = layout.symbolic_natural(inputs.theta[None, :])
    x = inputs.covariates
    x_cluster = x[inputs.first_row]
    n_rows, n_clusters = x.shape[0], inputs.first_row.shape[0]
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
        z = inputs.nodes[d]
        n_nodes = z.shape[1]
        if bm is not None and bm.dim:
            group = d if bm.n_groups > 1 else 0
            b_rows = random_effect_values(structure, phi, group, z, x_cluster)[inputs.row_cluster]
        else:
            b_rows = None
        log_joint, log_prior, row_extra = unit_log_joint(structure, phi, inputs.group_data, False, x, b_rows, d,
                                                         rule)  # (n|1, Q|1, Jw)
        within_ll = pt.logsumexp(log_joint, axis=-1)
        row_ll = pt.broadcast_to(within_ll + row_extra, (n_rows, n_nodes))
        summed = pt.inc_subtensor(pt.zeros((n_clusters, n_nodes))[inputs.row_cluster], row_ll)
        terms = inputs.logq[d] + log_std_normal(z) + summed  # (J, Q)
        ell_d = pt.logsumexp(terms, axis=1)
        node_terms.append(terms)
        cluster_given_d.append(ell_d)
        # class probabilities given D = d: average over the nodes' posterior (or prior) weights
        within_post = pt.exp(log_joint - within_ll[..., None])
        node_post = pt.exp(terms - ell_d[:, None])[inputs.row_cluster]  # (n, Q)
        class_post.append(pt.sum(node_post[:, :, None] * within_post, axis=1))
        node_prior = pt.exp(inputs.logq[d] + log_std_normal(z))[inputs.row_cluster]
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
