"""Chunks of rows of a single-level model: bounded memory for millions of distinct rows.

``CompiledLikelihood``'s C graphs take the per-row data as inputs (``RowInputs``: pattern
counts, covariates, the measurement groups' statistics, the known-class mask), so that a
compiled function serves every data set of its structure. Their largest intermediate has
one cell per (distinct row, joint class, factor node), and in the per-row score graph (MLR
standard errors) one per (row, class, node, data column): at 1,000,000 distinct rows the
score graph of a 3-class LCA with 20 binary items held 3.3 GB. Above
``MAX_ROW_CHUNK_CELLS`` such cells, ``RowChunks`` calls the graph on chunks of rows (below,
on one chunk of all rows): totals (log-likelihood, gradient, Hessian) are added over the
chunks, per-row outputs stacked. The values equal the one-call graph's (the tests compare
both, and both with numpy). Chunks have nearly equal lengths; for JAX the inputs have the
static length of a chunk, the last chunk padded to it, so that XLA compiles one function.
Memory is then the data plus one chunk's intermediates; time stays linear in the number of
distinct rows. ``reuse.DataObjective`` (new data: prediction, bootstrap) calls its
data-input graph through ``RowChunks`` too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytensor.tensor as pt

from ..graph.likelihood import known_class_mask
from ..graph.structure import GraphStructure

MAX_ROW_CHUNK_CELLS = 2_000_000  # rows x joint classes x nodes (x columns for scores) in one call


def cells_per_row(structure: GraphStructure, n_nodes: int, per_row: bool) -> int:
    """Cells of the largest intermediate per distinct row: joint classes x factor nodes, times
    the data columns in the per-row (score) graph, whose coefficients differ by row."""
    cells = structure.n_joint * max(1, n_nodes)
    if per_row:
        cells *= max(1, sum(g.data.shape[1] for g in structure.groups) + structure.covariates.shape[1])
    return cells


def chunk_length(structure: GraphStructure, n_nodes: int, per_row: bool,
                 max_cells: int | None = None) -> int | None:
    """Rows per call so that one call holds at most ``max_cells`` cells; None when every row fits
    one call (the graph keeps its data) or for grade-of-membership models (their graph always does)."""
    max_cells = MAX_ROW_CHUNK_CELLS if max_cells is None else max_cells
    n = structure.n_patterns
    if structure.is_gom or n * cells_per_row(structure, n_nodes, per_row) <= max_cells:
        return None
    longest = max(1, max_cells // cells_per_row(structure, n_nodes, per_row))
    n_chunks = -(-n // longest)
    return -(-n // n_chunks)  # chunks of nearly equal length: the last one is short by < n_chunks rows


@dataclass
class RowInputs:
    """Symbolic per-row inputs of the single-level graph (one chunk of distinct rows)."""

    counts: object  # (n,) pattern counts (sums of sampling weights)
    covariates: object  # (n, q)
    group_data: list  # per measurement group: (n, P*S) statistics
    known_mask: object | None  # (n, J) additive known-class mask, None without known classes

    @classmethod
    def create(cls, structure: GraphStructure, length: int | None) -> "RowInputs":
        """Fresh variables of ``length`` rows (a static shape, for JAX) or of any number (None)."""
        def matrix(name, width):
            return pt.tensor(name=name, dtype="float64", shape=(length, width))

        mask = None if structure.known_class is None else matrix("known_mask", structure.n_joint)
        return cls(pt.tensor(name="counts", dtype="float64", shape=(length,)),
                   matrix("covariates", structure.covariates.shape[1]),
                   [matrix(f"group_{i}", g.data.shape[1]) for i, g in enumerate(structure.groups)], mask)

    def loglik_data(self) -> dict:
        """The data arguments of ``graph.likelihood.build_loglik`` (and of the factor graphs)."""
        return dict(group_data=self.group_data, covariates=self.covariates, known_mask=self.known_mask)

    def as_list(self) -> list:
        """The inputs in the order ``RowChunks`` passes their values."""
        return [self.counts, self.covariates, *self.group_data] + ([] if self.known_mask is None else
                                                                      [self.known_mask])


class RowChunks:
    """The per-row data of ``structure`` in chunks of ``length`` rows, and calls over the chunks.

    ``static``: the inputs have the static shape of a chunk (JAX), and the last chunk is padded
    to it; otherwise (C) the last chunk is just shorter.
    """

    def __init__(self, structure: GraphStructure, length: int, static: bool = False):
        self.n_rows = structure.n_patterns
        self.length = length
        self.n_chunks = -(-self.n_rows // length)
        mask = known_class_mask(structure)
        self._values = [np.asarray(structure.pattern_counts, dtype=float),
                        np.asarray(structure.covariates, dtype=float),
                        *[np.asarray(g.data, dtype=float) for g in structure.groups]] + ([] if mask is None else [mask])
        self.static = static
        self.inputs = RowInputs.create(structure, length if static else None)

    def _padded(self, array: np.ndarray) -> np.ndarray:
        """The last, short chunk of a per-row array completed by copies of its last row."""
        extra = self.length - len(array)
        return np.concatenate([array, np.repeat(array[-1:], extra, axis=0)]) if extra else array

    def call(self, fn, shared: list, per_row: list, combine: tuple) -> list:
        """``fn(*shared, *per_row chunk, *data chunk)`` over all chunks. ``combine`` names, per
        output, ``"sum"`` (added over chunks) or ``"rows"`` (stacked, the padding dropped)."""
        per_row = [np.asarray(a) for a in per_row]
        totals: list = [None] * len(combine)  # sums, or the (n, ...) arrays the chunks fill
        for start in range(0, self.n_rows, self.length):
            rows = slice(start, start + self.length)
            args = [a[rows] for a in per_row] + [v[rows] for v in self._values]
            real = min(self.length, self.n_rows - start)
            if self.static and real < self.length:
                args = [self._padded(a) for a in args]
                args[len(per_row)][real:] = 0.0  # the counts: padding rows take no part in any total
            outputs = fn(*shared, *args)
            outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
            for i, (how, value) in enumerate(zip(combine, outputs)):
                value = np.asarray(value)
                if how == "sum":
                    totals[i] = value if totals[i] is None else totals[i] + value
                    continue
                if totals[i] is None:
                    totals[i] = np.empty((self.n_rows,) + value.shape[1:], dtype=value.dtype)
                totals[i][start:start + real] = value[:real]
        return totals
