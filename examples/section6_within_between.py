"""A within-level and a between-level class variable in one model (paper section 6, eq 22-26).

Reproduces: the model of section 6 - a between-level class D_j of the cluster, predicted by
a cluster covariate w_j (eq 26), and a within-level class C_ij of the person whose
multinomial logit has D_j as a covariate (eq 24). C is measured by six binary items; D by
a normal outcome y whose mean differs between the D classes (a between class measured by
a within-level variable). The paper gives no numerical example for this section, so the
data are simulated from known parameters: 60 clusters of 10.

Checks (asserted): every generating parameter recovered within 3.5 SE (observed
information); the between-level posterior classifies the clusters' true D with at least
90% accuracy. Figures: the profile of the within classes.

Run:  python examples/section6_within_between.py [--out DIR]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

import mlmix_pymc as mm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from example_tools import assert_recovered, placeholder_items, recovery_table, save  # noqa: E402

N_CLUSTERS, SIZE = 60, 10
ITEMS = [f"u{p}" for p in range(1, 7)]
TAU = {1: [-1.5, -1.2, -1.8, -1.0, -1.4, -1.6], 2: [1.2, 1.5, 1.0, 1.6, 1.3, 1.1]}   # class 1: high probabilities


def spec() -> mm.ModelSpec:
    """D (``cb``, between, on w) and C (``c``, within, on D); u1-u6 measure C, y measures D."""
    return mm.ModelSpec(
        class_variables=(mm.ClassVariable("cb", 2, level="between", covariates=("w",)),
                         mm.ClassVariable("c", 2, depends_on="cb")),
        indicators=tuple(mm.Indicator(item, class_variable="c") for item in ITEMS)
        + (mm.Indicator("y", "normal", class_variable="cb"),),
        cluster="school")


def truth() -> dict:
    """Generating values: P(D = 1) ~ 0.6, P(C = 1 | D = 1) = 0.82, P(C = 1 | D = 2) = 0.38."""
    v = {"[cb#1]": 0.5, "cb#1 ON w": 1.0, "[c#1]": -0.5, "c#1 ON cb#1": 2.0,
         "y|cb#1": 1.0, "y|cb#2": -1.0, "var(y)|cb#1": 1.0, "var(y)|cb#2": 1.0}
    for k, taus in TAU.items():
        v.update({f"{item}$1|c#{k}": t for item, t in zip(ITEMS, taus)})
    return v


def simulate(seed: int = 6) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = N_CLUSTERS * SIZE
    school = np.repeat(np.arange(N_CLUSTERS), SIZE)
    w = rng.standard_normal(N_CLUSTERS)[school]           # a cluster-level covariate
    design = placeholder_items(rng, n, ITEMS).assign(school=school, w=w, y=rng.standard_normal(n))
    return mm.simulate(mm.from_spec(spec(), design), truth(), seed=seed)


def main(out_dir=None):
    df = simulate()
    result = mm.from_spec(spec(), df).fit(starts=(6, 2), seed=1, se="observed")
    print(result.summary())
    table = recovery_table(result, truth())
    print("\nTruth against estimates (SEs from the observed information):")
    print(table.round(3).to_string())

    between = result.between_posterior_probabilities()
    print("\nBetween-level posterior probabilities (first clusters):")
    print(between.head().round(3).to_string())
    true_d = df.groupby("school")["_class_cb"].first()
    accuracy = float(np.mean(between["most_likely_cb"].to_numpy() == true_d.to_numpy()))
    print(f"clusters classified into their simulated D class: {accuracy:.1%}")

    assert_recovered(table)
    assert accuracy >= 0.9
    figures(result, out_dir)
    return result


def figures(result, out_dir) -> None:
    if out_dir is None:
        return
    from mlmix_pymc import plots

    save(plots.profile(result).figure, out_dir, "profile")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="folder for the figures")
    main(parser.parse_args().out)
