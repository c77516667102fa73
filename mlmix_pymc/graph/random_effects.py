"""Cluster random effects and the between-level model (eq 5, 15, 18, 25).

The random effects b_j of cluster j follow

    b_j = B_d b_j + Gamma_d x_j + xi_j,    xi_j ~ N(0, Psi_d),    Psi_d = L_d L_d^T

with B_d strictly lower triangular (an effect is regressed on effects listed before it),
cluster covariates x_j, and d the class of the between-level class variable when the
between model is class-specific (``random_by_class``, eq 18 / 25); otherwise there is one
set of these parameters. The fixed part of the model carries the means: a random intercept
or slope is a cluster deviation from the (possibly class-specific) fixed coefficient.

Effects come in three kinds:

* ``class-logit``: random intercept of the logit of class k of a within class variable
  (eq 10, 15; the within-between status of Table 4), one per non-reference class;
* ``intercept``: shifts the linear predictor of its indicators (eq 2: nu_cj), with loading
  1 or free loadings (a between-level factor);
* ``slope``: multiplies a within covariate in its indicators' linear predictor (eq 19).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import SpecificationError
from ..spec import ModelSpec
from .params import Block, ParameterLayout


@dataclass(frozen=True)
class EffectInfo:
    """One random effect as the graph sees it."""

    name: str
    kind: str  # class-logit | intercept | slope
    class_var: str | None  # class-logit: the within class variable
    cls: int | None  # class-logit: 0-based class whose logit it shifts
    items: tuple[str, ...]  # intercept / slope: indicators it enters
    loadings: tuple[int | None, ...]  # per item: parameter element of a free loading, None for 1
    covariate: str | None  # slope: the within covariate


@dataclass(frozen=True)
class BetweenModel:
    """Random effects and the parameters of their between-level model."""

    effects: tuple[EffectInfo, ...]
    n_groups: int  # 1, or the number of between classes when class-specific
    covariance_keys: tuple[str, ...]  # per group: layout key of the Cholesky group
    effect_regressions: tuple[tuple[tuple[int, int, int], ...], ...]  # per group: (effect, on effect, element)
    covariate_regressions: tuple[tuple[tuple[int, str, int], ...], ...]  # per group: (effect, column, element)

    @property
    def dim(self) -> int:
        """Number of random effects (dimension of the integral)."""
        return len(self.effects)

    def effects_of_item(self, item: str) -> list[tuple[int, EffectInfo, int | None]]:
        """(effect index, effect, loading element) of every effect entering ``item``."""
        out = []
        for r, eff in enumerate(self.effects):
            for it, lam in zip(eff.items, eff.loadings):
                if it == item:
                    out.append((r, eff, lam))
        return out


def add_between_model(layout: ParameterLayout, spec: ModelSpec, item_elements) -> BetweenModel:
    """Register loadings, covariances and between-level regressions; describe the effects."""
    effects: list[EffectInfo] = []
    for cv in spec.class_variables:
        if cv.random_intercept:
            for k in range(cv.n_classes - 1):
                effects.append(EffectInfo(f"{cv.name}#{k + 1}", "class-logit", cv.name, k, (), (), None))
    for eff in spec.random_effects:
        loadings: list[int | None] = []
        for p, item in enumerate(eff.indicators):
            if eff.loadings == "free" and p > 0:
                block = layout.add_block(f"loading:{eff.name}:{item}", np.array([f"{eff.name} BY {item}"],
                                                                                  dtype=object),
                                         group="loading", class_var=None, classes=np.array([None], dtype=object),
                                         items=np.array([item], dtype=object), transform="identity",
                                         class_axes={})
                loadings.append(int(block.index[0]))
            else:
                loadings.append(None)
        effects.append(EffectInfo(eff.name, eff.target, None, None, eff.indicators, tuple(loadings),
                                  eff.covariate))
    between = spec.between_class_variable
    groups = between.n_classes if (spec.random_by_class and between is not None) else 1
    names = [e.name for e in effects]
    on_of = {eff.name: eff.on for eff in spec.random_effects}
    cov_keys, eff_regs, cov_regs = [], [], []
    for g in range(groups):
        suffix = f"|{between.name}#{g + 1}" if groups > 1 else ""
        if not effects:
            cov_keys.append("")
            eff_regs.append(())
            cov_regs.append(())
            continue
        dim = len(effects)
        labels = np.empty((dim, dim), dtype=object)
        for a in range(dim):
            for b in range(a + 1):
                labels[a, b] = f"var({names[a]}){suffix}" if a == b else f"cov({names[a]},{names[b]}){suffix}"
        key = f"recov:{g}"
        if spec.random_covariance == "full":
            layout.add_cholesky(key, labels, class_var=between.name if groups > 1 else None,
                                cls=g + 1 if groups > 1 else None, effects=names)
        else:  # one 1x1 Cholesky group per effect: variances only, zero covariances
            tri = np.full((dim, dim), -1, dtype=np.int64)
            for a in range(dim):
                blk = layout.add_cholesky(f"{key}:{a}", labels[a:a + 1, a:a + 1],
                                          class_var=between.name if groups > 1 else None,
                                          cls=g + 1 if groups > 1 else None, effects=[names[a]])
                tri[a, a] = blk.index[0, 0]
                del layout.blocks[f"{key}:{a}"]
            layout.blocks[key] = Block(tri, {})
        cov_keys.append(key)
        er, cr = [], []
        for a, name in enumerate(names):
            for pred in on_of.get(name, ()):
                label = f"{name} ON {pred}{suffix}"
                blk = layout.add_block(f"between:{g}:{name}:{pred}", np.array([label], dtype=object),
                                       group="between regression",
                                       class_var=between.name if groups > 1 else None,
                                       classes=np.array([g + 1 if groups > 1 else None], dtype=object),
                                       items=np.array([pred], dtype=object), transform="identity", class_axes={})
                if pred in names and names.index(pred) >= a:
                    raise SpecificationError(f"random effect {name!r} is regressed on {pred!r}, which must be "
                                             "listed before it (eq 5 with B strictly lower triangular)")
                if pred in names:
                    er.append((a, names.index(pred), int(blk.index[0])))
                else:
                    cr.append((a, pred, int(blk.index[0])))
        eff_regs.append(tuple(er))
        cov_regs.append(tuple(cr))
    if groups > 1 and effects:  # eq 18 / 25: one class axis over the groups, so relabelling D moves them
        cov = [layout.blocks[k].index[layout.blocks[k].index >= 0] for k in cov_keys]
        regs = [[e for *_, e in er] + [e for *_, e in cr] for er, cr in zip(eff_regs, cov_regs)]
        layout.blocks["between:by-class"] = Block(np.column_stack([np.stack(cov), np.array(regs, dtype=np.int64)
                                                                   .reshape(groups, -1)]), {between.name: 0})
    return BetweenModel(tuple(effects), groups, tuple(cov_keys), tuple(eff_regs), tuple(cov_regs))
