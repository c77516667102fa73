"""The interface of a latent component, and the state one simulation fills in.

Every latent variable of the paper's general form (design guide section 1) is a component
at one level: ``"cluster"`` (between-level classes D_j, random effects b_j), ``"unit"``
(within-level classes C_ij, factors eta_ij, grade-of-membership vectors g_j) or
``"measurement"`` (a class per item, C_ijk of eq 28). Components are visited top-down
(cluster -> unit -> measurement); each draws its values given those above it into a shared
``Draws`` state, and the indicator families then draw the items given the state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

LEVELS = ("cluster", "unit", "measurement")


@dataclass
class Draws:
    """The values drawn so far in one simulation (numpy, one row per data row).

    ``phi`` natural parameters and ``u`` the Cholesky-factor scale (``ParameterLayout``),
    ``x`` (n, q) covariates, ``codes`` (n,) cluster of every row (each row its own cluster in
    a single-level model), ``first_row`` (J,) a row of every cluster. Components add
    ``classes`` (name -> (n,) 0-based class per row), ``item_classes`` (name -> (n, P) a
    class per row and item, in ``item_order[name]``), ``effects`` (n, dim) cluster random
    effects per row, ``factors`` (class variable -> (n, m)), and ``columns`` (name -> (n,))
    that the simulated frame reports for checking.
    """

    rng: np.random.Generator
    phi: np.ndarray
    u: np.ndarray
    x: np.ndarray
    codes: np.ndarray
    first_row: np.ndarray
    classes: dict = field(default_factory=dict)
    item_classes: dict = field(default_factory=dict)
    item_order: dict = field(default_factory=dict)
    effects: np.ndarray | None = None
    factors: dict = field(default_factory=dict)
    columns: dict = field(default_factory=dict)

    @property
    def n(self) -> int:
        """Number of data rows."""
        return len(self.codes)

    @property
    def n_clusters(self) -> int:
        """Number of clusters J."""
        return len(self.first_row)

    def class_of_item(self, class_var: str, item: str) -> np.ndarray:
        """(n,) the class of ``class_var`` that governs ``item`` in every row: the row's class,
        or the item's own class for a measurement-level (grade-of-membership) class variable."""
        if class_var in self.item_classes:
            return self.item_classes[class_var][:, self.item_order[class_var].index(item)]
        return self.classes[class_var]


@runtime_checkable
class LatentComponent(Protocol):
    """What every latent component answers (the rest of the interface grows with issue 32)."""

    name: str
    level: str

    def simulate(self, draws: Draws) -> None:
        """Draw this latent variable given the components above it, into ``draws``."""


def elements(values: np.ndarray, index: np.ndarray) -> np.ndarray:
    """``values`` at ``index`` (any shape) with -1 meaning 0: numpy's ``graph.unit._gather_elements``."""
    return np.where(index >= 0, values[np.maximum(index, 0)], 0.0)


def draw_categories(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One 0-based category per row (and any leading axes) from probabilities (..., K)."""
    cumulative = np.cumsum(probs, axis=-1)[..., :-1]
    return (rng.uniform(size=probs.shape[:-1] + (1,)) > cumulative).sum(axis=-1)
