"""From a spec and its data to the parameter layout and the measurement groups.

A *measurement group* is the set of items of one class variable that share a family,
link, number of categories and factors, so their log-likelihood is one vectorized
expression (``families/``). An item with its own linear predictor (within covariates,
eq 2 / 19, or cluster random effects) is a *regression group* of its own. Within-level
class variables are enumerated jointly (an LTA's C1 x C2, eq 8-9): ``joint_map[v]`` gives,
for every joint class, the class of variable ``v``; a between-level class variable D
(eq 16-18) is summed over separately, per cluster. Within-level factors (``UnitLatent``,
eq 2-3, 36) belong to the class variable their items measure and are integrated inside
its sum over classes.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from ..data import ModelData
from ..errors import SpecificationError
from ..families import THRESHOLD_BOUND, Family, family_of  # THRESHOLD_BOUND is also imported from here
from ..spec import ModelSpec
from .membership import Membership, add_membership
from .params import ParameterLayout
from .random_effects import BetweenModel, add_between_model


@dataclass(frozen=True, eq=False)
class MeasurementGroup:
    """Items of one class variable with one family/link/number of categories/factors."""

    class_var: str
    family: Family
    link: str | None
    n_categories: int
    items: tuple[str, ...]
    data: np.ndarray  # (n, P*S) statistics of the family
    params: dict  # role -> layout block key (K, P[, extra])
    covariates: tuple[str, ...] = ()  # regression group: the item's within covariates
    slope_key: str | None = None  # regression group: block of class-specific slopes (K, q)
    loadings: np.ndarray | None = None  # (K|1, P, m) phi elements of factor loadings, -1 for 0

    @property
    def is_regression(self) -> bool:
        """True for a one-item group with its own linear predictor (covariates or random effects)."""
        return self.slope_key is not None

    @property
    def has_factors(self) -> bool:
        """True when the group's items load on the within-level factors of its class variable."""
        return self.loadings is not None

    def signature(self) -> tuple:
        """What the symbolic graph depends on (not the data values)."""
        return (self.class_var, self.family.signature(), self.link, self.n_categories, self.items,
                tuple(sorted(self.params.items())), self.covariates, self.slope_key,
                None if self.loadings is None else self.loadings.tobytes())


@dataclass(frozen=True)
class ClassStructure:
    """A latent class variable as the graph sees it."""

    name: str
    n_classes: int
    covariates: tuple[str, ...]
    parent: str | None
    bounded_intercepts: bool
    level: str = "within"
    random_intercept: bool = False


@dataclass(frozen=True, eq=False)
class UnitLatent:
    """The within-level factors of one class variable, integrated jointly (eq 36-41).

    eta_c = mu_c + sqrt(psi_c) * z with z ~ N(0, I_m); ``variances`` (K|1, m) holds the phi
    elements of psi (fixed at 1 unless free or class-specific), ``means`` those of mu_c
    (class-specific means; otherwise 0).
    """

    class_var: str
    factors: tuple[str, ...]
    variances: np.ndarray  # (K|1, m) phi elements
    means: np.ndarray | None = None  # (K, m) phi elements of class-specific means, -1 for 0; None: all 0

    @property
    def dim(self) -> int:
        """Number of factors m (dimension of the integral per person)."""
        return len(self.factors)

    def signature(self) -> tuple:
        """What the symbolic graph depends on."""
        return (self.class_var, self.factors, self.variances.tobytes(),
                None if self.means is None else self.means.tobytes())


@dataclass(frozen=True)
class GraphStructure:
    """Everything the likelihood graph needs, independent of PyTensor."""

    layout: ParameterLayout
    class_vars: tuple[ClassStructure, ...]
    groups: tuple[MeasurementGroup, ...]
    joint_map: dict[str, np.ndarray]
    n_joint: int
    covariates: np.ndarray  # (n_patterns, q) all covariates in ModelData order
    covariate_names: tuple[str, ...]
    pattern_counts: np.ndarray  # (n_patterns,) rows sharing each distinct response pattern
    row_pattern: np.ndarray  # (n_rows,) pattern of every data row
    between: ClassStructure | None = None  # between-level class variable D (eq 16-18)
    between_model: BetweenModel | None = None  # cluster random effects (eq 5, 18, 25)
    cluster_codes: np.ndarray | None = None  # (n,) cluster of every row (two-level models)
    unit_latents: tuple[UnitLatent, ...] = ()  # within-level factors by class variable
    membership: Membership | None = None  # grade of membership: the item-level class variable's latent
    row_weights: np.ndarray | None = None  # (n_rows,) sampling weights (None: all 1), in pattern_counts
    known_class: np.ndarray | None = None  # (n_patterns,) observed class code of the first class variable, -1

    @property
    def is_two_level(self) -> bool:
        """True when the likelihood is a product over clusters (``graph/cluster_likelihood.py``)."""
        return self.cluster_codes is not None

    @property
    def unit_dim(self) -> int:
        """Dimension of the per-unit integral: the largest number of within-level factors of one
        class variable (0: none); in a grade-of-membership model the membership dimensions plus
        the factors, integrated jointly (eq 38-41)."""
        factors = max((u.dim for u in self.unit_latents), default=0)
        return factors + (self.membership.dim if self.membership is not None else 0)

    @property
    def is_gom(self) -> bool:
        """True for a grade-of-membership model (an item-level class variable, eq 28)."""
        return self.membership is not None

    @property
    def within_vars(self) -> tuple[ClassStructure, ...]:
        """Within-level class variables, enumerated jointly."""
        return tuple(cv for cv in self.class_vars if cv.level == "within")

    @cached_property
    def covariate_rms(self) -> np.ndarray:
        """(q,) root mean square of each covariate over the data rows (pattern counts as weights)."""
        if not self.covariate_names:
            return np.zeros(0)
        squares = np.asarray(self.covariates, dtype=float) ** 2
        return np.sqrt(np.average(squares, axis=0, weights=self.pattern_counts))

    @property
    def n_patterns(self) -> int:
        """Number of distinct rows (response pattern and covariates) the graph evaluates."""
        return len(self.pattern_counts)

    def class_var(self, name: str) -> ClassStructure:
        """The ``ClassStructure`` called ``name``."""
        for cv in self.class_vars + ((self.between,) if self.between else ()):
            if cv.name == name:
                return cv
        raise SpecificationError(f"unknown class variable {name!r}; known: {[cv.name for cv in self.class_vars]}")

    def unit_latent(self, class_var: str) -> UnitLatent | None:
        """The within-level factors of ``class_var`` (None without factors)."""
        return next((u for u in self.unit_latents if u.class_var == class_var), None)

    def signature(self) -> tuple:
        """Everything the symbolic graph depends on (not the data values)."""
        layout = self.layout
        return (tuple(layout.names), tuple(layout.free_of), tuple(layout.fixed_values),
                tuple(g.signature() for g in self.groups), self.class_vars, self.between, self.between_model,
                self.covariate_names, tuple(u.signature() for u in self.unit_latents),
                None if self.membership is None else self.membership.signature())


def build_structure(spec: ModelSpec, data: ModelData) -> GraphStructure:
    """Create the parameter layout and measurement groups for ``spec`` on ``data``."""
    layout = ParameterLayout()
    class_vars, between = [], None
    for cv in spec.class_variables:
        bounded = not cv.covariates and cv.depends_on is None and not cv.random_intercept
        structure = ClassStructure(cv.name, cv.n_classes, cv.covariates, cv.depends_on, bounded, cv.level,
                                   cv.random_intercept)
        if cv.level == "between":
            between = structure
        else:
            class_vars.append(structure)
        if cv.membership != "dirichlet":  # Dirichlet memberships have no class logits
            _add_class_logits(layout, cv, spec, bounded)
    groups, unit_latents = [], []
    item_elements: dict[str, dict[tuple, int]] = {}
    regression_items = {ind.name for ind in spec.indicators if ind.covariates}
    regression_items |= {it for eff in spec.random_effects for it in eff.indicators}
    for cv in spec.class_variables:
        factors = [f for f in spec.factors if spec.factor_class_variable(f.name) == cv.name]
        loading_of, latent = _add_factors(layout, factors, cv.name, cv.n_classes)
        if latent is not None:
            unit_latents.append(latent)
        new_groups = _add_measurement(layout, spec, data, cv.name, cv.n_classes, item_elements, regression_items,
                                      loading_of)
        invariant = {it for f in factors if f.mean == "class-specific" for it in f.indicators}
        for g in new_groups:  # class-specific factor means need invariant intercepts (identification)
            role = g.family.intercept_role
            for p, item in enumerate(g.items):
                if item in invariant and role in g.params:
                    index = layout.blocks[g.params[role]].index[:, p]  # (K[, extra])
                    for pos in np.ndindex(index.shape[1:]):
                        layout.add_equality(index[(slice(None),) + pos])
        groups.extend(new_groups)
    between_model = add_between_model(layout, spec, item_elements) if spec.is_two_level else None
    gom = spec.membership_class_variable
    membership = None
    if gom is not None:
        membership = add_membership(layout, gom, tuple(ind.name for ind in spec.indicators_of(gom.name)))
    for group in spec.constraints.same_measurement:
        lists = [[ind.name for ind in spec.indicators_of(v)] for v in group]
        for paired in zip(*lists):
            keys = [set(item_elements[i]) for i in paired]
            if any(k != keys[0] for k in keys):
                raise SpecificationError(
                    f"same_measurement pairs items {list(paired)} that differ in family or categories"
                )
            for key in keys[0]:
                layout.add_equality([item_elements[i][key] for i in paired])
    layout.finalize(spec.constraints.fixed, spec.constraints.equal)

    names = [cv.name for cv in class_vars]  # a GoM's item-level classes: K "joint classes" (posterior
    sizes = [cv.n_classes for cv in class_vars]  # membership means, gom_likelihood.py)
    combos = np.array(list(itertools.product(*[range(k) for k in sizes])), dtype=np.int64)
    joint_map = {v: combos[:, i] for i, v in enumerate(names)}
    if spec.is_two_level:  # clusters: every row is evaluated (rows of a cluster share random effects)
        covariates, counts, row_pattern = data.covariates, np.ones(data.n_obs), np.arange(data.n_obs)
    else:
        groups, covariates, counts, row_pattern = _compress_patterns(groups, data.covariates, data.weights,
                                                                     data.known_class)
    known = known_class_of_patterns(data.known_class, row_pattern, len(counts))
    return GraphStructure(layout, tuple(class_vars), tuple(groups), joint_map, len(combos),
                          covariates, data.covariate_names, counts, row_pattern, between, between_model,
                          data.cluster_codes if spec.is_two_level else None, tuple(unit_latents), membership,
                          row_weights=data.weights, known_class=known)


def _compress_patterns(groups, covariates, weights=None, known_class=None):
    """Evaluate each distinct row (items + covariates [+ known class]) once, weighted by its
    frequency, or by the sum of its rows' sampling weights.

    Rows with equal response patterns and covariates have equal likelihood terms; binary
    items in particular repeat a lot (the 1000 LSAT rows have 32 patterns). Weights enter the
    log-likelihood only here: sum_i w_i log L_i = sum_patterns (sum of w) log L_pattern.
    """
    extra = [] if known_class is None else [known_class[:, None].astype(float)]
    key = np.concatenate([g.data for g in groups] + [covariates] + extra, axis=1)
    first, inverse, counts = distinct_rows(key)
    if weights is not None:
        counts = np.bincount(inverse, weights=weights, minlength=len(first))
    groups = [_with_data(g, g.data[first]) for g in groups]
    return groups, covariates[first], counts.astype(float), inverse


def known_class_of_patterns(known_class, row_pattern, n_patterns) -> np.ndarray | None:
    """The known class code (-1: unknown) of every pattern from those of the rows (patterns
    keep rows of one known class together: ``_compress_patterns``); None without known classes."""
    if known_class is None:
        return None
    known = np.full(n_patterns, -1, dtype=np.int64)
    known[row_pattern] = known_class
    return known


def distinct_rows(key: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct rows of the float matrix ``key`` in ascending lexicographic order, as
    ``np.unique(key, axis=0, return_index=True, return_inverse=True, return_counts=True)``
    returns them (first index of each, inverse (n,), counts), without its sort of all n rows.

    Rows are numbered by a 64-bit hash of their bytes (``_row_hashes``; -0.0 made 0.0 first,
    so equal numbers are equal bytes), checked exactly against the first row of each number
    (a collision falls back to hashing the whole rows' bytes), and only the distinct rows are
    sorted, with ``np.lexsort``: 1,000,000 distinct rows of 41 columns take ~2.5 s instead
    of 8.3 s, and milliseconds when rows repeat. A C-contiguous ``key`` is normalized in
    place (-0.0 -> 0.0; no copy).
    """
    n, width = key.shape
    if n == 0 or width == 0:
        return np.unique(key, axis=0, return_index=True, return_inverse=True, return_counts=True)[1:]
    rows = np.ascontiguousarray(key, dtype=float)
    rows += 0.0  # -0.0 -> 0.0
    codes, first = _numbered(_row_hashes(rows))
    if not _rows_equal(rows, first[codes]):  # a hash collision (never seen): exact, slower numbering
        codes, first = _numbered(rows.view(np.dtype((np.void, rows.dtype.itemsize * width))).ravel())
    n_distinct = len(first)
    distinct = rows if n_distinct == n else rows[first]  # all distinct: first is 0..n-1, no copy
    order = np.lexsort(distinct.T[::-1])  # distinct rows ascending, first column most significant
    rank = np.empty(n_distinct, dtype=np.int64)
    rank[order] = np.arange(n_distinct)
    inverse = rank[codes]
    return first[order], inverse, np.bincount(inverse, minlength=n_distinct)


def _numbered(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codes of ``values`` numbered in order of first appearance (``pd.factorize``), and the
    index of each code's first occurrence."""
    codes, _ = pd.factorize(values)
    running = np.maximum.accumulate(codes)
    return codes, np.flatnonzero(np.r_[True, running[1:] > running[:-1]])


def _row_hashes(rows: np.ndarray) -> np.ndarray:
    """A 64-bit hash of every row's bytes (columns mixed one at a time: no (n, width) temporaries)."""
    bits = rows.view(np.uint64)
    h = np.zeros(len(rows), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(bits.shape[1]):  # splitmix64's finalizer on each value, folded in
            x = bits[:, j] ^ np.uint64(0x9E3779B97F4A7C15 * (j + 1) % 2**64)
            x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
            x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
            h = (h * np.uint64(0x100000001B3)) ^ x ^ (x >> np.uint64(31))
    return h


def _rows_equal(rows: np.ndarray, other: np.ndarray, block: int = 65536) -> bool:
    """Whether ``rows[i] == rows[other[i]]`` for every i, in blocks of rows (bounded memory)."""
    for start in range(0, len(rows), block):
        part = slice(start, start + block)
        if not np.array_equal(rows[part], rows[other[part]]):
            return False
    return True


def _with_data(group: MeasurementGroup, data: np.ndarray) -> MeasurementGroup:
    from dataclasses import replace

    return replace(group, data=data)


def _add_class_logits(layout: ParameterLayout, cv, spec: ModelSpec, bounded: bool) -> None:
    """Multinomial logit of eq 4 / 8 / 9: intercepts, covariate slopes, parent effects (last class = 0)."""
    k = cv.n_classes
    classes = np.arange(1, k + 1)
    ref = np.full(k, np.nan)
    ref[-1] = 0.0
    if getattr(cv, "item_logits", False):  # eq 44: item-specific logits carry the intercepts
        ref[:] = 0.0
    bound = (-THRESHOLD_BOUND, THRESHOLD_BOUND) if bounded else (-np.inf, np.inf)
    layout.add_block(f"intercept:{cv.name}", np.array([f"[{cv.name}#{c}]" for c in classes], dtype=object),
                     group="intercept", class_var=cv.name, classes=classes, items=None,
                     transform="identity", class_axes={cv.name: 0}, fixed=ref, bounds=bound)
    q = len(cv.covariates)
    names = np.array([[f"{cv.name}#{c} ON {x}" for x in cv.covariates] for c in classes], dtype=object).reshape(k, q)
    fixed = np.full((k, q), np.nan)
    fixed[-1, :] = 0.0
    layout.add_block(f"slope:{cv.name}", names, group="slope", class_var=cv.name,
                     classes=classes[:, None], items=np.array(cv.covariates, dtype=object)[None, :] if q else None,
                     transform="identity", class_axes={cv.name: 0}, fixed=fixed)
    if cv.depends_on is not None:
        parent = spec.class_variable(cv.depends_on)
        kp = parent.n_classes
        names = np.array([[f"{cv.name}#{c} ON {parent.name}#{d}" for d in range(1, kp + 1)] for c in classes],
                         dtype=object)
        fixed = np.full((k, kp), np.nan)
        fixed[-1, :] = 0.0
        fixed[:, -1] = 0.0
        layout.add_block(f"transition:{cv.name}", names, group="transition", class_var=cv.name,
                         classes=classes[:, None],
                         items=np.array([f"{parent.name}#{d}" for d in range(1, kp + 1)], dtype=object)[None, :],
                         transform="identity", class_axes={cv.name: 0, parent.name: 1}, fixed=fixed)


def _add_factors(layout: ParameterLayout, factors, cv_name: str, k: int):
    """Loading and variance blocks of the within-level factors of one class variable.

    Returns (item -> (K|1, m) loading elements with -1 for a zero loading, UnitLatent).
    """
    if not factors:
        return {}, None
    m = len(factors)
    specific = any(f.loadings == "class-specific" for f in factors)
    rows = k if specific else 1
    loading_of: dict[str, np.ndarray] = {}
    classes = np.arange(1, k + 1)
    for a, fac in enumerate(factors):
        for item in fac.indicators:
            loading_of.setdefault(item, np.full((rows, m), -1, dtype=np.int64))
        if fac.loadings == "class-specific":
            names = np.array([[f"{fac.name} BY {it}|{cv_name}#{c}" for it in fac.indicators] for c in classes],
                             dtype=object)
            block = layout.add_block(f"floading:{fac.name}", names, group="loading", class_var=cv_name,
                                     classes=classes[:, None], items=np.array(fac.indicators, dtype=object)[None, :],
                                     transform="identity", class_axes={cv_name: 0})
        else:
            names = np.array([[f"{fac.name} BY {it}" for it in fac.indicators]], dtype=object)
            fixed = np.ones(names.shape) if fac.loadings == "fixed" else None
            if fac.variance == "class-specific":  # the first loading sets the scale (Mplus), variances all free
                fixed = np.full(names.shape, np.nan)
                fixed[0, 0] = 1.0
            block = layout.add_block(f"floading:{fac.name}", names, group="loading", class_var=None,
                                     classes=np.array([[None]], dtype=object),
                                     items=np.array(fac.indicators, dtype=object)[None, :], transform="identity",
                                     class_axes={}, fixed=fixed)
        for p, item in enumerate(fac.indicators):
            loading_of[item][:, a] = block.index[:, p] if block.index.shape[0] == rows else block.index[0, p]
    var_rows = k if any(f.variance == "class-specific" for f in factors) else 1
    variances = np.empty((var_rows, m), dtype=np.int64)
    for a, fac in enumerate(factors):
        if fac.variance == "class-specific":
            names = np.array([f"var({fac.name})|{cv_name}#{c}" for c in classes], dtype=object)
            block = layout.add_block(f"fvariance:{fac.name}", names, group="factor variance", class_var=cv_name,
                                     classes=classes, items=np.array([fac.name] * k, dtype=object),
                                     transform="log", class_axes={cv_name: 0},
                                     bounds=(np.log(1e-4), np.log(1e4)))
            variances[:, a] = block.index
        else:
            fixed = np.array([1.0]) if fac.variance == "fixed" else None
            block = layout.add_block(f"fvariance:{fac.name}", np.array([f"var({fac.name})"], dtype=object),
                                     group="factor variance", class_var=None, classes=np.array([None], dtype=object),
                                     items=np.array([fac.name], dtype=object), transform="log", class_axes={},
                                     fixed=fixed, bounds=(np.log(1e-4), np.log(1e4)))
            variances[:, a] = block.index[0]
    means = None
    if any(f.mean == "class-specific" for f in factors):
        means = np.full((k, m), -1, dtype=np.int64)
        for a, fac in enumerate(factors):
            if fac.mean != "class-specific":
                continue
            fixed = np.full(k, np.nan)
            fixed[-1] = 0.0  # the last class is the reference, as for class logits
            block = layout.add_block(f"fmean:{fac.name}", np.array([f"[{fac.name}]|{cv_name}#{c}" for c in classes],
                                                                   dtype=object),
                                     group="factor mean", class_var=cv_name, classes=classes,
                                     items=np.array([fac.name] * k, dtype=object), transform="identity",
                                     class_axes={cv_name: 0}, fixed=fixed)
            means[:, a] = block.index
    return loading_of, UnitLatent(cv_name, tuple(f.name for f in factors), variances, means)


def _add_measurement(layout, spec, data, cv_name, k, item_elements, regression_items, loading_of):
    """Add the family parameter blocks for the items of one class variable.

    Items in ``regression_items`` get a group of their own (with a slope block when they
    have covariates); the others are grouped by family, link, number of categories and
    whether they load on the class variable's factors.
    """
    groups = []
    buckets: dict[tuple, list] = {}
    for ind in spec.indicators_of(cv_name):
        family = family_of(ind.family)
        m = data.indicators[ind.name].n_categories
        alone = (ind.name,) if ind.name in regression_items else ()
        link = ind.link if family.uses_link else None
        buckets.setdefault((family.name, link, m, ind.name in loading_of) + alone, []).append(ind)
    for (fam_name, link, m, on_factor, *alone), items in buckets.items():
        values = np.column_stack([data.indicators[it.name].values for it in items])
        family = family_of(items[0].family).bind(values, tuple(it.name for it in items))
        key = f"{cv_name}:{fam_name}:{link}:{m}" + (":f" if on_factor else "") + "".join(f":{a}" for a in alone)
        params = family.add_blocks(layout, key, cv_name, k, items, m, values)
        for role, block_key in params.items():
            index = layout.blocks[block_key].index
            for p, it in enumerate(items):
                for pos in np.ndindex(index[:, p].shape):
                    item_elements.setdefault(it.name, {})[(role,) + pos] = int(index[:, p][pos])
        loadings = np.stack([loading_of[it.name] for it in items], axis=1) if on_factor else None
        groups.append(MeasurementGroup(cv_name, family, link, m, tuple(it.name for it in items),
                                       family.stats(values, m), params,
                                       *_add_item_slopes(layout, items, alone, cv_name, k), loadings=loadings))
    return groups


def _add_item_slopes(layout, items, alone, cv_name, k):
    """Class-specific slopes of a regression group's item on its within covariates (eq 2, 19)."""
    if not alone:
        return ()
    ind = items[0]
    classes = np.arange(1, k + 1)
    q = len(ind.covariates)
    names = np.array([[f"{ind.name} ON {x}|{cv_name}#{c}" for x in ind.covariates] for c in classes],
                     dtype=object).reshape(k, q)
    key = f"islope:{cv_name}:{ind.name}"
    layout.add_block(key, names, group="item slope", class_var=cv_name, classes=classes[:, None],
                     items=np.array(ind.covariates, dtype=object)[None, :] if q else None, transform="identity",
                     class_axes={cv_name: 0})
    return ind.covariates, key
