"""The compiled two-level graph and the model's data in cluster order.

``ClusterFunctions`` holds the PyTensor functions of one graph (log-likelihood and
gradient, per-cluster details, derivatives with respect to the nodes). They are pure
functions of (theta, a chunk's data, nodes, log weights), so identical graphs share them
(refits of one spec: Monte Carlo replications, bootstrap) through a small cache, and no
state lives in them. ``ClusterData`` orders the rows by cluster and cuts chunks of whole
clusters, so one compiled function serves every chunk (memory stays bounded) and every
single cluster (per-cluster scores).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import pytensor

from ..graph.cluster_likelihood import ClusterInputs, build_cluster_loglik, index_axis
from ..graph.structure import GraphStructure
from ..toolchain.backend import compile_mode

CACHE_SIZE = 8
# the cost of one more call of a compiled function (Python and PyTensor overhead), in
# evaluated cells (rows x nodes x classes): chunks trade padding against calls with it.
# Measured on the Contraception GLMM (60 districts of 2-118 women; fit time at 5000 / 1000 /
# 500: Laplace 0.15 / 0.12 / 0.09 s, adaptive-25 0.44 / 0.39 / 0.36 s)
CALL_COST_CELLS = 500
# the cost of one more compiled graph or shape (a Bayesian graph per size group, a JAX
# function per chunk shape: seconds, ~100 evaluations of a fit), in cells per evaluation
NEW_GRAPH_COST_CELLS = 1_000_000
_FUNCTIONS: "OrderedDict[tuple, ClusterFunctions]" = OrderedDict()


def cached_compile(cache: OrderedDict, key: tuple, build, size: int):
    """``cache[key]``, built by ``build()`` on first use; the least recently used entries
    beyond ``size`` are dropped (compiled functions hold memory)."""
    cached = cache.get(key)
    if cached is None:
        from ..progress import compile_notice

        with compile_notice("the model"):  # shown after 1 s of compiling
            cached = cache[key] = build()
        while len(cache) > size:
            cache.popitem(last=False)
    cache.move_to_end(key)
    return cached


def graph_signature(structure: GraphStructure, unit_rule=None) -> tuple:
    """Everything the symbolic two-level graph depends on (not the data values)."""
    rule = None if unit_rule is None else (unit_rule.method, unit_rule.nodes.tobytes())
    return structure.signature() + (rule,)


class ClusterFunctions:
    """Compiled functions of the two-level graph of ``structure`` (``graph/cluster_likelihood.py``).

    Each function is loaded from the on-disk function cache when this graph was compiled
    before (``toolchain/function_cache.py``); the symbolic graph is only built for a function that is
    not there.
    """

    def __init__(self, structure: GraphStructure, unit_rule=None, backend: str = "c"):
        self._structure, self._unit_rule = structure, unit_rule
        self.backend = backend  # "c": one C function per graph; "jax": one XLA function per input shapes
        self._key = ("cluster",) + graph_signature(structure, unit_rule)
        self._graphs = {}  # nodes per cluster (None: any, 1: the Laplace modes) -> (inputs, terms), built on first need
        self._value_grad = None
        self._details = None
        self._node_derivs = None
        self._laplace = None
        self._node_terms = None

    @classmethod
    def for_structure(cls, structure: GraphStructure, unit_rule=None, backend: str = "c") -> "ClusterFunctions":
        """The functions of ``structure``'s graph, compiled once per graph signature and backend."""
        return cached_compile(_FUNCTIONS, graph_signature(structure, unit_rule) + (backend,),
                              lambda: cls(structure, unit_rule, backend), CACHE_SIZE)

    def _build(self, shapes):
        """(inputs, terms) of a fresh symbolic graph on inputs of ``shapes`` (None: any size)."""
        inputs = ClusterInputs.create(self._structure, shapes)
        return inputs, build_cluster_loglik(self._structure, inputs, self._unit_rule)

    def _symbolic(self, n_nodes: int | None):
        if n_nodes not in self._graphs:
            self._graphs[n_nodes] = self._build(ClusterInputs.structural_shapes(self._structure, n_nodes))
        return self._graphs[n_nodes]

    def _function(self, name: str, outputs, n_nodes: int | None = None):
        """The compiled function ``outputs(inputs, terms)`` of the graph: C from the disk cache
        if there; JAX compiled at its first call for each input shapes (``toolchain/jax_functions.py``).
        ``n_nodes``: the nodes per cluster of every call, if fixed (1: the Laplace modes)."""
        if self.backend == "jax":
            from ..toolchain.jax_functions import ShapeSpecializedFunction

            def graph(shapes):  # a graph of its own on inputs of static shapes
                inputs, terms = self._build(shapes)
                return inputs.as_list(), outputs(inputs, terms)

            return ShapeSpecializedFunction(graph, name, self._key + (name,))
        from ..toolchain.function_cache import cached_function

        def build():
            inputs, terms = self._symbolic(n_nodes)
            with compile_mode("c"):
                return pytensor.function(inputs.as_list(), outputs(inputs, terms), on_unused_input="ignore")

        return cached_function(self._key + (name,), build)

    @property
    def value_grad(self):
        """(total log-likelihood, its gradient in theta) at fixed nodes, loaded on first use
        (a Laplace fit never needs it)."""
        if self._value_grad is None:
            self._value_grad = self._function("value_grad", lambda inputs, terms: [
                terms.total, pytensor.grad(terms.total, inputs.theta)])
        return self._value_grad

    @property
    def details(self):
        """Per cluster and row: log-likelihoods, node terms, between- and within-class
        posteriors and priors (``IntegratedObjective.details``), loaded on first use."""
        if self._details is None:
            self._details = self._function("details", lambda inputs, terms: [
                terms.cluster_loglik, terms.node_terms, terms.d_log_prior, terms.d_log_post, terms.class_post,
                terms.class_prior])
        return self._details

    def node_terms(self):
        """The log integrand at the nodes alone, (M, J, Q): adaptive node placement, compiled
        on first use (a forward pass, a third of the value-and-gradient call)."""
        if self._node_terms is None:
            self._node_terms = self._function("node_terms", lambda inputs, terms: [terms.node_terms])
        return self._node_terms

    def node_derivatives(self, dim: int):
        """(integrand, d/dz, d2/dz2) of the log integrand at the nodes (Laplace modes), compiled on first use."""
        if self._node_derivs is None:
            def outputs(inputs, terms):
                import pytensor.tensor as pt

                values, nodes = terms.node_terms, inputs.nodes
                grad = pytensor.grad(values.sum(), nodes)
                hess = pt.stack([pytensor.grad(index_axis(grad, r, -1).sum(), nodes) for r in range(dim)], axis=-1)
                return [values, grad, hess]

            self._node_derivs = self._function(f"node_derivatives{dim}", outputs, n_nodes=1)
        return self._node_derivs

    def laplace_value_grad(self, dim: int):
        """Laplace log-likelihood and its exact gradient, given each cluster's mode, compiled on first use.

        Called with the modes z*_dj as the nodes (one per between class and cluster) and zero
        log weights. For cluster j

            l_j = logsumexp_d [ log P(D_j = d) + h_dj(z*) + dim/2 log 2 pi - 1/2 log det(-H_dj) ],

        h the log integrand (``node_terms``) and H its Hessian in z. The modes depend on theta
        through g(z*, theta) = dh/dz = 0, so by implicit differentiation
        dz*/dtheta = -H^{-1} dg/dtheta and

            dl/dtheta = dl/dtheta|_z - u' dg/dtheta,   u = H^{-1} dl/dz   (held constant),

        one reverse pass through the third derivatives of the graph instead of 2 n_free + 1
        Laplace evaluations by central differences. Returns (total, gradient).
        """
        if self._laplace is None:
            self._laplace = self._function(f"laplace{dim}", lambda inputs, terms: _laplace_outputs(inputs, terms, dim),
                                           n_nodes=1)
        return self._laplace


def _laplace_outputs(inputs, terms, dim: int):
    """[total, gradient] of the Laplace log-likelihood at the modes (``laplace_value_grad``)."""
    import pytensor.tensor as pt
    from pytensor.gradient import zero_grad

    from ..families import LOG_2PI

    z = inputs.nodes  # (M, J, 1, dim): the modes
    h = index_axis(terms.node_terms, 0, 2)  # (M, J), called with logq = 0
    g = index_axis(pytensor.grad(h.sum(), z), 0, 2)  # (M, J, dim)
    hess = pt.stack([index_axis(pytensor.grad(index_axis(g, r, -1).sum(), z), 0, 2) for r in range(dim)], axis=-1)
    log_det = _log_det_spd(-hess, dim)
    joint = terms.d_log_prior + (h + 0.5 * dim * LOG_2PI - 0.5 * log_det).T  # (J, M)
    cluster_loglik = pt.logsumexp(joint, axis=1)
    total = cluster_loglik.sum()
    d_total_dz = index_axis(pytensor.grad(total, z), 0, 2)
    u = zero_grad(_solve_small(hess, d_total_dz, dim))
    return [total, pytensor.grad(total - (u * g).sum(), inputs.theta)]


def _log_det_spd(a, dim: int):
    """log det of a batch (..., dim, dim) of positive definite matrices (closed forms for dim <= 2)."""
    import pytensor.tensor as pt

    if dim == 1:
        return pt.log(index_axis(index_axis(a, 0, -1), 0, -1))
    if dim == 2:
        return pt.log(a[..., 0, 0] * a[..., 1, 1] - a[..., 0, 1] * a[..., 1, 0])
    chol = pt.linalg.cholesky(a)
    return 2 * pt.log(pt.diagonal(chol, axis1=-2, axis2=-1)).sum(axis=-1)


def _solve_small(a, b, dim: int):
    """a^{-1} b for a batch of (dim, dim) matrices a and (dim,) vectors b (closed forms for dim <= 2)."""
    import pytensor.tensor as pt

    if dim == 1:
        return b / index_axis(a, 0, -1)
    if dim == 2:
        det = a[..., 0, 0] * a[..., 1, 1] - a[..., 0, 1] * a[..., 1, 0]
        return pt.stack([a[..., 1, 1] * b[..., 0] - a[..., 0, 1] * b[..., 1],
                         a[..., 0, 0] * b[..., 1] - a[..., 1, 0] * b[..., 0]], axis=-1) / det[..., None]
    return pt.linalg.solve(a, b[..., None])[..., 0]


@dataclass(frozen=True)
class Chunk:
    """Numpy inputs of one chunk of whole clusters in the padded layout (``graph/cluster_likelihood.py``).

    Cluster ``clusters[j]`` owns padded rows j*m .. j*m + m - 1, m its chunk's largest cluster
    size; padding rows repeat the cluster's last row and are masked out.
    """

    clusters: np.ndarray  # global cluster numbers in this chunk
    arrays: list  # group data..., covariates, row_mask, first_row (local): the graph's data inputs
    rows: np.ndarray  # positions in the model's row order of the chunk's real rows
    real: np.ndarray  # (J*m,) bool: which padded rows are real, in the order of ``rows``


class ClusterData:
    """The model's rows sorted by cluster; chunks of whole clusters as graph inputs."""

    def __init__(self, structure: GraphStructure):
        self.structure = structure
        codes = structure.cluster_codes
        self.order = np.argsort(codes, kind="stable")
        self.n_clusters = int(codes.max()) + 1 if codes.size else 0
        self.starts = np.searchsorted(codes[self.order], np.arange(self.n_clusters + 1))
        self.sizes = np.diff(self.starts)

    def chunk_of(self, clusters, pad_to: int = 0) -> Chunk:
        """The graph inputs of the given clusters (global numbers), padded to the largest
        (or to ``pad_to`` rows per cluster, if more: one shape for every single cluster)."""
        st = self.structure
        clusters = np.asarray(clusters, dtype=np.int64)
        sizes = self.sizes[clusters]
        size = max(int(sizes.max()), pad_to)
        offset = np.minimum(np.arange(size)[None, :], sizes[:, None] - 1)  # padding repeats the last row
        padded = self.order[self.starts[clusters][:, None] + offset].ravel()
        real = (np.arange(size)[None, :] < sizes[:, None]).ravel()
        first_row = np.arange(len(clusters), dtype=np.int64) * size
        mask = real.reshape(len(clusters), size).astype(float)
        arrays = [g.data[padded] for g in st.groups] + [st.covariates[padded], mask, first_row]
        return Chunk(clusters, arrays, padded[real], real)

    def chunks(self, max_rows: int, row_cost: float = 1.0, call_cost: float = CALL_COST_CELLS) -> list[Chunk]:
        """Chunks of whole clusters of similar size with at most ``max_rows`` padded rows each.

        Clusters are taken in increasing size; the next one joins the current chunk when the
        padding that adds (rows x ``row_cost``, the cells a row costs) is cheaper than another
        call of the compiled function (``call_cost`` cells), so unequal clusters neither cost
        one call each nor pad every cluster to the largest.
        """
        out, members = [], []
        for j in np.argsort(self.sizes, kind="stable"):
            size = int(self.sizes[j])  # the largest so far: clusters come in increasing size
            if members:
                padding = len(members) * (size - self.sizes[members[-1]]) * row_cost
                if (len(members) + 1) * size > max_rows or padding > call_cost:
                    out.append(self.chunk_of(members))
                    members = []
            members.append(j)
        if members:
            out.append(self.chunk_of(members))
        return out
