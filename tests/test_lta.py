"""Several within-level class variables (single-level LTA, eq 8-9): the jointly enumerated
likelihood against a numpy brute-force sum over (C1, C2), and recovery of the transition logits."""

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy import special

import mlmix_pymc as mm

from simdata import simulate_categorical


def _lta_spec(same_measurement=True):
    items1 = [f"u{p}" for p in range(1, 5)]
    items2 = [f"v{p}" for p in range(1, 5)]
    return mm.ModelSpec(
        (mm.ClassVariable("c1", 2, covariates=("x",)), mm.ClassVariable("c2", 2, depends_on="c1")),
        tuple(mm.Indicator(i, class_variable="c1") for i in items1)
        + tuple(mm.Indicator(i, class_variable="c2") for i in items2),
        constraints=mm.Constraints(same_measurement=(("c1", "c2"),) if same_measurement else ()),
    )


def _simulate(rng, n=1500):
    x = rng.normal(size=n)
    p1 = special.expit(0.3 + 0.7 * x)  # P(C1 = 1)
    c1 = (rng.uniform(size=n) > p1).astype(int)  # 0 = class 1
    # eq 13: P(C2 = 1 | C1) = expit(alpha2 + gamma * I(C1 = 1))
    p2 = special.expit(-1.0 + 3.0 * (c1 == 0))
    c2 = (rng.uniform(size=n) > p2).astype(int)
    tau = np.array([[-1.5, -1.0, -2.0, -0.5], [1.5, 1.0, 2.0, 0.5]])[..., None]
    u = simulate_categorical(rng, c1, tau)
    v = simulate_categorical(rng, c2, tau)
    df = pd.DataFrame(np.column_stack([u, v]), columns=[f"u{p}" for p in range(1, 5)] + [f"v{p}" for p in range(1, 5)])
    df["x"] = x
    return df


def _numpy_loglik(model, theta, df):
    phi = dict(zip(model.parameter_names, model.structure.layout.natural(theta)))
    total = 0.0
    for _, row in df.iterrows():
        prior1 = special.softmax([phi["[c1#1]"] + phi["c1#1 ON x"] * row["x"], 0.0])
        lik = 0.0
        for k1, k2 in itertools.product((1, 2), (1, 2)):
            prior2 = special.softmax([phi["[c2#1]"] + phi[f"c2#1 ON c1#{k1}"], 0.0])
            f = prior1[k1 - 1] * prior2[k2 - 1]
            for p in range(1, 5):
                pu = 1 - special.expit(phi[f"u{p}$1|c1#{k1}"])
                pv = 1 - special.expit(phi[f"v{p}$1|c2#{k2}"])
                f *= (pu if row[f"u{p}"] == 1 else 1 - pu) * (pv if row[f"v{p}"] == 1 else 1 - pv)
            lik += f
        total += np.log(lik)
    return total


def test_lta_loglik_equals_brute_force_enumeration():
    df = _simulate(np.random.default_rng(31), n=120)
    model = mm.from_spec(_lta_spec(same_measurement=False), df)
    theta = 0.4 * np.random.default_rng(32).normal(size=model.n_free)
    assert model.evaluate(theta)[0] == pytest.approx(_numpy_loglik(model, theta, df), abs=1e-8)


def test_same_measurement_makes_thresholds_equal_across_time():
    df = _simulate(np.random.default_rng(33), n=200)
    free = mm.from_spec(_lta_spec(same_measurement=False), df).n_free
    tied = mm.from_spec(_lta_spec(same_measurement=True), df)
    assert free - tied.n_free == 8  # 4 items x 2 classes
    phi = dict(zip(tied.parameter_names, tied.structure.layout.natural(np.arange(tied.n_free) * 0.1)))
    assert phi["u3$1|c1#2"] == phi["v3$1|c2#2"]


@pytest.mark.slow
def test_lta_recovers_all_parameters():
    """P(C1 = 1) ~ 0.57 and P(C2 = 1) ~ 0.62, so the documented class order keeps the simulated labels."""
    from test_recovery import _assert_recovered

    df = _simulate(np.random.default_rng(34))
    res = mm.from_spec(_lta_spec(), df).fit(starts=(10, 3), seed=1)
    truth = {"[c1#1]": 0.3, "c1#1 ON x": 0.7, "[c2#1]": -1.0, "c2#1 ON c1#1": 3.0}
    tau = {1: [-1.5, -1.0, -2.0, -0.5], 2: [1.5, 1.0, 2.0, 0.5]}
    for k in (1, 2):
        for p in range(1, 5):
            truth[f"u{p}$1|c1#{k}"] = truth[f"v{p}$1|c2#{k}"] = tau[k][p - 1]  # equal by same_measurement
    _assert_recovered(res, truth)


def test_lta_constructor_and_transition_table(lta_fit):
    model, res = lta_fit  # mm.lta(u1-u4 / v1-v4, 2 classes, covariates=["x"]) fitted (conftest.py)
    assert model.spec == _lta_spec()
    table = res.transition_probabilities("c2")
    np.testing.assert_allclose(table.sum(axis=1), 1.0)
    # with no covariate on C2, P(C2 | C1 = d) is the softmax of its logits for every row
    t = res.parameters.set_index("name")["estimate"]
    assert table.loc["c1=1", "c2=1"] == pytest.approx(special.expit(t["[c2#1]"] + t["c2#1 ON c1#1"]), abs=1e-10)
    assert table.loc["c1=2", "c2=1"] == pytest.approx(special.expit(t["[c2#1]"]), abs=1e-10)


def test_transition_table_bad_class_variable_is_named():
    df = _simulate(np.random.default_rng(36), n=200)
    res = mm.from_spec(_lta_spec(), df).fit(starts=(0, 0), se=None)
    with pytest.raises(mm.SpecificationError, match="unknown class variable 'c9'"):
        res.transition_probabilities("c9")
    with pytest.raises(mm.SpecificationError, match="'c1' has no parent"):
        res.transition_probabilities("c1")
