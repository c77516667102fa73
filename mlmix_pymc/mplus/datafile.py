"""Read the free-format data file of an Mplus input (DATA: FILE, VARIABLE: NAMES, MISSING)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError


def read_free_format(path: Path, names: list[str], missing: dict) -> pd.DataFrame:
    """Whitespace- or comma-separated numbers, one row per record, columns in NAMES order.

    ``missing``: column (or ``"*ALL*"``) -> codes; the symbols ``.`` and ``*`` are missing
    wherever they appear.
    """
    if not path.exists():
        raise DataError(f"data file {str(path)!r} named in DATA: FILE does not exist")
    if not path.is_file():
        raise DataError(f"data file {str(path)!r} is not a file (a directory?)")
    symbols = [c for codes in missing.values() for c in codes if isinstance(c, str)]
    try:
        frame = pd.read_csv(path, sep=r"[\s,]+", header=None, engine="python", na_values=symbols or None,
                            keep_default_na=False, skip_blank_lines=True)
    except pd.errors.EmptyDataError:
        raise DataError(f"data file {str(path)!r} is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise DataError(f"data file {str(path)!r} is not free-format numbers: {str(err).splitlines()[0]}") from None
    if frame.shape[1] > 0 and frame.iloc[:, 0].isna().all():  # leading whitespace gives an empty first column
        frame = frame.iloc[:, 1:]
    if frame.shape[1] != len(names):
        raise DataError(f"data file {str(path)!r} has {frame.shape[1]} columns but NAMES lists {len(names)} "
                        f"({' '.join(names)})")
    frame.columns = names
    for col in names:
        if not pd.api.types.is_numeric_dtype(frame[col]):
            bad = frame[col][pd.to_numeric(frame[col], errors="coerce").isna() & frame[col].notna()]
            raise DataError(f"column {col!r} of {str(path)!r} holds non-numeric value {bad.iloc[0]!r} "
                            "(declare missing-value symbols with MISSING = . or *)")
        codes = [c for c in missing.get(col, missing.get("*ALL*", [])) if not isinstance(c, str)]
        if codes:
            frame[col] = frame[col].where(~np.isin(frame[col].to_numpy(dtype=float), codes))
    return frame


def write_free_format(frame: pd.DataFrame, path: Path, missing_code: float = -99) -> None:
    """Write ``frame`` as an Mplus free-format file (missing values as ``missing_code``)."""
    values = frame.to_numpy(dtype=float)
    values = np.where(np.isnan(values), missing_code, values)
    np.savetxt(path, values, fmt="%.10g")
