"""``mm.simulate`` draws through the latent components (``latent/``): for every kind of latent
variable, the pattern frequencies of simulated data match the pattern probabilities of an
independent numpy brute-force likelihood (``reference_gom.py``, closed forms here), by a G²
test at 1e-3 on a large sample. Issue 32: ``simulate`` of a GoM used to draw LCA data.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy import special, stats

import mlmix_pymc as mm
from reference_gom import binary_item_probs, loglik_3pl, loglik_dirichlet, loglik_fma_gom, \
    loglik_logistic_normal, loglik_restricted
from reference_integrals import factor_mixture_rows

ITEMS = ["a", "b", "c", "d"]
PATTERNS = np.array(list(itertools.product([0.0, 1.0], repeat=len(ITEMS))))  # (16, 4)
N_DRAWS = 20_000
THRESHOLDS = np.array([[-1.5, -1.0, 0.5, -2.0], [1.0, 1.5, -0.5, 2.0], [0.0, 2.5, -2.5, 0.0]])  # (K, P)


def _design(n=N_DRAWS):
    """A frame of the right columns (values are redrawn by ``simulate``)."""
    return pd.DataFrame(np.tile(PATTERNS, (n // len(PATTERNS) + 1, 1))[:n], columns=ITEMS)


def _threshold_values(k):
    return {f"{it}$1|c#{c + 1}": THRESHOLDS[c, p] for c in range(k) for p, it in enumerate(ITEMS)}


def _pattern_counts(frame) -> np.ndarray:
    codes = (frame[ITEMS].to_numpy() @ (2 ** np.arange(len(ITEMS))[::-1])).astype(int)
    return np.bincount(codes, minlength=len(PATTERNS))


def g2_p_value(counts: np.ndarray, log_probs: np.ndarray) -> float:
    """p-value of the likelihood-ratio (G²) test of observed pattern counts against probabilities."""
    probs = np.exp(log_probs)
    assert probs.sum() == pytest.approx(1.0, abs=1e-8)  # the reference is a distribution over the patterns
    expected = counts.sum() * probs
    seen = counts > 0
    g2 = 2.0 * np.sum(counts[seen] * np.log(counts[seen] / expected[seen]))
    return float(stats.chi2.sf(g2, len(counts) - 1))


def _per_pattern(loglik_of_f, k) -> np.ndarray:
    """log P(pattern) for each of the 16 patterns from a reference log-likelihood of item probabilities f."""
    f = binary_item_probs(PATTERNS, THRESHOLDS[:k])  # (16, P, K)
    return np.array([loglik_of_f(f[i:i + 1]) for i in range(len(PATTERNS))])


def case_lca():
    values = {"[c#1]": 0.4, "[c#2]": -0.3, **_threshold_values(3)}
    probs = special.softmax([0.4, -0.3, 0.0])
    f = binary_item_probs(PATTERNS, THRESHOLDS)  # (16, P, K)
    return mm.lca(_design(), ITEMS, 3), values, np.log(np.prod(f, axis=1) @ probs)


def case_gom_logistic_normal():
    cov = np.array([[2.0, 0.6], [0.6, 1.0]])
    values = {"[c#1]": 0.3, "[c#2]": -0.4, "var(c#1)": cov[0, 0], "var(c#2)": cov[1, 1], "cov(c#2,c#1)": cov[0, 1],
              **_threshold_values(3)}
    model = mm.gom(_design(), ITEMS, 3)
    return model, values, _per_pattern(lambda f: loglik_logistic_normal(f, np.array([0.3, -0.4]), cov, points=40), 3)


def case_gom_logistic_normal_2():
    values = {"[c#1]": 0.5, "var(c#1)": 4.0, **_threshold_values(2)}
    model = mm.gom(_design(), ITEMS, 2)
    return model, values, _per_pattern(lambda f: loglik_logistic_normal(f, np.array([0.5]), np.array([[4.0]])), 2)


def case_gom_restricted():
    lam = np.array([1.5, -0.8])
    values = {"[c#1]": 0.2, "[c#2]": 0.1, "eta BY c#1": lam[0], "eta BY c#2": lam[1], **_threshold_values(3)}
    model = mm.gom(_design(), ITEMS, 3, membership="restricted")
    return model, values, _per_pattern(lambda f: loglik_restricted(f, np.array([0.2, 0.1]), lam), 3)


def case_gom_dirichlet():
    alpha = np.array([0.6, 1.2, 0.9])
    values = {f"alpha(c#{c + 1})": a for c, a in enumerate(alpha)} | _threshold_values(3)
    model = mm.gom(_design(), ITEMS, 3, membership="dirichlet")
    return model, values, _per_pattern(lambda f: loglik_dirichlet(f, alpha), 3)


def case_fma_gom():
    lam = np.array([[0.8, 1.2, 0.5, 1.0], [0.8, 1.2, 0.5, 1.0]])  # class-invariant loadings
    values = {"[c#1]": -0.3, "var(c#1)": 1.5, "var(f)": 1.0, **{f"f BY {it}": lam[0, p] for p, it in enumerate(ITEMS)},
              **_threshold_values(2)}
    model = mm.gom(_design(), ITEMS, 2, n_factors=1)
    log_probs = np.array([loglik_fma_gom(PATTERNS[i:i + 1], THRESHOLDS[:2], lam, -0.3, 1.5, points=40)
                          for i in range(len(PATTERNS))])
    return model, values, log_probs


def case_3pl():
    guess, a, b = np.array([0.2, 0.1, 0.25, 0.15]), np.array([1.2, 0.8, 1.5, 1.0]), np.array([0.5, -0.5, 1.0, 0.0])
    values = {"[c#1]": 0.0, "var(f)": 1.0}
    for p, it in enumerate(ITEMS):
        values.update({f"c#1|{it}": special.logit(guess[p]), f"f BY {it}|c#2": a[p], f"{it}$1|c#2": a[p] * b[p]})
    model = mm.irt(_design(), ITEMS, model="3pl")
    log_probs = np.array([loglik_3pl(PATTERNS[i:i + 1], guess, a, b) for i in range(len(PATTERNS))])
    return model, values, log_probs


def case_fma():
    """2-class factor mixture, class-invariant loadings, factor variance 1 (eq 36): Gauss-Hermite by hand."""
    lam = np.array([0.9, 1.1, 0.6, 1.3])
    values = {"[c#1]": 0.5, **{f"f BY {it}": lam[p] for p, it in enumerate(ITEMS)}, **_threshold_values(2)}

    def log_f_at(z):  # (16, Q, K)
        return np.log(binary_item_probs(PATTERNS, THRESHOLDS[:2], z, np.vstack([lam, lam]))).sum(axis=2)

    return mm.fma(_design(), ITEMS, 2), values, factor_mixture_rows(log_f_at, [0.5, 0.0], points=60)


CASES = {"lca": case_lca, "gom_logistic_normal": case_gom_logistic_normal,
         "gom_logistic_normal_2": case_gom_logistic_normal_2, "gom_restricted": case_gom_restricted,
         "gom_dirichlet": case_gom_dirichlet, "fma_gom": case_fma_gom, "3pl": case_3pl, "fma": case_fma}


@pytest.mark.parametrize("name", list(CASES))
def test_simulated_pattern_frequencies_match_the_brute_force_probabilities(name):
    model, values, log_probs = CASES[name]()
    assert set(values) <= set(model.parameter_names)
    frame = mm.simulate(model, values, seed=11)
    assert g2_p_value(_pattern_counts(frame), log_probs) > 1e-3


def test_the_frequency_check_has_power():
    """The same check rejects GoM data drawn as LCA data (what ``simulate`` did before the
    components): with var(c#1) = 25 the memberships sit near the vertices, unlike var = 1e-6."""
    model, values, log_probs = case_gom_logistic_normal_2()
    near_lca = dict(values, **{"var(c#1)": 1e-6})
    frame = mm.simulate(model, near_lca, seed=11)
    assert g2_p_value(_pattern_counts(frame), log_probs) < 1e-6
    wide = mm.simulate(model, dict(values, **{"var(c#1)": 25.0}), seed=11)
    assert not np.array_equal(_pattern_counts(wide), _pattern_counts(frame))


def test_gom_simulation_reports_memberships_not_a_person_class():
    model, values, _ = case_gom_dirichlet()
    frame = mm.simulate(model, values, seed=2)
    members = frame[[f"_membership_c#{c}" for c in (1, 2, 3)]].to_numpy()
    assert "_class_c" not in frame
    assert np.allclose(members.sum(axis=1), 1.0)
    alpha = np.array([0.6, 1.2, 0.9])
    assert np.allclose(members.mean(axis=0), alpha / alpha.sum(), atol=0.01)  # E[g] of the Dirichlet
