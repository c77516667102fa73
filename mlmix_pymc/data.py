"""Data layer: a pandas DataFrame and a ``ModelSpec`` become plain numpy arrays.

Every check of user data lives here, so the graph builder can trust its inputs.

* Missing indicator values stay in the data and drop out of the likelihood
  (full-information ML under MAR).
* Rows with a missing covariate (or cluster id) are left out with a warning giving the count;
  rows where every indicator is missing carry no information and are left out likewise.
* Categorical indicators are recoded to 0..C-1; the mapping is kept (``category_maps``).
* Sampling weights (``spec.weights``) must be numeric, finite, non-negative and not all
  zero; as in Mplus they are normalized to sum to the number of rows used.
* Known classes (``spec.known_class``) are class numbers 1..K, missing where unknown.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .errors import DataError
from .families import family_of
from .spec import ModelSpec


@dataclass(frozen=True)
class IndicatorData:
    """One indicator column as arrays.

    ``values``: float array, NaN where missing; categorical items hold codes 0..C-1.
    ``categories``: original category labels in code order (categorical families).
    """

    name: str
    family: str
    values: np.ndarray
    categories: tuple = ()

    @property
    def n_categories(self) -> int:
        """Number of categories (0 for continuous items)."""
        return len(self.categories)


@dataclass(frozen=True)
class ModelData:
    """Arrays for estimation, aligned with ``index`` (the rows kept from the input)."""

    index: pd.Index
    input_index: pd.Index
    indicators: dict[str, IndicatorData]
    covariates: np.ndarray
    covariate_names: tuple[str, ...]
    cluster_codes: np.ndarray | None = None
    cluster_labels: tuple = ()
    dropped: dict[str, int] = field(default_factory=dict)
    weights: np.ndarray | None = None  # (n,) sampling weights summing to n_obs, or None
    known_class: np.ndarray | None = None  # (n,) code 0..K-1 of the observed class, -1 if unknown
    kept: np.ndarray | None = None  # (len(input_index),) bool: the input rows used (aligns a duplicated index)

    @property
    def n_obs(self) -> int:
        """Number of rows used in estimation."""
        return len(self.index)

    @property
    def category_maps(self) -> dict[str, dict]:
        """For each categorical indicator, original label -> code 0..C-1."""
        return {
            name: {lab: code for code, lab in enumerate(ind.categories)}
            for name, ind in self.indicators.items()
            if family_of(ind.family).data_kind == "categorical"
        }


def prepare_data(df: pd.DataFrame, spec: ModelSpec) -> ModelData:
    """Validate ``df`` against ``spec`` and convert it to ``ModelData``.

    Raises ``DataError`` naming the column or value at fault.
    """
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, got {type(df).__name__}")
    if df.columns.duplicated().any():
        dup = df.columns[df.columns.duplicated()].tolist()
        raise DataError(f"data has duplicate column names {dup}")
    needed = [ind.name for ind in spec.indicators] + list(spec.covariates)
    if spec.cluster is not None:
        needed.append(spec.cluster)
    needed += [c for c in (spec.weights, spec.known_class) if c is not None]
    for col in needed:
        if col not in df.columns:
            close = [c for c in map(str, df.columns) if c.lower() == str(col).lower()]
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise DataError(f"column {col!r} is not in the data{hint}; columns are {list(map(str, df.columns))[:20]}")

    for col in dict.fromkeys(needed):
        _check_value_kinds(df[col], col)
    keep = np.ones(len(df), dtype=bool)
    dropped: dict[str, int] = {}

    covariates = np.empty((len(df), 0))
    if spec.covariates:
        covariates = np.column_stack([_numeric_column(df, c, "covariate") for c in spec.covariates])
        for k, c in enumerate(spec.covariates):
            _warn_extreme_scale(covariates[:, k], c, "covariate")
        missing_cov = np.isnan(covariates).any(axis=1)
        if missing_cov.any():
            dropped["missing covariate"] = int(missing_cov.sum())
            warnings.warn(
                f"{int(missing_cov.sum())} row(s) with a missing value on covariate(s) "
                f"{[c for c in spec.covariates if df[c].isna().any()]} were left out of the analysis",
                stacklevel=3,
            )
            keep &= ~missing_cov

    cluster_codes = None
    cluster_labels: tuple = ()
    if spec.cluster is not None:
        cl = df[spec.cluster]
        _check_cluster_id_types(cl, spec.cluster)
        if cl.isna().any():
            dropped["missing cluster id"] = int(cl.isna().sum())
            warnings.warn(f"{int(cl.isna().sum())} row(s) with a missing cluster id in column "
                          f"{spec.cluster!r} were left out of the analysis", stacklevel=3)
            keep &= ~cl.isna().to_numpy()

    indicators = {}
    for ind in spec.indicators:
        if df[ind.name].isna().all():
            raise DataError(f"{ind.family} indicator {ind.name!r} has no observed values (every value is missing)")
        kind = family_of(ind.family).data_kind
        if kind == "continuous":
            values = _numeric_column(df, ind.name, "continuous indicator")
            _warn_extreme_scale(values, ind.name, "normal indicator")
            indicators[ind.name] = IndicatorData(ind.name, ind.family, values)
        elif kind == "count":
            indicators[ind.name] = IndicatorData(ind.name, ind.family, _count_column(df, ind.name))
        else:
            values, cats = _categorical_column(df[ind.name], ind.name, ind.family)
            indicators[ind.name] = IndicatorData(ind.name, ind.family, values, cats)

    all_missing = np.all([np.isnan(v.values) for v in indicators.values()], axis=0) & keep
    if all_missing.any():
        dropped["all indicators missing"] = int(all_missing.sum())
        warnings.warn(
            f"{int(all_missing.sum())} row(s) with every indicator missing were left out of the analysis",
            stacklevel=3,
        )
        keep &= ~all_missing

    if not keep.any():
        raise DataError("no rows are left after removing rows with missing covariates or indicators")

    indicators = {k: IndicatorData(v.name, v.family, v.values[keep], v.categories) for k, v in indicators.items()}
    for ind in spec.indicators:
        iv = indicators[ind.name]
        if family_of(ind.family).data_kind == "categorical" and iv.n_categories < 2:
            raise DataError(
                f"indicator {ind.name!r} has only one observed category {list(iv.categories)}; "
                "it carries no information for a mixture model"
            )
        if family_of(ind.family).data_kind != "categorical" and np.nanvar(iv.values) == 0:
            raise DataError(f"{ind.family} indicator {ind.name!r} has zero variance (a single value)")
    if spec.cluster is not None:
        codes, uniques = pd.factorize(df[spec.cluster][keep], sort=True)
        cluster_codes, cluster_labels = codes.astype(np.int64), tuple(uniques)
        _check_cluster_constant(covariates[keep], spec, cluster_codes, cluster_labels)
    elif spec.is_two_level:  # indicator regressions without clusters: every row is its own cluster
        cluster_codes = np.arange(int(keep.sum()), dtype=np.int64)
        cluster_labels = tuple(df.index[keep])

    weights = None if spec.weights is None else _normalized_weights(_weight_column(df, spec.weights)[keep],
                                                                    spec.weights)
    known = None if spec.known_class is None else \
        _known_class_column(df, spec.known_class, spec.class_variables[0].n_classes)[keep]
    return ModelData(
        index=df.index[keep],
        input_index=df.index,
        indicators=indicators,
        covariates=covariates[keep],
        covariate_names=tuple(spec.covariates),
        cluster_codes=cluster_codes,
        cluster_labels=cluster_labels,
        dropped=dropped,
        weights=weights,
        known_class=known,
        kept=keep,
    )


def _weight_column(df: pd.DataFrame, col: str) -> np.ndarray:
    """Sampling weights: numeric, no missing values, finite, non-negative."""
    values = _numeric_column(df, col, "weights")
    bad = np.isnan(values) | (values < 0)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        what = "a missing value" if np.isnan(values[first]) else f"the negative value {float(values[first])!r}"
        raise DataError(f"weights column {col!r} has {what} (row {df.index[first]!r}); {int(bad.sum())} such "
                        "value(s); sampling weights must be non-negative numbers")
    return values


def _normalized_weights(values: np.ndarray, col: str) -> np.ndarray:
    """Weights rescaled to sum to the number of rows (Mplus's normalization)."""
    total = values.sum()
    if not total > 0:
        raise DataError(f"weights column {col!r} is zero on every row used in the analysis")
    return values * (len(values) / total)


def _known_class_column(df: pd.DataFrame, col: str, n_classes: int) -> np.ndarray:
    """Observed classes 1..K as codes 0..K-1; missing (unknown class) as -1."""
    values = _numeric_column(df, col, "known_class")
    observed = ~np.isnan(values)
    bad = observed & ~np.isin(values, np.arange(1, n_classes + 1))
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise DataError(f"known_class column {col!r} has value {float(values[first])!r} (row {df.index[first]!r}); "
                        f"classes are numbered 1..{n_classes}, missing where unknown")
    return np.where(observed, np.nan_to_num(values) - 1, -1).astype(np.int64)


def _check_cluster_constant(covariates: np.ndarray, spec: ModelSpec, codes: np.ndarray, labels: tuple) -> None:
    """Cluster-level covariates (predictors of D and of random effects) must not vary within a cluster."""
    for name in spec.cluster_covariates:
        col = covariates[:, spec.covariates.index(name)]
        lo = np.full(len(labels), np.inf)
        hi = np.full(len(labels), -np.inf)
        np.minimum.at(lo, codes, col)
        np.maximum.at(hi, codes, col)
        bad = np.flatnonzero(hi - lo > 1e-12 * np.maximum(1.0, np.abs(hi)))
        if bad.size:
            raise DataError(
                f"cluster-level covariate {name!r} varies within cluster {labels[bad[0]]!r} of column "
                f"{spec.cluster!r} ({len(bad)} cluster(s)); predictors of between-level class variables and "
                "random effects must be constant within a cluster"
            )


SCALE_LIMITS = (1e-6, 1e6)  # SDs outside: the optimizer's tolerances are not scale-free
MEAN_TO_SD_WARN = 1e4  # |mean| / SD above: a normal item's log density (y^2 - 2 mu y + mu^2) loses precision
MEAN_TO_SD_ERROR = 1e7  # ... and above this it is rounding noise (relative error ~ 1e-16 x ratio^2 per row)
MAX_ROBUST_Z = 1e5  # |y - median| / (1.4826 MAD) above: an outlier (a data-entry error?)


def _warn_extreme_scale(values: np.ndarray, col: str, role: str) -> None:
    """Warn with the remedy when a continuous column's scale makes ML numerically unreliable;
    a normal item whose mean is so far from 0 that its density is rounding noise is a ``DataError``."""
    obs = values[~np.isnan(values)]
    if obs.size < 2:
        return
    sd, mean = float(obs.std()), float(obs.mean())
    med = float(np.median(obs))
    mad = 1.4826 * float(np.median(np.abs(obs - med)))
    ratio = abs(mean) / sd if sd > 0 else 0.0
    if role == "normal indicator" and ratio > MEAN_TO_SD_ERROR:
        raise DataError(f"{role} column {col!r} has mean {mean:.6g} but SD only {sd:.4g}: its normal density "
                        f"cannot be computed in double precision; center it (subtract about {med:.6g}) before fitting")
    if mad > 0 and np.abs(obs - med).max() / mad > MAX_ROBUST_Z:
        worst = obs[np.argmax(np.abs(obs - med))]
        warnings.warn(f"{role} column {col!r} has an extreme value {worst:.6g}, more than {MAX_ROBUST_Z:.0e} robust "
                      f"SDs (scaled MAD {mad:.4g}) from its median {med:.6g}: check it for a data-entry error or a "
                      "missing-value code; it dominates the column's variance", stacklevel=4)
    elif ratio > MEAN_TO_SD_WARN:
        warnings.warn(f"{role} column {col!r} has mean {mean:.6g} but SD only {sd:.4g}: the likelihood loses "
                      f"precision; center it (subtract about {med:.6g}) before fitting", stacklevel=4)
    elif sd > 0 and not SCALE_LIMITS[0] <= sd <= SCALE_LIMITS[1]:
        factor = 10.0 ** np.round(np.log10(sd))
        warnings.warn(f"{role} column {col!r} has SD {sd:.4g}: the optimizer's convergence tolerances are not "
                      f"scale-free; divide it by {factor:.0e} before fitting (estimates of its parameters then "
                      "change by that factor)", stacklevel=4)


def _numeric_column(df: pd.DataFrame, col: str, role: str) -> np.ndarray:
    s = df[col]
    if pd.api.types.is_bool_dtype(s):
        return s.astype(float).to_numpy()
    if not pd.api.types.is_numeric_dtype(s):
        conv = pd.to_numeric(s, errors="coerce")
        bad = s[conv.isna() & s.notna()]
        if len(bad):
            raise DataError(
                f"{role} column {col!r} has non-numeric value {bad.iloc[0]!r} "
                f"(row {bad.index[0]!r}); {len(bad)} such value(s)"
            )
        s = conv
    values = s.to_numpy(dtype=float)
    if np.isinf(values).any():
        raise DataError(f"{role} column {col!r} has infinite values")
    return values


def _count_column(df: pd.DataFrame, col: str) -> np.ndarray:
    """A count indicator: non-negative integers (NaN for missing)."""
    values = _numeric_column(df, col, "count indicator")
    bad = ~np.isnan(values) & ((values < 0) | (values != np.round(values)))
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise DataError(f"count indicator {col!r} has value {float(values[first])!r} (row {df.index[first]!r}), which is "
                        f"not a non-negative integer; {int(bad.sum())} such value(s)")
    return values


def _categorical_column(s: pd.Series, col: str, family: str) -> tuple[np.ndarray, tuple]:
    """Recode a categorical column to float codes 0..C-1 (NaN for missing)."""
    observed = s.dropna()
    _check_categories(s, observed, col, family)
    if isinstance(s.dtype, pd.CategoricalDtype):
        cats = [c for c in s.cat.categories if (observed == c).any()]
    else:
        uniq = pd.unique(observed)
        try:
            cats = sorted(uniq.tolist())
        except TypeError:
            raise DataError(f"indicator {col!r} mixes value types {sorted({type(u).__name__ for u in uniq})}") from None
    if family == "binary" and len(cats) > 2:
        raise DataError(
            f"binary indicator {col!r} has {len(cats)} distinct values {cats[:10]}; "
            "a binary item must have exactly two (declare it family='ordinal' for ordered categories)"
        )
    if family in ("ordinal", "nominal") and len(cats) > 50:
        raise DataError(f"{family} indicator {col!r} has {len(cats)} distinct values; is it continuous?")
    code = {c: float(i) for i, c in enumerate(cats)}
    values = s.map(code).to_numpy(dtype=float, na_value=np.nan)
    return values, tuple(cats)


# values that are neither numbers nor category labels (str / numbers); pandas would hash,
# sort or convert them silently (datetimes to nanoseconds, complex numbers to their real part)
_FORBIDDEN_KINDS = (list, tuple, dict, set, frozenset, bytes, bytearray, complex, np.complexfloating,
                    pd.Timestamp, pd.Timedelta, np.datetime64, np.timedelta64, pd.Interval, pd.Period)


def _check_value_kinds(s: pd.Series, col: str) -> None:
    """Refuse columns of complex numbers, dates / times, bytes or containers, naming the column and value."""
    import datetime

    dtype = s.dtype
    if pd.api.types.is_complex_dtype(dtype):
        raise DataError(f"column {col!r} holds complex numbers ({s.iloc[0]!r}); use its real values")
    if (pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype)
            or isinstance(dtype, (pd.PeriodDtype, pd.IntervalDtype))):
        raise DataError(f"column {col!r} holds dates or times (dtype {dtype}); convert it to numbers "
                        "(for example days since a reference date) or to category labels first")
    if dtype != object:
        return
    forbidden = _FORBIDDEN_KINDS + (datetime.date, datetime.time, datetime.timedelta)
    bad = s.map(lambda v: isinstance(v, forbidden))
    if bad.any():
        row = bad.index[np.flatnonzero(bad.to_numpy())[0]]
        value = s[bad].iloc[0]
        raise DataError(f"column {col!r} has value {value!r} of type {type(value).__name__} (row {row!r}); "
                        f"cells must hold numbers or text labels; {int(bad.sum())} such value(s)")


def _check_categories(s: pd.Series, observed: pd.Series, col: str, family: str) -> None:
    """Categorical items: no infinite values; an ordinal item's order must be known (numbers or an
    ordered ``pd.Categorical``): text sorts alphabetically ("high" < "low", "10" < "2")."""
    numeric = pd.to_numeric(observed, errors="coerce") if observed.dtype == object else observed
    if pd.api.types.is_numeric_dtype(numeric) and np.isinf(numeric.to_numpy(dtype=float, na_value=np.nan)).any():
        raise DataError(f"{family} indicator {col!r} has infinite values; code them as missing (NaN) or as a category")
    if family != "ordinal":
        return
    if isinstance(s.dtype, pd.CategoricalDtype):
        if s.cat.ordered or pd.api.types.is_numeric_dtype(s.cat.categories):
            return
        labels = list(s.cat.categories)
    elif pd.api.types.infer_dtype(observed, skipna=True) in ("integer", "floating", "mixed-integer-float",
                                                             "boolean", "decimal", "empty"):
        return
    else:
        labels = sorted(map(str, pd.unique(observed)))
    raise DataError(f"ordinal indicator {col!r} has text categories {labels[:10]} whose order is unknown; "
                    f"give the order with df[{col!r}] = pd.Categorical(df[{col!r}], categories=[...lowest to "
                    "highest...], ordered=True), or recode it to numbers")


def _check_cluster_id_types(cl: pd.Series, col: str) -> None:
    """Cluster ids must not mix numbers and text: 7 and "7" would become two clusters."""
    if cl.dtype != object:
        return
    kinds = {("text" if isinstance(v, str) else "number") for v in cl.dropna()}
    if len(kinds) > 1:
        first_text = next(v for v in cl.dropna() if isinstance(v, str))
        first_number = next(v for v in cl.dropna() if not isinstance(v, str))
        raise DataError(f"cluster column {col!r} mixes numbers and text ids (for example {first_number!r} and "
                        f"{first_text!r}); convert it to one type, e.g. df[{col!r}].astype(str)")


def to_input_rows(table: pd.DataFrame, input_index: pd.Index, kept) -> pd.DataFrame:
    """Rows of ``table`` (the rows used) placed at the input rows, NaN for rows left out.

    By label when the input index is unique, else by position with the data layer's ``kept`` mask
    (a duplicated index cannot be reindexed by label)."""
    if input_index.is_unique or kept is None or len(kept) != len(input_index):
        return table.reindex(input_index)
    out = pd.DataFrame(np.nan, index=pd.RangeIndex(len(input_index)), columns=table.columns)
    out.iloc[np.flatnonzero(kept)] = table.to_numpy()
    out.index = input_index
    return out
