"""Bayesian estimation on the ML graph: MAP / Laplace, NUTS with label alignment, ArviZ output."""

import warnings

import numpy as np
import pandas as pd
import pytest
from reference_twolevel import simulate_lca, simulate_ri_logistic

import mlmix_pymc as mm
from mlmix_pymc.bayes.align import align_draws
from mlmix_pymc.estimate.relabel import permute_classes

ITEMS = ["item1", "item2", "item3", "item4", "item5"]


@pytest.fixture(scope="module")
def lsat_model():
    model = mm.lca(mm.datasets.load_lsat(), items=ITEMS, n_classes=2)
    return model, model.fit(seed=1)


def test_map_with_flat_priors_equals_ml(lsat_model):
    model, ml = lsat_model
    res = model.fit(method="map", priors="flat", seed=1)
    assert res.method == "map" and res.loglik == pytest.approx(ml.loglik, abs=1e-4)
    np.testing.assert_allclose(res.phi, ml.phi, atol=1e-3)


def test_map_with_flat_priors_equals_ml_two_level():
    df = simulate_ri_logistic(40, 8, -0.5, 1.0, 1.0, seed=4)
    model = mm.regression_mixture(df, "y", "x", 1, cluster="cluster", random=["intercept"], family="binary")
    ml = model.fit(integration="adaptive", points=7, starts=(0, 0))
    res = model.fit(method="map", priors="flat", integration="adaptive", points=7, starts=(0, 0))
    assert res.loglik == pytest.approx(ml.loglik, abs=1e-4)


def test_the_old_method_name_laplace_names_map_laplace(lsat):
    """method="laplace" was renamed "map-laplace" (not integration="laplace"): an error, not a silent fit."""
    model = mm.lca(lsat, [f"item{i}" for i in range(1, 6)], n_classes=2)
    with pytest.raises(mm.SpecificationError, match="method='map-laplace'"):
        model.fit(method="laplace")


def test_map_laplace_with_vague_priors_gives_ml_standard_errors(lsat_model):
    model, ml = lsat_model
    vague = {g: (0.0, 1e4) for g in ("threshold", "intercept")}
    res = model.fit(method="map-laplace", priors=vague, seed=1)
    free = ml.parameters.status == "free"
    np.testing.assert_allclose(res.se[free], ml.se[free], rtol=1e-2)
    default = model.fit(method="map-laplace", seed=1)  # the default priors pull the estimates a little
    assert default.loglik < ml.loglik and np.isfinite(default.se[free]).all()


def test_align_draws_undoes_a_permutation(lsat_model):
    model, ml = lsat_model
    swapped = permute_classes(model.structure, ml.phi, {"c": np.array([1, 0])})
    assert not np.allclose(swapped, ml.phi)
    aligned, n = align_draws(model.structure, np.vstack([ml.phi, swapped]), ml.phi)
    assert n == 1
    np.testing.assert_allclose(aligned, np.vstack([ml.phi, ml.phi]), atol=1e-12)


def test_missing_sampler_extra_is_named(lsat_model):
    model, ml = lsat_model
    for sampler, extra in (("nutpie", "nutpie"), ("numpyro", "numpyro")):
        try:
            __import__(sampler)
        except ImportError:
            with pytest.raises(mm.SpecificationError, match=rf"pip install 'mlmix-pymc\[{extra}\]'"):
                model.sample(sampler=sampler, ml_result=ml)
    with pytest.raises(mm.SpecificationError, match="sampler='stan' is not one of"):
        model.sample(sampler="stan", ml_result=ml)


def _check_posterior(idata, ml, max_rhat=1.01):
    import arviz as az

    free = (ml.parameters.status == "free").to_numpy()
    rhat = az.rhat(mm.parameter_draws(idata).isel(parameter=np.flatnonzero(free)).to_dataset(name="phi"))["phi"].values
    assert rhat.max() <= max_rhat, dict(zip(ml.parameters.name[free], rhat))
    assert int(idata.sample_stats.diverging.sum()) == 0
    phi = mm.parameter_draws(idata).values.reshape(-1, len(ml.phi))[:, free]
    z = np.abs(phi.mean(axis=0) - ml.phi[free]) / phi.std(axis=0)
    assert z.max() < 2.0, dict(zip(ml.parameters.name[free], z))
    loo = az.loo(idata)
    assert np.isfinite(loo.elpd_loo)


@pytest.fixture(scope="module")
def lsat_idata(lsat_model):
    model, ml = lsat_model
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.sample(draws=3000, tune=1000, chains=4, seed=3, ml_result=ml, cores=2)


@pytest.mark.slow
def test_demo_lca_nuts_converges_near_ml(lsat_model, lsat_idata):
    _, ml = lsat_model
    _check_posterior(lsat_idata, ml)
    assert lsat_idata.log_likelihood["loglik"].shape[-1] == 1000  # one column per respondent
    assert set(lsat_idata.observed_data.data_vars) == set(ITEMS)


@pytest.mark.slow
def test_compare_table_and_posterior_outputs(lsat_model, lsat_idata):
    model, ml = lsat_model
    cmp = mm.compare_ml_bayes(ml, lsat_idata)
    assert list(cmp.table.columns) == ["parameter", "ml_estimate", "ml_se", "posterior_mean", "posterior_sd",
                                       "lower", "upper", "r_hat", "ess_bulk"]
    assert len(cmp.table) == model.n_free
    assert cmp.loglik_ml == pytest.approx(ml.loglik) and cmp.loglik_posterior_mean <= ml.loglik + 1e-6
    ax = cmp.plot()
    assert len(ax.get_yticklabels()) == model.n_free
    mm.add_posterior_predictive(model, lsat_idata, n_draws=40, seed=1)
    pred = lsat_idata.posterior_predictive["item1"]
    assert pred.shape == (4, 10, 1000) and set(np.unique(pred.values)) <= {0.0, 1.0}
    probs = mm.posterior_class_probabilities(model, lsat_idata, n_draws=40)
    np.testing.assert_allclose(probs[["c=1", "c=2"]].sum(axis=1), 1.0)


@pytest.mark.slow
def test_two_level_lca_nuts_converges_near_ml():
    df = simulate_lca(60, 8, seed=7, var_c=1.5)
    items = [c for c in df.columns if c.startswith("u")]
    model = mm.lca(df, items, 2, cluster="cluster", random_intercept=True)
    ml = model.fit(integration="gauss-hermite", points=15, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        idata = model.sample(draws=1000, tune=1000, chains=4, seed=2, ml_result=ml, cores=2,
                             integration="gauss-hermite", points=15)
    _check_posterior(idata, ml)
    assert idata.log_likelihood["loglik"].shape[-1] == 60  # one column per cluster


@pytest.mark.slow
def test_chains_started_from_permuted_labels_are_aligned(lsat_model):
    model, ml = lsat_model
    layout = model.structure.layout
    swapped = layout.theta_from_natural(permute_classes(model.structure, ml.phi, {"c": np.array([1, 0])}))
    starts = [ml.theta, swapped, ml.theta, swapped]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        idata = model.sample(draws=800, tune=800, chains=4, seed=5, init=starts, ml_result=ml, cores=2)
    assert idata.attrs["n_relabelled"] >= 800  # (at least) the two swapped chains were relabelled
    free = (ml.parameters.status == "free").to_numpy()
    phi = mm.parameter_draws(idata).values[..., free]  # (chain, draw, parameter)
    chain_means, sd = phi.mean(axis=1), phi.reshape(-1, free.sum()).std(axis=0)
    # one mode: every chain centres on the same value (the swapped modes differ by several sd)
    assert (np.ptp(chain_means, axis=0) / sd).max() < 0.5
    start_gap = np.abs(ml.phi - layout.natural(swapped))[free] / sd
    assert start_gap.max() > 2.0


@pytest.mark.slow
def test_explicit_and_integrated_random_effects_give_one_posterior():
    """Non-centred per-cluster effects sampled by NUTS vs the same effects integrated by quadrature."""
    df = simulate_ri_logistic(40, 8, -0.5, 1.0, 1.0, seed=4)
    model = mm.regression_mixture(df, "y", "x", 1, cluster="cluster", random=["intercept"], family="binary")
    ml = model.fit(integration="adaptive", points=7, starts=(0, 0))
    summaries = {}
    for how in ("integrated", "explicit"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            idata = model.sample(draws=1000, tune=1000, chains=4, seed=2, ml_result=ml, cores=2,
                                 random_effects=how, integration="gauss-hermite", points=20)
        assert int(idata.sample_stats.diverging.sum()) == 0
        phi = mm.parameter_draws(idata).values.reshape(-1, len(ml.phi))[:, 1:]
        summaries[how] = (phi.mean(axis=0), phi.std(axis=0))
    (m1, s1), (m2, _) = summaries["integrated"], summaries["explicit"]
    assert (np.abs(m1 - m2) / s1).max() < 0.15  # equal up to Monte Carlo error
    assert "z" in model.to_pymc(random_effects="explicit").named_vars


@pytest.mark.parametrize("sampler", ["nutpie", "numpyro"])
def test_optional_samplers_start_at_ml_and_align(lsat_model, sampler):
    pytest.importorskip(sampler)  # optional extras, not installed by `make test`
    model, ml = lsat_model
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        idata = model.sample(draws=300, tune=300, chains=2, seed=1, ml_result=ml, sampler=sampler,
                             progressbar=False, cores=2)
    phi = mm.parameter_draws(idata).values.reshape(-1, len(ml.phi))
    free = (ml.parameters.status == "free").to_numpy()
    assert (np.abs(phi.mean(axis=0) - ml.phi)[free] / phi.std(axis=0)[free]).max() < 2.0


@pytest.mark.slow
def test_factor_model_nuts_converges_near_ml():
    """1-class factor mixture (a 2PL): factor integrated by the ML rule inside the graph, reflections aligned.

    (A 2-class version of this test reached r_hat 1.03-1.22 for [c#1] and thresholds with
    1500-2500 draws: not yet a CI check; see the issue note.)"""
    import reference_fma as ref

    rng = np.random.default_rng(12)
    tau = np.array([[-1.5, -1.0, -1.0, -0.5, -1.5], [1.5, 2.0, 1.5, 1.0, 1.0]])
    lam = np.array([[1.5, 1.0, 1.2, 0.8, 1.3]] * 2)
    Y, _, _ = ref.simulate_fma(rng, 1000, tau[:1], lam[:1], np.array([0.0]))
    df = pd.DataFrame(Y, columns=[f"y{p + 1}" for p in range(5)])
    model = mm.fma(df, list(df.columns), 1)
    ml = model.fit(seed=1, points=21)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        idata = model.sample(draws=1500, tune=1000, chains=4, seed=4, ml_result=ml, cores=2)
    _check_posterior(idata, ml)
