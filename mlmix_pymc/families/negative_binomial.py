"""Negative binomial counts (NB2): y ~ NB(mu = exp(nu_c + eta), dispersion alpha_c), Mplus COUNT = y (nb).

Var(y) = mu + alpha mu^2 (alpha -> 0: Poisson). With r = 1 / alpha,

    log f(y) = sum_{j<y} log(r + j) - log y! + r log(r / (r + mu)) + y log(mu / (r + mu)),

so the statistics [m, m y, m log y!, m 1(y > 0), ..., m 1(y > Y - 1)] (Y the group's largest
count, fixed by ``bind``) contract with [-log(1 + alpha mu) / alpha, log(alpha mu / (1 + alpha mu)),
-1, log(r), ..., log(r + Y - 1)]. ``[item]|c#k`` is the log rate (the Mplus count intercept),
``disp(item)|c#k`` the dispersion alpha (log-parameterized).
"""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt
from scipy import special

from ..errors import DataError
from .base import Family, add_class_block, class_names, interleave, masked, standardized

MIN_DISPERSION, MAX_DISPERSION = 1e-4, 1e3  # alpha at 1e-4 is Poisson to the eye: reported at the bound


class NegativeBinomial(Family):
    """Negative binomial (NB2) counts with class-specific log rates and dispersions."""

    name = "negbin"
    names = ("negbin",)
    data_kind = "count"
    prior_sd = {"log rate": 2.5, "dispersion": 1.5}
    mplus_keyword, mplus_option = "COUNT", "(nb)"
    intercept_role, intercept_sign = "log_rates", 1.0

    def __init__(self, max_count: int | None = None, items: tuple = ()):
        self.max_count = max_count
        self.items = items  # the group's item names, for the error about a larger count in later data

    def bind(self, values, names=()):
        observed = values[~np.isnan(values)]
        return NegativeBinomial(max(1, int(observed.max())) if observed.size else 1, tuple(names))

    def signature(self):
        return (self.name, self.max_count)

    def add_blocks(self, layout, key, cv_name, n_classes, items, n_categories, values):
        add_class_block(layout, f"lograte:{key}", class_names("[{item}]", items, cv_name, n_classes), "log rate",
                        cv_name, items, bounds=(-30.0, 30.0))
        add_class_block(layout, f"dispersion:{key}", class_names("disp({item})", items, cv_name, n_classes),
                        "dispersion", cv_name, items, "log", (np.log(MIN_DISPERSION), np.log(MAX_DISPERSION)))
        return {"log_rates": f"lograte:{key}", "dispersions": f"dispersion:{key}"}

    def n_stats(self, n_categories):
        return 3 + self._bound()

    def _bound(self) -> int:
        if self.max_count is None:
            raise RuntimeError("NegativeBinomial.bind(values) fixes the largest count before use")
        return self.max_count

    def stats(self, values, n_categories):
        obs, y = masked(values)
        top = self._bound()
        if np.any(y > top):
            p = int(np.argmax(y.max(axis=0)))
            item = repr(self.items[p]) if p < len(self.items) else f"number {p + 1} of its group"
            raise DataError(f"negative binomial item {item} has count {int(y[:, p].max())}, above the largest count "
                            f"{top} of the data the model was built on; build the model on data that include it")
        above = (y[:, :, None] > np.arange(top)[None, None, :]) * obs[:, :, None]  # (n, P, Y): 1(y > j)
        base = interleave(obs, y, special.gammaln(y + 1.0) * obs).reshape(len(y), y.shape[1], 3)
        return np.concatenate([base, above], axis=2).reshape(len(y), -1)

    def coefficients(self, params, eta, link):
        nu, alpha = params["log_rates"], params["dispersions"]
        if eta is not None:
            nu = nu + eta
        log_t = pt.log(alpha) + nu  # log(alpha mu)
        first = -pt.softplus(log_t) / alpha  # r log(r / (r + mu))
        second = -pt.softplus(-log_t)  # log(mu / (r + mu))
        j = pt.as_tensor_variable(np.arange(self._bound(), dtype=float))
        shift = pt.log1p(alpha[..., None] * j) - pt.log(alpha)[..., None]  # log(r + j), shape of alpha + (Y,)
        shift = shift + pt.zeros_like(first)[..., None]
        return pt.concatenate([pt.stack([first, second, pt.zeros_like(first) - 1.0], axis=-1), shift], axis=-1)

    def start_values(self, weights, stats, n_categories, link):
        obs, y = stats[..., 0], stats[..., 1]
        n_k = weights.T @ obs + 1.0
        mean = (weights.T @ y + 0.5) / n_k
        second = (weights.T @ (y * y) + 0.5) / n_k
        alpha = (second - mean**2 - mean) / mean**2  # method of moments: var = mu + alpha mu^2
        return {"log_rates": np.log(mean), "dispersions": np.clip(alpha, 0.05, 10.0)}

    def features(self, stats, counts):
        obs = stats[..., 0]
        return standardized(np.log1p(stats[..., 1]) * obs, obs, counts)

    def simulate(self, rng, params, eta, link, item=0):
        mu = np.exp(params["log_rates"] + eta)
        r = 1.0 / params["dispersions"]
        return rng.negative_binomial(r, r / (r + mu)).astype(float)


NEGATIVE_BINOMIAL = NegativeBinomial()
