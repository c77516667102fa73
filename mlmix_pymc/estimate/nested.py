"""Models nested in a model that the library can fit: extra starts, and a floor under its log-likelihood.

A model is never reported below a model nested in it (the paper's Table 5-6 comparisons and
every likelihood ratio test rest on this). Two kinds of nesting:

* interior: the nested solution is a point of the model's own parameter space: loadings 0 in a
  factor mixture give the LCA; equal classes give the 1-class factor model; guessing logits at
  their -15 bound give the 2PL inside the 3PL (eq 43-47). Its embedding is a start that is
  always carried to convergence, so the fit cannot end below it.
* limit: the nested model is reached only as parameters run off to a bound: a membership
  variance -> infinity (GoM -> LCA, FMA-GoM -> FMA, eq 30-35, 38), all Dirichlet concentrations
  -> 0 (GoM -> LCA), a random class-logit intercept variance -> infinity (Model 6 -> Model 5,
  Table 3-4). Its embedding with large values is a start, and its log-likelihood is the
  supremum of the model along that path: when the fit does not exceed it, ``boundary.py``
  reports the fit as that boundary solution, with the nested log-likelihood.

``nested_models(model)`` lists what nests in ``model``; ``fit_nested`` fits them (each with
the fit's random starts, or its deterministic start for 1-class models).
"""

from __future__ import annotations

import dataclasses
import re
import warnings
from typing import Callable

import numpy as np
from scipy import special, stats

from .optimize import has_latent_classes

LIMIT_VARIANCE = 25.0  # membership / class-logit variance of a limit-type start (sd 5)
GUESSING_LOGIT = -15.0  # the 3PL's guessing logits at their bound: g = 3e-7, the 2PL


@dataclasses.dataclass
class Nested:
    """A model nested in another: ``label`` (e.g. "the 2-class LCA"), its ``model``, the ``kind``
    ("interior", "limit", or "start" for a related model that is only a start), ``running_off`` (the larger model's parameters that run to a bound
    in a limit nesting) and ``embed`` (nested result -> the larger model's ``theta``). ``result``
    is filled in by ``fit_nested``."""

    label: str
    model: object
    kind: str  # "interior", "limit" or "start" (not nested: a start only)
    running_off: tuple[str, ...]
    embed: Callable
    result: object = None
    floor: bool = True  # its log-likelihood bounds the larger model's from below (False: a start only)


def _class_suffix(name: str) -> tuple[str, int | None]:
    """'u1$1|c#2' -> ('u1$1|c#', 2); names without a class suffix -> (name, None)."""
    m = re.match(r"^(.*\|[A-Za-z_]\w*#)(\d+)$", name)
    return (m.group(1), int(m.group(2))) if m else (name, None)


def _theta_from(model, values: dict, neutral: Callable[[str], float | None] = lambda name: None) -> np.ndarray:
    """``model``'s theta from natural ``values`` by name; parameters missing there take ``neutral(name)``
    (when not None) or the deterministic start."""
    from .starts import clip_to_bounds, partition_start

    layout = model.structure.layout
    phi = partition_start(model.structure, None)
    for k, name in enumerate(layout.names):
        if layout.fixed_mask[k]:
            continue
        if name in values:
            phi[k] = values[name]
        elif (v := neutral(name)) is not None:
            phi[k] = v
    phi[layout.fixed_mask] = layout.fixed_values[layout.fixed_mask]
    return clip_to_bounds(model.structure, layout.theta_from_natural(phi))


def _values(result) -> dict:
    return dict(zip(result.structure.layout.names, result.phi))


# ---------------------------------------------------------------- the nestings
def _gom_nesting(model) -> list[Nested]:
    """GoM -> the LCA (FMA-GoM -> the FMA): the membership's limit (``gom_start.py``). The restricted
    GoM with K > 2 (eq 35) does not nest the LCA in its interior (section 7), but reaches it in the
    limit too: with loadings and intercepts s (l_k, b_k), s -> infinity, g becomes the indicator of
    argmax_k (b_k + l_k eta), every class owning an interval of eta of any probability."""
    from .gom_start import lca_start, nested_lca

    memb = model.structure.membership
    if memb.kind == "fixed":
        return []  # the 3PL's items (below)
    layout = model.structure.layout
    label = f"the {memb.n_classes}-class {'FMA' if model.spec.factors else 'LCA'}"
    nested = nested_lca(model)
    if memb.kind == "dirichlet":
        running = tuple(layout.names[k] for k in memb.alpha)
    else:
        running = tuple(layout.names[k] for k in np.unique(memb.random[memb.random >= 0])
                        if not layout.fixed_mask[k] and layout.names[k].startswith(("var(", "eta BY")))
    return [Nested(label, nested, "limit", running, lambda res: lca_start(model, res))]


def _fma_nestings(model) -> list[Nested]:
    """Factor mixture -> the LCA (loadings 0) and the 1-class factor model (all classes equal)."""
    from ..model import Model

    spec = model.spec
    cv = spec.class_variables[0]
    out = []
    lca_spec = dataclasses.replace(spec, factors=(), constraints=type(spec.constraints)())
    lca = Model(lca_spec, model.frame)
    out.append(Nested(f"the {cv.n_classes}-class LCA", lca, "interior", (),
                      lambda res: _theta_from(model, _values(res),
                                              lambda name: 0.0 if " BY " in name or name.startswith("[f") else None)))
    one_spec = dataclasses.replace(spec, class_variables=(dataclasses.replace(cv, n_classes=1, covariates=()),),
                                   constraints=type(spec.constraints)())
    one = Model(one_spec, model.frame)

    def from_one_class(res):
        values = _values(res)
        spread = {}
        for name in model.structure.layout.names:
            stem, k = _class_suffix(name)
            if k is not None and f"{stem}1" in values:
                spread[name] = values[f"{stem}1"]
        values.update(spread)
        return _theta_from(model, values, lambda name: 0.0 if name.startswith("[") else None)

    out.append(Nested("the 1-class factor model", one, "interior", (), from_one_class))
    return out


def _three_pl_nesting(model) -> list[Nested]:
    """3PL -> the 2PL (eq 43-47 with every guessing logit at -15)."""
    from ..models import irt

    items = [ind.name for ind in model.spec.indicators]
    two = irt(model.frame, items, model="2pl", link=model.spec.indicators[0].link)

    def embed(res):
        values = _values(res)
        mapped = {}
        for it in items:
            mapped[f"f BY {it}|c#2"] = values[f"f BY {it}"]
            mapped[f"{it}$1|c#2"] = values[f"{it}$1|c#1"]
            mapped[f"c#1|{it}"] = GUESSING_LOGIT
        return _theta_from(model, mapped)

    return [Nested("the 2PL", two, "interior", (), embed)]


def _between_class_nesting(model) -> list[Nested]:
    """A within class variable with random logit intercepts (Model 6) -> the same classes at the
    between level (Model 5): the limit of intercept variances -> infinity (Table 3-4)."""
    from ..model import Model

    spec = model.spec
    cv = spec.class_variables[0]
    between = dataclasses.replace(cv, level="between", random_intercept=False)
    nested_spec = dataclasses.replace(spec, class_variables=(between,), constraints=type(spec.constraints)())
    nested = Model(nested_spec, model.frame)
    layout = model.structure.layout
    running = tuple(n for n in layout.names if n.startswith(f"var({cv.name}#"))

    def embed(res):
        values = _values(res)
        k = cv.n_classes
        props = special.softmax(np.r_[[values.get(f"[{cv.name}#{c}]", 0.0) for c in range(1, k)], 0.0])
        sd = np.sqrt(LIMIT_VARIANCE)
        for c in range(1, k):  # P(class c against the reference) as the normal's mass above 0
            share = np.clip(props[c - 1] / (props[c - 1] + props[-1]), 1e-6, 1 - 1e-6)
            values[f"[{cv.name}#{c}]"] = sd * stats.norm.ppf(share)
            values[f"var({cv.name}#{c})"] = LIMIT_VARIANCE
        return _theta_from(model, values, lambda name: 0.0 if name.startswith("cov(") else None)

    return [Nested(f"the {cv.n_classes}-class model with a between-level class variable", nested, "limit",
                   running, embed)]


def nested_models(model) -> list[Nested]:
    """The models nested in ``model`` that the library fits as starts and compares (module docstring)."""
    spec, structure = model.spec, model.structure
    if structure.is_gom and structure.membership.kind == "fixed":
        return _three_pl_nesting(model) if _is_three_pl(model) else []  # its constraints are the 3PL's own
    constrained = bool(spec.constraints.fixed or spec.constraints.equal)
    if structure.is_gom:  # the LCA start always (section 7's advice); no floor under user constraints
        out = _gom_nesting(model)
        for nest in out:
            nest.floor = nest.floor and not constrained
        return out
    if constrained or spec.known_class is not None or spec.weights is not None:
        return []  # constraints name the model's own parameters; known classes and weights: fit as given
    cvs = spec.class_variables
    if len(cvs) != 1:
        return []
    cv = cvs[0]
    if (spec.factors and not structure.is_two_level and cv.n_classes > 1 and cv.level == "within"
            and not cv.covariates and all(f.mean == "zero" for f in spec.factors)):
        return _fma_nestings(model)
    if (structure.is_two_level and cv.level == "within" and cv.random_intercept and not cv.covariates
            and cv.n_classes > 1 and not spec.factors and not spec.random_by_class):
        return _between_class_nesting(model)
    return []


def _is_three_pl(model) -> bool:
    cv = model.spec.class_variables[0]
    return cv.item_logits and cv.n_classes == 2 and len(model.spec.factors) == 1


def fit_nested(nestings: list[Nested], starts, seed, progress=None) -> list[Nested]:
    """Fit every nested model (no standard errors, certified, without nested models of its own);
    a nesting whose fit fails is dropped. 1-class models take their deterministic start."""
    from ..errors import MlmixError
    from .ml import fit_ml

    done = []
    for nest in nestings:
        one_class = not has_latent_classes(nest.model.spec)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                nest.result = fit_ml(nest.model, starts=(0, 0) if one_class else starts, seed=seed, se=None,
                                     progress=progress, nested=False)
            except (MlmixError, FloatingPointError, np.linalg.LinAlgError):
                continue
        done.append(nest)
    return done
