"""Bayesian estimation on the likelihood graph ML maximizes.

``sampling.py`` builds the ``pm.Model`` and runs the samplers, with the priors of
``priors.py`` (normal, on the estimation scale) and ``priors_probability.py`` (Dirichlet and
Beta), their variables started at the ML estimates (``variables.py``); ``layout.py`` and
``quantities.py`` lay out the posterior; ``align.py`` aligns the labels of the draws;
``posterior.py`` draws posterior predictive data and class probabilities; ``api.py`` is the
public workflow (``mm.align_draws``, ``mm.parameter_table``, ...).
"""
