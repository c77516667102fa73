"""The two-level objective: log-likelihood with cluster random effects integrated, fixed when made.

As lme4's ``mkGlmerDevfun`` fixes nAGQ when it builds the deviance function, an
``IntegratedObjective`` is built for one integration method and number of points
(``integration=``; the paper's section 10) and then only called: log-likelihood and
gradient, per-cluster details, per-cluster scores and the Hessian (statsmodels' loglike /
score / hessian contract). Its parts:

* the compiled graph and the data chunks (``cluster_engine.py``; pure functions shared by
  identical graphs);
* node placement (``node_placement.py``): fixed rules (``"gauss-hermite"``,
  ``"trapezoid"`` the Mplus default, ``"qmc"`` for 5 or more dimensions), ``"adaptive"``
  (nodes at each cluster's posterior, held fixed while the optimizer runs and re-adapted
  between runs until the log-likelihood no longer changes; on failure a non-adaptive
  Gauss-Hermite fallback with a warning, as Mplus does) and ``"laplace"`` (one node at
  each cluster's mode, recomputed at every parameter value: the exact Laplace
  log-likelihood, as lme4's ``nAGQ=1``; its exact gradient by implicit differentiation of
  the modes, ``ClusterFunctions.laplace_value_grad``);
* derivative services: the exact gradient from the graph, Hessian by central differences
  of the gradient, clustered scores one cluster at a time.

The only state is the objective's own nodes (adaptive / Laplace), never shared: each model
keeps one objective per integration setting (``Model.compile``).
"""

from __future__ import annotations

import warnings

import numpy as np

from ..errors import SpecificationError
from ..graph.structure import GraphStructure
from ..integration import QuadratureRule, make_rule
from . import node_placement
from .cluster_engine import CALL_COST_CELLS, NEW_GRAPH_COST_CELLS, Chunk, ClusterData, ClusterFunctions
from .objective import ClusterInfo

INTEGRATIONS = ("gauss-hermite", "adaptive", "trapezoid", "qmc", "laplace")
MAX_CHUNK_CELLS = 2_000_000  # rows x nodes x joint classes evaluated in one call


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


def _summed(calls) -> tuple[float, np.ndarray]:
    """Log-likelihood and gradient added over the chunks' ``(loglik, grad)`` calls."""
    total, grad = 0.0, 0.0
    for ll, g in calls:
        total += float(ll)
        grad = grad + np.asarray(g)
    return total, np.asarray(grad)


def _check_points(points) -> int:
    if isinstance(points, bool) or not isinstance(points, (int, np.integer)) or points < 1:
        raise SpecificationError(f"points must be a positive integer, got {points!r}")
    return int(points)


class IntegratedObjective:
    """Two-level log-likelihood of the free-parameter vector ``theta`` for one integration setting."""

    unit_name = "cluster"  # the independent units of the likelihood (``pointwise_loglik``)
    # "exact" (implicit differentiation, one compiled third-derivative graph) or "central"
    # (2 n_free + 1 Laplace evaluations, each with its own mode search: the reference of the
    # speed benchmark and of the tests)
    laplace_gradient = "exact"

    def __init__(self, structure: GraphStructure, integration: str = "gauss-hermite", points: int = 15,
                 unit_rule=None, seed: int = 0, backend: str = "c"):
        if integration not in INTEGRATIONS:
            raise SpecificationError(f"integration={integration!r} is not one of {INTEGRATIONS}")
        self.structure = structure
        self.unit_rule = unit_rule  # fixed nodes of within-level factors, part of the graph
        self.integration, self.points = integration, _check_points(points)
        self.dim = structure.between_model.dim if structure.between_model is not None else 0
        self.n_between = structure.between.n_classes if structure.between is not None else 1
        self.backend = backend  # "c" or "jax" (``toolchain/backend.py``; JAX: one compile per chunk shape)
        self.functions = ClusterFunctions.for_structure(structure, unit_rule, backend)
        self.data = ClusterData(structure)
        self.n_clusters = self.data.n_clusters
        if self.dim == 0:
            self.rule = QuadratureRule(np.zeros((1, 0)), np.zeros(1), "none")
        elif integration == "laplace":
            self.rule = QuadratureRule(np.zeros((1, self.dim)), np.zeros(1), "laplace")
        else:
            base = "gauss-hermite" if integration == "adaptive" else integration
            self.rule = make_rule(base, self.dim, self.points, seed=seed)
        self.adapts = self.dim > 0 and integration == "adaptive"
        self.laplace = self.dim > 0 and integration == "laplace"
        self.adaptive_failed = False
        self._mean = None  # posterior means of the adapted nodes (warm start of Laplace modes)
        self._use_rule(self.rule)

    def _use_rule(self, rule: QuadratureRule) -> None:
        self.rule = rule
        self._row_cells = cells = max(1, rule.n_points * self.structure.n_joint * self.n_between)
        call_cost = NEW_GRAPH_COST_CELLS if self.backend == "jax" else CALL_COST_CELLS
        self._chunks = self.data.chunks(max(1, MAX_CHUNK_CELLS // cells), row_cost=cells, call_cost=call_cost)
        self.nodes, self.logq = node_placement.fixed_nodes(rule, self.n_between, self.n_clusters)

    def cluster_chunk(self, first: int, last: int) -> Chunk:
        """The graph inputs of clusters ``first..last-1`` (JAX: padded to the largest cluster,
        so that single clusters share one compiled shape)."""
        pad_to = int(self.data.sizes.max()) if self.backend == "jax" else 0
        return self.data.chunk_of(np.arange(first, last), pad_to)

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

    def _laplace_loglik_grad(self, theta):
        """Laplace log-likelihood and its exact gradient (``ClusterFunctions.laplace_value_grad``)."""
        if self.laplace_gradient == "central":
            return self._laplace_central_loglik_grad(theta)
        self.adapt_now(theta)  # the modes at theta (warm-started from the last ones)
        if not self.laplace:  # the mode search failed: fixed Gauss-Hermite from now on
            return self._fixed_nodes_loglik_grad(theta)
        return _summed(self._laplace_calls(theta))

    def _laplace_central_loglik_grad(self, theta):
        mean = self._mean

        def value_from_same_modes(t):  # warm start every perturbation from the same modes
            self._mean = mean
            return self.loglik(t)

        grad = central_differences(value_from_same_modes, theta, 1e-5)
        return value_from_same_modes(theta), grad

    def _laplace_calls(self, theta, chunks=None):
        fn = self.functions.laplace_value_grad(self.dim)
        modes = self._mean[:, :, None, :]
        zero_logq = np.zeros(modes.shape[:3])
        for chunk in self._chunks if chunks is None else chunks:
            yield self._call(fn, theta, chunk, modes, zero_logq)

    def _laplace_value(self, theta) -> float:
        """The Laplace log-likelihood at ``theta`` with the modes already placed there."""
        return _summed(self._laplace_calls(np.asarray(theta, dtype=float)))[0]

    def _fixed_nodes_loglik_grad(self, theta):
        return _summed(self._call(self.functions.value_grad, theta, chunk) for chunk in self._chunks)

    def loglik(self, theta: np.ndarray) -> float:
        """Total log-likelihood at ``theta`` (current nodes; Laplace: the modes at ``theta``)."""
        if self.laplace and not self.adaptive_failed:
            self.adapt_now(theta)  # the value alone needs no third derivatives (nor their compile)
        return self._fixed_nodes_loglik_grad(theta)[0]

    def details(self, theta: np.ndarray, nodes=None, logq=None) -> dict:
        """Per-cluster and per-row quantities, rows in the model's row order."""
        n = len(self.structure.cluster_codes)
        n_nodes = (self.nodes if nodes is None else nodes).shape[2]
        out = {"cluster_loglik": np.empty(self.n_clusters),
               "node_terms": np.empty((self.n_between, self.n_clusters, n_nodes)),
               "d_log_prior": np.empty((self.n_clusters, self.n_between)),
               "d_log_post": np.empty((self.n_clusters, self.n_between)),
               "class_post": np.empty((self.n_between, n, self.structure.n_joint)),
               "class_prior": np.empty((self.n_between, n, self.structure.n_joint))}
        for chunk in self._chunks:
            ll, terms, dprior, dpost, cpost, cprior = self._call(self.functions.details, theta, chunk, nodes, logq)
            c = chunk.clusters
            out["cluster_loglik"][c] = ll
            out["node_terms"][:, c] = terms
            out["d_log_prior"][c] = dprior
            out["d_log_post"][c] = dpost
            out["class_post"][:, chunk.rows] = cpost[:, chunk.real]
            out["class_prior"][:, chunk.rows] = cprior[:, chunk.real]
        return out

    def node_terms(self, theta: np.ndarray, nodes, logq) -> np.ndarray:
        """The log integrand at the given nodes, (M, J, Q) (adaptive node placement)."""
        out = np.empty(nodes.shape[:3])
        for chunk in self._chunks:
            out[:, chunk.clusters] = self._call(self.functions.node_terms(), theta, chunk, nodes, logq)[0]
        return out

    def class_probabilities(self, theta: np.ndarray):
        """Log-likelihood, posterior and model class probabilities per row, and the cluster info."""
        structure = self.structure
        self.adapt(theta)
        codes = structure.cluster_codes
        d_post = d_prior = None
        if structure.n_joint == 1 and self.n_between == 1:
            # one class (a GLMM): the probabilities are 1 and the log-likelihood is the
            # objective's own, so the per-cluster ``details`` function is not needed
            exact = self.laplace and self.laplace_gradient != "central"  # its function is loaded
            loglik = self._laplace_value(theta) if exact else self._fixed_nodes_loglik_grad(theta)[0]
            posterior = prior = np.ones((len(codes), 1))
        else:
            det = self.details(theta)
            loglik = det["cluster_loglik"].sum()
            d_post, d_prior = np.exp(det["d_log_post"]), np.exp(det["d_log_prior"])
            posterior = np.einsum("nd,dnk->nk", d_post[codes], det["class_post"])
            prior = np.einsum("nd,dnk->nk", d_prior[codes], det["class_prior"])
        between = structure.between is not None
        info = ClusterInfo(labels=(), codes=codes, integration=self.integration, points=self.points,
                           between_prior=d_prior if between else None, between_posterior=d_post if between else None,
                           adaptive_failed=self.adaptive_failed)
        return float(loglik), posterior, prior, info

    def pointwise_loglik(self, theta: np.ndarray) -> np.ndarray:
        """Log-likelihood of every cluster (random effects integrated at the current nodes)."""
        return self.details(theta)["cluster_loglik"]

    def symbolic_total(self, theta, z=None, ml_theta=None):
        """The total log-likelihood as a PyTensor expression of the symbolic ``theta`` (Bayes).

        ``z`` (J, dim), when given, are explicit standard-normal random effects (one node per
        cluster, its density left to z's prior); otherwise the objective's nodes are constants
        of the graph (adaptive nodes are placed at ``ml_theta`` first).
        """
        import pytensor.tensor as pt

        from ..graph.cluster_likelihood import ClusterInputs, build_cluster_loglik, log_std_normal

        if (z is None or not self.dim) and self.adapts:
            if ml_theta is None:
                raise SpecificationError("integration='adaptive' in the Bayesian model needs the ML "
                                         "result (ml_result=) to place its nodes")
            self.adapt(ml_theta)
        n_groups, total = len(self.structure.groups), 0.0
        # one graph per group of similar cluster sizes: a graph costs compile time, so groups
        # split only where padding would cost more than a million cells
        n_rows = len(self.structure.cluster_codes)
        for chunk in self.data.chunks(n_rows * int(self.data.sizes.max()), row_cost=self._row_cells,
                                      call_cost=NEW_GRAPH_COST_CELLS):
            c = chunk.clusters
            data = [pt.as_tensor_variable(a) for a in chunk.arrays]
            if z is not None and self.dim:
                nodes = pt.broadcast_to(z[c][None, :, None, :], (self.n_between, len(c), 1, self.dim))
                logq = -log_std_normal(nodes)  # the node's own density is z's prior
            else:
                nodes, logq = pt.as_tensor_variable(self.nodes[:, c]), pt.as_tensor_variable(self.logq[:, c])
            inputs = ClusterInputs(theta, data[:n_groups], *data[n_groups:], nodes, logq)
            total = total + build_cluster_loglik(self.structure, inputs, self.unit_rule).total
        return total

    # ------------------------------------------------------------ node placement
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
                derivs = self.functions.node_derivatives(self.dim)
                start = self._mean if self._mean is not None else np.zeros((self.n_between, self.n_clusters,
                                                                            self.dim))
                mean, chol = node_placement.laplace(lambda z: self._node_derivatives(derivs, theta, z), start)
            else:
                *_, mean, chol = node_placement.adaptive(lambda nodes, logq: self.node_terms(theta, nodes, logq),
                                                         self.rule, self.n_between, self.n_clusters, max_rounds, tol)
            self._mean = mean
            self.nodes, self.logq = node_placement.adapted_nodes(self.rule, mean, chol)
        except (np.linalg.LinAlgError, FloatingPointError, ValueError) as err:
            self.adaptive_failed = True
            self.laplace = self.adapts = False
            self._use_rule(make_rule("gauss-hermite", self.dim, max(self.points, 7)))
            warnings.warn(f"{self.integration} integration failed ({err}); falling back to non-adaptive "
                          f"Gauss-Hermite integration with {max(self.points, 7)} points per dimension", stacklevel=2)

    def _node_derivatives(self, fn, theta, z):
        value = np.empty(z.shape[:2])
        grad = np.empty(z.shape)
        hess = np.empty(z.shape + (self.dim,))
        zero_logq = np.zeros(z.shape[:2] + (1,))
        for chunk in self._chunks:
            c = chunk.clusters
            v, g, h = fn(np.asarray(theta, dtype=float), *chunk.arrays, z[:, c, None, :], zero_logq[:, c])
            value[:, c], grad[:, c], hess[:, c] = v[:, :, 0], g[:, :, 0], h[:, :, 0]
        return value, grad, hess

    # ------------------------------------------------------------ standard errors
    def scores(self, theta: np.ndarray) -> np.ndarray:
        """Per-cluster scores d log L_j / d theta, shape (J, n_free) (clustered MLR)."""
        theta = np.asarray(theta, dtype=float)
        out = np.empty((self.n_clusters, len(theta)))
        if self.laplace:  # exact per-cluster gradients of the Laplace log-likelihoods
            self.adapt_now(theta)
            for j in range(self.n_clusters):
                out[j] = next(self._laplace_calls(theta, [self.cluster_chunk(j, j + 1)]))[1]
            return out
        for j in range(self.n_clusters):
            out[j] = self._call(self.functions.value_grad, theta, self.cluster_chunk(j, j + 1))[1]
        return out

    def hessian(self, theta: np.ndarray) -> np.ndarray:
        """Hessian by central differences of the exact gradient (nodes held fixed)."""
        theta = np.asarray(theta, dtype=float)
        hess = central_differences(lambda t: self.loglik_grad(t)[1], theta, 1e-4)
        return (hess + hess.T) / 2
