"""Monte Carlo studies: simulate from a model, refit, summarize bias, MSE, SE ratio, coverage.

As Mplus's MONTECARLO command: every replication draws the indicators from the model at
``true_values`` (``simulate.py``), fits the same specification starting from the true
values, and the summary compares the estimates with the truth. Replications run in
parallel with joblib; ``backend="dask"`` sends them to a dask cluster (optional extra).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np
import pandas as pd
from scipy import stats

from .errors import SpecificationError
from .simulate import simulate


@dataclass
class MonteCarloResult:
    """Estimates of every replication and their summary against the true values."""

    true_values: dict
    estimates: pd.DataFrame  # one row per replication, one column per parameter
    standard_errors: pd.DataFrame
    logliks: np.ndarray
    failed: list  # (replication, message)

    def _repr_html_(self) -> str:
        """HTML table for notebooks (``html.py``)."""
        from .html import montecarlo_html

        return montecarlo_html(self)

    def summary(self, level: float = 0.95) -> pd.DataFrame:
        """Per parameter: true value, mean estimate, bias, sd, mean SE, SE ratio, MSE, coverage."""
        z = stats.norm.ppf(0.5 + level / 2)
        rows = []
        for name, truth in self.true_values.items():
            est = self.estimates[name].to_numpy(dtype=float)
            se = self.standard_errors[name].to_numpy(dtype=float)
            ok = np.isfinite(est)
            sd = est[ok].std(ddof=1) if ok.sum() > 1 else np.nan
            covered = np.abs(est - truth) <= z * se
            rows.append({
                "parameter": name, "true": truth, "mean": est[ok].mean(), "bias": est[ok].mean() - truth,
                "sd": sd, "mean_se": np.nanmean(se) if np.isfinite(se).any() else np.nan,
                "se_ratio": np.nanmean(se) / sd if np.isfinite(se).any() and sd > 0 else np.nan,
                "mse": np.mean((est[ok] - truth) ** 2), "coverage": covered[np.isfinite(se)].mean()
                if np.isfinite(se).any() else np.nan, "n_reps": int(ok.sum()),
            })
        return pd.DataFrame(rows)


def montecarlo(model, true_values: Mapping[str, float], n_reps: int = 100, seed: int = 0,
               design: Callable[[np.random.Generator], pd.DataFrame] | None = None, fit_options: dict | None = None,
               n_jobs: int = 1, backend: str = "loky", progress=None) -> MonteCarloResult:
    """Run a Monte Carlo study of ``model`` at ``true_values``.

    Parameters
    ----------
    model : a ``Model``; its spec is refitted to every simulated data set.
    true_values : parameter name -> true value (natural scale); parameters not listed take
        the model's default start, and only listed parameters are summarized.
    n_reps, seed : number of replications and the seed (replication r uses seed (seed, r)).
    design : function of a numpy Generator returning a DataFrame with the covariates and
        the cluster column (new covariates every replication); default: the model's data.
    fit_options : keyword arguments of ``Model.fit``; the default starts from the true
        values only (``starts=(0, 0)``), as Mplus does in Monte Carlo studies.
    n_jobs, backend : joblib parallelism (``"loky"``, ``"threading"``, or ``"dask"``).
    progress : a bar on stderr over the replications with the number failed so far: None (the
        default) on a terminal or in a notebook only, True always, False never; the fits inside
        the replications are silent (``progress.py``).
    """
    from .progress import ProgressBar

    if n_reps < 1:
        raise SpecificationError(f"n_reps must be >= 1, got {n_reps}")
    unknown = set(true_values) - set(model.parameter_names)
    if unknown:
        raise SpecificationError(f"true_values names unknown parameter(s) {sorted(unknown)}")
    options = {"starts": (0, 0), "start_values": dict(true_values), "se": "observed"}
    options.update(fit_options or {})
    tasks = [(model.spec, model.frame, dict(true_values), design, (seed, r), options) for r in range(n_reps)]
    bar = ProgressBar(n_reps, "Monte Carlo replications", progress)
    if n_jobs == 1:
        outcomes = _collect((_one_replication(*t) for t in tasks), bar)
    else:
        from joblib import Parallel, delayed, parallel_backend

        if backend == "dask":
            try:
                import distributed  # noqa: F401
            except ImportError:
                raise SpecificationError("backend='dask' needs the optional extra: pip install 'mlmix-pymc[dask]'") \
                    from None
        with parallel_backend(backend, n_jobs=n_jobs):  # results in order, as they arrive
            outcomes = _collect(Parallel(return_as="generator")(delayed(_one_replication)(*t) for t in tasks), bar)
    names = list(true_values)
    est = pd.DataFrame([o[0] for o in outcomes], columns=model.parameter_names)[names]
    se = pd.DataFrame([o[1] for o in outcomes], columns=model.parameter_names)[names]
    failed = [(r, o[3]) for r, o in enumerate(outcomes) if o[3]]
    return MonteCarloResult(dict(true_values), est, se, np.array([o[2] for o in outcomes]), failed)


def _collect(outcomes, bar) -> list:
    """The replications' outcomes, advancing ``bar`` (failed count) as each arrives."""
    out, failed = [], 0
    with bar:
        for outcome in outcomes:
            out.append(outcome)
            failed += bool(outcome[3])
            bar.update(1, f"{failed} failed")
    return out


def _one_replication(spec, frame, true_values, design, seed, options):
    """Simulate and fit one replication; returns (estimates, SEs, loglik, error message)."""
    from .model import Model

    rng = np.random.default_rng(seed)
    template = Model(spec, frame)
    base = design(rng) if design is not None else frame
    data = simulate(template, true_values, design=base, seed=rng)
    n = len(template.parameter_names)
    try:
        from .progress import quiet

        with warnings.catch_warnings(), quiet():  # no bars or compile notices per replication
            warnings.simplefilter("ignore")
            res = Model(spec, data).fit(**options)
        return res.phi.tolist(), res.se.tolist(), res.loglik, ""
    except Exception as err:  # a failed replication is recorded, not fatal (as Mplus)
        return [np.nan] * n, [np.nan] * n, np.nan, f"{type(err).__name__}: {err}"
