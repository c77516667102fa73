"""The C modules a stored function links, so that a new process reads only those.

At its first use in a process, PyTensor's ``ModuleCache`` reads every ``key.pkl`` of its
compiledir (0.4 s for 530 entries on 2 cores, more in a user's cache that grows with
every model compiled; each key's fused ``Composite`` ops rebuild their inner graphs to be
hashed), and each module is then imported through ``importlib``'s path machinery, which
lists the compiledir again after invalidating the import caches (~1.5 ms a module). A
function loaded from the function cache (``function_cache.py``) knows which modules it
links: the cache stores their directory names with the function, and
``IndexedModuleCache`` reads only those keys and loads those modules directly.

Nothing else changes: a lookup the index did not cover (a module compiled since, an
entry another process removed, an unreadable key) makes the cache read the whole
compiledir first, which is what PyTensor does at its start, and compiles only what is
missing. The housekeeping PyTensor does at exit (deleting modules unused for 31 days)
needs the whole compiledir, so a process that read only its index leaves it to the next
one that reads everything (any process that compiles).
"""

from __future__ import annotations

import atexit
import importlib.machinery
import importlib.util
import os
import pickle
import sys
import time
import warnings
from pathlib import Path

from pytensor import config
from pytensor.link.c import cmodule


def module_dirs(fn) -> list[str]:
    """Names of the compiledir sub-directories holding the C modules that the compiled
    function ``fn`` links (empty for a function without C thunks, e.g. JAX)."""
    root = Path(config.compiledir).resolve()
    names = set()
    for thunk in getattr(getattr(fn, "vm", None), "thunks", ()):
        module = getattr(getattr(thunk, "thunk", None), "module", None)
        path = getattr(module, "__file__", None)
        if path and Path(path).resolve().parent.parent == root:
            names.add(Path(path).parent.name)
    return sorted(names)


def indexed_cache() -> cmodule.ModuleCache:
    """PyTensor's module cache of this process, an ``IndexedModuleCache`` unless PyTensor
    created its own before (then that one, which has read the whole compiledir)."""
    if cmodule._module_cache is None:
        cache = IndexedModuleCache(config.compiledir)
        cmodule._module_cache = cache
        atexit.register(cache._on_atexit)
    return cmodule._module_cache


def preload(dirs: list[str]) -> None:
    """Make the modules in ``dirs`` known to this process's module cache (see the module
    docstring); nothing to do where the cache has read the whole compiledir."""
    cache = indexed_cache()
    if isinstance(cache, IndexedModuleCache):
        cache.preload(dirs)


class IndexedModuleCache(cmodule.ModuleCache):
    """A ``ModuleCache`` that reads the compiledir's keys lazily: those of ``preload``-ed
    directories at once, all of them at the first lookup that misses. (PyTensor's
    ``module_from_key`` looks a module up by its key, then by its source code's hash,
    which finds the modules whose keys cannot be pickled, and reads the whole
    compiledir before it compiles anything.)"""

    def __init__(self, dirname):
        super().__init__(dirname, do_refresh=False)
        self.fully_refreshed = False

    def refresh(self, *args, **kwargs):
        """PyTensor's refresh (read every key not read yet); remembers that it ran."""
        too_old = super().refresh(*args, **kwargs)
        self.fully_refreshed = True
        return too_old

    def preload(self, dirs: list[str]) -> None:
        """Read the keys of the cache directories ``dirs``: the happy path of ``refresh``.
        At the first directory that is not plainly usable (missing, marked for deletion,
        too old, unreadable, a duplicate, already known) it stops, and the lookups it did
        not cover fall back to a full refresh."""
        if self.fully_refreshed:
            return
        now = time.time()
        for name in dirs:
            root = os.path.join(self.dirname, name)
            key_pkl = os.path.join(root, "key.pkl")
            if key_pkl in self.loaded_key_pkl:
                continue
            try:
                files = os.listdir(root)
                if "delete.me" in files or "key.pkl" not in files:
                    return
                entry = cmodule.module_name_from_dir(root, files=files)
                if now - cmodule.last_access_time(entry) >= self.age_thresh_use:
                    return
                with open(key_pkl, "rb") as fh:
                    key_data = pickle.load(fh)
            except Exception:  # noqa: BLE001 - refresh() will judge (and clean up) this entry
                return
            if (not isinstance(key_data, cmodule.KeyData) or key_data.get_entry() != entry
                    or key_data.module_hash in self.module_hash_to_key_data or not key_data.keys
                    or not all(key[0] for key in key_data.keys)
                    or any(key in self.entry_from_key for key in key_data.keys)):
                return
            self.module_hash_to_key_data[key_data.module_hash] = key_data
            for key in key_data.keys:
                self.entry_from_key[key] = entry
                self.similar_keys.setdefault(cmodule.get_safe_part(key), []).append(key)
            self.loaded_key_pkl.add(key_pkl)

    def _get_module(self, name):
        """A module by its file, imported directly (no ``sys.path`` search)."""
        if name not in self.module_from_name:
            self.module_from_name[name] = _import_extension(name)
            self.stats[1] += 1
        else:
            self.stats[0] += 1
        return self.module_from_name[name]

    def _on_atexit(self):
        """PyTensor's exit housekeeping where this process read the whole compiledir; else
        only the in-memory part (unversioned modules of this process)."""
        if self.fully_refreshed:
            super()._on_atexit()
        else:
            self.clear_unversioned()


def _import_extension(path: str):
    """The compiled module at ``path`` under the name ``cmodule.dlimport`` gives it
    (``<directory>.<file stem>``), loaded by its file's extension loader."""
    suffix = next((s for s in importlib.machinery.EXTENSION_SUFFIXES if path.endswith(s)), None)
    if suffix is None:
        return cmodule.dlimport(path)
    name = ".".join(path.split(os.path.sep)[-2:])[: -len(suffix)]
    loaded = sys.modules.get(name)
    if loaded is not None and getattr(loaded, "__file__", None) == path:
        return loaded
    spec = importlib.util.spec_from_file_location(name, path)
    with warnings.catch_warnings():  # as dlimport: modules built against another numpy minor
        warnings.filterwarnings("ignore", message="numpy.ndarray size changed")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    sys.modules[name] = module
    return module
