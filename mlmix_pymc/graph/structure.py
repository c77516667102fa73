"""From a spec and its data to the parameter layout and the measurement groups.

A *measurement group* is the set of items of one class variable that share a family,
link and number of categories, so their log-likelihood is one vectorized expression
(``families.py``). An item with its own linear predictor (within covariates, eq 2 / 19,
or cluster random effects) is a *regression group* of its own. Within-level class
variables are enumerated jointly (an LTA's C1 x C2, eq 8-9): ``joint_map[v]`` gives, for
every joint class, the class of variable ``v``; a between-level class variable D
(eq 16-18) is summed over separately, per cluster.
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
from .random_effects import BetweenModel, add_between_model

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
    covariates: tuple[str, ...] = ()  # regression group: the item's within covariates
    slope_key: str | None = None  # regression group: block of class-specific slopes (K, q)

    @property
    def is_regression(self) -> bool:
        """True for a one-item group with its own linear predictor (covariates or random effects)."""
        return self.slope_key is not None


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

    @property
    def is_two_level(self) -> bool:
        """True when the likelihood is a product over clusters (``graph/cluster_likelihood.py``)."""
        return self.cluster_codes is not None

    @property
    def within_vars(self) -> tuple[ClassStructure, ...]:
        """Within-level class variables, enumerated jointly."""
        return tuple(cv for cv in self.class_vars if cv.level == "within")

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
        _add_class_logits(layout, cv, spec, bounded)
    groups = []
    item_elements: dict[str, dict[tuple, int]] = {}
    regression_items = {ind.name for ind in spec.indicators if ind.covariates}
    regression_items |= {it for eff in spec.random_effects for it in eff.indicators}
    for cv in spec.class_variables:
        groups.extend(_add_measurement(layout, spec, data, cv.name, cv.n_classes, item_elements, regression_items))
    between_model = add_between_model(layout, spec, item_elements) if spec.is_two_level else None
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

    names = [cv.name for cv in class_vars]
    sizes = [cv.n_classes for cv in class_vars]
    combos = np.array(list(itertools.product(*[range(k) for k in sizes])), dtype=np.int64)
    joint_map = {v: combos[:, i] for i, v in enumerate(names)}
    if spec.is_two_level:  # clusters: every row is evaluated (rows of a cluster share random effects)
        covariates, counts, row_pattern = data.covariates, np.ones(data.n_obs), np.arange(data.n_obs)
    else:
        groups, covariates, counts, row_pattern = _compress_patterns(groups, data.covariates)
    return GraphStructure(layout, tuple(class_vars), tuple(groups), joint_map, len(combos),
                          covariates, data.covariate_names, counts, row_pattern, between, between_model,
                          data.cluster_codes if spec.is_two_level else None)


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


def _add_measurement(layout, spec, data, cv_name, k, item_elements, regression_items):
    """Add threshold / mean / variance blocks for the items of one class variable.

    Items in ``regression_items`` get a group of their own (with a slope block when they
    have covariates); the others are grouped by family, link and number of categories.
    """
    inds = spec.indicators_of(cv_name)
    classes = np.arange(1, k + 1)
    groups = []
    categorical: dict[tuple, list] = {}
    normal: dict[tuple, list] = {}
    for ind in inds:
        alone = (ind.name,) if ind.name in regression_items else ()
        if ind.family == "normal":
            normal.setdefault(alone, []).append(ind)
        else:
            m = data.indicators[ind.name].n_categories
            categorical.setdefault((ind.link, m) + alone, []).append(ind)
    for (link, m, *alone), items in categorical.items():
        names = np.array([[[f"{it.name}${t}|{cv_name}#{c}" for t in range(1, m)] for it in items] for c in classes],
                         dtype=object)
        transform = np.array(["identity"] + ["increment"] * (m - 2), dtype=object)
        item_names = np.array([it.name for it in items], dtype=object)[None, :, None]
        key = f"threshold:{cv_name}:{link}:{m}" + "".join(f":{a}" for a in alone)

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
                                       categorical_onehot(codes, m), (key,),
                                       *_add_item_slopes(layout, items, alone, cv_name, classes)))
    for alone, normal_items in normal.items():
        groups.append(_add_normal_group(layout, data, normal_items, alone, cv_name, k, item_elements))
    return groups


def _add_item_slopes(layout, items, alone, cv_name, classes):
    """Class-specific slopes of a regression group's item on its within covariates (eq 2, 19)."""
    if not alone:
        return ()
    ind = items[0]
    q = len(ind.covariates)
    names = np.array([[f"{ind.name} ON {x}|{cv_name}#{c}" for x in ind.covariates] for c in classes],
                     dtype=object).reshape(len(classes), q)
    key = f"islope:{cv_name}:{ind.name}"
    layout.add_block(key, names, group="item slope", class_var=cv_name, classes=classes[:, None],
                     items=np.array(ind.covariates, dtype=object)[None, :] if q else None, transform="identity",
                     class_axes={cv_name: 0})
    return ind.covariates, key


def _add_normal_group(layout, data, normal, alone, cv_name, k, item_elements):
    """Mean and variance blocks of continuous items (a regression group when ``alone``)."""
    classes = np.arange(1, k + 1)
    values = np.column_stack([data.indicators[it.name].values for it in normal])
    item_names = np.array([it.name for it in normal], dtype=object)[None, :]
    suffix = "".join(f":{a}" for a in alone)
    mkey, vkey = f"mean:{cv_name}{suffix}", f"variance:{cv_name}{suffix}"
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
    return MeasurementGroup(cv_name, "normal", None, 0, tuple(it.name for it in normal), normal_stats(values),
                            (mkey, vkey), *_add_item_slopes(layout, normal, alone, cv_name, classes))
