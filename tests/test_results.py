"""Result object: fit indices, tables, class order, warnings, JSON, robustness of the start loop."""

import json
import warnings

import numpy as np
import pandas as pd
import pytest

import mlmix_pymc as mm

from conftest import LSAT_ITEMS
from simdata import draw_classes, frame, simulate_categorical


@pytest.fixture(scope="module")
def lsat_fit():
    from mlmix_pymc.datasets import load_lsat

    df = load_lsat()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mm.lca(df, items=LSAT_ITEMS, n_classes=2).fit(starts=(20, 5), seed=1, se="mlr")


def test_fit_indices_follow_their_formulas(lsat_fit):
    r = lsat_fit
    k, n, ll = r.n_params, r.n_obs, r.loglik
    assert k == 11 and n == 1000
    assert r.aic == pytest.approx(-2 * ll + 2 * k)
    assert r.bic == pytest.approx(-2 * ll + k * np.log(n))
    assert r.abic == pytest.approx(-2 * ll + k * np.log((n + 2) / 24))
    post = r.posterior_probabilities()[["c=1", "c=2"]].to_numpy()
    ent = 1 + (post * np.log(post)).sum() / (n * np.log(2))
    assert r.entropy == pytest.approx(ent)


def test_class_order_rule_and_proportions(lsat_fit):
    props = lsat_fit.class_proportions()
    est = props["model_estimated"].to_numpy()
    assert np.all(np.diff(est) <= 0), "classes are ordered by decreasing model-estimated proportion"
    assert props["posterior"].sum() == pytest.approx(1.0)
    assert props["most_likely_count"].sum() == 1000


def test_item_probabilities_match_thresholds(lsat_fit):
    probs = lsat_fit.item_probabilities()
    table = lsat_fit.parameters.set_index("name")
    p1 = probs[(probs["item"] == "item3") & (probs["class"] == 2) & (probs["category"] == 1)]["probability"].item()
    assert p1 == pytest.approx(1 / (1 + np.exp(table.loc["item3$1|c#2", "estimate"])))


def test_average_posterior_table_rows_sum_to_one(lsat_fit):
    app = lsat_fit.average_posterior_probabilities()
    np.testing.assert_allclose(app.sum(axis=1), 1.0)


def test_to_dict_has_required_keys(lsat_fit):
    d = json.loads(lsat_fit.to_json())
    for key in ("loglik", "n_params", "aic", "bic", "abic", "entropy", "n_obs", "parameters"):
        assert key in d
    assert {"name", "estimate", "se"} <= set(d["parameters"][0])
    assert d["loglik"] == pytest.approx(lsat_fit.loglik)


def test_summary_reads_like_mplus(lsat_fit):
    text = lsat_fit.summary()
    for piece in ("Loglikelihood", "Bayesian (BIC)", "Entropy", "MODEL RESULTS", "RESULTS IN PROBABILITY SCALE",
                  "AVERAGE LATENT CLASS PROBABILITIES"):
        assert piece in text


def test_posteriors_aligned_to_input_index_with_dropped_rows():
    rng = np.random.default_rng(3)
    df = frame(rng.integers(0, 2, size=(200, 4)), "u")
    df.index = [f"r{i}" for i in range(200)]
    df["x"] = rng.normal(size=200)
    df.loc["r5", "x"] = np.nan
    with pytest.warns(UserWarning, match="1 row"):
        model = mm.lca(df, items=["u1", "u2", "u3", "u4"], n_classes=2, covariates=["x"])
    res = model.fit(starts=(4, 2), seed=1, se=None)
    post = res.posterior_probabilities()
    assert list(post.index) == list(df.index)
    assert post.loc["r5"].isna().all()
    assert post.drop(index="r5")[["c=1", "c=2"]].sum(axis=1).to_numpy() == pytest.approx(1.0)


def test_threshold_running_off_is_fixed_at_15_and_reported():
    """Class 1 answers item u1 always correctly, so its threshold runs to -infinity."""
    rng = np.random.default_rng(8)
    n = 600
    cls = draw_classes(rng, n, np.tile(np.log([0.6, 0.4]), (n, 1)))
    tau = np.array([[-3.0, -3.0, -3.0, -3.0, -3.0], [3.0, 3.0, 3.0, 3.0, 3.0]])[..., None]
    y = simulate_categorical(rng, cls, tau)
    y[cls == 0, 0] = 1
    df = frame(y, "u")
    with pytest.warns(UserWarning, match="fixed at \\+-15"):
        res = mm.lca(df, items=list(df.columns), n_classes=2).fit(starts=(10, 3), seed=1)
    table = res.parameters.set_index("name")
    assert table.loc["u1$1|c#1", "estimate"] == pytest.approx(-15.0)
    assert table.loc["u1$1|c#1", "status"] == "at bound"
    assert np.isnan(table.loc["u1$1|c#1", "se"])
    assert np.isfinite(table.loc["u2$1|c#1", "se"])
    assert "u1$1|c#1" in res.summary()


def test_singular_information_gives_nan_se_and_names_parameters():
    """Three classes from two binary items are not identified (8 parameters, 3 free cells)."""
    rng = np.random.default_rng(9)
    df = frame(rng.integers(0, 2, size=(300, 2)), "u")
    with pytest.warns(UserWarning, match="singular.*Parameters involved: \\[") as rec:
        res = mm.lca(df, items=["u1", "u2"], n_classes=3).fit(starts=(6, 2), seed=1)
    assert res.parameters["se"].isna().all()
    assert res.singular_parameters
    assert any("singular" in str(w.message) for w in rec)


def test_failed_start_is_recorded_not_fatal(monkeypatch):
    """A start whose likelihood is not finite is skipped; the run goes on."""
    from mlmix_pymc.estimate import optimize

    rng = np.random.default_rng(10)
    df = frame(rng.integers(0, 2, size=(300, 4)), "u")
    model = mm.lca(df, items=list(df.columns), n_classes=2)
    real = optimize.maximize
    calls = {"n": 0}

    def flaky(compiled, theta0, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] in (2, 5):
            raise optimize.NonFiniteLikelihood("log-likelihood or gradient is not finite")
        return real(compiled, theta0, *args, **kwargs)

    monkeypatch.setattr(optimize, "maximize", flaky)
    with pytest.warns(UserWarning, match="2 of 8 random start\\(s\\) failed"):
        res = model.fit(starts=(8, 3), seed=2, se=None)
    statuses = [r.status for r in res.starts.records]
    assert statuses.count("failed") == 2
    assert np.isfinite(res.loglik)


def test_not_replicated_warning():
    """With one completed start there is nothing to replicate: the summary says so."""
    rng = np.random.default_rng(11)
    df = frame(rng.integers(0, 2, size=(300, 6)), "u")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = mm.lca(df, items=list(df.columns), n_classes=3).fit(starts=(4, 1), seed=3, se=None)
    assert res.n_replicated == 1
    assert "not replicated" in res.summary()


def test_empty_class_is_flagged():
    """Class 3 is fixed to answer 0 to every item, but every row has at least one 1,
    so the class can explain no row and its proportion goes to 0."""
    rng = np.random.default_rng(12)
    n = 500
    cls = draw_classes(rng, n, np.tile(np.log([0.5, 0.5]), (n, 1)))
    tau = np.array([[-2.0] * 6, [2.0] * 6])[..., None]
    y = simulate_categorical(rng, cls, tau)
    y[y.sum(axis=1) == 0, 0] = 1
    df = frame(y, "u")
    fixed = {f"u{p}$1|c#3": 15.0 for p in range(1, 7)}
    with pytest.warns(UserWarning, match="empty or near-empty class\\(es\\) \\['c#3'\\]"):
        res = mm.lca(df, items=list(df.columns), n_classes=3, fixed=fixed).fit(starts=(6, 2), seed=1, se=None)
    assert res.empty_classes == ["c#3"]
    assert "empty or near-empty" in res.summary()


def test_user_start_values_are_used():
    rng = np.random.default_rng(13)
    df = frame(rng.integers(0, 2, size=(200, 4)), "u")
    model = mm.lca(df, items=list(df.columns), n_classes=1)
    with pytest.raises(mm.SpecificationError, match="unknown parameter 'u9\\$1\\|c#1'"):
        model.fit(start_values={"u9$1|c#1": 0.0})
    res = model.fit(starts=(0, 0), start_values={"u1$1|c#1": 0.3}, se=None)
    assert res.converged


def test_default_starts_follow_mplus():
    """As Mplus: no random starts for a model without latent classes (TYPE without MIXTURE), one
    deterministic start; (20, 5) random starts for a mixture. From its one start the LSAT 2PL
    reaches the published marginal ML (ltm's Bock-Aitkin fit of LSAT: log-likelihood -2466.653)."""
    from mlmix_pymc.datasets import load_lsat

    df = load_lsat()
    twopl = mm.irt(df, LSAT_ITEMS, model="2pl").fit(se=None)
    assert len(twopl.starts.records) == 1 and twopl.starts.records[0].status == "completed"
    assert twopl.loglik == pytest.approx(-2466.653, abs=2e-3)
    assert "Starts: one" in twopl.summary()
    lca = mm.lca(df, LSAT_ITEMS, 2).fit(se=None, seed=1)
    assert len(lca.starts.records) == 20
    assert mm.irt(df, LSAT_ITEMS, model="2pl").fit(starts=(4, 1), se=None, seed=1).starts.records.__len__() == 4
