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
