"""The single-level objective: log-likelihood, gradient, Hessian, scores of one model.

The degenerate case of the two-level objective (``integrated.py``) with the same contract
(``loglik_grad``, ``hessian``, ``scores``, ``class_probabilities``, ``pointwise_loglik``,
``symbolic_total``, ``adapt``), so estimation and sampling code never branch on the level.
The graph is built and compiled once per model and reused by every random start; the
Hessian and the per-row score function are compiled lazily, only when standard errors are
asked for.

Within-level factors are integrated by the fixed rule ``unit_rule``, or, with
``adaptive=True``, by that Gauss-Hermite rule moved to every row's and class's posterior
of the factors (mean and Cholesky factor of the covariance, from a fine grid, iterated;
``node_placement.py``). As for cluster random effects, the nodes are held fixed while the
optimizer runs and re-adapted between runs (``optimize.maximize``).

With the C backend the graphs take the rows as inputs (``row_chunks.py``), so a compiled
function depends only on the model's structure: it is stored in the disk function cache
(``toolchain/function_cache.py``) and a new session, or another data set of the same structure, loads
it instead of compiling. A data set of more distinct rows than
``row_chunks.MAX_ROW_CHUNK_CELLS`` allows in one call is called on chunks of rows: the
value-and-gradient graph and the per-row score graph each with their own chunk length.
Grade-of-membership graphs, and JAX graphs of rows that fit one call, hold their rows.
"""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
from scipy import special

from ..graph.likelihood import build_loglik
from ..graph.structure import GraphStructure
from ..graph.unit import RowNodes, SharedNodes
from ..integration import make_rule, shift_scale
from . import node_placement
from ..toolchain.backend import compile_mode
from .cluster_engine import graph_signature
from ..toolchain.function_cache import cached_function, collector_paused
from .row_chunks import RowChunks, chunk_length

START_GRID_POINTS = {1: 41, 2: 15, 3: 9}  # fixed grid the adaptive factor nodes start from
_ALL_COMBINE = ("sum", "sum", "rows", "rows", "rows")  # total, gradient, loglik_rows, log_joint, log_prior


class CompiledLikelihood:
    """Log-likelihood functions of the free-parameter vector ``theta`` (single-level model)."""

    unit_name = "row"  # the independent units of the likelihood (``pointwise_loglik``)
    dim = 0  # no cluster random effects

    def __init__(self, structure: GraphStructure, rule=None, adaptive: bool = False, backend: str = "c"):
        self.structure = structure
        self.backend = backend  # "c" or "jax" (``toolchain/backend.py``): every function of this objective
        self.unit_rule = rule  # nodes of the within-level factors (None without factors)
        self.adapts = bool(adaptive and rule is not None)
        # JAX: a static length (the Hessian's scan over theta and every shape must be concrete)
        theta = pt.vector("theta", shape=(structure.layout.n_free if backend == "jax" else None,))
        self._theta = theta
        self._extra = []  # the rule's nodes and log weights: graph inputs after theta
        graph_rule = None
        if self.adapts:  # nodes per row and class; a GoM's per person (membership and factors jointly)
            self._n_classes = 1 if structure.is_gom else \
                structure.class_var(structure.unit_latents[0].class_var).n_classes
            classes = 1 if self._n_classes == 1 else None  # a static 1 broadcasts against the classes
            self._extra = [pt.tensor("unit_z", dtype="float64", shape=(None, classes, None, None)),
                           pt.tensor("unit_log_weights", dtype="float64", shape=(None, classes, None))]
            graph_rule = RowNodes(*self._extra)
            self._set_row_nodes(*self._broadcast(rule))
        elif rule is not None:  # a fixed rule shared by every row, of any size (``use_rule``)
            static = backend == "jax"  # XLA traces concrete shapes only
            self._extra = [pt.tensor("unit_nodes", dtype="float64", shape=rule.nodes.shape if static else (None, None)),
                           pt.tensor("unit_log_weights", dtype="float64",
                                     shape=rule.log_weights.shape if static else (None,))]
            graph_rule = SharedNodes(*self._extra)
        self._graph_rule = graph_rule
        # the compiled graphs depend on the rule's dimension only (its nodes are inputs)
        shape = None if rule is None else ("nodes", rule.dim, self.adapts, rule.n_points if backend == "jax" else None)
        self._key = ("single", self.adapts, structure.known_class is not None) + graph_signature(structure) + (shape,)
        self._chunks = self._row_chunks(per_row=False)  # None: the graph holds all rows itself
        self._symbolic = None  # (total, gradient, terms) of the value graph, built on first need
        # one compiled function serves the optimizer and the posterior: compiling two
        # functions of the same graph would double the (cached) compile time of a model
        self._all = self._function("all", [theta, *self._extra], self._all_outputs, self._chunks)
        self._hess = None
        self._scores = None
        self._factor_posterior = None
        self._node_terms = None
        self._membership = None
        self._score_chunks = None

    def _total_grad(self):
        """(total log-likelihood, its gradient in theta, the ``build_loglik`` terms): the symbolic
        value graph, built once (the optimizer's function and the Hessian's share it)."""
        if self._symbolic is None:
            terms = build_loglik(self.structure, self._theta[None, :], rule=self._graph_rule,
                                 **self._data_of(self._chunks))
            counts = pt.as_tensor_variable(self.structure.pattern_counts) if self._chunks is None else \
                self._chunks.inputs.counts
            total = pt.dot(counts, terms.loglik_rows)
            self._symbolic = (total, pytensor.grad(total, self._theta), terms)
        return self._symbolic

    def _all_outputs(self) -> list:
        """The optimizer's and the posterior's outputs (``_ALL_COMBINE``): total, gradient and the
        per-row log-likelihood, log P(joint class, y_i) and log P(joint class | x_i)."""
        total, grad, terms = self._total_grad()
        return [total, grad, terms.loglik_rows, terms.log_joint, terms.log_prior]

    def _function(self, name: str, inputs, outputs, chunks: RowChunks | None):
        """``pytensor.function`` of ``inputs`` (and the row inputs of ``chunks``) and of the
        graph ``outputs()`` builds, compiled with this objective's backend. A C graph whose
        rows are inputs depends only on the structure, not on the data values: it is loaded
        from the disk cache (``toolchain/function_cache.py``) when any session compiled it before, and
        ``outputs()`` (building the symbolic graph) is then never called."""
        rows = [] if chunks is None else chunks.inputs.as_list()

        def build():
            with compile_mode(self.backend):
                return pytensor.function(inputs + rows, outputs(), on_unused_input="ignore")

        if chunks is None or self.backend != "c":  # the data are constants of the graph (GoM, JAX)
            with collector_paused():
                return build()
        return cached_function(self._key + (name,), build)  # pauses the collector itself

    # ------------------------------------------------------------ chunks of rows
    def _row_chunks(self, per_row: bool) -> RowChunks | None:
        """Chunks of rows for the ordinary or the per-row (score) graph: with the C backend one
        chunk of all rows when they fit one call (the rows are inputs: the compiled function
        serves any data set of this structure, across sessions); None where the graph holds
        its rows itself (grade of membership, and JAX when all rows fit one call)."""
        n_nodes = 0 if self.unit_rule is None else len(self.unit_rule.log_weights)
        length = chunk_length(self.structure, n_nodes, per_row)
        if length is None and self.backend == "c" and not self.structure.is_gom:
            length = self.structure.n_patterns
        return None if length is None else RowChunks(self.structure, length, static=self.backend == "jax")

    @staticmethod
    def _data_of(chunks: RowChunks | None) -> dict:
        """``build_loglik``'s data arguments: the chunk inputs, or nothing (the structure's own data)."""
        return {} if chunks is None else chunks.inputs.loglik_data()

    def _run(self, fn, chunks: RowChunks | None, first, combine: tuple, nodes=None) -> list:
        """``fn`` at ``first`` (theta, or the (n, n_free) theta rows of a per-row graph: ``first``
        is then cut by rows too) and the factor nodes (``nodes``: (z, log_weights), else the
        current ones): one call, or one per chunk of rows with the outputs combined
        (``RowChunks.call``)."""
        if nodes is None:
            nodes = self.rule_inputs()
        extra = list(nodes)
        if chunks is None:
            out = fn(first, *extra)
            return list(out) if isinstance(out, (list, tuple)) else [out]
        shared, by_row = ([], extra) if self.adapts else (extra, [])  # adaptive nodes are per row
        if np.ndim(first) == 2:  # theta rows: cut with the rows (shared nodes follow them as arguments)
            return chunks.call(lambda rows, *rest: fn(rows, *shared, *rest), [], [first, *by_row], combine)
        return chunks.call(lambda t, *rest: fn(t, *shared, *rest), [first], by_row, combine)

    def rule_inputs(self) -> tuple:
        """The current values of the rule's graph inputs: per-row adaptive nodes and log weights,
        the fixed rule's (Q, m) nodes and (Q,) log weights, or nothing without a rule."""
        if self.adapts:
            return self.unit_z, self.unit_log_weights
        if self.unit_rule is not None:
            return self.unit_rule.nodes, self.unit_rule.log_weights
        return ()

    # ------------------------------------------------------------ adaptive factor nodes
    def _broadcast(self, rule):
        """A fixed rule as per-row nodes: (n, K, Rn, m) and (n, K, Rn)."""
        shape = (self.structure.n_patterns, self._n_classes)
        return (np.broadcast_to(rule.nodes, shape + rule.nodes.shape).copy(),
                np.broadcast_to(rule.log_weights, shape + rule.log_weights.shape).copy())

    def _set_row_nodes(self, z, log_weights) -> None:
        self.unit_z, self.unit_log_weights = z, log_weights

    def adapt(self, theta: np.ndarray, max_rounds: int = 20, tol: float = 1e-6) -> None:
        """Move the factor nodes to every row's and class's posterior at ``theta`` (adaptive only)."""
        if not self.adapts:
            return
        if self._node_terms is None:
            from ..graph.likelihood import build_factor_node_terms

            self._node_terms = self._function("node_terms", [self._theta, *self._extra], lambda: build_factor_node_terms(
                self.structure, self._theta, self._graph_rule, self._data_of(self._chunks).get("group_data")),
                self._chunks)
        dim = self.unit_rule.dim
        theta = np.asarray(theta, dtype=float)
        z, log_w = self._broadcast(make_rule("gauss-hermite", dim, START_GRID_POINTS.get(dim, 7)))
        mean, chol = node_placement.posterior_moments(self._node_terms_at(theta, z, log_w), z)
        z, log_w = self._shifted(mean, chol)
        for _ in range(max_rounds):
            new_mean, new_chol = node_placement.posterior_moments(self._node_terms_at(theta, z, log_w), z)
            change = max(np.max(np.abs(new_mean - mean)), np.max(np.abs(new_chol - chol)))
            mean, chol = new_mean, new_chol
            z, log_w = self._shifted(mean, chol)
            if change < tol:
                break
        self._set_row_nodes(z, log_w)

    def _node_terms_at(self, theta, z, log_w) -> np.ndarray:
        """The factor integrand (n, K, Rn) at nodes ``z`` / ``log_w`` (all rows, chunked or not)."""
        return np.asarray(self._run(self._node_terms, self._chunks, theta, ("rows",), nodes=(z, log_w))[0])

    def loglik_with_rule(self, theta: np.ndarray, method: str, points: int) -> float:
        """The log-likelihood at ``theta`` with another rule of the unit latents, evaluated by the same
        compiled graph (its nodes are inputs): an adaptive objective places ``points`` adaptive nodes
        per dimension at ``theta``, a fixed one uses the ``method`` rule of ``points``. The objective's
        own rule is kept (the integration certificate, ``estimate/certificate.py``)."""
        kept = self._rule_state()
        try:
            self.use_rule(method, points)
            self.adapt(theta)
            return self.loglik(theta)
        finally:
            self._restore_rule(kept)

    def use_rule(self, method: str, points: int) -> None:
        """Integrate the unit latents with the ``method`` rule of ``points`` from now on (a refinement);
        an adaptive objective keeps adapting (Gauss-Hermite nodes of ``points`` per dimension)."""
        if self.unit_rule is None:
            return
        if self.backend == "jax":
            raise NotImplementedError("JAX graphs have the rule's size in their static shapes")
        base = "gauss-hermite" if self.adapts else method
        self.unit_rule = make_rule(base, self.unit_rule.dim, points)
        if self.adapts:
            self._set_row_nodes(*self._broadcast(self.unit_rule))
        elif self._chunks is not None:  # chunks sized for the number of nodes
            self._chunks = self._row_chunks(per_row=False)
        self._score_chunks = self._row_chunks(per_row=True) if self._scores is not None else None

    def with_rule(self, method: str, points: int) -> "CompiledLikelihood":
        """A copy of this objective with another rule of the unit latents (``use_rule``), sharing the
        compiled functions: another number of points needs no compile."""
        import copy

        other = copy.copy(self)
        other.use_rule(method, points)
        return other

    def _rule_state(self) -> tuple:
        return (self.unit_rule, getattr(self, "unit_z", None), getattr(self, "unit_log_weights", None), self._chunks,
                self._score_chunks)

    def _restore_rule(self, state: tuple) -> None:
        self.unit_rule, z, log_w, self._chunks, self._score_chunks = state
        if self.adapts:
            self._set_row_nodes(z, log_w)

    def loglik_with_points(self, theta: np.ndarray, points: int) -> float:
        """The log-likelihood at ``theta`` with ``points`` per dimension of the same kind of rule."""
        return self.loglik_with_rule(theta, self.unit_rule.method, points)

    def _shifted(self, mean: np.ndarray, chol: np.ndarray):
        """The rule at mean + chol z per (row, class), vectorized over both."""
        n, k, dim = mean.shape
        z, log_w = shift_scale(self.unit_rule, mean.reshape(-1, dim), chol.reshape(-1, dim, dim))
        return z.reshape(n, k, -1, dim), log_w.reshape(n, k, -1)

    # ------------------------------------------------------------ values
    def loglik_grad(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """Total log-likelihood and its gradient at ``theta``."""
        ll, g = self._run(self._all, self._chunks, np.asarray(theta, dtype=float), _ALL_COMBINE)[:2]
        return float(ll), np.asarray(g)

    def loglik(self, theta: np.ndarray) -> float:
        """Total log-likelihood at ``theta``."""
        return self.loglik_grad(theta)[0]

    def rows(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per data row: log-likelihood (n,), log P(joint class, y_i) and log P(joint class | x_i), both (n, J)."""
        idx = self.structure.row_pattern
        out = self._run(self._all, self._chunks, np.asarray(theta, dtype=float), _ALL_COMBINE)
        return tuple(np.asarray(a)[idx] for a in out[2:])

    def class_probabilities(self, theta: np.ndarray):
        """Log-likelihood, posterior and model class probabilities per row, and no cluster info."""
        self.adapt(theta)
        loglik_rows, log_joint, log_prior = self.rows(theta)
        posterior = np.exp(log_joint - special.logsumexp(log_joint, axis=1, keepdims=True))
        weights = self.structure.row_weights  # sampling weights: the weighted log-likelihood
        total = loglik_rows.sum() if weights is None else weights @ loglik_rows
        return float(total), posterior, np.exp(log_prior), None

    def pointwise_loglik(self, theta: np.ndarray) -> np.ndarray:
        """Log-likelihood of every data row."""
        return self.rows(theta)[0]

    def symbolic_total(self, theta, z=None, ml_theta=None):
        """The total log-likelihood as a PyTensor expression of the symbolic ``theta`` (Bayes).

        Adaptive factor nodes are placed at ``ml_theta`` and become constants of the graph.
        """
        return pt.dot(pt.as_tensor_variable(self.structure.pattern_counts), self.symbolic_patterns(theta, ml_theta))

    def symbolic_patterns(self, theta, ml_theta=None):
        """log L of every distinct response pattern, (n_patterns,), as a PyTensor expression of ``theta``
        (``symbolic_total`` weights them by their counts; ``structure.row_pattern`` maps rows to them)."""
        rule = self.unit_rule
        if self.adapts:
            if ml_theta is not None:
                self.adapt(ml_theta)
            rule = RowNodes(pt.as_tensor_variable(self.unit_z), pt.as_tensor_variable(self.unit_log_weights))
        return build_loglik(self.structure, theta[None, :], rule=rule).loglik_rows

    # ------------------------------------------------------------ standard errors
    def hessian(self, theta: np.ndarray) -> np.ndarray:
        """Hessian of the total log-likelihood: exact (PyTensor second derivatives) for models
        without factors; with factors and in GoM models, central differences of the exact gradient
        (2 x n_free gradients of a few ms, where compiling the exact Hessian of the node graph or
        of the Dirichlet programme takes seconds)."""
        jax_chunks = self.backend == "jax" and self._chunks is not None  # its scan over theta is not traceable
        if self.unit_rule is not None or self.structure.is_gom or jax_chunks:
            from .integrated import central_differences

            hess = central_differences(lambda t: self.loglik_grad(t)[1], np.asarray(theta, dtype=float), 1e-5)
            return (hess + hess.T) / 2
        if self._hess is None:
            from ..progress import compile_notice

            with compile_notice("the Hessian for standard errors"):
                self._hess = self._function("hessian", [self._theta, *self._extra], lambda: pytensor.gradient.jacobian(
                    self._total_grad()[1], self._theta), self._chunks)
        return np.asarray(self._run(self._hess, self._chunks, np.asarray(theta, dtype=float), ("sum",))[0])

    def scores(self, theta: np.ndarray) -> np.ndarray:
        """Per data row scores d log L_i / d theta, shape (n, n_free), times the row's sampling
        weight when there are weights (the terms of the gradient of sum_i w_i log L_i, which the
        MLR sandwich needs: meat = sum_i w_i^2 s_i s_i').

        Built from the per-row graph: every distinct row gets its own copy of theta, so one
        reverse pass yields all rows' gradients (on chunks of rows for large data sets, whose
        per-row coefficients would not fit in memory at once).
        """
        if self._scores is None:
            from ..progress import compile_notice

            with compile_notice("the per-row scores for standard errors"):
                self._score_chunks = chunks = self._row_chunks(per_row=True)
                # a static shape for JAX (it traces no symbolic reshape sizes)
                n_rows = self.structure.n_patterns if chunks is None else chunks.length
                static = self.backend == "jax"
                rows = pt.matrix("theta_rows", shape=(n_rows, self.structure.layout.n_free) if static else
                                 (None, None))

                def row_gradients():
                    terms = build_loglik(self.structure, rows, per_row=True, rule=self._graph_rule,
                                         **self._data_of(chunks))
                    return pytensor.grad(terms.loglik_rows.sum(), rows)

                self._scores = self._function("scores", [rows, *self._extra], row_gradients, chunks)
        n = self.structure.n_patterns
        theta = np.asarray(theta, dtype=float)
        tiled = np.broadcast_to(theta, (n, len(theta)))  # a view: no (n, n_free) copy before the chunks
        per_pattern = np.asarray(self._run(self._scores, self._score_chunks, tiled, ("rows",))[0])
        per_row = per_pattern[self.structure.row_pattern]
        weights = self.structure.row_weights
        return per_row if weights is None else per_row * weights[:, None]

    def factor_posterior(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per data row, posterior weights of (class, factor node) (n, K, Rn) and the nodes'
        standard-normal values, (Rn, m) or per row (n, K, Rn, m) (factor scores)."""
        if self._factor_posterior is None:
            from ..graph.likelihood import build_factor_posterior

            self._factor_posterior = self._function("factor_posterior", [self._theta, *self._extra], lambda: pt.exp(
                build_factor_posterior(self.structure, self._theta, self._graph_rule, **self._data_of(self._chunks))),
                self._chunks)
        self.adapt(theta)
        idx = self.structure.row_pattern
        post = self._run(self._factor_posterior, self._chunks, np.asarray(theta, dtype=float), ("rows",))[0][idx]
        return post, (self.unit_z[idx] if self.adapts else self.unit_rule.nodes)

    def membership_moments(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per data row, posterior mean and SD of a GoM membership vector g, (n, K) each."""
        if self._membership is None:
            from ..graph.gom_likelihood import gom_loglik

            phi = self.structure.layout.symbolic_natural(self._theta[None, :])
            terms = gom_loglik(self.structure, phi, False, self._graph_rule)
            mean = pt.exp(terms.log_joint - terms.loglik_rows[:, None])
            self._membership = self._function("membership", [self._theta, *self._extra],  # GoM: never chunked
                                              lambda: [mean, pt.exp(terms.log_second)], None)
        self.adapt(theta)
        out = self._run(self._membership, None, np.asarray(theta, dtype=float), ("rows", "rows"))
        mean, second = (np.asarray(a)[self.structure.row_pattern] for a in out)
        return mean, np.sqrt(np.clip(second - mean**2, 0.0, None))
