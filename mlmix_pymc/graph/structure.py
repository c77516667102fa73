"""From a spec and its data to the parameter layout and the measurement groups.

A *measurement group* is the set of items of one class variable that share a family,
link and number of categories, so their log-likelihood is one vectorized expression
(``families.py``). Class variables that are all within-level are enumerated jointly
(an LTA's C1 x C2, eq 8-9): ``joint_map[v]`` gives, for every joint class, the class of
variable ``v``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from ..data import ModelData
from ..errors import SpecificationError
from ..families import categorical_onehot, normal_stats
from ..spec import ModelSpec
from .params import ParameterLayout

THRESHOLD_BOUND = 15.0  # thresholds and logits that run off are held at +-15, as Mplus does
MAX_INCREMENT = float(np.log(30.0))


@dataclass(frozen=True)
class MeasurementGroup:
    """Items of one class variable with one family/link/number of categories."""

    class_var: str
    family: str  # "categorical" | "normal"
    link: str | None
    n_categories: int
    items: tuple[str, ...]
    data: np.ndarray  # one-hot (categorical) or sufficient statistics (normal)
    keys: tuple[str, ...]  # layout block keys: thresholds, or means and variances


@dataclass(frozen=True)
class ClassStructure:
    """A latent class variable as the graph sees it."""

    name: str
    n_classes: int
    covariates: tuple[str, ...]
    parent: str | None
    bounded_intercepts: bool


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

    @property
    def n_patterns(self) -> int:
        """Number of distinct rows (response pattern and covariates) the graph evaluates."""
        return len(self.pattern_counts)

    def class_var(self, name: str) -> ClassStructure:
        """The ``ClassStructure`` called ``name``."""
        for cv in self.class_vars:
            if cv.name == name:
                return cv
        raise SpecificationError(f"unknown class variable {name!r}; known: {[cv.name for cv in self.class_vars]}")


def build_structure(spec: ModelSpec, data: ModelData) -> GraphStructure:
    """Create the parameter layout and measurement groups for ``spec`` on ``data``."""
    _check_supported(spec)
    layout = ParameterLayout()
    class_vars = []
    for cv in spec.class_variables:
        bounded = not cv.covariates and cv.depends_on is None
        class_vars.append(ClassStructure(cv.name, cv.n_classes, cv.covariates, cv.depends_on, bounded))
        _add_class_logits(layout, cv, spec, bounded)
    groups = []
    item_elements: dict[str, dict[tuple, int]] = {}
    for cv in spec.class_variables:
        groups.extend(_add_measurement(layout, spec, data, cv.name, cv.n_classes, item_elements))
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

    names = [cv.name for cv in spec.class_variables]
    sizes = [cv.n_classes for cv in spec.class_variables]
    combos = np.array(list(itertools.product(*[range(k) for k in sizes])), dtype=np.int64)
    joint_map = {v: combos[:, i] for i, v in enumerate(names)}
    groups, covariates, counts, row_pattern = _compress_patterns(groups, data.covariates)
    return GraphStructure(layout, tuple(class_vars), tuple(groups), joint_map, len(combos),
                          covariates, data.covariate_names, counts, row_pattern)


def _compress_patterns(groups, covariates):
    """Evaluate each distinct row (items + covariates) once, weighted by its frequency.

    Rows with equal response patterns and covariates have equal likelihood terms; binary
    items in particular repeat a lot (the 1000 LSAT rows have 32 patterns).
    """
    key = np.concatenate([g.data for g in groups] + [covariates], axis=1)
    _, first, inverse, counts = np.unique(key, axis=0, return_index=True, return_inverse=True, return_counts=True)
    groups = [MeasurementGroup(g.class_var, g.family, g.link, g.n_categories, g.items, g.data[first], g.keys)
              for g in groups]
    return groups, covariates[first], counts.astype(float), inverse.reshape(-1).astype(np.int64)


def _check_supported(spec: ModelSpec) -> None:
    if spec.cluster is not None:
        raise SpecificationError(
            f"cluster={spec.cluster!r}: two-level estimation (cluster random effects) is not available "
            "in this version; fit the single-level model without 'cluster'"
        )
    for cv in spec.class_variables:
        if cv.level != "within":
            raise SpecificationError(
                f"class variable {cv.name!r} has level={cv.level!r}: between-level class variables need "
                "two-level estimation, which is not available in this version"
            )
        if cv.random_intercept:
            raise SpecificationError(
                f"class variable {cv.name!r} has random_intercept=True: cluster random effects are not "
                "available in this version"
            )


def _add_class_logits(layout: ParameterLayout, cv, spec: ModelSpec, bounded: bool) -> None:
    """Multinomial logit of eq 4 / 8 / 9: intercepts, covariate slopes, parent effects (last class = 0)."""
    k = cv.n_classes
    classes = np.arange(1, k + 1)
    ref = np.full(k, np.nan)
    ref[-1] = 0.0
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


def _add_measurement(layout, spec, data, cv_name, k, item_elements):
    """Add threshold / mean / variance blocks for the items of one class variable."""
    inds = spec.indicators_of(cv_name)
    classes = np.arange(1, k + 1)
    groups = []
    categorical: dict[tuple, list] = {}
    normal = []
    for ind in inds:
        if ind.family == "normal":
            normal.append(ind)
        else:
            m = data.indicators[ind.name].n_categories
            categorical.setdefault((ind.link, m), []).append(ind)
    for (link, m), items in categorical.items():
        names = np.array([[[f"{it.name}${t}|{cv_name}#{c}" for t in range(1, m)] for it in items] for c in classes],
                         dtype=object)
        transform = np.array(["identity"] + ["increment"] * (m - 2), dtype=object)
        item_names = np.array([it.name for it in items], dtype=object)[None, :, None]
        key = f"threshold:{cv_name}:{link}:{m}"

        def bounds(pos):
            return (-THRESHOLD_BOUND, THRESHOLD_BOUND) if pos[-1] == 0 else (-np.inf, MAX_INCREMENT)

        block = layout.add_block(key, names, group="threshold", class_var=cv_name, classes=classes[:, None, None],
                                 items=item_names, transform=transform, class_axes={cv_name: 0}, bounds=bounds)
        for p, it in enumerate(items):
            for c in range(k):
                for t in range(m - 1):
                    item_elements.setdefault(it.name, {})[("threshold", c, t)] = int(block.index[c, p, t])
        codes = np.column_stack([data.indicators[it.name].values for it in items])
        groups.append(MeasurementGroup(cv_name, "categorical", link, m, tuple(it.name for it in items),
                                       categorical_onehot(codes, m), (key,)))
    if normal:
        values = np.column_stack([data.indicators[it.name].values for it in normal])
        item_names = np.array([it.name for it in normal], dtype=object)[None, :]
        mkey, vkey = f"mean:{cv_name}", f"variance:{cv_name}"
        mblock = layout.add_block(mkey, np.array([[f"{it.name}|{cv_name}#{c}" for it in normal] for c in classes],
                                                 dtype=object), group="mean", class_var=cv_name,
                                  classes=classes[:, None], items=item_names, transform="identity",
                                  class_axes={cv_name: 0})
        floor = np.log(1e-6 * np.nanvar(values, axis=0))
        vblock = layout.add_block(vkey, np.array([[f"var({it.name})|{cv_name}#{c}" for it in normal]
                                                  for c in classes], dtype=object),
                                  group="variance", class_var=cv_name, classes=classes[:, None], items=item_names,
                                  transform="log", class_axes={cv_name: 0},
                                  bounds=lambda pos: (floor[pos[1]], np.inf))
        for p, it in enumerate(normal):
            for c in range(k):
                item_elements.setdefault(it.name, {})[("mean", c)] = int(mblock.index[c, p])
                item_elements.setdefault(it.name, {})[("variance", c)] = int(vblock.index[c, p])
            if it.variance == "class-equal":
                layout.add_equality(vblock.index[:, p])
        groups.append(MeasurementGroup(cv_name, "normal", None, 0, tuple(it.name for it in normal),
                                       normal_stats(values), (mkey, vkey)))
    return groups
