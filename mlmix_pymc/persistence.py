"""Saving and loading fitted results: one JSON file with the spec, the data and the estimates.

``save_result(result, path)`` (``result.save``) writes the spec (``ModelSpec.to_dict``), the
DataFrame the model was fitted to (column by column with its dtype, so categories and the
row index come back as they were), the estimates (theta, phi, their covariance), the
posterior and model class probabilities, the random-start record, cluster information and
fit settings; floats are written by Python's shortest round-trip repr, so every number comes
back bit for bit. It also writes the tables (fit indices, parameters, class proportions, item
probabilities) for readers outside Python. ``load_result(path)`` / ``result_from_json(text)``
rebuild the ``Model`` (spec + data; nothing is compiled until a likelihood is evaluated) and
the ``MLResult``, whose tables are then recomputed from the same numbers and equal the
original ones exactly.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from .engine.objective import ClusterInfo
from .errors import DataError
from .estimate.boundary import BoundarySolution
from .estimate.certificate import IntegrationCertificate
from .estimate.optimize import StartRecord, StartsOutcome
from .model import Model
from .results import MLResult, provides
from .spec import ModelSpec

FORMAT = "mlmix_pymc.result"
VERSION = 1
RENAMED_METHODS = {"laplace": "map-laplace"}  # fit(method=...) names in files saved before a rename


# ---------------------------------------------------------------- DataFrame <-> JSON
def _values(series: pd.Series) -> list:
    out = series.tolist()
    return [None if (isinstance(v, float) and np.isnan(v)) or v is pd.NA or v is pd.NaT else v for v in out] \
        if series.dtype == object else out


def _column(series: pd.Series) -> dict:
    if isinstance(series.dtype, pd.CategoricalDtype):
        return {"dtype": "category", "categories": series.cat.categories.tolist(),
                "ordered": bool(series.cat.ordered), "codes": series.cat.codes.tolist()}
    return {"dtype": str(series.dtype), "values": _values(series)}


def _series(col: dict, name, index) -> pd.Series:
    if col["dtype"] == "category":
        cat = pd.Categorical.from_codes(col["codes"], categories=col["categories"], ordered=col["ordered"])
        return pd.Series(cat, name=name, index=index)
    values = col["values"]
    if col["dtype"] == "object":
        return pd.Series([np.nan if v is None else v for v in values], name=name, index=index, dtype=object)
    return pd.Series(values, name=name, index=index).astype(col["dtype"])


def frame_to_dict(frame: pd.DataFrame) -> dict:
    """A DataFrame as a JSON-ready dict that ``frame_from_dict`` restores with dtypes and index."""
    index = frame.index.to_series()
    return {"columns": list(frame.columns), "data": [_column(frame[c]) for c in frame.columns],
            "index": _column(index.reset_index(drop=True)), "index_name": frame.index.name}


def frame_from_dict(d: dict) -> pd.DataFrame:
    """Inverse of ``frame_to_dict``."""
    index = pd.Index(_series(d["index"], None, None), name=d.get("index_name"))
    cols = {i: _series(col, name, index) for i, (name, col) in enumerate(zip(d["columns"], d["data"]))}
    frame = pd.DataFrame(cols, index=index)
    frame.columns = d["columns"]
    return frame


# ---------------------------------------------------------------- arrays
def _array(a):
    return None if a is None else {"shape": list(np.shape(a)), "values": np.asarray(a, dtype=float).ravel().tolist()}


def _from_array(d):
    return None if d is None else np.array(d["values"], dtype=float).reshape(d["shape"])


def _tables(result) -> dict:
    """Readable tables beside the numbers (for readers outside Python; loading recomputes them)."""
    out = {"fit": {k: result.to_dict()[k] for k in ("loglik", "n_params", "n_obs", "aic", "bic", "abic", "entropy")},
           "parameters": json.loads(result.parameters.to_json(orient="records")),
           "class_proportions": json.loads(result.class_proportions().to_json(orient="records"))}
    probs = result.item_probabilities()
    if len(probs):
        out["item_probabilities"] = json.loads(probs.to_json(orient="records"))
    return out


def result_to_dict(result, include_data: bool = True) -> dict:
    """Everything ``result_from_dict`` needs to rebuild ``result`` (see module doc)."""
    model = result.model
    if model is None:
        raise DataError("this result has no model attached; nothing to save the spec and data from")
    starts = result.starts
    clusters = result.clusters
    d = {
        "format": FORMAT, "version": VERSION,
        "spec": model.spec.to_dict(),
        "theta": _array(result.theta), "phi": _array(result.phi), "cov_phi": _array(result.cov_phi),
        "loglik": float(result.loglik), "n_obs": int(result.n_obs), "se_method": result.se_method,
        "posterior": _array(result.posterior), "prior": _array(result.prior),
        "at_bound": list(result.at_bound), "singular_parameters": list(result.singular_parameters),
        "reordered": bool(result.reordered), "method": result.method,
        "integration_settings": dict(result.integration_settings),
        "starts": {"theta": _array(starts.theta), "loglik": float(starts.loglik), "converged": bool(starts.converged),
                   "n_replicated": int(starts.n_replicated), "interrupted": bool(starts.interrupted),
                   "records": [{"start": int(r.start), "initial_loglik": float(r.initial_loglik),
                                "final_loglik": float(r.final_loglik), "status": r.status, "message": r.message,
                                "iterations": int(r.iterations)} for r in starts.records]},
        "clusters": None if clusters is None else {
            "integration": clusters.integration, "points": int(clusters.points),
            "between_prior": _array(clusters.between_prior), "between_posterior": _array(clusters.between_posterior),
            "adaptive_failed": bool(clusters.adaptive_failed)},
        "lca": None if result.lca is None else result_to_dict(result.lca, include_data=False),
        "certificate": None if result.certificate is None else result.certificate.to_dict(),
        "boundary": None if result.boundary is None else result.boundary.to_dict(),
        "tables": _tables(result),
        "scaling_factor": result.scaling_factor if result.se_method == "mlr" else None,
    }
    if include_data:
        d["data"] = frame_to_dict(model.frame)
    return d


def result_from_dict(d: dict, frame: pd.DataFrame | None = None):
    """Rebuild the ``MLResult`` of ``result_to_dict`` (``frame``: the data, when not stored in ``d``)."""
    if d.get("format") != FORMAT:
        raise DataError(f"not a saved mlmix_pymc result (format {d.get('format')!r})")
    if d.get("version", 0) > VERSION:
        raise DataError(f"saved with a newer format version {d['version']}; this mlmix_pymc reads up to {VERSION}")
    if frame is None:
        frame = frame_from_dict(d["data"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the warnings of the data checks were given when the model was fitted
        model = Model(ModelSpec.from_dict(d["spec"]), frame)
    s = d["starts"]
    records = []
    for r in s["records"]:
        records.append(StartRecord(r["start"], r["initial_loglik"], r["final_loglik"], r["status"], r["message"],
                                   r["iterations"]))
    starts = StartsOutcome(_from_array(s["theta"]), s["loglik"], s["converged"], records, s["n_replicated"],
                           s["interrupted"])
    clusters = None
    if d["clusters"] is not None:
        c = d["clusters"]
        clusters = ClusterInfo(labels=model.data.cluster_labels, codes=model.structure.cluster_codes,
                               integration=c["integration"], points=c["points"],
                               between_prior=_from_array(c["between_prior"]),
                               between_posterior=_from_array(c["between_posterior"]),
                               adaptive_failed=c["adaptive_failed"])
    result = MLResult(
        structure=model.structure, theta=_from_array(d["theta"]), phi=_from_array(d["phi"]),
        loglik=d["loglik"], n_obs=d["n_obs"], cov_phi=_from_array(d["cov_phi"]), se_method=d["se_method"],
        posterior=_from_array(d["posterior"]), prior=_from_array(d["prior"]), index=model.data.index,
        input_index=model.data.input_index, starts=starts, at_bound=list(d["at_bound"]),
        singular_parameters=list(d["singular_parameters"]), category_maps=model.data.category_maps,
        dropped=model.data.dropped, reordered=d["reordered"], method=RENAMED_METHODS.get(d["method"], d["method"]),
        clusters=clusters, model=model,
        integration_settings=dict(d["integration_settings"]),
        lca=None if d["lca"] is None else result_from_dict(d["lca"], frame),
        certificate=_certificate(d.get("certificate")), boundary=_boundary(d.get("boundary")),
    )
    if d.get("scaling_factor") is not None:
        result._scaling_factor = float(d["scaling_factor"])  # needs derivatives that are not compiled yet
    return result


def _certificate(d: dict | None):
    """The ``IntegrationCertificate`` of a saved result (files before it have none)."""
    if d is None:
        return None
    fields = {k: v for k, v in d.items() if k != "error"}
    return IntegrationCertificate(**fields)


def _boundary(d: dict | None):
    """The ``BoundarySolution`` of a saved result (files before it have none)."""
    if d is None:
        return None
    return BoundarySolution(tuple(d["parameters"]), d["reduces_to"], d["loglik_fit"], d["loglik_limit"])


@provides("save")
def save_result(result, path) -> Path:
    """Write ``result`` as one JSON file (see module doc); returns the path."""
    path = Path(path)
    path.write_text(json.dumps(result_to_dict(result)))
    return path


@provides("from_json")
def result_from_json(text: str):
    """The ``MLResult`` saved as JSON text by ``save_result`` (or ``json.dumps(result_to_dict(result))``)."""
    try:
        d = json.loads(text)
    except json.JSONDecodeError as err:
        raise DataError(f"not JSON: {err}") from None
    return result_from_dict(d)


def load_result(path):
    """Load a result written by ``result.save(path)``."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"result file {str(path)!r} does not exist")
    return result_from_json(path.read_text())
