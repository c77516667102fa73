"""Independent numpy/scipy reference log-likelihoods for two-level mixture models.

Written without importing or looking at ``mlmix_pymc``; it exists so that the
PyTensor engine can be tested against a separately written implementation.
Model semantics follow Asparouhov & Muthen, "Multilevel Mixture Models".

Conventions
-----------
* Rows ``i`` belong to clusters ``j`` (any hashable cluster labels).
* Parameters arrive as a ``dict`` name -> value with Mplus-like names, e.g.
  ``"[c#1]"`` (class logit intercept), ``"var(c#1)"`` (variance of the random
  class-logit intercept), ``"y|c#1"`` (intercept of y in class 1),
  ``"y ON x|cb#2"`` (slope of y on x in between class 2), ``"var(y)|c#1"``,
  ``"u$1|c#1"`` (threshold of binary item u), ``"var(u)"`` (random intercept).
* Class logits: the last class has logit 0; probabilities are a softmax.
* Every normal density keeps its ``1/sqrt(2 pi s2)`` constant.

Integration
-----------
Random effects ``b ~ N(0, Sigma)`` are integrated on the standard-normal scale,
``b = L z`` with ``L`` the Cholesky factor of ``Sigma``, using a dense
trapezoid grid on ``z in [-10, 10]`` per dimension (400 points -> step 0.05).
The integrand times the N(0,1) weight is smooth and decays fast, so the
trapezoid rule is spectrally accurate; all sums are done in log space with
``logsumexp``.  Observed agreement with closed forms / ``scipy.integrate.quad``
is ~1e-12 in the total log-likelihood (see the ``__main__`` self-check).
Accuracy degrades only if a cluster's posterior of ``z`` is much narrower than
the grid step (sd << 0.05 on the z scale, i.e. huge clusters with huge
random-effect variance): raise ``points`` then.
"""

import numpy as np
import pandas as pd
from scipy.linalg import solve_triangular
from scipy.special import log_expit, log_ndtr, logsumexp

_LOG_2PI = np.log(2.0 * np.pi)
_HALF_WIDTH = 10.0


# ----------------------------------------------------------------------------
# small helpers
# ----------------------------------------------------------------------------

def _clusters(cluster):
    """List of row-index arrays, one per distinct cluster label."""
    _, inv = np.unique(np.asarray(cluster), return_inverse=True)
    inv = inv.ravel()
    return [np.flatnonzero(inv == g) for g in range(inv.max() + 1)]


def _std_normal_grid(points, dim):
    """Nodes ``z`` (G, dim) and log weights (G,) with
    ``sum_g exp(logw_g) h(z_g) ~= E[h(Z)]``, ``Z ~ N(0, I_dim)``.

    Tensor-product trapezoid rule on ``[-10, 10]^dim`` with ``points`` nodes
    per dimension; the N(0,1) density is folded into the weights.
    """
    if dim == 0:
        return np.zeros((1, 0)), np.zeros(1)
    t = np.linspace(-_HALF_WIDTH, _HALF_WIDTH, points)
    logw1 = np.log(t[1] - t[0]) - 0.5 * t ** 2 - 0.5 * _LOG_2PI
    logw1[[0, -1]] += np.log(0.5)
    z = np.stack([g.ravel() for g in np.meshgrid(*([t] * dim), indexing="ij")], axis=1)
    logw = sum(g.ravel() for g in np.meshgrid(*([logw1] * dim), indexing="ij"))
    return z, logw


def _log_integral(log_integrand, cov, points):
    """``log Integral N(b; 0, cov) exp(log_integrand(b)) db``.

    ``log_integrand`` maps nodes ``b`` of shape (G, dim) to shape (G,).
    ``cov`` is (dim, dim); dim 0 means no random effect (exact evaluation).
    A 1x1 ``cov`` may be 0 (then the result is exact as well).
    """
    cov = np.atleast_2d(np.asarray(cov, dtype=float))
    dim = cov.shape[0] if cov.size else 0
    z, logw = _std_normal_grid(points, dim)
    if dim == 0:
        chol = np.zeros((0, 0))
    elif dim == 1:
        chol = np.sqrt(cov)
    else:
        chol = np.linalg.cholesky(cov)
    return float(logsumexp(logw + log_integrand(z @ chol.T)))


def _log_bernoulli(u, eta, link):
    """Elementwise ``log P(u | eta)`` with ``P(u=1) = F(eta)``; NaN u -> 0."""
    if link == "logit":
        lp1, lp0 = log_expit(eta), log_expit(-eta)
    elif link == "probit":
        lp1, lp0 = log_ndtr(eta), log_ndtr(-eta)
    else:
        raise ValueError(f"unknown link {link!r}")
    u = np.broadcast_to(u, np.shape(eta))
    out = np.where(u == 1, lp1, lp0)
    return np.where(np.isnan(u), 0.0, out)


def _log_normal(y, mean, var):
    """Elementwise normal log density with all constants."""
    return -0.5 * (_LOG_2PI + np.log(var) + (y - mean) ** 2 / var)


def _mvn_logpdf(r, V):
    """``log N(r; 0, V)`` via Cholesky."""
    chol = np.linalg.cholesky(V)
    a = solve_triangular(chol, r, lower=True)
    return -0.5 * (len(r) * _LOG_2PI + a @ a) - np.log(np.diag(chol)).sum()


def _log_class_probs(params, prefix, n_classes):
    """Log softmax of fixed class logits ``[prefix#k]`` (last class 0)."""
    logits = np.array([params.get(f"[{prefix}#{k}]", 0.0) for k in range(1, n_classes)] + [0.0])
    return logits - logsumexp(logits)


def _within_mixture_loglik(log_f, clusters, params, K, points):
    """Sum over clusters of ``log Int N(a;0,diag var) prod_i sum_k P(C=k|a) f_ik da``.

    ``log_f`` is (n_rows, K): ``log f(data_i | C=k)`` (no random effect in it).
    Class logits are ``[c#k] + a_k`` for k<K, 0 for class K; ``a_k`` has
    variance ``var(c#k)`` (independent across k; absent/0 -> not random).
    """
    logit0 = np.array([params.get(f"[c#{k}]", 0.0) for k in range(1, K)] + [0.0])
    rand = [k for k in range(1, K) if params.get(f"var(c#{k})", 0.0) > 0]
    cov = np.diag([params[f"var(c#{k})"] for k in rand]) if rand else np.zeros((0, 0))

    total = 0.0
    for idx in clusters:
        lf = log_f[idx]                                        # (n, K)

        def integrand(a, lf=lf):
            logits = np.tile(logit0, (a.shape[0], 1))          # (G, K)
            for col, k in enumerate(rand):
                logits[:, k - 1] += a[:, col]
            lp = logits - logsumexp(logits, axis=1, keepdims=True)
            # (G, n, K) -> sum_k over classes, then product over rows
            return logsumexp(lp[:, None, :] + lf[None, :, :], axis=2).sum(axis=1)

        total += _log_integral(integrand, cov, points)
    return total


# ----------------------------------------------------------------------------
# 1. random-intercept logistic regression
# ----------------------------------------------------------------------------

def loglik_ri_logistic(y, cluster, x, beta0, beta1, var_u, points=400):
    """One-class random-intercept logistic regression.

    ``P(y_ij = 1) = logistic(beta0 + beta1 * x_ij + u_j)``, ``u_j ~ N(0, var_u)``.
    Returns ``sum_j log Int N(u;0,var_u) prod_i P(y_ij|u) du`` (trapezoid grid).
    """
    y = np.asarray(y, dtype=float)
    x = np.asarray(x, dtype=float)
    total = 0.0
    for idx in _clusters(cluster):
        yj, xj = y[idx], x[idx]

        def integrand(b, yj=yj, xj=xj):
            eta = beta0 + beta1 * xj[None, :] + b[:, :1]
            return _log_bernoulli(yj, eta, "logit").sum(axis=1)

        total += _log_integral(integrand, [[var_u]], points)
    return total


# ----------------------------------------------------------------------------
# 2. linear mixed model (random intercept + slope), exact
# ----------------------------------------------------------------------------

def loglik_linear_mixed(y, cluster, x, beta0, beta1, sigma2, var_u, var_s, cov_su):
    """Exact log-likelihood of ``y = beta0 + beta1 x + u_j + s_j x + e``.

    ``(u_j, s_j) ~ N(0, [[var_u, cov_su], [cov_su, var_s]])``, ``e ~ N(0, sigma2)``.
    Per cluster ``y_j ~ N(X beta, Z G Z' + sigma2 I)`` with ``Z = [1, x]``.
    """
    y = np.asarray(y, dtype=float)
    x = np.asarray(x, dtype=float)
    G = np.array([[var_u, cov_su], [cov_su, var_s]], dtype=float)
    total = 0.0
    for idx in _clusters(cluster):
        yj, xj = y[idx], x[idx]
        Z = np.column_stack([np.ones(len(idx)), xj])
        V = Z @ G @ Z.T + sigma2 * np.eye(len(idx))
        total += _mvn_logpdf(yj - beta0 - beta1 * xj, V)
    return total


def loglik_linear_mixed_bruteforce(y, cluster, x, beta0, beta1, sigma2, var_u, var_s,
                                   cov_su, points=160):
    """Same model as :func:`loglik_linear_mixed`, by a 2-D tensor trapezoid grid
    (``points`` per dimension, Cholesky of G).  Used to validate the 2-D
    integrator against the closed form."""
    y = np.asarray(y, dtype=float)
    x = np.asarray(x, dtype=float)
    G = np.array([[var_u, cov_su], [cov_su, var_s]], dtype=float)
    total = 0.0
    for idx in _clusters(cluster):
        yj, xj = y[idx], x[idx]

        def integrand(b, yj=yj, xj=xj):
            mean = beta0 + beta1 * xj[None, :] + b[:, :1] + b[:, 1:2] * xj[None, :]
            return _log_normal(yj[None, :], mean, sigma2).sum(axis=1)

        total += _log_integral(integrand, G, points)
    return total


# ----------------------------------------------------------------------------
# 3. Model 5: between-level class, random intercept (Model 2 when var(u)=0)
# ----------------------------------------------------------------------------

def loglik_between_class_regression(df, y, x, cluster, params, M=2, points=400,
                                    method="quad"):
    """Between-level latent class regression (paper's Model 5 / Model 2).

    One class ``D_j`` per cluster, ``P(D=d) = softmax([cb#d])`` (last = 0).
    Given ``D=d``: ``y_ij = [y|cb#d] + [y ON x|cb#d] x_ij + u_j + e_ij``,
    ``u_j ~ N(0, var(u))``, ``e_ij ~ N(0, var(y)|cb#d)``.

    ``method="quad"``: 1-D trapezoid integration over u_j;
    ``method="closed"``: exact compound-symmetry normal density.
    If ``"var(u)"`` is absent or 0 the result is exact for both methods.
    ``"y ON x|cb#d"`` defaults to 0 when absent.
    """
    yv = df[y].to_numpy(dtype=float)
    xv = df[x].to_numpy(dtype=float)
    v = float(params.get("var(u)", 0.0))
    log_pi = _log_class_probs(params, "cb", M)
    mu = [params[f"{y}|cb#{d}"] for d in range(1, M + 1)]
    beta = [params.get(f"{y} ON {x}|cb#{d}", 0.0) for d in range(1, M + 1)]
    theta = [params[f"var({y})|cb#{d}"] for d in range(1, M + 1)]

    total = 0.0
    for idx in _clusters(df[cluster]):
        comps = np.empty(M)
        for d in range(M):
            r = yv[idx] - mu[d] - beta[d] * xv[idx]
            n, th = len(r), theta[d]
            if method == "closed" or v == 0:
                s, ss = r.sum(), r @ r
                ll = (-0.5 * n * _LOG_2PI - 0.5 * (n - 1) * np.log(th)
                      - 0.5 * np.log(th + n * v)
                      - 0.5 * (ss - v * s ** 2 / (th + n * v)) / th)
            elif method == "quad":
                def integrand(b, r=r, th=th):
                    return _log_normal(r[None, :], b[:, :1], th).sum(axis=1)
                ll = _log_integral(integrand, [[v]], points)
            else:
                raise ValueError(f"unknown method {method!r}")
            comps[d] = log_pi[d] + ll
        total += logsumexp(comps)
    return total


# ----------------------------------------------------------------------------
# 4. Model 6: within-level class with random class-logit intercept
# ----------------------------------------------------------------------------

def loglik_within_class_random_logit(df, y, x, cluster, params, K=2, points=400):
    """Within-level mixture regression with a random class-logit intercept.

    ``logit P(C_ij=k) = [c#k] + a_kj`` (k<K; class K has logit 0),
    ``a_kj ~ N(0, var(c#k))`` independent (absent/0 -> fixed).
    Given ``C=k``: ``y_ij ~ N([y|c#k] + [y ON x|c#k] x_ij, var(y)|c#k)``.
    ``L_j = Int N(a) prod_i sum_k P(C=k|a) f(y_ij|k) da``.  For K=2 this is a
    1-D integral; with K-1 random logits the grid has ``points**(K-1)`` nodes.
    """
    yv = df[y].to_numpy(dtype=float)
    xv = df[x].to_numpy(dtype=float)
    log_f = np.column_stack([
        _log_normal(yv, params[f"{y}|c#{k}"] + params.get(f"{y} ON {x}|c#{k}", 0.0) * xv,
                    params[f"var({y})|c#{k}"])
        for k in range(1, K + 1)])
    return _within_mixture_loglik(log_f, _clusters(df[cluster]), params, K, points)


# ----------------------------------------------------------------------------
# 5. two-level LCA with random class-logit intercept
# ----------------------------------------------------------------------------

def loglik_lca_random_logit(df, items, cluster, params, K=2, link="logit", points=400):
    """Two-level latent class analysis with binary items.

    ``P(u=1 | C=k) = F(-[u$1|c#k])`` with ``F`` logistic (``link="logit"``) or
    standard normal cdf (``link="probit"``); items are conditionally
    independent given the class.  Class logits ``[c#k] + a_kj`` with
    ``a_kj ~ N(0, var(c#k))`` independent across k (K=2: one random effect).
    Missing (NaN) item responses contribute nothing.
    """
    log_f = np.zeros((len(df), K))
    for k in range(1, K + 1):
        for u in items:
            uv = df[u].to_numpy(dtype=float)
            eta = np.full(len(df), -params[f"{u}$1|c#{k}"])
            log_f[:, k - 1] += _log_bernoulli(uv, eta, link)
    return _within_mixture_loglik(log_f, _clusters(df[cluster]), params, K, points)


# ----------------------------------------------------------------------------
# 6. simulators
# ----------------------------------------------------------------------------

def simulate_model5(n_clusters, cluster_size, seed, mu=(1.0, 0.0), beta=(0.2, 0.8),
                    var_u=0.2, theta=1.0, p1=0.5):
    """Simulate Model 5: between class d in {1, 2} with ``P(d=1) = p1``;
    ``y = mu[d] + beta[d] x + u_j + e``, ``x ~ N(0,1)``, ``u_j ~ N(0, var_u)``,
    ``e ~ N(0, theta)`` (``theta`` scalar or per-class tuple).
    Columns: cluster, x, y, true_class (1-based, constant within cluster)."""
    rng = np.random.default_rng(seed)
    mu, beta = np.asarray(mu, float), np.asarray(beta, float)
    theta = np.broadcast_to(np.asarray(theta, float), mu.shape)
    n = n_clusters * cluster_size
    cl = np.repeat(np.arange(n_clusters), cluster_size)
    d = np.where(rng.random(n_clusters) < p1, 0, 1)[cl]
    u = rng.normal(0.0, np.sqrt(var_u), n_clusters)[cl]
    x = rng.normal(size=n)
    y = mu[d] + beta[d] * x + u + rng.normal(size=n) * np.sqrt(theta[d])
    return pd.DataFrame({"cluster": cl, "x": x, "y": y, "true_class": d + 1})


def simulate_model2(n_clusters, cluster_size, seed, mu=(1.0, 0.0), beta=(0.2, 0.8),
                    theta=1.0, p1=0.5):
    """Model 2 = Model 5 without the random intercept (``var_u = 0``)."""
    return simulate_model5(n_clusters, cluster_size, seed, mu=mu, beta=beta, var_u=0.0,
                           theta=theta, p1=p1)


def simulate_ri_logistic(n_clusters, cluster_size, beta0, beta1, var_u, seed):
    """Random-intercept logistic data; ``x ~ N(0,1)``. Columns: cluster, x, y."""
    rng = np.random.default_rng(seed)
    n = n_clusters * cluster_size
    cl = np.repeat(np.arange(n_clusters), cluster_size)
    x = rng.normal(size=n)
    eta = beta0 + beta1 * x + rng.normal(0.0, np.sqrt(var_u), n_clusters)[cl]
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-eta))).astype(float)
    return pd.DataFrame({"cluster": cl, "x": x, "y": y})


def simulate_model6(n_clusters, cluster_size, seed, logit1=0.0, var_c=1.0,
                    mu=(1.0, -1.0), beta=(0.5, -0.5), theta=(1.0, 0.5)):
    """Within class with random logit: ``logit P(C=1) = logit1 + a_j``,
    ``a_j ~ N(0, var_c)``; ``y = mu[k] + beta[k] x + e``, ``e ~ N(0, theta[k])``.
    Columns: cluster, x, y, true_class (1-based)."""
    rng = np.random.default_rng(seed)
    n = n_clusters * cluster_size
    cl = np.repeat(np.arange(n_clusters), cluster_size)
    a = rng.normal(0.0, np.sqrt(var_c), n_clusters)[cl]
    k = np.where(rng.random(n) < 1.0 / (1.0 + np.exp(-(logit1 + a))), 0, 1)
    x = rng.normal(size=n)
    mu, beta, theta = (np.asarray(v, float) for v in (mu, beta, theta))
    y = mu[k] + beta[k] * x + rng.normal(size=n) * np.sqrt(theta[k])
    return pd.DataFrame({"cluster": cl, "x": x, "y": y, "true_class": k + 1})


def simulate_lca(n_clusters, cluster_size, seed, logit1=0.0, var_c=1.0,
                 probs=((0.9, 0.8, 0.7, 0.8), (0.2, 0.3, 0.1, 0.25))):
    """Two-level LCA data: ``probs[k][m] = P(u{m+1}=1 | class k+1)``.
    Columns: cluster, u1..uM, true_class (1-based)."""
    rng = np.random.default_rng(seed)
    n = n_clusters * cluster_size
    cl = np.repeat(np.arange(n_clusters), cluster_size)
    a = rng.normal(0.0, np.sqrt(var_c), n_clusters)[cl]
    k = np.where(rng.random(n) < 1.0 / (1.0 + np.exp(-(logit1 + a))), 0, 1)
    probs = np.asarray(probs, float)
    u = (rng.random((n, probs.shape[1])) < probs[k]).astype(float)
    out = pd.DataFrame({"cluster": cl})
    for m in range(probs.shape[1]):
        out[f"u{m + 1}"] = u[:, m]
    out["true_class"] = k + 1
    return out


# ----------------------------------------------------------------------------
# self-check
# ----------------------------------------------------------------------------

def unbalanced_clusters(df, seed):
    """Clusters of 1 to all of their rows (rows dropped at random), rows shuffled across clusters."""
    rng = np.random.default_rng(seed)
    keep = []
    for _, rows in df.groupby("cluster").groups.items():
        keep.extend(rng.choice(np.asarray(rows), size=rng.integers(1, len(rows) + 1), replace=False))
    return df.loc[keep].sample(frac=1.0, random_state=seed).reset_index(drop=True)


def lca_random_logit_posteriors(df, items, params, grid_points=2001):
    """P(C_ij = k | y_j), (n, 2), of the 2-class LCA of ``loglik_lca_random_logit`` (logit link,
    cluster column ``cluster``): a grid over a ~ N(0, var(c#1)),
    P(C_i = k | y_j) = E[P(k | a) f_ik / sum_k' P(k' | a) f_ik' | y_j]."""
    var = params["var(c#1)"]
    grid = np.linspace(-10, 10, grid_points) * np.sqrt(var)
    log_f = np.zeros((len(df), 2))
    for k in (1, 2):
        for item in items:
            p1 = 1 / (1 + np.exp(params[f"{item}$1|c#{k}"]))
            log_f[:, k - 1] += np.where(df[item] == 1, np.log(p1), np.log1p(-p1))
    logit = params["[c#1]"] + grid
    log_prior = np.stack([-np.logaddexp(0, -logit), -np.logaddexp(0, logit)], axis=1)  # (G, 2)
    expected = np.empty((len(df), 2))
    for _, rows in df.groupby("cluster").groups.items():
        rows = np.asarray(rows)
        joint = log_prior[:, None, :] + log_f[rows][None]  # (G, n_j, 2)
        row_ll = logsumexp(joint, axis=2)
        log_w = -grid**2 / (2 * var) + row_ll.sum(axis=1)
        w = np.exp(log_w - logsumexp(log_w))
        expected[rows] = np.einsum("g,gik->ik", w, np.exp(joint - row_ll[..., None]))
    return expected


def _quad_check(log_integrand_scalar, var):
    """log Int N(b;0,var) exp(g(b)) db by scipy.integrate.quad (independent check).

    The integrand is rescaled by its max on a coarse grid to avoid underflow."""
    from scipy.integrate import quad
    sd = np.sqrt(var)
    zs = np.linspace(-10, 10, 2001)
    g = np.array([log_integrand_scalar(sd * z) - 0.5 * z * z for z in zs])
    zmax, gmax = zs[np.argmax(g)], g.max()
    f = lambda z: np.exp(log_integrand_scalar(sd * z) - 0.5 * z * z - gmax)
    val, _ = quad(f, -10, 10, points=[zmax], epsabs=0, epsrel=1e-13, limit=500)
    return gmax + np.log(val) - 0.5 * _LOG_2PI


def _self_check():
    """Compare methods against each other; raise AssertionError on mismatch."""
    def report(name, a, b, tol):
        diff = abs(a - b)
        print(f"{name:<58s} {a: .12f} {b: .12f} |diff|={diff:.2e}")
        assert diff < tol, name

    # 1. RI logistic: 400 vs 800 points, grid vs scipy quad, var->0 vs plain logistic
    d1 = simulate_ri_logistic(60, 15, -0.3, 0.7, 1.2, seed=1)
    a = loglik_ri_logistic(d1.y, d1.cluster, d1.x, -0.3, 0.7, 1.2, points=400)
    b = loglik_ri_logistic(d1.y, d1.cluster, d1.x, -0.3, 0.7, 1.2, points=800)
    report("1 ri_logistic 400 vs 800 points", a, b, 1e-9)
    q = 0.0
    for idx in _clusters(d1.cluster):
        yj, xj = d1.y.to_numpy()[idx], d1.x.to_numpy()[idx]
        q += _quad_check(lambda u: _log_bernoulli(yj, -0.3 + 0.7 * xj + u, "logit").sum(), 1.2)
    report("1 ri_logistic grid vs scipy quad", a, q, 1e-9)
    plain = _log_bernoulli(d1.y.to_numpy(), -0.3 + 0.7 * d1.x.to_numpy(), "logit").sum()
    report("1 ri_logistic var_u=0 vs plain logistic",
           loglik_ri_logistic(d1.y, d1.cluster, d1.x, -0.3, 0.7, 0.0), plain, 1e-12)

    # 2. linear mixed: closed form vs 2-D brute force; G=0 vs independent normals
    rng = np.random.default_rng(2)
    cl = np.repeat(np.arange(25), 8)
    x = rng.normal(size=cl.size)
    ui = rng.multivariate_normal([0, 0], [[0.5, 0.1], [0.1, 0.3]], 25)
    y = 1.0 + 0.4 * x + ui[cl, 0] + ui[cl, 1] * x + rng.normal(size=cl.size) * 0.8
    pars = (1.0, 0.4, 0.64, 0.5, 0.3, 0.1)
    a = loglik_linear_mixed(y, cl, x, *pars)
    b = loglik_linear_mixed_bruteforce(y, cl, x, *pars, points=160)
    report("2 linear_mixed closed vs 2-D grid (160^2)", a, b, 1e-9)
    b = loglik_linear_mixed_bruteforce(y, cl, x, *pars, points=200)
    report("2 linear_mixed closed vs 2-D grid (200^2)", a, b, 1e-9)
    report("2 linear_mixed G=0 vs independent normals",
           loglik_linear_mixed(y, cl, x, 1.0, 0.4, 0.64, 0.0, 0.0, 0.0),
           _log_normal(y, 1.0 + 0.4 * x, 0.64).sum(), 1e-10)

    # 3. Model 5: closed (compound symmetry) vs quad; Model 2 vs direct mixture
    p5 = {"[cb#1]": 0.3, "y|cb#1": 1.0, "y|cb#2": 0.0, "y ON x|cb#1": 0.2,
          "y ON x|cb#2": 0.8, "var(y)|cb#1": 1.0, "var(y)|cb#2": 0.7, "var(u)": 0.2}
    d5 = simulate_model5(80, 10, seed=5)
    a = loglik_between_class_regression(d5, "y", "x", "cluster", p5, method="closed")
    b = loglik_between_class_regression(d5, "y", "x", "cluster", p5, method="quad")
    report("3 model5 closed form vs 400-pt grid", a, b, 1e-9)
    b = loglik_between_class_regression(d5, "y", "x", "cluster", p5, method="quad", points=800)
    report("3 model5 closed form vs 800-pt grid", a, b, 1e-9)
    # closed form vs scipy multivariate normal (checks the compound-symmetry algebra)
    from scipy.stats import multivariate_normal
    lp = np.array([0.3, 0.0]) - logsumexp([0.3, 0.0])
    ref = 0.0
    for idx in _clusters(d5.cluster):
        yj, xj, n = d5.y.to_numpy()[idx], d5.x.to_numpy()[idx], len(idx)
        ref += logsumexp([lp[d] + multivariate_normal.logpdf(
            yj, p5[f"y|cb#{d + 1}"] + p5[f"y ON x|cb#{d + 1}"] * xj,
            p5[f"var(y)|cb#{d + 1}"] * np.eye(n) + 0.2 * np.ones((n, n))) for d in range(2)])
    report("3 model5 closed form vs scipy multivariate_normal", a, ref, 1e-9)
    p2 = {k: v for k, v in p5.items() if k != "var(u)"}
    d2 = simulate_model2(80, 10, seed=6)
    a = loglik_between_class_regression(d2, "y", "x", "cluster", p2)
    ref = 0.0
    for idx in _clusters(d2.cluster):
        yj, xj = d2.y.to_numpy()[idx], d2.x.to_numpy()[idx]
        ref += logsumexp([lp[d] + _log_normal(yj, p2[f"y|cb#{d + 1}"] + p2[f"y ON x|cb#{d + 1}"]
                                              * xj, p2[f"var(y)|cb#{d + 1}"]).sum()
                          for d in range(2)])
    report("3 model2 (no var(u)) vs direct mixture", a, ref, 1e-10)
    p5t = dict(p5, **{"var(u)": 1e-14})
    report("3 model5 var(u)=1e-14 grid vs model2 exact",
           loglik_between_class_regression(d2, "y", "x", "cluster", p5t, method="quad"),
           a, 1e-9)

    # 4. Model 6: 400 vs 800, grid vs quad, tiny variance vs fixed mixture
    p6 = {"[c#1]": 0.2, "var(c#1)": 1.5, "y|c#1": 1.0, "y|c#2": -1.0, "y ON x|c#1": 0.5,
          "y ON x|c#2": -0.5, "var(y)|c#1": 1.0, "var(y)|c#2": 0.5}
    d6 = simulate_model6(50, 12, seed=7, logit1=0.2, var_c=1.5)
    a = loglik_within_class_random_logit(d6, "y", "x", "cluster", p6, points=400)
    b = loglik_within_class_random_logit(d6, "y", "x", "cluster", p6, points=800)
    report("4 model6 400 vs 800 points", a, b, 1e-9)
    yv, xv = d6.y.to_numpy(), d6.x.to_numpy()
    lf = np.column_stack([_log_normal(yv, 1.0 + 0.5 * xv, 1.0),
                          _log_normal(yv, -1.0 - 0.5 * xv, 0.5)])
    q = 0.0
    for idx in _clusters(d6.cluster):
        def g(av, lfj=lf[idx]):
            p1 = 1.0 / (1.0 + np.exp(-(0.2 + av)))
            return np.log(p1 * np.exp(lfj[:, 0]) + (1 - p1) * np.exp(lfj[:, 1])).sum()
        q += _quad_check(g, 1.5)
    report("4 model6 grid vs scipy quad", a, q, 1e-9)
    p1 = 1.0 / (1.0 + np.exp(-0.2))
    fixed = np.log(p1 * np.exp(lf[:, 0]) + (1 - p1) * np.exp(lf[:, 1])).sum()
    report("4 model6 var(c#1)=1e-14 vs fixed-probability mixture",
           loglik_within_class_random_logit(d6, "y", "x", "cluster",
                                            dict(p6, **{"var(c#1)": 1e-14})), fixed, 1e-9)

    # 5. LCA: logit and probit; 400 vs 800, grid vs quad
    dl = simulate_lca(60, 10, seed=8, logit1=-0.3, var_c=2.0)
    items = ["u1", "u2", "u3", "u4"]
    pl = {"[c#1]": -0.3, "var(c#1)": 2.0}
    for m, (pa, pb) in enumerate([(0.9, 0.2), (0.8, 0.3), (0.7, 0.1), (0.8, 0.25)], 1):
        pl[f"u{m}$1|c#1"] = -np.log(pa / (1 - pa))
        pl[f"u{m}$1|c#2"] = -np.log(pb / (1 - pb))
    for link in ("logit", "probit"):
        a = loglik_lca_random_logit(dl, items, "cluster", pl, link=link, points=400)
        b = loglik_lca_random_logit(dl, items, "cluster", pl, link=link, points=800)
        report(f"5 lca ({link}) 400 vs 800 points", a, b, 1e-9)
        from scipy.stats import norm
        F = (lambda t: 1 / (1 + np.exp(-t))) if link == "logit" else norm.cdf
        U = dl[items].to_numpy()
        pr = [F(-np.array([pl[f"{u}$1|c#{k}"] for u in items])) for k in (1, 2)]
        f = np.column_stack([np.prod(np.where(U == 1, pk, 1 - pk), axis=1) for pk in pr])
        q = 0.0
        for idx in _clusters(dl.cluster):
            def g(av, fj=f[idx]):
                p1 = 1.0 / (1.0 + np.exp(-(-0.3 + av)))
                return np.log(p1 * fj[:, 0] + (1 - p1) * fj[:, 1]).sum()
            q += _quad_check(g, 2.0)
        report(f"5 lca ({link}) grid vs scipy quad", a, q, 1e-9)
    print("reference_twolevel self-check: all passed")


if __name__ == "__main__":
    _self_check()
