"""Chunks of rows (``engine/row_chunks.py``): a single-level model evaluated on chunks of rows
gives the numbers of plain numpy and of the one-call graph.

The chunk limit is lowered so that a few hundred rows make many chunks (the last one short
or, for JAX, padded). The references: a numpy LCA with a class-logit covariate, sampling
weights and partly known classes, written from eq 2-4 (log-likelihood, posteriors, per-row
scores and Hessian by central differences of that numpy function), and the one-call graph
for a factor mixture (whose numpy integral is tested against brute force in test_fma.py).
"""

import numpy as np
import pandas as pd
import pytest
from scipy import special

import mlmix_pymc as mm
from mlmix_pymc.engine import row_chunks

ITEMS = [f"u{p}" for p in range(1, 6)]


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(11)
    n = 300
    x = rng.normal(size=n)
    cls = np.where(rng.uniform(size=n) < special.expit(0.4 + 0.8 * x), 0, 1)
    probs = np.array([[0.85, 0.8, 0.75, 0.3, 0.2], [0.2, 0.3, 0.25, 0.7, 0.8]])
    y = (rng.uniform(size=(n, 5)) < probs[cls]).astype(float)
    y[rng.uniform(size=y.shape) < 0.08] = np.nan
    df = pd.DataFrame(y, columns=ITEMS)
    df["x"] = x
    df["w"] = rng.uniform(0.5, 2.0, size=n)
    df["known"] = np.where(rng.uniform(size=n) < 0.2, cls + 1, np.nan)
    return df


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunks of a few rows: 97 cells per call."""
    monkeypatch.setattr(row_chunks, "MAX_ROW_CHUNK_CELLS", 97)


def _theta():
    # free parameters in layout order: [c#1], c#1 ON x, u1..u5$1|c#1, u1..u5$1|c#2 (identity transforms)
    return np.array([0.3, 0.7, -1.4, -1.1, -0.9, 0.8, 1.2, 1.3, 0.9, 1.0, -0.7, -1.2])


def _numpy_rows(theta, df):
    """Per row: w_i log L_i and the class posteriors, from the formulas (threshold tau: P(u = 1) = 1 / (1 + e^tau))."""
    y = df[ITEMS].to_numpy()
    logits = np.column_stack([theta[0] + theta[1] * df["x"].to_numpy(), np.zeros(len(df))])
    log_prior = logits - special.logsumexp(logits, axis=1, keepdims=True)
    tau = theta[2:].reshape(2, 5)
    log_p1, log_p0 = -np.logaddexp(0, tau), -np.logaddexp(0, -tau)  # (K, P)
    obs = ~np.isnan(y)
    y0 = np.where(obs, y, 0.0)
    log_f = (y0 * obs) @ log_p1.T + ((1 - y0) * obs) @ log_p0.T
    joint = log_prior + log_f
    known = df["known"].to_numpy()  # a known class keeps only that class (Mplus KNOWNCLASS)
    off = ~np.isnan(known)[:, None] & (np.arange(1, 3)[None, :] != known[:, None])
    joint = np.where(off, -np.inf, joint)
    loglik = special.logsumexp(joint, axis=1)
    w = df["w"].to_numpy()
    w = w * len(w) / w.sum()  # sampling weights rescaled to sum to n (as Mplus does)
    return w * loglik, np.exp(joint - loglik[:, None])


def _numpy_scores(theta, df, h=1e-6):
    """(n, n_free) per-row central differences of the numpy w_i log L_i."""
    out = np.empty((len(df), len(theta)))
    for j in range(len(theta)):
        up, down = theta.copy(), theta.copy()
        up[j] += h
        down[j] -= h
        out[:, j] = (_numpy_rows(up, df)[0] - _numpy_rows(down, df)[0]) / (2 * h)
    return out


def _model(df):
    return mm.lca(df, ITEMS, 2, covariates=["x"], weights="w", known_class="known")


@pytest.mark.parametrize("backend", ["c", "jax"])
def test_chunked_lca_equals_numpy(data, small_chunks, backend):
    if backend == "jax":
        pytest.importorskip("jax")
    model = _model(data)
    objective = model.compile(backend=backend)
    chunks = objective._chunks
    assert chunks is not None and chunks.n_chunks > 5 and chunks.n_rows % chunks.length != 0
    theta = _theta()
    ll, grad = objective.loglik_grad(theta)
    weighted, posterior = _numpy_rows(theta, data)
    assert ll == pytest.approx(weighted.sum(), abs=1e-9)
    scores = _numpy_scores(theta, data)
    np.testing.assert_allclose(grad, scores.sum(axis=0), atol=1e-5)
    np.testing.assert_allclose(objective.class_probabilities(theta)[1], posterior, atol=1e-12)
    unweighted = _numpy_rows(theta, data.assign(w=1.0))[0]
    np.testing.assert_allclose(objective.pointwise_loglik(theta), unweighted, atol=1e-12)
    ours = objective.scores(theta)
    assert objective._score_chunks is not None and objective._score_chunks.n_chunks > chunks.n_chunks
    np.testing.assert_allclose(ours, scores, atol=1e-6)
    numeric = np.empty((len(theta), len(theta)))  # the Hessian: differences of the numpy gradient
    for j in range(len(theta)):
        step = np.zeros(len(theta))
        step[j] = 1e-4
        numeric[j] = (_numpy_scores(theta + step, data).sum(0) - _numpy_scores(theta - step, data).sum(0)) / 2e-4
    np.testing.assert_allclose(objective.hessian(theta), (numeric + numeric.T) / 2, atol=2e-3)


def test_chunked_fit_reaches_the_one_call_optimum_and_mlr_errors(data, monkeypatch):
    one_call = _model(data).fit(starts=(3, 1), seed=4, se="mlr")
    monkeypatch.setattr(row_chunks, "MAX_ROW_CHUNK_CELLS", 97)
    model = _model(data)
    chunked = model.fit(starts=(3, 1), seed=4, se="mlr")
    assert model.compile()._chunks is not None
    assert chunked.loglik == pytest.approx(one_call.loglik, abs=1e-8)
    np.testing.assert_allclose(chunked.parameters["se"], one_call.parameters["se"], rtol=1e-6)


def test_chunked_factor_mixture_equals_the_one_call_graph(data, small_chunks):
    """Fixed and adaptive factor nodes, per-row node terms and factor posteriors."""
    for kw in (dict(factor_points=7), dict(integration="adaptive", factor_points=5)):
        theta = np.random.default_rng(0).normal(scale=0.3, size=mm.fma(data, ITEMS, 2, 1).n_free)
        chunked = mm.fma(data, ITEMS, 2, 1).compile(**kw)
        assert chunked._chunks is not None and chunked._chunks.n_chunks > 5
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(row_chunks, "MAX_ROW_CHUNK_CELLS", 10**9)
            one_call = mm.fma(data, ITEMS, 2, 1).compile(**kw)
            assert one_call._chunks.n_chunks == 1  # C graphs take their rows as inputs: one chunk of all
            one_call.adapt(theta)
            expected = (one_call.loglik_grad(theta), one_call.scores(theta), one_call.factor_posterior(theta)[0])
        chunked.adapt(theta)
        ll, grad = chunked.loglik_grad(theta)
        assert ll == pytest.approx(expected[0][0], abs=1e-9)
        np.testing.assert_allclose(grad, expected[0][1], atol=1e-9)
        np.testing.assert_allclose(chunked.scores(theta), expected[1], atol=1e-9)
        np.testing.assert_allclose(chunked.factor_posterior(theta)[0], expected[2], atol=1e-12)


def test_chunk_lengths_are_nearly_equal_and_bounded():
    rng = np.random.default_rng(2)
    df = pd.DataFrame(rng.integers(0, 2, size=(1000, 8)), columns=[f"v{i}" for i in range(8)])
    df["x"] = rng.normal(size=1000)  # every row distinct
    structure = mm.lca(df, [f"v{i}" for i in range(8)], 3, covariates=["x"]).structure
    assert structure.n_patterns == 1000
    assert row_chunks.chunk_length(structure, 0, per_row=False, max_cells=3000) is None  # 1000 x 3 cells
    for max_cells, per_row in ((2999, False), (700, False), (50_000, True), (9, False)):
        length = row_chunks.chunk_length(structure, 0, per_row, max_cells)
        n_chunks = -(-1000 // length)
        assert length * row_chunks.cells_per_row(structure, 0, per_row) <= max(max_cells, 3)
        assert n_chunks * length - 1000 < n_chunks  # the last chunk is short by fewer rows than chunks


def test_distinct_rows_equal_numpy_unique():
    from mlmix_pymc.graph.structure import distinct_rows

    rng = np.random.default_rng(5)
    for shape, values in (((2000, 6), (0.0, 1.0)), ((500, 3), (-1.0, -0.0, 0.0, 2.5)), ((1, 4), (1.0,))):
        key = rng.choice(values, size=shape)
        _, first, inverse, counts = np.unique(key, axis=0, return_index=True, return_inverse=True,
                                              return_counts=True)
        ours = distinct_rows(key)
        np.testing.assert_array_equal(ours[0], first)
        np.testing.assert_array_equal(ours[1], inverse.reshape(-1))
        np.testing.assert_array_equal(ours[2], counts)


def test_distinct_rows_survive_hash_collisions(monkeypatch):
    """Every row hashed alike: the exact check sees it and numbers the rows by their bytes."""
    from mlmix_pymc.graph import structure

    monkeypatch.setattr(structure, "_row_hashes", lambda rows: np.zeros(len(rows), dtype=np.uint64))
    key = np.random.default_rng(6).choice([0.0, 1.0, -0.0], size=(300, 4))
    _, first, inverse, counts = np.unique(key, axis=0, return_index=True, return_inverse=True, return_counts=True)
    ours = structure.distinct_rows(key.copy())
    np.testing.assert_array_equal(ours[0], first)
    np.testing.assert_array_equal(ours[1], inverse.reshape(-1))
    np.testing.assert_array_equal(ours[2], counts)


def test_predict_on_new_rows_in_chunks_equals_numpy(data, monkeypatch):
    """``predict`` evaluates new data through the shared data-input graph, on chunks of rows too."""
    result = _model(data).fit(starts=(2, 1), seed=3, se=None)
    monkeypatch.setattr(row_chunks, "MAX_ROW_CHUNK_CELLS", 97)
    from mlmix_pymc.engine.reuse import objective_for_frame

    new = data.iloc[::2]
    objective, _ = objective_for_frame(result.model, new)
    assert objective._chunks.n_chunks > 1
    predicted = result.predict(new)[["c=1", "c=2"]].to_numpy()
    np.testing.assert_allclose(predicted, _numpy_rows(np.asarray(result.theta), new)[1], atol=1e-10)
