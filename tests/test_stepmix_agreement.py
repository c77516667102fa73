"""Independent agreement with StepMix: same data, same number of classes, same best log-likelihood."""

import numpy as np
import pytest

import mlmix_pymc as mm

from simdata import draw_classes, frame, simulate_categorical

stepmix = pytest.importorskip("stepmix.stepmix")


def _stepmix_best_loglik(x, k, measurement, **params):
    model = stepmix.StepMix(n_components=k, measurement=measurement, n_init=10, max_iter=5000, abs_tol=1e-12,
                            random_state=1, verbose=0, progress_bar=0, measurement_params=params or None)
    model.fit(x)
    return model.score(x) * len(x)  # score() is the mean log-likelihood per row


def test_binary_lca_loglik_equals_stepmix():
    rng = np.random.default_rng(11)
    n, k = 1500, 3
    cls = draw_classes(rng, n, np.tile(np.log([0.5, 0.3, 0.2]), (n, 1)))
    tau = np.stack([np.linspace(-2, 1, 8), np.linspace(1, -1.5, 8), np.full(8, 1.5)])[..., None]
    df = frame(simulate_categorical(rng, cls, tau), "u")
    ours = mm.lca(df, items=list(df.columns), n_classes=k).fit(starts=(20, 5), seed=1, se=None)
    theirs = _stepmix_best_loglik(df.to_numpy(), k, "binary")
    assert ours.loglik == pytest.approx(theirs, abs=1e-3)


def test_latent_profile_loglik_equals_stepmix():
    rng = np.random.default_rng(12)
    n, k = 800, 3
    cls = draw_classes(rng, n, np.tile(np.log([0.45, 0.35, 0.2]), (n, 1)))
    means = np.array([[0.0, 0.0, 0.0, 0.0], [2.0, 1.5, -1.0, 0.5], [-1.5, 2.5, 1.0, -2.0]])
    sds = np.array([[1.0, 0.8, 1.2, 1.0], [0.7, 1.0, 0.9, 1.1], [1.0, 0.6, 1.0, 0.8]])
    df = frame(rng.normal(means[cls], sds[cls]), "y")
    ours = mm.lca(df, items=list(df.columns), n_classes=k, family="normal").fit(starts=(20, 5), seed=1, se=None)
    theirs = _stepmix_best_loglik(df.to_numpy(), k, "gaussian_diag", reg_covar=0.0)
    assert ours.loglik == pytest.approx(theirs, abs=1e-3)
