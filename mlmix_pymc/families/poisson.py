"""Count items: y ~ Poisson(exp(nu_c + eta)) (log link; Mplus COUNT without inflation).

Statistics [m, m y, m log y!] contract with [-mu, log mu, -1], mu = exp(nu_c + eta). The
class-specific log rate ``nu`` is reported as ``[item]|c#k`` (the Mplus count intercept);
``exp(nu)`` is the class's mean count.
"""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt
from scipy import special

from .base import Family, add_class_block, class_names, interleave, masked, standardized


class Poisson(Family):
    """Poisson counts with class-specific log rates."""

    name = "poisson"
    names = ("poisson",)
    data_kind = "count"
    prior_sd = {"log rate": 2.5}

    intercept_role, intercept_sign = "log_rates", 1.0

    def add_blocks(self, layout, key, cv_name, n_classes, items, n_categories, values):
        add_class_block(layout, f"lograte:{key}", class_names("[{item}]", items, cv_name, n_classes), "log rate",
                        cv_name, items, bounds=(-30.0, 30.0))
        return {"log_rates": f"lograte:{key}"}

    def n_stats(self, n_categories):
        return 3

    def stats(self, values, n_categories):
        obs, y = masked(values)
        return interleave(obs, y, special.gammaln(y + 1.0) * obs)

    def coefficients(self, params, eta, link):
        nu = params["log_rates"]
        if eta is not None:
            nu = nu + eta
        return pt.stack([-pt.exp(nu), nu, pt.zeros_like(nu) - 1.0], axis=-1)

    def start_values(self, weights, stats, n_categories, link):
        obs, y = stats[..., 0], stats[..., 1]
        mean = (weights.T @ y + 0.5) / (weights.T @ obs + 1.0)
        return {"log_rates": np.log(mean)}

    def features(self, stats, counts):
        obs = stats[..., 0]
        return standardized(np.log1p(stats[..., 1]) * obs, obs, counts)

    def simulate(self, rng, params, eta, link, item=0):
        return rng.poisson(np.exp(params["log_rates"] + eta)).astype(float)


POISSON = Poisson()
