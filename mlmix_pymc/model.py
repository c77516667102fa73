"""The ``Model``: a spec bound to its data, with the compiled likelihood cached.

``Model`` keeps the model-description layer (spec + data arrays + parameter layout)
apart from estimation (``estimate/``) and reporting (``results.py``).
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from .data import ModelData, prepare_data
from .errors import DataError, SpecificationError
from .graph.structure import GraphStructure, build_structure
from .spec import ModelSpec

METHODS = ("ml", "map", "map-laplace")


class Model:
    """A mixture model specification bound to a DataFrame.

    Build with a convenience constructor such as ``mlmix_pymc.lca`` or directly from a
    ``ModelSpec``. The PyTensor graph is compiled on first use (``compile()``) and reused
    by every fit and random start.
    """

    def __init__(self, spec: ModelSpec, data: pd.DataFrame):
        self.spec = spec
        self.frame = data  # the user's DataFrame (design of simulations), not copied
        self.data: ModelData = prepare_data(data, spec)
        self.structure: GraphStructure = build_structure(spec, self.data)
        n_free = self.structure.layout.n_free
        if self.data.n_obs <= n_free:
            raise DataError(
                f"only {self.data.n_obs} usable rows for {n_free} free parameters; "
                "use fewer classes or items, or more data"
            )
        self._compiled: dict = {}  # (IntegrationSettings, backend) -> compiled objective
        self._current = None  # key of the objective compiled or used last (``compile()`` without arguments)

    # ------------------------------------------------------------ graph
    def integration_settings(self, integration: str | None = None, points: int | None = None,
                             factor_points: int | None = None):
        """The validated integration rules of these options, defaults filled in
        (``integration_settings.resolve_integration``; a typo is an error naming the valid rules)."""
        from .integration_settings import resolve_integration

        return resolve_integration(self.structure, integration, points, factor_points)

    def compile(self, integration: str | None = None, points: int | None = None, factor_points: int | None = None,
                backend: str = "c", settings=None):
        """The objective (log-likelihood, gradient, Hessian, scores) for one integration setting.

        Built once per setting and cached (the PyTensor functions of one graph are compiled
        once and shared). ``integration`` / ``points`` / ``factor_points`` as in ``fit`` (None:
        the defaults of ``integration_settings.py``), or ``settings`` already resolved; without
        any of them, the objective used last (by a fit or ``to_pymc``), else the defaults.
        ``backend``: ``"c"`` or ``"jax"`` (``toolchain/backend.py``).
        """
        from .toolchain.backend import check_backend

        check_backend(backend)
        if (settings is None and integration is None and points is None and factor_points is None and backend == "c"
                and self._current is not None):
            return self._compiled[self._current]  # the objective a fit (or a Bayesian model) used last
        if settings is None:
            settings = self.integration_settings(integration, points, factor_points)
        key = (settings, backend)
        if key not in self._compiled:
            from .progress import compile_notice

            with compile_notice("the model"):  # shown after 1 s (not for a graph PyTensor has cached)
                self._compiled[key] = self._build_objective(settings, backend)
        self._current = key
        return self._compiled[key]

    def _build_objective(self, settings, backend="c"):
        """The compiled objective of one integration setting (``compile``)."""
        from .integration import unit_rule

        structure = self.structure
        rule = None if settings.unit_method is None else \
            unit_rule(structure.unit_dim, settings.unit_method, settings.unit_points)
        if structure.is_two_level:
            from .engine.integrated import IntegratedObjective

            return IntegratedObjective(structure, settings.cluster_method or "gauss-hermite",
                                       settings.cluster_points or 15, rule, backend=backend)
        from .engine.compiled import CompiledLikelihood

        adaptive = settings.unit_method == "adaptive"
        if rule is not None and backend == "c":  # the same graph with another rule's nodes: no compile
            for (other, other_backend), objective in self._compiled.items():
                if other_backend == backend and (other.unit_method == "adaptive") == adaptive:
                    return objective.with_rule(rule.method, settings.unit_points)
        if adaptive and backend == "jax":  # per-row nodes of changing number: shapes XLA cannot trace
            raise SpecificationError("backend='jax' does not integrate within-level factors adaptively; use "
                                     "integration='gauss-hermite' (fixed nodes) with JAX, or backend='c'")
        return CompiledLikelihood(structure, rule, adaptive=adaptive, backend=backend)

    def evaluate(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """Log-likelihood and its gradient at the free-parameter vector ``theta``."""
        theta = np.asarray(theta, dtype=float)
        if theta.shape != (self.n_free,):
            raise SpecificationError(f"theta must have shape ({self.n_free},), got {theta.shape}")
        return self.compile().loglik_grad(theta)

    def loglik(self, values, integration: str | None = None, points: int | None = None,
               factor_points: int | None = None) -> float:
        """Log-likelihood at parameter ``values`` (dict name -> natural value, or ``theta``).

        Integrated with the rules of ``integration`` / ``points`` / ``factor_points`` (None: the
        defaults of ``integration_settings.py``; adaptive rules adapt their nodes to ``values``
        first). Single-level models without factors or memberships ignore them.
        """
        theta = self.theta_from_values(values)
        compiled = self.compile(integration, points, factor_points)
        compiled.adapt(theta)  # adaptive nodes at these values (a no-op for fixed rules)
        return compiled.loglik(theta)

    @property
    def n_free(self) -> int:
        """Number of free parameters."""
        return self.structure.layout.n_free

    @property
    def parameter_names(self) -> list[str]:
        """Names of all model parameters (use them in constraints and start values)."""
        return self.structure.layout.names

    @property
    def free_parameter_names(self) -> list[str]:
        """Names of the free parameters, in ``theta`` order."""
        return self.structure.layout.free_names

    def theta_from_values(self, values: Mapping[str, float] | np.ndarray) -> np.ndarray:
        """Free vector from user values: a full ``theta`` array or a dict name -> natural value.

        Parameters missing from the dict take the deterministic default start.
        """
        layout = self.structure.layout
        if not isinstance(values, Mapping):
            arr = np.asarray(values, dtype=float)
            if arr.shape != (layout.n_free,):
                raise SpecificationError(f"start_values array must have length {layout.n_free}, got {arr.shape}")
            return arr
        from .estimate.starts import partition_start

        phi = partition_start(self.structure, None)
        lookup = {n: k for k, n in enumerate(layout.names)}
        for name, value in values.items():
            if name not in lookup:
                raise SpecificationError(f"start_values names unknown parameter {name!r}; see Model.parameter_names")
            k = lookup[name]
            if layout.fixed_mask[k]:
                continue
            phi[layout.free_of == layout.free_of[k]] = float(value)
        return layout.theta_from_natural(phi)

    # ------------------------------------------------------------ estimation
    def fit(self, method: str = "ml", starts=None, seed: int | None = None, se: str | None = "observed",
            start_values=None, st_iterations: int = 10, max_iter: int = 5000, reorder: bool = True,
            integration: str | None = None, points: int | None = None, factor_points: int | None = None,
            priors=None, progress=None, verbose=None, backend: str = "c", integration_tol: float | None = 1e-3):
        """Estimate the model.

        Parameters
        ----------
        method : ``"ml"`` (maximum likelihood), ``"map"`` (posterior mode under ``priors``)
            or ``"map-laplace"`` (MAP with standard errors from the curvature of the log
            posterior, a Gaussian approximation; not ``integration="laplace"``, the Laplace
            integration of cluster random effects). ``priors``: None (the documented
            defaults of ``bayes/priors.py``), ``"flat"`` (then MAP = ML) or a dict
            prior group -> (mean, sd) on the estimation scale.
        starts : ``(n_initial, n_final)`` as Mplus STARTS: ``n_initial`` random starts get
            ``st_iterations`` optimizer iterations, the best ``n_final`` are run to
            convergence. ``(0, 0)`` uses only ``start_values`` (or a deterministic start).
            None (the default), as Mplus: ``(20, 5)`` for a mixture, ``(0, 0)`` for a model
            without latent classes (a GLMM, IRT, a 1-class factor model).
        seed : random seed of the starts (reproducible results).
        se : ``"observed"`` (inverse observed information, exact Hessian), ``"mlr"``
            (robust sandwich from per-row scores), or ``None``.
        start_values : dict parameter name -> value (natural scale) or a ``theta`` array;
            used as an additional start.
        reorder : order classes by decreasing model-estimated proportion (see
            ``estimate/relabel.py``, random class-logit intercepts re-referenced along);
            skipped with user constraints or start values.
        integration : the rule of the model's integrals (``integration_settings.py``; docs/integration):
            ``"adaptive"`` (adaptive Gauss-Hermite: nodes at each cluster's / person's posterior,
            re-adapted during the fit; falls back to non-adaptive with a warning if it fails),
            ``"gauss-hermite"``, ``"trapezoid"`` (the Mplus default), ``"qmc"`` (Sobol points, for 5
            or more dimensions) or, for cluster random effects only, ``"laplace"``. None: adaptive
            for cluster random effects of indicators, the trapezoid rule for random class-logit
            intercepts and grade-of-membership models, fixed Gauss-Hermite for the factors of
            single-level models (the certificate refines any of them where needed). A name outside
            this list is an error.
        points : integration points per dimension (``qmc``: points in total). Defaults: adaptive
            11 / 7 / 5 / 3 per dimension for 1 / 2 / 3 / more cluster random effects; Gauss-Hermite
            41 / 21 / 11 for 1 / 2 / 3 factors of a single-level model; trapezoid 41 / 31 / 15 for
            grade-of-membership models (QMC beyond 3 dimensions).
        factor_points : points per dimension of the within-level factors' fixed Gauss-Hermite
            rule in two-level models (default 41 / 21 / 11).
        integration_tol : the integration certificate (``estimate/certificate.py``): at the
            solution the log-likelihood is evaluated again with a finer rule; while the two differ
            by more than this, the rule is refined and the fit resumed (twice at most), then a
            warning names the figure. ``result.integration_error`` and the summary report it.
            None: no certificate.
        progress : a bar on stderr over the random starts with the best log-likelihood so far:
            None (the default) on a terminal or in a notebook only, True always, False never.
        verbose : the one-line "compiling the model (once) ... compiled in 18.2 s" notice,
            printed when compiling takes over a second: None (terminal / notebook only), True,
            False (``progress.py``).
        backend : ``"c"`` (PyTensor's C backend, the default) or ``"jax"`` (XLA through
            PyTensor's JAX linker: no C compile, runs on a GPU when jax has one; the extra
            ``mlmix-pymc[jax]``; two-level models compile one function per shape of their
            cluster chunks, a few seconds each). The Hessian and scores of the standard errors
            are compiled by the same backend.
        """
        if method == "laplace":  # the old name, easily confused with integration="laplace"
            raise SpecificationError("method='laplace' is now spelled method='map-laplace' (MAP with standard "
                                     "errors from the Laplace approximation of the posterior); Laplace "
                                     "integration of cluster random effects is integration='laplace'")
        if method not in METHODS:
            raise SpecificationError(f"method={method!r} is not available; choose one of {METHODS}")
        from .estimate.ml import fit_ml

        prior = None
        if method != "ml":
            from .bayes.priors import make_prior

            prior = make_prior(self.structure, self.data, priors)
            se = "observed" if method == "map-laplace" else None
        elif priors is not None:
            raise SpecificationError("priors= applies to method='map' or 'map-laplace', not to maximum likelihood")
        from .progress import verbosity

        if verbose is False and progress is None:  # verbose=False: silent
            progress = False
        with verbosity(verbose):  # the compile notices below this fit
            return fit_ml(self, starts=starts, seed=seed, se=se, start_values=start_values,
                          st_iterations=st_iterations, max_iter=max_iter, reorder=reorder,
                          integration=integration, points=points, factor_points=factor_points, prior=prior,
                          method=method, progress=progress, backend=backend, integration_tol=integration_tol)

    # ------------------------------------------------------------ Bayes
    def to_pymc(self, priors=None, random_effects: str = "integrated", integration: str = "gauss-hermite",
                points: int = 15, ml_result=None, start: str | None = "auto"):
        """A ``pm.Model`` built from this model's likelihood graph (``bayes/sampling.py``).

        ``priors``: None (documented defaults, ``bayes/priors.py``), ``"flat"``, a dict
        prior group -> (mean, sd), and ``"class proportions": ("dirichlet", a)`` /
        ``"item probabilities": ("beta", a, b)``. ``random_effects``: ``"integrated"`` (ML
        quadrature) or ``"explicit"`` (non-centred per-cluster effects for NUTS). ``start``: the
        initial point, away from the symmetric point between labellings: ``"auto"`` the ML
        solution ``ml_result`` if given, else the optimizer's deterministic start; ``"ml"`` the ML
        solution (fitted when not given); None PyMC's. Align ``pm.sample`` output with
        ``mm.align_draws(model, idata, ml_result)``.
        """
        from .bayes.sampling import to_pymc

        return to_pymc(self, priors, random_effects, integration, points, ml_result, start)

    def sample(self, draws: int = 1000, tune: int = 1000, chains: int = 4, sampler: str = "pymc", init="ml",
               seed=None, **options):
        """NUTS sampling from ``to_pymc``; ArviZ ``InferenceData`` with aligned labels.

        ``sampler``: ``"pymc"``, ``"nutpie"`` or ``"numpyro"`` (optional extras). Further
        options (``priors``, ``random_effects``, ``integration``, ``points``, ``ml_result``,
        ``jitter``, ``target_accept``, ``reference``, ``progressbar``, ``cores``) are those of
        ``mlmix_pymc.bayes.sampling.sample``.
        """
        from .bayes.sampling import sample

        return sample(self, draws=draws, tune=tune, chains=chains, sampler=sampler, init=init, seed=seed,
                      **options)

    def to_mplus(self, data_file: str = "data.dat") -> str:
        """An Mplus input for this model (``mplus/writer.py``); ``mm.from_mplus`` reads it back."""
        from .mplus import model_to_mplus

        return model_to_mplus(self, data_file)

    def __repr__(self):
        cvs = ", ".join(f"{cv.name}({cv.n_classes})" for cv in self.spec.class_variables)
        return f"<Model classes={cvs} indicators={len(self.spec.indicators)} n={self.data.n_obs} free={self.n_free}>"
