"""Compile, once per machine, the C modules that models of every family share.

PyTensor compiles every operation of a new graph to a C module the first time it meets
it (`~0.4 s` of ``g++`` each, two at a time on two cores) and keeps it in its compile cache
(``~/.pytensor``) for every later process. A first fit on an empty cache compiles 80-90
modules (~20 s); most of them (indexing, reshapes, allocations, sums, products of given
broadcast patterns, softmax, BLAS calls, the Hessian's loops) are the same for every model
of a family, whatever its data, classes or items. ``warm_up()`` fits one small model of
each family on a few simulated rows, with the options users choose most (observed and MLR
standard errors, Gauss-Hermite, adaptive and Laplace integration, NUTS), so that the first fit
of a user's model compiles only what is particular to it: its fused elementwise formulas
and the few operations of new shapes. Measured on two cores (``benchmarks/warm_up.py``):
the warm-up takes ~3 min once (484 modules); seven first fits of models not in it took
2.5-7.3 s after it and 17.2-27.9 s on an empty cache.

The fits run in this process and leave nothing but the compile cache behind (and the
compiled functions of these small models in ``toolchain/function_cache.py``'s store).
``mlmix warmup`` runs it from the shell; ``make setup`` runs it once after installing.
"""

from __future__ import annotations

import time
import warnings
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from . import models

N_ROWS = 120  # rows of each simulated data set (compiling, not fitting, is what takes time)
N_CLUSTERS = 20


def _two_class_items(rng: np.random.Generator, n: int, n_items: int, cluster_sd: float = 0.0) -> pd.DataFrame:
    """Binary items of a 2-class LCA (P(u = 1) = 0.8 / 0.2), ``n`` rows in ``N_CLUSTERS``
    clusters whose class logits vary with standard deviation ``cluster_sd``."""
    cluster = np.arange(n) % N_CLUSTERS
    logit = rng.normal(0.0, cluster_sd, N_CLUSTERS)[cluster] if cluster_sd else np.zeros(n)
    c = rng.uniform(size=n) < 1 / (1 + np.exp(-logit))
    p = np.where(c[:, None], 0.8, 0.2)
    data = pd.DataFrame((rng.uniform(size=(n, n_items)) < p).astype(np.int64),
                        columns=[f"u{i + 1}" for i in range(n_items)])
    data["cluster"] = cluster
    data["x"] = rng.normal(size=n) + c
    return data


def _items(data: pd.DataFrame) -> list[str]:
    return [c for c in data.columns if c.startswith("u")]


def _lca(rng):
    data = _two_class_items(rng, N_ROWS, 5)
    return models.lca(data, _items(data), 2), {}


def _lca_mlr(rng):
    model, _ = _lca(rng)
    return model, dict(se="mlr")


def _lca_covariates(rng):
    data = _two_class_items(rng, N_ROWS, 5)
    return models.lca(data, _items(data), 2, covariates=["x"]), {}


def _lca_families(rng):
    """One item of each family besides binary: ordinal, normal, count, nominal."""
    data = _two_class_items(rng, N_ROWS, 2)
    shift = data["u1"].to_numpy()
    data["ord"] = np.clip(np.round(rng.normal(1 + shift, 0.7)), 0, 2).astype(np.int64)
    data["nom"] = rng.integers(0, 3, N_ROWS)
    data["y"] = rng.normal(shift, 1.0)
    data["k"] = rng.poisson(1 + 2 * shift)
    family = {"u1": "binary", "u2": "binary", "ord": "ordinal", "nom": "nominal", "y": "normal", "k": "poisson"}
    return models.lca(data, list(family), 2, family=family), {}


def _two_level(integration: str, points: int, n_classes: int = 2, se: str = "observed"):
    def build(rng):
        data = _two_class_items(rng, N_ROWS, 5, cluster_sd=1.0)
        model = models.lca(data, _items(data), n_classes, cluster="cluster", random_intercept=True)
        return model, dict(integration=integration, points=points, se=se)
    return build


def _glmm(integration: str, points: int):
    def build(rng):
        data = _two_class_items(rng, N_ROWS, 1, cluster_sd=1.0)
        model = models.regression_mixture(data, "u1", "x", 1, cluster="cluster", random=["intercept"], family="binary")
        return model, dict(integration=integration, points=points)
    return build


def _regression_mixture(rng):
    data = _two_class_items(rng, N_ROWS, 1, cluster_sd=1.0)
    data["y"] = rng.normal(2.0 * data["u1"] + data["x"], 1.0) + rng.normal(0, 0.5, N_CLUSTERS)[data["cluster"]]
    return models.regression_mixture(data, "y", "x", 2, cluster="cluster", random=["intercept"]), {}


def _fma(rng):
    data = _two_class_items(rng, N_ROWS, 5)
    return models.fma(data, _items(data), 2), {}


def _irt(rng):
    data = _two_class_items(rng, N_ROWS, 5)
    return models.irt(data, _items(data), model="2pl"), {}


def _gom(rng):
    data = _two_class_items(rng, N_ROWS, 5)
    return models.gom(data, _items(data), 2), {}


def _bayes(rng):
    """NUTS (PyMC's sampler on the C backend) after the ML fit of a 2-class LCA."""
    model, _ = _lca(rng)
    return model, dict(sample=dict(draws=20, tune=20, chains=1, progressbar=False))


def _lta(rng):
    first, second = _two_class_items(rng, N_ROWS, 3), _two_class_items(rng, N_ROWS, 3)
    data = pd.concat([first[_items(first)], second[_items(second)].add_prefix("t2")], axis=1)
    return models.lta(data, [_items(first), [f"t2{c}" for c in _items(second)]], 2), {}


# name -> (what it covers, builder(rng) -> (model, fit options, or {"sample": sample options}))
MODELS: dict[str, tuple[str, Callable]] = {
    "lca": ("2-class LCA of binary items, observed-information SEs (exact Hessian)", _lca),
    "lca-mlr": ("the same with MLR (sandwich) SEs", _lca_mlr),
    "lca-covariates": ("LCA with a covariate of class membership (eq 4)", _lca_covariates),
    "lca-families": ("ordinal, nominal, normal and count items", _lca_families),
    "two-level": ("two-level LCA, random class-logit intercept, Gauss-Hermite 15", _two_level("gauss-hermite", 15)),
    "two-level-adaptive": ("the same, adaptive quadrature 7, MLR SEs", _two_level("adaptive", 7, se="mlr")),
    "two-level-laplace": ("the same, Laplace", _two_level("laplace", 1)),
    "two-level-2d": ("3-class two-level LCA, two random intercepts, Gauss-Hermite 7",
                     _two_level("gauss-hermite", 7, n_classes=3)),
    "glmm-laplace": ("random-intercept logistic regression (1 class), Laplace", _glmm("laplace", 1)),
    "glmm-adaptive": ("the same, adaptive quadrature 15", _glmm("adaptive", 15)),
    "regression-mixture": ("2-class regression mixture, normal outcome, random intercept (eq 19)",
                           _regression_mixture),
    "fma": ("2-class factor mixture (eq 36-37)", _fma),
    "irt": ("2PL IRT", _irt),
    "gom": ("logistic-normal grade of membership (eq 28-34)", _gom),
    "lta": ("latent transition analysis, two times (eq 6-9)", _lta),
    "bayes": ("NUTS on a 2-class LCA (model.sample, PyMC's C backend)", _bayes),
}


def run(model, options: dict):
    """Fit ``model`` from one deterministic start with the fit ``options`` (observed SEs
    unless they say otherwise) and return the result; where ``options`` holds ``sample``,
    ``model.sample(**options["sample"])`` instead (its InferenceData). Warnings are
    silenced: on small simulated data, boundary and convergence warnings are moot."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if "sample" in options:
            return model.sample(**options["sample"])
        return model.fit(starts=(0, 0), **{"se": "observed", **options}, verbose=False)


def warm_up(only: Sequence[str] | None = None, report: Callable[[str], None] | None = print) -> pd.DataFrame:
    """Fit the small models of ``MODELS`` (all, or the names in ``only``) so that PyTensor's
    compile cache holds the C modules they share with users' models.

    Each fit uses one deterministic start; nothing is returned of the fits themselves.
    ``report`` receives one line per model (None: silent). Returns a table with, per model,
    the seconds it took, the C modules compiled for it by the parallel pre-pass
    (``toolchain/parallel_compile.py``; 0 on one core, where PyTensor compiles them itself)
    and ``error``, the message of a fit that failed (the others go on). A second call on
    the same machine compiles nothing and takes about a second per model.
    """
    from pytensor import config

    from .errors import MlmixError, SpecificationError
    from .toolchain.parallel_compile import modules_compiled

    names = list(MODELS) if only is None else list(only)
    unknown = [name for name in names if name not in MODELS]
    if unknown:
        raise SpecificationError(f"warm_up: unknown model(s) {unknown}; choose from {list(MODELS)}")
    rows = []
    if not config.cxx:
        if report:
            report("mlmix warmup: PyTensor has no C compiler here (config.cxx is empty): nothing to compile")
        names = []
    for name in names:
        covers, build = MODELS[name]
        started, before, error = time.perf_counter(), modules_compiled(), ""
        try:
            run(*build(np.random.default_rng(list(MODELS).index(name))))
        except MlmixError as err:  # what it compiled before stays compiled; the next model goes on
            error = str(err)
        rows.append(dict(model=name, seconds=time.perf_counter() - started, modules=modules_compiled() - before,
                         covers=covers, error=error))
        if report:
            report(f"  {name:<20} {rows[-1]['seconds']:6.1f} s  {rows[-1]['modules']:3d} C modules  ({covers})"
                   + (f"  failed: {error}" if error else ""))
    return pd.DataFrame(rows, columns=["model", "seconds", "modules", "covers", "error"])
