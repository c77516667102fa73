"""Thresholds that run off to +-inf are held at the +-15 bound (Mplus), not left part-way."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, special

import mlmix_pymc as mm
from mlmix_pymc.estimate.ml import _snap_run_off


def _numpy_loglik(u, v, logit1, tau_u, tau_v):
    """2-class LCA log-likelihood of two binary items, P(item = 1 | c) = 1 / (1 + exp(tau))."""
    prior = np.array([special.expit(logit1), 1 - special.expit(logit1)])
    p_u, p_v = special.expit(-np.asarray(tau_u)), special.expit(-np.asarray(tau_v))
    f = (np.where(u[:, None] == 1, p_u, 1 - p_u) * np.where(v[:, None] == 1, p_v, 1 - p_v))
    return float(np.sum(np.log(f @ prior)))


def test_threshold_stopped_part_way_is_put_at_the_bound():
    """Class 1 (v = 1) answers u = 1 always, so its u threshold's ML value is -inf. An optimizer
    that stopped at -12 (as L-BFGS does where the gradient, ~exp(-12) times the share of persons
    involved, falls below its tolerance) is completed: the threshold is held at -15 and the other
    parameters equal a numpy maximization of the same likelihood with it held there."""
    rng = np.random.default_rng(0)
    v = (rng.uniform(size=300) < 0.4).astype(float)
    u = np.where(v == 1, 1.0, (rng.uniform(size=300) < 0.5).astype(float))
    df = pd.DataFrame({"u": u, "v": v})
    model = mm.lca(df, ["u", "v"], 2, fixed={"v$1|c#1": -15.0, "v$1|c#2": 15.0})
    compiled = model.compile()
    stopped = model.theta_from_values({"u$1|c#1": -12.0, "u$1|c#2": 0.1, "[c#1]": -0.3})
    theta, loglik = _snap_run_off(compiled, stopped, compiled.loglik(stopped), 5000, model.data.n_obs)
    phi = model.structure.layout.natural(theta)
    names = model.structure.layout.names
    assert phi[names.index("u$1|c#1")] == -15.0

    def negative(x):
        return -_numpy_loglik(u, v, x[0], [-15.0, x[1]], [-15.0, 15.0])

    best = optimize.minimize(negative, [0.0, 0.0], method="Nelder-Mead", options={"xatol": 1e-9, "fatol": 1e-12})
    assert loglik == pytest.approx(-best.fun, abs=1e-6)
    assert phi[names.index("[c#1]")] == pytest.approx(best.x[0], abs=1e-3)
    assert phi[names.index("u$1|c#2")] == pytest.approx(best.x[1], abs=1e-3)


def test_interior_optimum_beyond_ten_is_not_moved():
    """A threshold whose ML value is -11 (one 0 among ~60,000 answers) is not a run-off: putting
    it at -15 lowers the log-likelihood, so it stays at its closed-form value log(1 / (n - 1))."""
    n = 60000
    df = pd.DataFrame({"u": np.r_[np.zeros(1), np.ones(n - 1)]})
    model = mm.lca(df, ["u"], 1)
    res = model.fit(starts=(0, 0), se=None)
    assert res.phi[res.structure.layout.names.index("u$1|c#1")] == pytest.approx(np.log(1 / (n - 1)), abs=1e-3)  # a flat likelihood: L-BFGS stops ~1e-4 short
    assert not res.at_bound
