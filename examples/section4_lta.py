"""Latent transition analysis, single- and two-level (paper sections 3-4, eq 8-15, Table 1).

Reproduces: the two-level LTA of section 4 (TOCA, fall and spring of first grade): two
classes at each time measured by the same 10 binary items (time-invariant measurement,
eq 11), C2 regressed on C1 (eq 13), random class-logit intercepts alpha_1j, alpha_2j per
classroom with a free covariance (eq 15), the transition table and the R2 decomposition
of eq 14 (section 4's shares: classroom effect alpha_1, residual C1, residual alpha_2).

Data: the Baltimore TOCA data are not public, so the data are simulated with Table 1's
item profiles, a fall class 1 ("disruptive") of about 46%, switching probabilities close
to the paper's 7% (1 -> 2) and 18% (2 -> 1), and classroom random intercepts:
50 classrooms of 20 students.

Checks (asserted): (1) the single-level LTA's transition table P(C2 | C1) agrees with the
transition frequencies of the simulated (true) classes within 0.06; (2) the two-level LTA
recovers every generating parameter within 3.5 SE; (3) the R2 of C2 on C1 (eq 14) printed
by ``r_squared()`` equals gamma^2 p (1 - p) / (gamma^2 p (1 - p) + pi^2 / 3) computed by
hand from the single-level estimates. Figures: Table 1 profiles and the transition table.

Run:  python examples/section4_lta.py [--out DIR]
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

TOCA = ["Stubborn", "Break Rules", "Harm Others", "Break Things", "Yells at Others", "Take Others' Property",
        "Fights", "Lies", "Tease Classmates", "Trouble Accepting Authority"]
# Table 1: P(U_tp = 2 | C_t = c), class 1 the more disruptive students
TABLE1 = np.array([[0.92, 0.96, 0.73, 0.59, 0.82, 0.78, 0.73, 0.81, 0.90, 0.78],
                   [0.36, 0.29, 0.03, 0.03, 0.18, 0.07, 0.08, 0.10, 0.24, 0.12]])
ITEMS = [[f"u{p}t{t}" for p in range(1, 11)] for t in (1, 2)]
N_CLASSROOMS, SIZE = 50, 20
# class logits at alpha = 0 (eq 12-13) and the classroom random intercepts (eq 15)
LOGITS = {"[c1#1]": -0.2, "[c2#1]": -1.6, "c2#1 ON c1#1": 4.2,
          "var(c1#1)": 1.5, "var(c2#1)": 0.8, "cov(c2#1,c1#1)": 0.6}
PAPER = {"P(C1=1)": 0.46, "P(C2=1)": 0.52, "P(1->2)": 0.07, "P(2->1)": 0.18}


def truth(disruptive_first: bool = True) -> dict:
    """Generating values by name; with ``disruptive_first=False`` the labels of both class variables swap."""
    v = dict(LOGITS)
    probs = TABLE1 if disruptive_first else TABLE1[::-1]
    if not disruptive_first:  # P(C2' = 1 | C1' = 2) = P(C2 = 2 | C1 = 1); the slope gamma is unchanged
        v["[c1#1]"] = -LOGITS["[c1#1]"]
        v["[c2#1]"] = -(LOGITS["[c2#1]"] + LOGITS["c2#1 ON c1#1"])
    for k in range(2):
        for p, item in enumerate(ITEMS[0]):
            v[f"{item}$1|c1#{k + 1}"] = float(np.log((1 - probs[k, p]) / probs[k, p]))
    return v


def simulate(seed: int = 4) -> pd.DataFrame:
    """Draw items, classes and classroom effects from the two-level LTA (mm.simulate)."""
    rng = np.random.default_rng(seed)
    n = N_CLASSROOMS * SIZE
    design = placeholder_items(rng, n, ITEMS[0] + ITEMS[1]).assign(classroom=np.repeat(np.arange(N_CLASSROOMS), SIZE))
    model = mm.lta(design, ITEMS, 2, cluster="classroom", random_intercept=True)
    return mm.simulate(model, truth(), seed=seed)


def disruptive_is_class_1(result) -> bool:
    """Is class 1 the class with the higher item probabilities (Table 1's class 1)?"""
    return bool(result.parameters.set_index("name").loc["u1t1$1|c1#1", "estimate"] < 0)


def main(out_dir=None):
    df = simulate()
    true_table = pd.crosstab(df["_class_c1"], df["_class_c2"], normalize="index")

    # the single-level LTA of eq 11-13, classrooms ignored
    single = mm.lta(df, ITEMS, 2).fit(starts=(6, 2), seed=1, se=None)   # no SEs needed here
    flip = not disruptive_is_class_1(single)
    table = single.transition_probabilities("c2")
    if flip:  # report in Table 1's labelling: class 1 the disruptive students
        table = table.iloc[::-1, ::-1]
    props = single.class_proportions()
    print("Single-level LTA: P(C2 | C1) (rows C1; class 1 = disruptive), against the simulated classes")
    labels = dict(index=["C1=1 (disruptive)", "C1=2"], columns=["C2=1", "C2=2"])
    table = pd.DataFrame(table.to_numpy(), **labels)
    true_table = pd.DataFrame(true_table.to_numpy(), **labels)
    print(pd.concat({"estimated": table, "simulated classes": true_table}, axis=1).round(3).to_string())
    print(f"paper (TOCA): P(1->2) = {PAPER['P(1->2)']}, P(2->1) = {PAPER['P(2->1)']}")
    print(props.round(3).to_string())
    gap = float(np.abs(table.to_numpy() - true_table.to_numpy()).max())

    # eq 14 by hand: R2 of C2 on C1 from gamma and P(C1 = 1)
    est = single.parameters.set_index("name")["estimate"]
    p1 = float(special.expit(est["[c1#1]"]))
    g2pq = est["c2#1 ON c1#1"] ** 2 * p1 * (1 - p1)
    r2_hand = g2pq / (g2pq + np.pi**2 / 3)
    r2 = single.r_squared()
    r2_c2 = float(r2.loc[r2.class_var == "c2", "r_squared"].iloc[0])
    print(f"\nR2 of C2 on C1 (eq 14): r_squared() {r2_c2:.4f}, by hand {r2_hand:.4f}")

    # the two-level LTA: random intercepts alpha_1j, alpha_2j with a covariance (eq 15)
    two = mm.lta(df, ITEMS, 2, cluster="classroom", random_intercept=True).fit(
        integration="adaptive", points=5, starts=(4, 1), seed=1, se="observed")
    recovery = recovery_table(two, truth(disruptive_is_class_1(two)))
    print("\nTwo-level LTA: truth against estimates")
    print(recovery.round(3).to_string())
    print("\nTwo-level LTA: R2 of the class logits and the section-4 decomposition (shares of the variance)")
    print(two.r_squared().round(3).T.to_string())
    print("\nICC of the class logits (classroom effects):")
    print(two.icc().round(3).to_string(index=False))

    assert gap < 0.06, f"transition table off by {gap:.3f}"
    assert abs(r2_c2 - r2_hand) < 1e-8
    assert_recovered(recovery)
    figures(single, out_dir)
    return two


def figures(result, out_dir) -> None:
    """Table 1 as a profile plot and the transition table (mlmix_pymc.plots)."""
    if out_dir is None:
        return
    from mlmix_pymc import plots

    save(plots.profile(result).figure, out_dir, "profiles")
    save(plots.transitions(result).figure, out_dir, "transitions")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="folder for the figures")
    main(parser.parse_args().out)
