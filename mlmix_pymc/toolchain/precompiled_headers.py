"""Precompiled headers for the C modules that ``parallel_compile`` builds.

Every C module PyTensor generates begins with the same block of ``#include`` lines
(``Python.h``, NumPy's ``arrayobject.h``, ``<vector>`` ...). Parsing them is 0.2-0.3 s of
a module's 0.5-1 s ``g++`` run. A ``PrecompiledHeader`` compiles one such block once per
compile directory, with the modules' own flags (GCC's precompiled headers: with
``-include block.h`` g++ loads ``block.h.gch`` instead of parsing the headers, and the
module's own ``#include`` lines then find their include guards set). The module's
machine code is the same, and so is its key in PyTensor's cache.

Modules built here also get ``-g0`` (PyTensor compiles with ``-g``: debugging symbols that
cost compile time and that only a C debugger reads).

A header is built only for a block that several modules share (or that an earlier process
built), checked once by ``g++`` itself (``-Werror=invalid-pch``), and kept with the list of
files it was made from (size and modification time): a header whose files have changed
since (a new NumPy, Python or PyTensor) is built again, never used. Anything that fails
leaves the modules to compile as before, without it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading

from pytensor import config

#: Added to every module compiled in parallel: no debugging symbols (see the module docstring).
FAST_BUILD_ARGS = ("-g0",)

#: A new header is built for an include block shared by at least this many missing
#: modules: building it costs ~1.2 s of one core, and it saves ~0.3 s a module from then on.
MIN_MODULES = 4

_HEADER_NAME = "block.h"
_MANIFEST = "sources.json"
_fresh: dict[str, bool] = {}  # directory -> whether its sources were found unchanged (once a process)


def include_block(src_code: str) -> str:
    """The ``#include`` lines a module's source begins with ('' when none)."""
    lines = []
    for line in src_code.splitlines():
        if not line.startswith("#include"):
            break
        lines.append(line)
    return "\n".join(lines) + "\n" if lines else ""


def supported() -> bool:
    """Whether the configured compiler is GCC's ``g++`` (whose precompiled headers this uses)."""
    return bool(config.cxx) and sys.platform.startswith("linux") and "g++" in os.path.basename(config.cxx)


class PrecompiledHeader:
    """One include block precompiled with the flags of the modules that use it.

    ``arguments()`` are the compiler arguments that make a module use it, once ``ready``;
    ``build()`` makes it (in a worker thread; safe against other processes doing the same).
    """

    def __init__(self, block: str, preargs: list[str], include_dirs: list[str]):
        from pytensor.link.c.cmodule import std_include_dirs

        self.block = block
        self.flags = _module_flags(preargs, [d for d in include_dirs if d] + std_include_dirs())
        digest = hashlib.sha256(json.dumps([config.cxx, self.flags, block]).encode()).hexdigest()[:24]
        self.directory = os.path.join(config.compiledir, "mlmix_pch", digest)
        self.header = os.path.join(self.directory, _HEADER_NAME)
        self._built = threading.Event()
        if _is_fresh(self.directory):
            self._built.set()

    @property
    def ready(self) -> bool:
        """Whether the header exists, is valid and was made from the files there now."""
        return self._built.is_set()

    def arguments(self) -> list[str]:
        """The module compiler arguments that load this header."""
        return ["-include", self.header]

    def build(self) -> bool:
        """Compile the header (once: an up-to-date one is kept); True when it is ready."""
        if self.ready:
            return True
        parent = os.path.dirname(self.directory)
        try:
            os.makedirs(parent, exist_ok=True)
            work = tempfile.mkdtemp(prefix="build-", dir=parent)
        except OSError:
            return False
        try:
            if self._compile_into(work):
                if not _is_fresh(self.directory, again=True):  # none there yet, or a stale one
                    shutil.rmtree(self.directory, ignore_errors=True)
                    try:
                        os.rename(work, self.directory)
                    except OSError:  # another process has just put one there: use that one
                        pass
                if _is_fresh(self.directory, again=True):
                    self._built.set()
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return self.ready

    def _compile_into(self, work: str) -> bool:
        header = os.path.join(work, _HEADER_NAME)
        with open(header, "w") as f:
            f.write(self.block)
        deps = os.path.join(work, "deps.d")
        made = _run([config.cxx, *self.flags, "-x", "c++-header", "-MD", "-MF", deps, "-o", header + ".gch", header])
        # g++ checks that a module compiled with these flags would load it, and fails if not
        checked = made and _run([config.cxx, *self.flags, "-include", header, "-Winvalid-pch", "-Werror=invalid-pch",
                                 "-fsyntax-only", "-x", "c++", os.devnull])
        if not checked:
            return False
        sources = [path for path in _dependencies(deps) if os.path.abspath(path) != os.path.abspath(header)]
        with open(os.path.join(work, _MANIFEST), "w") as f:
            json.dump({path: _signature(path) for path in sources}, f)
        os.remove(deps)
        return True


def _module_flags(preargs: list[str], include_dirs: list[str]) -> list[str]:
    """The flags ``GCC_compiler.compile_str`` gives a module's ``g++`` (less those that only
    concern linking), followed by ``FAST_BUILD_ARGS``: a header loads only into a compile
    with the same ones."""
    flags = ["-g"]
    flags += [p for p in preargs if not p.startswith("-O")] if config.cmodule__remove_gxx_opt else list(preargs)
    flags += [*FAST_BUILD_ARGS, *(f"-I{d}" for d in include_dirs), "-fvisibility=hidden"]
    return flags


def _run(command: list[str]) -> bool:
    try:
        return subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              timeout=300).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def _dependencies(deps_file: str) -> list[str]:
    """The files a ``-MD`` dependency file lists (after the target)."""
    with open(deps_file) as f:
        text = f.read().replace("\\\n", " ")
    _, _, listed = text.partition(": ")
    return listed.split()


def _signature(path: str) -> list[int]:
    stat = os.stat(path)
    return [stat.st_size, stat.st_mtime_ns]


def _is_fresh(directory: str, again: bool = False) -> bool:
    """Whether ``directory`` holds a built header whose source files are unchanged (looked
    at once a process, or ``again``)."""
    if again or directory not in _fresh:
        try:
            with open(os.path.join(directory, _MANIFEST)) as f:
                sources = json.load(f)
            fresh = os.path.isfile(os.path.join(directory, _HEADER_NAME + ".gch")) and all(
                _signature(path) == signature for path, signature in sources.items())
        except (OSError, ValueError):
            fresh = False
        _fresh[directory] = fresh
    return _fresh[directory]
