"""The ``mlmix`` command: demo and fit of a spec file."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import mlmix_pymc as mm
from mlmix_pymc.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_mlmix_demo_console_script(tmp_path):
    exe = shutil.which("mlmix", path=str(Path(sys.executable).parent))
    assert exe, "the mlmix console script is installed with the package"
    out = subprocess.run([exe, "demo", "--json", str(tmp_path / "demo.json")], capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr
    assert "Loglikelihood" in out.stdout and "MODEL RESULTS" in out.stdout
    result = json.loads((tmp_path / "demo.json").read_text())
    # the 2-class LCA of LSAT section 6; StepMix finds the same optimum (-2467.4055)
    assert result["loglik"] == pytest.approx(-2467.4055, abs=1e-3)


def test_mlmix_fit_example_spec(tmp_path, capsys):
    rc = main(["fit", str(ROOT / "examples" / "lsat_lca.yaml"), "--json", str(tmp_path / "fit.json")])
    assert rc == 0
    assert "Loglikelihood" in capsys.readouterr().out
    result = json.loads((tmp_path / "fit.json").read_text())
    assert result["se_method"] == "mlr"
    assert result["n_params"] == 11


def test_mlmix_fit_reports_spec_errors(tmp_path, capsys):
    spec = tmp_path / "bad.yaml"
    spec.write_text("data: nothere.csv\nclass_variables: [{name: c, n_classes: 2}]\nindicators: [u1]\n")
    assert main(["fit", str(spec)]) == 2
    assert "nothere.csv" in capsys.readouterr().err


def test_mlmix_fit_reports_unknown_column(tmp_path, capsys):
    (tmp_path / "d.csv").write_text("a,b\n0,1\n1,0\n")
    spec = tmp_path / "s.yaml"
    spec.write_text("data: d.csv\nclass_variables: [{name: c, n_classes: 1}]\nindicators: [a, zz]\n")
    assert main(["fit", str(spec)]) == 2
    assert "column 'zz' is not in the data" in capsys.readouterr().err


def test_mlmix_fit_two_level_spec(tmp_path, capsys):
    """Model 5 of the paper from YAML: between class, random intercept, adaptive quadrature."""
    rc = main(["fit", str(ROOT / "examples" / "model5_between.yaml"), "--json", str(tmp_path / "m5.json")])
    assert rc == 0
    out = capsys.readouterr().out
    assert "Number of clusters                            100" in out and "adaptive" in out
    result = json.loads((tmp_path / "m5.json").read_text())
    est = {p["name"]: p["estimate"] for p in result["parameters"]}
    # generated with mu = (1, 0), beta = (0.2, 0.8), var(u) = 0.2, var(e) = 1 (examples/section5_data.py)
    assert est["y|cb#1"] == pytest.approx(1.0, abs=0.3) and est["y|cb#2"] == pytest.approx(0.0, abs=0.3)
    assert est["y ON x|cb#1"] == pytest.approx(0.2, abs=0.2) and est["y ON x|cb#2"] == pytest.approx(0.8, abs=0.2)
    assert est["var(u)"] == pytest.approx(0.2, abs=0.15)


def test_fit_spec_with_a_factor_is_the_2pl(lsat):
    """A YAML spec with a within-level factor (the 2PL) fits through the CLI path like mm.irt."""
    from mlmix_pymc.cli import fit_spec
    from mlmix_pymc.spec import ModelSpec

    items = ["item1", "item2", "item3", "item4", "item5"]
    text = ("class_variables: [{name: c, n_classes: 1}]\n"
            f"indicators: {items}\n"
            f"factors: [{{name: f, indicators: {items}}}]\n"
            "analysis: {starts: [0, 0], points: 31, se: observed}\n")
    result = fit_spec(ModelSpec.from_yaml(text), lsat)
    direct = mm.irt(lsat, items, model="2pl").fit(starts=(0, 0), points=31)
    assert result.loglik == pytest.approx(direct.loglik, abs=1e-8)
    assert "f BY item2" in result.summary()


def test_mlmix_fit_saves_class_probabilities_and_the_result(tmp_path, capsys):
    probs, saved = tmp_path / "probs.csv", tmp_path / "result.json"
    rc = main(["fit", str(ROOT / "examples" / "lsat_lca.yaml"), "--save-probabilities", str(probs),
               "--save", str(saved)])
    assert rc == 0
    import pandas as pd

    table = pd.read_csv(probs, index_col="row")
    loaded = mm.load_result(saved)
    expected = loaded.posterior_probabilities()
    assert list(table.columns) == list(expected.columns)
    assert len(table) == len(expected)
    assert abs(table["c=1"].to_numpy() - expected["c=1"].to_numpy()).max() < 1e-12
    assert (table["most_likely_c"].to_numpy() == expected["most_likely_c"].to_numpy()).all()


def test_mlmix_warmup_names_an_unknown_model(capsys):
    assert main(["warmup", "lca", "nope"]) == 2  # checked before anything is compiled
    err = capsys.readouterr().err
    assert "unknown model(s) ['nope']" in err and "'two-level'" in err
