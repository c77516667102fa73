"""Loading a stored function reads only the C modules it links (``toolchain/module_index.py``)."""

import json
import pickle
import subprocess
import sys

import numpy as np
import pytest

# A new process (PyTensor's module cache is created once per process) that loads or builds
# one small function through the function cache and reports what its module cache did.
_CHILD = """
import json, os, sys
import numpy as np
os.environ["MLMIX_FUNCTION_CACHE"] = sys.argv[1]
import pytensor, pytensor.tensor as pt
from pytensor.link.c import cmodule
from mlmix_pymc.toolchain import function_cache

def build():
    x = pt.vector("x")
    return pytensor.function([x], [pt.softplus(x).sum(), pt.exp(x) * 2.0])

fn = function_cache.cached_function(("test-module-index",), build)
total, doubled = fn(np.linspace(-2.0, 2.0, 5))
cache = cmodule._module_cache
print(json.dumps({"cache": type(cache).__name__, "full": getattr(cache, "fully_refreshed", None),
                  "keys_read": len(cache.loaded_key_pkl), "total": float(total), "doubled": doubled.tolist(),
                  "files_match": all(m.__file__ == name for name, m in cache.module_from_name.items())}))
"""


def _child(folder):
    out = subprocess.run([sys.executable, "-c", _CHILD, str(folder)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _header_and_function(path):
    with open(path, "rb") as fh:
        header = pickle.load(fh)
        return header, fh.read()


def _expected():
    x = np.linspace(-2.0, 2.0, 5)
    return np.log1p(np.exp(x)).sum(), 2.0 * np.exp(x)


def _check_values(report):
    total, doubled = _expected()
    assert abs(report["total"] - total) < 1e-12
    np.testing.assert_allclose(report["doubled"], doubled, rtol=1e-15)


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """(folder, report) of a process that built and stored the function."""
    folder = tmp_path_factory.mktemp("functions")
    return folder, _child(folder)  # PyTensor's own cache, which reads the whole compiledir


def test_a_loaded_function_reads_only_its_modules(stored):
    folder, built = stored
    _check_values(built)
    (entry,) = folder.glob("*.pkl")
    header, _ = _header_and_function(entry)
    assert header["c_modules"], "the stored function names the C modules it links"
    loaded = _child(folder)
    _check_values(loaded)
    assert loaded["cache"] == "IndexedModuleCache" and loaded["full"] is False
    assert loaded["keys_read"] == len(header["c_modules"])  # exactly the index, not the compiledir
    assert loaded["files_match"]  # modules imported directly carry their own file
    assert built["keys_read"] > loaded["keys_read"]


def test_an_index_naming_a_missing_module_falls_back_to_the_whole_cache(stored, tmp_path):
    (entry,) = stored[0].glob("*.pkl")
    header, function_bytes = _header_and_function(entry)
    header["c_modules"] = ["tmp-removed-by-another-process"] + header["c_modules"]
    (tmp_path / entry.name).write_bytes(pickle.dumps(header) + function_bytes)
    report = _child(tmp_path)
    _check_values(report)
    assert report["cache"] == "IndexedModuleCache" and report["full"] is True
