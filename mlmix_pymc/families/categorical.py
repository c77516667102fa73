"""Binary and ordered categorical items (eq 1): thresholds with a logit or probit link.

With thresholds tau_1 < ... < tau_{M-1} and linear predictor eta (covariates, random
effects, factor loadings times factors), P(y <= m | c) = F(tau_{m+1} - eta). For an LCA
eta = 0, so P(y = 1 | c) = F(-tau) for a binary item, the Mplus convention; with a factor,
P(y = 1 | c, f) = F(lambda f - tau) (eq 36 with the sign of Mplus thresholds).
Thresholds are parameterized as the first threshold and log increments (so they stay
ordered); the first is bounded at +-15 as Mplus does.
"""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt
from scipy import special, stats

from .base import MAX_INCREMENT, MIN_LOG_INCREMENT, THRESHOLD_BOUND, Family, add_class_block, class_names


def log_cdf(x, link: str):
    """log F(x) for the logistic or standard normal distribution, stable in both tails."""
    if link == "logit":
        return -pt.softplus(-x)
    # log Phi(x): erfcx form in the lower tail avoids log(0); both branches get safe inputs
    # so that the unused branch never produces NaN gradients.
    lower_x = pt.switch(x < -1.0, x, -1.0)
    upper_x = pt.switch(x < -1.0, 0.0, x)
    lower = pt.log(pt.erfcx(-lower_x / np.sqrt(2.0)) / 2.0) - lower_x**2 / 2.0
    upper = pt.log1p(-pt.erfc(upper_x / np.sqrt(2.0)) / 2.0)
    return pt.switch(x < -1.0, lower, upper)


def category_log_probs(tau, link: str):
    """log P(y = m), m = 0..M-1, from thresholds tau (..., M-1) along the last axis (eq 1)."""
    lower_cdf = log_cdf(tau, link)  # log P(y <= m), m = 0..M-2
    upper_tail = log_cdf(-tau, link)  # log P(y > m)
    first = lower_cdf[..., :1]
    last = upper_tail[..., -1:]
    if tau.type.shape[-1] == 1:
        return pt.concatenate([first, last], axis=-1)
    hi, lo = lower_cdf[..., 1:], lower_cdf[..., :-1]
    # log(F(b) - F(a)) = log F(b) + log(1 - exp(log F(a) - log F(b)))
    middle = hi + pt.log1mexp(pt.minimum(lo - hi, -1e-300))
    return pt.concatenate([first, middle, last], axis=-1)


def cdf(x, link: str):
    """F(x) in numpy."""
    return special.expit(x) if link == "logit" else stats.norm.cdf(x)


def inverse_link(p: np.ndarray, link: str) -> np.ndarray:
    """F^{-1}(p) for the logit or probit link."""
    return special.logit(p) if link == "logit" else stats.norm.ppf(p)


class Categorical(Family):
    """Binary / ordinal items; statistics are the one-hot categories (zero row when missing)."""

    name = "categorical"
    names = ("binary", "ordinal")
    data_kind = "categorical"
    uses_link = True
    prior_sd = {"threshold": 2.5, "increment": 1.5}

    intercept_role, intercept_sign = "thresholds", -1.0

    def add_blocks(self, layout, key, cv_name, n_classes, items, n_categories, values):
        m = n_categories
        names = class_names("{item}${t}", items, cv_name, n_classes, m - 1)
        transform = np.array(["identity"] + ["increment"] * (m - 2), dtype=object)

        def bounds(pos):
            return (-THRESHOLD_BOUND, THRESHOLD_BOUND) if pos[-1] == 0 else (MIN_LOG_INCREMENT, MAX_INCREMENT)

        add_class_block(layout, f"threshold:{key}", names, "threshold", cv_name, items, transform, bounds)
        return {"thresholds": f"threshold:{key}"}

    def n_stats(self, n_categories):
        return n_categories

    def stats(self, values, n_categories):
        n, p = values.shape
        # one-hot codes, all 0 for a missing value (NaN equals no code); no index arrays, so
        # 1,000,000 x 20 items take the (n, P, C) result and a boolean mask only
        out = (values[:, :, None] == np.arange(n_categories)).astype(float)
        return out.reshape(n, p * n_categories)

    def coefficients(self, params, eta, link):
        tau = params["thresholds"]
        if eta is not None:
            tau = tau - eta[..., None]
        return category_log_probs(tau, link)

    def start_values(self, weights, stats, n_categories, link):
        counts = np.einsum("nk,npm->kpm", weights, stats) + 1.0
        cum = np.cumsum(counts / counts.sum(axis=-1, keepdims=True), axis=-1)[..., :-1]
        return {"thresholds": inverse_link(np.clip(cum, 1e-4, 1 - 1e-4), link)}

    def simulate(self, rng, params, eta, link, item=0):
        below = cdf(params["thresholds"] - eta[:, None], link)  # P(y <= m), (n, M-1)
        return (rng.uniform(size=(len(eta), 1)) > below).sum(axis=1).astype(float)

    def probabilities(self, params, link):
        tau = params["thresholds"]
        cum = np.concatenate([np.zeros(tau.shape[:-1] + (1,)), cdf(tau, link), np.ones(tau.shape[:-1] + (1,))],
                             axis=-1)
        return np.diff(cum, axis=-1)


CATEGORICAL = Categorical()
