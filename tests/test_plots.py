"""mlmix_pymc.plots: every plot writes a non-blank PNG, and the plotted numbers are the result's
own tables (line data == item_probabilities, heatmap == transition table, bars == icc()), and
where a closed form exists, against it (eq 4 curve == the graph's P(C | x_i); posterior bands ==
quantiles of expit(-tau) of the draws)."""

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import special

import mlmix_pymc as mm
from mlmix_pymc import plots
from mlmix_pymc.errors import SpecificationError

from simdata import simulate_categorical

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _check_png(ax, path):
    """Save the axes' figure; the file must be a PNG whose pixels are not all one colour."""
    ax.figure.savefig(path, dpi=60)
    plt.close(ax.figure)
    raw = path.read_bytes()
    assert raw[:8] == PNG_MAGIC
    pixels = matplotlib.image.imread(path)
    assert pixels.ndim == 3 and pixels.shape[0] > 50 and pixels.shape[1] > 50
    assert np.unique(pixels.reshape(-1, pixels.shape[-1]), axis=0).shape[0] > 10  # something was drawn


@pytest.fixture(scope="module")
def lta_result(lta_fit):
    """Two-class LTA (4 binary items per time, covariate x on C1; ``conftest.lta_fit``)."""
    return lta_fit[1]


def test_profile_lines_are_the_item_probabilities(lta_result, tmp_path):
    probs = lta_result.item_probabilities()
    ax = plots.profile(lta_result)  # c1's binary items: P(y = 1) per class
    lines = ax.get_lines()
    assert len(lines) == 2
    for c, line in zip((1, 2), lines):
        expected = probs.query("class_var == 'c1' and category == 1 and `class` == @c")["probability"]
        np.testing.assert_allclose(line.get_ydata(), expected, rtol=0, atol=1e-12)
        assert line.get_label().startswith(f"c1#{c} (")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["u1", "u2", "u3", "u4"]
    _check_png(ax, tmp_path / "profile.png")
    with pytest.raises(SpecificationError, match="category=7"):
        plots.profile(lta_result, category=7)
    with pytest.raises(SpecificationError, match="no class-specific means"):
        plots.profile(lta_result, kind="mean")


def test_profile_of_a_polytomous_item_shows_its_categories(mixed_result, tmp_path):
    """Binary items: P(y = 1); the 3-category ordinal item: every category (or the one asked for)."""
    probs = mixed_result.item_probabilities()
    ax = plots.profile(mixed_result)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["u1=1", "u2=1", "u3=1", "u4=0", "u4=1", "u4=2"]
    for c, line in zip((1, 2), ax.get_lines()):
        rows = probs[probs["class"] == c]
        expected = [rows.query("item == @it and category == 1")["probability"].item() for it in ("u1", "u2", "u3")]
        expected += list(rows[rows["item"] == "u4"]["probability"])
        np.testing.assert_allclose(line.get_ydata(), expected, rtol=0, atol=1e-12)
    _check_png(ax, tmp_path / "profile_polytomous.png")
    ax = plots.profile(mixed_result, category=2)  # only the ordinal item has a category 2
    assert [t.get_text() for t in ax.get_xticklabels()] == ["u4=2"]
    np.testing.assert_allclose(ax.get_lines()[1].get_ydata(),
                               probs.query("category == 2 and `class` == 2")["probability"])
    plt.close(ax.figure)
    ax = plots.profile(mixed_result, category="all")
    assert len(ax.get_lines()[0].get_ydata()) == 3 * 2 + 3
    plt.close(ax.figure)


def test_profile_posterior_bands_are_quantiles_of_the_draws(lta_result, tmp_path):
    """A posterior over phi (draws around the estimates) as InferenceData: the line is the mean and the
    band the 2.5% / 97.5% quantiles of P(u1 = 1 | c1#k) = expit(-tau) (the logit threshold, eq 1)."""
    import arviz as az

    from mlmix_pymc.bayes.sampling import _variables, structured_posterior
    from mlmix_pymc.bayes.layout import store_map

    model, layout = lta_result.model, lta_result.structure.layout
    names = layout.names
    rng = np.random.default_rng(0)
    theta = np.asarray(lta_result.theta) + rng.normal(scale=0.2, size=(2, 50, len(lta_result.theta)))
    draws = layout.natural(theta.reshape(100, -1)).reshape(2, 50, -1)
    idata = az.InferenceData(posterior=structured_posterior(model, theta))  # as Model.sample lays it out
    store_map(idata, model.structure, _variables(model))
    ax = plots.profile(lta_result, idata=idata)
    for k, line in enumerate(ax.get_lines()):
        tau = draws[..., names.index(f"u1$1|c1#{k + 1}")].ravel()
        p = special.expit(-tau)
        assert line.get_ydata()[0] == pytest.approx(p.mean(), abs=1e-12)
        band = ax.collections[k].get_paths()[0].vertices
        at_u1 = band[np.isclose(band[:, 0], 0.0), 1]
        assert at_u1.min() == pytest.approx(np.quantile(p, 0.025), abs=1e-12)
        assert at_u1.max() == pytest.approx(np.quantile(p, 0.975), abs=1e-12)
    _check_png(ax, tmp_path / "profile_bayes.png")
    other = az.from_dict(posterior={"phi": draws[..., :5]})
    with pytest.raises(SpecificationError, match="different models"):
        plots.profile(lta_result, idata=other)


def test_class_probability_curve_is_the_multinomial_logit(lta_result, tmp_path):
    """The eq-4 curve over x, evaluated at the observed x_i, equals the graph's P(C1 | x_i) (result.prior)."""
    from mlmix_pymc.graph.likelihood import marginal_class_probs

    x = lta_result.model.data.covariates[:, 0]
    ax = plots.class_probabilities(lta_result, "x", values=np.sort(x), observed=False)
    prior = marginal_class_probs(lta_result.structure, lta_result.prior, "c1")[np.argsort(x)]
    for k, line in enumerate(ax.get_lines()):
        np.testing.assert_allclose(line.get_ydata(), prior[:, k], atol=1e-10)
    plt.close(ax.figure)
    ax = plots.class_probabilities(lta_result, "x")
    assert len(ax.get_lines()[0].get_xdata()) == 101 and len(ax.collections) == 2  # curves + observed rows
    _check_png(ax, tmp_path / "class_probabilities.png")
    with pytest.raises(SpecificationError, match="does not predict"):
        plots.class_probabilities(lta_result, "u1")
    with pytest.raises(SpecificationError, match="depends on 'c1'"):
        plots.class_probabilities(lta_result, "x", class_var="c2")


def test_transition_heatmap_is_the_transition_table(lta_result, tmp_path):
    table = lta_result.transition_probabilities("c2")
    ax = plots.transitions(lta_result)
    np.testing.assert_array_equal(ax.images[0].get_array(), table.to_numpy())
    assert [t.get_text() for t in ax.texts] == [f"{p:.3f}" for p in table.to_numpy().ravel()]
    np.testing.assert_allclose(table.sum(axis=1), 1.0)
    _check_png(ax, tmp_path / "transitions.png")


@pytest.fixture(scope="module")
def gom_result(gom_two_class_fit):
    """Two-class logistic-normal GoM with its nested LCA and SEs (``conftest.gom_two_class_fit``)."""
    return gom_two_class_fit


def test_profile_scatter_and_icc_bars(gom_result, tmp_path):
    table = gom_result.profile_comparison()
    ax = plots.profile_scatter(gom_result, cls=1)
    np.testing.assert_allclose(ax.collections[0].get_offsets(), table[table["class"] == 1][["lca", "gom"]])
    _check_png(ax, tmp_path / "profile_scatter.png")
    ax = plots.profile_scatter(gom_result.lca, gom_result, cls=2)  # an LCA given explicitly
    np.testing.assert_allclose(ax.collections[0].get_offsets(), table[table["class"] == 2][["lca", "gom"]])
    plt.close(ax.figure)
    icc = gom_result.icc()
    ax = plots.icc(gom_result)
    bars = ax.patches
    np.testing.assert_allclose([b.get_height() for b in bars], icc["icc"])
    segments = ax.collections[0].get_segments()
    np.testing.assert_allclose([s[:, 1].min() for s in segments], icc["lower"])
    np.testing.assert_allclose([s[:, 1].max() for s in segments], icc["upper"])
    _check_png(ax, tmp_path / "icc.png")


@pytest.fixture(scope="module")
def between_result():
    """Within class C depending on a between class D with a cluster covariate (eq 16-17, 24-26),
    the spec and data of ``test_within_between.py`` (30 clusters of 5), so the graph is shared."""
    from test_within_between import _data

    spec = mm.ModelSpec(
        class_variables=(mm.ClassVariable("cb", 2, level="between", covariates=("w",)),
                         mm.ClassVariable("c", 2, depends_on="cb")),
        indicators=tuple(mm.Indicator(f"u{p}", class_variable="c") for p in range(1, 5))
        + (mm.Indicator("y", "normal", class_variable="cb"),),
        cluster="school")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mm.from_spec(spec, _data()).fit(starts=(3, 1), seed=3, se=None)


@pytest.fixture(scope="module")
def mixed_result():
    """Single-level two-class LCA, 200 rows: u1-u3 binary, u4 ordinal with 3 categories."""
    rng = np.random.default_rng(7)
    c = (rng.uniform(size=200) > 0.5).astype(int)
    tau = np.array([[-1.5, -1.5, -1.0], [1.5, 1.0, 1.5]])[..., None]
    frame = pd.DataFrame(simulate_categorical(rng, c, tau), columns=["u1", "u2", "u3"])
    frame["u4"] = simulate_categorical(rng, c, np.array([[[-1.0, 0.5]], [[-0.5, 1.5]]]))[:, 0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mm.lca(frame, list(frame.columns), 2, family={"u4": "ordinal"}).fit(starts=(2, 1), seed=1, se=None)


def test_between_class_displays(between_result, lta_result, tmp_path):
    rows = between_result.posterior_probabilities()
    clusters = between_result.between_posterior_probabilities()
    ml = clusters["most_likely_cb"].reindex(between_result.model.frame["school"]).to_numpy()
    ax = plots.between_classes(between_result)
    bars = ax.patches  # class c=1 bars (one per between class), then c=2 stacked on them
    for d in (1, 2):
        mean = rows.loc[ml == d, ["c=1", "c=2"]].mean().to_numpy()
        assert bars[d - 1].get_height() == pytest.approx(mean[0])
        assert bars[2 + d - 1].get_height() == pytest.approx(mean[1])
        assert bars[2 + d - 1].get_y() == pytest.approx(mean[0])
    _check_png(ax, tmp_path / "between.png")
    ax = plots.between_classes(between_result, kind="clusters")
    heights = np.array([b.get_height() for b in ax.patches]).reshape(2, -1)
    np.testing.assert_allclose(heights.sum(axis=0), 1.0)
    np.testing.assert_allclose(np.sort(heights[0]), np.sort(clusters["cb=1"]))
    _check_png(ax, tmp_path / "between_clusters.png")
    with pytest.raises(SpecificationError, match="no between-level class variable"):
        plots.between_classes(lta_result)


@pytest.mark.slow
def test_class_probability_against_a_random_intercept_and_class_logit_iccs(two_level_lta_fit, tmp_path):
    """Figures 2-3: P(C1 = k | alpha_1) over alpha_1 / SD = expit(+-([c1#1] + SD z)) (eq 10), with
    [c1#1] and var(c1#1) of the parameter table; ICC bars == icc() of the class-logit intercepts."""
    res = two_level_lta_fit
    est = res.parameters.set_index("name")["estimate"]
    ax = plots.class_probabilities(res, "c1#1")
    z = ax.get_lines()[0].get_xdata()
    assert z.min() == -3 and z.max() == 3
    p1 = special.expit(est["[c1#1]"] + np.sqrt(est["var(c1#1)"]) * z)
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), p1, atol=1e-12)
    np.testing.assert_allclose(ax.get_lines()[1].get_ydata(), 1 - p1, atol=1e-12)
    _check_png(ax, tmp_path / "fig2.png")
    icc = res.icc()
    assert set(icc["effect"]) == {"c1#1", "c2#1"}
    ax = plots.icc(res)
    np.testing.assert_allclose([b.get_height() for b in ax.patches], icc["icc"])
    v = icc["variance"].to_numpy()
    np.testing.assert_allclose(icc["icc"], v / (v + np.pi**2 / 3))  # eq 20
    _check_png(ax, tmp_path / "icc_class_logits.png")
    with pytest.raises(SpecificationError, match="choose one of"):
        plots.class_probabilities(res, "nothere")
