"""Latent components: every latent variable of a model, one module per kind (design guide section 1).

``components_of(structure)`` lists a model's components in the order the generating process
visits them (cluster -> unit -> measurement): between-level class variables, cluster random
effects, within-level class variables, within-level factors, grade-of-membership vectors.
``simulate.py`` draws data from them; the indicator families (``families/``) then draw the items.
"""

from __future__ import annotations

from .base import LEVELS, Draws, LatentComponent, draw_categories, elements
from .class_variable import ClassVariable, fixed_logits
from .cluster_effects import ClusterEffects
from .membership import Membership
from .unit_factors import UnitFactors, factor_values


def components_of(structure) -> list:
    """The latent components of a ``GraphStructure``, top-down.

    Within-level class variables come in spec order (an LTA's parent before its child);
    factors after the class variable they belong to.
    """
    out: list = []
    if structure.between is not None:
        out.append(ClassVariable(structure, structure.between))
    if structure.between_model is not None and structure.between_model.dim > 0:
        out.append(ClusterEffects(structure))
    gom = structure.membership.class_var if structure.membership is not None else None
    for cv in structure.class_vars:
        if cv.name != gom:
            out.append(ClassVariable(structure, cv))
    for latent in structure.unit_latents:
        out.append(UnitFactors(latent, person_level=latent.class_var == gom))
    if structure.membership is not None:
        out.append(Membership(structure, structure.membership))
    return out


__all__ = ["LEVELS", "Draws", "LatentComponent", "ClassVariable", "ClusterEffects", "UnitFactors", "Membership",
           "components_of", "draw_categories", "elements", "fixed_logits", "factor_values"]
