"""Issue 10: every bad input gets a named error, a specific warning, or the corrected number.

One case per line. ``RAISES``: the error class and a message naming the column / value /
option. ``WARNS``: the specific warning. The tests after the tables check corrected numbers
against something independent (scale invariance of the normal likelihood, the same data with a
unique index, a start's own log-likelihood). Item numbers refer to the issue.
"""

from __future__ import annotations

import datetime
import re
import tomllib
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mlmix_pymc as mm
from mlmix_pymc.cli import main
from mlmix_pymc.bayes import sampling as bayes
from mlmix_pymc.estimate import checks, optimize

ROOT = Path(__file__).resolve().parents[1]
LSAT_ITEMS = ["item1", "item2", "item3", "item4", "item5"]
BIN_ITEMS = ["u1", "u2", "u3", "u4"]
NORMAL_ITEMS = ["y1", "y2", "y3"]


def _binary_frame(n=120, seed=0):
    """Two classes, four binary items, a covariate x and four schools."""
    rng = np.random.default_rng(seed)
    z = rng.integers(0, 2, n)
    d = pd.DataFrame((rng.uniform(size=(n, 4)) < np.where(z[:, None] == 1, 0.8, 0.2)).astype(int), columns=BIN_ITEMS)
    d["x"] = rng.normal(size=n)
    d["school"] = np.repeat(np.arange(4), n // 4)
    return d


def _normal_frame(n=300, seed=0):
    """Two classes, three normal items (means 0 / 2, SD 1)."""
    rng = np.random.default_rng(seed)
    z = rng.integers(0, 2, n)
    return pd.DataFrame({"y1": rng.normal(2 * z, 1), "y2": rng.normal(2 * z, 1), "y3": rng.normal(-2 * z, 1)})


BIN = _binary_frame()
NORM = _normal_frame()


def with_values(df, col, values):
    """A copy of ``df`` with column ``col`` replaced (object values allowed)."""
    out = df.copy()
    out[col] = pd.Series(list(values), index=df.index, dtype=object) if isinstance(values, list) else values
    return out


def set_cell(df, col, row, value):
    """A copy of ``df`` with one cell set (the column becomes object dtype if needed)."""
    out = df.copy()
    out[col] = out[col].astype(object)
    out.at[row, col] = value
    return out


def lsat_one_school(lsat_df):
    d = lsat_df.copy()
    d["school"] = 1
    return d


TEXT_LEVELS = list(np.resize(["low", "medium", "high"], len(BIN)))
TEXT_NUMBERS = list(np.resize(["1", "2", "10"], len(BIN)))


def fake_idata(n_params):
    """An InferenceData with ``phi`` draws of ``n_params`` parameters (shape checks only)."""
    import arviz as az

    return az.from_dict(posterior={"phi": np.zeros((1, 4, n_params))})


# --------------------------------------------------------------------------- raises
RAISES = [
    # 1. MLR with one cluster
    pytest.param(lambda: mm.lca(lsat_one_school(mm.datasets.load_lsat()), LSAT_ITEMS, 2, cluster="school").fit(se="mlr"), mm.SpecificationError, r"se='mlr' with cluster='school': the data have 1 cluster", id="1-mlr-one-cluster"),
    # 2. ordinal items stored as text
    pytest.param(lambda: mm.lca(with_values(BIN, "u4", TEXT_LEVELS), BIN_ITEMS, 2, family={"u4": "ordinal"}), mm.DataError, r"ordinal indicator 'u4' has text categories \['high', 'low', 'medium'\]", id="2-ordinal-text-words"),
    pytest.param(lambda: mm.lca(with_values(BIN, "u4", TEXT_NUMBERS), BIN_ITEMS, 2, family={"u4": "ordinal"}), mm.DataError, r"ordinal indicator 'u4' has text categories \['1', '10', '2'\]", id="2-ordinal-text-numbers"),
    pytest.param(lambda: mm.lca(with_values(BIN, "u4", pd.Categorical(TEXT_LEVELS)), BIN_ITEMS, 2, family={"u4": "ordinal"}), mm.DataError, r"ordinal indicator 'u4' has text categories", id="2-ordinal-unordered-categorical"),
    # 3. a normal item shifted by 1e12: its density is rounding noise
    pytest.param(lambda: mm.lca(NORM + 1e12, NORMAL_ITEMS, 2, family="normal"), mm.DataError, r"normal indicator column 'y1' has mean 1e\+12 .* center it", id="3-normal-shifted-1e12"),
    # 5. +-inf as a category
    pytest.param(lambda: mm.lca(set_cell(BIN, "u2", 3, np.inf), BIN_ITEMS, 2), mm.DataError, r"binary indicator 'u2' has infinite values", id="5-binary-inf"),
    pytest.param(lambda: mm.lca(set_cell(BIN, "u2", 3, -np.inf).astype({"u2": float}), BIN_ITEMS, 2, family={"u2": "ordinal"}), mm.DataError, r"ordinal indicator 'u2' has infinite values", id="5-ordinal-minus-inf"),
    # 6. parameter-name collisions
    pytest.param(lambda: mm.lca(NORM.rename(columns={"y2": "var(y1)"}), ["y1", "var(y1)"], 2, family="normal"), mm.SpecificationError, r"parameter name 'var\(y1\)\|c#1' arises twice", id="6-name-collision-var"),
    pytest.param(lambda: mm.lca(BIN.assign(**{"u1$1": NORM["y1"][: len(BIN)].to_numpy()}), ["u1", "u1$1"], 2, family={"u1": "binary", "u1$1": "normal"}), mm.SpecificationError, r"parameter name 'u1\$1\|c#1' arises twice \(from 'u1' and 'u1\$1'\)", id="6-name-collision-threshold-mean"),
    # 7. float starts; cluster ids 7 and "7"
    pytest.param(lambda: mm.lca(BIN, BIN_ITEMS, 2).fit(starts=(2.5, 1)), mm.SpecificationError, r"starts must be two integers \(n_initial, n_final\), got \(2.5, 1\)", id="7-float-starts"),
    pytest.param(lambda: mm.lca(with_values(BIN, "school", [7, "7"] * (len(BIN) // 2)), BIN_ITEMS, 2, cluster="school"), mm.DataError, r"cluster column 'school' mixes numbers and text ids \(for example 7 and '7'\)", id="7-cluster-ids-7-and-'7'"),
    # 10. the CLI: see CLI_CASES below
    # 11. API options
    pytest.param(lambda: mm.lca(BIN, BIN_ITEMS, 2).fit(seed=-1), mm.SpecificationError, r"seed must be a non-negative integer \(or None\), got -1", id="11-seed-negative"),
    pytest.param(lambda: mm.lca(BIN, BIN_ITEMS, 2).fit(seed="abc"), mm.SpecificationError, r"seed must be .* got 'abc'", id="11-seed-text"),
    pytest.param(lambda: mm.lca(BIN, BIN_ITEMS, 2).fit(seed=1.5), mm.SpecificationError, r"seed must be .* got 1.5", id="11-seed-float"),
    pytest.param(lambda: mm.lca(BIN, BIN_ITEMS, 2, fixed={"u1$1|c#1": "abc"}), mm.SpecificationError, r"fixed value of 'u1\$1\|c#1' must be a number, got 'abc'", id="11-fixed-text"),
    pytest.param(lambda: mm.lca(BIN, BIN_ITEMS, 2, fixed={"u1$1|c#1": np.nan}), mm.SpecificationError, r"fixed value of 'u1\$1\|c#1' must be a finite number, got nan", id="11-fixed-nan"),
    pytest.param(lambda: mm.lca(BIN, BIN_ITEMS, 2, fixed={"u1$1|c#1": np.inf}), mm.SpecificationError, r"fixed value of 'u1\$1\|c#1' must be a finite number, got inf", id="11-fixed-inf"),
    pytest.param(lambda: mm.lca(BIN, BIN_ITEMS, 2).sample(chains=0), mm.SpecificationError, r"chains must be an integer >= 1, got 0", id="11-sample-chains-0"),
    pytest.param(lambda: mm.lca(BIN, BIN_ITEMS, 2).sample(draws=0), mm.SpecificationError, r"draws must be an integer >= 1, got 0", id="11-sample-draws-0"),
    pytest.param(lambda: mm.lca(BIN, BIN_ITEMS, 2).sample(ml_result=mm.lca(BIN, BIN_ITEMS[:3], 2).fit(starts=(0, 0), se=None)), mm.SpecificationError, r"ml_result is not a fit of this model", id="11-sample-foreign-ml-result"),
    pytest.param(lambda: mm.compare(mm.lca(BIN, BIN_ITEMS, 3).fit(starts=(0, 0)), fake_idata(10)), mm.SpecificationError, r"the ML result has 15 parameters but the posterior draws have 10", id="11-compare-other-model"),
    pytest.param(lambda: mm.lca(set_cell(BIN, "u1", 5, [0, 1]), BIN_ITEMS, 2), mm.DataError, r"column 'u1' has value \[0, 1\] of type list \(row 5\)", id="11-list-in-cell"),
    pytest.param(lambda: mm.lca(with_values(BIN, "x", BIN["x"] + 1j), BIN_ITEMS, 2, covariates="x"), mm.DataError, r"column 'x' holds complex numbers", id="11-complex-column"),
    pytest.param(lambda: mm.lca(set_cell(BIN, "u1", 2, 1 + 2j), BIN_ITEMS, 2), mm.DataError, r"column 'u1' has value \(1\+2j\) of type complex", id="11-complex-cell"),
    pytest.param(lambda: mm.lca(with_values(BIN, "x", pd.date_range("2020-01-01", periods=len(BIN))), BIN_ITEMS, 2, covariates=["x"]), mm.DataError, r"column 'x' holds dates or times", id="11-datetime-column"),
    pytest.param(lambda: mm.lca(set_cell(BIN, "u3", 0, datetime.date(2020, 1, 1)), BIN_ITEMS, 2), mm.DataError, r"column 'u3' has value datetime.date\(2020, 1, 1\) of type date", id="11-date-cell"),
    pytest.param(lambda: mm.lca(with_values(BIN, "u2", [b"a", b"b"] * (len(BIN) // 2)), BIN_ITEMS, 2), mm.DataError, r"column 'u2' has value b'a' of type bytes", id="11-bytes-column"),
    # 15. all-missing items
    pytest.param(lambda: mm.lca(BIN.assign(u3=np.nan), BIN_ITEMS, 2), mm.DataError, r"binary indicator 'u3' has no observed values", id="15-all-missing-binary"),
    pytest.param(lambda: mm.lca(BIN.assign(u3=np.nan), BIN_ITEMS, 2, family={"u3": "ordinal"}), mm.DataError, r"ordinal indicator 'u3' has no observed values", id="15-all-missing-ordinal"),
    pytest.param(lambda: mm.lca(NORM.assign(y2=np.nan), NORMAL_ITEMS, 2, family="normal"), mm.DataError, r"normal indicator 'y2' has no observed values", id="15-all-missing-normal"),
]


@pytest.mark.parametrize("action, error, message", RAISES)
def test_bad_input_raises_named_error(action, error, message):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # warnings on the way are checked in WARNS
        with pytest.raises(error, match=message):
            action()


# --------------------------------------------------------------------------- warns
WARNS = [
    # 1. MLR with fewer clusters than parameters (4 schools, 9 parameters); fit_ml calls this check
    # before compiling (its refusal of one cluster is the RAISES case through fit())
    pytest.param(lambda: checks.check_mlr_clusters(mm.lca(BIN, BIN_ITEMS, 2, cluster="school"), "mlr"), r"the number of clusters \(4\) in column 'school' is less than the number of free parameters \(9\)", id="1-mlr-few-clusters"),
    # 3. scale of normal items and covariates
    pytest.param(lambda: mm.lca(set_cell(NORM, "y1", 0, 1e12).astype(float), NORMAL_ITEMS, 2, family="normal"), r"normal indicator column 'y1' has an extreme value 1e\+12", id="3-normal-outlier"),
    pytest.param(lambda: mm.lca(NORM * 1e12, NORMAL_ITEMS, 2, family="normal"), r"normal indicator column 'y1' has SD 1.\d+e\+12: .* divide it by 1e\+12", id="3-normal-scaled-1e12"),
    pytest.param(lambda: mm.lca(NORM + 1e5, NORMAL_ITEMS, 2, family="normal"), r"normal indicator column 'y1' has mean 1000\d\d but SD only .* center it", id="3-normal-shifted-1e5"),
    pytest.param(lambda: mm.lca(BIN.assign(x=BIN["x"] * 1e12), BIN_ITEMS, 2, covariates=["x"]), r"covariate column 'x' has SD [\d.]+e\+1[12]: .* divide it by 1e\+12", id="3-covariate-scaled-1e12"),
    # 7. integration ignored; too few draws; separation
    pytest.param(lambda: mm.lca(BIN, BIN_ITEMS, 2).fit(integration="adaptive", points=7, starts=(2, 1), seed=1), r"\['integration', 'points'\] have no effect", id="7-integration-ignored"),
    pytest.param(lambda: bayes._check_sample_options(mm.lca(BIN, BIN_ITEMS, 2), 10, 10, 1, None), r"chains=1, draws=10: convergence cannot be diagnosed", id="7-sample-one-short-chain"),
    pytest.param(lambda: mm.lca(BIN.assign(x=BIN["u1"] + 0.01 * BIN["x"]), BIN_ITEMS, 2, covariates=["x"]).fit(starts=(4, 2), seed=1, se=None), r"\(quasi-\)complete separation: class-logit slopes \['c#1 ON x = ", id="7-separating-covariate"),
    # 14. identification
    pytest.param(lambda: mm.lca(mm.datasets.load_lsat(), LSAT_ITEMS, 8).fit(starts=(0, 0), se=None, max_iter=50), r"47 free parameters but the items allow only 32 response patterns \(31 degrees of freedom\)", id="14-more-parameters-than-patterns"),
]


@pytest.mark.parametrize("action, message", WARNS)
def test_bad_input_warns(action, message):
    with pytest.warns(UserWarning, match=message):
        action()


# --------------------------------------------------------------------------- the CLI (item 10)
GOOD_SPEC = "data: d.csv\nclass_variables: [{name: c, n_classes: 2}]\nindicators: [u1, u2, u3, u4]\n"

CLI_CASES = [
    pytest.param(lambda p: ["fit", str(p)], r"spec file '.*' is not a file \(a directory\?\)", id="10-spec-is-directory"),
    pytest.param(lambda p: _spec(p, GOOD_SPEC.replace("d.csv", "sub")), r"data file '.*sub' is not a file", id="10-data-is-directory"),
    pytest.param(lambda p: _spec(p, GOOD_SPEC.replace("d.csv", "empty.csv")), r"data file '.*empty.csv' is empty", id="10-empty-csv"),
    pytest.param(lambda p: _spec(p, GOOD_SPEC.replace("d.csv", "bad.csv")), r"data file '.*bad.csv' is not a readable CSV", id="10-unparsable-csv"),
    pytest.param(lambda p: _spec(p, '{"class_variables": [', "s.json"), r"spec is not valid JSON", id="10-invalid-json"),
    pytest.param(lambda p: _spec(p, b"\x89PNG\r\n\x1a\n\xff\xfe\x00", "s.yaml"), r"spec file '.*s.yaml' is not a text \(YAML or JSON\) file", id="10-binary-spec"),
    pytest.param(lambda p: _spec(p, GOOD_SPEC + "analysis: {seed: 1.5}\n"), r"seed must be a non-negative integer \(or None\), got 1.5", id="10-seed-1.5"),
    pytest.param(lambda p: _spec(p, GOOD_SPEC + "constraints: {fixed: {u1$1|c#1: abc}}\n"), r"fixed value of 'u1\$1\|c#1' must be a number, got 'abc'", id="10-fixed-abc"),
    pytest.param(lambda p: _spec(p, GOOD_SPEC.replace("data: d.csv", "data: 5")), r"'data' in spec '.*' must be the path of a CSV file, got 5", id="10-data-5"),
    pytest.param(lambda p: _spec(p, GOOD_SPEC) + ["--json", str(p / "missing" / "out.json")], r"--json '.*out.json': directory '.*missing' does not exist", id="10-json-into-missing-directory"),
]


def _spec(folder: Path, text, name="s.yaml") -> list[str]:
    path = folder / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return ["fit", str(path)]


@pytest.mark.parametrize("argv, message", CLI_CASES)
def test_cli_bad_input_exits_2_with_one_line(argv, message, tmp_path, capsys, monkeypatch):
    BIN[BIN_ITEMS].to_csv(tmp_path / "d.csv", index=False)
    (tmp_path / "sub").mkdir()
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n3,4,5\n")
    import mlmix_pymc.model

    def no_fit(*args, **kwargs):  # every case must be answered before any fit runs
        raise AssertionError("the fit ran")

    if "json" in message:
        monkeypatch.setattr(mlmix_pymc.model.Model, "fit", no_fit)
    assert main(argv(tmp_path)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("mlmix: error: "), err
    assert re.search(message, err), err


# --------------------------------------------------------------------------- corrected numbers
def test_3_outlier_no_longer_floors_every_class_variance():
    """One value 1e12 made the floor 1e-6 x var = 1e15 for every class; the floor now uses the
    scaled MAD, so the variances of the other class stay near the true 1."""
    d = set_cell(NORM, "y1", 0, 1e12).astype(float)
    with pytest.warns(UserWarning, match="extreme value"):
        model = mm.lca(d, NORMAL_ITEMS, 2, family="normal")
    floor = np.exp(model.structure.layout.bounds[model.free_parameter_names.index("var(y1)|c#1")][0])
    assert floor < 1e-5  # 1e-6 x (1.4826 MAD)^2, MAD of y1 ~ 1.2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = model.fit(starts=(6, 2), seed=1, se=None)
    est = res.parameters.set_index("name")["estimate"]
    assert min(est["var(y1)|c#1"], est["var(y1)|c#2"]) < 10


@pytest.mark.slow
def test_4_small_scale_normal_items_fit_with_the_scaled_likelihood():
    """Normal items x 0.002 in a factor mixture: every start failed (NaN gradient at the trial
    points). The log-likelihood of y / s is that of y plus n P log(1 / s) (change of variables)."""
    rng = np.random.default_rng(0)
    n = 200
    z, f = rng.integers(0, 2, n), rng.normal(size=n)
    d = pd.DataFrame({f"y{i}": rng.normal(2 * z * (i < 3) + f, 1) for i in range(1, 5)})
    items = list(d.columns)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        unit = mm.fma(d, items, 2, family="normal").fit(starts=(5, 2), seed=1, se=None)
        small = mm.fma(d * 0.002, items, 2, family="normal").fit(starts=(5, 2), seed=1, se=None)
    assert small.loglik == pytest.approx(unit.loglik - n * len(items) * np.log(0.002), abs=1e-3)


def test_4_line_search_backs_off_from_non_finite_points():
    """A log-likelihood that is NaN beyond x = 1 with its maximum at 0.9: the optimizer used to
    abandon the start at the first NaN trial point; it must back off and find 0.9."""

    class NanBeyondOne:
        adapts = False

        def loglik_grad(self, theta):
            x = theta[0]
            if x >= 1.0:
                return np.nan, np.array([np.nan])
            return -100 * (x - 0.9) ** 2, np.array([-200 * (x - 0.9)])

    res = optimize.maximize(NanBeyondOne(), np.array([-5.0]), [(-np.inf, np.inf)], 200, 1)
    assert res.x[0] == pytest.approx(0.9, abs=1e-4)


def test_2_ordered_categorical_keeps_the_given_order():
    d = with_values(BIN, "u4", pd.Categorical(TEXT_LEVELS, categories=["low", "medium", "high"], ordered=True))
    model = mm.lca(d, BIN_ITEMS, 2, family={"u4": "ordinal"})
    assert model.data.category_maps["u4"] == {"low": 0, "medium": 1, "high": 2}


def test_7_starts_0_0_runs_only_the_deterministic_start():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = mm.lca(BIN, BIN_ITEMS, 2).fit(starts=(0, 0), se=None)
    assert len(res.starts.records) == 1


@pytest.mark.slow
def test_8_collapsed_ordinal_threshold_is_flagged_and_the_fit_finishes():
    """The issue's reproducer: thresholds of one class collapse (an empty category); the fit used
    to crash in the class reordering. Now the collapsed thresholds are flagged as at bound."""
    rng = np.random.default_rng(0)
    cols = [f"u{i}" for i in range(4)]
    d = pd.DataFrame(rng.integers(1, 6, (300, 4)), columns=cols)
    with pytest.warns(UserWarning, match="collapsed"):
        res = mm.lca(d, cols, 2, family="ordinal").fit(seed=1)
    est = res.parameters.set_index("name")
    assert res.at_bound and all(est.loc[name, "status"] == "at bound" for name in res.at_bound)
    for c in (1, 2):  # thresholds stay strictly increasing in every class
        for item in cols:
            tau = [est.loc[f"{item}${t}|c#{c}", "estimate"] for t in range(1, 5)]
            assert np.all(np.diff(tau) > 0)
    free = est[est["status"] == "free"]
    assert free["se"].notna().all()  # the others get their standard errors


def test_9_posterior_probabilities_with_duplicated_index_and_dropped_row():
    """Compared with the same data under a unique index (position by position)."""
    d = BIN.copy()
    d.loc[7, "x"] = np.nan
    dup = d.set_axis([0, 1] * (len(d) // 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = mm.lca(d, BIN_ITEMS, 2, covariates=["x"]).fit(starts=(0, 0), se=None).posterior_probabilities()
        got = mm.lca(dup, BIN_ITEMS, 2, covariates=["x"]).fit(starts=(0, 0), se=None).posterior_probabilities()
    assert list(got.index) == list(dup.index)
    assert got.iloc[7].isna().all()
    np.testing.assert_allclose(got[["c=1", "c=2"]].to_numpy(float), ref[["c=1", "c=2"]].to_numpy(float), atol=1e-10)


def test_11_single_covariate_name_as_a_string():
    model = mm.lca(BIN, BIN_ITEMS, 2, covariates="x")
    assert model.spec.covariates == ("x",) and "c#1 ON x" in model.parameter_names


def test_12_numpy_integers_are_integers():
    assert mm.lca(BIN, BIN_ITEMS, np.int64(2)).spec.class_variables[0].n_classes == 2
    assert len(mm.fma(BIN, BIN_ITEMS, 2, n_factors=np.int64(1)).spec.factors) == 1


def _interrupt_after(compiled, monkeypatch, calls):
    """Make call number ``calls + 1`` of ``compiled.loglik_grad`` raise KeyboardInterrupt (one Ctrl-C)."""
    original = compiled.loglik_grad
    count = {"n": 0}

    def counted(theta):
        count["n"] += 1
        if count["n"] == calls + 1:
            raise KeyboardInterrupt
        return original(theta)

    monkeypatch.setattr(compiled, "loglik_grad", counted)


def test_13_ctrl_c_in_the_initial_stage_returns_the_best_partial_start(monkeypatch):
    model = mm.lca(BIN, BIN_ITEMS, 2)
    _interrupt_after(model.compile(), monkeypatch, 60)  # 10 iterations per start: a few starts done
    with pytest.warns(UserWarning, match=r"estimation was interrupted \(KeyboardInterrupt\)"):
        res = model.fit(starts=(40, 5), seed=1, se=None)
    assert res.starts.interrupted
    partial = [r for r in res.starts.records if np.isfinite(r.initial_loglik)]
    assert 1 <= len(partial) < 40
    assert res.loglik == pytest.approx(max(r.initial_loglik for r in partial), abs=1e-8)
    monkeypatch.undo()  # the loglik at the returned theta is that start's own value
    assert model.loglik(res.theta) == pytest.approx(res.loglik, abs=1e-6)


def test_13_ctrl_c_in_the_final_stage_warns_and_keeps_the_finished_starts(monkeypatch):
    """Ctrl-C a few objective calls into the second start of the final stage: the first is kept."""
    model = mm.lca(BIN, BIN_ITEMS, 2)
    original = optimize.maximize
    finals = []

    def maximize(compiled, theta0, bounds, max_iter, n_obs, **kw):
        if kw.get("refine"):
            finals.append(max_iter)
            if len(finals) == 2:
                _interrupt_after(compiled, monkeypatch, 3)
        return original(compiled, theta0, bounds, max_iter, n_obs, **kw)

    monkeypatch.setattr(optimize, "maximize", maximize)
    with pytest.warns(UserWarning, match=r"estimation was interrupted \(KeyboardInterrupt\)"):
        res = model.fit(starts=(4, 2), seed=1, se=None)
    done = [r for r in res.starts.records if r.status in ("completed", "not converged")]
    assert res.starts.interrupted and len(done) == 1
    assert res.loglik == pytest.approx(done[0].final_loglik)


def test_13_ctrl_c_in_the_standard_errors_keeps_the_estimates(monkeypatch):
    model = mm.lca(BIN, BIN_ITEMS, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = model.fit(starts=(2, 1), seed=1, se=None)

    def interrupted(theta):
        raise KeyboardInterrupt

    monkeypatch.setattr(model.compile(), "hessian", interrupted)
    with pytest.warns(UserWarning, match="standard errors were interrupted"):
        res = model.fit(starts=(2, 1), seed=1, se="observed")
    assert res.loglik == pytest.approx(ref.loglik, abs=1e-8) and res.cov_phi is None and res.starts.interrupted


def test_14_collapsed_lpa_variance_is_named():
    """A spike of one value (30% zeros) in a normal item: a class sits on it, its variance at the floor."""
    rng = np.random.default_rng(3)
    n = 300
    d = pd.DataFrame({"y1": np.where(rng.uniform(size=n) < 0.3, 0.0, rng.normal(3, 1, n)),
                      "y2": rng.normal(size=n), "y3": rng.normal(size=n)})
    with pytest.warns(UserWarning, match=r"variance\(s\) \['var\(y1\)\|c#\d'\] collapsed onto their lower bound"):
        mm.lca(d, NORMAL_ITEMS, 2, family="normal").fit(starts=(8, 3), seed=1, se=None)


def test_16_license_is_an_spdx_string():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["license"] == "MIT"
    assert any(r.replace(" ", "").startswith("setuptools>=77") for r in project["build-system"]["requires"])


def test_mlr_cluster_check_counts_clusters_not_rows():
    """The helper itself: 2 clusters are allowed (with the warning), 1 is refused."""
    model = mm.lca(BIN.assign(school=np.arange(len(BIN)) % 2), BIN_ITEMS, 2, cluster="school")
    with pytest.warns(UserWarning, match=r"number of clusters \(2\)"):
        checks.check_mlr_clusters(model, "mlr")
    checks.check_mlr_clusters(model, "observed")  # no check for other SEs
