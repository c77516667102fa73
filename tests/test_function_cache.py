"""The on-disk cache of compiled functions (``estimate/function_cache.py``)."""

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

from mlmix_pymc.estimate import function_cache


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


def test_cache_off(monkeypatch, tmp_path):
    monkeypatch.setenv("MLMIX_FUNCTION_CACHE", "0")
    builds = []
    for _ in range(2):
        function_cache.cached_function(("test", 3), lambda: builds.append(1) or _square_sum())
    assert len(builds) == 2 and function_cache.cache_dir() is None
