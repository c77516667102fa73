"""Absolute fit on the LSAT data against a hand computation from the fitted pattern probabilities.

P(y) = sum_k pi_k prod_p p_kp^y (1 - p_kp)^(1 - y) is computed in numpy from the reported class
proportions and item probabilities for all 32 patterns; X2, G2, df and the TECH10 bivariate
residuals follow from the formulas.
"""

import itertools
import warnings

import numpy as np
import pytest

import mlmix_pymc as mm
from mlmix_pymc.errors import SpecificationError

from conftest import LSAT_ITEMS


@pytest.fixture(scope="module")
def fitted(lsat):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mm.lca(lsat, LSAT_ITEMS, 2).fit(starts=(10, 3), seed=1, se=None)


def _hand_pattern_probs(res):
    pi = res.class_proportions()["model_estimated"].to_numpy()
    tab = res.item_probabilities()
    p1 = tab[tab["category"] == 1].pivot(index="class", columns="item", values="probability")[LSAT_ITEMS].to_numpy()
    patterns = np.array(list(itertools.product([0, 1], repeat=len(LSAT_ITEMS))))
    cond = np.prod(np.where(patterns[:, None, :] == 1, p1[None], 1 - p1[None]), axis=2)  # (32, K)
    return patterns, cond @ pi


def test_x2_g2_and_df_equal_the_hand_computation(lsat, fitted):
    patterns, prob = _hand_pattern_probs(fitted)
    assert prob.sum() == pytest.approx(1.0, abs=1e-12)
    y = lsat[LSAT_ITEMS].to_numpy()
    n = len(y)
    observed = np.array([np.sum((y == pat).all(axis=1)) for pat in patterns])
    expected = n * prob
    x2 = np.sum((observed - expected) ** 2 / expected)
    pos = observed > 0
    g2 = 2 * np.sum(observed[pos] * np.log(observed[pos] / expected[pos]))
    fit = fitted.absolute_fit()
    assert fit["X2"] == pytest.approx(x2, rel=1e-9)
    assert fit["G2"] == pytest.approx(g2, rel=1e-9)
    assert fit["df"] == 32 - 1 - 11
    assert fit["n_observed_patterns"] == int(pos.sum())


def test_pattern_table_expected_counts(lsat, fitted):
    patterns, prob = _hand_pattern_probs(fitted)
    table = fitted.pattern_table()
    lookup = {tuple(p): q for p, q in zip(patterns.tolist(), prob)}
    for _, row in table.iterrows():
        key = tuple(int(row[it]) for it in LSAT_ITEMS)
        assert row["expected"] == pytest.approx(len(lsat) * lookup[key], rel=1e-9)
        assert row["observed"] == int((lsat[LSAT_ITEMS].to_numpy() == key).all(axis=1).sum())
    assert table["observed"].sum() == len(lsat)


def test_bivariate_residuals_equal_the_hand_computation(lsat, fitted):
    patterns, prob = _hand_pattern_probs(fitted)
    y = lsat[LSAT_ITEMS].to_numpy()
    n = len(y)
    cells, pairs = fitted.bivariate_residuals()
    assert len(cells) == 10 * 4 and len(pairs) == 10
    for _, row in cells.iterrows():
        a, b = LSAT_ITEMS.index(row["item_a"]), LSAT_ITEMS.index(row["item_b"])
        m, l = int(row["category_a"]), int(row["category_b"])
        e = n * prob[(patterns[:, a] == m) & (patterns[:, b] == l)].sum()
        o = np.sum((y[:, a] == m) & (y[:, b] == l))
        assert row["observed"] == o
        assert row["expected"] == pytest.approx(e, rel=1e-9)
        assert row["z"] == pytest.approx((o - e) / np.sqrt(e * (1 - e / n)), rel=1e-7, abs=1e-9)
    first = cells[(cells["item_a"] == "item1") & (cells["item_b"] == "item2")]
    o, e = first["observed"].to_numpy(float), first["expected"].to_numpy(float)
    assert pairs.iloc[0]["pearson_x2"] == pytest.approx(np.sum((o - e) ** 2 / e), rel=1e-9)
    assert pairs.iloc[0]["lr_g2"] == pytest.approx(2 * np.sum(o * np.log(o / e)), rel=1e-9)


def test_absolute_fit_refuses_models_with_covariates(lsat):
    df = lsat.assign(x=np.linspace(-1, 1, len(lsat)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = mm.lca(df, LSAT_ITEMS, 2, covariates=["x"]).fit(starts=(2, 1), seed=1, se=None)
    with pytest.raises(SpecificationError, match="no covariates"):
        res.absolute_fit()
