"""Posterior predictive draws and posterior class probabilities from ``Model.sample`` output."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..data import to_input_rows
from ..estimate.ml import class_probabilities
from ..simulate import simulate


def _thinned(idata, n_draws: int | None):
    """(chain, draw) pairs spread evenly over the posterior, at most ``n_draws`` in total (None: all)."""
    chains, draws = idata.posterior.sizes["chain"], idata.posterior.sizes["draw"]
    if n_draws is None:
        return [(c, d) for c in range(chains) for d in range(draws)], draws
    per_chain = max(1, min(draws, n_draws // chains))
    return [(c, d) for c in range(chains) for d in np.linspace(0, draws - 1, per_chain).astype(int)], per_chain


def add_posterior_predictive(model, idata, n_draws: int | None = None, seed=None):
    """Add a ``posterior_predictive`` group: the indicators drawn from the model at posterior draws.

    One replicated data set per posterior draw (``n_draws=None``, the default), so the group has
    the posterior's chain and draw coordinates and ``az.loo_pit`` pairs it with the
    ``log_likelihood`` group; ``n_draws`` keeps an evenly thinned subset of draws per chain (their
    original draw numbers as coordinates), for ``az.plot_ppc`` only. Variables are the items on the
    ``row`` dim (the data's row labels), category codes 0..M-1 and counts as integers, as in
    ``observed_data``. Random effects and classes are drawn anew (``simulate.py``): draws of new
    data from the same clusters and covariates. Returns ``idata``.
    """
    import xarray as xr

    from .sampling import row_labels, theta_draws
    from ..families import family_of

    rng = np.random.default_rng(seed)
    pairs, per_chain = _thinned(idata, n_draws)
    theta = theta_draws(idata, model).values
    items = [ind.name for ind in model.spec.indicators]
    keep = model.data.kept if model.data.kept is not None else model.frame.index.isin(model.data.index)
    out = {it: [] for it in items}
    for c, d in pairs:
        frame = simulate(model, theta[c, d], seed=rng)
        for it in items:
            out[it].append(frame[it].to_numpy(dtype=float)[keep])
    chains = idata.posterior.sizes["chain"]
    draw_coord = idata.posterior.draw.values[[d for c, d in pairs[:per_chain]]]
    coords = {"chain": idata.posterior.chain.values, "draw": draw_coord, "row": row_labels(model)}
    data = {}
    for it, values in out.items():
        arr = np.array(values).reshape(chains, per_chain, -1)
        if family_of(model.data.indicators[it].family).data_kind != "continuous":
            arr = arr.astype(np.int64)
        data[it] = xr.DataArray(arr, dims=("chain", "draw", "row"), coords=coords)
    if "posterior_predictive" in idata.groups():
        del idata.posterior_predictive
    idata.add_groups(posterior_predictive=xr.Dataset(data))
    return idata


def posterior_predictive_pvalue(model, idata, statistic: str = "bivariate", n_draws: int | None = 200,
                                n_expected: int = 10, seed=None, exact: bool | None = None) -> dict:
    """Posterior predictive p-value (Mplus Bayes PPP) of the bivariate tables or response patterns.

    For each of ``n_draws`` posterior draws theta_s, a data set y_rep is drawn from the model
    (``simulate.py``, the observed missingness kept) and the Pearson discrepancy

        D(y, theta_s) = sum_cells (O(y) - E(theta_s))^2 / E(theta_s)

    is computed for the observed and the replicated data, over the cells of every item pair's
    category cross-table (``"bivariate"``) or over the response patterns (``"patterns"``: the
    observed patterns plus one cell pooling all others). PPP = P(D(y_rep, theta) >= D(y, theta)):
    near 0.5 the model reproduces the tables, small values (< 0.05) flag misfit. The expected
    counts E(theta_s) are exact for a latent class model (one class variable, categorical items,
    no covariates or factors, complete data): n sum_k pi_k P(a | k) P(b | k) from the posterior's
    ``class_proportions`` and ``item_probabilities``; otherwise they are the mean of ``n_expected``
    further data sets drawn at theta_s (cells floored at 0.5 either way; ``exact=False`` takes this
    route for any model, ``exact=True`` refuses models without the exact one). Returns ``{"ppp",
    "observed", "replicated", "exact"}`` (D of the data and of the replicates per draw).
    """
    from ..errors import SpecificationError
    from .sampling import theta_draws
    from ..families import family_of

    if statistic not in ("bivariate", "patterns"):
        raise SpecificationError(f"statistic={statistic!r}: use 'bivariate' or 'patterns'")
    items = [ind.name for ind in model.spec.indicators
             if family_of(model.data.indicators[ind.name].family).data_kind == "categorical"]
    if len(items) < 2:
        raise SpecificationError("posterior_predictive_pvalue needs at least two categorical items")
    rng = np.random.default_rng(seed)
    pairs, _ = _thinned(idata, n_draws)
    theta = theta_draws(idata, model).values
    keep = model.data.kept if model.data.kept is not None else model.frame.index.isin(model.data.index)
    observed = np.column_stack([model.data.indicators[it].values for it in items])
    n_cat = [model.data.indicators[it].n_categories for it in items]
    tables = _bivariate_tables if statistic == "bivariate" else _pattern_table(observed)
    exact_tables = _exact_lca(model, idata, items, observed) if exact is not False else None
    if exact and exact_tables is None:
        raise SpecificationError("exact=True: exact expected tables need a latent class model (one class variable, "
                                 "categorical items, no covariates or factors, complete data)")
    exact = exact_tables

    def replicate(t):
        rep = simulate(model, t, seed=rng)[items].to_numpy(dtype=float)[keep]
        return np.where(np.isnan(observed), np.nan, rep)  # the observed missingness

    obs_t = tables(observed, n_cat)
    d_obs, d_rep = [], []
    for c, d in pairs:
        rep_t = tables(replicate(theta[c, d]), n_cat)
        if exact is not None:
            expected = exact(c, d, statistic, tables)
        else:
            expected = np.mean([tables(replicate(theta[c, d]), n_cat) for _ in range(n_expected)], axis=0)
        expected = np.maximum(expected, 0.5)
        d_obs.append(((obs_t - expected) ** 2 / expected).sum())
        d_rep.append(((rep_t - expected) ** 2 / expected).sum())
    d_obs, d_rep = np.array(d_obs), np.array(d_rep)
    return {"ppp": float(np.mean(d_rep >= d_obs)), "observed": d_obs, "replicated": d_rep,
            "exact": exact is not None}


def _exact_lca(model, idata, items, observed):
    """Expected tables at a posterior draw from ``class_proportions`` and ``item_probabilities`` (a latent
    class model: one class variable, no covariates or factors, all items categorical, complete data);
    None otherwise."""
    structure = model.structure
    post = idata.posterior
    if (len(structure.class_vars) != 1 or structure.between is not None or structure.is_two_level
            or structure.class_vars[0].covariates or structure.class_vars[0].random_intercept
            or len(items) != len(model.spec.indicators) or np.isnan(observed).any()
            or "class_proportions" not in post or "item_probabilities" not in post
            or list(post["item_probabilities"].coords[post["item_probabilities"].dims[2]].values) != items):
        return None
    pi_all = post["class_proportions"].values  # (chain, draw, K)
    probs_all = post["item_probabilities"].values  # (chain, draw, P, M, K)
    n = len(observed)

    def expected(c, d, statistic, tables):
        pi, probs = pi_all[c, d], probs_all[c, d]
        if statistic == "bivariate":
            out = []
            for a in range(len(items)):
                for b in range(a + 1, len(items)):
                    out.append(n * np.einsum("k,ik,jk->ij", pi, probs[a], probs[b]).ravel())
            return np.concatenate(out)
        cells = tables.cells  # observed patterns
        codes = np.array(list(cells), dtype=int)  # (n_patterns, P)
        joint = np.log(pi)[None, :] + sum(np.log(probs[p][codes[:, p]]) for p in range(len(items)))
        counts = n * np.exp(joint).sum(axis=1)
        return np.append(counts, n - counts.sum())

    return expected


def _bivariate_tables(values: np.ndarray, n_cat) -> np.ndarray:
    """Counts of every category pair of every item pair, concatenated (rows missing either item drop out)."""
    out = []
    p = values.shape[1]
    for a in range(p):
        for b in range(a + 1, p):
            ok = ~np.isnan(values[:, a]) & ~np.isnan(values[:, b])
            cell = values[ok, a].astype(int) * n_cat[b] + values[ok, b].astype(int)
            out.append(np.bincount(cell, minlength=n_cat[a] * n_cat[b]))
    return np.concatenate(out).astype(float)


def _pattern_table(observed: np.ndarray):
    """A function counting the observed data's response patterns (plus one cell pooling the others)."""
    def key(values):
        return [tuple(r) for r in np.where(np.isnan(values), -1, values).astype(int)]

    cells = {k: i for i, k in enumerate(dict.fromkeys(key(observed)))}

    def table(values, n_cat):
        counts = np.zeros(len(cells) + 1)
        for k in key(values):
            counts[cells.get(k, len(cells))] += 1
        return counts

    table.cells = cells
    return table


def posterior_class_probabilities(model, idata, n_draws: int = 200) -> pd.DataFrame:
    """P(class | data) per input row averaged over posterior draws (random effects integrated).

    Columns ``c=1..K`` per within class variable (joint classes summed), NaN for rows left out.
    """
    from ..graph.likelihood import marginal_class_probs

    from .sampling import theta_draws

    pairs, _ = _thinned(idata, n_draws)
    theta = theta_draws(idata, model).values
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
    return to_input_rows(pd.DataFrame(cols, index=model.data.index), model.data.input_index, model.data.kept)
