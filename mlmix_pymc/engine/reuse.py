"""One compiled likelihood for many data sets of one structure (bootstrap, prediction).

``CompiledLikelihood``'s C graphs take their rows as inputs and are loaded from the disk
function cache, but each objective loads its own copy (~0.1-0.3 s), too slow for thousands of
bootstrap draws; its JAX and GoM graphs hold their data. Here ``RowFunctions`` compiles
the one likelihood graph (``graph/likelihood.build_loglik``) of a single-level structure as a
function of (theta, pattern counts, covariates, group statistics) once per graph signature
(a small cache, as ``cluster_engine.ClusterFunctions`` does for two-level graphs, whose data
already are inputs). ``DataObjective`` binds those functions to one data set with the
objective contract that ``optimize.run_starts`` and the result code call (``loglik_grad``,
``class_probabilities``, ``hessian``...).

``structure_for_frame`` encodes a DataFrame into the statistics of a fitted model's
measurement groups (with the fitted model's category codes), and ``objective_for_frame``
returns the objective of that data set: ``DataObjective`` for single-level models,
``IntegratedObjective`` (its compiled functions shared through their cache) for two-level
ones, and a ``CompiledLikelihood`` of its own for grade of membership (compiled afresh: its
graph holds its rows) and adaptive factor nodes (per-row nodes; loaded from the disk cache).
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict

import numpy as np
import pandas as pd
import pytensor
import pytensor.tensor as pt
from scipy import special

from ..data import _known_class_column
from ..errors import DataError
from ..families import family_of
from ..graph.likelihood import build_loglik
from ..graph.structure import GraphStructure, _compress_patterns, known_class_of_patterns
from ..toolchain.backend import compile_mode
from .cluster_engine import cached_compile, graph_signature
from .row_chunks import RowChunks, RowInputs, chunk_length

CACHE_SIZE = 16
_FUNCTIONS: "OrderedDict[tuple, RowFunctions]" = OrderedDict()


class RowFunctions:
    """Compiled single-level likelihood with the data as inputs (one per graph signature)."""

    def __init__(self, structure: GraphStructure, rule=None):
        theta = pt.vector("theta")
        rows = RowInputs.create(structure, None)  # counts, covariates, statistics, known-class mask
        terms = build_loglik(structure, theta[None, :], rule=rule, **rows.loglik_data())
        total = pt.dot(rows.counts, terms.loglik_rows)
        grad = pytensor.grad(total, theta)
        inputs = [theta, *rows.as_list()]
        with compile_mode("c"):  # missing C modules compiled in parallel
            self.value_grad = pytensor.function(inputs, [total, grad], on_unused_input="ignore")
            self.rows = pytensor.function(inputs, [terms.loglik_rows, terms.log_joint, terms.log_prior],
                                          on_unused_input="ignore")

    @classmethod
    def for_structure(cls, structure: GraphStructure, rule=None) -> "RowFunctions":
        """The functions of ``structure``'s graph, compiled once per graph signature."""
        key = ("rows", structure.known_class is not None) + graph_signature(structure, rule)
        return cached_compile(_FUNCTIONS, key, lambda: cls(structure, rule), CACHE_SIZE)


class DataObjective:
    """The objective of one single-level data set, evaluated by shared ``RowFunctions``."""

    unit_name = "row"
    dim = 0
    adapts = False

    def __init__(self, structure: GraphStructure, rule=None):
        if structure.is_two_level or structure.is_gom:
            raise ValueError("DataObjective serves single-level, non-GoM structures")
        self.structure = structure
        self.unit_rule = rule
        self.functions = RowFunctions.for_structure(structure, rule)
        # the data in chunks of rows (``row_chunks.py``): one chunk unless the rows are many
        n_nodes = 0 if rule is None else len(rule.log_weights)
        length = chunk_length(structure, n_nodes, per_row=False)
        self._chunks = RowChunks(structure, structure.n_patterns if length is None else length)

    def adapt(self, theta) -> None:
        """Fixed rules only: nothing to adapt."""

    def loglik_grad(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """Total log-likelihood and its gradient at ``theta``."""
        ll, g = self._chunks.call(self.functions.value_grad, [np.asarray(theta, dtype=float)], [], ("sum", "sum"))
        return float(ll), np.asarray(g)

    def loglik(self, theta: np.ndarray) -> float:
        """Total log-likelihood at ``theta``."""
        return self.loglik_grad(theta)[0]

    def rows(self, theta: np.ndarray):
        """Per data row: log-likelihood, log P(joint class, y_i) and log P(joint class | x_i)."""
        idx = self.structure.row_pattern
        out = self._chunks.call(self.functions.rows, [np.asarray(theta, dtype=float)], [], ("rows",) * 3)
        return tuple(a[idx] for a in out)

    def pointwise_loglik(self, theta: np.ndarray) -> np.ndarray:
        """Log-likelihood of every data row."""
        return self.rows(theta)[0]

    def class_probabilities(self, theta: np.ndarray):
        """Log-likelihood, posterior and model class probabilities per row, and no cluster info."""
        loglik_rows, log_joint, log_prior = self.rows(theta)
        posterior = np.exp(log_joint - special.logsumexp(log_joint, axis=1, keepdims=True))
        return float(loglik_rows.sum()), posterior, np.exp(log_prior), None

    def hessian(self, theta: np.ndarray) -> np.ndarray:
        """Hessian by central differences of the exact gradient."""
        from .integrated import central_differences

        hess = central_differences(lambda t: self.loglik_grad(t)[1], np.asarray(theta, dtype=float), 1e-5)
        return (hess + hess.T) / 2


# ---------------------------------------------------------------- encoding a new data set
def _indicator_values(frame: pd.DataFrame, item: str, family: str, categories: dict | None,
                      coded: bool) -> np.ndarray:
    """One indicator as floats (codes 0..C-1 for categorical items, NaN missing)."""
    if item not in frame.columns:
        raise DataError(f"column {item!r} (an indicator of the fitted model) is not in the new data")
    s = frame[item]
    kind = family_of(family).data_kind
    if kind != "categorical" or coded:
        values = pd.to_numeric(s, errors="coerce").to_numpy(dtype=float)
        bad = s.notna().to_numpy() & np.isnan(values)
        if bad.any():
            raise DataError(f"indicator {item!r} has non-numeric value {s[bad].iloc[0]!r} in the new data")
        return values
    codes = s.map(categories).to_numpy(dtype=float, na_value=np.nan)
    unknown = s.notna().to_numpy() & np.isnan(codes)
    if unknown.any():
        raise DataError(f"indicator {item!r} has value {s[unknown].iloc[0]!r} in the new data that the fitted "
                        f"model never saw; its categories are {list(categories)}")
    return codes


def structure_for_frame(model, frame: pd.DataFrame, coded: bool = False) -> tuple[GraphStructure, np.ndarray]:
    """The fitted ``model``'s structure with the data of ``frame``, and the rows of ``frame`` it kept.

    Categorical indicators are coded with the fitted model's categories (``coded=True``: the
    frame already holds codes 0..C-1, as ``simulate`` writes them). Rows with a missing
    covariate or cluster id are left out (``kept`` is False for them). A known-class model
    takes the known classes of ``frame``'s known_class column (unknown where it is missing
    or the frame has no such column).
    """
    if not isinstance(frame, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, got {type(frame).__name__}")
    template = model.structure
    spec = model.spec
    maps = model.data.category_maps
    families = {ind.name: ind.family for ind in spec.indicators}
    kept = np.ones(len(frame), dtype=bool)
    names = template.covariate_names
    for c in names:
        if c not in frame.columns:
            raise DataError(f"column {c!r} (a covariate of the fitted model) is not in the new data")
    x = frame[list(names)].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float) if names else \
        np.zeros((len(frame), 0))
    kept &= ~np.isnan(x).any(axis=1)
    codes = None
    if template.is_two_level:
        if spec.cluster is not None:
            if spec.cluster not in frame.columns:
                raise DataError(f"cluster column {spec.cluster!r} is not in the new data")
            kept &= frame[spec.cluster].notna().to_numpy()
            codes, _ = pd.factorize(frame[spec.cluster][kept], sort=True)
            codes = codes.astype(np.int64)
        else:  # indicator regressions without clusters: every row its own cluster
            codes = np.arange(int(kept.sum()), dtype=np.int64)
    if not kept.any():
        raise DataError("no rows of the new data have all covariates (and the cluster id) observed")
    groups = []
    for g in template.groups:
        values = np.column_stack([_indicator_values(frame, it, families[it], maps.get(it), coded)
                                  for it in g.items])[kept]
        if family_of(families[g.items[0]]).data_kind == "categorical":
            bad = ~np.isnan(values) & ((values < 0) | (values >= g.n_categories) | (values != np.round(values)))
            if bad.any():
                raise DataError(f"indicator {g.items[np.nonzero(bad)[1][0]]!r} has code {values[bad][0]!r} outside "
                                f"0..{g.n_categories - 1}")
        groups.append(dataclasses.replace(g, data=g.family.stats(values, g.n_categories)))
    x = x[kept]
    if template.is_two_level:
        n = int(kept.sum())
        structure = dataclasses.replace(template, groups=tuple(groups), covariates=x, pattern_counts=np.ones(n),
                                        row_pattern=np.arange(n), cluster_codes=codes)
    else:
        known = None
        if template.known_class is not None:
            n_classes = template.class_vars[0].n_classes
            known = _known_class_column(frame, spec.known_class, n_classes)[kept] if spec.known_class in frame \
                else np.full(int(kept.sum()), -1, dtype=np.int64)
        groups, x, counts, row_pattern = _compress_patterns(groups, x, None, known)
        structure = dataclasses.replace(template, groups=tuple(groups), covariates=x, pattern_counts=counts,
                                        row_pattern=row_pattern,
                                        known_class=known_class_of_patterns(known, row_pattern, len(counts)))
    return structure, kept


def unit_rule_of(model, settings: dict | None = None):
    """The rule of the unit latents (factors, memberships) of ``model`` for the fit's integration options."""
    from ..integration import unit_rule

    resolved = model.integration_settings(**(settings or {}))
    if resolved.unit_method is None:
        return None
    return unit_rule(model.structure.unit_dim, resolved.unit_method, resolved.unit_points)


def objective_for_frame(model, frame: pd.DataFrame, settings: dict | None = None, coded: bool = False):
    """The objective of ``frame`` under ``model``'s structure, reusing compiled graphs; and the kept rows."""
    resolved = model.integration_settings(**(settings or {}))
    structure, kept = structure_for_frame(model, frame, coded)
    rule = unit_rule_of(model, settings)
    adaptive = resolved.unit_method == "adaptive"
    if structure.is_two_level:
        from .integrated import IntegratedObjective

        return IntegratedObjective(structure, resolved.cluster_method or "gauss-hermite",
                                   resolved.cluster_points or 15, rule), kept
    if structure.is_gom or adaptive:  # the graph holds the data itself here: compiled anew
        from .compiled import CompiledLikelihood

        return CompiledLikelihood(structure, rule, adaptive=adaptive), kept
    return DataObjective(structure, rule), kept
