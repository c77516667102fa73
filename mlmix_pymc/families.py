"""Indicator families: log f(y | class) as PyTensor expressions.

Each family returns an (n, K) matrix of per-row, per-class log-likelihood contributions,
summed over the items of the family; missing values contribute 0 (ML under MAR).

Parameter blocks carry a leading *row* axis R: R = 1 for the ordinary likelihood
(parameters shared by every row, contracted with a fast matrix product), R = n for the
per-row score graph (each row has its own copy of the parameters, so one reverse pass
gives every row's score; used for robust MLR standard errors).

Categorical items follow eq 1: with thresholds tau_1 < ... < tau_{M-1} and link F
(logistic or standard normal), P(y <= k | c) = F(tau_{k+1} - eta); for an LCA eta = 0, so
P(y = 1 | c) = F(-tau) for a binary item, the Mplus convention.
"""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt

LOG_2PI = float(np.log(2 * np.pi))


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
    """log P(y = m), m = 0..M-1, from thresholds tau (..., M-1) along the last axis (eq 1, eta = 0)."""
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


def contract(data, params, per_row: bool):
    """sum_d data[i, d] * params[r, k, d] -> (n, K); r = 0 or r = i (per-row graph)."""
    if per_row:
        return (data[:, None, :] * params).sum(axis=-1)
    return pt.dot(data, params[0].T)


def categorical_loglik(onehot: np.ndarray, thresholds, link: str, per_row: bool):
    """Items with M categories: ``onehot`` (n, P*M) masked indicator matrix, thresholds (R, K, P, M-1)."""
    logp = category_log_probs(thresholds, link)  # (R, K, P, M)
    flat = logp.reshape((logp.shape[0], logp.shape[1], -1))
    return contract(pt.as_tensor_variable(onehot), flat, per_row)


def categorical_loglik_eta(onehot, thresholds, eta, link: str):
    """One item with a linear predictor (eq 1-2): log P(y_i | class) with P(y <= m) = F(tau_m - eta).

    ``onehot`` (n, M) (zero row when missing), ``thresholds`` (K, M-1), ``eta`` broadcastable
    to (n, Q, K); returns (n, Q, K).
    """
    logp = category_log_probs(thresholds - eta[..., None], link)  # (n, Q, K, M)
    return (onehot[:, None, None, :] * logp).sum(axis=-1)


def normal_loglik_eta(stats, means, variances, eta):
    """One continuous item with a linear predictor: y ~ N(mean_k + eta, var_k).

    ``stats`` (n, 3) is [m | m y^2 | m y] as in ``normal_stats``; ``means``/``variances`` (K,);
    ``eta`` broadcastable to (n, Q, K); returns (n, Q, K).
    """
    obs, y = stats[:, 0][:, None, None], stats[:, 2][:, None, None]
    resid = y - means - eta
    return -0.5 * obs * (LOG_2PI + pt.log(variances) + resid**2 / variances)


def normal_loglik(stats: np.ndarray, means, variances, per_row: bool):
    """Continuous normal items.

    ``stats`` is the (n, 3P) matrix [m | m*y^2 | m*y] with m the observed mask, so that
    sum_p m (log 2 pi s2 + (y - mu)^2 / s2) is one contraction with
    [log 2 pi s2 + mu^2/s2 | 1/s2 | -2 mu/s2].
    """
    coef = pt.concatenate([LOG_2PI + pt.log(variances) + means**2 / variances,
                           1.0 / variances, -2.0 * means / variances], axis=-1)
    return -0.5 * contract(pt.as_tensor_variable(stats), coef, per_row)


def categorical_onehot(codes: np.ndarray, n_categories: int) -> np.ndarray:
    """(n, P) float codes with NaN for missing -> (n, P*M) one-hot, zero rows where missing."""
    n, p = codes.shape
    out = np.zeros((n, p, n_categories))
    obs = ~np.isnan(codes)
    rows, cols = np.nonzero(obs)
    out[rows, cols, codes[obs].astype(int)] = 1.0
    return out.reshape(n, p * n_categories)


def normal_stats(values: np.ndarray) -> np.ndarray:
    """(n, P) values with NaN -> (n, 3P) sufficient statistics [m | m y^2 | m y]."""
    obs = ~np.isnan(values)
    y = np.where(obs, values, 0.0)
    return np.concatenate([obs.astype(float), y**2, y], axis=1)
