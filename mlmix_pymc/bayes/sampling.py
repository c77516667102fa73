"""Bayesian estimation on the same graph: a ``pm.Model``, NUTS samplers, ArviZ output.

``to_pymc`` puts the very likelihood expression ML maximizes (``graph/likelihood.py`` or
``graph/cluster_likelihood.py``) into a ``pm.Model``: single-level models as the observed
variable ``responses[row, item]`` (a ``pm.CustomDist``), two-level models as a ``pm.Potential``.
The free vector ``theta`` gets the priors of ``priors.py`` (normals on the estimation scale, or
Dirichlet / Beta on the probability scale: ``priors_probability.py``); the structured parameters
(``layout.py``) and probability-scale quantities (``quantities.py``) are
deterministics with named dims. Cluster random effects are either

* ``"integrated"``: summed out by the ML quadrature with nodes fixed in the graph
  (``integration``/``points``; ``"adaptive"`` fixes the nodes adapted at the ML estimate), or
* ``"explicit"``: standard-normal ``z`` per cluster, non-centred (b_j = B b_j + Gamma x_j +
  L z_j); the same graph is evaluated with one node per cluster at z_j.

``sample`` starts the chains from the (jittered) ML solution, aligns the labels of every
draw (``align.py``), and returns ``InferenceData`` with ``posterior`` (the structured
parameters, each free parameter once, and the probability-scale quantities, all recomputed
from the aligned draws), ``unconstrained_posterior`` (``theta``), ``sample_stats``,
``observed_data`` (one variable per item on ``row``) and ``log_likelihood`` (``loglik`` per
cluster, per row for single-level models), so ``az.loo`` / ``az.compare`` work. Fixed
parameters and the Mplus names are in ``attrs["parameter_map"]`` (``mm.parameter_table``).
"""

from __future__ import annotations

import warnings

import numpy as np

from ..errors import SpecificationError
from ..toolchain.parallel_compile import compiling_in_parallel
from .align import align_draws as _align_phi
from .priors import make_prior
from .variables import started_variable

SAMPLERS = ("pymc", "nutpie", "numpyro")
RANDOM_EFFECTS = ("integrated", "explicit")
_EXTRA = {"nutpie": ("nutpie", "nutpie"), "numpyro": ("numpyro", "numpyro")}


def to_pymc(model, priors=None, random_effects: str = "integrated", integration: str = "gauss-hermite",
            points: int = 15, ml_result=None, start: str | None = "auto"):
    """A ``pm.Model`` of ``model`` on its likelihood graph (module docstring).

    Variables: ``theta`` (the unconstrained free vector, ``free_parameter`` coordinate = the Mplus
    names) with the priors of ``priors.py``; the structured parameters (``thresholds[item,
    threshold, class]``, ``class_logits``, ``means``, ...; ``layout.py``) and the probability
    scale quantities (``class_proportions``, ``item_probabilities``, ...; ``quantities.py``)
    as deterministics. Single-level models carry the likelihood as the observed variable
    ``responses[row, item]`` (a ``pm.CustomDist``: its logp is the ML graph's per-row
    log-likelihood, its random draws come from ``simulate.py``), so ``pm.sample_posterior_predictive``,
    ``pm.sample_prior_predictive`` and ``pm.compute_log_likelihood`` work; two-level models and
    explicit GoM memberships keep it as a ``pm.Potential`` (``mm.add_log_likelihood`` gives their
    per-cluster values). The initial point of ``theta`` (``start``) breaks the symmetry between
    labellings, so that ``pm.find_MAP`` / ``pm.sample`` on this model do not sit at the symmetric
    point theta = 0 (all classes alike, a saddle): ``"auto"`` (default) takes the ML solution
    ``ml_result`` when given, else the ML optimizer's deterministic start (a partition of the
    response patterns into classes, ``estimate/starts.py``; nothing is fitted); ``"ml"`` the ML
    solution, fitted here when ``ml_result`` is not given; ``None`` PyMC's default point.

    ``priors`` may also put ``"class proportions": ("dirichlet", a)`` and ``"item probabilities":
    ("beta", a, b)`` on the probability scale (``priors.ProbabilityPriors``); the class logits /
    binary thresholds they cover are then deterministic functions of those variables.
    """
    import pymc as pm

    from .layout import posterior_variables
    from .quantities import derived_quantities
    from .priors import split_probability_priors

    if random_effects not in RANDOM_EFFECTS:
        raise SpecificationError(f"random_effects={random_effects!r} is not one of {RANDOM_EFFECTS}")
    if start not in ("auto", "ml", None):
        raise SpecificationError(f"start={start!r}: use 'auto', 'ml' (the ML solution) or None (PyMC's default)")
    structure = model.structure
    layout = structure.layout
    cluster_settings = model.integration_settings(integration, points) if structure.is_two_level else None
    priors, probability_priors = split_probability_priors(priors)
    prior = make_prior(structure, model.data, priors)
    if prior.beta is not None:
        raise SpecificationError("Beta priors on guessing logits are available for method='map' only; give the "
                                 "'item logit' group a normal (mean, sd) prior for sampling")
    if random_effects == "explicit" and structure.is_gom and structure.membership.kind != "dirichlet":
        raise SpecificationError("random_effects='explicit' in a grade-of-membership model needs "
                                 "membership='dirichlet'; logistic-normal memberships are sampled integrated")
    if start == "ml" and ml_result is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ml_result = model.fit(se=None, integration=integration if integration != "laplace" else "adaptive",
                                  points=points)
    initial = None
    if start is not None:
        initial = model.theta_from_values({}) if ml_result is None else np.asarray(ml_result.theta, dtype=float)
    coords = {"free_parameter": layout.free_names}
    with pm.Model(coords=coords) as pm_model:
        theta = _theta_variable(model, prior, probability_priors, initial)
        item_names = [ind.name for ind in model.spec.indicators]
        dims_used: dict = {}
        reported = layout.symbolic_reported(theta)
        for var in posterior_variables(structure, item_names, list(structure.covariate_names), dims_used):
            _add_coords(pm_model, var.coords)
            pm.Deterministic(var.name, reported[var.elements], dims=var.dims)
        for q in derived_quantities(structure, theta, dims_used):
            if q.name in pm_model.named_vars:  # a Dirichlet prior's own variable
                continue
            _add_coords(pm_model, q.coords)
            pm.Deterministic(q.name, q.expr, dims=q.dims)
        # integration / points choose the cluster integration; a single-level model keeps its fit's factor rule
        if random_effects == "explicit" and structure.is_gom:  # per-person memberships on the simplex
            _explicit_memberships(pm_model, structure, theta)
            return pm_model
        ml_theta = None if ml_result is None else ml_result.theta
        objective = model.compile(settings=cluster_settings or _unit_settings(model, ml_result))
        if not structure.is_two_level:
            _observed_responses(model, objective, theta, ml_theta)
            return pm_model
        z = None
        if random_effects == "explicit" and objective.dim:
            pm_model.add_coord("cluster", list(model.data.cluster_labels))
            pm_model.add_coord("effect", [e.name for e in structure.between_model.effects])
            z = pm.Normal("z", 0.0, 1.0, dims=("cluster", "effect"))
        pm.Potential("loglik", objective.symbolic_total(theta, z, ml_theta))
    return pm_model


def _unit_settings(model, ml_result):
    """A single-level model's rule of its unit latents: the ML fit's (adaptive nodes placed at its
    estimates), or without a fit the default with adaptive nodes replaced by fixed Gauss-Hermite
    (nodes shared by every draw)."""
    if ml_result is not None:
        return model.integration_settings(**ml_result.integration_settings)
    settings = model.integration_settings()
    return model.integration_settings("gauss-hermite") if settings.unit_method == "adaptive" else settings


def _add_coords(pm_model, coords: dict) -> None:
    for dim, values in coords.items():
        if dim not in pm_model.coords:
            pm_model.add_coord(dim, values)


def _theta_variable(model, prior, probability_priors, ml_theta):
    """``theta``: one normal (or flat) vector, or, under Dirichlet / Beta priors, normals for the other
    entries with the class logits and binary thresholds computed from the probability variables."""
    import pymc as pm
    import pytensor.tensor as pt

    from .priors_probability import probability_blocks

    layout = model.structure.layout
    blocks = probability_blocks(model.structure, probability_priors)
    if not blocks:
        if prior.flat:
            return started_variable("theta", pm.Flat, (), ml_theta, "free_parameter", n=layout.n_free)
        return started_variable("theta", pm.Normal, (prior.mean, prior.sd), ml_theta, "free_parameter")
    covered = np.zeros(layout.n_free, dtype=bool)
    for block in blocks:
        covered[block.entries.ravel()] = True
    rest = np.flatnonzero(~covered)
    pm.modelcontext(None).add_coord("free_parameter_normal", [layout.free_names[f] for f in rest])
    theta = pt.zeros(layout.n_free)
    if rest.size:
        start = None if ml_theta is None else ml_theta[rest]
        if prior.flat:
            normal = started_variable("theta_normal", pm.Flat, (), start, "free_parameter_normal", n=rest.size)
        else:
            normal = started_variable("theta_normal", pm.Normal, (prior.mean[rest], prior.sd[rest]), start,
                                      "free_parameter_normal")
        theta = pt.set_subtensor(theta[rest], normal)
    for block in blocks:
        theta = block.place(theta, ml_theta)
    return pm.Deterministic("theta", theta, dims="free_parameter")


def _observed_responses(model, objective, theta, ml_theta) -> None:
    """The likelihood as the observed ``responses[row, item]`` (a ``pm.CustomDist``).

    logp: the graph's log-likelihood of every row (its pattern's, times the row's sampling weight);
    it is the model's likelihood of *these* data (the graph is built on them), so the logp of any
    other value is NaN. random: one data set drawn from the model at ``theta`` (``simulate.py``), the
    classes, factors and random effects drawn anew, for the model's rows and covariates.
    """
    import pymc as pm
    import pytensor.tensor as pt

    from ..simulate import simulate

    structure = model.structure
    observed, integer = observed_matrix(model)
    items = [ind.name for ind in model.spec.indicators]
    keep = model.frame.index.isin(model.data.index) if model.data.kept is None else model.data.kept
    n_rows = len(observed)
    pm_model = pm.modelcontext(None)
    _add_coords(pm_model, {"row": row_labels(model), "item": items})
    weights = structure.row_weights

    def logp(value, theta_value, item_axis):
        while theta_value.ndim > 1:  # PyMC may hand the parameter broadcast to the rows: all rows alike
            theta_value = theta_value[0]
        rows = objective.symbolic_patterns(theta_value, ml_theta)[structure.row_pattern]
        if weights is not None:
            rows = rows * pt.as_tensor_variable(weights)
        same = pt.all(pt.eq(value, pt.as_tensor_variable(observed)))
        return pt.switch(same, rows, np.nan)

    def random(theta_value, item_axis, rng=None, size=None):
        if size is not None and tuple(np.atleast_1d(size)) not in ((n_rows,), ()):
            raise SpecificationError(f"responses are drawn for the model's {n_rows} rows, not size={size}")
        theta_value = np.asarray(theta_value, dtype=float)
        theta_value = theta_value.reshape(-1, theta_value.shape[-1])[0]  # broadcast to the rows: all alike
        frame = simulate(model, theta_value, seed=rng)
        drawn = frame[items].to_numpy(dtype=float)[keep]
        return drawn.astype(np.int64) if integer else drawn

    # item_axis (zeros, one per item) only carries the support shape (p) of a row of responses
    pm.CustomDist("responses", theta, np.zeros(len(items)), logp=logp, random=random, observed=observed,
                  dims=("row", "item"), signature="(k),(p)->(p)", dtype="int64" if integer else "float64")


def observed_matrix(model) -> tuple[np.ndarray, bool]:
    """(rows, items) data in the likelihood's coding (category codes 0..M-1), missing as -1; and
    whether every item is integer-valued (categorical or count)."""
    from ..families import family_of

    items = [ind.name for ind in model.spec.indicators]
    values = np.column_stack([model.data.indicators[it].values for it in items]).astype(float)
    integer = all(family_of(model.data.indicators[it].family).data_kind != "continuous" for it in items)
    values = np.where(np.isnan(values), -1.0, values)
    return (values.astype(np.int64) if integer else values), integer


def row_labels(model) -> list:
    """The data rows' labels (the input index), or positions when the index has duplicates."""
    index = model.data.index
    return list(index) if index.is_unique else list(range(len(index)))


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
    theta_vars = [v for v in pm_model.free_RVs if v.name not in ("z", "g")]
    if len(theta_vars) == 1 and theta_vars[0].name == "theta":
        initvals = [{"theta": t} for t in starts]
    else:  # Dirichlet / Beta priors: jittered ML starts are not on their scale; start at the ML point
        initvals = None
    sampler_kwargs = {}
    if sampler == "nutpie":  # nutpie takes one mean of the unconstrained vector (theta, then z), not initvals
        if initvals is None:
            raise SpecificationError("sampler='nutpie' with Dirichlet / Beta priors is not supported; use 'pymc'")
        n_other = sum(int(np.prod(pm_model.initial_point()[v.name].shape)) for v in pm_model.value_vars[1:])
        sampler_kwargs["init_mean"] = np.concatenate([np.mean(starts, axis=0), np.zeros(n_other)])
        initvals = None
    with pm_model, compiling_in_parallel():  # the logp / gradient's new C modules: one g++ per core
        raw = pm.sample(draws=draws, tune=tune, chains=chains, initvals=initvals, init="adapt_diag",
                        random_seed=int(rng.integers(2**31)), target_accept=target_accept,
                        nuts_sampler=sampler, progressbar=progressbar, cores=cores,
                        compute_convergence_checks=False, nuts_sampler_kwargs=sampler_kwargs)
    ref = ml_result.phi if reference is None else np.asarray(reference, dtype=float)
    idata = _mlmix_idata(model, raw, ref)
    add_log_likelihood(model, idata)
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


def _mlmix_idata(model, raw, reference: np.ndarray):
    """Our InferenceData from PyMC's: aligned ``theta`` in ``unconstrained_posterior``; the posterior
    holds the structured parameters and the probability-scale quantities recomputed from it (so
    they follow the alignment), and ``z`` / ``g`` of explicit random effects / memberships."""
    import arviz as az

    theta = raw.posterior["theta"].values  # (chain, draw, n_free)
    aligned, n_relabelled = _aligned_theta(model, theta, reference)
    post = raw.posterior
    extra = {}
    if "z" in post:
        extra["z"] = post["z"]
    if "g" in post:
        extra["g"] = post["g"]
        if n_relabelled:  # explicit GoM memberships follow their draw's relabelling
            layout = model.structure.layout
            flat = lambda t: t.reshape(-1, t.shape[-1])  # noqa: E731
            extra["g"] = _aligned_memberships(model.structure, post["g"], layout.natural(flat(theta)),
                                              layout.natural(flat(aligned)))
    groups = {"posterior": structured_posterior(model, aligned, post.chain, post.draw).assign(extra),
              "unconstrained_posterior": _theta_dataset(model, aligned, post.chain, post.draw),
              "observed_data": observed_dataset(model)}
    for name in ("sample_stats", "warmup_sample_stats"):
        if name in raw.groups():
            groups[name] = raw[name]
    for name in ("posterior", "unconstrained_posterior"):  # PyMC's metadata: sampling_time, tuning_steps...
        groups[name].attrs.update(post.attrs)
    idata = az.InferenceData(**groups)
    idata.attrs.update({k: v for k, v in raw.attrs.items() if isinstance(v, (str, int, float))})
    from .layout import store_map

    store_map(idata, model.structure, _variables(model))
    idata.attrs["n_relabelled"] = n_relabelled
    return idata


def _variables(model):
    from .layout import posterior_variables

    return posterior_variables(model.structure, [ind.name for ind in model.spec.indicators],
                               list(model.structure.covariate_names), {})


_EVALUATORS: dict = {}


def structured_posterior(model, theta: np.ndarray, chain=None, draw=None):
    """The posterior Dataset of ``theta`` draws (chain, draw, n_free): structured parameters
    (``layout``) and probability-scale quantities (``quantities``), named dims."""
    import pytensor.tensor as pt

    from .layout import posterior_variables, structured_dataset
    from .quantities import derived_quantities, evaluator, quantity_dataset

    chains, draws, _ = theta.shape
    chain = np.arange(chains) if chain is None else chain
    draw = np.arange(draws) if draw is None else draw
    structure = model.structure
    dims_used: dict = {}
    variables = posterior_variables(structure, [ind.name for ind in model.spec.indicators],
                                    list(structure.covariate_names), dims_used)
    key = id(model)
    if key not in _EVALUATORS or _EVALUATORS[key][0] is not model:
        theta_in = pt.vector("theta")
        quantities = derived_quantities(structure, theta_in, dims_used)
        _EVALUATORS[key] = (model, quantities, evaluator(quantities, theta_in))
    _, quantities, fn = _EVALUATORS[key]
    phi = structure.layout.natural(theta.reshape(chains * draws, -1)).reshape(chains, draws, -1)
    ds = structured_dataset(variables, phi, chain, draw)
    return ds.merge(quantity_dataset(quantities, fn, theta, chain, draw))


def _theta_dataset(model, theta: np.ndarray, chain, draw):
    import xarray as xr

    return xr.Dataset({"theta": xr.DataArray(theta, dims=("chain", "draw", "free_parameter"),
                                             coords={"chain": chain, "draw": draw,
                                                     "free_parameter": model.free_parameter_names})})


def observed_dataset(model):
    """The observed indicators, one variable per item on the ``row`` dim (integers where possible)."""
    import xarray as xr

    from ..families import family_of

    rows = row_labels(model)
    data = {}
    for ind in model.spec.indicators:
        values = model.data.indicators[ind.name].values
        if family_of(model.data.indicators[ind.name].family).data_kind != "continuous" and not np.isnan(values).any():
            values = values.astype(np.int64)
        data[ind.name] = xr.DataArray(values, dims=("row",), coords={"row": rows})
    return xr.Dataset(data)


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
    """r_hat and bulk ESS of the model parameters at positions ``parameters`` (Mplus order; free ones:
    fixed parameters have no spread to diagnose)."""
    import arviz as az

    from .layout import parameter_draws

    chosen = parameter_draws(idata).isel(parameter=parameters).to_dataset(name="phi")
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


def _aligned_theta(model, theta: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, int]:
    """``theta`` draws (chain, draw, n_free) relabelled towards ``reference`` (``align.py``)."""
    layout = model.structure.layout
    chains, draws, _ = theta.shape
    phi = layout.natural(theta.reshape(chains * draws, -1))
    aligned, n_relabelled = _align_phi(model.structure, phi, reference, model.spec.constraints.same_measurement)
    if not n_relabelled:
        return np.array(theta), 0
    new_theta = np.array([layout.theta_from_natural(p) for p in aligned])
    return new_theta.reshape(theta.shape), n_relabelled


def _aligned_memberships(structure, g, raw: np.ndarray, aligned: np.ndarray):
    """Permute each draw's memberships g like its Dirichlet alpha (which only permutes, ``estimate/relabel.py``)."""
    import itertools

    alpha = structure.membership.alpha
    perms = [np.array(p) for p in itertools.permutations(range(len(alpha)))]
    values = g.values  # (chain, draw, person, K)
    flat = values.reshape(-1, values.shape[2], values.shape[3]).copy()
    for s in range(len(flat)):
        best = min(perms, key=lambda p: float(np.sum((raw[s, alpha][p] - aligned[s, alpha]) ** 2)))
        flat[s] = flat[s][:, best]
    return g.copy(data=flat.reshape(values.shape))


def align_posterior(model, idata, reference=None):
    """Label-aligned posterior of ``model`` (public: ``mm.align_draws``).

    ``idata``: from ``pm.sample`` on ``model.to_pymc()`` (``theta`` in its posterior) or from
    ``Model.sample``. Every draw is relabelled towards ``reference``: an ML result, natural
    parameters (``phi``), or None (an ML fit of ``model``). Returns a new InferenceData laid out
    as ``Model.sample``'s (structured posterior, ``unconstrained_posterior``, ``observed_data``,
    ``log_likelihood``; ``attrs["n_relabelled"]`` counts the relabelled draws).
    """
    import arviz as az

    if hasattr(reference, "phi"):
        reference = reference.phi
    if reference is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reference = model.fit(se=None).phi
    reference = np.asarray(reference, dtype=float)
    if reference.shape != (len(model.parameter_names),):
        raise SpecificationError(f"reference must hold the model's {len(model.parameter_names)} parameters, "
                                 f"got shape {reference.shape}")
    theta = theta_draws(idata, model)
    raw = az.InferenceData(posterior=theta.to_dataset(name="theta"),
                           **{g: idata[g] for g in ("sample_stats",) if g in idata.groups()})
    out = _mlmix_idata(model, raw, reference)
    add_log_likelihood(model, out)
    return out


def theta_draws(idata, model=None):
    """The ``theta`` draws of ``idata`` (its ``unconstrained_posterior``, or the posterior of a
    ``pm.sample`` on ``to_pymc``); a clear error when there are none or they are another model's."""
    group = None
    for name in ("unconstrained_posterior", "posterior"):
        if name in getattr(idata, "groups", lambda: [])() and "theta" in idata[name]:
            group = idata[name]
            break
    if group is None:
        raise SpecificationError("no 'theta' draws in this InferenceData: use the result of Model.sample or of "
                                 "pm.sample on Model.to_pymc()")
    theta = group["theta"]
    if model is not None:
        names = list(map(str, theta.coords["free_parameter"].values)) if "free_parameter" in theta.coords else None
        if theta.shape[-1] != model.n_free or (names is not None and names != list(model.free_parameter_names)):
            raise SpecificationError(f"the posterior holds {theta.shape[-1]} free parameters but the model has "
                                     f"{model.n_free}" + ("" if theta.shape[-1] != model.n_free else " with other names")
                                     + "; the InferenceData and the model differ")
    return theta


def pointwise_loglik(model, theta: np.ndarray) -> np.ndarray:
    """Log-likelihood per cluster (two-level; random effects integrated) or per row.

    Two-level models use the compiled likelihood's current nodes: after ``to_pymc`` those of
    the Bayesian model (adaptive nodes stay where they were placed at the ML estimate).
    """
    return model.compile().pointwise_loglik(theta)


def add_log_likelihood(model, idata):
    """Add (or replace) the ``log_likelihood`` group ``loglik``: per cluster (two-level, random effects
    integrated by the compiled rule; coordinate = the cluster labels) or per row (coordinate = the
    row labels), at every ``theta`` draw, for ``az.loo`` / ``az.compare`` / ``az.loo_pit``. Returns ``idata``."""
    import xarray as xr

    theta_da = theta_draws(idata, model)
    theta = theta_da.values
    chains, draws, _ = theta.shape
    values = np.array([[pointwise_loglik(model, theta[c, d]) for d in range(draws)] for c in range(chains)])
    compiled = model.compile()
    dim = compiled.unit_name
    labels = list(model.data.cluster_labels) if dim == "cluster" else row_labels(model)
    if len(labels) != values.shape[-1] or len(set(labels)) != len(labels):
        labels = list(range(values.shape[-1]))
    data = xr.Dataset({"loglik": (("chain", "draw", dim), values)},
                      coords={"chain": theta_da.chain.values, "draw": theta_da.draw.values, dim: labels})
    if "log_likelihood" in idata.groups():
        del idata.log_likelihood
    idata.add_groups(log_likelihood=data)
    return idata
