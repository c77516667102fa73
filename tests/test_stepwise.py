"""Stepwise (3-step ML / BCH / naive, 2-step) estimates against StepMix on the same data and measurement model.

Both packages fit the step-1 LCA themselves; the test first checks that they reach the same
measurement optimum (item probabilities to 1e-5), then compares the structural estimates.
StepMix's multinomial logit has a free coefficient row per class: its differences from the
last class are our logits (last class the reference).
"""

import itertools
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import special

import mlmix_pymc as mm
from mlmix_pymc.errors import DataError, SpecificationError

stepmix = pytest.importorskip("stepmix.stepmix")

K, P = 3, 6
ITEMS = [f"u{j}" for j in range(P)]
TOL = 1e-3


def _simulate(seed=5, n=1500):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    logits = np.column_stack([0.5 + 1.0 * x, -0.3 - 0.8 * x, np.zeros(n)])
    cls = (rng.random(n)[:, None] > special.softmax(logits, axis=1).cumsum(1)).sum(1)
    pis = np.array([[.85, .8, .85, .8, .2, .2], [.2, .25, .8, .8, .8, .85], [.15, .2, .15, .2, .2, .25]])
    df = pd.DataFrame((rng.random((n, P)) < pis[cls]).astype(int), columns=ITEMS)
    df["x"] = x
    df["z"] = np.array([0.0, 1.0, 2.0])[cls] + rng.normal(size=n)
    df["zb"] = (rng.random(n) < np.array([0.2, 0.5, 0.8])[cls]).astype(int)
    return df


@pytest.fixture(scope="module")
def step1():
    df = _simulate()
    res = mm.lca(df, items=ITEMS, n_classes=K).fit(starts=(10, 3), seed=1)
    probs = res.item_probabilities().query("category == 1")
    return df, res, probs.pivot(index="class", columns="item", values="probability")[ITEMS].to_numpy()


def _stepmix(step1, structural, correction, column, n_steps=3, **structural_params):
    """StepMix's fit and its class permutation onto ours (checked: same measurement optimum)."""
    df, _, ours = step1
    model = stepmix.StepMix(n_components=K, measurement="binary", structural=structural, n_steps=n_steps,
                            correction=correction, assignment="modal", abs_tol=1e-13, max_iter=20000, n_init=5,
                            random_state=1, verbose=0, progress_bar=0, structural_params=structural_params or None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(df[ITEMS].to_numpy(), df[[column]].to_numpy())
    params = model.get_parameters()
    theirs = params["measurement"]["pis"]
    perm = list(min(itertools.permutations(range(K)), key=lambda p: np.abs(theirs[list(p)] - ours).sum()))
    assert np.abs(theirs[perm] - ours).max() < 1e-5  # the same measurement model
    return params["structural"], perm


def _logit_differences(beta, perm):
    beta = beta[perm]
    return (beta[:-1] - beta[-1]).ravel()  # rows [c#k], c#k ON x for k = 1..K-1


@pytest.mark.parametrize("correction", ["ML", "BCH", None])
def test_covariate_equals_stepmix(step1, correction):
    _, res, _ = step1
    # StepMix's Newton-Raphson takes max_iter steps per M-step: one for ML (inside EM), to convergence for BCH / naive
    structural, perm = _stepmix(step1, "covariate", correction, "x", method="newton-raphson",
                                max_iter=1 if correction == "ML" else 200, tol=1e-12)
    ours = mm.three_step(res, covariates=["x"], correction=(correction or "none").lower())
    assert list(ours.parameters.name) == ["[c#1]", "c#1 ON x", "[c#2]", "c#2 ON x"]
    np.testing.assert_allclose(ours.parameters.estimate, _logit_differences(structural["beta"], perm), atol=TOL)
    assert (ours.parameters.se > 0).all()
    html = ours._repr_html_()  # the notebook view: the same tables
    assert "STRUCTURAL MODEL" in html and "<td>c#1 ON x</td>" in html and f"{ours.loglik:.3f}" in html


def test_distal_ml_equals_stepmix(step1):
    """ML 3-step, class-specific variances, class proportions at step 1 (StepMix keeps them there)."""
    _, res, _ = step1
    structural, perm = _stepmix(step1, "gaussian_spherical", "ML", "z", reg_covar=0.0)
    ours = mm.three_step(res, distal=["z"], correction="ml", variance="free",
                         class_proportions="step1").parameters.set_index("name").estimate
    np.testing.assert_allclose([ours[f"[z]|c#{k}"] for k in (1, 2, 3)], structural["means"][perm].ravel(), atol=TOL)
    np.testing.assert_allclose([ours[f"var(z)|c#{k}"] for k in (1, 2, 3)],
                               structural["covariances"][perm].ravel(), atol=TOL)


def test_distal_bch_equals_stepmix(step1):
    _, res, _ = step1
    structural, perm = _stepmix(step1, "gaussian_unit", "BCH", "z")
    ours = mm.three_step(res, distal=["z"], correction="bch").parameters.set_index("name").estimate
    np.testing.assert_allclose([ours[f"[z]|c#{k}"] for k in (1, 2, 3)], structural["means"][perm].ravel(), atol=TOL)


def test_categorical_distal_ml_equals_stepmix(step1):
    _, res, _ = step1
    structural, perm = _stepmix(step1, "binary", "ML", "zb")
    ours = mm.three_step(res, distal=["zb"], distal_family="categorical", correction="ml",
                         class_proportions="step1").parameters.set_index("name").estimate
    p1 = special.expit([-ours[f"[zb#0]|c#{k}"] for k in (1, 2, 3)])  # logit of category 0 against 1
    np.testing.assert_allclose(p1, structural["pis"][perm].ravel(), atol=TOL)


def test_two_step_covariate_equals_stepmix(step1):
    _, res, _ = step1
    structural, perm = _stepmix(step1, "covariate", None, "x", n_steps=2, method="newton-raphson", max_iter=1)
    ours = mm.two_step(res, covariates=["x"])
    np.testing.assert_allclose(ours.parameters.estimate, _logit_differences(structural["beta"], perm), atol=TOL)


def test_classification_error_and_step1_uncertainty(step1):
    _, res, _ = step1
    plain = mm.three_step(res, covariates=["x"], correction="ml")
    d = plain.classification_error.to_numpy()
    np.testing.assert_allclose(d.sum(axis=1), 1.0)
    modal = np.eye(K)[res.posterior.argmax(axis=1)]
    np.testing.assert_allclose(d, (res.posterior.T @ modal) / res.posterior.sum(axis=0)[:, None])
    both = mm.three_step(res, covariates=["x"], correction="ml", step1_uncertainty=True)
    np.testing.assert_allclose(both.parameters.estimate, plain.parameters.estimate)
    assert (both.parameters.se >= plain.parameters.se - 1e-12).all()
    assert (both.parameters.se > plain.parameters.se).any()
    assert "step-1 entropy" in plain.summary()


def test_stepwise_errors(step1):
    df, res, _ = step1
    with pytest.raises(SpecificationError, match="correction='mlr'"):
        mm.three_step(res, covariates=["x"], correction="mlr")
    with pytest.raises(SpecificationError, match="covariates= and/or distal="):
        mm.three_step(res)
    with pytest.raises(DataError, match="'age' is not in the data"):
        mm.three_step(res, covariates=["age"])
    with pytest.raises(SpecificationError, match="indicators of the measurement model"):
        mm.three_step(res, distal=["u1"])
    with pytest.raises(DataError, match="non-numeric value 'high'"):
        mm.three_step(res, df.assign(x=df["x"].astype(object).where(df.index != 4, "high")), covariates=["x"])


def test_bch_without_a_positive_variance_is_an_estimation_error(step1):
    """A distal outcome driven by the items beyond the class breaks BCH's assumption: the BCH-weighted
    class variances come out negative, and three_step says so instead of diverging."""
    df, res, _ = step1
    rng = np.random.default_rng(0)
    driven = df.assign(zi=5.0 * df[ITEMS].sum(axis=1) + rng.normal(scale=0.1, size=len(df)))
    from mlmix_pymc.stepwise import _assign, classification_error

    post = res.posterior
    modal = _assign(post, "modal")
    b = modal @ np.linalg.pinv(classification_error(post, modal, np.ones(len(post))))
    z = driven["zi"].to_numpy()
    mu = (b * z[:, None]).sum(0) / b.sum(0)
    if ((b * (z[:, None] - mu) ** 2).sum(0) > 0).all():
        pytest.skip("these data give positive BCH variances")
    with pytest.raises(mm.EstimationError, match="distal outcome 'zi'.*BCH"):
        mm.three_step(res, driven, distal=["zi"], correction="bch", variance="free")
