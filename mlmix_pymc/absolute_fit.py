"""Absolute fit for categorical items: Pearson X2 and G2, the pattern table, bivariate residuals (TECH10).

For N rows with response patterns y and model pattern probabilities P(y) (the fitted
likelihood of a row, classes and factors integrated out):

    G2 = 2 sum_obs O_y log(O_y / E_y),   X2 = sum_all (O_y - E_y)^2 / E_y,   E_y = N P(y),
    df = (number of possible patterns - 1) - number of free parameters

(the unobserved patterns add sum E_y = N - sum_obs E_y to X2, so X2 needs no enumeration of
them). Bivariate residuals compare, for every pair of items (a, b) and categories (m, l), the
observed count with E = N P(y_a = m, y_b = l); the model probability of a pair is the
likelihood of a row on which only a and b are observed (the other items drop out, which
integrates them out exactly), evaluated with the fitted model's compiled graph
(``engine/reuse.py``). Standardized residual z = (O - E) / sqrt(E (1 - E / N)); per pair
the bivariate Pearson and likelihood ratio chi-squares, as Mplus's TECH10.

Available for single-level models with only categorical items, no covariates and complete
data (``patterns_allow``).
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
from scipy import stats

from .errors import SpecificationError
from .families import family_of


def patterns_allow(result) -> bool:
    """True when the absolute fit statistics apply (see module doc)."""
    st = result.structure
    if st.is_two_level or st.covariate_names or result.model is None:
        return False
    data = result.model.data
    for ind in result.model.spec.indicators:
        iv = data.indicators[ind.name]
        if family_of(ind.family).data_kind != "categorical" or np.isnan(iv.values).any():
            return False
    return True


def _check(result):
    if not patterns_allow(result):
        raise SpecificationError("absolute fit (X2, G2, bivariate residuals) needs a single-level model with only "
                                 "categorical items, no covariates and no missing item values")


def _codes(result) -> tuple[list[str], np.ndarray, list[int]]:
    items = [ind.name for ind in result.model.spec.indicators]
    data = result.model.data
    y = np.column_stack([data.indicators[it].values for it in items]).astype(int)
    return items, y, [data.indicators[it].n_categories for it in items]


def _pattern_logprob(result) -> np.ndarray:
    """log P(y_i) of every row used in the fit."""
    objective = result.model.compile(**result.integration_settings)
    objective.adapt(result.theta)
    return np.asarray(objective.pointwise_loglik(result.theta))


def pattern_table(result) -> pd.DataFrame:
    """Observed response patterns with observed and expected counts and (O - E) / sqrt(E), most frequent first."""
    _check(result)
    items, y, _ = _codes(result)
    logp = _pattern_logprob(result)
    patterns, first, counts = np.unique(y, axis=0, return_index=True, return_counts=True)
    expected = result.n_obs * np.exp(logp[first])
    data = result.model.data
    table = pd.DataFrame({it: [data.indicators[it].categories[c] for c in patterns[:, p]]
                          for p, it in enumerate(items)})
    table["observed"] = counts
    table["expected"] = expected
    table["std_residual"] = (counts - expected) / np.sqrt(expected)
    return table.sort_values("observed", ascending=False, kind="stable").reset_index(drop=True)


def chi_square_fit(result) -> dict:
    """Pearson X2 and likelihood ratio G2 with df and p-values (see module doc)."""
    _check(result)
    table = pattern_table(result)
    n = result.n_obs
    o, e = table["observed"].to_numpy(float), table["expected"].to_numpy(float)
    x2 = float(np.sum((o - e) ** 2 / e) + max(n - e.sum(), 0.0))
    g2 = float(2 * np.sum(o * np.log(o / e)))
    _, _, cats = _codes(result)
    n_cells = float(np.prod(np.array(cats, dtype=float)))
    df = n_cells - 1 - result.n_params
    p = (lambda s: float(stats.chi2.sf(s, df)) if df > 0 else float("nan"))
    return {"X2": x2, "X2_p": p(x2), "G2": g2, "G2_p": p(g2), "df": df, "n_cells": n_cells,
            "n_observed_patterns": len(table)}


def bivariate_residuals(result) -> tuple[pd.DataFrame, pd.DataFrame]:
    """TECH10: per item pair and categories the observed and expected counts and the standardized
    residual; and per pair the bivariate Pearson and likelihood ratio chi-squares.

    Returns ``(cells, pairs)``.
    """
    from .engine.reuse import objective_for_frame

    _check(result)
    items, y, cats = _codes(result)
    n = result.n_obs
    cells = []
    for a, b in itertools.combinations(range(len(items)), 2):
        for m in range(cats[a]):
            for l in range(cats[b]):
                cells.append((a, b, m, l))
    frame = pd.DataFrame(np.nan, index=np.arange(len(cells)), columns=items)
    for r, (a, b, m, l) in enumerate(cells):
        frame.iloc[r, a], frame.iloc[r, b] = m, l
    objective, _ = objective_for_frame(result.model, frame, result.integration_settings, coded=True)
    objective.adapt(result.theta)
    prob = np.exp(np.asarray(objective.pointwise_loglik(result.theta)))
    data = result.model.data
    rows = []
    for r, (a, b, m, l) in enumerate(cells):
        observed = int(np.sum((y[:, a] == m) & (y[:, b] == l)))
        expected = n * prob[r]
        rows.append({"item_a": items[a], "item_b": items[b], "category_a": data.indicators[items[a]].categories[m],
                     "category_b": data.indicators[items[b]].categories[l], "observed": observed,
                     "expected": expected, "z": (observed - expected) / np.sqrt(expected * (1 - expected / n))})
    table = pd.DataFrame(rows)
    o, e = table["observed"].to_numpy(float), table["expected"].to_numpy(float)
    table["pearson"] = (o - e) ** 2 / e
    table["lr"] = 2 * np.where(o > 0, o * np.log(np.where(o > 0, o, 1.0) / e), 0.0)
    pairs = table.groupby(["item_a", "item_b"], sort=False)[["pearson", "lr"]].sum().reset_index()
    pairs = pairs.rename(columns={"pearson": "pearson_x2", "lr": "lr_g2"})
    return table.drop(columns=["pearson", "lr"]), pairs
