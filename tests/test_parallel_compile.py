"""A new function's missing C modules are compiled in parallel and land in PyTensor's
module cache as its own link would leave them (``estimate/parallel_compile.py``)."""

import json
import os
import subprocess
import sys

import numpy as np

# A new process on an empty compiledir builds one function and reports which thread ran
# each g++ (the parallel pre-pass runs in worker threads, PyTensor's own link in the main one).
_CHILD = """
import json, sys, threading
import numpy as np
import pytensor, pytensor.tensor as pt
from pytensor.link.c import cmodule
from mlmix_pymc.estimate import parallel_compile

parallel = sys.argv[1] == "parallel"
parallel_compile.compile_workers = lambda: 2  # as on a 2-core machine, whatever this one has
x, y = pt.vector("x"), pt.matrix("y")
outputs = [pt.softplus(x).sum() + pt.log(y).sum(), y.T @ pt.exp(x), pt.sigmoid(y) * 3.0]
pytensor.function([x], pt.exp(x))  # the C modules every function links (a start-up cost)

threads = []
compile_str = cmodule.GCC_compiler.compile_str
def spied(*args, **kwargs):
    threads.append(threading.current_thread() is threading.main_thread())
    return compile_str(*args, **kwargs)
cmodule.GCC_compiler.compile_str = staticmethod(spied)

if parallel:
    from mlmix_pymc import progress
    progress.NOTICE_AFTER_S = 0.0  # the compile notice as soon as the compile starts
    with progress.compile_notice("the test function", verbose=True), parallel_compile.compiling_in_parallel():
        fn = pytensor.function([x, y], outputs)
else:
    fn = pytensor.function([x, y], outputs)
values = fn(np.array([0.5, -1.0]), np.array([[1.0, 2.0], [3.0, 4.0]]))
print(json.dumps({"workers": threads.count(False), "main": threads.count(True),
                  "values": [np.asarray(v).tolist() for v in values]}))
"""


def _child(compiledir, how):
    env = dict(os.environ, PYTENSOR_FLAGS=f"base_compiledir={compiledir}")
    out = subprocess.run([sys.executable, "-c", _CHILD, how], capture_output=True, text=True, check=True, env=env)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]), notice=out.stderr.strip().splitlines()[-1:])


def _check_values(values):
    x, y = np.array([0.5, -1.0]), np.array([[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_allclose(values[0], np.log1p(np.exp(x)).sum() + np.log(y).sum(), rtol=1e-13)
    np.testing.assert_allclose(values[1], y.T @ np.exp(x), rtol=1e-13)
    np.testing.assert_allclose(values[2], 3.0 / (1.0 + np.exp(-y)), rtol=1e-13)


def test_missing_modules_compile_in_parallel_into_pytensors_cache(tmp_path):
    built = _child(tmp_path, "parallel")
    assert built["workers"] >= 2  # the function's new modules, compiled by the worker threads
    assert built["main"] == 0  # and PyTensor's link found every one of them in its cache
    _check_values(built["values"])
    (notice,) = built["notice"]  # the user is told what took the time
    assert notice.startswith("mlmix_pymc: compiling the test function (once) ...")
    assert f" {built['workers']} C modules on 2 cores, compiled in " in notice and notice.endswith(" s")
    again = _child(tmp_path, "plain")  # PyTensor alone, in a new process: nothing to compile
    assert again == dict(built, workers=0, notice=again["notice"])
    assert again["notice"] == [] or "compiling" not in again["notice"][0]
