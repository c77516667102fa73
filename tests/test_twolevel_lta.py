"""Two-level latent transition analysis (sections 3-4): random intercepts on both class logits.

The reference is a brute-force numpy sum over (C1, C2) and a 2-D Gauss-Hermite product grid
with 60 x 60 nodes, written here independently of the package.
"""

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, log_softmax, logsumexp

import mlmix_pymc as mm


def _data(seed=3, n_clusters=40, size=6):
    rng = np.random.default_rng(seed)
    cluster = np.repeat(np.arange(n_clusters), size)
    a1 = rng.normal(0, 1.0, n_clusters)[cluster]
    a2 = rng.normal(0, 0.7, n_clusters)[cluster]
    c1 = (rng.random(len(cluster)) > expit(0.2 + a1)).astype(int)  # 0 = class 1
    c2 = np.where(c1 == 0, rng.random(len(cluster)) > expit(1.5 + a2), rng.random(len(cluster)) > expit(-1.0 + a2))
    probs = np.array([[0.85, 0.8, 0.75], [0.2, 0.25, 0.15]])
    df = pd.DataFrame({"school": cluster})
    for t, cls in enumerate([c1, c2.astype(int)]):
        for p in range(3):
            df[f"u{p + 1}t{t + 1}"] = (rng.random(len(cluster)) < probs[cls, p]).astype(float)
    return df


def _bruteforce(df, v, var1, var2, cov, nodes=60):
    """log L with the two class-logit random intercepts integrated on a 60 x 60 GH grid."""
    x, w = np.polynomial.hermite.hermgauss(nodes)
    z = np.sqrt(2) * x
    logw = np.log(w / np.sqrt(np.pi))
    chol = np.linalg.cholesky(np.array([[var1, cov], [cov, var2]]))
    z1, z2 = np.meshgrid(z, z, indexing="ij")
    b = np.stack([z1.ravel(), z2.ravel()], axis=1) @ chol.T  # (Q, 2)
    lw = (logw[:, None] + logw[None, :]).ravel()
    total = 0.0
    for _, rows in df.groupby("school"):
        logf = np.zeros((len(rows), 2, 2))  # (i, c1, c2)
        for t in range(2):
            for p in range(3):
                y = rows[f"u{p + 1}t{t + 1}"].to_numpy()
                for k in range(2):
                    pk = expit(-v[f"u{p + 1}t1$1|c1#{k + 1}"])  # time-invariant measurement
                    term = y * np.log(pk) + (1 - y) * np.log1p(-pk)
                    logf[:, k, :] += term[:, None] if t == 0 else 0
                    logf[:, :, k] += term[:, None] if t == 1 else 0
        # priors at every node: (Q, c1) and (Q, c1, c2)
        l1 = np.stack([v["[c1#1]"] + b[:, 0], np.zeros(len(b))], axis=1)
        lp1 = log_softmax(l1, axis=1)
        l2 = np.zeros((len(b), 2, 2))
        for d in range(2):
            l2[:, d, 0] = v["[c2#1]"] + (v["c2#1 ON c1#1"] if d == 0 else 0.0) + b[:, 1]
        lp2 = log_softmax(l2, axis=2)
        joint = lp1[:, None, :, None] + lp2[:, None, :, :] + logf[None, :, :, :]  # (Q, i, c1, c2)
        per_node = logsumexp(joint.reshape(len(b), len(rows), 4), axis=2).sum(axis=1)
        total += logsumexp(lw + per_node)
    return total


def test_two_level_lta_likelihood_equals_bruteforce():
    df = _data()
    items = [[f"u{p}t{t}" for p in range(1, 4)] for t in (1, 2)]
    model = mm.lta(df, items, 2, cluster="school", random_intercept=True)
    assert "cov(c2#1,c1#1)" in model.parameter_names
    v = {"[c1#1]": 0.2, "[c2#1]": -1.0, "c2#1 ON c1#1": 2.5, "var(c1#1)": 1.1, "var(c2#1)": 0.6,
         "cov(c2#1,c1#1)": 0.3}
    for p, (t1, t2) in enumerate([(-1.7, 1.4), (-1.4, 1.1), (-1.1, 1.7)]):
        v[f"u{p + 1}t1$1|c1#1"], v[f"u{p + 1}t1$1|c1#2"] = t1, t2
        v[f"u{p + 1}t2$1|c2#1"], v[f"u{p + 1}t2$1|c2#2"] = t1, t2
    reference = _bruteforce(df, v, 1.1, 0.6, 0.3)
    assert model.loglik(v, "gauss-hermite", 40) == pytest.approx(reference, abs=1e-6)
    assert model.loglik(v, "adaptive", 7) == pytest.approx(reference, abs=2e-3)


@pytest.mark.slow
def test_two_level_lta_fits_and_reports_transitions(two_level_lta_fit):
    res = two_level_lta_fit  # 80 clusters of 8, adaptive 5 points, MLR (conftest.py)
    table = res.transition_probabilities("c2")
    assert table.shape == (2, 2) and np.allclose(table.sum(axis=1), 1.0)
    est = dict(zip(res.parameters.name, res.parameters.estimate))
    assert 0.05 < est["var(c1#1)"] < 5.0
    assert res.converged
