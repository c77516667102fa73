"""Mplus input files: read a mixture ``.inp`` into a ``ModelSpec`` / ``Model``, write one back.

    model = mm.from_mplus("ex7.3.inp")          # spec + the DATA FILE, bound
    result = model.fit(**model.spec.analysis)    # STARTS, INTEGRATION, ESTIMATOR as fit options
    print(result.to_mplus())                     # an equivalent input with the estimates as *starts

``read_mplus`` parses without reading data (``.spec`` is the model the input means); the
supported statements are listed in docs/mplus.md.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..errors import MplusSyntaxError, UnsupportedMplusStatement
from ..results import provides
from .datafile import read_free_format, write_free_format
from .translate import MplusInput, parse_mplus
from .writer import spec_to_mplus

__all__ = ["from_mplus", "read_mplus", "parse_mplus", "MplusInput", "spec_to_mplus", "model_to_mplus",
           "result_to_mplus", "MplusSyntaxError", "UnsupportedMplusStatement", "write_free_format"]


def _text_of(source) -> tuple[str, Path | None]:
    path = Path(source)
    if "\n" not in str(source) and path.suffix.lower() in (".inp", ".txt", "") and path.exists():
        if not path.is_file():
            raise MplusSyntaxError(f"Mplus input {str(path)!r} is not a file")
        return path.read_text(encoding="utf-8", errors="replace"), path
    if "\n" not in str(source) and str(source).lower().endswith(".inp"):
        raise MplusSyntaxError(f"Mplus input file {str(source)!r} does not exist")
    return str(source), None


def read_mplus(source, data: pd.DataFrame | None = None) -> MplusInput:
    """Parse an Mplus input (a ``.inp`` path or its text) into an ``MplusInput``.

    The data are not needed; when ``data`` is given, CATEGORICAL items with more than two
    observed categories are ordinal (otherwise: when the MODEL names a threshold ``$2``).
    """
    text, _ = _text_of(source)
    categories = None
    if data is not None:
        categories = {c: int(data[c].nunique()) for c in data.columns}
    return parse_mplus(text, categories)


def from_mplus(source, data: pd.DataFrame | None = None):
    """A ``Model`` from an Mplus input: its spec bound to ``data`` or to the DATA FILE.

    The DATA FILE (free format, whitespace or comma separated, columns in NAMES order,
    MISSING codes applied) is read relative to the input's folder. Fit with
    ``model.fit(**model.spec.analysis)`` or ``mlmix fit model.inp``.
    """
    from ..model import Model

    text, path = _text_of(source)
    if data is None:
        parsed = parse_mplus(text)
        if parsed.data_file is None:
            raise MplusSyntaxError("the input has no DATA: FILE = ...; pass data= (a DataFrame)")
        folder = path.parent if path is not None else Path(".")
        data = read_free_format(folder / parsed.data_file, parsed.names, parsed.missing)
    parsed = parse_mplus(text, {c: int(data[c].nunique()) for c in data.columns})
    model = Model(parsed.spec, data)
    model.mplus_input = parsed
    return model


def model_to_mplus(model, data_file: str = "data.dat", estimates: dict | None = None) -> str:
    """An Mplus input for a ``Model`` (its data's columns as NAMES)."""
    names = [c for c in model.frame.columns]
    return spec_to_mplus(model.spec, data_file, names, estimates)


@provides("to_mplus")
def result_to_mplus(result, data_file: str = "data.dat") -> str:
    """An Mplus input for a fitted result, its free estimates as starting values ``*value``."""
    layout = result.structure.layout
    estimates = {name: float(v) for name, v, fixed in zip(layout.names, result.phi, layout.fixed_mask) if not fixed}
    if result.model is None:
        raise MplusSyntaxError("this result has no model attached; cannot write its Mplus input")
    return model_to_mplus(result.model, data_file, estimates)
