"""Every user error in the data layer raises a clear exception naming the column, value or option."""

import numpy as np
import pandas as pd
import pytest

import mlmix_pymc as mm


@pytest.fixture
def df():
    rng = np.random.default_rng(0)
    d = pd.DataFrame(rng.integers(0, 2, size=(60, 4)), columns=["u1", "u2", "u3", "u4"])
    d["x"] = rng.normal(size=60)
    return d


def test_unknown_column(df):
    with pytest.raises(mm.DataError, match="column 'u9' is not in the data"):
        mm.lca(df, items=["u1", "u9"], n_classes=2)


def test_unknown_covariate_column(df):
    with pytest.raises(mm.DataError, match="column 'age' is not in the data"):
        mm.lca(df, items=["u1", "u2"], n_classes=2, covariates=["age"])


def test_non_numeric_covariate(df):
    df["x"] = df["x"].astype(object)
    df.loc[5, "x"] = "abc"
    with pytest.raises(mm.DataError, match="covariate column 'x' has non-numeric value 'abc'"):
        mm.lca(df, items=["u1", "u2", "u3"], n_classes=2, covariates=["x"])


def test_non_numeric_continuous_item(df):
    df["y"] = ["1.5"] * 59 + ["high"]
    with pytest.raises(mm.DataError, match="column 'y' has non-numeric value 'high'"):
        mm.lca(df, items=["y"], n_classes=1, family="normal")


def test_binary_item_with_three_values(df):
    df.loc[0, "u2"] = 2
    with pytest.raises(mm.DataError, match=r"binary indicator 'u2' has 3 distinct values \[0, 1, 2\]"):
        mm.lca(df, items=["u1", "u2"], n_classes=2)


def test_fewer_rows_than_parameters(df):
    with pytest.raises(mm.DataError, match="only 6 usable rows for 9 free parameters"):
        mm.lca(df.head(6), items=["u1", "u2", "u3", "u4"], n_classes=2)


def test_n_classes_below_one(df):
    with pytest.raises(mm.SpecificationError, match="n_classes"):
        mm.lca(df, items=["u1", "u2"], n_classes=0)


def test_duplicate_item_names(df):
    with pytest.raises(mm.SpecificationError, match="duplicate indicator name 'u1'"):
        mm.lca(df, items=["u1", "u1"], n_classes=2)


def test_items_given_as_string(df):
    with pytest.raises(mm.SpecificationError, match="list of column names"):
        mm.lca(df, items="u1", n_classes=2)


def test_missing_covariate_rows_are_dropped_with_count(df):
    df.loc[[3, 7, 11], "x"] = np.nan
    with pytest.warns(UserWarning, match="3 row"):
        model = mm.lca(df, items=["u1", "u2", "u3"], n_classes=2, covariates=["x"])
    assert model.data.n_obs == 57
    assert 7 not in model.data.index


def test_categories_are_recoded_and_mapping_kept():
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"a": rng.choice(["no", "yes"], 80), "b": rng.choice([3, 7], 80),
                       "c": rng.choice(["lo", "mid", "hi"], 80)})
    df["c"] = pd.Categorical(df["c"], categories=["lo", "mid", "hi"], ordered=True)
    model = mm.lca(df, items=["a", "b", "c"], n_classes=1, family={"a": "binary", "b": "binary", "c": "ordinal"})
    maps = model.data.category_maps
    assert maps["a"] == {"no": 0, "yes": 1}
    assert maps["b"] == {3: 0, 7: 1}
    assert maps["c"] == {"lo": 0, "mid": 1, "hi": 2}
    codes = model.data.indicators["c"].values
    np.testing.assert_array_equal(codes, df["c"].cat.codes.to_numpy().astype(float))


def test_unknown_constraint_name(df):
    with pytest.raises(mm.SpecificationError, match="unknown parameter 'tau'"):
        mm.lca(df, items=["u1", "u2"], n_classes=2, fixed={"tau": 1.0})


def test_bad_se_option(df):
    model = mm.lca(df, items=["u1", "u2", "u3"], n_classes=1)
    with pytest.raises(mm.SpecificationError, match="se='robust'"):
        model.fit(se="robust")


def test_bad_starts_option(df):
    model = mm.lca(df, items=["u1", "u2", "u3"], n_classes=2)
    with pytest.raises(mm.SpecificationError, match="starts=\\(2, 5\\)"):
        model.fit(starts=(2, 5))


def test_random_intercept_without_cluster_is_named(df):
    with pytest.raises(mm.SpecificationError, match="random_intercept of class variable 'c' needs a cluster"):
        mm.lca(df, items=["u1", "u2"], n_classes=2, random_intercept=True)


def test_cluster_covariate_varying_within_cluster_is_named(df):
    df["school"] = np.arange(60) // 6
    df["w"] = np.arange(60) % 2  # varies inside every school
    with pytest.raises(mm.DataError, match="cluster-level covariate 'w' varies within cluster 0"):
        mm.regression_mixture(df, "x", "u1", 2, cluster="school", class_level="between", class_covariates=["w"])


def test_unknown_integration_and_random_term(df):
    df["school"] = np.arange(60) // 6
    model = mm.regression_mixture(df, "x", "u1", 1, cluster="school", random=["intercept"])
    with pytest.raises(mm.SpecificationError, match="integration='gauss' is not one of"):
        model.fit(integration="gauss")
    with pytest.raises(mm.SpecificationError, match=r"random=\['slopes'\]"):
        mm.regression_mixture(df, "x", "u1", 1, cluster="school", random=["slopes"])
