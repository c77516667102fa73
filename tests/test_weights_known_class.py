"""Sampling weights and known classes, checked against replicated rows, a numpy sandwich and closed forms."""

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import special

import mlmix_pymc as mm
from mlmix_pymc.errors import DataError, SpecificationError

ITEMS = list("abcd")


def _data(seed=1, n=300):
    rng = np.random.default_rng(seed)
    cls = rng.integers(0, 2, n)
    p = np.where(cls[:, None] == 0, [0.8, 0.7, 0.8, 0.3], [0.2, 0.3, 0.2, 0.7])
    df = pd.DataFrame((rng.random((n, 4)) < p).astype(int), columns=ITEMS)
    df["w"] = rng.integers(1, 4, n)
    df["group"] = cls + 1
    df["x"] = rng.normal(size=n) + 0.8 * cls  # a covariate of the class (3-step)
    return df


@pytest.fixture(scope="module")
def data():
    return _data()


@pytest.fixture(scope="module")
def weighted_fit(data):
    return mm.lca(data, items=ITEMS, n_classes=2, weights="w").fit(starts=(5, 2), seed=1, se="mlr")


@pytest.fixture(scope="module")
def replicated_fit(data):
    replicated = data.loc[data.index.repeat(data["w"])].reset_index(drop=True)
    return replicated, mm.lca(replicated, items=ITEMS, n_classes=2).fit(starts=(5, 2), seed=1, se=None)


def _numpy_rows(phi_free: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-row LCA log-likelihood in plain numpy: phi = ([c#1], tau_p|c#1 (4), tau_p|c#2 (4)),
    P(y = 1 | c) = 1 / (1 + exp(tau)) (Mplus thresholds), last class logit 0."""
    log_prior = special.log_softmax(np.array([phi_free[0], 0.0]))
    tau = phi_free[1:].reshape(2, 4)
    p1 = special.expit(-tau)  # (K, P)
    logf = y @ np.log(p1).T + (1 - y) @ np.log1p(-p1).T  # (n, K)
    return special.logsumexp(logf + log_prior, axis=1)


def test_integer_weights_equal_replicated_rows(data, weighted_fit, replicated_fit):
    _, plain = replicated_fit
    # weights are normalized to sum to n (Mplus): the weighted log-likelihood is the replicated one times n / sum(w)
    scale = len(data) / data["w"].sum()
    assert weighted_fit.loglik == pytest.approx(plain.loglik * scale, abs=1e-6 * abs(plain.loglik))
    np.testing.assert_allclose(weighted_fit.phi, plain.phi, atol=1e-4)


def test_weighted_mlr_equals_numpy_sandwich(data, weighted_fit):
    table = weighted_fit.parameters
    free = table[table.status == "free"]
    assert list(free.name) == ["[c#1]"] + [f"{it}$1|c#{k}" for k in (1, 2) for it in ITEMS]
    theta = free.estimate.to_numpy()
    y = data[ITEMS].to_numpy(float)
    w = data["w"].to_numpy(float)
    w = w * len(w) / w.sum()
    assert w @ _numpy_rows(theta, y) == pytest.approx(weighted_fit.loglik, abs=1e-8)
    h = 1e-5
    eye = np.eye(len(theta)) * h
    scores = np.column_stack([(_numpy_rows(theta + e, y) - _numpy_rows(theta - e, y)) / (2 * h) for e in eye])
    grad = (lambda t: w @ np.column_stack([(_numpy_rows(t + e, y) - _numpy_rows(t - e, y)) / (2 * h)
                                            for e in eye]))
    # the outer difference with a larger step: its round-off (error of grad / step) stays ~1e-6 relative
    outer = np.eye(len(theta)) * 1e-3
    hess = np.column_stack([(grad(theta + e) - grad(theta - e)) / 2e-3 for e in outer])
    inv = np.linalg.inv(-(hess + hess.T) / 2)
    meat = (scores * w[:, None] ** 2).T @ scores  # sum_i w_i^2 s_i s_i'
    se = np.sqrt(np.diag(inv @ meat @ inv))
    np.testing.assert_allclose(free.se.to_numpy(), se, rtol=1e-4)


@pytest.mark.parametrize("value, message", [(-1.0, "negative"), (np.nan, "missing"), ("heavy", "non-numeric"),
                                            (np.inf, "infinite")])
def test_bad_weights_name_the_column(data, value, message):
    bad = data.copy()
    bad["w"] = bad["w"].astype(object)
    bad.loc[3, "w"] = value
    with pytest.raises(DataError, match=f"'w'.*{message}|{message}.*'w'"):
        mm.lca(bad, items=ITEMS, n_classes=2, weights="w")


def test_all_zero_weights_and_two_level_are_refused(data):
    zero = data.assign(w=0.0)
    with pytest.raises(DataError, match="'w' is zero on every row"):
        mm.lca(zero, items=ITEMS, n_classes=2, weights="w")
    with pytest.raises(DataError, match="'weight' is not in the data"):
        mm.lca(data, items=ITEMS, n_classes=2, weights="weight")
    with pytest.raises(SpecificationError, match="two-level"):
        mm.lca(data.assign(cl=data.index // 10), items=ITEMS, n_classes=2, weights="w", cluster="cl")


def test_spec_round_trip_keeps_weights_and_known_class():
    spec = mm.ModelSpec((mm.ClassVariable("c", 2),), tuple(mm.Indicator(it) for it in ITEMS),
                        weights="w", known_class="group")
    back = mm.ModelSpec.from_yaml(spec.to_yaml())
    assert back == spec
    assert "weights: w" in spec.to_yaml() and "known_class: group" in spec.to_yaml()


def test_known_class_for_every_row_is_the_closed_form(data):
    """Every class observed: the likelihood separates; proportions are the (weighted) group shares
    and item probabilities the (weighted) per-group item proportions."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = mm.lca(data, items=ITEMS, n_classes=2, known_class="group", weights="w").fit(
            starts=(3, 1), seed=2, se=None)
    w = data["w"].to_numpy(float)
    g = data["group"].to_numpy()
    share = np.array([w[g == k].sum() for k in (1, 2)]) / w.sum()
    logits = res.parameters.set_index("name").estimate
    np.testing.assert_allclose(special.softmax([logits["[c#1]"], 0.0]), share, atol=1e-5)
    probs = res.item_probabilities()
    for k in (1, 2):
        for it in ITEMS:
            sel = g == k
            expected = np.average(data.loc[sel, it], weights=w[sel])
            got = probs.query("item == @it and category == 1 and `class` == @k").probability.item()
            assert got == pytest.approx(expected, abs=1e-5)
    np.testing.assert_allclose(res.posterior[np.arange(len(g)), g - 1], 1.0)


def test_partly_known_classes_fix_those_rows(data):
    part = data.assign(group=data["group"].where(data.index % 3 == 0))  # a third of the classes observed
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = mm.lca(part, items=ITEMS, n_classes=2, known_class="group").fit(starts=(3, 1), seed=2, se=None)
    known = part["group"].notna().to_numpy()
    codes = part["group"].to_numpy()[known].astype(int) - 1
    np.testing.assert_allclose(res.posterior[known][np.arange(known.sum()), codes], 1.0)
    assert ((res.posterior[~known] > 1e-3) & (res.posterior[~known] < 1 - 1e-3)).any()


def test_bad_known_class_value(data):
    with pytest.raises(DataError, match="known_class column 'group' has value 3.0"):
        mm.lca(data.assign(group=data["group"] + 1), items=ITEMS, n_classes=2, known_class="group")


def test_weighted_three_step_equals_replicated_rows(weighted_fit, replicated_fit):
    """Step-1 weights enter the classification error and step 3: integer weights = replicated rows."""
    replicated, plain = replicated_fit
    for correction in ("ml", "bch"):
        ours = mm.three_step(weighted_fit, covariates=["x"], correction=correction)
        rep = mm.three_step(plain, replicated, covariates=["x"], correction=correction)
        np.testing.assert_allclose(ours.classification_error, rep.classification_error, atol=1e-5)
        np.testing.assert_allclose(ours.parameters.estimate, rep.parameters.estimate, atol=1e-4)


def test_multiple_group_mixture_through_a_known_class_variable(data):
    """Mplus KNOWNCLASS = g with c ON g: a class variable g observed on every row, c depending on it
    (group-specific class proportions, measurement equal across groups). The likelihood factorizes
    into P(g) and P(y | g), so P(g) is the closed form: the group shares."""
    spec = mm.ModelSpec((mm.ClassVariable("g", 2), mm.ClassVariable("c", 2, depends_on="g")),
                        tuple(mm.Indicator(it, class_variable="c") for it in ITEMS), known_class="site")
    sites = data.assign(site=np.where(data.index % 3 == 0, 1, 2))
    res = mm.from_spec(spec, sites).fit(starts=(5, 2), seed=1)
    est = res.parameters.set_index("name").estimate
    share = (sites["site"] == 1).mean()
    assert est["[g#1]"] == pytest.approx(np.log(share / (1 - share)), abs=1e-5)
    assert "c#1 ON g#1" in est.index  # group-specific class proportions


def test_predict_takes_the_new_rows_known_classes(data):
    """New rows: a known class gives that class with probability 1; an unknown one (missing, or
    no known_class column at all) Bayes' rule with the fitted proportions and item
    probabilities (numpy). Rows of other numbers of patterns than the training data."""
    part = data.assign(group=np.where(np.arange(len(data)) % 3 == 0, data["group"], np.nan))
    res = mm.lca(part, items=ITEMS, n_classes=2, known_class="group").fit(starts=(3, 1), seed=2, se=None)
    new = part.iloc[:40]
    pred = res.predict(new)[["c=1", "c=2"]].to_numpy()
    known = new["group"].to_numpy()
    rows = ~np.isnan(known)
    np.testing.assert_array_equal(pred[rows], np.eye(2)[known[rows].astype(int) - 1])
    props = res.class_proportions()["model_estimated"].to_numpy()
    table = res.item_probabilities()
    p1 = table[table["category"] == 1].pivot(index="class", columns="item", values="probability")[ITEMS].to_numpy()
    y = new[ITEMS].to_numpy(dtype=float)
    log_joint = np.log(props) + y @ np.log(p1).T + (1 - y) @ np.log1p(-p1).T
    bayes = np.exp(log_joint - special.logsumexp(log_joint, axis=1, keepdims=True))
    np.testing.assert_allclose(pred[~rows], bayes[~rows], atol=1e-6)
    np.testing.assert_allclose(res.predict(new.drop(columns="group"))[["c=1", "c=2"]], bayes, atol=1e-6)
