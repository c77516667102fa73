"""Choosing the number of classes: information criteria, VLMR / adjusted LMR (TECH11), BLRT (TECH14).

Reproduces: the class-enumeration step every analysis of the paper starts with (section 10's
random starts; the 2- against 3-class comparisons of Tables 5-6), here on data simulated
from a known 3-class LCA (8 binary items, n = 1000; classes 45 / 35 / 20%), so the right
answer is known.

Checks (asserted): BIC is smallest at K = 3; the VLMR and bootstrap LRT reject 2 classes
against 3 (p < 0.05) and do not reject 3 against 4 (p > 0.05); the best log-likelihood of
K = 2 and 3 was replicated by at least two random starts. (Tests at the 5% level reject a true
model 5% of the time: with seed 11 the VLMR p of 3 against 4 classes is 0.045; seeds 12-14
give 0.54, 0.61, 0.24.) Figures: AIC / BIC / aBIC / CAIC over K.

Run:  python examples/choosing_classes.py [--out DIR]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

import mlmix_pymc as mm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from example_tools import placeholder_items, save  # noqa: E402

N, ITEMS = 1000, [f"u{p}" for p in range(1, 9)]
PROBS = np.array([[0.90, 0.85, 0.80, 0.90, 0.85, 0.80, 0.90, 0.85],    # high on everything
                  [0.85, 0.80, 0.90, 0.85, 0.15, 0.20, 0.10, 0.15],    # high on the first four
                  [0.10, 0.15, 0.20, 0.10, 0.15, 0.10, 0.20, 0.15]])   # low on everything


def truth() -> dict:
    v = {"[c#1]": float(np.log(0.45 / 0.20)), "[c#2]": float(np.log(0.35 / 0.20))}
    for k in range(3):
        v.update({f"{item}$1|c#{k + 1}": float(np.log((1 - p) / p)) for item, p in zip(ITEMS, PROBS[k])})
    return v


def simulate(seed: int = 12) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return mm.simulate(mm.lca(placeholder_items(rng, N, ITEMS), ITEMS, 3), truth(), seed=seed)


def main(out_dir=None):
    df = simulate()
    enum = mm.enumerate(df, ITEMS, n_classes=range(2, 5), starts=(8, 3), seed=1, blrt=True, blrt_draws=10,
                        blrt_starts=(4, 1))
    table = enum.table.set_index("K")
    pd.set_option("display.width", 200)
    print(table.round(3).to_string())
    print(f"\nsmallest BIC: K = {enum.best('BIC')}")

    assert enum.best("BIC") == 3
    assert table.loc[3, "VLMR_p"] < 0.05 and table.loc[4, "VLMR_p"] > 0.05
    assert table.loc[3, "BLRT_p"] < 0.05 and table.loc[4, "BLRT_p"] > 0.05
    assert (table.loc[[2, 3], "replicated"] >= 2).all()   # the 4-class (overfitting) model may not replicate
    figures(enum, out_dir)
    return enum


def figures(enum, out_dir) -> None:
    if out_dir is None:
        return
    save(enum.plot().figure, out_dir, "information_criteria")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="folder for the figures")
    main(parser.parse_args().out)
