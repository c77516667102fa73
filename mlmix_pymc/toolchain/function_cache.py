"""Compiled PyTensor functions kept on disk, keyed on the graph's structure.

PyTensor caches the C modules it compiles, but not its graph rewriting: building a
function again in a new session re-runs the rewrites (seconds for the two-level graphs,
over 10 s for the Laplace third-derivative graph) even when every C module is cached. A
compiled function pickles with its rewritten graph, and unpickling only links the cached
C modules, so a function built once is loaded in a new session in well under a second.
Each file holds two pickles: first the names of the C modules the function links (read
first, so that only those are looked up: ``module_index.py``), then the function.

The key is the graph signature (``cluster_engine.graph_signature``: everything the symbolic
graph depends on, not the data values, which are inputs) plus a fingerprint of this
library's source, PyTensor's, NumPy's and Python's versions: a changed graph-building
code gets new entries, never a stale function. Files live next to PyTensor's own cache
(``<compiledir>/mlmix_functions``), are written atomically (parallel test workers), and
any unreadable entry is rebuilt. ``MLMIX_FUNCTION_CACHE=0`` (``off``, ``false``, ``no``, any
case) turns the cache off;
``MLMIX_FUNCTION_CACHE=<dir>`` moves it. Like PyTensor's cache, it trusts its directory.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import hashlib
import os
import pickle
import sys
from functools import lru_cache
from pathlib import Path

import numpy as np

from .atomic_files import write_atomically

MAX_ENTRIES = 200  # the oldest files beyond this are removed when a new one is written


def cache_dir() -> Path | None:
    """Where compiled functions are kept, or None when the cache is off."""
    setting = os.environ.get("MLMIX_FUNCTION_CACHE", "")
    if setting.strip().lower() in ("0", "off", "false", "no"):  # as ``MLMIX_PROBE_CACHE``
        return None
    if setting:
        return Path(setting)
    import pytensor

    return Path(pytensor.config.compiledir) / "mlmix_functions"


@lru_cache(maxsize=1)
def fingerprint() -> str:
    """A hash of this package's source files and the versions the pickles depend on."""
    import pytensor

    package = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(str(path.relative_to(package)).encode())
        digest.update(path.read_bytes())
    digest.update(f"{pytensor.__version__}|{np.__version__}|{sys.version}".encode())
    return digest.hexdigest()


def canonical(obj):
    """A deterministic, complete text form of a key (arrays in full, dataclasses by field)."""
    if isinstance(obj, np.ndarray):
        return f"nd({obj.dtype.str},{obj.shape},{obj.tobytes().hex()})"
    if isinstance(obj, bytes):
        return f"b({obj.hex()})"
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        fields = ",".join(f"{f.name}={canonical(getattr(obj, f.name))}" for f in dataclasses.fields(obj))
        return f"{type(obj).__qualname__}({fields})"
    if isinstance(obj, dict):
        return "{" + ",".join(f"{canonical(k)}:{canonical(v)}" for k, v in sorted(obj.items(), key=repr)) + "}"
    if isinstance(obj, (tuple, list)):
        return ("(" if isinstance(obj, tuple) else "[") + ",".join(canonical(v) for v in obj) + ")"
    if isinstance(obj, (str, int, float, bool, type(None), np.integer, np.floating)):
        return repr(obj)
    raise TypeError(f"cannot key a compiled function on a {type(obj).__name__}")


def cached_function(key: tuple, build):
    """The compiled function of ``key``: loaded from disk, or ``build()`` and stored."""
    from .compiler_probes import remembered_probes

    with remembered_probes():  # no toolchain probes in a process that loads cached functions
        return _cached_function(key, build)


def _cached_function(key: tuple, build):
    from .flags import consistent_compiler_flags
    from .module_index import preload

    consistent_compiler_flags()  # a stored function links modules of these flags' keys (import pymc adds them again)

    folder = cache_dir()
    path = None  # None: compiled, never stored (the cache is off, or the key has no complete text form)
    if folder is not None:
        try:
            path = folder / (hashlib.sha256((fingerprint() + canonical(key)).encode()).hexdigest()[:40] + ".pkl")
        except TypeError:
            pass
    if path is not None and path.exists():
        try:
            with open(path, "rb") as fh, collector_paused(promote=True):
                header = pickle.load(fh)  # the C modules it links, read before it links them
                preload(header["c_modules"])
                return pickle.load(fh)
        except Exception:  # noqa: BLE001 - a truncated or incompatible entry: rebuild it
            pass
    with collector_paused():
        fn = build()
    if path is not None:
        try:
            _store(folder, path, fn)
        except Exception:  # noqa: BLE001 - a read-only or full disk: the function still works
            pass
    return fn


@contextlib.contextmanager
def collector_paused(promote: bool = False):
    """Python's cyclic garbage collector off (as it was before, after).

    Compiling or unpickling a function allocates 10^5-10^6 objects that stay alive, and with
    a heap the size of PyMC's the collections this triggers cost a third of a load and a
    quarter of a compile (the rewrites' garbage is collected once, after). ``promote``: the
    new objects (a loaded function: none of them garbage) go straight to the oldest
    generation, so the first young collections after this do not scan them all (~0.1 s);
    the next full collection scans them like any long-lived object. Not done when the
    user has frozen objects (``gc.freeze``), which this would release.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if promote and gc.get_freeze_count() == 0:
            gc.freeze()
            gc.unfreeze()
        if was_enabled:
            gc.enable()


def slimmed(fn):
    """``fn`` without what its graph keeps from the rewriting, which it no longer needs.

    The rewrites leave the graph's client maps (its own and the destroy handler's) holding
    every variable they ever created (thousands for the Laplace graph) and the shape
    feature its shape graphs; pickled, those are about 85% of the file and of the load
    time. Only entries of variables no longer in the graph are dropped, so linking and
    running the function (its toposort and the inplace orderings) see the same graph.
    """
    graph = getattr(getattr(fn, "maker", None), "fgraph", None)
    if graph is None:
        return fn
    live = graph.variables
    handler = getattr(graph, "destroy_handler", None)
    for clients in (graph.clients, getattr(handler, "clients", {})):
        for var in [v for v in clients if v not in live]:
            del clients[var]
    if hasattr(graph, "shape_feature"):
        graph.remove_feature(graph.shape_feature)
    return fn


def _store(folder: Path, path: Path, fn) -> None:
    from .module_index import module_dirs

    header = {"c_modules": module_dirs(fn)}
    write_atomically(path, pickle.dumps(header, protocol=pickle.HIGHEST_PROTOCOL)
                     + pickle.dumps(slimmed(fn), protocol=pickle.HIGHEST_PROTOCOL))
    entries = sorted(folder.glob("*.pkl"), key=lambda p: p.stat().st_mtime)
    for old in entries[:-MAX_ENTRIES]:
        old.unlink(missing_ok=True)
