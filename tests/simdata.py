"""Data simulated with numpy from known parameters (independent of mlmix_pymc)."""

import numpy as np
import pandas as pd
from scipy import special, stats


def cdf(x, link):
    """Link distribution function."""
    return special.expit(x) if link == "logit" else stats.norm.cdf(x)


def draw_classes(rng, n, logits_matrix):
    """Draw classes from rows of logits (n, K)."""
    p = special.softmax(logits_matrix, axis=1)
    u = rng.uniform(size=(n, 1))
    return (u > np.cumsum(p, axis=1)).sum(axis=1)


def simulate_categorical(rng, classes, thresholds, link="logit"):
    """Ordered categorical items: thresholds (K, P, M-1), P(y <= m | c) = F(tau_{m+1})."""
    tau = thresholds[classes]  # (n, P, M-1)
    cum = cdf(tau, link)
    u = rng.uniform(size=cum.shape[:2])[..., None]
    return (u > cum).sum(axis=-1)


def frame(values, prefix):
    """DataFrame with columns prefix1..prefixP."""
    return pd.DataFrame(values, columns=[f"{prefix}{i + 1}" for i in range(values.shape[1])])
