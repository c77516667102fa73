"""Every worked example in examples/ runs and asserts its key numbers (small settings).

Each example's ``main(out_dir)`` fits its models, prints its tables, saves its figures and
asserts what it reproduces (recovery of simulated truth within SEs, or the paper's
qualitative result; each module docstring says which). The printed output and the figures
are also copied to ``build/examples/<name>/``, where the documentation (``make docs``, run
after the tests in CI) shows them - the docs never run an example a second time.
"""

from __future__ import annotations

import importlib
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
OUTPUTS = ROOT / "build" / "examples"

NAMES = ["section2_lca_covariates", "section4_lta", "section5_tables", "section6_within_between",
         "section7_gom_vs_lca", "section8_fma_gom", "section9_3pl", "choosing_classes"]


@pytest.fixture(autouse=True, scope="module")
def _agg_backend():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    sys.path.insert(0, str(EXAMPLES))
    yield
    sys.path.remove(str(EXAMPLES))


@pytest.mark.parametrize("name", NAMES)
def test_example_runs_and_asserts_its_numbers(name, tmp_path, capsys):
    module = importlib.import_module(name)
    module.main(tmp_path)                      # raises AssertionError when a key number is off
    printed = capsys.readouterr().out
    assert printed.strip(), f"{name} printed nothing"
    figures = sorted(tmp_path.glob("*.png"))
    assert figures, f"{name} saved no figure"
    keep = OUTPUTS / name                      # for the docs (build/ is ignored by git)
    shutil.rmtree(keep, ignore_errors=True)
    keep.mkdir(parents=True)
    (keep / "output.txt").write_text(printed)
    for png in figures:
        shutil.copy(png, keep / png.name)
