"""LCA with a covariate of class membership (paper section 2, eq 1-4).

Reproduces: the basic mixture model of section 2 - binary items given the class (eq 1, a
logistic latent response), and a multinomial logit of the class on a covariate (eq 4, the
last class the reference). The paper has no numerical example for this section, so the data
are simulated from known parameters: 3 classes (about 50 / 30 / 20%), 6 binary items,
x ~ N(0, 1), n = 1500.

Checks (asserted): every simulated parameter (18 thresholds, 2 class-logit intercepts and
2 slopes) is recovered within 3.5 standard errors (observed information), and the fitted class
probabilities as a function of x follow the true multinomial logit (largest gap < 0.1).
Figures: the class profiles (item probabilities per class) and P(class | x).

Run:  python examples/section2_lca_covariates.py [--out DIR]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import special

import mlmix_pymc as mm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from example_tools import assert_recovered, placeholder_items, recovery_table, save  # noqa: E402

N, ITEMS = 1500, [f"u{p}" for p in range(1, 7)]
# P(u = 1 | c) per class: class 1 high on every item, class 2 high on the first three, class 3 low
PROBS = np.array([[0.85, 0.80, 0.90, 0.80, 0.75, 0.85],
                  [0.80, 0.85, 0.75, 0.20, 0.15, 0.25],
                  [0.15, 0.10, 0.20, 0.15, 0.20, 0.10]])
LOGITS = {"[c#1]": 0.9, "[c#2]": 0.4, "c#1 ON x": 0.8, "c#2 ON x": -0.6}   # class 3 the reference


def truth() -> dict:
    """Generating values by parameter name (thresholds: P(u = 1 | c) = 1 / (1 + exp(tau)))."""
    values = dict(LOGITS)
    for k in range(3):
        for p, item in enumerate(ITEMS):
            values[f"{item}$1|c#{k + 1}"] = float(np.log((1 - PROBS[k, p]) / PROBS[k, p]))
    return values


def simulate(seed: int = 2) -> pd.DataFrame:
    """Draw the data from the LCA itself (mm.simulate) at the generating values."""
    rng = np.random.default_rng(seed)
    design = placeholder_items(rng, N, ITEMS).assign(x=rng.standard_normal(N))
    model = mm.lca(design, ITEMS, 3, covariates=["x"])
    return mm.simulate(model, truth(), seed=seed)


def class_curve(intercepts, slopes, grid):
    """P(C = c | x) on a grid from the class-logit intercepts and slopes (eq 4)."""
    logits = np.column_stack([a + b * grid for a, b in zip(intercepts, slopes)] + [np.zeros_like(grid)])
    return special.softmax(logits, axis=1)


def main(out_dir=None):
    df = simulate()
    result = mm.lca(df, ITEMS, 3, covariates=["x"]).fit(starts=(10, 3), seed=1, se="observed")
    print(result.summary())
    table = recovery_table(result, truth())
    print("\nTruth against estimates (SEs from the observed information):")
    print(table.round(3).to_string())
    print("\nOdds ratios (class c against class 3 per unit of x):")
    print(result.odds_ratios().round(3).to_string(index=False))

    grid = np.linspace(-2.5, 2.5, 51)
    est = result.parameters.set_index("name")["estimate"]
    fitted = class_curve([est["[c#1]"], est["[c#2]"]], [est["c#1 ON x"], est["c#2 ON x"]], grid)
    true = class_curve([LOGITS["[c#1]"], LOGITS["[c#2]"]], [LOGITS["c#1 ON x"], LOGITS["c#2 ON x"]], grid)
    gap = float(np.abs(fitted - true).max())
    print(f"\nlargest gap between fitted and true P(class | x) on [-2.5, 2.5]: {gap:.3f}")

    assert_recovered(table)
    assert gap < 0.1
    figures(result, out_dir)
    return result


def figures(result, out_dir) -> None:
    """Class profiles and P(class | x) (mlmix_pymc.plots)."""
    if out_dir is None:
        return
    from mlmix_pymc import plots

    save(plots.profile(result).figure, out_dir, "profile")
    save(plots.class_probabilities(result, "x").figure, out_dir, "class_probabilities")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="folder for the figures")
    main(parser.parse_args().out)
