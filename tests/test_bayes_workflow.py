"""The Bayesian workflow in PyMC / ArviZ terms (issue 13), on one sampled LSAT posterior.

The module fixture runs ``examples/bayes_workflow.py`` (K = 2 and K = 3, 2 chains x 300 draws),
so the example is tested by the same run. References: closed forms (softmax, inverse logit,
the Dirichlet mean), the plain-numpy LCA likelihood of ``reference_lca.py``, fixed-parameter ML
fits, and known label permutations.
"""

import sys
import warnings
from pathlib import Path

import arviz as az
import numpy as np
import pytest
import reference_lca as ref
from scipy import special

import mlmix_pymc as mm
from mlmix_pymc.estimate.relabel import permute_classes

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
import bayes_workflow  # noqa: E402

ITEMS = bayes_workflow.ITEMS


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    import matplotlib

    matplotlib.use("Agg")
    return bayes_workflow.main(out_dir=tmp_path_factory.mktemp("bayes_workflow"))


def test_example_writes_its_figures(run):
    assert set(run["figures"]) == {"trace", "ppc", "loo_pit", "ml_vs_bayes"}
    assert all(path.stat().st_size > 1000 for path in run["figures"].values())
    assert "class_proportions[1]" in run["summary"].index


def test_posterior_is_grouped_by_kind_with_each_free_parameter_once(run):
    model, idata = run["model"], run["idata"]
    post = idata.posterior
    assert set(post.data_vars) == {"class_logits", "thresholds", "class_proportions", "item_probabilities"}
    assert post["thresholds"].dims == ("chain", "draw", "item", "threshold", "class")
    assert list(post["item"].values) == ITEMS and list(post["class"].values) == [1, 2]
    assert post["class_logits"].dims == ("chain", "draw", "class_free")  # [c#2] = 0 is not drawn
    assert post["item_probabilities"].dims == ("chain", "draw", "item", "category", "class")
    assert post["class_logits"][0, 0].size + post["thresholds"][0, 0].size == model.n_free
    theta = idata.unconstrained_posterior["theta"]
    assert theta.dims == ("chain", "draw", "free_parameter") and theta.shape[-1] == model.n_free
    table = mm.parameter_table(idata)
    assert list(table["name"]) == model.parameter_names
    fixed = table.set_index("name").loc["[c#2]"]
    assert fixed["status"] == "fixed" and fixed["mean"] == 0.0
    assert (table["status"] == "free").sum() == model.n_free
    np.testing.assert_allclose(table.set_index("name").loc["item3$1|c#2", "mean"],
                               float(post["thresholds"].sel(item="item3", threshold=1, **{"class": 2}).mean()))
    obs = idata.observed_data["item1"]
    assert obs.dims == ("row",) and obs.dtype.kind == "i"


def test_posterior_keeps_pymc_sampling_metadata(run):
    """PyMC's posterior attributes (``sampling_time``, ``tuning_steps``) survive the restructuring."""
    post = run["idata"].posterior
    assert float(post.attrs["sampling_time"]) > 0
    assert int(post.attrs["tuning_steps"]) > 0
    assert run["idata"].unconstrained_posterior.attrs["sampling_time"] == post.attrs["sampling_time"]


def test_deterministics_are_the_transformed_parameters(run):
    post = run["idata"].posterior
    logit = post["class_logits"].values[..., 0]
    expected = special.softmax(np.stack([logit, np.zeros_like(logit)], axis=-1), axis=-1)
    np.testing.assert_allclose(post["class_proportions"].values, expected, atol=1e-12)
    tau = post["thresholds"].values[..., 0, :]  # (chain, draw, item, class)
    probs = post["item_probabilities"].values
    np.testing.assert_allclose(probs[..., 1, :], special.expit(-tau), atol=1e-12)  # P(u = 1 | c) = F(-tau), eq 1
    np.testing.assert_allclose(probs.sum(axis=3), 1.0, atol=1e-12)


def test_arviz_functions_run_without_warnings(run):
    idata = run["idata"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        summary = az.summary(idata)
        az.plot_trace(idata)
        loo = az.loo(idata)
        pit = az.loo_pit(idata, y="item1")
        az.plot_ppc(idata, var_names=["item1"], kind="scatter", num_pp_samples=20, random_seed=1)
        az.plot_ppc(idata, var_names=["item2"], num_pp_samples=20, random_seed=1)
    # warnings of the installed library versions about themselves (matplotlib / pandas deprecations) aside
    ours = [w for w in caught if not issubclass(w.category, (DeprecationWarning, FutureWarning))
            and "Deprecat" not in w.category.__name__]
    assert not ours, [str(w.message) for w in ours]
    assert len(summary) == 1 + 10 + 2 + 20 and summary["r_hat"].notna().all()
    assert np.isfinite(loo.elpd_loo) and (pit >= 0).all() and (pit <= 1).all()
    import matplotlib.pyplot as plt

    plt.close("all")


def test_loo_matches_the_ml_information_criterion(run):
    # elpd_loo ~ log L(ML) - (number of parameters) asymptotically (Stone 1977: LOO ~ AIC / -2)
    for model, ml, idata in ((run["model"], run["ml"], run["idata"]), (run["model3"], run["ml3"], run["idata3"])):
        assert abs(az.loo(idata).elpd_loo - (ml.loglik - model.n_free)) < 5.0
    assert set(run["ranking"].index) == {"K=2", "K=3"}


def test_posterior_predictive_has_one_integer_draw_per_posterior_draw(run):
    model, idata = run["model"], run["idata"]
    pred = idata.posterior_predictive["item1"]
    assert pred.dims == ("chain", "draw", "row") and pred.shape == (2, 300, model.data.n_obs)
    assert pred.dtype.kind == "i" and set(np.unique(pred.values)) <= {0, 1}
    np.testing.assert_array_equal(pred.draw.values, idata.posterior.draw.values)
    np.testing.assert_array_equal(pred.row.values, idata.observed_data.row.values)
    for item in ITEMS:  # replicated proportions scatter around the observed one
        rep = idata.posterior_predictive[item].mean("row").values.ravel()
        observed = float(idata.observed_data[item].mean())
        assert abs(rep.mean() - observed) < 3 * rep.std()


def test_ppp_accepts_two_classes_and_rejects_independence(run):
    assert 0.05 < run["ppp"]["ppp"] < 0.95 and run["ppp"]["exact"]
    model1 = mm.lca(mm.datasets.load_lsat(), ITEMS, 1)
    ml1 = model1.fit(seed=1)
    # draws of the 1-class model's large-sample posterior N(ML, SE^2) (its thresholds are theta itself)
    free = (ml1.parameters.status == "free").to_numpy()
    rng = np.random.default_rng(1)
    theta = ml1.theta + ml1.se[free] * rng.standard_normal((2, 25, model1.n_free))
    draws = az.from_dict(posterior={"theta": theta}, dims={"theta": ["free_parameter"]},
                         coords={"free_parameter": model1.free_parameter_names})
    idata1 = mm.align_draws(model1, draws, ml1)
    exact = mm.posterior_predictive_pvalue(model1, idata1, n_draws=None, seed=1)
    assert exact["exact"] and exact["ppp"] < 0.05
    # the expected tables by simulation (the route of any model) give the same verdict
    simulated = mm.posterior_predictive_pvalue(model1, idata1, statistic="patterns", n_draws=10, n_expected=4,
                                               seed=1, exact=False)
    assert not simulated["exact"] and simulated["ppp"] < 0.05


def test_compare_ml_bayes_and_mismatched_objects(run):
    ml, ml3, idata = run["ml"], run["ml3"], run["idata"]
    table = mm.compare_ml_bayes(ml, idata).table
    assert len(table) == run["model"].n_free
    with pytest.raises(mm.SpecificationError, match="different models"):
        mm.compare_ml_bayes(ml3, idata)
    with pytest.raises(mm.SpecificationError, match="first argument must be an ML result"):
        mm.compare_ml_bayes(idata, ml)
    with pytest.warns(DeprecationWarning, match="compare_ml_bayes"):
        old = mm.compare(ml, idata)
    np.testing.assert_allclose(old.table["posterior_mean"], table["posterior_mean"])


def test_to_pymc_composes_with_pymc(run):
    import pymc as pm

    model, ml, idata = run["model"], run["ml"], run["idata"]
    pm_model = model.to_pymc(ml_result=ml)
    sub = az.InferenceData(posterior=idata.unconstrained_posterior.isel(draw=slice(0, 5)))
    pred = pm.sample_posterior_predictive(sub, model=pm_model, progressbar=False, random_seed=1)
    responses = pred.posterior_predictive["responses"]
    assert responses.dims == ("chain", "draw", "row", "item") and responses.shape == (2, 5, 1000, 5)
    assert set(np.unique(responses.values)) <= {0, 1}
    loglik = pm.compute_log_likelihood(sub, model=pm_model, progressbar=False).log_likelihood["responses"]
    assert loglik.shape == (2, 5, 1000)
    y = np.column_stack([model.data.indicators[it].values for it in ITEMS])
    for c, d in ((0, 0), (1, 4)):  # the plain-numpy LCA likelihood of every row
        t = sub.posterior["theta"].values[c, d]
        pi = special.softmax([t[0], 0.0])
        probs = special.expit(-t[1:].reshape(2, 5))  # thresholds [class, item] in theta order
        rows = special.logsumexp(ref.log_joint(ref.pack(pi, probs), y, 2), axis=1)
        np.testing.assert_allclose(loglik.values[c, d], rows, atol=1e-8)
    prior = pm.sample_prior_predictive(10, model=pm_model, random_seed=1)
    assert prior.prior_predictive["responses"].shape == (1, 10, 1000, 5)


def test_find_map_on_to_pymc_reaches_ml(run):
    import pymc as pm

    model, ml = run["model"], run["ml"]
    assert abs(run["map_loglik"] - ml.loglik) < 1e-3  # from ML + 0.2 (the example)
    pm_model = model.to_pymc(priors="flat", ml_result=ml)
    np.testing.assert_allclose(pm_model.initial_point()["theta"], ml.theta)  # started in the ML labelling
    rng = np.random.default_rng(3)
    with pm_model:
        mode = pm.find_MAP(start={"theta": ml.theta + rng.normal(0, 0.5, model.n_free)}, progressbar=False)
    assert abs(model.loglik(mode["theta"]) - ml.loglik) < 1e-3
    # without an ML result: from the optimizer's deterministic start, not the symmetric saddle theta = 0
    pm_model = model.to_pymc(priors="flat")
    np.testing.assert_allclose(pm_model.initial_point()["theta"], model.theta_from_values({}))
    with pm_model:
        mode = pm.find_MAP(progressbar=False)
    assert abs(model.loglik(mode["theta"]) - ml.loglik) < 1e-3
    with model.to_pymc(priors="flat", start=None):  # PyMC's own initial point: the saddle, where MAP stops
        saddle = pm.find_MAP(progressbar=False)
    assert model.loglik(saddle["theta"]) < ml.loglik - 10


def test_align_draws_undoes_known_permutations(run):
    model, ml, idata = run["model"], run["ml"], run["idata"]
    layout = model.structure.layout
    theta = idata.unconstrained_posterior["theta"].isel(draw=slice(0, 40))
    swapped = theta.values.copy()
    for c in range(2):
        for d in range(0, 40, 2):  # every other draw in the other labelling
            phi = permute_classes(model.structure, layout.natural(swapped[c, d]), {"c": np.array([1, 0])})
            swapped[c, d] = layout.theta_from_natural(phi)
    raw = az.InferenceData(posterior=theta.copy(data=swapped).to_dataset(name="theta"))
    aligned = mm.align_draws(model, raw, ml)
    assert aligned.attrs["n_relabelled"] == 40
    np.testing.assert_allclose(aligned.unconstrained_posterior["theta"].values, theta.values, atol=1e-8)
    np.testing.assert_allclose(aligned.posterior["class_proportions"].values,
                               idata.posterior["class_proportions"].isel(draw=slice(0, 40)).values, atol=1e-8)
    assert aligned.log_likelihood["loglik"].shape == (2, 40, 1000)


def test_dirichlet_and_beta_priors_with_huge_concentration_fix_the_parameters(run):
    import pymc as pm

    data, ml = mm.datasets.load_lsat(), run["ml"]
    model = run["model"]
    # Dirichlet(1e6 * (0.6, 0.4)) on the class proportions: the MAP is the ML fit with [c#1] = log(0.6 / 0.4)
    vague = {"threshold": (0.0, 1e3)}
    pm_model = model.to_pymc(priors={"class proportions": ("dirichlet", [6e5, 4e5]), **vague}, ml_result=ml)
    with pm_model:
        mode = pm.find_MAP(progressbar=False)
    fixed = mm.lca(data, ITEMS, 2, fixed={"[c#1]": float(np.log(1.5))}).fit(seed=1, se=None)
    np.testing.assert_allclose(mode["class_proportions"], [0.6, 0.4], atol=1e-4)
    np.testing.assert_allclose(mode["theta"], fixed.theta if len(fixed.theta) == model.n_free else
                               np.r_[np.log(1.5), fixed.theta], atol=2e-2)
    prior = pm.sample_prior_predictive(200, model=pm_model, var_names=["class_proportions"], random_seed=1).prior
    np.testing.assert_allclose(prior["class_proportions"].mean(("chain", "draw")), [0.6, 0.4], atol=1e-3)
    # Beta on every P(u = 1 | c), concentrated at q: the MAP class logit is the ML fit with all thresholds fixed
    q = np.round(special.expit(-ml.theta[1:]), 2)  # thresholds' order = the binary_threshold coordinate
    names = model.free_parameter_names[1:]
    beta = ("beta", 1e6 * q, 1e6 * (1 - q))
    pm_model = model.to_pymc(priors={"item probabilities": beta, "intercept": (0.0, 1e3)}, ml_result=ml)
    assert list(pm_model.coords["binary_threshold"]) == names
    with pm_model:
        mode = pm.find_MAP(progressbar=False)
    fixed = mm.lca(data, ITEMS, 2, fixed=dict(zip(names, -special.logit(q)))).fit(seed=1, se=None, reorder=False)
    np.testing.assert_allclose(mode["item_probabilities_binary"], q, atol=1e-4)
    np.testing.assert_allclose(mode["theta"][0], fixed.theta[0], atol=2e-2)
