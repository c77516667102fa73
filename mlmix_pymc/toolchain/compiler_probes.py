"""PyTensor's per-process compiler probes, remembered across processes.

Before its first C compile or cache lookup, every new Python process has PyTensor probe
the toolchain: g++ for the flags ``-march=native`` stands for (two preprocessor runs and
a test program compiled and run, ~0.4 s) and, for a graph with a matrix-vector product,
the BLAS for whether ``gemv`` reads its output buffer (another program, ~0.15 s). Both
answers are part of the C modules' cache keys, so they must be what PyTensor would find:
this module stores them in PyTensor's compiledir, one small file per key (the compiler's
path, version and user flags, the BLAS flags, PyTensor's version and the CPU's model name
and feature flags, so a compiledir shared by different machines gets one file each, and
processes with different keys never overwrite each other's), and sets them in later
processes, which skips the probes. Where the CPU cannot be identified (no
``/proc/cpuinfo``) nothing is stored or read; ``MLMIX_PROBE_CACHE=0`` (or ``off``,
``false``) turns it off, as ``MLMIX_FUNCTION_CACHE`` does the function cache.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
from functools import lru_cache
from pathlib import Path

from .atomic_files import write_atomically

FOLDER_NAME = "mlmix_compiler_probes"
_settled: dict = {}  # per key: the probe values this process read from or wrote to the file


@lru_cache(maxsize=1)
def _cpu_identity() -> str | None:
    """The first processor's model name and feature flags, or None where unknown."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    fields = []
    for line in text.split("\n\n", 1)[0].splitlines():
        name, _, value = line.partition(":")
        if name.strip() in ("model name", "flags", "Features", "CPU part"):
            fields.append(value.strip())
    return "|".join(fields) if fields else None


def _key() -> str | None:
    import pytensor
    from pytensor.link.c import cmodule

    cpu = _cpu_identity()
    if cpu is None:
        return None
    parts = (platform.machine(), cpu, pytensor.config.cxx, getattr(cmodule, "gcc_version_str", ""),
             pytensor.config.gcc__cxxflags, pytensor.config.blas__ldflags, pytensor.__version__)
    return hashlib.sha256("\n".join(map(str, parts)).encode()).hexdigest()


def _folder() -> Path:
    import pytensor

    return Path(pytensor.config.compiledir) / FOLDER_NAME


def _path(key: str) -> Path:
    """The file of the probe results stored under ``key``."""
    return _folder() / f"{key}.json"


def _read(key: str) -> dict:
    try:
        entry = json.loads(_path(key).read_text())
    except (OSError, ValueError):
        return {}
    return entry if isinstance(entry, dict) else {}


def _probes() -> dict:
    """name -> (get, set) of each probe's result in PyTensor (absent where PyTensor has
    no such attribute: another version); None means "not probed yet"."""
    from pytensor.link.c.cmodule import GCC_compiler

    out = {}
    if hasattr(GCC_compiler, "march_flags"):
        out["march_flags"] = (lambda: GCC_compiler.march_flags,
                              lambda v: setattr(GCC_compiler, "march_flags", list(v)))
    try:
        from pytensor.tensor.blas_c import must_initialize_y_gemv as gemv
    except ImportError:
        gemv = None
    if gemv is not None and hasattr(gemv, "_force_init_beta"):
        out["gemv_init_y"] = (lambda: gemv._force_init_beta, lambda v: setattr(gemv, "_force_init_beta", bool(v)))
    return out


def _valid(name: str, value) -> bool:
    if name == "march_flags":
        return isinstance(value, list) and all(isinstance(f, str) for f in value)
    return isinstance(value, bool)


def _off() -> bool:
    """True when ``MLMIX_PROBE_CACHE`` switches the stored probes off; another value than
    on / off is refused (a typo must not leave the setting silently ignored)."""
    setting = os.environ.get("MLMIX_PROBE_CACHE", "").strip().lower()
    if setting in ("0", "off", "false", "no"):
        return True
    if setting in ("", "1", "on", "true", "yes"):
        return False
    raise ValueError(f"MLMIX_PROBE_CACHE={os.environ['MLMIX_PROBE_CACHE']!r} is not one of "
                     "0 / off / false (no stored compiler probes) or 1 / on / true (the default)")


def _current(probes: dict) -> dict:
    """The probe results PyTensor has in this process (the probes it has run or was given)."""
    return {name: get() for name, (get, _) in probes.items() if get() is not None}


def load_probes() -> list[str]:
    """Set the probe results stored for this compiler and CPU; the names of those set."""
    probes = _probes()
    if _off() or len(_current(probes)) == len(probes) or (key := _key()) is None:
        return []  # nothing left to set: no file read
    stored = _read(key)
    done = []
    for name, (get, put) in probes.items():
        if get() is None and _valid(name, stored.get(name)):
            put(stored[name])
            done.append(name)
    _settled[key] = _current(probes)
    return done


def store_probes() -> None:
    """Store the probe results PyTensor has in this process (new ones only)."""
    current = _current(_probes())
    if _off() or not current or (key := _key()) is None or current == _settled.get(key):
        return  # nothing this process has not already read or written (under these flags)
    entry = _read(key)
    stored = {**entry, **current}
    if stored != entry:
        try:
            write_atomically(_path(key), json.dumps(stored).encode())
        except OSError:  # a read-only compiledir: PyTensor probes again next time
            return
    _settled[key] = current


@contextlib.contextmanager
def remembered_probes():
    """Around a compile or a load of compiled functions: stored results in, new ones out."""
    load_probes()
    try:
        yield
    finally:
        store_probes()
