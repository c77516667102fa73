"""Side-by-side ML and Bayesian results: one table and a forest-style plot."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .bayes.layout import check_same_model, parameter_draws
from .bayes.sampling import phi_diagnostics, theta_draws
from .html import comparison_html
from .plots import forest


@dataclass
class Comparison:
    """ML estimates beside posterior summaries (``compare_ml_bayes``)."""

    table: pd.DataFrame
    loglik_ml: float
    loglik_posterior_mean: float

    def __repr__(self):
        return (f"{self.table.to_string(index=False, float_format=lambda v: f'{v:.4f}')}\n\n"
                f"loglikelihood at the ML optimum {self.loglik_ml:.3f}; at the posterior mean "
                f"{self.loglik_posterior_mean:.3f}")

    def _repr_html_(self) -> str:
        """HTML table for notebooks (``html.py``)."""
        return comparison_html(self)

    def plot(self, ax=None):
        """Forest plot: ML estimate +- 1.96 SE and the posterior mean with its interval, per parameter
        (needs matplotlib; ``plots.forest``)."""
        return forest(self, ax)


def compare_ml_bayes(ml_result, idata, level: float = 0.95) -> Comparison:
    """ML versus Bayes, per free parameter: ML estimate and SE, posterior mean, sd, equal-tailed
    interval, r_hat, bulk ESS (Mplus names). Not ``az.compare`` (that compares models by LOO).

    ``idata`` comes from ``Model.sample`` (label-aligned to the ML classes) or ``mm.align_draws``.
    Also the log-likelihood at the ML optimum and at the posterior mean of ``theta``, the
    latter integrated as the ML fit was (its method and points). A posterior of another model
    (other parameters, e.g. another number of classes) is a ``SpecificationError``.
    """
    check_same_model(ml_result, idata)
    params = ml_result.parameters
    free = (params["status"] != "fixed").to_numpy()
    phi = parameter_draws(idata)
    draws = phi.values.reshape(-1, phi.shape[-1])
    lo, hi = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2], axis=0)
    rhat, ess = np.full(len(free), np.nan), np.full(len(free), np.nan)
    rhat[free], ess[free] = phi_diagnostics(idata, np.flatnonzero(free))
    table = pd.DataFrame({
        "parameter": params["name"], "ml_estimate": params["estimate"], "ml_se": params["se"],
        "posterior_mean": draws.mean(axis=0), "posterior_sd": draws.std(axis=0, ddof=1), "lower": lo, "upper": hi,
        "r_hat": rhat, "ess_bulk": ess,
    })[free].reset_index(drop=True)
    model = ml_result.model
    theta_mean = theta_draws(idata, model).values.reshape(-1, model.n_free).mean(axis=0)
    # evaluated with the fit's own integration (method, points), so both values are on one scale
    at_mean = model.loglik(theta_mean, **ml_result.integration_settings)
    return Comparison(table, float(ml_result.loglik), float(at_mean))


def compare(ml_result, idata, level: float = 0.95) -> Comparison:
    """Deprecated alias of ``compare_ml_bayes`` (the name read like ``az.compare``)."""
    import warnings

    warnings.warn("mm.compare is renamed mm.compare_ml_bayes (ML versus Bayes; az.compare compares models)",
                  DeprecationWarning, stacklevel=2)
    return compare_ml_bayes(ml_result, idata, level)
