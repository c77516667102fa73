"""Independent numpy/scipy references for factor mixture (mixture IRT) models.

Written without importing or looking at ``mlmix_pymc``; it exists so that the
package can be tested against a separately written implementation.

Model (factor mixture analysis, FMA)
------------------------------------
* Classes ``c = 0..K-1``; ``logit_c(x) = alpha_c + beta_c . x`` and
  ``P(c | x) = softmax_c(logit_c(x))``.  By convention ``alpha[-1] = 0`` and
  ``beta[-1] = 0`` (the values passed are used as given).
* Factor ``eta | c ~ N(fmean_c, fvar_c)`` (default ``N(0, 1)``); with ``m``
  factors ``eta | c ~ N(fmean_c, diag(fvar_c))`` (default ``N(0, I_m)``).
* Linear predictor of item ``p`` in class ``c``: ``s = lambda_{c,p} . eta``.
* Binary item: ``P(y = 1 | c, eta) = F(s - tau_{c,p})`` -- ``tau`` is a
  *threshold*: a larger ``tau`` makes ``y = 1`` less likely.
* Ordinal item (graded response), categories ``0..M-1``, increasing thresholds
  ``tau_{c,p,0} < ... < tau_{c,p,M-2}``:
  ``P(y <= m | c, eta) = F(tau_{c,p,m} - s)``.  A binary item is the case
  ``M = 2`` (``P(y=1) = 1 - F(tau - s) = F(s - tau)``).
* ``F`` is the logistic cdf (``link="logit"``) or the standard normal cdf
  (``link="probit"``).  Items are conditionally independent given
  ``(c, eta)``; a NaN response drops out of the product.
* Row likelihood ``L_i = sum_c P(c|x_i) Int prod_p P(y_ip|c,eta) N(eta) deta``.
* Two-level: cluster ``j`` has ``u_j ~ N(0, var_u)`` added to every item's
  linear predictor (``s = lambda . eta + u_j``), the same ``u_j`` in every
  class; ``L_j = Int prod_{i in j} L_i(u) N(u; 0, var_u) du``.

Integration
-----------
Brute force: a dense trapezoid rule on the standard-normal scale
``z in [-10, 10]`` per dimension with the N(0,1) density folded into the
weights (``eta = fmean_c + sqrt(fvar_c) z``), tensor grids for ``m > 1``
factors.  The integrands are analytic and decay like the normal density, so
the trapezoid rule converges geometrically; all sums are done in log space.
Default nodes per dimension: 401 (m=1), 121 (m=2), 41 (m>=3).  Checked (see
``test_reference_fma.py``) against ``scipy.integrate.quad`` / ``dblquad`` and
against grids with 4x the points: ~1e-11 or better in total log-likelihoods for
loadings up to 3.
"""

import functools
from contextlib import nullcontext

import numpy as np
from scipy.optimize import minimize
from scipy.special import gammaln, log_expit, log_ndtr, logsumexp

_LOG_2PI = np.log(2.0 * np.pi)
_HALF_WIDTH = 10.0
_LOG_FLOOR = -1e10          # log of an (underflowed) zero probability; keeps 0 * log finite
_MAX_CELLS = 4_000_000       # rows x nodes per matrix chunk

try:  # optional, speed only: small BLAS products are much faster single-threaded
    from threadpoolctl import ThreadpoolController
except ImportError:  # pragma: no cover
    ThreadpoolController = None
_CONTROLLER = []


def _one_blas_thread(fn):
    """Run ``fn`` with BLAS limited to one thread (if threadpoolctl is present)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if ThreadpoolController is None:
            ctx = nullcontext()
        else:
            if not _CONTROLLER:
                _CONTROLLER.append(ThreadpoolController())
            ctx = _CONTROLLER[0].limit(limits=1, user_api="blas")
        with ctx:
            return fn(*args, **kwargs)
    return wrapper


# ----------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------

def _exp(a):
    """``exp(a)`` with arguments below -700 flushed to exactly 0 (avoids slow
    subnormal arithmetic; the dropped terms are < 1e-304 relative)."""
    return np.exp(np.where(a < -700.0, -np.inf, a))


def _lse(a, axis):
    """``logsumexp`` along ``axis`` (keepdims) using :func:`_exp`."""
    mx = a.max(axis=axis, keepdims=True)
    return mx + np.log(_exp(a - mx).sum(axis=axis, keepdims=True))


def _log_cdf(s, link):
    """``log F(s)`` for the logistic or standard normal cdf ``F``."""
    if link == "logit":
        return log_expit(s)
    if link == "probit":
        return log_ndtr(s)
    raise ValueError(f"unknown link {link!r}")


def _log_pdf(s, link):
    """``log f(s)`` with ``f = F'`` (logistic or standard normal density)."""
    if link == "logit":
        return log_expit(s) + log_expit(-s)
    if link == "probit":
        return -0.5 * (_LOG_2PI + s * s)
    raise ValueError(f"unknown link {link!r}")


def _log_diff_cdf(a, b, link):
    """``log(F(b) - F(a))`` for ``a < b`` elementwise, stable in both tails."""
    a, b = np.broadcast_arrays(np.asarray(a, float), np.asarray(b, float))
    lower = (a + b) <= 0          # both mostly in the lower tail: use F directly
    with np.errstate(divide="ignore", invalid="ignore"):
        la, lb = _log_cdf(a, link), _log_cdf(b, link)
        via_cdf = lb + np.log(-np.expm1(la - lb))
        sa, sb = _log_cdf(-a, link), _log_cdf(-b, link)   # survival functions
        via_sf = sa + np.log(-np.expm1(sb - sa))
    return np.where(lower, via_cdf, via_sf)


def _log_cat_probs(s, tau_p, link):
    """Log category probabilities of one item.

    ``s`` (G,) linear predictors, ``tau_p`` scalar (binary) or (M-1,) increasing
    thresholds.  Returns (G, M): binary ``[log F(tau-s), log F(s-tau)]``;
    ordinal ``log(F(tau_m - s) - F(tau_{m-1} - s))`` with ``tau_{-1} = -inf``,
    ``tau_{M-1} = +inf``.
    """
    s = np.asarray(s, float)
    tau_p = np.atleast_1d(np.asarray(tau_p, float))
    if tau_p.size == 1:
        t = tau_p[0]
        return np.stack([_log_cdf(t - s, link), _log_cdf(s - t, link)], axis=-1)
    if not np.all(np.isfinite(tau_p)) or np.any(np.diff(tau_p) <= 0):
        raise ValueError("ordinal thresholds must be strictly increasing")
    cols = [_log_cdf(tau_p[0] - s, link)]
    for m in range(1, tau_p.size):
        cols.append(_log_diff_cdf(tau_p[m - 1] - s, tau_p[m] - s, link))
    cols.append(_log_cdf(s - tau_p[-1], link))
    return np.stack(cols, axis=-1)


def _std_normal_grid(points, dim):
    """Nodes ``z`` (G, dim) and log weights (G,) with
    ``sum_g exp(logw_g) h(z_g) ~= E[h(Z)]``, ``Z ~ N(0, I_dim)``: tensor
    trapezoid rule on ``[-10, 10]^dim``, N(0,1) density folded in."""
    t = np.linspace(-_HALF_WIDTH, _HALF_WIDTH, points)
    logw1 = np.log(t[1] - t[0]) - 0.5 * t ** 2 - 0.5 * _LOG_2PI
    logw1[[0, -1]] += np.log(0.5)
    mesh = np.meshgrid(*([t] * dim), indexing="ij")
    z = np.stack([g.ravel() for g in mesh], axis=1)
    logw = sum(g.ravel() for g in np.meshgrid(*([logw1] * dim), indexing="ij"))
    return z, logw


def _default_points(dim):
    return {1: 401, 2: 121}.get(dim, 41)


def _log_class_probs(alpha, x, beta, n):
    """(n, K) log softmax of ``alpha_c + beta_c . x_i``."""
    alpha = np.asarray(alpha, float)
    logits = np.tile(alpha, (n, 1))
    if x is not None:
        x = np.asarray(x, float).reshape(n, -1)
        logits = logits + x @ np.asarray(beta, float).reshape(alpha.size, -1).T
    return logits - logsumexp(logits, axis=1, keepdims=True)


def _prepare(Y, tau, lam, alpha, fmean, fvar):
    """Validate shapes; returns Y, tau (K,P,M-1), lam (K,P,m), M, means, sds (K,m)."""
    Y = np.atleast_2d(np.asarray(Y, float))
    tau = np.asarray(tau, float)
    lam = np.asarray(lam, float)
    K, P = np.asarray(alpha).size, Y.shape[1]
    if tau.ndim == 2:
        tau = tau[:, :, None]
    if tau.shape[:2] != (K, P):
        raise ValueError(f"tau must be (K, P) or (K, P, M-1); got {tau.shape}")
    if lam.ndim == 2:
        lam = lam[:, :, None]
    if lam.shape[:2] != (K, P):
        raise ValueError(f"lam must be (K, P) or (K, P, m); got {lam.shape}")
    M, m = tau.shape[2] + 1, lam.shape[2]
    obs = ~np.isnan(Y)
    yv = Y[obs]
    if np.any((yv != np.round(yv)) | (yv < 0) | (yv > M - 1)):
        raise ValueError(f"responses must be integers 0..{M - 1} (NaN = missing)")
    means = np.zeros((K, m)) if fmean is None else np.broadcast_to(
        np.asarray(fmean, float).reshape(K, -1), (K, m))
    var = np.ones((K, m)) if fvar is None else np.broadcast_to(
        np.asarray(fvar, float).reshape(K, -1), (K, m))
    return Y, tau, lam, M, means, np.sqrt(var)


def _indicators(Y, M):
    """(n, P*M) one-hot response indicators (all zero for a missing response)."""
    n, P = Y.shape
    ind = np.zeros((n, P, M))
    for m in range(M):
        ind[:, :, m] = (Y == m)
    return ind.reshape(n, P * M)


def _node_loglik(ind, s, tau_c, link):
    """(n, G) ``sum_p log P(y_ip | s_gp)``; ``s`` (G, P), ``tau_c`` (P, M-1)."""
    G, P = s.shape
    logp = np.stack([_log_cat_probs(s[:, p], tau_c[p], link) for p in range(P)], axis=1)
    logp = np.maximum(logp, _LOG_FLOOR).reshape(G, -1)          # (G, P*M)
    out = np.empty((ind.shape[0], G))
    step = max(1, _MAX_CELLS // G)
    for i0 in range(0, ind.shape[0], step):
        out[i0:i0 + step] = ind[i0:i0 + step] @ logp.T
    return out


def _class_integrals(Y, tau, lam, M, means, sds, link, points, shift=0.0):
    """Yields ``(c, eta (G, m), logpost (n, G))`` where ``logpost`` =
    ``log prod_p P(y_ip | c, eta_g) + log w_g`` (unnormalised node posterior)."""
    K, P, m = lam.shape
    z, logw = _std_normal_grid(points or _default_points(m), m)
    ind = _indicators(Y, M)
    for c in range(K):
        eta = means[c] + sds[c] * z
        s = eta @ lam[c].T + shift
        yield c, eta, _node_loglik(ind, s, tau[c], link) + logw


# ----------------------------------------------------------------------------
# 1. single-level factor mixture log-likelihood
# ----------------------------------------------------------------------------

@_one_blas_thread
def fma_row_loglik(Y, tau, lam, alpha, link="logit", x=None, beta=None, fmean=None,
                   fvar=None, points=None):
    """Per-row log-likelihoods (n,) of the factor mixture model (module docstring).

    ``log L_i = log sum_c P(c|x_i) Int prod_p P(y_ip | c, eta) N(eta; fmean_c, fvar_c) deta``
    with binary ``P(y=1|c,eta) = F(lam_cp . eta - tau_cp)`` (``tau`` (K, P)) or
    ordinal ``P(y<=m|c,eta) = F(tau_cpm - lam_cp . eta)`` (``tau`` (K, P, M-1)).
    ``lam`` (K, P) [one factor] or (K, P, m); ``alpha`` (K,) class logits,
    optional ``x`` (n, q) with slopes ``beta`` (K, q); ``fmean``/``fvar`` (K,)
    or (K, m) class factor means / variances (default 0 / 1).  ``points``:
    trapezoid nodes per factor dimension on ``z in [-10, 10]``.
    """
    Y, tau, lam, M, means, sds = _prepare(Y, tau, lam, alpha, fmean, fvar)
    logpi = _log_class_probs(alpha, x, beta, Y.shape[0])
    comp = np.empty_like(logpi)
    for c, _, lp in _class_integrals(Y, tau, lam, M, means, sds, link, points):
        comp[:, c] = _lse(lp, 1)[:, 0]
    return logsumexp(logpi + comp, axis=1)


def fma_loglik(Y, tau, lam, alpha, link="logit", x=None, beta=None, fmean=None, fvar=None,
               points=None):
    """Total log-likelihood of the factor mixture model: ``sum_i`` of
    :func:`fma_row_loglik` (same arguments and sign conventions:
    binary ``P(y=1) = F(lam . eta - tau)``, ordinal ``P(y<=m) = F(tau_m - lam . eta)``)."""
    return float(fma_row_loglik(Y, tau, lam, alpha, link, x, beta, fmean, fvar, points).sum())


@_one_blas_thread
def fma_class_posterior(Y, tau, lam, alpha, link="logit", x=None, beta=None, fmean=None,
                        fvar=None, points=None):
    """(n, K) posterior class probabilities ``P(c | y_i, x_i)`` (eta integrated
    out); same model and arguments as :func:`fma_row_loglik`."""
    Y, tau, lam, M, means, sds = _prepare(Y, tau, lam, alpha, fmean, fvar)
    logpi = _log_class_probs(alpha, x, beta, Y.shape[0])
    comp = np.empty_like(logpi)
    for c, _, lp in _class_integrals(Y, tau, lam, M, means, sds, link, points):
        comp[:, c] = _lse(lp, 1)[:, 0]
    j = logpi + comp
    return np.exp(j - logsumexp(j, axis=1, keepdims=True))


# ----------------------------------------------------------------------------
# 2. two-level factor mixture (random intercept on every item)
# ----------------------------------------------------------------------------

@_one_blas_thread
def fma_twolevel_loglik(Y, cluster, tau, lam, alpha, var_u, link="logit", x=None, beta=None,
                        fmean=None, fvar=None, points_eta=201, points_u=201):
    """Two-level factor mixture log-likelihood by nested brute-force integration.

    Row ``i`` in cluster ``j``: ``s = lam_cp . eta_i + u_j`` with
    ``u_j ~ N(0, var_u)`` shared by all items, rows and classes of the cluster;
    binary ``P(y=1) = F(s - tau_cp)``, ordinal ``P(y<=m) = F(tau_cpm - s)``.
    ``L_j = Int N(u; 0, var_u) prod_{i in j} [sum_c P(c|x_i) Int prod_p
    P(y_ip|c,eta,u) N(eta; fmean_c, fvar_c) deta] du``: the eta integral (per
    row, inside the class sum) uses ``points_eta`` trapezoid nodes per factor
    dimension, the u integral ``points_u`` nodes, both on ``[-10, 10]`` SDs.
    Returns ``sum_j log L_j``.  The fixed u grid (step 0.1 SD at 201 nodes) is
    accurate while each cluster's posterior SD of ``u / sqrt(var_u)`` stays
    well above the step (it shrinks with cluster size x items x var_u); check
    by raising ``points_u`` for large clusters or large ``var_u``.
    """
    Y, tau, lam, M, means, sds = _prepare(Y, tau, lam, alpha, fmean, fvar)
    n = Y.shape[0]
    logpi = _log_class_probs(alpha, x, beta, n)
    zu, logwu = _std_normal_grid(points_u, 1)
    u = np.sqrt(var_u) * zu[:, 0]
    row_u = np.empty((u.size, n))                 # log L_i(u_k)
    for k, uk in enumerate(u):
        comp = np.empty_like(logpi)
        for c, _, lp in _class_integrals(Y, tau, lam, M, means, sds, link, points_eta, uk):
            comp[:, c] = _lse(lp, 1)[:, 0]
        row_u[k] = _lse(logpi + comp, 1)[:, 0]
    _, inv = np.unique(np.asarray(cluster), return_inverse=True)
    inv = inv.ravel()
    member = np.zeros((n, inv.max() + 1))
    member[np.arange(n), inv] = 1.0
    per_cluster = row_u @ member                  # (points_u, J)
    return float(logsumexp(per_cluster + logwu[:, None], axis=0).sum())


# ----------------------------------------------------------------------------
# 3. EAP factor scores
# ----------------------------------------------------------------------------

@_one_blas_thread
def fma_eap(Y, tau, lam, alpha, link="logit", x=None, beta=None, fmean=None, fvar=None,
            points=None):
    """Posterior mean and SD of ``eta`` given ``y_i`` (classes summed out).

    ``p(eta | y_i) = sum_c P(c|y_i) p(eta | y_i, c)`` under the model of
    :func:`fma_row_loglik` (binary ``P(y=1) = F(lam . eta - tau)``, ordinal
    ``P(y<=m) = F(tau_m - lam . eta)``).  Returns ``(mean, sd)``, each (n,) for
    one factor or (n, m) (marginal per-factor moments) for ``m`` factors.
    """
    Y, tau, lam, M, means, sds = _prepare(Y, tau, lam, alpha, fmean, fvar)
    logpi = _log_class_probs(alpha, x, beta, Y.shape[0])
    logs, etas = [], []
    for c, eta, lp in _class_integrals(Y, tau, lam, M, means, sds, link, points):
        logs.append(lp + logpi[:, c:c + 1])
        etas.append(eta)
    lp = np.concatenate(logs, axis=1)             # (n, K*G)
    eta = np.concatenate(etas, axis=0)            # (K*G, m)
    w = _exp(lp - _lse(lp, 1))
    mean = w @ eta
    var = np.stack([(w * (eta[None, :, d] - mean[:, d:d + 1]) ** 2).sum(axis=1)
                    for d in range(eta.shape[1])], axis=1)
    sd = np.sqrt(var)
    if lam.shape[2] == 1:
        return mean[:, 0], sd[:, 0]
    return mean, sd


# ----------------------------------------------------------------------------
# 4. independent 2PL marginal maximum likelihood
# ----------------------------------------------------------------------------

def _twopl_value_grad(params, Y1, obs, count, z, logw, link):
    """Marginal log-likelihood and its gradient in ``(lam (P), tau (P))``;
    rows are distinct response patterns with multiplicities ``count``."""
    P = Y1.shape[1]
    lam, tau = params[:P], params[P:]
    s = z[:, None] * lam[None, :] - tau[None, :]           # (G, P)
    l1, l0 = _log_cdf(s, link), _log_cdf(-s, link)
    ll = Y1 @ l1.T + (obs - Y1) @ l0.T + logw               # (n, G)
    rows = _lse(ll, 1)
    post = _exp(ll - rows) * count[:, None]
    R1, N = post.T @ Y1, post.T @ obs                       # (G, P)
    lpdf = _log_pdf(s, link)
    ds = R1 * np.exp(lpdf - l1) - (N - R1) * np.exp(lpdf - l0)   # d loglik / d s_gp
    grad = np.concatenate([z @ ds, -ds.sum(axis=0)])
    return float(count @ rows[:, 0]), grad


@_one_blas_thread
def fit_2pl(Y, link="logit", points=61, points_polish=401, max_em=1000):
    """Marginal maximum likelihood for the unidimensional 2PL model.

    ``theta ~ N(0, 1)``, ``P(y_ip = 1 | theta) = F(a_p (theta - b_p)) =
    F(lam_p theta - tau_p)`` with ``lam = a``, ``tau = a b`` (``F`` logistic or
    normal cdf); NaN responses are skipped.  Bock-Aitkin EM on ``points``
    Gauss-Hermite nodes (Fisher-scoring M-step), then L-BFGS and Newton steps
    (finite-difference Hessian of the analytic gradient) on the marginal
    log-likelihood integrated with the ``points_polish``-node trapezoid rule on
    ``[-10, 10]`` (the same rule as :func:`fma_loglik`).

    Returns a dict: ``loglik``, ``a``, ``b``, ``lam``, ``tau``, ``se_a``,
    ``se_b``, ``se_lam``, ``se_tau`` (observed information), ``grad_norm``
    (of the total log-likelihood at the returned estimate), ``n_em``.
    """
    Y = np.asarray(Y, float)
    if np.any(~np.isnan(Y) & (Y != 0) & (Y != 1)):
        raise ValueError("fit_2pl needs 0/1 responses (NaN = missing)")
    # collapse identical response patterns (exact: the likelihood is a sum over rows)
    pattern, count = np.unique(np.where(np.isnan(Y), 2.0, Y), axis=0, return_counts=True)
    count = count.astype(float)
    obs = (pattern != 2).astype(float)
    Y1 = (pattern == 1).astype(float)
    P = Y.shape[1]
    # --- EM on Gauss-Hermite nodes (probabilists' Hermite: weight exp(-z^2/2))
    zq, wq = np.polynomial.hermite_e.hermegauss(points)
    lwq = np.log(wq) - 0.5 * _LOG_2PI
    pbar = np.clip(Y1.sum(0) / obs.sum(0), 1e-3, 1 - 1e-3)
    lam = np.ones(P)
    tau = -np.log(pbar / (1 - pbar)) * (1.0 if link == "logit" else 0.6) * np.sqrt(2.0)
    old = -np.inf
    for it in range(max_em):
        s = zq[:, None] * lam - tau
        l1, l0 = _log_cdf(s, link), _log_cdf(-s, link)
        ll = Y1 @ l1.T + (obs - Y1) @ l0.T + lwq
        rows = _lse(ll, 1)
        post = _exp(ll - rows) * count[:, None]
        R1, N = post.T @ Y1, post.T @ obs
        cur = count @ rows[:, 0]
        if abs(cur - old) < 1e-10 * max(1.0, abs(cur)):
            break
        old = cur
        for _ in range(3):                  # Fisher scoring per item on (lam, tau)
            s = zq[:, None] * lam - tau
            l1, l0, lpdf = _log_cdf(s, link), _log_cdf(-s, link), _log_pdf(s, link)
            F = np.exp(l1)
            r = np.exp(lpdf - l1 - l0)      # f / (F (1-F))
            score_s = (R1 - N * F) * r
            info_s = N * np.exp(2 * lpdf - l1 - l0)
            g = np.stack([zq @ score_s, -score_s.sum(0)])          # (2, P)
            h11 = (zq ** 2) @ info_s
            h12 = -(zq @ info_s)
            h22 = info_s.sum(0)
            det = h11 * h22 - h12 ** 2
            d_lam = (h22 * g[0] - h12 * g[1]) / det
            d_tau = (-h12 * g[0] + h11 * g[1]) / det
            step = np.minimum(1.0, 1.0 / np.maximum(np.abs(d_lam), np.abs(d_tau)))
            lam, tau = lam + step * d_lam, tau + step * d_tau
    n_em = it + 1
    # --- polish on the accurate trapezoid rule
    z, logw = _std_normal_grid(points_polish, 1)
    z = z[:, 0]

    def negf(p):
        v, g = _twopl_value_grad(p, Y1, obs, count, z, logw, link)
        return -v, -g

    res = minimize(negf, np.concatenate([lam, tau]), jac=True, method="L-BFGS-B",
                   options={"maxiter": 5000, "ftol": 1e-15, "gtol": 1e-10, "maxcor": 30})
    theta = res.x
    f, g = negf(theta)
    H = None
    for _ in range(20):                     # Newton with FD Hessian of the analytic gradient
        h = 1e-5
        H = np.empty((2 * P, 2 * P))
        for k in range(2 * P):
            e = np.zeros(2 * P)
            e[k] = h
            H[:, k] = (negf(theta + e)[1] - negf(theta - e)[1]) / (2 * h)
        H = 0.5 * (H + H.T)
        if np.linalg.norm(g) < 1e-9:
            break
        delta = -np.linalg.solve(H, g)
        t = 1.0
        while t > 1e-6:
            f_new, g_new = negf(theta + t * delta)
            if f_new <= f + 1e-12 * abs(f) or np.linalg.norm(g_new) < np.linalg.norm(g):
                break
            t *= 0.5
        theta, f, g = theta + t * delta, f_new, g_new
    cov = np.linalg.inv(H)
    lam, tau = theta[:P], theta[P:]
    se_lam, se_tau = np.sqrt(np.diag(cov)[:P]), np.sqrt(np.diag(cov)[P:])
    # delta method for b = tau / lam
    c_lt = np.diag(cov[:P, P:])
    var_b = (tau / lam ** 2) ** 2 * se_lam ** 2 + se_tau ** 2 / lam ** 2 \
        - 2 * tau / lam ** 3 * c_lt
    return dict(loglik=-f, a=lam.copy(), b=tau / lam, lam=lam, tau=tau, se_a=se_lam.copy(),
                se_b=np.sqrt(var_b), se_lam=se_lam, se_tau=se_tau,
                grad_norm=float(np.linalg.norm(g)), n_em=n_em)


# ----------------------------------------------------------------------------
# 5./6. simulators
# ----------------------------------------------------------------------------

def _draw_classes(rng, n, alpha, x=None, beta=None):
    prob = np.exp(_log_class_probs(alpha, x, beta, n))
    u = rng.random(n)
    return np.minimum((u[:, None] > np.cumsum(prob, axis=1)).sum(axis=1), prob.shape[1] - 1)


def _cdf(s, link):
    return np.exp(_log_cdf(s, link))


def simulate_fma(rng, n, tau, lam, alpha, link="logit", x=None, beta=None, fmean=None,
                 fvar=None):
    """Simulate the factor mixture model of :func:`fma_row_loglik`.

    ``c ~ softmax(alpha + beta x)``; ``eta | c ~ N(fmean_c, diag fvar_c)``
    (default N(0, I_m)); binary ``y = 1`` with probability
    ``F(lam_cp . eta - tau_cp)``; ordinal (``tau`` (K, P, M-1)) ``y = #{m :
    U > F(tau_cpm - lam_cp . eta)}`` with ``U ~ U(0,1)``, i.e.
    ``P(y <= m) = F(tau_m - lam . eta)``.  Returns ``(Y (n,P) float,
    classes (n,) in 0..K-1, eta (n,) or (n, m))``.
    """
    tau = np.asarray(tau, float)
    lam = np.asarray(lam, float)
    one_factor = lam.ndim == 2
    lam3 = lam[:, :, None] if one_factor else lam
    K, P, m = lam3.shape
    tau3 = tau[:, :, None] if tau.ndim == 2 else tau
    means = np.zeros((K, m)) if fmean is None else np.broadcast_to(
        np.asarray(fmean, float).reshape(K, -1), (K, m))
    var = np.ones((K, m)) if fvar is None else np.broadcast_to(
        np.asarray(fvar, float).reshape(K, -1), (K, m))
    cls = _draw_classes(rng, n, alpha, x, beta)
    eta = means[cls] + np.sqrt(var[cls]) * rng.standard_normal((n, m))
    s = np.einsum("ipd,id->ip", lam3[cls], eta)                  # (n, P)
    cum = _cdf(tau3[cls] - s[:, :, None], link)                  # (n, P, M-1) P(y <= m)
    U = rng.random((n, P))
    Y = (U[:, :, None] > cum).sum(axis=2).astype(float)
    return Y, cls, (eta[:, 0] if one_factor else eta)


def simulate_poisson_lca(rng, n, log_rates, alpha):
    """Poisson latent class data: ``c ~ softmax(alpha)``,
    ``y_p | c ~ Poisson(exp(log_rates[c, p]))`` independently.
    Returns ``(Y (n, P) float, classes (n,))``."""
    log_rates = np.asarray(log_rates, float)
    cls = _draw_classes(rng, n, alpha)
    return rng.poisson(np.exp(log_rates[cls])).astype(float), cls


def simulate_nominal_lca(rng, n, intercepts, alpha):
    """Nominal latent class data: ``c ~ softmax(alpha)``, ``P(y_p = m | c) =
    softmax([intercepts[c, p, 0..M-2], 0])_m`` for ``m = 0..M-1`` (last
    category is the reference with logit 0).  Returns ``(Y (n,P) float, classes)``."""
    intercepts = np.asarray(intercepts, float)
    K, P, _ = intercepts.shape
    logits = np.concatenate([intercepts, np.zeros((K, P, 1))], axis=2)
    prob = np.exp(logits - logsumexp(logits, axis=2, keepdims=True))
    cls = _draw_classes(rng, n, alpha)
    cum = np.cumsum(prob[cls], axis=2)                           # (n, P, M)
    U = rng.random((n, P))
    Y = np.minimum((U[:, :, None] > cum).sum(axis=2), logits.shape[2] - 1)
    return Y.astype(float), cls


# ----------------------------------------------------------------------------
# 7. exact LCA log-likelihoods
# ----------------------------------------------------------------------------

def lca_loglik_poisson(Y, log_rates, alpha):
    """Exact log-likelihood of a Poisson latent class model:
    ``sum_i log sum_c softmax(alpha)_c prod_p Poisson(y_ip; exp(log_rates[c,p]))``
    (full pmf incl. ``-log y!``); NaN responses drop out."""
    Y = np.atleast_2d(np.asarray(Y, float))
    log_rates = np.asarray(log_rates, float)
    alpha = np.asarray(alpha, float)
    obs = ~np.isnan(Y)
    y = np.where(obs, Y, 0.0)
    lp = (y[:, None, :] * log_rates[None] - np.exp(log_rates)[None] - gammaln(y + 1)[:, None, :])
    comp = np.where(obs[:, None, :], lp, 0.0).sum(axis=2)        # (n, K)
    return float(logsumexp(comp + alpha - logsumexp(alpha), axis=1).sum())


def lca_loglik_nominal(Y, intercepts, alpha):
    """Exact log-likelihood of a nominal latent class model:
    ``P(y_p = m | c) = softmax([intercepts[c,p,:], 0])_m`` (categories
    ``0..M-1``, last = reference), ``P(c) = softmax(alpha)``; NaN drops out."""
    Y = np.atleast_2d(np.asarray(Y, float))
    intercepts = np.asarray(intercepts, float)
    alpha = np.asarray(alpha, float)
    K, P, _ = intercepts.shape
    logits = np.concatenate([intercepts, np.zeros((K, P, 1))], axis=2)
    logp = logits - logsumexp(logits, axis=2, keepdims=True)     # (K, P, M)
    comp = np.zeros((Y.shape[0], K))
    for p in range(P):
        o = ~np.isnan(Y[:, p])
        comp[o] += logp[:, p, Y[o, p].astype(int)].T
    return float(logsumexp(comp + alpha - logsumexp(alpha), axis=1).sum())
