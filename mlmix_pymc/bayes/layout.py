"""Posterior variables grouped by kind, with named dims, from the parameter layout.

The layout's blocks (``graph/params.py``) are arrays of model parameters with a shape, e.g. the
(K, P, M-1) thresholds of P items. Every block becomes one posterior variable named by its
kind (``thresholds``, ``class_logits``, ``means``, ``variances``, ``loadings``, ...), its axes
named ``item`` / ``covariate`` / ``threshold`` / ... and the class axes last (named ``class``
in a model with one class variable, else by the class variable). Each free parameter appears
exactly once: slices of a block that hold only fixed parameters (the reference class's logit
``[c#2] = 0``) or only copies of parameters held equal elsewhere are dropped; a block whose
remaining elements are not a full grid is kept as a flat vector with the Mplus names as its
coordinate. Fixed and equality-copied parameters live in ``idata.attrs`` (``parameter_map``),
so ``parameter_draws`` and ``parameter_table`` rebuild the full Mplus-named parameter vector.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import numpy as np

from ..errors import SpecificationError

# the kind (``ParamInfo.group``) of a block -> the posterior variable name
KIND_NAMES = {"threshold": "thresholds", "intercept": "class_logits", "slope": "class_slopes",
              "transition": "transition_logits", "mean": "means", "variance": "variances",
              "covariance": "covariances", "loading": "loadings", "factor variance": "factor_variances",
              "factor mean": "factor_means", "log rate": "log_rates", "item slope": "item_slopes",
              "between regression": "between_regressions", "item logit": "item_logits",
              "membership loading": "membership_loadings", "membership concentration": "membership_concentrations"}


# kinds whose blocks are one per class variable / factor: a second block is named by its key
_NAMED_BY_KEY = ("intercept", "slope", "transition", "loading", "factor variance", "factor mean")


@dataclass(frozen=True)
class PosteriorVariable:
    """One structured posterior variable: ``elements`` (indices into phi) laid out along ``dims``."""

    name: str
    dims: tuple[str, ...]
    coords: dict
    elements: np.ndarray  # shape = tuple(len(coords[d]) for d in dims)


def _axis_dim(layout, index: np.ndarray, axis: int, class_axes: dict, single_class_var: bool, item_names,
              covariate_names, kind: str):
    """(dim name, coordinate values) of one block axis."""
    for cv, ax in class_axes.items():
        if ax == axis:
            n = index.shape[axis]
            return ("class" if single_class_var else cv), list(range(1, n + 1))
    line = np.moveaxis(index, axis, 0).reshape(index.shape[axis], -1)[:, 0]
    if kind == "threshold" and axis == index.ndim - 1 and index.ndim == 3:  # (K, P, M-1): thresholds last
        return "threshold", list(range(1, len(line) + 1))
    items = [layout.infos[int(k)].item for k in line]
    if len(set(items)) == len(items):
        if all(i in item_names for i in items):
            return "item", items
        if all(i in covariate_names for i in items):
            return "covariate", items
    labels = [layout.infos[int(k)].item for k in line]
    if len(set(labels)) == len(labels) and None not in labels:
        return f"{KIND_NAMES.get(kind, kind)}_label", labels
    return f"{KIND_NAMES.get(kind, kind)}_dim{axis}", list(range(1, len(line) + 1))


def posterior_variables(structure, item_names, covariate_names, dims_used: dict | None = None) -> list[PosteriorVariable]:
    """The structured variables of ``structure``'s free parameters (module docstring).

    ``dims_used`` (dim -> coordinates) collects the dims taken, so that further variables
    (``quantities``) can share or avoid them. The dim ``item`` is reserved for all the model's
    items (the observed ``responses[row, item]``): a variable of some items only (one family's
    group in a model of several families) gets a dim of its own."""
    layout = structure.layout
    rep = np.zeros(len(layout.infos), dtype=bool)
    rep[layout.representative] = True
    n_class_vars = len(structure.class_vars) + (structure.between is not None)
    names_used: dict[str, int] = {}
    dims_used = {} if dims_used is None else dims_used
    dims_used.setdefault("item", list(item_names))
    out = []
    for key, block in layout.blocks.items():
        index = np.asarray(block.index)
        if index.size == 0:
            continue
        if (index < 0).any():  # a Cholesky group: its lower triangle, flat
            index = index[index >= 0]
        kind = layout.infos[int(index.ravel()[0])].group
        full_shape = index.shape
        for axis in range(index.ndim):  # drop slices without a free parameter of their own
            keep = [s for s in range(index.shape[axis]) if rep[np.take(index, s, axis=axis)].any()]
            index = np.take(index, keep, axis=axis)
        if index.size == 0:
            continue
        base = KIND_NAMES.get(kind, re.sub(r"\W+", "_", kind) + "s")
        count = names_used.get(base, 0)
        names_used[base] = count + 1
        suffix = key.split(":")[1] if kind in _NAMED_BY_KEY and ":" in key else str(count + 1)
        name = base if count == 0 else base + "_" + re.sub(r"\W+", "_", suffix)
        if kind != "covariance" and rep[index].all():
            class_axes = set(block.class_axes.values())
            # a size-1 first axis outside the classes is the single row of class-invariant parameters
            axes = [a for a in range(index.ndim) if a not in class_axes and (a > 0 or index.shape[a] > 1)]
            axes += sorted(class_axes)
            dims, coords = [], {}
            for a in axes:
                dim, values = _axis_dim(layout, index, a, block.class_axes, n_class_vars == 1, item_names,
                                        covariate_names, kind)
                if index.shape[a] < full_shape[a] and a in class_axes:
                    dim = f"{dim}_free"  # the non-reference classes (the reference's logits are fixed at 0)
                dim = dim if dim not in coords else f"{dim}_{len(dims)}"
                dims.append(dim)
                coords[dim] = values
            squeezed = [a for a in range(index.ndim) if a not in axes]  # size-1 axes
            elements = np.transpose(index, axes + squeezed).reshape([index.shape[a] for a in axes])
        else:
            flat = index.ravel()[rep[index.ravel()]]
            dims, coords, elements = [f"{name}_parameter"], {f"{name}_parameter": [layout.infos[int(k)].name for k in flat]}, flat
        new_dims = unique_dims(dims, coords, dims_used, name)
        out.append(PosteriorVariable(name, tuple(new_dims), {n: coords[o] for n, o in zip(new_dims, dims)}, elements))
    return out


def unique_dims(dims, coords, dims_used, name) -> list[str]:
    """Rename a dim whose name is taken with other coordinates (one Dataset, one coordinate per dim)."""
    out = []
    for d in dims:
        new = d
        if d in dims_used and list(dims_used[d]) != list(coords[d]):
            new = f"{d}_{name}"
        dims_used.setdefault(new, coords[d])
        out.append(new)
    return out


def parameter_map(structure, variables: list[PosteriorVariable]) -> list[dict]:
    """For every model parameter (Mplus order): its variable and position, or its fixed value, or
    the free parameter it is held equal to (JSON-friendly, stored in ``idata.attrs``)."""
    layout = structure.layout
    where = {}
    for var in variables:
        for pos in np.ndindex(var.elements.shape):
            where[int(var.elements[pos])] = {"variable": var.name,
                                             "position": {d: _plain(var.coords[d][p]) for d, p in zip(var.dims, pos)}}
    out = []
    for k, info in enumerate(layout.infos):
        entry = {"name": info.name, "kind": info.group}
        if layout.fixed_mask[k]:
            entry.update(status="fixed", value=float(layout.natural(np.zeros(layout.n_free))[k]))
        else:
            rep = int(layout.representative[layout.free_of[k]])
            if rep in where:
                entry.update(status="free" if rep == k else "equal", **where[rep])
                if rep != k:
                    entry["equal_to"] = layout.infos[rep].name
            else:
                entry.update(status="free", variable=None)
        out.append(entry)
    return out


def _plain(value):
    return value.item() if hasattr(value, "item") else value


def structured_dataset(variables: list[PosteriorVariable], phi: np.ndarray, chain, draw):
    """xarray Dataset of the structured variables from phi draws (chain, draw, n_params)."""
    import xarray as xr

    data = {}
    for var in variables:
        values = phi[:, :, var.elements]
        data[var.name] = xr.DataArray(values, dims=("chain", "draw") + var.dims,
                                      coords={"chain": chain, "draw": draw, **var.coords})
    return xr.Dataset(data)


def store_map(idata, structure, variables) -> None:
    """Keep the parameter map in ``idata.attrs`` (JSON, so ``to_netcdf`` can save it)."""
    idata.attrs["parameter_map"] = json.dumps(parameter_map(structure, variables))


def read_map(idata) -> list[dict]:
    """The parameter map stored by ``store_map``; a clear error for other InferenceData."""
    raw = getattr(idata, "attrs", {}).get("parameter_map") if hasattr(idata, "attrs") else None
    if raw is None:
        raise SpecificationError("this InferenceData has no mlmix parameter map: use the result of Model.sample "
                                 "(or of mm.add_structured_posterior)")
    return json.loads(raw)


def parameter_draws(idata):
    """All model parameters with their Mplus names, (chain, draw, parameter), from a sampled ``idata``.

    Free parameters come from the structured posterior variables, equality-constrained copies
    repeat them, fixed parameters are constant.
    """
    import xarray as xr

    entries = read_map(idata)
    post = idata.posterior
    shape = (post.sizes["chain"], post.sizes["draw"])
    cols = []
    for e in entries:
        if e["status"] == "fixed" or e.get("variable") is None:
            cols.append(np.full(shape, e.get("value", np.nan)))
        else:
            cols.append(post[e["variable"]].sel(e["position"]).values)
    return xr.DataArray(np.stack(cols, axis=-1), dims=("chain", "draw", "parameter"),
                        coords={"chain": post.chain, "draw": post.draw, "parameter": [e["name"] for e in entries]})


def parameter_table(idata, level: float = 0.95):
    """Mplus-named parameter table of a posterior: status, variable and position, mean, sd, interval, r_hat, ESS."""
    import arviz as az
    import pandas as pd

    entries = read_map(idata)
    draws = parameter_draws(idata)
    flat = draws.values.reshape(-1, draws.shape[-1])
    lo, hi = np.quantile(flat, [(1 - level) / 2, (1 + level) / 2], axis=0)
    free = np.array([e["status"] != "fixed" for e in entries])
    rhat, ess = np.full(len(entries), np.nan), np.full(len(entries), np.nan)
    if free.any() and draws.sizes["chain"] > 1:
        ds = draws.isel(parameter=np.flatnonzero(free)).to_dataset(name="p")
        rhat[free], ess[free] = az.rhat(ds)["p"].values, az.ess(ds, method="bulk")["p"].values
    return pd.DataFrame({
        "name": [e["name"] for e in entries], "status": [e["status"] for e in entries],
        "variable": [e.get("variable") for e in entries],
        "position": [json.dumps(e.get("position")) if e.get("position") else "" for e in entries],
        "mean": flat.mean(axis=0), "sd": flat.std(axis=0, ddof=1) if len(flat) > 1 else np.nan,
        "lower": lo, "upper": hi, "r_hat": rhat, "ess_bulk": ess})


def check_same_model(ml_result, idata) -> None:
    """``idata`` must be a posterior of the model that ``ml_result`` fitted (same parameters)."""
    if not hasattr(ml_result, "structure") or not hasattr(ml_result, "parameters"):
        raise SpecificationError(f"compare_ml_bayes(ml_result, idata): the first argument must be an ML result "
                                 f"(Model.fit), got {type(ml_result).__name__}")
    raw = getattr(idata, "attrs", {}).get("parameter_map") if hasattr(idata, "posterior") else None
    names = list(ml_result.structure.layout.names)
    legacy = getattr(getattr(idata, "posterior", None), "get", lambda k: None)("phi")
    if raw is None and legacy is not None and legacy.shape[-1] != len(names):  # an old flat ``phi`` posterior
        raise SpecificationError(f"compare_ml_bayes(): the ML result has {len(names)} parameters but the posterior "
                                 f"draws have {legacy.shape[-1]}; they come from different models")
    if raw is None:
        raise SpecificationError("compare_ml_bayes() needs the InferenceData returned by Model.sample or "
                                 "mm.align_draws (an aligned, structured posterior)")
    drawn = [e["name"] for e in json.loads(raw)]
    if drawn != names:
        raise SpecificationError(f"compare_ml_bayes(): the ML result has {len(names)} parameters but the posterior "
                                 f"draws have {len(drawn)}" + (" with other names" if len(drawn) == len(names) else "")
                                 + "; they come from different models (e.g. another number of classes)")
