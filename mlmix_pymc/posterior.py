"""Posterior predictive draws and posterior class probabilities from ``Model.sample`` output."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .estimate.ml import class_probabilities
from .simulate import simulate


def _thinned(idata, n_draws: int):
    """(chain, draw) pairs spread evenly over the posterior, at most ``n_draws`` in total."""
    chains, draws = idata.posterior.sizes["chain"], idata.posterior.sizes["draw"]
    per_chain = max(1, min(draws, n_draws // chains))
    return [(c, d) for c in range(chains) for d in np.linspace(0, draws - 1, per_chain).astype(int)], per_chain


def add_posterior_predictive(model, idata, n_draws: int = 200, seed=None):
    """Add a ``posterior_predictive`` group: indicators drawn from the model at posterior draws.

    Random effects and classes are drawn anew (``simulate.py``), so these are draws of new
    data from the same clusters and covariates. Returns ``idata``.
    """
    import arviz as az

    rng = np.random.default_rng(seed)
    pairs, per_chain = _thinned(idata, n_draws)
    theta = idata.posterior["theta"].values
    items = [ind.name for ind in model.spec.indicators]
    keep = model.frame.index.isin(model.data.index)
    out = {it: [] for it in items}
    for c, d in pairs:
        frame = simulate(model, theta[c, d], seed=rng)
        for it in items:
            out[it].append(frame[it].to_numpy(dtype=float)[keep])
    chains = idata.posterior.sizes["chain"]
    data = {it: np.array(v).reshape(chains, per_chain, -1) for it, v in out.items()}
    idata.add_groups(posterior_predictive=az.from_dict(posterior_predictive=data).posterior_predictive)
    return idata


def posterior_class_probabilities(model, idata, n_draws: int = 200) -> pd.DataFrame:
    """P(class | data) per input row averaged over posterior draws (random effects integrated).

    Columns ``c=1..K`` per within class variable (joint classes summed), NaN for rows left out.
    """
    from .graph.likelihood import marginal_class_probs

    pairs, _ = _thinned(idata, n_draws)
    theta = idata.posterior["theta"].values
    compiled = model.compile()
    total = 0.0
    for c, d in pairs:
        total = total + class_probabilities(compiled, theta[c, d])[1]
    posterior = total / len(pairs)
    cols = {}
    for cv in model.structure.class_vars:
        probs = marginal_class_probs(model.structure, posterior, cv.name)
        for k in range(cv.n_classes):
            cols[f"{cv.name}={k + 1}"] = probs[:, k]
    from .results import _to_input_rows

    return _to_input_rows(pd.DataFrame(cols, index=model.data.index), model.data.input_index, model.data.kept)
