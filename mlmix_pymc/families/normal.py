"""Continuous normal items: y ~ N(mean_c + eta, var_c) (eq 2 with an identity link).

Statistics [m, m y^2, m y] (m: observed) make the log density one contraction with
-1/2 [log 2 pi s2 + mu^2 / s2, 1 / s2, -2 mu / s2]. Variances are log-parameterized with a
floor of 1e-6 x the item's variance (a class collapsing onto one value is a singularity); the
variance is the smaller of the sample variance and the squared scaled MAD, so one outlier cannot
raise the floor of every class.
"""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt

from .base import LOG_2PI, Family, add_class_block, class_names, interleave, masked, standardized


class Normal(Family):
    """Normal items with class-specific (or, by constraint, class-equal) means and variances."""

    name = "normal"
    names = ("normal",)
    data_kind = "continuous"
    prior_sd = {"mean": 10.0, "variance": 1.5}

    intercept_role, intercept_sign = "means", 1.0

    def add_blocks(self, layout, key, cv_name, n_classes, items, n_categories, values):
        add_class_block(layout, f"mean:{key}", class_names("{item}", items, cv_name, n_classes), "mean",
                        cv_name, items)
        floor = np.log(1e-6 * robust_variance(values))
        vblock = add_class_block(layout, f"variance:{key}", class_names("var({item})", items, cv_name, n_classes),
                                 "variance", cv_name, items, "log", lambda pos: (floor[pos[1]], np.inf))
        for p, it in enumerate(items):
            if it.variance == "class-equal":
                layout.add_equality(vblock.index[:, p])
        return {"means": f"mean:{key}", "variances": f"variance:{key}"}

    def n_stats(self, n_categories):
        return 3

    def stats(self, values, n_categories):
        obs, y = masked(values)
        return interleave(obs, y**2, y)

    def coefficients(self, params, eta, link):
        mean, var = params["means"], params["variances"]
        if eta is not None:
            mean = mean + eta
        inv = 1.0 / var
        full = LOG_2PI + pt.log(var) + mean**2 * inv  # broadcast to the shape of mean + eta
        return -0.5 * pt.stack([full, inv + pt.zeros_like(full), -2.0 * mean * inv + pt.zeros_like(full)], axis=-1)

    def start_values(self, weights, stats, n_categories, link):
        obs, y2, y = stats[..., 0], stats[..., 1], stats[..., 2]
        n_k = weights.T @ obs + 1e-9
        mean = (weights.T @ y) / n_k
        var = (weights.T @ y2) / n_k - mean**2
        row_w = weights.sum(axis=1)
        total_var = (row_w @ y2) / (row_w @ obs) - ((row_w @ y) / (row_w @ obs)) ** 2
        robust = robust_variance(np.where(obs > 0, y, np.nan))
        contaminated = total_var > 100 * robust  # gross outliers: moments would start every class on them
        if contaminated.any():
            med, mad_var = _weighted_median_and_mad_variance(weights, y, obs)
            mean = np.where(contaminated, med, mean)
            var = np.where(contaminated, np.minimum(var, mad_var), var)
            total_var = np.where(contaminated, robust, total_var)
        return {"means": mean, "variances": np.maximum(var, 0.1 * total_var)}

    def features(self, stats, counts):
        return standardized(stats[..., 2], stats[..., 0], counts)

    def simulate(self, rng, params, eta, link, item=0):
        return params["means"] + eta + np.sqrt(params["variances"]) * rng.standard_normal(len(eta))


def _weighted_median_and_mad_variance(weights, y, obs):
    """(K, P) weighted medians and squared scaled weighted MADs of the observed values."""
    k, p = weights.shape[1], y.shape[1]
    med, mad_var = np.zeros((k, p)), np.zeros((k, p))
    for j in range(p):
        seen = obs[:, j] > 0
        for c in range(k):
            med[c, j] = _weighted_median(y[seen, j], weights[seen, c])
            mad_var[c, j] = (1.4826 * _weighted_median(np.abs(y[seen, j] - med[c, j]), weights[seen, c])) ** 2
    return med, mad_var


def _weighted_median(x, w):
    order = np.argsort(x)
    cum = np.cumsum(w[order])
    return float(x[order][np.searchsorted(cum, 0.5 * cum[-1])]) if len(x) else 0.0


def robust_variance(values: np.ndarray) -> np.ndarray:
    """Per column: min(sample variance, (1.4826 MAD)^2), ignoring NaN (MAD 0: the variance)."""
    var = np.nanvar(values, axis=0)
    mad = 1.4826 * np.nanmedian(np.abs(values - np.nanmedian(values, axis=0)), axis=0)
    return np.where(mad > 0, np.minimum(var, mad**2), var)


NORMAL = Normal()
