"""Self-checks of ``reference_fma.py`` against independent computations.

The reference itself is brute-force numpy; here it is compared with
``scipy.integrate.quad`` / ``dblquad``, closed forms and grid refinement, so
that the package's factor-mixture tests rest on a verified reference.
"""

import math

import numpy as np
import pytest
from reference_fma import (_log_cat_probs, fit_2pl, fma_class_posterior, fma_eap, fma_loglik,
                           fma_row_loglik, fma_twolevel_loglik, lca_loglik_nominal,
                           lca_loglik_poisson, simulate_fma, simulate_nominal_lca,
                           simulate_poisson_lca)
from scipy import stats
from scipy.integrate import dblquad, quad
from scipy.special import expit, softmax

CDF = {"logit": expit, "probit": stats.norm.cdf}


def _F(t, link):
    """Scalar logistic / standard normal cdf (plain ``math``: fast inside quad)."""
    if link == "probit":
        return 0.5 * math.erfc(-t / math.sqrt(2.0))
    if t >= 0:
        return 1.0 / (1.0 + math.exp(-t))
    e = math.exp(t)
    return e / (1.0 + e)


def _npdf(e, mean=0.0, sd=1.0):
    z = (e - mean) / sd
    return math.exp(-0.5 * z * z) / (sd * math.sqrt(2.0 * math.pi))


def _item_prob(y, s, tau_p, link):
    """P(y | linear predictor s), written directly from the model definition:
    binary P(y=1) = F(s - tau); ordinal P(y <= m) = F(tau_m - s)."""
    tau_p = np.atleast_1d(tau_p)
    if tau_p.size == 1:
        return _F(s - tau_p[0], link) if y == 1 else _F(tau_p[0] - s, link)
    m = int(y)
    upper = 1.0 if m == tau_p.size else _F(tau_p[m] - s, link)
    lower = 0.0 if m == 0 else _F(tau_p[m - 1] - s, link)
    return upper - lower


def _quad_row(y, tau, lam, logpi, link, means=None, sds=None):
    """log sum_c pi_c Int prod_p P(y_p|c,eta) N(eta; mean_c, sd_c^2) deta via quad."""
    K = len(logpi)
    means = np.zeros(K) if means is None else means
    sds = np.ones(K) if sds is None else sds
    total = 0.0
    for c in range(K):
        def f(e, c=c):
            v = _npdf(e, means[c], sds[c])
            for p, yp in enumerate(y):
                if not np.isnan(yp):
                    v *= _item_prob(yp, lam[c, p] * e, tau[c, p], link)
            return v
        lo, hi = means[c] - 12 * sds[c], means[c] + 12 * sds[c]
        val, _ = quad(f, lo, hi, epsabs=0, epsrel=1e-13, limit=400, points=[means[c]])
        total += np.exp(logpi[c]) * val
    return np.log(total)


@pytest.fixture(scope="module")
def binary_setup():
    rng = np.random.default_rng(11)
    K, P = 2, 6
    tau = rng.normal(0, 1, (K, P))
    lam = rng.uniform(0.5, 3.0, (K, P))
    alpha = np.array([0.4, 0.0])
    return tau, lam, alpha


@pytest.mark.parametrize("link", ["logit", "probit"])
def test_binary_rows_match_quad_with_covariates_and_factor_moments(binary_setup, link):
    tau, lam, alpha = binary_setup
    Y = np.array([[1, 0, 1, 1, np.nan, 0], [0, 0, 0, 0, 0, 0], [1, 1, 1, 1, 1, np.nan]], float)
    x = np.array([[0.5, -1.0], [2.0, 0.3], [-1.0, 1.0]])
    beta = np.array([[0.7, -0.4], [0.0, 0.0]])
    fmean, fvar = np.array([0.5, -0.3]), np.array([1.5, 0.6])
    rows = fma_row_loglik(Y, tau, lam, alpha, link, x=x, beta=beta, fmean=fmean, fvar=fvar)
    for i in range(len(Y)):
        logpi = np.log(softmax(alpha + beta @ x[i]))
        ref = _quad_row(Y[i], tau, lam, logpi, link, fmean, np.sqrt(fvar))
        assert rows[i] == pytest.approx(ref, abs=1e-11)


@pytest.mark.parametrize("link", ["logit", "probit"])
def test_ordinal_rows_match_quad(link):
    rng = np.random.default_rng(12)
    K, P, M = 2, 4, 4
    tau = np.sort(rng.normal(0, 1.5, (K, P, M - 1)), axis=2)
    lam = rng.uniform(0.5, 3.0, (K, P))
    alpha = np.array([-0.2, 0.0])
    Y = np.array([[0, 3, 2, np.nan], [1, 1, 3, 0], [3, 3, 3, 3]], float)
    rows = fma_row_loglik(Y, tau, lam, alpha, link)
    logpi = np.log(softmax(alpha))
    for i in range(len(Y)):
        assert rows[i] == pytest.approx(_quad_row(Y[i], tau, lam, logpi, link), abs=1e-11)


@pytest.mark.parametrize("link", ["logit", "probit"])
def test_ordinal_probabilities_sum_to_one(link):
    tau_p = np.array([-1.3, -0.2, 0.4, 2.5])
    s = np.array([-40.0, -3.0, 0.0, 0.7, 5.0, 40.0])
    probs = np.exp(_log_cat_probs(s, tau_p, link))
    assert probs.sum(axis=1) == pytest.approx(np.ones(len(s)), abs=1e-13)
    direct = np.array([[_item_prob(m, si, tau_p, link) for m in range(5)] for si in s])
    assert probs == pytest.approx(direct, abs=1e-14)
    # marginal (integrated) category probabilities also sum to one
    tau = tau_p[None, None, :]
    lam = np.array([[1.7]])
    marg = [np.exp(fma_row_loglik([[m]], tau, lam, [0.0], link)[0]) for m in range(5)]
    assert sum(marg) == pytest.approx(1.0, abs=1e-13)


@pytest.mark.parametrize("link", ["logit", "probit"])
def test_binary_is_ordinal_with_one_threshold(binary_setup, link):
    tau, lam, alpha = binary_setup
    Y, _, _ = simulate_fma(np.random.default_rng(3), 200, tau, lam, alpha, link)
    Y[5, 2] = np.nan
    a = fma_loglik(Y, tau, lam, alpha, link)
    b = fma_loglik(Y, tau[:, :, None], lam, alpha, link)
    assert a == pytest.approx(b, abs=1e-10)


@pytest.mark.parametrize("link", ["logit", "probit"])
def test_zero_loadings_reduce_to_latent_class_products(link):
    rng = np.random.default_rng(4)
    K, P, n = 3, 5, 50
    tau = rng.normal(0, 1, (K, P))
    Y = (rng.random((n, P)) < 0.5).astype(float)
    Y[rng.random((n, P)) < 0.1] = np.nan
    F = CDF[link]
    # K = 1: product of item probabilities
    p1 = F(-tau[0])
    lik = np.where(np.isnan(Y), 1.0, np.where(Y == 1, p1, 1 - p1)).prod(axis=1)
    assert fma_row_loglik(Y, tau[:1], np.zeros((1, P)), [0.0], link) == pytest.approx(
        np.log(lik), abs=1e-12)
    # K = 3 with covariates: exact latent class mixture
    alpha = np.array([0.3, -0.5, 0.0])
    x = rng.normal(size=(n, 2))
    beta = np.array([[0.5, -1.0], [1.2, 0.1], [0.0, 0.0]])
    pi = softmax(alpha + x @ beta.T, axis=1)
    pk = F(-tau)                                                    # (K, P)
    f = np.stack([np.where(np.isnan(Y), 1.0, np.where(Y == 1, pk[k], 1 - pk[k])).prod(axis=1)
                  for k in range(K)], axis=1)
    ref = np.log((pi * f).sum(axis=1)).sum()
    got = fma_loglik(Y, tau, np.zeros((K, P)), alpha, link, x=x, beta=beta)
    assert got == pytest.approx(ref, abs=1e-10)


def test_two_factor_grid_matches_dblquad():
    tau = np.array([[0.3, -0.5, 1.0]])
    lam = np.array([[[1.5, 0.0], [0.8, 1.2], [0.0, 2.5]]])             # (K=1, P=3, m=2)
    for y in ([1, 0, 1], [0, 0, 1]):
        def f(e2, e1, y=y):
            s = [lam[0, p, 0] * e1 + lam[0, p, 1] * e2 for p in range(3)]
            v = _npdf(e1) * _npdf(e2)
            for p in range(3):
                v *= _item_prob(y[p], s[p], tau[0, p], "logit")
            return v
        ref, _ = dblquad(f, -9, 9, -9, 9, epsabs=1e-14, epsrel=1e-12)
        got = fma_row_loglik([y], tau, lam, [0.0], "logit")[0]
        assert got == pytest.approx(np.log(ref), abs=1e-9)


@pytest.mark.parametrize("link", ["logit", "probit"])
def test_grid_is_converged(link):
    rng = np.random.default_rng(5)
    K, P = 2, 12
    lam = rng.uniform(1.0, 3.0, (K, P))
    alpha = np.array([0.2, 0.0])
    tau = rng.normal(0, 1, (K, P))
    Y, _, _ = simulate_fma(rng, 300, tau, lam, alpha, link)
    assert fma_loglik(Y, tau, lam, alpha, link) == pytest.approx(
        fma_loglik(Y, tau, lam, alpha, link, points=1601), abs=1e-9)
    tau3 = np.sort(rng.normal(0, 1.5, (K, P, 3)), axis=2)
    Y, _, _ = simulate_fma(rng, 300, tau3, lam, alpha, link)
    assert fma_loglik(Y, tau3, lam, alpha, link) == pytest.approx(
        fma_loglik(Y, tau3, lam, alpha, link, points=1601), abs=1e-9)
    lam2 = rng.uniform(0.0, 3.0, (K, 6, 2))
    Y, _, _ = simulate_fma(rng, 100, tau[:, :6], lam2, alpha, link)
    assert fma_loglik(Y, tau[:, :6], lam2, alpha, link) == pytest.approx(
        fma_loglik(Y, tau[:, :6], lam2, alpha, link, points=241), abs=1e-9)


def _small_twolevel(link, ordinal=False):
    rng = np.random.default_rng(6)
    K, P = 2, 4
    tau = np.sort(rng.normal(0, 1, (K, P, 2)), axis=2) if ordinal else rng.normal(0, 1, (K, P))
    lam = rng.uniform(0.5, 2.0, (K, P))
    alpha = np.array([0.3, 0.0])
    Y, _, _ = simulate_fma(rng, 9, tau, lam, alpha, link)
    Y[0, 1] = np.nan
    cluster = np.repeat([10, 20, 30], 3)
    return Y, cluster, tau, lam, alpha


@pytest.mark.parametrize("link,ordinal", [("logit", False), ("probit", False), ("logit", True)])
def test_twolevel_matches_outer_quad(link, ordinal):
    Y, cluster, tau, lam, alpha = _small_twolevel(link, ordinal)
    var_u = 0.8
    got = fma_twolevel_loglik(Y, cluster, tau, lam, alpha, var_u, link)
    # u enters as F(lam eta + u - tau) (binary) / F(tau - lam eta - u) (ordinal): shift tau by -u
    ref = 0.0
    for g in np.unique(cluster):
        Yg = Y[cluster == g]

        def f(u, Yg=Yg):
            lik = np.exp(fma_loglik(Yg, tau - u, lam, alpha, link))
            return lik * _npdf(u, 0.0, math.sqrt(var_u))
        val, _ = quad(f, -10 * np.sqrt(var_u), 10 * np.sqrt(var_u), epsabs=0, epsrel=1e-12)
        ref += np.log(val)
    assert got == pytest.approx(ref, abs=1e-9)


@pytest.mark.parametrize("link", ["logit", "probit"])
def test_twolevel_tiny_variance_equals_single_level(binary_setup, link):
    tau, lam, alpha = binary_setup
    Y, _, _ = simulate_fma(np.random.default_rng(7), 60, tau, lam, alpha, link)
    cluster = np.repeat(np.arange(12), 5)
    single = fma_loglik(Y, tau, lam, alpha, link, points=201)
    # the u-effect is O(var_u * items per cluster): ~3e-8 here at var_u = 1e-8
    assert fma_twolevel_loglik(Y, cluster, tau, lam, alpha, 1e-8, link) == pytest.approx(
        single, abs=1e-6)
    assert fma_twolevel_loglik(Y, cluster, tau, lam, alpha, 1e-12, link) == pytest.approx(
        single, abs=1e-9)


@pytest.mark.parametrize("link", ["logit", "probit"])
def test_eap_matches_quad(binary_setup, link):
    tau, lam, alpha = binary_setup
    fmean, fvar = np.array([0.8, -0.5]), np.array([0.7, 1.3])
    Y = np.array([[1, 0, 1, 1, np.nan, 0], [0, 0, 0, 0, 0, 0], [np.nan] * 6], float)
    mean, sd = fma_eap(Y, tau, lam, alpha, link, fmean=fmean, fvar=fvar)
    pi = softmax(alpha)
    for i in range(2):
        mom = np.zeros(3)
        for c in range(2):
            def f(e, k, c=c):
                v = _npdf(e, fmean[c], math.sqrt(fvar[c])) * e ** k
                for p, yp in enumerate(Y[i]):
                    if not np.isnan(yp):
                        v *= _item_prob(yp, lam[c, p] * e, tau[c, p], link)
                return v
            for k in range(3):
                mom[k] += pi[c] * quad(f, -15, 15, args=(k,), epsabs=0, epsrel=1e-13,
                                       limit=400)[0]
        m1 = mom[1] / mom[0]
        assert mean[i] == pytest.approx(m1, abs=1e-10)
        assert sd[i] == pytest.approx(np.sqrt(mom[2] / mom[0] - m1 ** 2), abs=1e-9)
    # all-missing row: the prior mixture of normals
    prior_mean = pi @ fmean
    assert mean[2] == pytest.approx(prior_mean, abs=1e-12)
    assert sd[2] == pytest.approx(np.sqrt(pi @ (fvar + fmean ** 2) - prior_mean ** 2), abs=1e-12)
    post = fma_class_posterior(Y, tau, lam, alpha, link, fmean=fmean, fvar=fvar)
    assert post.sum(axis=1) == pytest.approx(np.ones(3), abs=1e-14)
    assert post[2] == pytest.approx(pi, abs=1e-14)


@pytest.mark.parametrize("link,seed", [("logit", 2024), ("probit", 2025)])
def test_fit_2pl_recovers_and_is_a_maximum(link, seed):
    rng = np.random.default_rng(seed)
    P = 10
    a, b = np.linspace(0.6, 2.2, P), np.linspace(-1.5, 1.5, P)
    if link == "probit":
        a = a / 1.7                              # same item difficulty on the probit scale
    Y, _, _ = simulate_fma(rng, 2000, (a * b)[None], a[None], np.zeros(1), link)
    Y[rng.random(Y.shape) < 0.03] = np.nan
    fit = fit_2pl(Y, link)
    assert np.all(np.abs(fit["a"] - a) < 3.5 * fit["se_a"])
    assert np.all(np.abs(fit["b"] - b) < 3.5 * fit["se_b"])
    assert np.all(np.abs(fit["a"] - a) < 0.3) and np.all(np.abs(fit["b"] - b) < 0.3)
    assert fit["lam"] == pytest.approx(fit["a"])
    assert fit["tau"] == pytest.approx(fit["a"] * fit["b"])
    assert fit["grad_norm"] < 1e-6
    lam, tau = fit["lam"], fit["tau"]
    ll = fma_loglik(Y, tau[None], lam[None], [0.0], link)
    assert fit["loglik"] == pytest.approx(ll, abs=1e-9)
    best = -np.inf
    for k in range(2 * P):                       # coordinate and random perturbations
        for h in (1e-3, -1e-3):
            d = np.zeros(2 * P)
            d[k] = h
            best = max(best, fma_loglik(Y, (tau + d[P:])[None], (lam + d[:P])[None], [0.0], link))
    for _ in range(10):
        d = rng.normal(size=2 * P)
        d *= 1e-3 / np.linalg.norm(d)
        best = max(best, fma_loglik(Y, (tau + d[P:])[None], (lam + d[:P])[None], [0.0], link))
    assert best < ll + 1e-9


def test_simulate_fma_frequencies():
    rng = np.random.default_rng(8)
    n = 20000
    K, P = 2, 3
    tau = np.sort(np.array([[[-1.0, 0.5], [0.0, 1.0], [-0.5, 2.0]],
                            [[-2.0, -1.0], [0.3, 0.6], [1.0, 1.5]]]), axis=2)
    lam = np.array([[1.0, 2.0, 0.5], [1.5, 0.3, 1.0]])
    alpha = np.array([0.5, 0.0])
    fmean, fvar = np.array([0.3, -0.4]), np.array([0.5, 2.0])
    Y, cls, eta = simulate_fma(rng, n, tau, lam, alpha, "probit", fmean=fmean, fvar=fvar)
    pi = softmax(alpha)
    assert abs(np.mean(cls == 0) - pi[0]) < 4.5 * np.sqrt(pi[0] * pi[1] / n)
    for c in range(K):
        e = eta[cls == c]
        assert abs(e.mean() - fmean[c]) < 4.5 * np.sqrt(fvar[c] / e.size)
        assert abs(e.var() / fvar[c] - 1) < 4.5 * np.sqrt(2 / e.size)
    for p in range(P):                           # marginal category frequencies vs model
        Yp = np.full((1, P), np.nan)
        for m in range(3):
            Yp[0, p] = m
            prob = np.exp(fma_row_loglik(Yp, tau, lam, alpha, "probit", fmean=fmean, fvar=fvar)[0])
            assert abs(np.mean(Y[:, p] == m) - prob) < 4.5 * np.sqrt(prob * (1 - prob) / n)


def test_poisson_lca_loglik_and_simulator():
    rng = np.random.default_rng(9)
    log_rates = np.log(np.array([[0.5, 3.0, 1.0], [4.0, 0.2, 1.0]]))
    alpha = np.array([-0.3, 0.0])
    Y, cls = simulate_poisson_lca(rng, 20000, log_rates, alpha)
    pi = softmax(alpha)
    assert abs(np.mean(cls == 0) - pi[0]) < 4.5 * np.sqrt(pi[0] * pi[1] / len(cls))
    for c in range(2):
        means = Y[cls == c].mean(axis=0)
        assert np.all(np.abs(means - np.exp(log_rates[c])) < 4.5 * np.sqrt(np.exp(log_rates[c])
                                                                        / np.sum(cls == c)))
    Ys = Y[:40].copy()
    Ys[3, 1] = np.nan
    ref = 0.0
    for yi in Ys:
        lik = 0.0
        for c in range(2):
            v = pi[c]
            for p, yp in enumerate(yi):
                if not np.isnan(yp):
                    v *= stats.poisson.pmf(yp, np.exp(log_rates[c, p]))
            lik += v
        ref += np.log(lik)
    assert lca_loglik_poisson(Ys, log_rates, alpha) == pytest.approx(ref, abs=1e-10)


def test_nominal_lca_loglik_and_simulator():
    rng = np.random.default_rng(10)
    intercepts = np.array([[[1.0, -0.5, 0.2], [0.0, 0.0, 2.0]],
                           [[-1.0, 0.5, 0.0], [1.5, -2.0, 0.3]]])        # (K=2, P=2, M-1=3)
    alpha = np.array([0.2, 0.0])
    Y, cls = simulate_nominal_lca(rng, 20000, intercepts, alpha)
    for c in range(2):
        for p in range(2):
            prob = softmax(np.append(intercepts[c, p], 0.0))
            freq = np.bincount(Y[cls == c, p].astype(int), minlength=4) / np.sum(cls == c)
            assert np.all(np.abs(freq - prob) < 4.5 * np.sqrt(prob * (1 - prob) / np.sum(cls == c)))
    Ys = Y[:40].copy()
    Ys[0, 0] = np.nan
    pi = softmax(alpha)
    ref = 0.0
    for yi in Ys:
        lik = 0.0
        for c in range(2):
            v = pi[c]
            for p, yp in enumerate(yi):
                if not np.isnan(yp):
                    v *= softmax(np.append(intercepts[c, p], 0.0))[int(yp)]
            lik += v
        ref += np.log(lik)
    assert lca_loglik_nominal(Ys, intercepts, alpha) == pytest.approx(ref, abs=1e-10)
