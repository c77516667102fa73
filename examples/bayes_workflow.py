"""Bayesian latent class analysis of the LSAT data, the PyMC / ArviZ way.

Run: ``python examples/bayes_workflow.py [output folder]`` (about 30-60 s; figures are written
to the folder, default ``bayes_workflow_figures``). Steps:

1. ML fit of the 2-class LCA (the reference labelling and the chains' start).
2. NUTS on the same likelihood graph: ``model.sample`` returns an ArviZ ``InferenceData`` whose
   posterior holds ``class_proportions[class]``, ``item_probabilities[item, category, class]``,
   ``thresholds[item, threshold, class]`` and ``class_logits`` with named dims, labels aligned.
3. ArviZ as usual: ``az.summary``, ``az.plot_trace``, ``az.loo``; posterior predictive checks
   (``mm.add_posterior_predictive``: one replicated data set per draw, integer-coded) with
   ``az.plot_ppc`` and ``az.loo_pit``; the posterior predictive p-value of the bivariate tables.
4. ML versus Bayes per parameter (``mm.compare_ml_bayes``) and K = 2 versus K = 3 by LOO
   (``az.compare``).
5. The ``pm.Model`` itself (``model.to_pymc()``): ``pm.find_MAP`` under flat priors is the ML
   solution; Dirichlet / Beta priors on the probability scale.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np

ITEMS = ["item1", "item2", "item3", "item4", "item5"]


def main(out_dir: str | Path | None = "bayes_workflow_figures", draws: int = 300, tune: int = 300, seed: int = 1,
         show: bool = False) -> dict:
    """Run the workflow; returns its objects and key numbers (asserted here)."""
    import arviz as az
    import matplotlib

    if not show:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pymc as pm

    import mlmix_pymc as mm

    data = mm.datasets.load_lsat()
    model = mm.lca(data, ITEMS, n_classes=2)
    ml = model.fit(seed=seed)

    # 2. NUTS from the ML solution, 2 chains (use 4 chains and 1000+ draws for inference)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # short chains: r_hat above 1.01 is expected here
        idata = model.sample(draws=draws, tune=tune, chains=2, seed=seed, ml_result=ml, cores=1, progressbar=False)
    mm.add_posterior_predictive(model, idata, seed=seed)

    # 3. ArviZ
    summary = az.summary(idata, var_names=["class_proportions", "item_probabilities"])
    print(summary.round(3))
    print(mm.parameter_table(idata).round(3).to_string(index=False))
    loo = az.loo(idata)
    pit = az.loo_pit(idata, y="item1")
    ppp = mm.posterior_predictive_pvalue(model, idata, n_draws=100, seed=seed)
    print(loo)
    print(f"posterior predictive p-value of the bivariate tables: {ppp['ppp']:.3f}")

    # 4. ML versus Bayes, and K = 2 versus K = 3
    comparison = mm.compare_ml_bayes(ml, idata)
    print(comparison)
    model3 = mm.lca(data, ITEMS, n_classes=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # two K = 3 thresholds run off to +-15 (a weak third class)
        ml3 = model3.fit(seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        idata3 = model3.sample(draws=draws, tune=tune, chains=2, seed=seed, ml_result=ml3, cores=1,
                               progressbar=False)
    ranking = az.compare({"K=2": idata, "K=3": idata3})
    print(ranking)

    # 5. the pm.Model: under flat priors its MAP is the ML solution
    with model.to_pymc(priors="flat", ml_result=ml):
        mode = pm.find_MAP(start={"theta": ml.theta + 0.2}, progressbar=False)
    map_loglik = model.loglik(mode["theta"])
    print(f"pm.find_MAP log-likelihood {map_loglik:.4f}, ML {ml.loglik:.4f}")

    figures = {}
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        axes = az.plot_trace(idata, var_names=["class_proportions", "item_probabilities"],
                             coords={"category": [1]})
        figures["trace"] = out / "trace.png"
        axes.ravel()[0].figure.savefig(figures["trace"], dpi=80)
        ax = az.plot_ppc(idata, var_names=ITEMS, num_pp_samples=50, random_seed=seed)
        figures["ppc"] = out / "ppc.png"
        np.ravel(ax)[0].figure.savefig(figures["ppc"], dpi=80)
        ax = az.plot_loo_pit(idata, y="item1")
        figures["loo_pit"] = out / "loo_pit.png"
        ax.figure.savefig(figures["loo_pit"], dpi=80)
        ax = comparison.plot()
        figures["ml_vs_bayes"] = out / "ml_vs_bayes.png"
        ax.figure.savefig(figures["ml_vs_bayes"], dpi=80)
        plt.close("all")

    # the key numbers
    props = idata.posterior["class_proportions"]
    assert props.dims == ("chain", "draw", "class") and np.allclose(props.sum("class"), 1.0)
    assert abs(map_loglik - ml.loglik) < 1e-3
    assert np.isfinite(loo.elpd_loo) and pit.shape == (model.data.n_obs,)
    assert 0.05 < ppp["ppp"] < 0.95, ppp["ppp"]  # the 2-class model fits the LSAT bivariate tables
    assert list(ranking.index)[0] in ("K=2", "K=3") and np.isfinite(ranking["elpd_loo"]).all()
    return {"model": model, "ml": ml, "idata": idata, "model3": model3, "ml3": ml3, "idata3": idata3,
            "summary": summary, "loo": loo, "pit": pit, "ppp": ppp, "comparison": comparison, "ranking": ranking,
            "map_loglik": map_loglik, "figures": figures}


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "bayes_workflow_figures")
