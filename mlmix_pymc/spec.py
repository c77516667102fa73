"""Model specification: frozen dataclasses that describe a multilevel mixture model.

The specification is shaped after the general two-level form of the paper
(Asparouhov & Muthen, "Multilevel Mixture Models", eq 1-5, 8-9, 16-18, 22-26):

* latent class variables (``ClassVariable``): within or between level, with an optional
  cluster random intercept on the class logits (the "within-between" status of Table 4),
  covariates of the multinomial logit (eq 4) and an optional parent class variable
  (``depends_on``: the C2 ~ C1 regression of an LTA, eq 9, or C ~ D, eq 24);
* indicators (``Indicator``): binary / ordered categorical with logit or probit link
  (eq 1), or continuous normal with class-specific or class-equal variance;
* constraints (``Constraints``): fixed values, equalities, measurement shared by several
  class variables (time-invariant measurement in an LTA).

* within-level factors (``Factor``): continuous latent variables per person (eq 2-3, 36),
  loadings class-invariant, class-specific or fixed, integrated inside the sum over classes;
* cluster random effects (``RandomEffect``): random intercepts and slopes of indicator
  regressions (eq 2, 19), regressed on earlier random effects and cluster covariates
  (eq 5, 18, 25); random class-logit intercepts come from ``ClassVariable.random_intercept``.

A spec round-trips through plain dicts, JSON and YAML (read with ``yaml.safe_load``).
"""

from __future__ import annotations

import json
import numbers
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .errors import SpecificationError
from .families import REGISTRY, family_of

FAMILIES = tuple(REGISTRY)  # the indicator families' names, from the registry (families/__init__.py)
LINKS = ("logit", "probit")
LEVELS = ("within", "between", "item")
MEMBERSHIPS = ("logistic-normal", "restricted", "dirichlet", "fixed")
VARIANCES = ("class-specific", "class-equal")
TARGETS = ("intercept", "slope")
COVARIANCES = ("full", "diagonal")


@dataclass(frozen=True)
class ClassVariable:
    """A latent class variable.

    Parameters
    ----------
    name : identifier used in parameter names, e.g. ``"c"``.
    n_classes : number of classes (>= 1).
    level : ``"within"`` (C_ij, eq 4), ``"between"`` (D_j, eq 16-17) or ``"item"`` (a class per
        item and person, C_ij of the grade-of-membership model, eq 28-35).
    random_intercept : cluster random intercepts on the class logits (eq 10, 15, 30, 34).
    covariates : columns predicting class membership by multinomial logit (eq 4; last
        class is the reference).
    depends_on : name of a parent class variable whose classes shift these logits
        (eq 9 for an LTA, eq 24 for C ~ D).
    membership : item-level class variables only: the person's membership distribution,
        ``"logistic-normal"`` (K-1 normal random class logits with a full covariance, eq 30,
        34), ``"restricted"`` (one normal factor behind the logits, eq 35), ``"dirichlet"``
        (g_j ~ Dirichlet(alpha), Erosheva) or ``"fixed"`` (no person-level membership
        latent: the classes of a person's items are independent given the covariates).
    item_logits : item-level class variables only: item-specific class logits gamma_ik
        (eq 44; the class intercepts are then fixed at 0).
    """

    name: str = "c"
    n_classes: int = 2
    level: str = "within"
    random_intercept: bool = False
    covariates: tuple[str, ...] = ()
    depends_on: str | None = None
    membership: str | None = None
    item_logits: bool = False

    def __post_init__(self):
        covariates = _names_tuple(self.covariates, f"covariates of class variable {self.name!r}")
        object.__setattr__(self, "covariates", covariates)
        if isinstance(self.n_classes, numbers.Integral) and not isinstance(self.n_classes, bool):
            object.__setattr__(self, "n_classes", int(self.n_classes))  # numpy integers too
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise SpecificationError(
                f"class variable name {self.name!r} must be an identifier such as 'c' or 'c1'"
            )
        if isinstance(self.n_classes, bool) or not isinstance(self.n_classes, int) or self.n_classes < 1:
            raise SpecificationError(
                f"n_classes of class variable {self.name!r} must be an integer >= 1, got {self.n_classes!r}"
            )
        if self.level not in LEVELS:
            raise SpecificationError(
                f"level of class variable {self.name!r} must be one of {LEVELS}, got {self.level!r}"
            )
        if len(set(self.covariates)) != len(self.covariates):
            raise SpecificationError(f"duplicate covariate names for class variable {self.name!r}: {self.covariates}")
        if self.level == "item":
            if self.membership is None:
                object.__setattr__(self, "membership", "logistic-normal")
            if self.membership not in MEMBERSHIPS:
                raise SpecificationError(f"membership of class variable {self.name!r} must be one of {MEMBERSHIPS}, "
                                         f"got {self.membership!r}")
            if self.random_intercept or self.depends_on is not None:
                raise SpecificationError(f"item-level class variable {self.name!r} cannot have random_intercept or "
                                         "depends_on (its person-level latent is the membership)")
            if self.membership == "dirichlet" and (self.covariates or self.item_logits):
                raise SpecificationError(f"class variable {self.name!r}: covariates and item_logits need a "
                                         "logistic-normal, restricted or fixed membership, not 'dirichlet'")
        elif self.membership is not None or self.item_logits:
            raise SpecificationError(f"membership and item_logits belong to item-level class variables "
                                     f"(level='item'); class variable {self.name!r} has level {self.level!r}")


@dataclass(frozen=True)
class Indicator:
    """An observed dependent variable measured by one class variable.

    Parameters
    ----------
    name : the data column.
    family : ``"binary"``, ``"ordinal"`` (ordered categorical with thresholds, eq 1),
        ``"normal"`` (continuous), ``"poisson"`` (counts, log link) or ``"nominal"``
        (unordered categories, multinomial logit; Mplus NOMINAL).
    link : ``"logit"`` or ``"probit"`` (categorical families only).
    class_variable : name of the class variable that this item measures.
    variance : ``"class-specific"`` or ``"class-equal"`` residual variance (normal only).
    covariates : within-level columns the item is regressed on, with class-specific
        slopes (eq 2-3 with Gamma_c; eq 19: ``Y = mu_c + beta_c X + e``).
    """

    name: str
    family: str = "binary"
    link: str = "logit"
    class_variable: str = "c"
    variance: str = "class-specific"
    covariates: tuple[str, ...] = ()

    def __post_init__(self):
        object.__setattr__(self, "covariates", _names_tuple(self.covariates, f"covariates of indicator {self.name!r}"))
        if len(set(self.covariates)) != len(self.covariates) or self.name in self.covariates:
            raise SpecificationError(f"indicator {self.name!r} has duplicate or self covariates {self.covariates}")
        if not isinstance(self.name, str) or not self.name:
            raise SpecificationError(f"indicator name must be a non-empty string, got {self.name!r}")
        if self.family not in FAMILIES:
            raise SpecificationError(
                f"family of indicator {self.name!r} must be one of {FAMILIES}, got {self.family!r}"
            )
        if self.link not in LINKS:
            raise SpecificationError(f"link of indicator {self.name!r} must be one of {LINKS}, got {self.link!r}")
        if self.variance not in VARIANCES:
            raise SpecificationError(
                f"variance of indicator {self.name!r} must be one of {VARIANCES}, got {self.variance!r}"
            )


@dataclass(frozen=True)
class RandomEffect:
    """A cluster random effect b_j (eq 2-5, 19).

    Parameters
    ----------
    name : identifier used in parameter names, e.g. ``"u"`` gives ``var(u)``.
    target : ``"intercept"`` (b_j shifts the intercept / thresholds of ``indicators``) or
        ``"slope"`` (b_j is the cluster deviation of the slope of ``indicators`` on
        ``covariate``). The fixed part, possibly class-specific, carries the mean: the
        random effect has mean 0 (plus ``on`` effects of cluster covariates).
    indicators : items the effect enters; with ``loadings="free"`` the first has loading 1
        and the others get free loadings (a between-level factor).
    covariate : for ``target="slope"``: the within covariate (it must be one of the items'
        ``covariates``).
    on : between-level regressions (eq 5): names of random effects listed earlier and
        cluster-level covariate columns (constant within a cluster).
    """

    name: str
    target: str = "intercept"
    indicators: tuple[str, ...] = ()
    covariate: str | None = None
    on: tuple[str, ...] = ()
    loadings: str = "fixed"

    def __post_init__(self):
        object.__setattr__(self, "indicators", tuple(self.indicators))
        object.__setattr__(self, "on", tuple(self.on))
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise SpecificationError(f"random effect name {self.name!r} must be an identifier such as 'u'")
        if self.target not in TARGETS:
            raise SpecificationError(f"target of random effect {self.name!r} must be one of {TARGETS}, "
                                     f"got {self.target!r}")
        if not self.indicators:
            raise SpecificationError(f"random effect {self.name!r} needs at least one indicator")
        if self.target == "slope" and not self.covariate:
            raise SpecificationError(f"random slope {self.name!r} needs covariate= (the within covariate)")
        if self.target == "intercept" and self.covariate:
            raise SpecificationError(f"random intercept {self.name!r} takes no covariate (use target='slope')")
        if self.loadings not in ("fixed", "free"):
            raise SpecificationError(f"loadings of random effect {self.name!r} must be 'fixed' or 'free', "
                                     f"got {self.loadings!r}")


FACTOR_LOADINGS = ("class-invariant", "class-specific", "fixed")
FACTOR_VARIANCES = ("fixed", "free", "class-specific")
FACTOR_MEANS = ("zero", "class-specific")


@dataclass(frozen=True)
class Factor:
    """A within-level factor eta_ij: one value per person, integrated numerically (eq 2-3, 36-41).

    Parameters
    ----------
    name : identifier used in parameter names, e.g. ``"f"`` gives ``f BY item1``.
    indicators : items the factor enters (all measure one class variable); an item's linear
        predictor gains ``lambda * eta`` (binary: P(y = 1 | c, eta) = F(lambda eta - tau)).
    loadings : ``"class-invariant"`` (one loading per item, ``f BY item``; the factor mixture
        of section 8), ``"class-specific"`` (``f BY item|c#k``, eq 36) or ``"fixed"`` (all 1:
        the Rasch model, usually with ``variance="free"``).
    variance : ``"fixed"`` (eta ~ N(0, 1) in every class, eq 36), ``"free"`` (one variance,
        ``var(f)``) or ``"class-specific"`` (``var(f)|c#k``, all free, with the first loading
        fixed at 1 to set the scale, as Mplus does; needs class-invariant loadings).
    mean : ``"zero"`` (every class) or ``"class-specific"`` (``[f]|c#k``, the last class 0):
        a mixture of factor distributions, which needs class-invariant loadings and makes the
        factor items' thresholds / means class-invariant (measurement invariance).
    """

    name: str
    indicators: tuple[str, ...] = ()
    loadings: str = "class-invariant"
    variance: str = "fixed"
    mean: str = "zero"

    def __post_init__(self):
        object.__setattr__(self, "indicators", tuple(self.indicators))
        if self.mean not in FACTOR_MEANS:
            raise SpecificationError(f"mean of factor {self.name!r} must be one of {FACTOR_MEANS}, got {self.mean!r}")
        if self.mean == "class-specific" and self.loadings == "class-specific":
            raise SpecificationError(f"factor {self.name!r}: class-specific means need loadings that are not "
                                     "class-specific")
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise SpecificationError(f"factor name {self.name!r} must be an identifier such as 'f'")
        if not self.indicators:
            raise SpecificationError(f"factor {self.name!r} needs at least one indicator")
        if len(set(self.indicators)) != len(self.indicators):
            raise SpecificationError(f"factor {self.name!r} lists an indicator twice: {list(self.indicators)}")
        if self.loadings not in FACTOR_LOADINGS:
            raise SpecificationError(f"loadings of factor {self.name!r} must be one of {FACTOR_LOADINGS}, "
                                     f"got {self.loadings!r}")
        if self.variance not in FACTOR_VARIANCES:
            raise SpecificationError(f"variance of factor {self.name!r} must be one of {FACTOR_VARIANCES}, "
                                     f"got {self.variance!r}")
        if self.variance == "class-specific" and self.loadings != "class-invariant":
            raise SpecificationError(f"factor {self.name!r}: class-specific variances need class-invariant "
                                     f"loadings, got {self.loadings!r} (class-specific loadings absorb each class's scale)")
        if self.variance == "free" and self.loadings in ("class-invariant", "class-specific"):
            raise SpecificationError(f"factor {self.name!r}: a free variance with free loadings is not identified; "
                                     "use variance='fixed', or loadings='fixed' (Rasch)")


@dataclass(frozen=True)
class Constraints:
    """Parameter constraints, by parameter name (see ``Model.parameter_names``).

    Parameters
    ----------
    fixed : mapping parameter name -> fixed value.
    equal : groups of parameter names constrained equal.
    same_measurement : groups of class-variable names whose measurement parameters are
        equal; their indicators are paired in the order they are listed (an LTA with
        time-invariant measurement). The class variables must have equal n_classes.
    """

    fixed: Mapping[str, float] = field(default_factory=dict)
    equal: tuple[tuple[str, ...], ...] = ()
    same_measurement: tuple[tuple[str, ...], ...] = ()

    def __post_init__(self):
        object.__setattr__(self, "fixed", {str(k): _fixed_value(k, v) for k, v in dict(self.fixed).items()})
        object.__setattr__(self, "equal", tuple(tuple(g) for g in self.equal))
        object.__setattr__(self, "same_measurement", tuple(tuple(g) for g in self.same_measurement))
        for group in self.equal + self.same_measurement:
            if len(group) < 2:
                raise SpecificationError(f"a constraint group needs at least two names, got {list(group)}")


@dataclass(frozen=True)
class ModelSpec:
    """A complete model: class variables, indicators, constraints and data options.

    ``data`` is an optional CSV path (relative to the spec file) used by ``mlmix fit``;
    ``cluster`` names the cluster column of a two-level model; ``random_effects`` are its
    cluster random effects, with a ``"full"`` (Cholesky-parameterized) or ``"diagonal"``
    residual covariance (``random_covariance``); ``random_by_class`` makes the between
    model (variances, covariances, regressions) specific to the between-level class
    variable (eq 18, 25). ``analysis`` holds estimation options (``starts``, ``seed``,
    ``se``, ``integration``, ``points``...) as the ANALYSIS command of Mplus.
    ``weights`` names a sampling-weight column (Mplus WEIGHT; normalized to sum to the
    sample size, single-level models); ``known_class`` a column holding the observed class
    (1..K) of the first class variable, missing where unknown (Mplus KNOWNCLASS).
    """

    class_variables: tuple[ClassVariable, ...]
    indicators: tuple[Indicator, ...]
    constraints: Constraints = field(default_factory=Constraints)
    cluster: str | None = None
    data: str | None = None
    analysis: Mapping[str, Any] = field(default_factory=dict)
    random_effects: tuple[RandomEffect, ...] = ()
    random_covariance: str = "full"
    random_by_class: bool = False
    factors: tuple[Factor, ...] = ()
    weights: str | None = None
    known_class: str | None = None

    def __post_init__(self):
        object.__setattr__(self, "factors", tuple(self.factors))
        object.__setattr__(self, "class_variables", tuple(self.class_variables))
        object.__setattr__(self, "indicators", tuple(self.indicators))
        object.__setattr__(self, "random_effects", tuple(self.random_effects))
        object.__setattr__(self, "analysis", dict(self.analysis))
        if not self.class_variables:
            raise SpecificationError("a model needs at least one class variable")
        if not self.indicators:
            raise SpecificationError("a model needs at least one indicator")
        cv_names = [cv.name for cv in self.class_variables]
        _no_duplicates(cv_names, "class variable")
        _no_duplicates([ind.name for ind in self.indicators], "indicator")
        by_name = {cv.name: cv for cv in self.class_variables}
        for ind in self.indicators:
            if ind.class_variable not in by_name:
                raise SpecificationError(
                    f"indicator {ind.name!r} names unknown class variable {ind.class_variable!r}; "
                    f"known: {cv_names}"
                )
        for cv in self.class_variables:
            if cv.depends_on is not None:
                if cv.depends_on not in by_name:
                    raise SpecificationError(
                        f"class variable {cv.name!r} depends_on unknown class variable {cv.depends_on!r}"
                    )
                if cv_names.index(cv.depends_on) >= cv_names.index(cv.name):
                    raise SpecificationError(
                        f"class variable {cv.name!r} depends_on {cv.depends_on!r}, which must be listed before it"
                    )
            overlap = set(cv.covariates) & {ind.name for ind in self.indicators}
            if overlap:
                raise SpecificationError(f"columns {sorted(overlap)} are both indicators and covariates")
        for ind in self.indicators:
            overlap = set(ind.covariates) & {i.name for i in self.indicators}
            if overlap:
                raise SpecificationError(f"indicator {ind.name!r} is regressed on indicators {sorted(overlap)}; "
                                         "covariates must be observed exogenous columns")
        for group in self.constraints.same_measurement:
            for name in group:
                if name not in by_name:
                    raise SpecificationError(f"same_measurement names unknown class variable {name!r}")
            sizes = {by_name[n].n_classes for n in group}
            counts = {sum(ind.class_variable == n for ind in self.indicators) for n in group}
            if len(sizes) != 1 or len(counts) != 1:
                raise SpecificationError(
                    f"same_measurement group {list(group)} needs equal n_classes and equal numbers of indicators"
                )
        self._check_membership()
        self._check_two_level(by_name)
        self._check_factors(by_name)
        self._check_weights_known_class()

    def _check_weights_known_class(self) -> None:
        """Sampling weights and known classes: single-level models, columns with no other role."""
        used = {ind.name for ind in self.indicators} | set(self.covariates)
        if self.cluster is not None:
            used.add(self.cluster)
        for option in ("weights", "known_class"):
            col = getattr(self, option)
            if col is None:
                continue
            if not isinstance(col, str):
                raise SpecificationError(f"{option}= must be a column name, got {col!r}")
            if col in used:
                raise SpecificationError(f"{option} column {col!r} is also an indicator, covariate or cluster column")
            if self.is_two_level:
                raise SpecificationError(
                    f"{option}= is not supported in two-level models (cluster=, random effects or indicator "
                    "regressions): cluster-level weights and known classes are not implemented")
        if self.weights is not None and self.weights == self.known_class:
            raise SpecificationError(f"column {self.weights!r} is given as both weights and known_class")
        if self.known_class is not None and self.membership_class_variable is not None:
            raise SpecificationError("known_class= is not supported in grade-of-membership models")

    def _check_membership(self) -> None:
        """A grade-of-membership model (item-level class variable, eq 28-35) is single-level and alone."""
        item_level = [cv for cv in self.class_variables if cv.level == "item"]
        if not item_level:
            return
        if len(self.class_variables) > 1:
            raise SpecificationError(f"item-level class variable {item_level[0].name!r} must be the model's only "
                                     "class variable (person-level classes beside a grade of membership are not "
                                     "supported)")
        if self.cluster is not None or self.random_effects:
            raise SpecificationError("a grade-of-membership model (level='item') is single-level: cluster= and "
                                     "random effects are not supported")

    @property
    def membership_class_variable(self) -> ClassVariable | None:
        """The item-level class variable of a grade-of-membership model (eq 28), if any."""
        return next((cv for cv in self.class_variables if cv.level == "item"), None)

    def _check_factors(self, by_name) -> None:
        """Within-level factors: known indicators of one class variable, families with a linear predictor."""
        items = {ind.name: ind for ind in self.indicators}
        entering = {it for eff in self.random_effects for it in eff.indicators}
        for ind in self.indicators:
            if (ind.covariates or ind.name in entering) and not family_of(ind.family).takes_linear_predictor:
                raise SpecificationError(f"indicator {ind.name!r} of family {ind.family!r} cannot take covariates or "
                                         "random effects (it has no single linear predictor)")
        taken = {cv.name for cv in self.class_variables} | set(items) | {e.name for e in self.random_effects}
        for fac in self.factors:
            if fac.name in taken:
                raise SpecificationError(f"factor name {fac.name!r} is already used")
            taken.add(fac.name)
            for it in fac.indicators:
                if it not in items:
                    raise SpecificationError(f"factor {fac.name!r} names unknown indicator {it!r}")
                if not family_of(items[it].family).takes_linear_predictor:
                    raise SpecificationError(f"factor {fac.name!r}: indicator {it!r} of family "
                                             f"{items[it].family!r} cannot load on a factor")
            owners = {items[it].class_variable for it in fac.indicators}
            if len(owners) > 1:
                raise SpecificationError(f"factor {fac.name!r} has indicators of several class variables "
                                         f"{sorted(owners)}; a factor's items must measure one class variable")
            owner = by_name[owners.pop()]
            if owner.level == "between":
                raise SpecificationError(f"factor {fac.name!r} measures between-level class variable "
                                         f"{owner.name!r}; use a random effect with free loadings for a "
                                         "between-level factor")
        for cv in self.class_variables:
            mine = [f for f in self.factors if self.factor_class_variable(f.name) == cv.name]
            if len(mine) > 3:
                raise SpecificationError(f"class variable {cv.name!r} has {len(mine)} factors; at most 3 are "
                                         "integrated jointly per class variable")

    def factor_class_variable(self, factor: str) -> str:
        """The class variable measured by the indicators of ``factor``."""
        for fac in self.factors:
            if fac.name == factor:
                return next(ind.class_variable for ind in self.indicators if ind.name == fac.indicators[0])
        raise SpecificationError(f"unknown factor {factor!r}")

    def _check_two_level(self, by_name) -> None:
        """Rules of the two-level parts (sections 2, 5, 6; Table 4)."""
        between = [cv for cv in self.class_variables if cv.level == "between"]
        items = {ind.name: ind for ind in self.indicators}
        needs_cluster = [f"between-level class variable {cv.name!r}" for cv in between]
        needs_cluster += [f"random_intercept of class variable {cv.name!r}"
                          for cv in self.class_variables if cv.random_intercept]
        needs_cluster += [f"random effect {eff.name!r}" for eff in self.random_effects]
        if needs_cluster and self.cluster is None:
            raise SpecificationError(f"{needs_cluster[0]} needs a cluster column: set cluster=")
        if len(between) > 1:
            raise SpecificationError(f"at most one between-level class variable is supported, got "
                                     f"{[cv.name for cv in between]}")
        for cv in between:
            if cv.random_intercept or cv.depends_on is not None:
                raise SpecificationError(f"between-level class variable {cv.name!r} cannot have random_intercept "
                                         "or depends_on (eq 17: its logits are fixed effects of cluster covariates)")
        if self.random_by_class and not between:
            raise SpecificationError("random_by_class=True needs a between-level class variable")
        if self.random_covariance not in COVARIANCES:
            raise SpecificationError(f"random_covariance must be one of {COVARIANCES}, got {self.random_covariance!r}")
        names = [cv.name for cv in self.class_variables]
        seen: list[str] = []
        for eff in self.random_effects:
            if eff.name in seen or eff.name in names or eff.name in items:
                raise SpecificationError(f"random effect name {eff.name!r} is already used")
            for it in eff.indicators:
                if it not in items:
                    raise SpecificationError(f"random effect {eff.name!r} names unknown indicator {it!r}")
                if eff.target == "slope" and eff.covariate not in items[it].covariates:
                    raise SpecificationError(f"random slope {eff.name!r}: covariate {eff.covariate!r} is not among "
                                             f"the covariates of indicator {it!r} {list(items[it].covariates)}")
            for pred in eff.on:
                if pred in items or pred in names:
                    raise SpecificationError(f"random effect {eff.name!r} is regressed on {pred!r}, which is not a "
                                             "random effect listed before it or a cluster covariate")
            seen.append(eff.name)

    @property
    def between_class_variable(self) -> ClassVariable | None:
        """The between-level class variable D (eq 16-18), if any."""
        for cv in self.class_variables:
            if cv.level == "between":
                return cv
        return None

    @property
    def cluster_covariates(self) -> tuple[str, ...]:
        """Covariates that must be constant within a cluster (predictors of D and of random effects)."""
        re_names = {eff.name for eff in self.random_effects}
        re_names |= {f"{cv.name}#{k}" for cv in self.class_variables if cv.random_intercept
                     for k in range(1, cv.n_classes)}
        out: list[str] = []
        for cv in self.class_variables:
            if cv.level == "between":
                out.extend(c for c in cv.covariates if c not in out)
        for eff in self.random_effects:
            out.extend(c for c in eff.on if c not in re_names and c not in out)
        return tuple(out)

    @property
    def is_two_level(self) -> bool:
        """True when the model needs the cluster-level likelihood (clusters, random effects,
        between-level classes or indicator regressions)."""
        if self.membership_class_variable is not None:  # item covariates enter the wide GoM rows directly
            return False
        return (self.cluster is not None or bool(self.random_effects)
                or any(ind.covariates for ind in self.indicators))

    # ----------------------------------------------------------------- accessors
    def class_variable(self, name: str) -> ClassVariable:
        """Return the class variable called ``name``."""
        for cv in self.class_variables:
            if cv.name == name:
                return cv
        raise SpecificationError(f"unknown class variable {name!r}")

    def indicators_of(self, class_variable: str) -> tuple[Indicator, ...]:
        """Indicators measuring ``class_variable``, in spec order."""
        return tuple(ind for ind in self.indicators if ind.class_variable == class_variable)

    @property
    def covariates(self) -> tuple[str, ...]:
        """All covariate columns used anywhere, in first-use order."""
        seen: list[str] = []
        for cv in self.class_variables:
            seen.extend(c for c in cv.covariates if c not in seen)
        for ind in self.indicators:
            seen.extend(c for c in ind.covariates if c not in seen)
        seen.extend(c for c in self.cluster_covariates if c not in seen)
        return tuple(seen)

    # --------------------------------------------------------------- round trip
    def to_dict(self) -> dict:
        """Plain-dict form (JSON / YAML serialisable)."""
        out = {
            "class_variables": [_clean(asdict(cv)) for cv in self.class_variables],
            "indicators": [_clean(asdict(ind)) for ind in self.indicators],
            "constraints": {
                "fixed": dict(self.constraints.fixed),
                "equal": [list(g) for g in self.constraints.equal],
                "same_measurement": [list(g) for g in self.constraints.same_measurement],
            },
        }
        for key in ("cluster", "data", "weights", "known_class"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.random_effects:
            out["random_effects"] = [_clean(asdict(eff)) for eff in self.random_effects]
            out["random_covariance"] = self.random_covariance
        if self.random_by_class:
            out["random_by_class"] = True
        if self.factors:
            out["factors"] = [_clean(asdict(f)) for f in self.factors]
        if self.analysis:
            out["analysis"] = _clean(dict(self.analysis))
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "ModelSpec":
        """Build a spec from its dict form; unknown keys are an error naming the key."""
        if not isinstance(d, Mapping):
            raise SpecificationError(f"a model spec must be a mapping, got {type(d).__name__}")
        allowed = {"class_variables", "indicators", "constraints", "cluster", "data", "analysis",
                   "random_effects", "random_covariance", "random_by_class", "factors", "weights", "known_class"}
        _no_unknown_keys(d, allowed, "model spec")
        try:
            cvs = tuple(_build(ClassVariable, c, "class_variables entry") for c in d.get("class_variables", ()))
            default_cv = cvs[0].name if len(cvs) == 1 else "c"
            inds = []
            for item in d.get("indicators", ()):
                if isinstance(item, str):
                    item = {"name": item}
                item = dict(item)
                item.setdefault("class_variable", default_cv)
                inds.append(_build(Indicator, item, "indicators entry"))
            res = tuple(_build(RandomEffect, r, "random_effects entry") for r in d.get("random_effects") or ())
            facs = tuple(_build(Factor, f, "factors entry") for f in d.get("factors") or ())
            cons = d.get("constraints") or {}
            _no_unknown_keys(cons, {"fixed", "equal", "same_measurement"}, "constraints")
            constraints = Constraints(
                fixed=cons.get("fixed") or {},
                equal=tuple(tuple(g) for g in cons.get("equal") or ()),
                same_measurement=tuple(tuple(g) for g in cons.get("same_measurement") or ()),
            )
        except TypeError as err:  # pragma: no cover - _build reports most problems
            raise SpecificationError(f"invalid model spec: {err}") from None
        return cls(
            class_variables=cvs,
            indicators=tuple(inds),
            constraints=constraints,
            cluster=d.get("cluster"),
            data=d.get("data"),
            analysis=d.get("analysis") or {},
            random_effects=res,
            random_covariance=d.get("random_covariance", "full"),
            random_by_class=bool(d.get("random_by_class", False)),
            factors=facs,
            weights=d.get("weights"),
            known_class=d.get("known_class"),
        )

    def to_json(self, **kwargs) -> str:
        """JSON text of ``to_dict()``."""
        return json.dumps(self.to_dict(), **kwargs)

    @classmethod
    def from_json(cls, text: str) -> "ModelSpec":
        """Spec from JSON text."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise SpecificationError(f"spec is not valid JSON: {err}") from None
        return cls.from_dict(data)

    def to_yaml(self) -> str:
        """YAML text of ``to_dict()``."""
        import yaml

        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    @classmethod
    def from_yaml(cls, text: str) -> "ModelSpec":
        """Spec from YAML text, read with a safe loader (no arbitrary objects).

        Booleans are only ``true``/``false`` (YAML 1.2): YAML 1.1 would read the key ``on``
        of a random effect, and values such as ``no`` or ``y``, as booleans.
        """
        import yaml

        try:
            data = yaml.load(text, Loader=_yaml_loader())
        except yaml.YAMLError as err:
            raise SpecificationError(f"spec is not valid YAML: {err}") from None
        return cls.from_dict(data)

    @classmethod
    def from_file(cls, path: str | Path) -> "ModelSpec":
        """Read a ``.yaml``/``.yml`` or ``.json`` spec file."""
        path = Path(path)
        if not path.exists():
            raise SpecificationError(f"spec file {str(path)!r} does not exist")
        if not path.is_file():
            raise SpecificationError(f"spec file {str(path)!r} is not a file (a directory?)")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise SpecificationError(f"spec file {str(path)!r} is not a text (YAML or JSON) file") from None
        except OSError as err:
            raise SpecificationError(f"cannot read spec file {str(path)!r}: {err.strerror}") from None
        if path.suffix.lower() == ".json":
            return cls.from_json(text)
        return cls.from_yaml(text)


def _yaml_loader():
    """``yaml.SafeLoader`` with YAML 1.2 booleans (true/false only)."""
    import re

    import yaml

    class Loader(yaml.SafeLoader):
        pass

    bool_tag = "tag:yaml.org,2002:bool"
    Loader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != bool_tag]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    Loader.add_implicit_resolver(bool_tag, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
    return Loader


def _names_tuple(names, what: str) -> tuple:
    """Column names as a tuple; one name given as a string is one name (not its characters)."""
    if names is None:
        return ()
    if isinstance(names, str):
        return (names,)
    try:
        return tuple(names)
    except TypeError:
        raise SpecificationError(f"{what} must be a list of column names, got {names!r}") from None


def _fixed_value(name, value) -> float:
    """A fixed parameter value: a finite number (``fixed={'u1$1|c#1': 15}``)."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise SpecificationError(f"fixed value of {name!r} must be a number, got {value!r}") from None
    if not np.isfinite(out) or isinstance(value, bool):
        raise SpecificationError(f"fixed value of {name!r} must be a finite number, got {value!r}")
    return out


def _no_duplicates(names: Sequence[str], what: str) -> None:
    seen = set()
    for n in names:
        if n in seen:
            raise SpecificationError(f"duplicate {what} name {n!r}")
        seen.add(n)


def _no_unknown_keys(d: Mapping, allowed: set, where: str) -> None:
    unknown = set(d) - allowed
    if unknown:
        raise SpecificationError(f"unknown key(s) {sorted(unknown)} in {where}; allowed: {sorted(allowed)}")


def _build(klass, d, where):
    if not isinstance(d, Mapping):
        raise SpecificationError(f"{where} must be a mapping, got {d!r}")
    allowed = set(klass.__dataclass_fields__)
    _no_unknown_keys(d, allowed, where)
    return klass(**d)


def _clean(d: dict) -> dict:
    """Tuples to lists so YAML/JSON stay plain."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}
