"""Censored-normal items (Tobit): y* ~ N(mean_c + eta, var_c), observed y = max(y*, L) (censored
from below, Mplus CENSORED = y (b)) or min(y*, U) (from above, (a)).

As in Mplus, the censoring point is the item's smallest (below) or largest (above) observed
value, fixed by ``bind``. A value at the point contributes log P(y* <= L) = log Phi((L - mu) / s)
(or log Phi((mu - U) / s)); the others the normal log density. Statistics [u, u y^2, u y, c]
(u: observed and uncensored, c: censored) contract with the normal's coefficients and the
log tail probability. Parameters are named as for normal items (``y|c#k``, ``var(y)|c#k``).
"""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt
from .base import LOG_2PI, Family, interleave, masked, standardized
from .categorical import log_cdf
from .normal import NORMAL


class CensoredNormal(Family):
    """Normal items censored at one end, with class-specific means and variances."""

    data_kind = "continuous"
    prior_sd = {"mean": 10.0, "variance": 1.5}
    mplus_keyword = "CENSORED"
    intercept_role, intercept_sign = "means", 1.0

    def __init__(self, side: str, points: tuple | None = None):
        self.side = side  # "below" (b) or "above" (a)
        self.name = f"censored-{side}"
        self.names = (self.name,)
        self.mplus_option = "(b)" if side == "below" else "(a)"
        self.points = points  # (P,) censoring point of each item of the group

    def bind(self, values, names=()):
        points = np.nanmin(values, axis=0) if self.side == "below" else np.nanmax(values, axis=0)
        return CensoredNormal(self.side, tuple(float(v) for v in points))

    def signature(self):
        return (self.name, self.points)

    def add_blocks(self, layout, key, cv_name, n_classes, items, n_categories, values):
        return NORMAL.add_blocks(layout, key, cv_name, n_classes, items, n_categories, values)  # the latent normal's

    def _censored(self, y: np.ndarray, obs: np.ndarray) -> np.ndarray:
        points = np.asarray(self.points)[None, :]
        return ((y <= points) if self.side == "below" else (y >= points)) * obs

    def n_stats(self, n_categories):
        return 4

    def stats(self, values, n_categories):
        obs, y = masked(values)
        censored = self._censored(y, obs)
        uncensored = obs - censored
        return interleave(uncensored, uncensored * y**2, uncensored * y, censored)

    def coefficients(self, params, eta, link):
        mean, var = params["means"], params["variances"]
        if eta is not None:
            mean = mean + eta
        inv = 1.0 / var
        full = LOG_2PI + pt.log(var) + mean**2 * inv
        points = pt.as_tensor_variable(np.asarray(self.points))  # (P,): the last axis of the parameters
        scaled = (points - mean) / pt.sqrt(var)
        tail = log_cdf(scaled if self.side == "below" else -scaled, "probit")  # log P(censored)
        zero = pt.zeros_like(full)
        return pt.stack([-0.5 * full, -0.5 * inv + zero, mean * inv + zero, tail + zero], axis=-1)

    def start_values(self, weights, stats, n_categories, link):
        obs, y2, y = stats[..., 0], stats[..., 1], stats[..., 2]
        n_k = weights.T @ obs + 1e-9
        mean = (weights.T @ y) / n_k
        var = (weights.T @ y2) / n_k - mean**2
        row_w = weights.sum(axis=1)
        total_var = (row_w @ y2) / (row_w @ obs) - ((row_w @ y) / (row_w @ obs)) ** 2
        return {"means": mean, "variances": np.maximum(var, 0.1 * total_var)}

    def features(self, stats, counts):
        seen = stats[..., 0] + stats[..., 3]
        values = np.where(stats[..., 0] > 0, stats[..., 2], np.asarray(self.points)[None, :])
        return standardized(values * seen, seen, counts)

    def simulate(self, rng, params, eta, link, item=0):
        latent = params["means"] + eta + np.sqrt(params["variances"]) * rng.standard_normal(len(eta))
        clip = np.maximum if self.side == "below" else np.minimum
        return clip(latent, self.points[item])


CENSORED_BELOW, CENSORED_ABOVE = CensoredNormal("below"), CensoredNormal("above")
