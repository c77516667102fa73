"""Nominal (unordered categorical) items: a multinomial logit per class (Mplus NOMINAL).

P(y = m | c) = exp(nu_cm) / sum_l exp(nu_cl) with the last category the reference
(nu_cM = 0); parameters ``item#m|c#k``, m = 1..M-1, as Mplus names them. Statistics are the
one-hot categories. The categories are not ordered: they are coded in their sorted order
(or a pandas Categorical's order) only to name them. Nominal items take no linear
predictor here (covariates, random effects or factor loadings on a nominal item would
need a slope per category).
"""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt
from scipy import special

from .base import THRESHOLD_BOUND, Family, add_class_block, class_names
from .categorical import CATEGORICAL


class Nominal(Family):
    """Nominal items: class-specific multinomial logits, last category the reference."""

    name = "nominal"
    names = ("nominal",)
    data_kind = "categorical"
    takes_linear_predictor = False
    prior_sd = {"nominal intercept": 2.5}

    def add_blocks(self, layout, key, cv_name, n_classes, items, n_categories, values):
        names = class_names("{item}#{t}", items, cv_name, n_classes, n_categories - 1)
        add_class_block(layout, f"nominal:{key}", names, "nominal intercept", cv_name, items,
                        bounds=(-THRESHOLD_BOUND, THRESHOLD_BOUND))
        return {"intercepts": f"nominal:{key}"}

    def n_stats(self, n_categories):
        return n_categories

    def stats(self, values, n_categories):
        return CATEGORICAL.stats(values, n_categories)

    def coefficients(self, params, eta, link):
        nu = params["intercepts"]
        full = pt.concatenate([nu, pt.zeros_like(nu[..., :1])], axis=-1)
        return pt.special.log_softmax(full, axis=-1)

    def start_values(self, weights, stats, n_categories, link):
        counts = np.einsum("nk,npm->kpm", weights, stats) + 1.0
        logp = np.log(counts / counts.sum(axis=-1, keepdims=True))
        return {"intercepts": np.clip(logp[..., :-1] - logp[..., -1:], -10, 10)}

    def simulate(self, rng, params, eta, link, item=0):
        nu = params["intercepts"]
        probs = special.softmax(np.concatenate([nu, np.zeros(nu.shape[:-1] + (1,))], axis=-1), axis=-1)
        return (rng.uniform(size=(len(nu), 1)) > np.cumsum(probs, axis=-1)[:, :-1]).sum(axis=1).astype(float)

    def probabilities(self, params, link):
        nu = params["intercepts"]
        return special.softmax(np.concatenate([nu, np.zeros(nu.shape[:-1] + (1,))], axis=-1), axis=-1)


NOMINAL = Nominal()
