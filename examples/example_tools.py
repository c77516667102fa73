"""Helpers shared by the examples: truth-versus-estimate tables, the recovery check, figures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def recovery_table(result, truth: dict) -> pd.DataFrame:
    """Estimate, SE and z = (estimate - truth) / SE of every parameter named in ``truth``."""
    table = result.parameters.set_index("name").loc[list(truth), ["estimate", "se"]]
    table.insert(0, "true", pd.Series(truth))
    table["z"] = (table["estimate"] - table["true"]) / table["se"]
    return table


def assert_recovered(table: pd.DataFrame, max_z: float = 3.5) -> None:
    """Every simulated parameter lies within ``max_z`` standard errors of its estimate.

    With ~20-40 parameters per example, |z| > 3.5 has probability ~1% under a correct
    estimator and correct SEs; the examples are seeded, so the check is deterministic.
    """
    assert np.all(np.isfinite(table["se"])), f"missing SEs: {list(table.index[~np.isfinite(table['se'])])}"
    worst = table["z"].abs().idxmax()
    assert table["z"].abs().max() < max_z, f"{worst}: z = {table.loc[worst, 'z']:.2f}"


def save(fig, out_dir, name: str) -> None:
    """Write ``fig`` to ``out_dir/name.png`` when ``out_dir`` is given, then close it."""
    import matplotlib.pyplot as plt

    if out_dir is not None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        fig.savefig(Path(out_dir) / f"{name}.png", dpi=90, bbox_inches="tight")
    plt.close(fig)


def placeholder_items(rng, n: int, items, binary: bool = True) -> pd.DataFrame:
    """Columns that only let a model be built before ``mm.simulate`` draws the real indicators."""
    values = rng.integers(0, 2, (n, len(items))) if binary else rng.standard_normal((n, len(items)))
    return pd.DataFrame(values.astype(float), columns=list(items))
