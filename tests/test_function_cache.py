"""The on-disk cache of compiled functions (``toolchain/function_cache.py``)."""

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

from mlmix_pymc.toolchain import function_cache


def _square_sum():
    x = pt.vector("x")
    return pytensor.function([x], [(x**2).sum(), pytensor.grad((x**2).sum(), x)])


def test_keys_are_complete_and_deterministic():
    a = np.zeros(5000)
    b = a.copy()
    b[4321] = 1.0  # numpy's repr would summarize both arrays to the same text
    assert function_cache.canonical(("k", a)) != function_cache.canonical(("k", b))
    assert function_cache.canonical(("k", a, {"z": 1, "a": (2, None)})) == \
        function_cache.canonical(("k", a.copy(), {"a": (2, None), "z": 1}))
    with pytest.raises(TypeError, match="cannot key"):
        function_cache.canonical((object(),))


def test_stored_function_is_loaded_and_a_corrupt_entry_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("MLMIX_FUNCTION_CACHE", str(tmp_path))
    builds = []

    def build():
        builds.append(1)
        return _square_sum()

    first = function_cache.cached_function(("test", 1), build)
    again = function_cache.cached_function(("test", 1), build)
    assert len(builds) == 1  # the second came from disk
    x = np.array([1.0, -2.0, 3.0])
    assert again(x)[0] == pytest.approx(14.0)
    np.testing.assert_allclose(again(x)[1], first(x)[1])
    (entry,) = tmp_path.glob("*.pkl")
    entry.write_bytes(b"not a pickle")
    rebuilt = function_cache.cached_function(("test", 1), build)
    assert len(builds) == 2 and rebuilt(x)[0] == pytest.approx(14.0)
    function_cache.cached_function(("test", 2), build)  # another key, another entry
    assert len(builds) == 3 and len(list(tmp_path.glob("*.pkl"))) == 2


def test_collector_paused_promotes_a_loaded_function_and_keeps_a_user_freeze(tmp_path, monkeypatch):
    import gc

    def young():  # objects the next young collections would scan
        return len(gc.get_objects(generation=0)) + len(gc.get_objects(generation=1))

    monkeypatch.setenv("MLMIX_FUNCTION_CACHE", str(tmp_path))
    function_cache.cached_function(("test", "gc"), _rewritten_function)  # stored
    gc.collect()
    before = young()
    function_cache.cached_function(("test", "gc"), _rewritten_function)  # loaded: thousands of objects
    assert gc.isenabled() and young() <= before + 50  # they went to the oldest generation
    gc.freeze()  # a user's frozen objects (pre-fork servers) are not released by a load
    try:
        frozen, before = gc.get_freeze_count(), young()
        function_cache.cached_function(("test", "gc"), _rewritten_function)
        # not released (a frozen object that dies meanwhile leaves the count: hence not ==)
        assert frozen // 2 < gc.get_freeze_count() <= frozen
        assert young() > before + 500  # the loaded objects were left young instead
    finally:
        gc.unfreeze()


@pytest.mark.parametrize("setting", ["0", "off", "OFF", " False ", "no"])
def test_cache_off(monkeypatch, tmp_path, setting):
    monkeypatch.setenv("MLMIX_FUNCTION_CACHE", setting)
    builds = []
    for _ in range(2):
        function_cache.cached_function(("test", 3), lambda: builds.append(1) or _square_sum())
    assert len(builds) == 2 and function_cache.cache_dir() is None


def _rewritten_function():
    """A function whose rewrites create and drop many variables (softplus, inplace ops)."""
    x, w = pt.vector("x"), pt.vector("w")
    value = (pt.softplus(x * w) - pt.log1p(pt.exp(-x)) * w).sum()
    grad = pytensor.grad(value, [x, w])
    return pytensor.function([x, w], [value, *grad, pytensor.grad(grad[0].sum(), x)])


def test_slimmed_pickle_is_smaller_and_computes_the_same():
    import pickle

    full = pickle.dumps(_rewritten_function())
    fn = _rewritten_function()
    graph = fn.maker.fgraph
    assert any(v not in graph.variables for v in graph.clients)  # what slimming removes exists
    slim = pickle.dumps(function_cache.slimmed(fn))
    assert len(slim) < 0.8 * len(full)
    x, w = np.linspace(-3, 3, 7), np.linspace(0.5, 2, 7)
    expected = [np.array(o) for o in _rewritten_function()(x, w)]
    for loaded in (pickle.loads(slim), fn):  # the slimmed pickle and the live slimmed function
        for got, want in zip(loaded(x, w), expected):
            np.testing.assert_array_equal(got, want)


def test_compiler_probes_round_trip(tmp_path, monkeypatch):
    from pytensor.link.c.cmodule import GCC_compiler
    from pytensor.tensor import blas_c

    from mlmix_pymc.toolchain import compiler_probes

    if compiler_probes._cpu_identity() is None:
        pytest.skip("no /proc/cpuinfo: probes are not stored")
    monkeypatch.setattr(compiler_probes, "_folder", lambda: tmp_path)
    monkeypatch.setattr(compiler_probes, "_settled", {})  # as in a new process: nothing read or written yet
    GCC_compiler.compile_args()  # PyTensor's own detection (or the value this process has)
    detected = list(GCC_compiler.march_flags)
    compiler_probes.store_probes()
    monkeypatch.setattr(GCC_compiler, "march_flags", None)
    monkeypatch.setattr(blas_c.must_initialize_y_gemv, "_force_init_beta", None)
    assert "march_flags" in compiler_probes.load_probes()
    assert GCC_compiler.march_flags == detected
    # another CPU (or compiler) reads nothing; a corrupt file is ignored
    monkeypatch.setattr(GCC_compiler, "march_flags", None)
    monkeypatch.setattr(compiler_probes, "_cpu_identity", lambda: "another cpu")
    assert compiler_probes.load_probes() == [] and GCC_compiler.march_flags is None
    monkeypatch.undo()  # this CPU again, its stored file corrupt: ignored
    monkeypatch.setattr(compiler_probes, "_folder", lambda: tmp_path)
    monkeypatch.setattr(compiler_probes, "_settled", {})
    monkeypatch.setattr(GCC_compiler, "march_flags", None)
    compiler_probes._path(compiler_probes._key()).write_text("{not json")
    assert compiler_probes.load_probes() == [] and GCC_compiler.march_flags is None


def test_probes_are_stored_again_under_changed_flags(tmp_path, monkeypatch):
    """Values settled under one key (compiler / BLAS flags) are written again when the key
    changes in the same process (a test changing PyTensor's flags), not taken as stored."""
    import json

    from pytensor.link.c.cmodule import GCC_compiler

    from mlmix_pymc.toolchain import compiler_probes

    if compiler_probes._cpu_identity() is None:
        pytest.skip("no /proc/cpuinfo: probes are not stored")
    monkeypatch.setattr(compiler_probes, "_folder", lambda: tmp_path)
    monkeypatch.setattr(compiler_probes, "_settled", {})
    GCC_compiler.compile_args()
    compiler_probes.store_probes()
    monkeypatch.setattr(compiler_probes, "_key", lambda: "flags changed")
    compiler_probes.store_probes()
    assert len(list(tmp_path.glob("*.json"))) == 2  # one file per key
    stored = json.loads((tmp_path / "flags changed.json").read_text())
    assert stored["march_flags"] == list(GCC_compiler.march_flags)


def test_stored_march_flags_equal_a_fresh_detection():
    """The stored flags are what PyTensor detects in a process that probes (cache off)."""
    import json
    import subprocess
    import sys

    from pytensor.link.c.cmodule import GCC_compiler

    from mlmix_pymc.toolchain import compiler_probes

    if compiler_probes._cpu_identity() is None:
        pytest.skip("no /proc/cpuinfo: probes are not stored")
    with compiler_probes.remembered_probes():
        GCC_compiler.compile_args()
    stored = json.loads(compiler_probes._path(compiler_probes._key()).read_text())["march_flags"]
    code = ("import json, os; os.environ['MLMIX_PROBE_CACHE'] = '0'\n"
            "from pytensor.link.c.cmodule import GCC_compiler\n"
            "GCC_compiler.compile_args(); print(json.dumps(GCC_compiler.march_flags))")
    fresh = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                      check=True).stdout.strip().splitlines()[-1])
    assert stored == fresh


def test_probe_cache_setting(monkeypatch):
    from mlmix_pymc.toolchain import compiler_probes

    for value, off in (("0", True), ("off", True), ("FALSE", True), ("1", False), ("", False)):
        monkeypatch.setenv("MLMIX_PROBE_CACHE", value)
        assert compiler_probes._off() is off
    monkeypatch.setenv("MLMIX_PROBE_CACHE", "nope")
    with pytest.raises(ValueError, match="MLMIX_PROBE_CACHE='nope'"):
        compiler_probes.load_probes()


def test_single_level_functions_are_stored_and_serve_another_data_set(tmp_path, monkeypatch, lsat):
    """A single-level C graph takes its rows as inputs: a second data set of the same structure
    (or a new session) loads the stored functions, builds no graph, and still reaches the
    numpy optimum and standard errors of its own data (``reference_lca.py``)."""
    import reference_lca as ref

    import mlmix_pymc as mm
    from mlmix_pymc.engine import compiled

    monkeypatch.setenv("MLMIX_FUNCTION_CACHE", str(tmp_path))
    items = [f"item{i}" for i in range(1, 6)]
    mm.lca(lsat, items, n_classes=2).fit(seed=1, starts=(4, 2))
    stored = sorted(tmp_path.glob("*.pkl"))
    assert len(stored) >= 2  # the value graph and the Hessian's
    graphs = []
    real_build = compiled.build_loglik
    monkeypatch.setattr(compiled, "build_loglik", lambda *a, **k: graphs.append(1) or real_build(*a, **k))
    other = lsat.sample(frac=0.6, random_state=3)
    result = mm.lca(other, items, n_classes=2).fit(seed=1, starts=(4, 2))
    assert graphs == [] and sorted(tmp_path.glob("*.pkl")) == stored
    y = other[items].to_numpy(dtype=float)
    mle = ref.polish(ref.from_result(result, items), y, 2)
    assert result.loglik == pytest.approx(ref.loglik_rows(mle, y, 2).sum(), abs=1e-6)
    se_numpy = np.sqrt(np.diag(np.linalg.inv(-ref.hessian(mle, y, 2))))[0]
    assert result.parameters.set_index("name").loc["[c#1]", "se"] == pytest.approx(se_numpy, rel=1e-3)
