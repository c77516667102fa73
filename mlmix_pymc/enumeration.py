"""Class enumeration: fit K = 1, 2, ... classes and tabulate how to choose among them.

``enumerate_classes`` (``mm.enumerate``) fits one constructor (``lca``, ``gom``, ``fma``,
``regression_mixture``...) for every number of classes and returns an ``Enumeration`` whose
``table`` has, per K, the log-likelihood, number of parameters, AIC, BIC, sample-size adjusted
BIC, CAIC, entropy, the smallest class (model-estimated proportion and most-likely count), how
many completed starts replicated the best log-likelihood, G2 / X2 with df where the response
patterns allow (``absolute_fit.py``), the Vuong-Lo-Mendell-Rubin and adjusted LMR p-values of
K-1 against K (TECH11, ``fit_tests.vlmr_test``) and the bootstrap likelihood ratio test
(TECH14).

Bootstrap LRT (McLachlan 1987; Nylund, Asparouhov & Muthen 2007): data sets are drawn from the
fitted (K-1)-class model at its estimates; both the K-1 model (started at the generating
values, as Mplus's LRTSTARTS 0 0) and the K model (random starts, plus the real-data K-class
estimates) are fitted to every draw, and the p-value is the share of draws whose
2 (L_K - L_{K-1}) reaches the real data's. Every draw is evaluated by the compiled graphs of
``engine/reuse.py``: the data are graph inputs, so each K is compiled once per process, not
once per draw. With ``blrt_sequential=True`` the draws stop early once a 99% Clopper-Pearson
interval of the bootstrap p-value lies entirely above or below ``blrt_alpha`` (in the spirit of
Mplus's sequential procedure, which likewise stops when the p-value is clearly on one side). ``n_jobs`` > 1 runs chunks of draws in joblib workers (each
compiles once), ``backend="dask"`` on a dask cluster.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd
from scipy import stats

from .errors import MlmixError, SpecificationError

CONSTRUCTORS = ("lca", "gom", "fma", "lta", "regression_mixture")
PROCESS_BACKENDS = ("loky", "multiprocessing", "dask")
SEQUENTIAL_LEVEL = 0.01  # the Clopper-Pearson interval of the sequential BLRT stopping rule is 99%


@dataclass
class Enumeration:
    """Fits for every number of classes and the table comparing them (``enumerate``)."""

    table: pd.DataFrame
    results: dict  # K -> MLResult (missing where the fit failed)
    blrt_statistics: dict = field(default_factory=dict)  # K -> bootstrap LR statistics of K-1 vs K
    failures: dict = field(default_factory=dict)  # K -> error message

    def __repr__(self):
        return self.table.to_string(index=False, float_format=lambda v: f"{v:.4g}")

    def _repr_html_(self) -> str:
        """HTML table for notebooks (``html.py``)."""
        from .html import enumeration_html

        return enumeration_html(self)

    def best(self, criterion: str = "BIC") -> int:
        """The number of classes with the smallest value of ``criterion`` (AIC, BIC, aBIC, CAIC)."""
        if criterion not in ("AIC", "BIC", "aBIC", "CAIC"):
            raise SpecificationError(f"criterion must be AIC, BIC, aBIC or CAIC, got {criterion!r}")
        ok = self.table.dropna(subset=[criterion])
        return int(ok.loc[ok[criterion].idxmin(), "K"])

    def plot(self, criteria=("AIC", "BIC", "aBIC", "CAIC"), ax=None):
        """Information criteria over the number of classes (needs matplotlib; ``plots.information_criteria``)."""
        from .plots import information_criteria

        return information_criteria(self, criteria, ax)


def _constructor(model) -> Callable:
    if callable(model):
        return model
    if model not in CONSTRUCTORS:
        raise SpecificationError(f"model={model!r} is not one of {CONSTRUCTORS} (or pass a constructor function)")
    from . import models

    return getattr(models, model)


def enumerate_classes(data: pd.DataFrame, items=None, n_classes=range(1, 7), model="lca", *, starts=(20, 5),
                      seed: int | None = 0, fit_options: dict | None = None, lmr: bool = True, blrt: bool = False,
                      blrt_draws: int = 100, blrt_starts=(10, 3), blrt_sequential: bool = False,
                      blrt_alpha: float = 0.05, absolute_fit: bool = True, n_jobs: int = 1, backend: str = "loky",
                      progress=None, **constructor_options) -> Enumeration:
    """Fit ``model`` for every number of classes in ``n_classes`` and tabulate the fit (see module doc).

    Parameters
    ----------
    data, items : passed to the constructor (``items=None`` passes none, e.g. ``regression_mixture``).
    n_classes : the numbers of classes to fit (consecutive values get LMR and BLRT tests).
    model : ``"lca"``, ``"gom"``, ``"fma"``, ``"lta"``, ``"regression_mixture"`` or a
        constructor function ``f(data, items, n_classes=K, **constructor_options)``.
    starts, seed, fit_options : random starts and seed of every fit and further ``Model.fit``
        options (``se`` defaults to None: the table needs no standard errors).
    lmr : Vuong-Lo-Mendell-Rubin and adjusted LMR p-values of K-1 against K (TECH11).
    blrt : the bootstrap likelihood ratio test of K-1 against K (TECH14); ``blrt_draws`` data
        sets at most, each fitted with ``blrt_starts`` for the K model; ``blrt_sequential``
        stops early (see module doc) with level ``blrt_alpha``.
    absolute_fit : G2 and Pearson X2 with df for categorical items without covariates.
    n_jobs, backend : joblib worker processes for the bootstrap draws (``"loky"``, ``"multiprocessing"``,
        ``"dask"``); each worker compiles the graphs once (some seconds), so this pays off for many draws.
    progress : bars on stderr over every fit's random starts (best log-likelihood so far) and
        over the bootstrap draws (the p-value so far): None (the default) on a terminal or in a
        notebook only, True always, False never (``progress.py``).
    constructor_options : any further arguments of the constructor (covariates, family, cluster...).
    """
    make = _constructor(model)
    ks = sorted(int(k) for k in n_classes)
    if not ks or ks[0] < 1:
        raise SpecificationError(f"n_classes must be numbers of classes >= 1, got {list(n_classes)}")
    if blrt and blrt_draws < 1:
        raise SpecificationError(f"blrt_draws must be >= 1, got {blrt_draws}")
    options = {"starts": starts, "seed": seed, "se": None, "progress": progress}
    options.update(fit_options or {})
    if (lmr or blrt) and options.get("method", "ml") != "ml":
        raise SpecificationError("LMR and BLRT tests need maximum likelihood fits (method='ml')")
    args = (data,) if items is None else (data, items)
    results, failures, rows, boot = {}, {}, [], {}
    for k in ks:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                results[k] = make(*args, n_classes=k, **constructor_options).fit(**options)
        except MlmixError as err:
            failures[k] = f"{type(err).__name__}: {err}"
    for k in ks:
        rows.append(_row(k, results.get(k), absolute_fit))
    table = pd.DataFrame(rows)
    for col in ("VLMR_p", "aLMR_p", "BLRT_p", "BLRT_draws"):
        table[col] = np.nan
    for i, k in enumerate(ks):
        smaller, larger = results.get(k - 1), results.get(k)
        if smaller is None or larger is None:
            continue
        if lmr:
            try:
                from .fit_tests import vlmr_test

                test = vlmr_test(smaller, larger)
                table.loc[i, "VLMR_p"] = test.p_value
                table.loc[i, "aLMR_p"] = test.details["adjusted_p_value"]
            except (MlmixError, np.linalg.LinAlgError) as err:
                failures[f"LMR {k - 1} vs {k}"] = f"{type(err).__name__}: {err}"
        if blrt:
            p, draws = bootstrap_lrt(smaller, larger, draws=blrt_draws, starts=blrt_starts,
                                     seed=(0 if seed is None else seed, k), sequential=blrt_sequential,
                                     alpha=blrt_alpha, n_jobs=n_jobs, backend=backend, progress=progress)
            boot[k] = draws
            table.loc[i, "BLRT_p"] = p
            table.loc[i, "BLRT_draws"] = len(draws)
    return Enumeration(table, results, boot, failures)


def _row(k: int, res, absolute: bool) -> dict:
    """One line of the enumeration table."""
    row = {"K": k, "LL": np.nan, "npar": np.nan, "AIC": np.nan, "BIC": np.nan, "aBIC": np.nan, "CAIC": np.nan,
           "entropy": np.nan, "smallest_class": np.nan, "smallest_count": np.nan, "replicated": np.nan,
           "G2": np.nan, "X2": np.nan, "df": np.nan}
    if res is None:
        return row
    props = res.class_proportions()
    first = props[props["class_var"] == props["class_var"].iloc[0]]
    row.update(LL=res.loglik, npar=res.n_params, AIC=res.aic, BIC=res.bic, aBIC=res.abic,
               CAIC=-2 * res.loglik + res.n_params * (np.log(res.n_obs) + 1), entropy=res.entropy,
               smallest_class=float(first["model_estimated"].min()),
               smallest_count=int(first["most_likely_count"].min()), replicated=res.n_replicated)
    if absolute:
        from .absolute_fit import chi_square_fit, patterns_allow

        if patterns_allow(res):
            fit = chi_square_fit(res)
            row.update(G2=fit["G2"], X2=fit["X2"], df=fit["df"])
    return row


# ---------------------------------------------------------------- bootstrap LRT
def bootstrap_lrt(smaller, larger, draws: int = 100, starts=(10, 3), seed=0, sequential: bool = False,
                  alpha: float = 0.05, n_jobs: int = 1, backend: str = "loky",
                  progress=None) -> tuple[float, np.ndarray]:
    """Parametric bootstrap LRT of ``smaller`` (k-1 classes) against ``larger`` (k classes), TECH14.

    Returns the p-value (share of draws with 2 (L_k - L_k-1) >= the real data's; NaN when no
    draw succeeded) and the bootstrap statistics of the successful draws. ``progress``: a bar on
    stderr over the draws with the p-value so far (None: on a terminal or in a notebook only).
    """
    for res in (smaller, larger):
        if res.model is None:
            raise SpecificationError("the bootstrap LRT needs results with their model attached")
    return bootstrap_statistics((smaller.model, larger.model), (smaller.theta, larger.theta),
                                2.0 * (larger.loglik - smaller.loglik),
                                (smaller.integration_settings, larger.integration_settings), draws, starts, seed,
                                sequential, alpha, n_jobs, backend, progress,
                                f"bootstrap LRT {_n_classes(smaller)} vs {_n_classes(larger)} classes")


def _n_classes(result) -> int:
    """Number of classes of the first class variable (the bar's label)."""
    return result.structure.class_vars[0].n_classes


def bootstrap_statistics(models, thetas, observed: float, settings=({}, {}), draws: int = 100, starts=(10, 3),
                         seed=0, sequential: bool = False, alpha: float = 0.05, n_jobs: int = 1,
                         backend: str = "loky", progress=None,
                         desc: str = "bootstrap LRT draws") -> tuple[float, np.ndarray]:
    """The bootstrap of ``bootstrap_lrt`` from (k-1, k)-class ``models`` (their structures only) and estimates.

    ``thetas`` are the two models' estimates, ``observed`` the real data's 2 (L_k - L_k-1);
    ``progress`` / ``desc``: the bar over the draws (``progress.py``).
    """
    from .progress import ProgressBar

    ss = np.random.SeedSequence(list(np.atleast_1d(seed)))
    seeds = [int(s.generate_state(1)[0]) for s in ss.spawn(draws)]
    batch = max(1, n_jobs) * (5 if sequential else draws)
    statistics: list[float] = []
    done = 0
    step = batch if n_jobs > 1 else 1  # one draw at a time in this process: the bar moves every draw
    with ProgressBar(draws, desc, progress) as bar:
        while done < draws:
            chunk = seeds[done:done + min(step, batch)]
            statistics += _run_draws(models, thetas, settings, chunk, starts, n_jobs, backend)
            done += len(chunk)
            bar.update(len(chunk), _p_text(statistics, observed))
            if sequential and done % batch == 0 and _can_stop(np.array(statistics), observed, alpha):
                break
    stats_ = np.array([s for s in statistics if np.isfinite(s)])
    p = float(np.mean(stats_ >= observed)) if stats_.size else float("nan")
    return p, stats_


def _p_text(statistics: list, observed: float) -> str:
    """'p = 3/40' of the successful draws so far."""
    ok = np.array([s for s in statistics if np.isfinite(s)])
    return f"p = {int(np.sum(ok >= observed))}/{ok.size}"


def _can_stop(statistics: np.ndarray, observed: float, alpha: float) -> bool:
    """Sequential rule: the 99% Clopper-Pearson interval of the p-value excludes ``alpha``."""
    ok = statistics[np.isfinite(statistics)]
    n, x = ok.size, int(np.sum(ok >= observed))
    if n < 2:
        return False
    lo = stats.beta.ppf(SEQUENTIAL_LEVEL / 2, x, n - x + 1) if x > 0 else 0.0
    hi = stats.beta.ppf(1 - SEQUENTIAL_LEVEL / 2, x + 1, n - x) if x < n else 1.0
    return lo > alpha or hi < alpha


def _run_draws(models, thetas, settings, seeds, starts, n_jobs, backend) -> list[float]:
    if n_jobs == 1 or len(seeds) == 1:
        return _draws(models[0], models[1], thetas, settings, seeds, starts)
    if backend not in PROCESS_BACKENDS:  # the shared compiled functions hold their own buffers
        raise SpecificationError(f"backend={backend!r}: the bootstrap runs in processes, one of {PROCESS_BACKENDS} "
                                 "(compiled PyTensor functions are shared within a process and are not thread-safe)")
    from joblib import Parallel, delayed, parallel_backend

    if backend == "dask":
        try:
            import distributed  # noqa: F401
        except ImportError:
            raise SpecificationError("backend='dask' needs the optional extra: pip install 'mlmix-pymc[dask]'") \
                from None
    chunks = [c for c in np.array_split(np.array(seeds, dtype=np.int64), n_jobs) if len(c)]
    specs = (models[0].spec, models[1].spec, models[0].frame)
    with parallel_backend(backend, n_jobs=n_jobs):
        parts = Parallel()(delayed(_draws_in_worker)(specs, thetas, settings, [int(s) for s in c], starts)
                           for c in chunks)
    return [s for part in parts for s in part]


def _draws_in_worker(specs, theta, settings, seeds, starts) -> list[float]:
    """A worker's chunk of draws: the models are rebuilt (no compilation) and compiled once there."""
    from .model import Model

    spec_small, spec_large, frame = specs
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _draws(Model(spec_small, frame), Model(spec_large, frame), theta, settings, seeds, starts)


def _draws(model_small, model_large, theta, settings, seeds, starts) -> list[float]:
    """2 (L_k - L_k-1) of every draw (NaN where a fit failed)."""
    from .estimate.optimize import run_starts
    from .engine.reuse import objective_for_frame
    from .simulate import simulate

    from threadpoolctl import threadpool_limits

    from .progress import quiet

    out = []
    for s in seeds:
        rng = np.random.default_rng(s)
        try:  # one BLAS thread: L-BFGS-B's small vector operations are slower with a thread pool (as in ml.py)
            with warnings.catch_warnings(), threadpool_limits(limits=1, user_api="blas"), quiet():
                warnings.simplefilter("ignore")
                frame = simulate(model_small, theta[0], seed=rng)
                obj_small, _ = objective_for_frame(model_small, frame, settings[0], coded=True)
                obj_large, _ = objective_for_frame(model_large, frame, settings[1], coded=True)
                n_obs = float(obj_small.structure.pattern_counts.sum())
                null = run_starts(obj_small, (0, 0), None, theta[0], max_iter=5000, n_obs=n_obs)
                alt = run_starts(obj_large, starts, int(rng.integers(2**31)), theta[1], max_iter=5000, n_obs=n_obs)
            # the K-class model contains the K-1 class one (a class of size 0): a K-class optimum below the
            # K-1 class one is a local maximum, so the statistic is floored at 0
            out.append(2.0 * (max(alt.loglik, null.loglik) - null.loglik) if np.isfinite(alt.loglik) else np.nan)
        except (MlmixError, FloatingPointError, np.linalg.LinAlgError, ValueError):
            out.append(np.nan)
    return out

