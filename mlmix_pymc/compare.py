"""Side-by-side ML and Bayesian results: one table and a forest-style plot."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass
class Comparison:
    """ML estimates beside posterior summaries (``compare``)."""

    table: pd.DataFrame
    loglik_ml: float
    loglik_posterior_mean: float

    def __repr__(self):
        return (f"{self.table.to_string(index=False, float_format=lambda v: f'{v:.4f}')}\n\n"
                f"loglikelihood at the ML optimum {self.loglik_ml:.3f}; at the posterior mean "
                f"{self.loglik_posterior_mean:.3f}")

    def _repr_html_(self) -> str:
        """HTML table for notebooks (``html.py``)."""
        from .html import comparison_html

        return comparison_html(self)

    def plot(self, ax=None):
        """Forest plot: ML estimate +- 1.96 SE and the posterior mean with its interval, per parameter
        (needs matplotlib; ``plots.forest``)."""
        from .plots import forest

        return forest(self, ax)


def compare(ml_result, idata, level: float = 0.95) -> Comparison:
    """Per free parameter: ML estimate and SE, posterior mean, sd, equal-tailed interval, r_hat, bulk ESS.

    ``idata`` comes from ``Model.sample`` (its ``phi`` is label-aligned to the ML classes).
    Also the log-likelihood at the ML optimum and at the posterior mean of ``theta``, the
    latter integrated as the ML fit was (its method and points).
    """
    from .estimate.bayes import phi_diagnostics

    params = ml_result.parameters
    free = (params["status"] != "fixed").to_numpy()
    _check_same_model(ml_result, idata)
    phi = idata.posterior["phi"]
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
    theta_mean = idata.posterior["theta"].values.reshape(-1, model.n_free).mean(axis=0)
    # evaluated with the fit's own integration (method, points), so both values are on one scale
    at_mean = model.loglik(theta_mean, **ml_result.integration_settings)
    return Comparison(table, float(ml_result.loglik), float(at_mean))


def _check_same_model(ml_result, idata) -> None:
    """``idata`` must be a posterior of the model that ``ml_result`` fitted (same parameters)."""
    from .errors import SpecificationError

    posterior = getattr(idata, "posterior", None)
    if posterior is None or "phi" not in posterior:
        raise SpecificationError("compare() needs the InferenceData returned by Model.sample (with 'phi' draws)")
    names = list(ml_result.structure.layout.names)
    phi = posterior["phi"]
    drawn = list(map(str, phi.coords["parameter"].values)) if "parameter" in phi.coords else None
    if phi.shape[-1] != len(names) or (drawn is not None and drawn != names):
        raise SpecificationError(f"compare(): the ML result has {len(names)} parameters but the posterior draws have "
                                 f"{phi.shape[-1]}" + ("" if drawn is None or phi.shape[-1] != len(names) else
                                                      " with other names") + "; they come from different models")
