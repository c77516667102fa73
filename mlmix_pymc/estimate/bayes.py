"""Bayesian estimation on the same graph: a ``pm.Model``, NUTS samplers, ArviZ output.

``to_pymc`` wraps the very likelihood expression ML maximizes (``graph/likelihood.py`` or
``graph/cluster_likelihood.py``) in a ``pm.Potential``; the free vector ``theta`` gets the
priors of ``priors.py`` and the reported parameters are a ``phi`` deterministic with the
ML table's names as coordinates. Cluster random effects are either

* ``"integrated"``: summed out by the ML quadrature with nodes fixed in the graph
  (``integration``/``points``; ``"adaptive"`` fixes the nodes adapted at the ML estimate), or
* ``"explicit"``: standard-normal ``z`` per cluster, non-centred (b_j = B b_j + Gamma x_j +
  L z_j); the same graph is evaluated with one node per cluster at z_j.

``sample`` starts the chains from the (jittered) ML solution, aligns the labels of every
draw (``align.py``), and returns ``InferenceData`` with ``posterior`` (``theta``, aligned
``phi``), ``sample_stats``, ``observed_data`` and a ``log_likelihood`` group per cluster
(per row for single-level models), so ``az.loo`` / ``az.compare`` work.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..errors import SpecificationError
from .align import align_draws
from .priors import make_prior

SAMPLERS = ("pymc", "nutpie", "numpyro")
RANDOM_EFFECTS = ("integrated", "explicit")
_EXTRA = {"nutpie": ("nutpie", "nutpie"), "numpyro": ("numpyro", "numpyro")}


def to_pymc(model, priors=None, random_effects: str = "integrated", integration: str = "gauss-hermite",
            points: int = 15, ml_result=None):
    """A ``pm.Model`` of ``model`` (see the module docstring); parameters named as in ML."""
    import pymc as pm

    if random_effects not in RANDOM_EFFECTS:
        raise SpecificationError(f"random_effects={random_effects!r} is not one of {RANDOM_EFFECTS}")
    structure = model.structure
    layout = structure.layout
    prior = make_prior(structure, model.data, priors)
    if prior.beta is not None:
        raise SpecificationError("Beta priors on guessing logits are available for method='map' only; give the "
                                 "'item logit' group a normal (mean, sd) prior for sampling")
    coords = {"free_parameter": layout.free_names, "parameter": layout.names}
    with pm.Model(coords=coords) as pm_model:
        if prior.flat:
            theta = pm.Flat("theta", dims="free_parameter")
        else:
            theta = pm.Normal("theta", mu=prior.mean, sigma=prior.sd, dims="free_parameter")
        pm.Deterministic("phi", layout.symbolic_reported(theta), dims="parameter")
        # integration / points choose the cluster integration; a single-level model keeps its fit's factor rule
        if random_effects == "explicit" and structure.is_gom:  # per-person memberships on the simplex
            _explicit_memberships(pm_model, structure, theta)
            return pm_model
        objective = model.compile(integration, points) if structure.is_two_level else model.compile()
        z = None
        if random_effects == "explicit" and objective.dim:
            pm_model.add_coord("cluster", np.arange(objective.n_clusters))
            pm_model.add_coord("effect", [e.name for e in structure.between_model.effects])
            z = pm.Normal("z", 0.0, 1.0, dims=("cluster", "effect"))
        total = objective.symbolic_total(theta, z, None if ml_result is None else ml_result.theta)
        pm.Potential("loglik", total)
    return pm_model


def _explicit_memberships(pm_model, structure, theta) -> None:
    """Dirichlet GoM with explicit memberships (Erosheva): g_j ~ Dirichlet(alpha) per person on PyMC's
    simplex transform, the items' classes summed out (``gom_likelihood.explicit_membership_loglik``)."""
    import pymc as pm

    from ..graph.gom_likelihood import explicit_membership_loglik

    memb = structure.membership
    if memb.kind != "dirichlet":
        raise SpecificationError("random_effects='explicit' in a grade-of-membership model needs "
                                 "membership='dirichlet'; logistic-normal memberships are sampled integrated")
    phi = structure.layout.symbolic_natural(theta[None, :])
    pm_model.add_coord("person", np.arange(len(structure.row_pattern)))
    pm_model.add_coord("profile", [f"{memb.class_var}#{k + 1}" for k in range(memb.n_classes)])
    g = pm.Dirichlet("g", a=phi[0, memb.alpha], dims=("person", "profile"))
    pm.Potential("loglik", explicit_membership_loglik(structure, phi, g))


def _check_sampler(sampler: str) -> None:
    if sampler not in SAMPLERS:
        raise SpecificationError(f"sampler={sampler!r} is not one of {SAMPLERS}")
    if sampler in _EXTRA:
        module, extra = _EXTRA[sampler]
        try:
            __import__(module)
        except ImportError:
            raise SpecificationError(f"sampler={sampler!r} needs the optional extra: "
                                     f"pip install 'mlmix-pymc[{extra}]'") from None


def sample(model, draws: int = 1000, tune: int = 1000, chains: int = 4, sampler: str = "pymc", init="ml",
           seed=None, priors=None, random_effects: str = "integrated", integration: str = "gauss-hermite",
           points: int = 15, ml_result=None, jitter: float = 0.05, target_accept: float = 0.9,
           reference=None, progressbar: bool = True, cores: int | None = None):
    """Sample the posterior with NUTS; returns ArviZ ``InferenceData`` (module docstring).

    ``init="ml"`` starts every chain at the ML solution plus N(0, jitter^2) noise on
    ``theta`` (ML is fitted first unless ``ml_result`` is given); ``init`` may also be a
    list of ``theta`` vectors, one per chain. Integrated random effects default to 15
    Gauss-Hermite points, a rule that treats every labelling alike. ``integration="adaptive"``
    with fewer points (e.g. 7) is about twice as fast: its nodes are placed once at the ML
    estimate and held fixed, so they fit the ML labelling only; chains that wander into
    another labelling get a warning. Draws are aligned to ``reference`` (natural
    parameters; default the ML solution); ``idata.attrs["n_relabelled"]`` counts them.
    """
    import arviz as az
    import pymc as pm

    _check_sampler(sampler)
    _check_sample_options(model, draws, tune, chains, ml_result)
    rng = np.random.default_rng(seed)
    if ml_result is None and (isinstance(init, str) and init == "ml" or reference is None):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ml_result = model.fit(seed=seed, se=None, integration=integration if integration != "laplace"
                                  else "adaptive", points=points)
    if isinstance(init, str):
        if init != "ml":
            raise SpecificationError(f"init={init!r}: use 'ml' or a list of theta vectors (one per chain)")
        starts = [ml_result.theta + jitter * rng.standard_normal(model.n_free) for _ in range(chains)]
    else:
        starts = [np.asarray(t, dtype=float) for t in init]
        if len(starts) != chains or any(t.shape != (model.n_free,) for t in starts):
            raise SpecificationError(f"init needs {chains} theta vectors of length {model.n_free}")
    pm_model = to_pymc(model, priors, random_effects, integration, points, ml_result)
    initvals, sampler_kwargs = [{"theta": t} for t in starts], {}
    if sampler == "nutpie":  # nutpie takes one mean of the unconstrained vector (theta, then z), not initvals
        n_other = sum(int(np.prod(pm_model.initial_point()[v.name].shape)) for v in pm_model.value_vars[1:])
        sampler_kwargs["init_mean"] = np.concatenate([np.mean(starts, axis=0), np.zeros(n_other)])
        initvals = None
    with pm_model:
        idata = pm.sample(draws=draws, tune=tune, chains=chains, initvals=initvals, init="adapt_diag",
                          random_seed=int(rng.integers(2**31)), target_accept=target_accept,
                          nuts_sampler=sampler, progressbar=progressbar, cores=cores,
                          compute_convergence_checks=False, nuts_sampler_kwargs=sampler_kwargs)
    ref = ml_result.phi if reference is None else np.asarray(reference, dtype=float)
    _align_posterior(model, idata, ref)
    _add_log_likelihood(model, idata)
    observed = {ind.name: model.data.indicators[ind.name].values for ind in model.spec.indicators}
    idata.add_groups(observed_data=az.from_dict(observed_data=observed).observed_data)
    idata.attrs["random_effects"] = random_effects
    idata.attrs["integration"] = integration
    for msg in _diagnostics(model, idata):
        warnings.warn(msg, stacklevel=3)
    if integration == "adaptive" and random_effects == "integrated" and idata.attrs["n_relabelled"] \
            and model.structure.between_model is not None and model.structure.between_model.dim:
        warnings.warn(f"{idata.attrs['n_relabelled']} draws were in another labelling than the ML solution, "
                      "where the adaptive nodes (placed at the ML estimate) integrate poorly; use "
                      "integration='gauss-hermite' or start the chains at the ML solution", stacklevel=3)
    return idata


def _check_sample_options(model, draws, tune, chains, ml_result) -> None:
    """Counts are positive integers; ``ml_result`` must be a fit of this model (its parameters)."""
    import numbers

    for name, value, least in (("draws", draws, 1), ("tune", tune, 0), ("chains", chains, 1)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < least:
            raise SpecificationError(f"{name} must be an integer >= {least}, got {value!r}")
    if ml_result is not None:
        names = getattr(getattr(ml_result, "structure", None), "layout", None)
        if names is None or list(names.names) != list(model.parameter_names) or len(ml_result.theta) != model.n_free:
            raise SpecificationError("ml_result is not a fit of this model (its parameters differ); pass the result "
                                     "of this model's fit()")
    if chains < 2 or draws < 100:
        warnings.warn(f"chains={chains}, draws={draws}: convergence cannot be diagnosed (r_hat needs at least 2 "
                      "chains, ESS needs hundreds of draws); use chains >= 2 and draws >= 100 for inference",
                      stacklevel=4)


def phi_diagnostics(idata, parameters: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """r_hat and bulk ESS of the ``phi`` entries at positions ``parameters`` (free ones: fixed
    parameters have no spread to diagnose)."""
    import arviz as az

    chosen = idata.posterior["phi"].isel(parameter=parameters).to_dataset(name="phi")
    return az.rhat(chosen)["phi"].values, az.ess(chosen, method="bulk")["phi"].values


def _diagnostics(model, idata) -> list[str]:
    """Warnings on divergences and on r_hat above 1.01 of free parameters (after alignment)."""
    out = []
    divergent = int(idata.sample_stats["diverging"].sum())
    if divergent:
        out.append(f"{divergent} divergent transition(s): increase target_accept or consider "
                   "random_effects='integrated'")
    free = np.flatnonzero(~model.structure.layout.fixed_mask)
    if idata.posterior.sizes["chain"] > 1 and idata.posterior.sizes["draw"] > 3:
        rhat = phi_diagnostics(idata, free)[0]
        bad = [model.parameter_names[free[i]] for i in np.flatnonzero(rhat > 1.01)]
        if bad:
            out.append(f"r_hat > 1.01 for {bad[:8]}{'...' if len(bad) > 8 else ''}: run longer chains")
    return out


def _align_posterior(model, idata, reference: np.ndarray) -> None:
    """Replace ``phi`` and ``theta`` by their label-aligned versions."""
    layout = model.structure.layout
    theta = idata.posterior["theta"].values  # (chain, draw, n_free)
    chains, draws, _ = theta.shape
    phi = layout.natural(theta.reshape(chains * draws, -1))
    aligned, n_relabelled = align_draws(model.structure, phi, reference, model.spec.constraints.same_measurement)
    # new arrays, not in-place writes: some samplers (numpyro) return read-only posterior arrays
    if n_relabelled:
        new_theta = np.array([layout.theta_from_natural(p) for p in aligned])
        idata.posterior["theta"] = idata.posterior["theta"].copy(data=new_theta.reshape(theta.shape))
    idata.posterior["phi"] = idata.posterior["phi"].copy(data=aligned.reshape(chains, draws, -1))
    idata.attrs["n_relabelled"] = n_relabelled
    if n_relabelled and "g" in idata.posterior:  # explicit GoM memberships follow their draw's relabelling
        _align_memberships(model.structure, idata, phi, aligned)


def _align_memberships(structure, idata, raw: np.ndarray, aligned: np.ndarray) -> None:
    """Permute each draw's memberships g like its Dirichlet alpha (which only permutes, ``relabel.py``)."""
    import itertools

    alpha = structure.membership.alpha
    perms = [np.array(p) for p in itertools.permutations(range(len(alpha)))]
    g = idata.posterior["g"].values  # (chain, draw, person, K)
    flat = g.reshape(-1, g.shape[2], g.shape[3]).copy()
    for s in range(len(flat)):
        best = min(perms, key=lambda p: float(np.sum((raw[s, alpha][p] - aligned[s, alpha]) ** 2)))
        flat[s] = flat[s][:, best]
    idata.posterior["g"] = idata.posterior["g"].copy(data=flat.reshape(g.shape))


def pointwise_loglik(model, theta: np.ndarray) -> np.ndarray:
    """Log-likelihood per cluster (two-level; random effects integrated) or per row.

    Two-level models use the compiled likelihood's current nodes: after ``to_pymc`` those of
    the Bayesian model (adaptive nodes stay where they were placed at the ML estimate).
    """
    return model.compile().pointwise_loglik(theta)


def _add_log_likelihood(model, idata) -> None:
    """A ``log_likelihood`` group: per cluster (two-level) or per row, for ``az.loo``."""
    import xarray as xr

    theta = idata.posterior["theta"].values
    chains, draws, _ = theta.shape
    values = np.array([[pointwise_loglik(model, theta[c, d]) for d in range(draws)] for c in range(chains)])
    dim = model.compile().unit_name
    data = xr.Dataset({"loglik": (("chain", "draw", dim), values)},
                      coords={"chain": idata.posterior.chain, "draw": idata.posterior.draw,
                              dim: np.arange(values.shape[-1])})
    idata.add_groups(log_likelihood=data)
