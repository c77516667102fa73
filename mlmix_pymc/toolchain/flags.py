"""PyTensor configuration applied before PyTensor is first imported.

PyTensor compiled from pip often fails to find a system BLAS on its own and then runs
matrix products through slow fallbacks. If the user has not set ``blas__ldflags``
(in PYTENSOR_FLAGS or a .pytensorrc), point it at OpenBLAS when the library is present.
"""

from __future__ import annotations

import glob
import os
import sys
from pathlib import Path


def configure_blas() -> None:
    """Set ``blas__ldflags=-lopenblas`` if OpenBLAS exists and nothing else was configured."""
    if "pytensor" in sys.modules:
        return
    flags = os.environ.get("PYTENSOR_FLAGS", "")
    rc_files = [Path.home() / ".pytensorrc", Path(os.environ.get("PYTENSORRC", "/nonexistent"))]
    if "blas__ldflags" in flags or any(p.is_file() and "blas" in p.read_text() for p in rc_files):
        return
    if _linkable_openblas():
        os.environ["PYTENSOR_FLAGS"] = ",".join(f for f in (flags, "blas__ldflags=-lopenblas") if f)


def _linkable_openblas() -> bool:
    """True when ``-lopenblas`` can link: a ``libopenblas.so`` (not only ``.so.0``) is installed."""
    patterns = ["/usr/lib/*/libopenblas.so", "/usr/lib/libopenblas.so", "/usr/lib64/libopenblas.so",
                "/usr/local/lib/libopenblas.so"]
    return any(glob.glob(p) for p in patterns)


# What ``import pymc`` appends to PyTensor's ``gcc__cxxflags`` (pymc/__init__.py,
# ``__set_compiler_flags``). The flags are part of every C module's cache key, so without
# them here a module compiled before PyMC is imported (an ML fit, ``mlmix warmup``) would
# not serve a process that has imported it, and the reverse: every module compiled twice.
PYMC_CXXFLAGS = ("-Wno-c++11-narrowing", "-fno-exceptions", "-fno-unwind-tables", "-fno-asynchronous-unwind-tables")


def consistent_compiler_flags() -> None:
    """``gcc__cxxflags`` with PyMC's flags exactly once, whether or not (or how often) PyMC
    was imported: one set of C module keys in every process. Other flags are untouched."""
    from pytensor import config

    words = config.gcc__cxxflags.split()
    kept = [w for i, w in enumerate(words) if w not in PYMC_CXXFLAGS or w not in words[:i]]
    kept += [flag for flag in PYMC_CXXFLAGS if flag not in kept]
    if kept != words:
        config.gcc__cxxflags = " ".join(kept)
