"""Class probabilities of new rows (and new clusters) from a fitted model, without refitting.

``predict(result, newdata)`` codes ``newdata`` with the fitted model's categories, evaluates
the fitted likelihood graph on it at the estimates (``engine/reuse.py``: single-level graphs
take the data as inputs, two-level ones integrate each new cluster's random effects as in
the fit) and returns the posterior class probabilities and the most likely class per row, in
the layout of ``MLResult.posterior_probabilities``. Rows with a missing covariate (or cluster
id) get NaN. Two-level models with a between-level class variable also give the new
clusters' posterior probabilities (``between_posterior=True``).
"""

from __future__ import annotations

import pandas as pd

from .errors import SpecificationError
from .graph.likelihood import joint_class_labels, marginal_class_probs


def predict(result, newdata: pd.DataFrame, between_posterior: bool = False):
    """Posterior class probabilities and most likely classes of ``newdata``'s rows (see module doc).

    With ``between_posterior=True`` (two-level models with a between class variable) returns
    ``(rows, clusters)``, the second as ``MLResult.between_posterior_probabilities``.
    """
    from .engine.reuse import objective_for_frame

    if result.model is None:
        raise SpecificationError("this result has no model attached; load it with mm.load_result to predict")
    objective, kept = objective_for_frame(result.model, newdata, result.integration_settings)
    objective.adapt(result.theta)
    _, posterior, _, clusters = objective.class_probabilities(result.theta)
    structure = result.structure
    cols = {}
    for cv in structure.class_vars:
        post = marginal_class_probs(structure, posterior, cv.name)
        for c in range(cv.n_classes):
            cols[f"{cv.name}={c + 1}"] = post[:, c]
        cols[f"most_likely_{cv.name}"] = post.argmax(axis=1) + 1
    out = pd.DataFrame(cols, index=newdata.index[kept])
    if len(structure.class_vars) > 1:
        for j, lab in enumerate(joint_class_labels(structure)):
            out[f"joint[{lab}]"] = posterior[:, j]
    out = out.reindex(newdata.index)
    for cv in structure.class_vars:
        out[f"most_likely_{cv.name}"] = out[f"most_likely_{cv.name}"].astype("Int64")
    if not between_posterior:
        return out
    between = structure.between
    if between is None:
        raise SpecificationError("between_posterior=True needs a model with a between-level class variable")
    spec = result.model.spec
    labels = pd.factorize(newdata[spec.cluster][kept], sort=True)[1]
    post = clusters.between_posterior
    table = pd.DataFrame({f"{between.name}={d + 1}": post[:, d] for d in range(between.n_classes)},
                         index=pd.Index(labels, name="cluster"))
    table[f"most_likely_{between.name}"] = post.argmax(axis=1) + 1
    return out, table

