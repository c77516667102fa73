"""A plain-numpy binary LCA, written from the formulas, for checks independent of the library's graph.

Parameters (own parameterization): a (K-1) class logits against the last class, then the
K x P logits of P(y = 1 | class). Per row

    log L_i = log sum_k pi_k prod_p p_kp^y (1 - p_kp)^(1 - y),

scores d log L_i / d a_k = post_ik - pi_k and d log L_i / d logit p_kp = post_ik (y_ip - p_kp),
the Hessian by central differences of the summed analytic scores.
"""

import numpy as np
from scipy import optimize, special


def unpack(params, k, p):
    a = np.append(params[: k - 1], 0.0)
    return special.softmax(a), special.expit(params[k - 1:].reshape(k, p))


def pack(pi, probs):
    pi = np.asarray(pi, dtype=float)
    return np.concatenate([np.log(pi[:-1] / pi[-1]), special.logit(np.asarray(probs, dtype=float)).ravel()])


def log_joint(params, y, k):
    pi, probs = unpack(params, k, y.shape[1])
    return np.log(pi)[None, :] + y @ np.log(probs).T + (1 - y) @ np.log1p(-probs).T  # (n, K)


def loglik_rows(params, y, k):
    return special.logsumexp(log_joint(params, y, k), axis=1)


def scores(params, y, k):
    """(n, n_params) analytic per-row scores."""
    pi, probs = unpack(params, k, y.shape[1])
    lj = log_joint(params, y, k)
    post = np.exp(lj - special.logsumexp(lj, axis=1, keepdims=True))
    d_a = (post - pi[None, :])[:, : k - 1]
    d_p = post[:, :, None] * (y[:, None, :] - probs[None, :, :])  # (n, K, P)
    return np.concatenate([d_a, d_p.reshape(len(y), -1)], axis=1)


def hessian(params, y, k, h=1e-5):
    out = np.empty((len(params), len(params)))
    for j in range(len(params)):
        up, down = params.copy(), params.copy()
        up[j] += h
        down[j] -= h
        out[j] = (scores(up, y, k).sum(0) - scores(down, y, k).sum(0)) / (2 * h)
    return (out + out.T) / 2


def polish(params, y, k):
    """The MLE from a nearby start (BFGS on the numpy log-likelihood with its analytic gradient)."""
    res = optimize.minimize(lambda t: (-loglik_rows(t, y, k).sum(), -scores(t, y, k).sum(0)), params, jac=True,
                            method="BFGS", options={"gtol": 1e-10, "maxiter": 2000})
    return res.x


def from_result(result, items):
    """Own parameters from an mlmix_pymc LCA result (class proportions and P(y = 1 | class))."""
    props = result.class_proportions()["model_estimated"].to_numpy()
    table = result.item_probabilities()
    table = table[table["category"] == 1].pivot(index="class", columns="item", values="probability")[items]
    return pack(props, table.to_numpy())
