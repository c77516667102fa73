"""The public Bayesian workflow helpers (``mm.align_draws``, ``mm.add_log_likelihood``,
``mm.parameter_table``, ``mm.parameter_draws``); the work is in the other modules of ``bayes/``."""

from __future__ import annotations


def align_draws(model, idata, reference=None):
    """Label-align a posterior of ``model`` (e.g. ``pm.sample`` on ``model.to_pymc()``) to ``reference``.

    ``reference``: an ML result of ``model``, its natural parameters, or None (fit ML). Returns a
    new InferenceData laid out as ``Model.sample``'s: structured posterior and probability-scale
    quantities recomputed from the aligned draws, ``unconstrained_posterior`` (``theta``),
    ``observed_data`` and ``log_likelihood``; ``attrs["n_relabelled"]`` counts relabelled draws.
    """
    from .sampling import align_posterior

    return align_posterior(model, idata, reference)


def add_log_likelihood(model, idata):
    """Add the pointwise ``log_likelihood`` group (``loglik`` per row, or per cluster in two-level
    models, with the data's labels) computed from ``idata``'s ``theta`` draws; returns ``idata``."""
    from .sampling import add_log_likelihood as add

    return add(model, idata)


def parameter_draws(idata):
    """All model parameters under their Mplus names, (chain, draw, parameter), fixed ones constant."""
    from .layout import parameter_draws as draws

    return draws(idata)


def parameter_table(idata, level: float = 0.95):
    """One row per model parameter (Mplus name): status (free / fixed / equal), its posterior variable
    and position, posterior mean, sd, equal-tailed ``level`` interval, r_hat and bulk ESS."""
    from .layout import parameter_table as table

    return table(idata, level)
