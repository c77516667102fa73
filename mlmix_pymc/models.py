"""Convenience constructors: a familiar call builds a ``ModelSpec`` and binds the data.

A new model type is a new spec here, never new likelihood code.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import pandas as pd

from .errors import SpecificationError
from .model import Model
from .spec import ClassVariable, Constraints, Indicator, ModelSpec


def lca(data: pd.DataFrame, items: Sequence[str], n_classes: int, covariates: Sequence[str] | None = None,
        link: str = "logit", family: str | Mapping[str, str] = "binary", variance: str = "class-specific",
        fixed: Mapping[str, float] | None = None, equal: Sequence[Sequence[str]] | None = None,
        class_name: str = "c") -> Model:
    """Latent class analysis / latent profile analysis (paper eq 1-4 without clusters).

    Parameters
    ----------
    data : DataFrame with one row per respondent.
    items : indicator columns.
    n_classes : number of latent classes (>= 1).
    covariates : columns predicting class membership (multinomial logit, last class reference).
    link : ``"logit"`` or ``"probit"`` for categorical items.
    family : ``"binary"``, ``"ordinal"`` or ``"normal"`` for every item, or a dict item -> family.
    variance : ``"class-specific"`` or ``"class-equal"`` variances of normal items.
    fixed, equal : constraints by parameter name (see ``Model.parameter_names``).
    class_name : name of the class variable in parameter names (default ``"c"``).

    Returns a ``Model``; call ``model.fit()`` to estimate it.
    """
    if isinstance(items, str):
        raise SpecificationError(f"items must be a list of column names, got the string {items!r}")
    items = list(items)
    families = dict(family) if isinstance(family, Mapping) else {it: family for it in items}
    unknown = set(families) - set(items)
    if unknown:
        raise SpecificationError(f"family given for columns {sorted(unknown)} that are not in items")
    spec = ModelSpec(
        class_variables=(ClassVariable(class_name, n_classes, covariates=tuple(covariates or ())),),
        indicators=tuple(Indicator(it, families.get(it, "binary"), link, class_name, variance) for it in items),
        constraints=Constraints(fixed=fixed or {}, equal=tuple(tuple(g) for g in (equal or ()))),
    )
    return Model(spec, data)


def from_spec(spec: ModelSpec | Mapping, data: pd.DataFrame) -> Model:
    """Bind a spec (or its dict form) to a DataFrame."""
    if not isinstance(spec, ModelSpec):
        spec = ModelSpec.from_dict(spec)
    return Model(spec, data)


def lta(data: pd.DataFrame, items_by_time: Sequence[Sequence[str]], n_classes: int,
        covariates: Sequence[str] | None = None, link: str = "logit", family: str = "binary",
        time_invariant: bool = True) -> Model:
    """Single-level latent transition analysis (paper eq 6-9, first-order Markov).

    ``items_by_time[t]`` are the indicators of class variable ``c{t+1}``; each ``C_t``
    (t > 1) is regressed on ``C_{t-1}`` (eq 9) and ``covariates`` predict ``C_1`` (eq 8).
    ``time_invariant=True`` constrains the measurement to be equal over time (items are
    paired in the order given).
    """
    if len(items_by_time) < 2:
        raise SpecificationError("an LTA needs items for at least two time points")
    names = [f"c{t + 1}" for t in range(len(items_by_time))]
    cvs = tuple(ClassVariable(name, n_classes, covariates=tuple(covariates or ()) if t == 0 else (),
                              depends_on=None if t == 0 else names[t - 1]) for t, name in enumerate(names))
    inds = tuple(Indicator(it, family, link, names[t]) for t, items in enumerate(items_by_time) for it in items)
    cons = Constraints(same_measurement=(tuple(names),) if time_invariant else ())
    return Model(ModelSpec(cvs, inds, cons), data)
