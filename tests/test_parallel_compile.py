"""A new function's missing C modules are compiled in parallel and land in PyTensor's
module cache as its own link would leave them (``toolchain/parallel_compile.py``)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from mlmix_pymc.toolchain import precompiled_headers

# A new process on an empty compiledir builds one function and reports which thread ran
# each g++ (the parallel pre-pass runs in worker threads, PyTensor's own link in the main one).
_CHILD = """
import json, sys, threading
import numpy as np
import pytensor, pytensor.tensor as pt
from pytensor.link.c import cmodule
from mlmix_pymc.toolchain import parallel_compile

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


# Precompiled headers (``toolchain/precompiled_headers.py``): a new process on an empty
# compiledir compiles two functions; the first makes the header of the include block its
# modules share, the second's new modules are compiled with it.
_HEADER_CHILD = """
import json, os
import numpy as np
import pytensor, pytensor.tensor as pt
from mlmix_pymc.toolchain import parallel_compile, precompiled_headers

parallel_compile.compile_workers = lambda: 2
precompiled_headers.MIN_MODULES = 1  # a header even for the few modules of a test function
x, y = pt.vector("x"), pt.matrix("y")
pytensor.function([x], pt.exp(x))
with parallel_compile.compiling_in_parallel():
    first = pytensor.function([x, y], [pt.softplus(x).sum() + pt.log(y).sum(), pt.sigmoid(y) * 3.0])
compiled, with_header = parallel_compile.modules_compiled(), parallel_compile.modules_with_header()
with parallel_compile.compiling_in_parallel():
    second = pytensor.function([x, y], [pt.log1p(pt.exp(y) * 2.5).sum(axis=0), (pt.tanh(x) ** 3).max()])
values = first(np.array([0.5, -1.0]), np.array([[1.0, 2.0], [3.0, 4.0]]))
values += second(np.array([0.5, -1.0]), np.array([[1.0, 2.0], [3.0, 4.0]]))
root = os.path.join(pytensor.config.compiledir, "mlmix_pch")
headers = sorted(os.listdir(root)) if os.path.isdir(root) else []
sources = [json.load(open(os.path.join(root, h, "sources.json"))) for h in headers]
print(json.dumps({"second_compiled": parallel_compile.modules_compiled() - compiled,
                  "second_with_header": parallel_compile.modules_with_header() - with_header,
                  "headers": headers, "sources": [sorted(s) for s in sources],
                  "values": [np.asarray(v).tolist() for v in values]}))
"""


@pytest.mark.skipif(not precompiled_headers.supported(), reason="GCC's precompiled headers only")
def test_modules_are_compiled_with_a_precompiled_header_of_their_includes(tmp_path):
    env = dict(os.environ, PYTENSOR_FLAGS=f"base_compiledir={tmp_path}")
    out = subprocess.run([sys.executable, "-c", _HEADER_CHILD], capture_output=True, text=True, check=True, env=env)
    built = json.loads(out.stdout.strip().splitlines()[-1])
    assert built["headers"]  # made by the first function
    assert built["second_compiled"] >= 2  # the second function's new modules ...
    assert built["second_with_header"] == built["second_compiled"]  # ... all loaded the ready header
    assert any(path.endswith("/Python.h") for listed in built["sources"] for path in listed)
    x, y = np.array([0.5, -1.0]), np.array([[1.0, 2.0], [3.0, 4.0]])
    expected = [np.log1p(np.exp(x)).sum() + np.log(y).sum(), 3.0 / (1.0 + np.exp(-y)),
                np.log1p(np.exp(y) * 2.5).sum(axis=0), (np.tanh(x) ** 3).max()]
    for value, closed_form in zip(built["values"], expected, strict=True):
        np.testing.assert_allclose(value, closed_form, rtol=1e-13)


_STALE_CHILD = """
import json, os, sys
from mlmix_pymc.toolchain import precompiled_headers as ph

include = sys.argv[1]
def header():
    ph._fresh.clear()  # as a new process would find it
    return ph.PrecompiledHeader('#include "mine.h"\\n', ["-O2"], [include])
first = header()
built = first.build()
again = header().ready  # kept
with open(os.path.join(include, "mine.h"), "a") as f:
    f.write("static const int changed = 2;\\n")
stale = header()
ready_when_stale = stale.ready
rebuilt = stale.build()
manifest = json.load(open(os.path.join(stale.directory, "sources.json")))
broken = ph.PrecompiledHeader('#include "missing.h"\\n', ["-O2"], [include])
print(json.dumps({"built": built, "again": again, "ready_when_stale": ready_when_stale, "rebuilt": rebuilt,
                  "same_place": stale.directory == first.directory,
                  "manifest_size": manifest[os.path.join(include, "mine.h")][0],
                  "broken_built": broken.build(), "broken_left": os.path.exists(broken.directory)}))
"""


@pytest.mark.skipif(not precompiled_headers.supported(), reason="GCC's precompiled headers only")
def test_a_precompiled_header_is_rebuilt_when_its_sources_change_and_never_made_from_broken_ones(tmp_path):
    include = tmp_path / "include"
    include.mkdir()
    (include / "mine.h").write_text("#pragma once\nstatic const int mine = 1;\n")
    env = dict(os.environ, PYTENSOR_FLAGS=f"base_compiledir={tmp_path / 'cache'}")
    out = subprocess.run([sys.executable, "-c", _STALE_CHILD, str(include)], capture_output=True, text=True,
                         check=True, env=env)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["built"] and result["again"]
    assert not result["ready_when_stale"]  # a header made from an older mine.h is not used ...
    assert result["rebuilt"] and result["same_place"]  # ... but made again
    assert result["manifest_size"] == (include / "mine.h").stat().st_size
    assert not result["broken_built"] and not result["broken_left"]
