"""Class enumeration: the table, LMR / BLRT, reuse of compiled graphs, BLRT calibration."""

import warnings

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

import mlmix_pymc as mm
from mlmix_pymc.enumeration import bootstrap_lrt, bootstrap_statistics
from mlmix_pymc.engine import compiled, reuse
from mlmix_pymc.estimate.optimize import run_starts

from conftest import LSAT_ITEMS


def test_table_columns_and_values(lsat_enumeration):
    e = lsat_enumeration
    t = e.table
    assert list(t["K"]) == [1, 2, 3]
    for col in ("LL", "npar", "AIC", "BIC", "aBIC", "CAIC", "entropy", "smallest_class", "smallest_count",
                "replicated", "G2", "X2", "df", "VLMR_p", "aLMR_p", "BLRT_p", "BLRT_draws"):
        assert col in t
    n = 1000
    for _, row in t.iterrows():
        res = e.results[row["K"]]
        ll, k = res.loglik, res.n_params
        assert row["npar"] == 5 + 6 * (row["K"] - 1)  # 5 thresholds per class + K-1 logits
        assert row["AIC"] == pytest.approx(-2 * ll + 2 * k)
        assert row["BIC"] == pytest.approx(-2 * ll + k * np.log(n))
        assert row["aBIC"] == pytest.approx(-2 * ll + k * np.log((n + 2) / 24))
        assert row["CAIC"] == pytest.approx(-2 * ll + k * (np.log(n) + 1))
        assert row["df"] == 31 - k
        assert row["G2"] == pytest.approx(res.absolute_fit()["G2"])
    assert np.isnan(t.loc[0, "VLMR_p"]) and np.isnan(t.loc[0, "BLRT_p"])
    assert t.loc[1, "VLMR_p"] == pytest.approx(mm.vlmr_test(e.results[1], e.results[2]).p_value)
    assert t.loc[1, "VLMR_p"] < 0.001 and t.loc[2, "VLMR_p"] > 0.05  # LSAT: two classes
    assert list(t["BLRT_draws"][1:]) == [4, 4]
    assert t.loc[1, "BLRT_p"] == 0.0  # 1 vs 2: the real LR (~52) is far out of the null's reach
    assert 0 <= t.loc[2, "BLRT_p"] <= 1
    assert e.best("BIC") == 2


def test_plot(lsat_enumeration):
    import matplotlib

    matplotlib.use("Agg")
    ax = lsat_enumeration.plot()
    assert len(ax.get_lines()) == 4


def test_sequential_blrt_stops_early_when_clearly_not_significant(lsat_enumeration):
    e = lsat_enumeration
    p, draws = bootstrap_lrt(e.results[2], e.results[3], draws=40, starts=(4, 2), seed=3, sequential=True)
    assert len(draws) < 40
    assert p > 0.05


def test_bootstrap_compiles_each_graph_once(lsat_enumeration, monkeypatch):
    e = lsat_enumeration
    reuse._FUNCTIONS.clear()
    built = {"rows": 0, "compiled": 0}
    rows_init, compiled_init = reuse.RowFunctions.__init__, compiled.CompiledLikelihood.__init__

    def count_rows(self, *a, **k):
        built["rows"] += 1
        rows_init(self, *a, **k)

    def count_compiled(self, *a, **k):
        built["compiled"] += 1
        compiled_init(self, *a, **k)

    monkeypatch.setattr(reuse.RowFunctions, "__init__", count_rows)
    monkeypatch.setattr(compiled.CompiledLikelihood, "__init__", count_compiled)
    _, draws = bootstrap_lrt(e.results[1], e.results[2], draws=6, starts=(3, 1), seed=0)
    assert len(draws) == 6
    assert built == {"rows": 2, "compiled": 0}  # one graph per number of classes, not one per draw


def test_data_objective_equals_a_model_built_on_the_same_data(lsat_enumeration):
    res = lsat_enumeration.results[2]
    sim = mm.simulate(res.model, res.theta, seed=11)
    objective, kept = reuse.objective_for_frame(res.model, sim, coded=True)
    assert kept.all()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fresh = mm.lca(sim, LSAT_ITEMS, 2)
    ll, grad = objective.loglik_grad(res.theta)
    ll_ref, grad_ref = fresh.evaluate(res.theta)
    assert ll == pytest.approx(ll_ref, abs=1e-9)
    np.testing.assert_allclose(grad, grad_ref, rtol=1e-9, atol=1e-9)


def _two_class_data(seed, n=250):
    rng = np.random.default_rng(seed)
    c = rng.uniform(size=n) < 0.6
    probs = np.where(c[:, None], [0.85, 0.8, 0.75, 0.8, 0.85], [0.2, 0.25, 0.3, 0.2, 0.3])
    return pd.DataFrame((rng.uniform(size=(n, 5)) < probs).astype(int), columns=[f"u{j}" for j in range(5)])


@pytest.mark.slow
def test_blrt_is_calibrated_under_a_true_two_class_model():
    """Monte Carlo: 2 vs 3 classes on data from a 2-class LCA; the BLRT should reject in about 5%.

    Each replication fits K = 2 and 3 through the reused graphs (one template model per K)
    and runs the bootstrap with 19 draws. With 20 replications the rejection rate has a
    binomial SE of ~5 points, so the test allows up to 4 rejections and a mean p-value
    within 0.25-0.75 (uniform p-values have mean 0.5, SE 0.065 here).
    """
    items = [f"u{j}" for j in range(5)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        template = {k: mm.lca(_two_class_data(0), items, k) for k in (2, 3)}
    p_values = []
    limits = threadpool_limits(limits=1, user_api="blas")  # as ml.py: L-BFGS-B is slower with a BLAS pool
    for rep in range(20):
        data = _two_class_data(100 + rep)
        fits = {}
        for k, model in template.items():
            objective, _ = reuse.objective_for_frame(model, data)
            fits[k] = run_starts(objective, (8, 3), rep, None, n_obs=len(data))
        observed = 2 * (fits[3].loglik - fits[2].loglik)
        p, _ = bootstrap_statistics((template[2], template[3]), (fits[2].theta, fits[3].theta), observed,
                                    draws=19, starts=(5, 2), seed=rep)
        p_values.append(p)
    limits.unregister()
    p_values = np.array(p_values)
    rate = float(np.mean(p_values <= 0.05))
    print(f"BLRT 2 vs 3 under a true 2-class model: rejection rate {rate:.3f} over {len(p_values)} replications, "
          f"mean p {p_values.mean():.3f}")
    assert rate <= 0.2
    assert 0.25 < p_values.mean() < 0.75


@pytest.mark.slow
def test_parallel_bootstrap_gives_the_same_draws(lsat_enumeration):
    e = lsat_enumeration
    _, serial = bootstrap_lrt(e.results[1], e.results[2], draws=4, starts=(3, 1), seed=5)
    _, parallel = bootstrap_lrt(e.results[1], e.results[2], draws=4, starts=(3, 1), seed=5, n_jobs=2)
    np.testing.assert_allclose(parallel, serial, rtol=1e-10)
    with pytest.raises(mm.SpecificationError, match="thread-safe"):
        bootstrap_lrt(e.results[1], e.results[2], draws=4, seed=5, n_jobs=2, backend="threading")
