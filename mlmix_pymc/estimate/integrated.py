"""Compiled two-level likelihood: chunks of clusters, integration nodes, scores, Hessian.

The graph (``graph/cluster_likelihood.py``) takes the data of a chunk of whole clusters
and the integration nodes as inputs, so one compiled function serves every chunk (memory
stays bounded on large data) and every single cluster (per-cluster scores for robust MLR
standard errors, clustered on the cluster variable).

Integration (``integration=``; the paper's section 10):

* ``"gauss-hermite"``, ``"trapezoid"`` (the Mplus default), ``"qmc"`` (Sobol, for 5 or
  more dimensions): fixed nodes on the standard-normal scale;
* ``"adaptive"``: Gauss-Hermite nodes centred and scaled per cluster (and between class)
  by the posterior mean and Cholesky factor of the posterior covariance of the random
  effects, computed from the quadrature itself and iterated to a fixed point
  (Rabe-Hesketh, Skrondal & Pickles 2005). The nodes are held fixed while the optimizer
  runs and updated between runs, until the log-likelihood no longer changes. When the
  adaptation fails (non-finite or singular posterior moments) estimation falls back to
  non-adaptive Gauss-Hermite with a warning, as Mplus does.
* ``"laplace"``: one node at the posterior mode of every cluster (Newton iterations on
  the random effects), scaled by the inverse curvature: the Laplace approximation. The
  mode and curvature are recomputed at every parameter value, so the objective is the
  exact Laplace log-likelihood (as lme4's ``nAGQ=1``); its gradient is taken by central
  differences (the curvature term would need third derivatives), which costs about
  2 x n_free evaluations per gradient.
"""

from __future__ import annotations

import copy
import warnings
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import pytensor
from scipy import special

from ..errors import SpecificationError
from ..graph.cluster_likelihood import ClusterInputs, build_cluster_loglik
from ..graph.structure import GraphStructure
from ..integration import QuadratureRule, log_std_normal, make_rule, shift_scale

INTEGRATIONS = ("gauss-hermite", "adaptive", "trapezoid", "qmc", "laplace")
_COMPILED_CACHE: "OrderedDict[tuple, CompiledClusterLikelihood]" = OrderedDict()
CACHE_SIZE = 8
MAX_CHUNK_CELLS = 2_000_000  # rows x nodes x joint classes evaluated in one call


@dataclass
class Chunk:
    """Numpy inputs of one chunk of whole clusters (rows sorted by cluster)."""

    clusters: np.ndarray  # global cluster numbers in this chunk
    arrays: list  # group data..., covariates, row_cluster (local), first_row (local)
    rows: np.ndarray  # positions of the chunk's rows in the model's row order


def graph_signature(structure: GraphStructure, unit_rule=None) -> tuple:
    """Everything the symbolic two-level graph depends on (not the data values)."""
    rule = None if unit_rule is None else (unit_rule.method, unit_rule.nodes.tobytes())
    return structure.signature() + (rule,)


def central_differences(fn, theta: np.ndarray, rel_step: float) -> np.ndarray:
    """d fn / d theta by central differences, stacked on the first axis: (n_free, *fn's shape)."""
    out = []
    for i in range(len(theta)):
        h = rel_step * max(1.0, abs(theta[i]))
        up, down = theta.copy(), theta.copy()
        up[i] += h
        down[i] -= h
        out.append((np.asarray(fn(up)) - np.asarray(fn(down))) / (2 * h))
    return np.array(out)


class CompiledClusterLikelihood:
    """Two-level log-likelihood functions of the free-parameter vector ``theta``."""

    def __init__(self, structure: GraphStructure, integration: str = "gauss-hermite", points: int = 15,
                 unit_rule=None):
        self.structure = structure
        self.unit_rule = unit_rule  # fixed nodes of within-level factors, part of the graph
        self.dim = structure.between_model.dim if structure.between_model is not None else 0
        self.n_between = structure.between.n_classes if structure.between is not None else 1
        inputs = ClusterInputs.create(structure)
        terms = build_cluster_loglik(structure, inputs, unit_rule)
        self._inputs, self._terms = inputs, terms
        grad = pytensor.grad(terms.total, inputs.theta)
        self._value_grad = pytensor.function(inputs.as_list(), [terms.total, grad], on_unused_input="ignore")
        self._details = pytensor.function(
            inputs.as_list(),
            [terms.cluster_loglik, terms.node_terms, terms.d_log_prior, terms.d_log_post, terms.class_post,
             terms.class_prior],
            on_unused_input="ignore")
        self._node_derivs = None
        self.set_integration(integration, points)

    def set_integration(self, integration: str = "gauss-hermite", points: int = 15, seed: int = 0) -> None:
        """Choose the integration method and points per dimension (the compiled graph is reused)."""
        if integration not in INTEGRATIONS:
            raise SpecificationError(f"integration={integration!r} is not one of {INTEGRATIONS}")
        if isinstance(points, bool) or not isinstance(points, (int, np.integer)) or points < 1:
            raise SpecificationError(f"points must be a positive integer, got {points!r}")
        self.integration = integration
        self.points = int(points)
        if self.dim == 0:
            self.rule = QuadratureRule(np.zeros((1, 0)), np.zeros(1), "none")
        elif integration == "laplace":
            self.rule = QuadratureRule(np.zeros((1, self.dim)), np.zeros(1), "laplace")
        else:
            base = "gauss-hermite" if integration == "adaptive" else integration
            self.rule = make_rule(base, self.dim, int(points), seed=seed)
        self.adapts = self.dim > 0 and integration == "adaptive"
        self.laplace = self.dim > 0 and integration == "laplace"
        self.adaptive_failed = False
        for attr in ("_mean", "_chol"):
            if hasattr(self, attr):
                delattr(self, attr)
        self._chunks = self._make_chunks()
        self._reset_nodes()

    @classmethod
    def for_structure(cls, structure: GraphStructure, unit_rule=None) -> "CompiledClusterLikelihood":
        """Compiled functions for ``structure``, reusing those of an identical graph.

        The graph depends on the spec and the categories of the items, not on the data
        values (they are inputs), so refits of one spec on new data (Monte Carlo
        replications, bootstrap) skip graph construction and compilation.
        """
        key = graph_signature(structure, unit_rule)
        cached = _COMPILED_CACHE.get(key)
        if cached is None:
            compiled = cls(structure, unit_rule=unit_rule)
            _COMPILED_CACHE[key] = compiled
            while len(_COMPILED_CACHE) > CACHE_SIZE:
                _COMPILED_CACHE.popitem(last=False)
            return compiled
        _COMPILED_CACHE.move_to_end(key)
        compiled = copy.copy(cached)
        compiled.structure = structure
        compiled.set_integration("gauss-hermite", 15)  # new chunks and nodes; drops adapted state
        return compiled

    # ------------------------------------------------------------ data chunks
    def _make_chunks(self) -> list[Chunk]:
        st = self.structure
        codes = st.cluster_codes
        order = np.argsort(codes, kind="stable")
        n_clusters = int(codes.max()) + 1 if codes.size else 0
        starts = np.searchsorted(codes[order], np.arange(n_clusters + 1))
        self.n_clusters, self._order, self._starts = n_clusters, order, starts
        cells = max(1, self.rule.n_points * st.n_joint * self.n_between)
        max_rows = max(1, MAX_CHUNK_CELLS // cells)
        chunks, first = [], 0
        while first < n_clusters:
            last = first + 1
            while last < n_clusters and starts[last + 1] - starts[first] <= max_rows:
                last += 1
            chunks.append(self.cluster_chunk(first, last))
            first = last
        return chunks

    def cluster_chunk(self, first: int, last: int) -> Chunk:
        """The graph inputs of clusters ``first..last-1`` (rows sorted by cluster)."""
        st = self.structure
        order, starts = self._order, self._starts
        rows = order[starts[first]:starts[last]]
        local = st.cluster_codes[rows] - first
        first_row = starts[first:last] - starts[first]
        arrays = [g.data[rows] for g in st.groups] + [st.covariates[rows], local.astype(np.int64),
                                                      first_row.astype(np.int64)]
        return Chunk(np.arange(first, last), arrays, rows)

    # ------------------------------------------------------------ nodes
    def _reset_nodes(self) -> None:
        """Non-adaptive nodes (also the fallback of failed adaptation)."""
        z = self.rule.nodes
        logq = self.rule.log_weights - log_std_normal(z)
        shape = (self.n_between, self.n_clusters)
        self.nodes = np.broadcast_to(z, shape + z.shape).copy()
        self.logq = np.broadcast_to(logq, shape + logq.shape).copy()

    def _start_grid(self) -> QuadratureRule:
        """A fine fixed grid (about 20 points per dimension, at most ~125 nodes) to start adapting from."""
        per_dim = max(3, int(round(min(125, 20 ** self.dim) ** (1 / self.dim))))
        return make_rule("gauss-hermite", self.dim, per_dim)

    def _call(self, fn, theta, chunk: Chunk, nodes=None, logq=None):
        nodes = self.nodes if nodes is None else nodes
        logq = self.logq if logq is None else logq
        c = chunk.clusters
        return fn(np.asarray(theta, dtype=float), *chunk.arrays, nodes[:, c], logq[:, c])

    # ------------------------------------------------------------ values
    def loglik_grad(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """Total log-likelihood and its gradient at ``theta`` (current nodes; Laplace: exact)."""
        if self.laplace and not self.adaptive_failed:
            return self._laplace_loglik_grad(np.asarray(theta, dtype=float))
        return self._fixed_nodes_loglik_grad(theta)

    def _laplace_value(self, theta) -> float:
        self.adapt_now(theta)
        return self._fixed_nodes_loglik_grad(theta)[0]

    def _laplace_loglik_grad(self, theta):
        mean = getattr(self, "_mean", None)

        def value_from_same_modes(t):  # warm start every perturbation from the same modes
            if mean is not None:
                self._mean = mean
            return self._laplace_value(t)

        grad = central_differences(value_from_same_modes, theta, 1e-5)
        return value_from_same_modes(theta), grad

    def _fixed_nodes_loglik_grad(self, theta):
        total, grad = 0.0, 0.0
        for chunk in self._chunks:
            ll, g = self._call(self._value_grad, theta, chunk)
            total += float(ll)
            grad = grad + np.asarray(g)
        return total, np.asarray(grad)

    def loglik(self, theta: np.ndarray) -> float:
        """Total log-likelihood at ``theta`` (current nodes)."""
        return self.loglik_grad(theta)[0]

    def details(self, theta: np.ndarray, nodes=None, logq=None) -> dict:
        """Per-cluster and per-row quantities, rows in the model's row order."""
        n = len(self.structure.cluster_codes)
        out = {"cluster_loglik": np.empty(self.n_clusters),
               "node_terms": np.empty((self.n_between, self.n_clusters, (self.nodes if nodes is None
                                                                          else nodes).shape[2])),
               "d_log_prior": np.empty((self.n_clusters, self.n_between)),
               "d_log_post": np.empty((self.n_clusters, self.n_between)),
               "class_post": np.empty((self.n_between, n, self.structure.n_joint)),
               "class_prior": np.empty((self.n_between, n, self.structure.n_joint))}
        for chunk in self._chunks:
            ll, terms, dprior, dpost, cpost, cprior = self._call(self._details, theta, chunk, nodes, logq)
            c = chunk.clusters
            out["cluster_loglik"][c] = ll
            out["node_terms"][:, c] = terms
            out["d_log_prior"][c] = dprior
            out["d_log_post"][c] = dpost
            out["class_post"][:, chunk.rows] = cpost
            out["class_prior"][:, chunk.rows] = cprior
        return out

    # ------------------------------------------------------------ adaptation
    def adapt(self, theta: np.ndarray, max_rounds: int = 30, tol: float = 1e-6) -> None:
        """Move the nodes to the current posterior of the random effects (adaptive quadrature).

        Laplace nodes are placed by every evaluation itself; here they are placed too so that
        ``details`` at ``theta`` uses them.
        """
        if self.laplace or self.adapts:
            self.adapt_now(theta, max_rounds, tol)

    def adapt_now(self, theta, max_rounds: int = 30, tol: float = 1e-6) -> None:
        """Place adaptive or Laplace nodes at ``theta``; on failure fall back with a warning."""
        if self.adaptive_failed:
            return
        try:
            if self.integration == "laplace":
                self._laplace_nodes(theta)
            else:
                self._adaptive_nodes(theta, max_rounds, tol)
        except (np.linalg.LinAlgError, FloatingPointError, ValueError) as err:
            self.adaptive_failed = True
            self.laplace = self.adapts = False
            self.rule = make_rule("gauss-hermite", self.dim, max(self.points, 7))
            self._chunks = self._make_chunks()
            self._reset_nodes()
            warnings.warn(f"{self.integration} integration failed ({err}); falling back to non-adaptive "
                          f"Gauss-Hermite integration with {max(self.points, 7)} points per dimension", stacklevel=2)

    def _adaptive_nodes(self, theta, max_rounds, tol) -> None:
        # first moments from an accurate fixed grid, so that the nodes depend on theta alone
        grid = self._start_grid()
        z = np.broadcast_to(grid.nodes, (self.n_between, self.n_clusters) + grid.nodes.shape)
        logq = np.broadcast_to(grid.log_weights - log_std_normal(grid.nodes), (self.n_between, self.n_clusters, grid.n_points))
        mean, chol = self._moments(self.details(theta, z, logq)["node_terms"], z)
        self._set_adaptive(mean, chol)
        for _ in range(max_rounds):
            mean, chol = self._moments(self.details(theta)["node_terms"], self.nodes)
            change = max(np.max(np.abs(mean - self._mean)), np.max(np.abs(chol - self._chol)))
            self._set_adaptive(mean, chol)
            if change < tol:
                break

    def _moments(self, node_terms: np.ndarray, nodes: np.ndarray):
        """Posterior mean and Cholesky factor of the posterior covariance per (d, j)."""
        if not np.all(np.isfinite(node_terms)):
            raise FloatingPointError("non-finite integrand at the quadrature nodes")
        w = np.exp(node_terms - special.logsumexp(node_terms, axis=-1, keepdims=True))  # (M, J, Q)
        mean = np.einsum("mjq,mjqa->mja", w, nodes)
        centred = nodes - mean[:, :, None, :]
        cov = np.einsum("mjq,mjqa,mjqb->mjab", w, centred, centred)
        cov = cov + 1e-12 * np.eye(self.dim)
        return mean, np.linalg.cholesky(cov)

    def _set_adaptive(self, mean, chol) -> None:
        self._mean, self._chol = mean, chol
        nodes = np.empty((self.n_between, self.n_clusters, self.rule.n_points, self.dim))
        logq = np.empty((self.n_between, self.n_clusters, self.rule.n_points))
        for d in range(self.n_between):
            nodes[d], logw = shift_scale(self.rule, mean[d], chol[d])
            logq[d] = logw - log_std_normal(nodes[d])
        self.nodes, self.logq = nodes, logq

    def _laplace_nodes(self, theta, max_iter: int = 100) -> None:
        """Posterior modes by damped Newton per cluster; one node with the inverse-curvature scale."""
        derivs = self._laplace_functions()
        if not hasattr(self, "_mean"):
            self._mean = np.zeros((self.n_between, self.n_clusters, self.dim))
        z = self._mean.copy()
        zero_logq = np.zeros((self.n_between, self.n_clusters, 1))
        value, grad, hess = self._derivs(derivs, theta, z, zero_logq)
        if not np.all(np.isfinite(value)):  # a warm start from far-away parameters: restart at 0
            z = np.zeros_like(z)
            value, grad, hess = self._derivs(derivs, theta, z, zero_logq)
        for _ in range(max_iter):
            # modified Newton: the curvature's eigenvalues are made positive, so every step is an
            # ascent direction even where the log integrand is not concave (far from the mode)
            eigval, eigvec = np.linalg.eigh(-hess)
            eigval = np.maximum(np.abs(eigval), 1e-8 * np.maximum(1.0, np.abs(eigval).max()))
            coords = np.einsum("...ba,...b->...a", eigvec, grad) / eigval
            step = np.einsum("...ab,...b->...a", eigvec, coords)
            new_z = z + step
            new_value, new_grad, new_hess = self._derivs(derivs, theta, new_z, zero_logq)
            worse = ~(new_value >= value - 1e-12)
            halvings = 0
            while worse.any() and halvings < 30:
                step[worse] /= 2
                new_z = z + step
                new_value, new_grad, new_hess = self._derivs(derivs, theta, new_z, zero_logq)
                worse = ~(new_value >= value - 1e-12)
                halvings += 1
            z, value, grad, hess = new_z, new_value, new_grad, new_hess
            if np.max(np.abs(grad)) < 1e-9:
                break
        eig = np.linalg.eigvalsh(-hess)
        if not np.all(eig > 0):
            raise np.linalg.LinAlgError("the curvature at a cluster's posterior mode is not negative definite")
        chol = np.linalg.cholesky(np.linalg.inv(-hess))
        self._set_adaptive(z, chol)

    def _derivs(self, fns, theta, z, logq):
        value = np.empty(z.shape[:2])
        grad = np.empty(z.shape)
        hess = np.empty(z.shape + (self.dim,))
        for chunk in self._chunks:
            c = chunk.clusters
            v, g, h = fns(np.asarray(theta, dtype=float), *chunk.arrays, z[:, c, None, :], logq[:, c])
            value[:, c], grad[:, c], hess[:, c] = v[:, :, 0], g[:, :, 0], h[:, :, 0]
        return value, grad, hess

    def _laplace_functions(self):
        if self._node_derivs is None:
            import pytensor.tensor as pt

            terms, nodes = self._terms.node_terms, self._inputs.nodes
            grad = pytensor.grad(terms.sum(), nodes)
            hess = pt.stack([pytensor.grad(grad[..., r].sum(), nodes) for r in range(self.dim)], axis=-1)
            self._node_derivs = pytensor.function(self._inputs.as_list(), [terms, grad, hess],
                                                  on_unused_input="ignore")
        return self._node_derivs

    # ------------------------------------------------------------ standard errors
    def scores(self, theta: np.ndarray) -> np.ndarray:
        """Per-cluster scores d log L_j / d theta, shape (J, n_free) (clustered MLR)."""
        theta = np.asarray(theta, dtype=float)
        if self.laplace:  # central differences of the exact per-cluster Laplace log-likelihoods
            def cluster_logliks(t):
                self.adapt_now(t)
                return self.details(t)["cluster_loglik"]

            out = central_differences(cluster_logliks, theta, 1e-5).T
            self.adapt_now(theta)
            return out
        out = np.empty((self.n_clusters, len(theta)))
        for j in range(self.n_clusters):
            out[j] = self._call(self._value_grad, theta, self.cluster_chunk(j, j + 1))[1]
        return out

    def hessian(self, theta: np.ndarray) -> np.ndarray:
        """Hessian by central differences of the exact gradient (nodes held fixed)."""
        theta = np.asarray(theta, dtype=float)
        step = 1e-3 if self.laplace else 1e-4  # Laplace gradients are themselves differences
        hess = central_differences(lambda t: self.loglik_grad(t)[1], theta, step)
        return (hess + hess.T) / 2
