"""Probability-scale quantities of the Bayesian model, as PyTensor expressions of ``theta``.

* ``class_proportions[class]``: P(C = k) = mean over rows of softmax(alpha + beta x_i) (eq 4; the
  row mean is the model-estimated proportion with covariates, softmax(alpha) without), for
  class variables with no parent and no random logit intercept.
* ``transition_probabilities[<parent>, <class>]``: P(C_t = k | C_{t-1} = j) = softmax_k(alpha_k +
  gamma_kj) for a first-order latent transition model without covariates (eq 6-9); the child's
  ``class_proportions`` are then sum_j P(C_{t-1} = j) P(C_t = k | j).
* ``item_probabilities[item, category, class]``: P(y_p = m | C = k) of binary, ordinal and nominal
  items of a latent class measurement model (no factors, no covariate effects on the items;
  eq 1), from the family's own category log probabilities (the likelihood's formula).

The expressions are built once in ``to_pymc`` (``pm.Deterministic``) and compiled into
``evaluator`` for recomputing them from label-aligned ``theta`` draws, so the deterministics
always equal the transformation of the parameters they are reported beside.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Quantity:
    """A derived quantity: its name, dims, coordinates and PyTensor expression of theta."""

    name: str
    dims: tuple[str, ...]
    coords: dict
    expr: object


def _class_dim(structure, cv_name: str) -> str:
    single = len(structure.class_vars) + (structure.between is not None) == 1
    return "class" if single else cv_name


def derived_quantities(structure, theta, dims_used: dict | None = None) -> list[Quantity]:
    """The quantities of the module docstring that apply to ``structure``; their dims are renamed
    where ``dims_used`` (from ``layout.posterior_variables``) holds one with other coordinates."""
    from .layout import unique_dims

    dims_used = {} if dims_used is None else dims_used
    out = []
    for q in _quantities(structure, theta):
        dims = unique_dims(list(q.dims), q.coords, dims_used, q.name)
        out.append(Quantity(q.name, tuple(dims), {n: q.coords[o] for n, o in zip(dims, q.dims)}, q.expr))
    return out


def _quantities(structure, theta) -> list[Quantity]:
    import pytensor.tensor as pt

    from ..graph.unit import class_logits

    layout = structure.layout
    phi = layout.symbolic_natural(theta[None, :])  # (1, n_params), the graph's own parameter vector
    out: list[Quantity] = []
    proportions = {}
    if structure.is_gom:
        return out
    for cv in structure.class_vars:
        dim = _class_dim(structure, cv.name)
        classes = list(range(1, cv.n_classes + 1))
        if cv.random_intercept:
            continue
        if cv.parent is None:
            logits = class_logits(structure, phi, cv, per_row=False)  # (1|n, K)
            probs = pt.mean(pt.special.softmax(logits, axis=1), axis=0)
        elif not cv.covariates and cv.parent in proportions:
            parent = structure.class_var(cv.parent)
            alpha = layout.gather(phi, f"intercept:{cv.name}")[0]  # (K,)
            gamma = layout.gather(phi, f"transition:{cv.name}")[0]  # (K, Kp)
            trans = pt.special.softmax(alpha[:, None] + gamma, axis=0).T  # (Kp, K): rows sum to 1
            pdim = _class_dim(structure, parent.name)
            out.append(Quantity(f"transition_probabilities_{cv.name}", (f"{pdim}_from", dim),
                                {f"{pdim}_from": list(range(1, parent.n_classes + 1)), dim: classes}, trans))
            probs = pt.dot(proportions[cv.parent], trans)
        else:
            continue
        proportions[cv.name] = probs
        name = "class_proportions" if dim == "class" else f"class_proportions_{cv.name}"
        out.append(Quantity(name, (dim,), {dim: classes}, probs))
    groups = [g for g in structure.groups if g.family.data_kind == "categorical" and not g.has_factors
              and not g.is_regression]
    for n, g in enumerate(groups):
        params = {role: layout.gather(phi, key) for role, key in g.params.items()}  # (1, K, P[, extra])
        log_probs = g.family.coefficients(params, None, g.link)[0]  # (K, P, M)
        dim = _class_dim(structure, g.class_var)
        n_classes = structure.class_var(g.class_var).n_classes
        name = "item_probabilities" if n == 0 else f"item_probabilities_{n + 1}"
        suffix = "" if n == 0 else f"_{n + 1}"
        out.append(Quantity(name, (f"item{suffix}", f"category{suffix}", dim),
                            {f"item{suffix}": list(g.items), f"category{suffix}": list(range(g.n_categories)),
                             dim: list(range(1, n_classes + 1))},
                            pt.exp(log_probs).transpose(1, 2, 0)))
    return out


def evaluator(quantities: list[Quantity], theta):
    """A compiled function theta (n_free,) -> list of the quantities' values."""
    import pytensor

    from ..toolchain.backend import compile_mode

    if not quantities:
        return lambda t: []
    with compile_mode("c"):  # missing C modules compiled in parallel
        return pytensor.function([theta], [q.expr for q in quantities], on_unused_input="ignore")


def quantity_dataset(quantities: list[Quantity], fn, theta_draws: np.ndarray, chain, draw):
    """xarray Dataset of the quantities at every (chain, draw) of ``theta_draws`` (chain, draw, n_free)."""
    import xarray as xr

    chains, draws, _ = theta_draws.shape
    values = [fn(t) for t in theta_draws.reshape(chains * draws, -1)]
    data = {}
    for i, q in enumerate(quantities):
        arr = np.array([v[i] for v in values]).reshape((chains, draws) + np.shape(values[0][i]))
        data[q.name] = xr.DataArray(arr, dims=("chain", "draw") + q.dims,
                                    coords={"chain": chain, "draw": draw, **q.coords})
    return xr.Dataset(data)
