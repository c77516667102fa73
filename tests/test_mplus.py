"""Mplus input import (``mm.from_mplus``, ``mlmix fit model.inp``) and export (``to_mplus``).

The example inputs in tests/mplus_inputs/ are written in the style of the Mplus User's
Guide, chapters 7 and 10. Each is checked to parse into the spec it means, built
independently with the convenience constructors / ``ModelSpec``; to survive the writer
(spec -> .inp -> spec); and fitted on data simulated with its shape (recovery of the
simulated parameters, or the log-likelihood of the equivalent hand-built model).
"""

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mlmix_pymc as mm
from mlmix_pymc.cli import main
from mlmix_pymc.errors import MplusSyntaxError, UnsupportedMplusStatement
from mlmix_pymc.mplus import model_to_mplus, parse_mplus, spec_to_mplus, write_free_format
from mlmix_pymc.spec import ClassVariable, Constraints, Indicator, ModelSpec, RandomEffect

INPUTS = Path(__file__).parent / "mplus_inputs"
DUMMY = pd.DataFrame()  # constructors need a frame only to bind; specs are compared unbound


def canonical(spec: ModelSpec) -> dict:
    """Spec dict with equality groups as sorted sets (their order carries no meaning)."""
    d = spec.to_dict()
    d["constraints"]["equal"] = sorted(sorted(g) for g in d["constraints"]["equal"])
    return d


def unbound(build, **kwargs) -> ModelSpec:
    """The spec a constructor builds (``Model`` is bypassed: no data needed)."""
    captured = {}

    class Stop(Exception):
        pass

    def fake_model(spec, data):
        captured["spec"] = spec
        raise Stop

    import mlmix_pymc.models as models

    original = models.Model
    models.Model = fake_model
    try:
        build(DUMMY, **kwargs)
    except Stop:
        pass
    finally:
        models.Model = original
    return captured["spec"]


def with_analysis(spec: ModelSpec, **analysis) -> ModelSpec:
    return dataclasses.replace(spec, analysis=analysis)


U = [f"u{i}" for i in range(1, 5)]


def expected_specs() -> dict:
    """The spec each example input means, built without the parser."""
    out = {}
    out["ex7_3_lca_binary"] = with_analysis(unbound(mm.lca, items=U, n_classes=2), starts=(4, 1), se="mlr")
    start = {f"u{i}${t}|c#{k}": v for k, vals in ((1, (-1, 1)), (2, (1, 2))) for i in range(1, 5)
             for t, v in zip((1, 2), vals)}
    out["ex7_6_lca_ordinal"] = with_analysis(unbound(mm.lca, items=U, n_classes=2, family="ordinal"),
                                             starts=(0, 0), se="mlr", start_values=start)
    out["ex7_9_lpa"] = with_analysis(unbound(mm.lca, items=[f"y{i}" for i in range(1, 5)], n_classes=2,
                                             family="normal", variance="class-equal"), starts=(4, 1), se="observed")
    out["ex7_11_lca_mixed"] = with_analysis(unbound(mm.lca, items=U, n_classes=2, family={
        "u1": "binary", "u2": "nominal", "u3": "poisson", "u4": "poisson"}), starts=(4, 1), se="mlr")
    lca_x = unbound(mm.lca, items=U, n_classes=2, covariates=["x"])
    out["ex7_12_lca_covariate"] = with_analysis(dataclasses.replace(
        lca_x, indicators=lca_x.indicators[:3] + (Indicator("u4", covariates=("x",)),),
        constraints=Constraints(equal=(("u4 ON x|c#1", "u4 ON x|c#2"),))), starts=(4, 1), se="mlr")
    out["ex7_13_confirmatory_lca"] = with_analysis(unbound(
        mm.lca, items=U, n_classes=3, fixed={"u1$1|c#1": -15, "u1$1|c#2": 15},
        equal=[["u2$1|c#1", "u3$1|c#1", "u4$1|c#1"]]), starts=(4, 1), se="mlr")
    t1, t2 = [f"u1{i}" for i in range(1, 5)], [f"u2{i}" for i in range(1, 5)]
    lta = unbound(mm.lta, items_by_time=[t1, t2], n_classes=2, covariates=["x"], time_invariant=False)
    out["ex7_14_lta"] = with_analysis(dataclasses.replace(lta, constraints=Constraints(equal=tuple(
        (f"{a}$1|c1#{k}", f"{b}$1|c2#{k}") for k in (1, 2) for a, b in zip(t1, t2)))), starts=(4, 1), se="mlr")
    fma = unbound(mm.fma, items=[f"y{i}" for i in range(1, 5)], n_classes=2, family="normal",
                  factor_mean="class-specific")
    out["ex7_17_factor_mixture"] = with_analysis(dataclasses.replace(fma, indicators=tuple(
        dataclasses.replace(ind, variance="class-equal") for ind in fma.indicators)), starts=(20, 4), se="mlr")
    out["ex7_27_fma_binary"] = with_analysis(unbound(mm.fma, items=[f"u{i}" for i in range(1, 6)], n_classes=2),
                                             integration="trapezoid", points=15, starts=(20, 4), se="mlr")
    reg = unbound(mm.regression_mixture, y="y", x="x", n_classes=2, cluster="clus", random=["intercept"])
    rename = (RandomEffect("y_b", "intercept", ("y",)),)
    out["ex10_2_twolevel_regression"] = with_analysis(dataclasses.replace(reg, random_effects=rename),
                                                      integration="gauss-hermite", points=7, starts=(4, 1), se="mlr")
    out["ex10_6_twolevel_lca"] = with_analysis(unbound(mm.lca, items=U, n_classes=2, cluster="clus",
                                                       random_intercept=True),
                                               integration="trapezoid", points=10, starts=(4, 1), se="mlr")
    reg_b = unbound(mm.regression_mixture, y="y", x="x", n_classes=2, cluster="clus", random=["intercept"],
                    class_level="between")
    out["ex10_7_between_class"] = with_analysis(dataclasses.replace(reg_b, random_effects=rename),
                                                integration="gauss-hermite", points=7, starts=(4, 1), se="mlr")
    return out


EXPECTED = expected_specs()


def test_every_example_input_has_an_expected_spec():
    assert sorted(p.stem for p in INPUTS.glob("*.inp")) == sorted(EXPECTED)
    assert len(EXPECTED) >= 10


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_parses_into_the_spec_it_means(name):
    parsed = mm.read_mplus(INPUTS / f"{name}.inp")
    assert canonical(parsed.spec) == canonical(EXPECTED[name])
    assert parsed.data_file == f"{name}.dat"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_writer_round_trip(name):
    """spec -> .inp text -> spec gives the spec back (estimates aside)."""
    spec = EXPECTED[name]
    text = spec_to_mplus(spec, "d.dat")
    assert canonical(parse_mplus(text).spec) == canonical(spec), text


def test_writer_round_trip_of_constructor_specs():
    """Specs the parser never produced: fixed / equal constraints, probit, LTA with a
    between factor, class-specific variances and loadings, a random slope."""
    specs = [
        unbound(mm.lca, items=U, n_classes=3, link="probit", fixed={"u2$1|c#3": 2.5},
                equal=[["u1$1|c#1", "u1$1|c#2"]]),
        unbound(mm.lca, items=["y1", "y2", "y3"], n_classes=2, family="normal"),
        unbound(mm.fma, items=U, n_classes=2, loadings="class-specific"),
        unbound(mm.fma, items=U, n_classes=2, factor_variance="class-specific"),
        unbound(mm.irt, items=U, model="rasch"),
        unbound(mm.fma, items=U, n_classes=2, cluster="g", cluster_intercept=True),
        unbound(mm.regression_mixture, y="y", x="x", n_classes=2, cluster="g", random=["intercept", "slope"],
                residual_variance="class-specific"),
        unbound(mm.lta, items_by_time=[["a1", "a2", "a3"], ["b1", "b2", "b3"]], n_classes=2, time_invariant=False),
    ]
    for spec in specs:
        if any(e.name == "u" for e in spec.random_effects):  # the item random intercept's Mplus name
            spec = dataclasses.replace(spec, random_effects=tuple(
                dataclasses.replace(e, name="y_b") if e.name == "u" and e.indicators == ("y",) else e
                for e in spec.random_effects))
        text = spec_to_mplus(spec, "d.dat")
        back = parse_mplus(text).spec
        assert back.analysis == {"se": "mlr"}  # Mplus's default estimator for mixtures, written out
        assert canonical(dataclasses.replace(back, analysis={})) == canonical(spec), text


# --------------------------------------------------------------------------- reading details
def test_reader_syntax_variants():
    """Comments, IS / ARE / =, abbreviated options, ranges in NAMES order, labels, case."""
    text = """title: variants
data: file is d.dat;  ! a comment; with a semicolon
variable: names are id a b c d x;
  usev = a-d x;         ! a-d in NAMES order
  categ = A - D;
  classes = C(2);
analysis: type = mixture; starts = 10 2; stseed = 7; estimator = mlr;
model:
  %overall%
  C on X;
  %C#1%
  [a$1@-15 b$1*1];
  [c$1 d$1] (p1-p2);
  %C#2%
  [c$1 d$1] (p1 p2);
"""
    spec = parse_mplus(text).spec
    assert [i.name for i in spec.indicators] == ["a", "b", "c", "d"]
    assert spec.class_variables[0].covariates == ("x",)
    assert spec.constraints.fixed == {"a$1|C#1": -15.0}
    assert sorted(map(sorted, spec.constraints.equal)) == [["c$1|C#1", "c$1|C#2"], ["d$1|C#1", "d$1|C#2"]]
    assert spec.analysis == {"starts": (10, 2), "seed": 7, "se": "mlr", "start_values": {"b$1|C#1": 1.0}}


def test_reader_class_logit_starts_and_transition_pairs():
    """``c2#1 ON c1#1*v`` alone is the transition (eq 9) with a start; with three classes every
    pair but the last classes' is needed unless ``c2 ON c1`` frees them all; ``@`` stays refused."""
    head = ("VARIABLE: NAMES = u1-u4 x; CATEGORICAL = u1-u4; CLASSES = c1(K) c2(K);\n"
            "ANALYSIS: TYPE = MIXTURE;\nMODEL: %OVERALL%\nc1#1 ON x*0.5;\n")
    tail = "MODEL c1: %c1#1% [u1$1 u2$1];\nMODEL c2: %c2#1% [u3$1 u4$1];\n"
    spec = parse_mplus(head.replace("K", "2") + "c2#1 ON c1#1*2.5;\n" + tail).spec
    assert [(cv.covariates, cv.depends_on) for cv in spec.class_variables] == [(("x",), None), ((), "c1")]
    assert spec.analysis["start_values"] == {"c1#1 ON x": 0.5, "c2#1 ON c1#1": 2.5}
    three = head.replace("K", "3").replace("c1#1 ON x*0.5;", "c1 ON x; c1#1 ON x*0.5;")
    with pytest.raises(UnsupportedMplusStatement, match=r"'c2#k ON c1#d' is given for \[\(1, 1\)\] only"):
        parse_mplus(three + "c2#1 ON c1#1*2.5;\n" + tail)
    spec = parse_mplus(three + "c2 ON c1; c2#1 ON c1#1*2.5;\n" + tail).spec
    assert spec.class_variables[1].depends_on == "c1" and spec.analysis["start_values"]["c2#1 ON c1#1"] == 2.5
    with pytest.raises(UnsupportedMplusStatement, match="'@' on class-logit regressions"):
        parse_mplus(head.replace("K", "2").replace("x*0.5", "x@0.5") + tail)


def test_free_format_data_with_missing_codes(tmp_path):
    (tmp_path / "d.dat").write_text("1 0 1 -99\n  0,1,1,2.5\n1 1 0 0\n\n0 0 1 1\n")
    (tmp_path / "s.dat").write_text("1 0 1 -99\n  0,1,1,2.5\n1 1 * 0\n\n0 0 1 1\n")
    (tmp_path / "m.inp").write_text("DATA: FILE = d.dat;\nVARIABLE: NAMES = u1-u3 x; CATEGORICAL = u1-u3;\n"
                                    "  MISSING = ALL (-99) ;\n  CLASSES = c(1);\nANALYSIS: TYPE = MIXTURE;\n")
    (tmp_path / "s.inp").write_text((tmp_path / "m.inp").read_text().replace("ALL (-99)", "*"))
    from mlmix_pymc.mplus.datafile import read_free_format

    parsed = mm.read_mplus(tmp_path / "m.inp")
    frame = read_free_format(tmp_path / "d.dat", parsed.names, {"*ALL*": [-99.0], "x": [-99.0]})
    assert frame.shape == (4, 4) and np.isnan(frame.loc[0, "x"]) and frame.loc[1, "x"] == 2.5
    with pytest.raises(mm.DataError, match="column 'u3' .* non-numeric value '\\*'"):
        read_free_format(tmp_path / "s.dat", parsed.names, {})
    star = read_free_format(tmp_path / "s.dat", parsed.names, mm.read_mplus(tmp_path / "s.inp").missing)
    assert np.isnan(star.loc[2, "u3"]) and star.loc[0, "x"] == -99
    with pytest.raises(mm.DataError, match="3 columns but NAMES lists 4"):
        (tmp_path / "e.dat").write_text("1 2 3\n")
        read_free_format(tmp_path / "e.dat", parsed.names, {})


UNSUPPORTED = [
    ("MODEL:\n%OVERALL%\ny1 WITH y2;\n", r"line 7: 'y1 WITH y2'.*within-level residual covariances"),
    ("MODEL:\n%OVERALL%\ny1 ON y2;\ny2 ON x;\n", r"\['y2'\] are both dependent and predictors"),
    ("DEFINE: z = y1 + y2;\n", r"line 5: the DEFINE command is not supported"),
    ("MODEL CONSTRAINT: new(d);\n", r"line 5: the MODEL CONSTRAINT command is not supported"),
    ("MODEL:\n%OVERALL%\nf BY y1-y2;\n%c#1%\nf BY y1;\n%c#1.c#2%\n[y1];\n", r"line 11: the class label %c#1.c#2%"),
    ("MODEL:\n%OVERALL%\nf BY y1 y2;\n%c#1%\n[y1];\n", r"line 9: '\[y1\]': class-specific thresholds"),
    ("MODEL:\n%OVERALL%\ny1 PON y2;\n", r"line 7: 'y1 PON y2': PON statements are not supported"),
]


@pytest.mark.parametrize("extra, message", UNSUPPORTED)
def test_unsupported_statements_are_named_with_their_line(extra, message):
    head = ("DATA: FILE = d.dat;\nVARIABLE: NAMES = y1 y2 x;\n  CLASSES = c(2);\n"
            "ANALYSIS: TYPE = MIXTURE;\n")
    with pytest.raises(UnsupportedMplusStatement, match=message):
        parse_mplus(head + extra)


@pytest.mark.parametrize("text, message", [
    ("VARIABLE: NAMES = y1 y2; CLASSES = c(2); KNOWNCLASS = g (x = 1);\nANALYSIS: TYPE = MIXTURE;",
     r"line 1: VARIABLE option 'KNOWNCLASS = g \(x = 1\)' is not supported"),
    ("VARIABLE: NAMES = y1 y2; CLASSES = c(2);\nANALYSIS: TYPE = GENERAL;", r"line 2: .*TYPE GENERAL"),
    ("VARIABLE: NAMES = y1 y2; CLASSES = c(2);\nANALYSIS: TYPE = MIXTURE; ESTIMATOR = BAYES;",
     r"line 2: .*ESTIMATOR = BAYES is not supported"),
    ("VARIABLE: NAMES = u1 u2; COUNT = u1 (nb); CLASSES = c(2);\nANALYSIS: TYPE = MIXTURE;",
     r"line 1: COUNT .*\(nb\) is not supported"),
])
def test_unsupported_options(text, message):
    with pytest.raises(UnsupportedMplusStatement, match=message):
        parse_mplus(text)


@pytest.mark.parametrize("text, message", [
    ("VARIABLE: NAMES = y1 y2 CLASSES = c(2);\nANALYSIS: TYPE = MIXTURE;", r"no class|CLASSES|NAMES"),
    ("VARIABLE: NAMES = y1 y2; CLASSES = c(2);\nANALYSIS: TYPE = MIXTURE;\nMODEL: %c#1% [y3];",
     r"line 3: '\[y3\]': 'y3' is neither a variable"),
    ("VARIABLE: NAMES = y1 y2; CLASSES = c(2);\nANALYSIS: TYPE = MIXTURE;\nMODEL: %c#3% [y1];",
     r"line 3: class 3 of c does not exist"),
    ("VARIABLE: NAMES = y1 y2; CLASSES = c(2);\nANALYSIS: TYPE = MIXTURE\n", r"line 2: statement .* not ended"),
    ("VARIABLE: NAMES = y1-y; CLASSES = c(2);\nANALYSIS: TYPE = MIXTURE;", r"line 1: cannot expand .*y1-y"),
])
def test_syntax_errors_name_the_statement(text, message):
    with pytest.raises(MplusSyntaxError, match=message):
        parse_mplus(text)


# --------------------------------------------------------------------------- fits on simulated data
TRUTH = {
    "ex7_3_lca_binary": {"[c#1]": 0.6, **{f"u{i}$1|c#1": -1.5 for i in range(1, 5)},
                         **{f"u{i}$1|c#2": 1.5 for i in range(1, 5)}},
    "ex7_6_lca_ordinal": {"[c#1]": 0.5, **{f"u{i}$1|c#1": -1.5 for i in range(1, 5)},
                          **{f"u{i}$2|c#1": 0.0 for i in range(1, 5)}, **{f"u{i}$1|c#2": 0.5 for i in range(1, 5)},
                          **{f"u{i}$2|c#2": 2.0 for i in range(1, 5)}},
    "ex7_9_lpa": {"[c#1]": 0.5, **{f"y{i}|c#1": 0.0 for i in range(1, 5)}, **{f"y{i}|c#2": 2.0 for i in range(1, 5)},
                  **{f"var(y{i})|c#{k}": 1.0 for i in range(1, 5) for k in (1, 2)}},
    "ex7_11_lca_mixed": {"[c#1]": 0.5, "u1$1|c#1": -1.5, "u1$1|c#2": 1.5, "u2#1|c#1": 1.0, "u2#2|c#1": 0.0,
                         "u2#1|c#2": -1.0, "u2#2|c#2": 0.0, "[u3]|c#1": 0.0, "[u3]|c#2": 1.4, "[u4]|c#1": 0.3,
                         "[u4]|c#2": 1.2},
    "ex7_12_lca_covariate": {"[c#1]": 0.4, "c#1 ON x": 1.0, **{f"u{i}$1|c#1": -1.5 for i in range(1, 5)},
                             **{f"u{i}$1|c#2": 1.5 for i in range(1, 5)}, "u4 ON x|c#1": 0.8, "u4 ON x|c#2": 0.8},
    "ex7_13_confirmatory_lca": {"[c#1]": 0.3, "[c#2]": 0.3, "u1$1|c#1": -15, "u1$1|c#2": 15,
                                **{f"u{i}$1|c#1": -1.0 for i in range(2, 5)},
                                **{f"u{i}$1|c#2": 1.5 for i in range(2, 5)},
                                "u1$1|c#3": 0.0, "u2$1|c#3": -1.5, "u3$1|c#3": 0.0, "u4$1|c#3": 1.5},
    "ex7_14_lta": {"[c1#1]": 0.3, "c1#1 ON x": 0.5, "[c2#1]": -1.0, "c2#1 ON c1#1": 2.5,
                   **{f"u{t}{i}$1|c{t}#1": -1.5 for t in (1, 2) for i in range(1, 5)},
                   **{f"u{t}{i}$1|c{t}#2": 1.5 for t in (1, 2) for i in range(1, 5)}},
    "ex7_17_factor_mixture": {"[c#1]": 0.5, "f BY y1": 1.0, "f BY y2": 0.8, "f BY y3": 0.8, "f BY y4": 0.6,
                              "[f]|c#1": 2.5, **{f"y{i}|c#{k}": 0.0 for i in range(1, 5) for k in (1, 2)},
                              **{f"var(y{i})|c#{k}": 0.5 for i in range(1, 5) for k in (1, 2)}},
    "ex7_27_fma_binary": {"[c#1]": 0.5, **{f"f BY u{i}": 1.0 for i in range(1, 6)},
                          **{f"u{i}$1|c#1": -1.0 for i in range(1, 6)}, **{f"u{i}$1|c#2": 1.5 for i in range(1, 6)}},
    "ex10_2_twolevel_regression": {"[c#1]": 0.5, "y|c#1": 0.0, "y|c#2": 2.5, "y ON x|c#1": 1.0,
                                   "y ON x|c#2": -0.5, "var(y)|c#1": 0.5, "var(y)|c#2": 0.5, "var(y_b)": 0.3},
    "ex10_6_twolevel_lca": {"[c#1]": 0.5, "var(c#1)": 1.0, **{f"u{i}$1|c#1": -1.5 for i in range(1, 5)},
                            **{f"u{i}$1|c#2": 1.5 for i in range(1, 5)}},
    "ex10_7_between_class": {"[cb#1]": 0.4, "y|cb#1": 0.0, "y|cb#2": 2.0, "y ON x|cb#1": 1.0, "y ON x|cb#2": -0.5,
                             "var(y)|cb#1": 1.0, "var(y)|cb#2": 1.0, "var(y_b)": 0.3},
}
CLUSTERED = {"ex10_7_between_class": 60, "ex10_2_twolevel_regression": 50, "ex10_6_twolevel_lca": 50}
FAST_FITS = ["ex7_3_lca_binary", "ex7_9_lpa"]  # the LTA: test_lta_example_...; the rest are slow
# ex7_27 (binary factor mixture) is parsed and round-tripped above but not fitted here: with STARTS = 20 4
# its loading f BY u3 ran off to 41 (singular information) in one run and was recovered in another;
# an optimum / identification question of the binary FMA left open (issue 14 closing note)
SLOW_FITS = sorted(set(TRUTH) - set(FAST_FITS) - {"ex7_14_lta", "ex7_27_fma_binary"})


def design_frame(name: str, n: int = 400, seed: int = 1) -> pd.DataFrame:
    """Columns of the example's NAMES with placeholder values of the right kind (simulate draws
    the items anew)."""
    spec = EXPECTED[name]
    rng = np.random.default_rng(seed)
    design = pd.DataFrame({c: rng.normal(size=n) for c in mm.read_mplus(INPUTS / f"{name}.inp").names})
    if spec.cluster:
        design[spec.cluster] = np.repeat(np.arange(CLUSTERED[name]), n // CLUSTERED[name])
    for ind in spec.indicators:
        design[ind.name] = {"binary": rng.integers(0, 2, n), "ordinal": rng.integers(0, 3, n),
                            "nominal": rng.integers(0, 3, n), "poisson": rng.poisson(2, n)}.get(
            ind.family, rng.normal(size=n))
    return design


def simulate_example(name: str, tmp_path: Path, n: int = 400, seed: int = 1) -> Path:
    """Copy the example input to ``tmp_path`` and write data of its shape drawn from TRUTH."""
    parsed = mm.read_mplus(INPUTS / f"{name}.inp")
    drawn = mm.simulate(mm.Model(EXPECTED[name], design_frame(name, n, seed)), TRUTH[name], seed=seed)
    write_free_format(drawn[parsed.names], tmp_path / f"{name}.dat")
    shutil.copy(INPUTS / f"{name}.inp", tmp_path / f"{name}.inp")
    return tmp_path / f"{name}.inp"


def swapped(truth: dict) -> dict:
    """The same two-class model with its classes numbered the other way round."""
    out = {}
    for name, value in truth.items():
        for cv in ("c", "cb"):
            if name in (f"[{cv}#1]", f"{cv}#1 ON x"):
                value = -value
            elif name.endswith(f"|{cv}#1") or name.endswith(f"|{cv}#2"):
                name = name[:-1] + ("2" if name.endswith("1") else "1")
        out[name] = value
    return out


def recovered(result, truth: dict, n_se: float = 4.0) -> dict:
    """Parameters whose estimate is more than ``n_se`` standard errors from the truth (two
    classes of one class variable: under the class numbering closer to the estimates)."""
    table = result.parameters.set_index("name")
    two = [cv for cv in ("c", "cb") if f"[{cv}#2]" in table.index and f"[{cv}#3]" not in table.index]
    if len(result.structure.class_vars) == 1 and two and not any("[f]" in n for n in truth):
        def distance(t):
            return sum(((table.loc[n, "estimate"] - v) / table.loc[n, "se"]) ** 2 for n, v in t.items()
                       if table.loc[n, "status"] == "free")
        if distance(swapped(truth)) < distance(truth):
            truth = swapped(truth)
    off = {}
    for name, value in truth.items():
        row = table.loc[name]
        if row["status"] != "free":
            continue
        if not abs(row["estimate"] - value) <= n_se * row["se"]:
            off[name] = (row["estimate"], row["se"], value)
    return off


def check_write_back(model, result, path: Path, tmp_path: Path) -> None:
    """``result.to_mplus()`` reads back into the same spec, with a starting value for every free
    parameter: the log-likelihood at those starts is the fit's, to 1e-6 (issue 32)."""
    again = tmp_path / "again.inp"
    again.write_text(result.to_mplus(data_file=path.with_suffix(".dat").name))
    reread = mm.from_mplus(again)
    starts = reread.spec.analysis.pop("start_values")
    reread.spec.analysis.update({k: v for k, v in model.spec.analysis.items() if k == "start_values"})
    assert canonical(reread.spec) == canonical(model.spec)
    assert set(starts) <= set(model.parameter_names)
    assert set(model.free_parameter_names) <= set(starts)
    assert result.boundary is None  # a boundary solution reports its limit's log-likelihood, not the fit's
    # an integrated fit reports the certificate's finer-rule value; its own rule (integration_settings)
    # gives certificate.loglik, the value to reproduce
    own = result.loglik if result.certificate is None else result.certificate.loglik
    assert reread.loglik(starts, **result.integration_settings) == pytest.approx(own, rel=0, abs=1e-6)


def fit_and_check(name, tmp_path, n=400, write_back=False):
    """Fit the example on data simulated from TRUTH; check recovery and, with ``write_back``,
    ``check_write_back``."""
    path = simulate_example(name, tmp_path, n=n)
    model = mm.from_mplus(path)
    assert canonical(model.spec) == canonical(EXPECTED[name])
    result = model.fit(**model.spec.analysis, seed=3)
    assert result.converged
    assert recovered(result, TRUTH[name]) == {}
    if write_back:
        check_write_back(model, result, path, tmp_path)


def written_starts(model, theta) -> tuple[dict, dict]:
    """(free parameter -> natural value at ``theta``, the starts of the written input read back)."""
    layout = model.structure.layout
    values = {n: float(v) for n, v, fixed in zip(layout.names, layout.natural(theta), layout.fixed_mask) if not fixed}
    back = parse_mplus(model_to_mplus(model, "d.dat", values)).spec
    assert canonical(dataclasses.replace(back, analysis={})) == canonical(dataclasses.replace(model.spec, analysis={}))
    return values, back.analysis.get("start_values", {})


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_written_starts_are_the_values_given(name):
    """Every free parameter of every example is written as a start that reads back as the same
    double (no compile: the fits' log-likelihood check is ``check_write_back``)."""
    model = mm.Model(EXPECTED[name], design_frame(name, n=2 * CLUSTERED.get(name, 10)))
    theta = model.theta_from_values({k: v for k, v in TRUTH[name].items() if k in model.parameter_names})
    theta = theta + 0.01 * np.sin(np.arange(1, theta.size + 1))  # no parameter at its default start
    values, starts = written_starts(model, theta)
    assert {n: starts.get(n) for n in values} == values


def test_written_starts_of_between_level_and_class_logit_parameters():
    """Between-level variances / covariances (of item random intercepts, a random slope, random
    class logits), between regressions, between-factor loadings, class-logit slopes and LTA
    transitions of three classes: each start reads back exactly."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"y": rng.normal(size=60), "u": rng.integers(0, 2, 60), "x": rng.normal(size=60),
                          "w": np.repeat(rng.normal(size=6), 10), "clus": np.repeat(np.arange(6), 10),
                          **{f"u{i}": rng.integers(0, 2, 60) for i in range(1, 5)}})
    head = "DATA: FILE = d.dat;\nVARIABLE: NAMES = y u x w clus u1-u4;\n"
    texts = [head + """  USEV = y u x w; CATEGORICAL = u; WITHIN = x; BETWEEN = w; CLUSTER = clus; CLASSES = c(3);
ANALYSIS: TYPE = TWOLEVEL RANDOM MIXTURE;
MODEL: %WITHIN% %OVERALL%
s | y ON x;
%BETWEEN% %OVERALL%
y ON w;  s ON w;  c ON w;  c#1; c#2; u;  y WITH s;
""", head + """  USEV = u1-u4 w; CATEGORICAL = u1-u4; BETWEEN = w; CLUSTER = clus; CLASSES = c(2);
ANALYSIS: TYPE = TWOLEVEL MIXTURE;
MODEL: %BETWEEN% %OVERALL%
fb BY u1-u4; u1-u4@0; fb ON w;
""", head + """  USEV = u1-u4 x; CATEGORICAL = u1-u4; CLASSES = c1(3) c2(3);
ANALYSIS: TYPE = MIXTURE;
MODEL: %OVERALL%
c2 ON c1; c1 ON x;
MODEL c1: %c1#1% [u1$1 u2$1];
MODEL c2: %c2#1% [u3$1 u4$1];
"""]
    specs = [parse_mplus(text).spec for text in texts]
    assert "cov(s,u_b)" in mm.Model(specs[0], frame).parameter_names
    frame = frame.assign(g=frame["clus"])
    specs += [unbound(mm.fma, items=U, n_classes=2, loadings="class-specific"),  # f@1 with the first start
              unbound(mm.fma, items=U, n_classes=2, factor_variance="class-specific"),
              unbound(mm.irt, items=U, model="rasch"),
              unbound(mm.fma, items=U, n_classes=2, cluster="g", cluster_intercept=True)]
    for spec in specs:
        model = mm.Model(spec, frame)
        theta = np.linspace(-0.5, 0.5, model.n_free)  # log-variances near 0, small Cholesky entries: PD
        values, starts = written_starts(model, theta)
        assert {n: starts.get(n) for n in values} == values, spec


@pytest.mark.parametrize("name", FAST_FITS)
def test_single_level_examples_fit_and_recover(name, tmp_path):
    fit_and_check(name, tmp_path, write_back=True)


def lta_pair(tmp_path):
    """The LTA input bound to its simulated data, and ``mm.lta`` built by hand on the same data."""
    path = simulate_example("ex7_14_lta", tmp_path)
    model = mm.from_mplus(path)
    t1, t2 = [f"u1{i}" for i in range(1, 5)], [f"u2{i}" for i in range(1, 5)]
    return model, mm.lta(model.frame, [t1, t2], 2, covariates=["x"], time_invariant=True), path


def test_lta_example_equals_the_constructor_lta(tmp_path):
    """The LTA input (labels (1-4) (5-8) over c1 and c2) is the time-invariant ``mm.lta``
    (``same_measurement``): the same log-likelihood at two parameter points."""
    model, hand, _ = lta_pair(tmp_path)
    other = dict(TRUTH["ex7_14_lta"])
    other.update({"[c1#1]": -0.2, "c2#1 ON c1#1": 1.7, "u11$1|c1#1": -1.0, "u21$1|c2#1": -1.0,
                  "u13$1|c1#2": 0.4, "u23$1|c2#2": 0.4})
    for values in (TRUTH["ex7_14_lta"], other):
        assert model.loglik(values) == pytest.approx(hand.loglik(values), abs=1e-8)
    assert model.n_free == hand.n_free


@pytest.mark.slow
def test_lta_example_fit_equals_the_constructor_fit(tmp_path):
    model, hand, path = lta_pair(tmp_path)
    result = model.fit(**model.spec.analysis, seed=3)
    hand_result = hand.fit(starts=(4, 1), seed=3, se=None)
    assert result.loglik == pytest.approx(hand_result.loglik, abs=1e-4)
    assert result.loglik >= model.loglik(TRUTH["ex7_14_lta"]) - 1e-6  # the ML optimum beats the truth
    check_write_back(model, result, path, tmp_path)  # transitions c2#1 ON c1#1, the slope c1#1 ON x


@pytest.mark.slow
@pytest.mark.parametrize("name", SLOW_FITS)
def test_other_examples_fit_and_recover(name, tmp_path):
    """The ordinal, mixed-family, confirmatory, factor-mixture and two-level examples."""
    fit_and_check(name, tmp_path, n=600 if name.startswith("ex10") else 500, write_back=True)


def test_mlmix_fit_mplus_input_and_result_to_mplus(tmp_path, capsys, monkeypatch):
    """``mlmix fit model.inp`` fits the input (its DATA FILE relative to the input's folder, not
    to the working directory); ``result.to_mplus()`` writes an input that reads back into the
    same spec, with the estimates as starting values."""
    path = simulate_example("ex7_3_lca_binary", tmp_path)
    monkeypatch.chdir(tmp_path.parent)
    assert main(["fit", f"{tmp_path.name}/{path.name}", "--json", str(tmp_path / "fit.json")]) == 0
    assert "Loglikelihood" in capsys.readouterr().out
    assert json.loads((tmp_path / "fit.json").read_text())["n_params"] == 9
    model = mm.from_mplus(path)
    result = model.fit(**model.spec.analysis, seed=3)
    text = result.to_mplus(data_file=path.with_suffix(".dat").name)
    again = tmp_path / "again.inp"
    again.write_text(text)
    reread = mm.from_mplus(again)
    starts = reread.spec.analysis.pop("start_values")
    assert canonical(reread.spec) == canonical(model.spec)
    table = result.parameters.set_index("name")
    for name, value in starts.items():
        assert value == pytest.approx(table.loc[name, "estimate"], rel=1e-5, abs=1e-5)
    assert reread.loglik(starts) == pytest.approx(result.loglik, abs=1e-3)


def test_mlmix_fit_reports_mplus_errors(tmp_path, capsys):
    (tmp_path / "bad.inp").write_text("DATA: FILE = d.dat;\nVARIABLE: NAMES = y1 y2; CLASSES = c(2);\n"
                                      "ANALYSIS: TYPE = MIXTURE;\nMODEL: %OVERALL%\n y1 WITH y2;\n")
    assert main(["fit", str(tmp_path / "bad.inp")]) == 2
    assert "line 5: 'y1 WITH y2'" in capsys.readouterr().err
    (tmp_path / "nodata.inp").write_text("DATA: FILE = d.dat;\nVARIABLE: NAMES = y1 y2; CLASSES = c(2);\n"
                                         "ANALYSIS: TYPE = MIXTURE;\n")
    assert main(["fit", str(tmp_path / "nodata.inp")]) == 2
    assert "d.dat" in capsys.readouterr().err


def test_two_level_random_slope_and_between_regressions():
    """TWOLEVEL RANDOM MIXTURE: ``s | y ON x`` with class-specific means [s], the random
    intercept of y and s regressed on w, a random class-logit intercept regressed on w."""
    text = """DATA: FILE = d.dat;
VARIABLE: NAMES = y x w clus;
  WITHIN = x; BETWEEN = w; CLUSTER = clus; CLASSES = c(2);
ANALYSIS: TYPE = TWOLEVEL RANDOM MIXTURE; ALGORITHM = INTEGRATION;
MODEL:
%WITHIN%
%OVERALL%
s | y ON x;
%c#1%
y;
%c#2%
y;
%BETWEEN%
%OVERALL%
y ON w;  s ON w;  c#1 ON w;
c#1;
%c#1%
[y] [s];
%c#2%
[s];
"""
    spec = parse_mplus(text).spec
    expected = ModelSpec(
        class_variables=(ClassVariable("c", 2, random_intercept=True, covariates=("w",)),),
        indicators=(Indicator("y", "normal", covariates=("x",)),), cluster="clus",
        random_effects=(RandomEffect("y_b", "intercept", ("y",), on=("w",)),
                        RandomEffect("s", "slope", ("y",), covariate="x", on=("w",))),
        random_covariance="diagonal", analysis={"se": "mlr"})
    assert canonical(spec) == canonical(expected)
    assert canonical(parse_mplus(spec_to_mplus(spec, "d.dat")).spec) == canonical(expected)


def test_within_class_on_between_class_and_partial_class_invariance():
    """``c ON cb`` (eq 24); a slope and a variance named in class 1 only are equal over classes 2-3."""
    text = """VARIABLE: NAMES = u1-u4 clus;
  USEV = u1-u4; CATEGORICAL = u1-u4; BETWEEN = cb; CLUSTER = clus; CLASSES = cb(2) c(2);
ANALYSIS: TYPE = TWOLEVEL MIXTURE;
MODEL: %BETWEEN%
%OVERALL%
c ON cb;
"""
    spec = parse_mplus(text).spec
    assert [(cv.name, cv.level, cv.depends_on) for cv in spec.class_variables] == [
        ("cb", "between", None), ("c", "within", "cb")]
    assert {ind.class_variable for ind in spec.indicators} == {"c"} and not spec.random_effects
    text = """VARIABLE: NAMES = y1-y3 x wt clus;
  USEV = y1-y3 x; CLASSES = c(3); CLUSTER = clus;
ANALYSIS: TYPE = COMPLEX MIXTURE;
MODEL: %OVERALL%
y1 ON x;
%c#1%
y1 ON x;
y2;
"""
    spec = parse_mplus(text).spec
    assert spec.cluster == "clus"
    assert [ind.variance for ind in spec.indicators] == ["class-equal", "class-specific", "class-equal"]
    assert sorted(map(sorted, spec.constraints.equal)) == [["var(y2)|c#2", "var(y2)|c#3"],
                                                          ["y1 ON x|c#2", "y1 ON x|c#3"]]
    with pytest.raises(UnsupportedMplusStatement, match="weights= is not supported in two-level"):
        parse_mplus(text.replace("CLUSTER = clus;", "CLUSTER = clus; WEIGHT = wt;"))


def test_between_factor_and_categorical_random_intercept():
    text = """VARIABLE: NAMES = u1-u4 clus; USEV = u1-u4; CATEGORICAL = u1-u4; CLASSES = c(2); CLUSTER = clus;
ANALYSIS: TYPE = TWOLEVEL MIXTURE;
MODEL: %BETWEEN% %OVERALL%
fb BY u1-u3; u1-u3@0;
u4;
"""
    spec = parse_mplus(text).spec
    assert spec.random_effects == (RandomEffect("u4_b", "intercept", ("u4",)),
                                   RandomEffect("fb", "intercept", ("u1", "u2", "u3"), loadings="free"))
    assert canonical(parse_mplus(spec_to_mplus(spec, "d.dat")).spec) == canonical(spec)
    with pytest.raises(UnsupportedMplusStatement, match="'u1' of a between-level factor needs .* add 'u1@0;'"):
        parse_mplus(text.replace("u1-u3@0;", ""))
