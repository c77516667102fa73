"""PyMC variables that start where the sampler should: at the ML estimates, or PyMC's default.

The free parameters (``sampling.py``) and the Dirichlet and Beta priors on probabilities
(``priors_probability.py``) are made by ``started_variable``; PyMC is imported inside it, as
everywhere in the library, because it is needed only for Bayesian estimation.
"""

from __future__ import annotations

import numpy as np


def started_variable(name, dist, params, start, dims, n=None, signature=None, transform=None):
    """``dist(name, *params)`` whose default initial point is ``start`` (None: PyMC's own).

    A ``pm.CustomDist`` wrapping ``dist.dist`` with ``start`` as its support point: the same
    density, and, unlike ``initval=``, a model that ``pm.compute_log_likelihood`` /
    ``pm.sample_posterior_predictive`` can still transform. ``n`` sizes a parameterless vector
    (``pm.Flat``); ``signature`` / ``transform`` are those of multivariate or bounded variables.
    """
    import pymc as pm
    import pytensor.tensor as pt

    if start is None:
        kwargs = {"shape": (n,)} if n is not None else {}
        return dist(name, *params, dims=dims, **kwargs) if transform is None else \
            dist(name, *params, dims=dims, transform=transform, **kwargs)
    start = np.asarray(start, dtype=float)
    extra = {} if signature is None else {"signature": signature}
    if transform is not None:
        extra["transform"] = transform
    if n is not None:  # no parameters to carry the shape: one dummy vector does
        params, make = (np.zeros(n),), (lambda zeros, size: dist.dist(size=size))
        extra.setdefault("signature", None)
        extra.pop("signature")
    else:
        def make(*args):
            *values, size = args
            return dist.dist(*values, size=size)

    return pm.CustomDist(name, *params, dist=make, support_point=lambda rv, size, *args: pt.as_tensor_variable(start),
                         dims=dims, **extra)
