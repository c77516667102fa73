"""``mlmix warmup`` (mlmix_pymc/warmup.py): the modules it compiles serve other models.

The counting runs in child processes on empty compile caches of their own, so it does not
depend on what this test session compiled before (and does not fill its cache).
"""

import json
import os
import subprocess
import sys

import pytest

from mlmix_pymc.errors import SpecificationError
from mlmix_pymc.warmup import MODELS, warm_up

# A 3-class LCA of four binary items, no SEs: other classes, items and options than the
# warm-up's "lca" model (2 classes, 5 items, observed SEs), so its compiled function is not
# reused whole, only modules of the same operations. Prints (modules compiled for the fit,
# loglik, the warm-up's table as records).
CHILD = r"""
import json, sys, warnings
import numpy as np, pandas as pd
import mlmix_pymc as mm
from mlmix_pymc.toolchain.parallel_compile import modules_compiled
from mlmix_pymc.warmup import warm_up
table = warm_up(sys.argv[1:], report=None) if sys.argv[1:] else None
rng = np.random.default_rng(5)
c = rng.integers(0, 3, 300)
y = (rng.uniform(size=(300, 4)) < np.array([[0.9] * 4, [0.9, 0.9, 0.1, 0.1], [0.1] * 4])[c]).astype(int)
df = pd.DataFrame(y, columns=["a", "b", "d", "e"])
before = modules_compiled()
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    res = mm.lca(df, list(df.columns), 3).fit(starts=(0, 0), se=None, verbose=False)
print(json.dumps(dict(modules=modules_compiled() - before, loglik=float(res.loglik),
                      table=None if table is None else table.to_dict("records"))))
"""


def _child(tmp_path, name, *warm_models):
    env = dict(os.environ, PYTENSOR_FLAGS=f"base_compiledir={tmp_path / name}")
    env.pop("MLMIX_FUNCTION_CACHE", None)
    proc = subprocess.run([sys.executable, "-c", CHILD, *warm_models], capture_output=True, text=True, env=env,
                          timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_unknown_model_is_named():
    with pytest.raises(SpecificationError, match=r"unknown model\(s\) \['lcaa'\].*'lca'"):
        warm_up(["lcaa"], report=None)


def test_every_model_names_what_it_covers():
    assert len(MODELS) >= 10
    for name, (covers, build) in MODELS.items():
        assert covers and callable(build), name


def test_a_new_model_compiles_few_modules_after_the_warm_up(tmp_path):
    from mlmix_pymc.toolchain.parallel_compile import compile_workers

    if compile_workers() < 2:
        pytest.skip("one core: modules are compiled by PyTensor's link, not counted")
    cold = _child(tmp_path, "empty")
    warmed = _child(tmp_path, "warmed", "lca")
    (row,) = warmed["table"]
    assert row["model"] == "lca" and row["error"] == "" and row["modules"] >= 20
    assert cold["modules"] >= 20
    assert warmed["modules"] <= cold["modules"] // 4  # most of the 3-class LCA's modules were the warm-up's
    assert warmed["loglik"] == pytest.approx(cold["loglik"], abs=1e-8)


KEYS_CHILD = r"""
import mlmix_pymc
import pytensor, pytensor.tensor as pt
from pytensor import config
from pytensor.graph.fg import FunctionGraph
from pytensor.link.c.basic import CLinker
from mlmix_pymc.toolchain.flags import consistent_compiler_flags
x = pt.dvector("x")
node = (pt.exp(x) * 2 + x).owner
def key():
    return CLinker().accept(FunctionGraph(node.inputs, node.outputs), no_recycling=[]).cmodule_key()
before = key()
import pymc  # appends its compiler flags to gcc__cxxflags (again)
appended = key()
consistent_compiler_flags()
print(before == key(), before == appended, config.gcc__cxxflags.split().count("-fno-exceptions"))
"""


def test_modules_compiled_before_pymc_is_imported_serve_after_it():
    proc = subprocess.run([sys.executable, "-c", KEYS_CHILD], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    same_after_fix, same_without_fix, count = proc.stdout.split()
    assert same_without_fix == "False"  # PyMC's import alone changes every module's key
    assert same_after_fix == "True" and count == "1"


def test_consistent_compiler_flags_keeps_other_flags_and_each_pymc_flag_once():
    from pytensor import config

    from mlmix_pymc.toolchain.flags import PYMC_CXXFLAGS, consistent_compiler_flags

    saved = config.gcc__cxxflags
    try:
        config.gcc__cxxflags = f"-DMINE -I /opt/x -fno-exceptions -I /opt/y {' '.join(PYMC_CXXFLAGS)}"
        consistent_compiler_flags()
        assert config.gcc__cxxflags.split() == ["-DMINE", "-I", "/opt/x", "-fno-exceptions", "-I", "/opt/y",
                                                 "-Wno-c++11-narrowing", "-fno-unwind-tables",
                                                 "-fno-asynchronous-unwind-tables"]
    finally:
        config.gcc__cxxflags = saved
