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

A spec round-trips through plain dicts, JSON and YAML (read with ``yaml.safe_load``).
Estimation of between-level class variables and random intercepts is added by the
two-level part of the package; the spec can already state them.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from .errors import SpecificationError

FAMILIES = ("binary", "ordinal", "normal")
LINKS = ("logit", "probit")
LEVELS = ("within", "between")
VARIANCES = ("class-specific", "class-equal")


@dataclass(frozen=True)
class ClassVariable:
    """A latent class variable.

    Parameters
    ----------
    name : identifier used in parameter names, e.g. ``"c"``.
    n_classes : number of classes (>= 1).
    level : ``"within"`` (C_ij, eq 4) or ``"between"`` (D_j, eq 16-17).
    random_intercept : cluster random intercepts on the class logits (eq 10, 15, 30, 34).
    covariates : columns predicting class membership by multinomial logit (eq 4; last
        class is the reference).
    depends_on : name of a parent class variable whose classes shift these logits
        (eq 9 for an LTA, eq 24 for C ~ D).
    """

    name: str = "c"
    n_classes: int = 2
    level: str = "within"
    random_intercept: bool = False
    covariates: tuple[str, ...] = ()
    depends_on: str | None = None

    def __post_init__(self):
        object.__setattr__(self, "covariates", tuple(self.covariates))
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


@dataclass(frozen=True)
class Indicator:
    """An observed dependent variable measured by one class variable.

    Parameters
    ----------
    name : the data column.
    family : ``"binary"``, ``"ordinal"`` (ordered categorical with thresholds, eq 1) or
        ``"normal"`` (continuous).
    link : ``"logit"`` or ``"probit"`` (categorical families only).
    class_variable : name of the class variable that this item measures.
    variance : ``"class-specific"`` or ``"class-equal"`` residual variance (normal only).
    """

    name: str
    family: str = "binary"
    link: str = "logit"
    class_variable: str = "c"
    variance: str = "class-specific"

    def __post_init__(self):
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
class Constraints:
    """Parameter constraints, by parameter name (see ``Model.parameter_names``).

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
        object.__setattr__(self, "fixed", {str(k): float(v) for k, v in dict(self.fixed).items()})
        object.__setattr__(self, "equal", tuple(tuple(g) for g in self.equal))
        object.__setattr__(self, "same_measurement", tuple(tuple(g) for g in self.same_measurement))
        for group in self.equal + self.same_measurement:
            if len(group) < 2:
                raise SpecificationError(f"a constraint group needs at least two names, got {list(group)}")


@dataclass(frozen=True)
class ModelSpec:
    """A complete model: class variables, indicators, constraints and data options.

    ``data`` is an optional CSV path (relative to the spec file) used by ``mlmix fit``;
    ``cluster`` names the cluster column of a two-level model; ``analysis`` holds
    estimation options (``starts``, ``seed``, ``se``...) as the ANALYSIS command of Mplus.
    """

    class_variables: tuple[ClassVariable, ...]
    indicators: tuple[Indicator, ...]
    constraints: Constraints = field(default_factory=Constraints)
    cluster: str | None = None
    data: str | None = None
    analysis: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "class_variables", tuple(self.class_variables))
        object.__setattr__(self, "indicators", tuple(self.indicators))
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
        return tuple(seen)

    # --------------------------------------------------------------- round trip
    def to_dict(self) -> dict:
        """Plain-dict form (JSON / YAML serialisable)."""
        out = {
            "class_variables": [_clean(asdict(cv)) for cv in self.class_variables],
            "indicators": [asdict(ind) for ind in self.indicators],
            "constraints": {
                "fixed": dict(self.constraints.fixed),
                "equal": [list(g) for g in self.constraints.equal],
                "same_measurement": [list(g) for g in self.constraints.same_measurement],
            },
        }
        for key in ("cluster", "data"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.analysis:
            out["analysis"] = _clean(dict(self.analysis))
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "ModelSpec":
        """Build a spec from its dict form; unknown keys are an error naming the key."""
        if not isinstance(d, Mapping):
            raise SpecificationError(f"a model spec must be a mapping, got {type(d).__name__}")
        allowed = {"class_variables", "indicators", "constraints", "cluster", "data", "analysis"}
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
        )

    def to_json(self, **kwargs) -> str:
        """JSON text of ``to_dict()``."""
        return json.dumps(self.to_dict(), **kwargs)

    @classmethod
    def from_json(cls, text: str) -> "ModelSpec":
        """Spec from JSON text."""
        return cls.from_dict(json.loads(text))

    def to_yaml(self) -> str:
        """YAML text of ``to_dict()``."""
        import yaml

        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    @classmethod
    def from_yaml(cls, text: str) -> "ModelSpec":
        """Spec from YAML text, read with ``yaml.safe_load`` (no arbitrary objects)."""
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise SpecificationError(f"spec is not valid YAML: {err}") from None
        return cls.from_dict(data)

    @classmethod
    def from_file(cls, path: str | Path) -> "ModelSpec":
        """Read a ``.yaml``/``.yml`` or ``.json`` spec file."""
        path = Path(path)
        if not path.exists():
            raise SpecificationError(f"spec file {str(path)!r} does not exist")
        text = path.read_text()
        if path.suffix.lower() == ".json":
            return cls.from_json(text)
        return cls.from_yaml(text)


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
