"""The C modules of a new function compiled side by side, before PyTensor links it.

PyTensor links a function node by node and compiles each C module it lacks in turn, one
``g++`` at a time under its compile lock: ~1 s a module, and the first fit of a new model
needs 30-90 of them (fused ``Composite`` ops, and on a new machine the basic ops too).
``PrecompilingVMLinker`` (PyTensor's C virtual-machine linker, used while
``compiling_in_parallel()`` is active) first generates the code of every node whose module
is missing and runs the compilers in threads (``g++`` runs outside the GIL), one per core,
then registers each module in PyTensor's module cache where PyTensor would have put it
(``ModuleCache.module_from_key``). The node-by-node link that follows finds them all there.
Each module is compiled against a precompiled header of its ``#include`` block and without
debugging symbols (``precompiled_headers.py``), and the inner functions of ``Scan`` ops
(the Hessian's ``jacobian`` loop), which PyTensor compiles with its predefined ``"cvm"``
linker, get the same treatment while ``compiling_in_parallel()`` is active.

Anything unusual (an op without C code, a compile error, a module another process has
compiled meanwhile, an internal of PyTensor's cache that differs) leaves that node to
PyTensor's own link, which compiles it as before and reports any error itself.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import os
import shutil
from concurrent.futures import ThreadPoolExecutor

from pytensor import config
from pytensor.compile.mode import Mode, get_default_mode
from pytensor.link.vm import VMLinker

from . import precompiled_headers

_ACTIVE = contextvars.ContextVar("mlmix_parallel_compile", default=False)
_VM_SETTINGS = ("allow_gc", "use_cloop", "callback", "callback_input", "lazy", "schedule", "c_thunks",
                "allow_partial_eval")


_compiled = [0]  # C modules this process compiled in parallel (for the compile notice)
_with_header = [0]  # of which with a precompiled header


def modules_compiled() -> int:
    """C modules this process has compiled through ``precompile`` so far."""
    return _compiled[0]


def modules_with_header() -> int:
    """Of ``modules_compiled()``, those compiled with a precompiled header."""
    return _with_header[0]


def compile_workers() -> int:
    """Compilers run at once: the cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


@contextlib.contextmanager
def compiling_in_parallel():
    """Functions compiled inside, with PyTensor's default C mode, get their missing C
    modules compiled in parallel (``PrecompilingVMLinker``). Other modes are left as they are."""
    from .flags import consistent_compiler_flags

    consistent_compiler_flags()  # a later ``import pymc`` appended its flags again
    mode = _parallel_mode()
    if mode is None:
        yield
        return
    token = _ACTIVE.set(True)
    try:
        with config.change_flags(mode=mode), _scan_inner_functions_precompiled():
            yield
    finally:
        _ACTIVE.reset(token)


@contextlib.contextmanager
def _scan_inner_functions_precompiled():
    """A ``Scan`` (e.g. the loop of ``pytensor.gradient.jacobian`` in the standard errors'
    Hessian) compiles its inner function when it is linked, with ``Mode("cvm", "fast_run")``
    whatever the default mode: its linker is PyTensor's predefined ``"cvm"``, which is made
    a ``PrecompilingVMLinker`` with the same settings while this is active."""
    from pytensor.compile import mode as mode_module

    linkers = mode_module.predefined_linkers
    previous = linkers.get("cvm")
    if type(previous) is not VMLinker:
        yield
        return
    linkers["cvm"] = _precompiling(previous)
    try:
        yield
    finally:
        linkers["cvm"] = previous


def _parallel_mode() -> Mode | None:
    """The default mode with its linker a ``PrecompilingVMLinker``; None where the default
    is not PyTensor's C virtual machine (another linker, no compiler, one core)."""
    base = get_default_mode()
    linker = base.linker
    if (compile_workers() < 2 or not config.cxx or type(base) is not Mode or type(linker) is not VMLinker
            or linker.c_thunks is False):
        return None
    return Mode(linker=_precompiling(linker), optimizer=base.provided_optimizer)


def _precompiling(linker: VMLinker) -> PrecompilingVMLinker:
    """A ``PrecompilingVMLinker`` with the settings of ``linker``."""
    return PrecompilingVMLinker(**{name: getattr(linker, name) for name in _VM_SETTINGS})


class PrecompilingVMLinker(VMLinker):
    """PyTensor's ``VMLinker`` that, while ``compiling_in_parallel()`` is active, compiles
    the function's missing C modules in parallel before linking it (a function loaded from
    the disk cache links with its modules already there: nothing is compiled then)."""

    def make_all(self, *args, **kwargs):
        if _ACTIVE.get():
            try:
                precompile(self.fgraph.toposort())
            except Exception:  # noqa: BLE001 - PyTensor's own link compiles what is still missing
                pass
        return super().make_all(*args, **kwargs)


def precompile(nodes) -> int:
    """Compile, in parallel, the C modules the apply ``nodes`` need and PyTensor's module
    cache lacks; returns how many were compiled."""
    from pytensor.compile.compilelock import lock_ctx

    from .module_index import indexed_cache

    cache = indexed_cache()
    jobs = _missing(nodes, cache)
    if jobs and not getattr(cache, "fully_refreshed", True):
        with lock_ctx():  # an IndexedModuleCache (module_index.py) reads every key first, as
            cache.refresh(cleanup=False)  # PyTensor's link does at its first miss
        jobs = [job for job in jobs if job.key not in cache.entry_from_key]
    jobs = list({job.module_hash: job for job in jobs if not job.same_source_cached(cache)}.values())
    if not jobs:
        return 0
    ready = []
    for job in jobs:
        try:
            job.prepare(cache.dirname)
            ready.append(job)
        except Exception:  # noqa: BLE001 - left to PyTensor's link
            job.register(cache)  # removes the directory, if made
    if not ready:
        return 0
    try:
        to_build = _assign_headers(ready)
    except Exception:  # noqa: BLE001 - compiled without precompiled headers
        to_build = []
        for job in ready:
            job.header = None
    with ThreadPoolExecutor(min(compile_workers(), len(ready))) as pool:
        for header in to_build:  # first: the modules compiled meanwhile go without it
            pool.submit(header.build)
        built = list(pool.map(_ModuleJob.build, ready))
    registered = [job for job in built if job.register(cache)]
    _compiled[0] += len(registered)
    _with_header[0] += sum(job.with_header for job in registered)
    return len(registered)


def _assign_headers(jobs: list[_ModuleJob]) -> list[precompiled_headers.PrecompiledHeader]:
    """Give each job the precompiled header of its include block where one exists or is
    worth building (``precompiled_headers.MIN_MODULES``); returns the headers to build."""
    if not precompiled_headers.supported():
        return []
    groups: dict[tuple, list[_ModuleJob]] = {}
    for job in jobs:
        block = precompiled_headers.include_block(job.arguments["src_code"])
        if block:
            key = (block, tuple(job.arguments["preargs"]), tuple(job.arguments["include_dirs"]))
            groups.setdefault(key, []).append(job)
    to_build = []
    for (block, preargs, include_dirs), members in groups.items():
        header = precompiled_headers.PrecompiledHeader(block, list(preargs), list(include_dirs))
        if header.ready or len(members) >= precompiled_headers.MIN_MODULES:
            for job in members:
                job.header = header
            if not header.ready:
                to_build.append(header)
    return to_build


def _missing(nodes, cache) -> list[_ModuleJob]:
    """One job per distinct cache key of ``nodes`` that ``cache`` does not hold."""
    jobs = {}
    for node in nodes:
        job = _ModuleJob.of(node)
        if job is not None and job.key not in jobs and job.key not in cache.entry_from_key:
            jobs[job.key] = job
    return list(jobs.values())


class _ModuleJob:
    """The C module of one apply node, as PyTensor's ``COp.make_c_thunk`` builds it (a
    ``CLinker`` of the node alone; the virtual machine links with ``no_recycling=[]``)."""

    def __init__(self, linker, key):
        self.linker, self.key = linker, key
        self.arguments, self.location, self.module = {}, None, None
        self.header, self.with_header = None, False  # a PrecompiledHeader; whether it was used

    @classmethod
    def of(cls, node) -> _ModuleJob | None:
        """The node's job, or None for a node without C code or without a cache key."""
        from pytensor.graph.fg import FunctionGraph
        from pytensor.link.c.basic import CLinker
        from pytensor.link.c.op import COp

        if not isinstance(node.op, COp):
            return None
        try:
            node.op.prepare_node(node, None, None, "c")  # as COp.make_thunk does first
            linker = CLinker().accept(FunctionGraph(node.inputs, node.outputs), no_recycling=[])
            key = linker.cmodule_key()
            if key is None or not key[0]:  # unversioned: PyTensor recompiles it in every process
                return None
            hash(key)
            return cls(linker, key)
        except Exception:  # noqa: BLE001 - no C implementation, or one PyTensor will report on
            return None

    @functools.cached_property
    def module_hash(self) -> str:
        """The hash of the module's source code and key (generating the code: ~1 ms)."""
        from pytensor.link.c.cmodule import get_module_hash

        for inner in self.linker.node_order:  # as CLinker.cthunk_factory does before the lookup
            inner.op.prepare_node(inner, None, None, "c")
        return get_module_hash(self.linker.get_src_code(), self.key)

    def same_source_cached(self, cache) -> bool:
        """Whether ``cache`` holds this module under another key (PyTensor's second lookup)."""
        try:
            return self.module_hash in cache.module_hash_to_key_data
        except Exception:  # noqa: BLE001 - no source: left to PyTensor's link
            return True

    def prepare(self, cache_dir: str) -> None:
        """The compiler's arguments and a new directory of ``cache_dir`` (in the main
        thread: code generation and PyTensor's compiler probes are Python)."""
        from pytensor.link.c.cmodule import dlimport_workdir

        linker = self.linker
        source = linker.get_dynamic_module()
        self.arguments = dict(module_name=source.code_hash, src_code=source.code(),
                              include_dirs=linker.header_dirs(), lib_dirs=linker.lib_dirs(),
                              libs=linker.libraries(), preargs=linker.compile_args())
        self.location = dlimport_workdir(cache_dir)

    def build(self) -> _ModuleJob:
        """Compile the module into its directory (a worker thread), with its precompiled
        header if that is ready by now."""
        preargs = [*self.arguments["preargs"], *precompiled_headers.FAST_BUILD_ARGS]
        attempts = [preargs]
        if self.header is not None and self.header.ready:
            attempts.insert(0, preargs + self.header.arguments())
        for attempt in attempts:
            try:
                self.module = self.linker.c_compiler().compile_str(
                    location=self.location, **dict(self.arguments, preargs=attempt))
                self.with_header = attempt is not preargs
                return self
            except Exception:  # noqa: BLE001 - without the header, then PyTensor's link (which reports the error)
                self.module = None
        return self

    def register(self, cache) -> int:
        """Hand the compiled module to ``cache`` (1), or clean up after a failure (0)."""
        try:
            if self.module is not None:
                return int(cache.module_from_key(self.key, _Compiled(self)) is self.module)
        except Exception:  # noqa: BLE001 - the link will look the module up (or compile it) again
            pass
        finally:
            if self.location is not None and os.path.isdir(self.location):
                shutil.rmtree(self.location, ignore_errors=True)
        return 0


class _Compiled:
    """What ``ModuleCache.module_from_key`` asks of a linker (``get_src_code``,
    ``compile_cmodule(location)``), for a module already compiled elsewhere: its files are
    moved into the directory the cache chose."""

    def __init__(self, job: _ModuleJob):
        self.job = job

    def get_src_code(self) -> str:
        return self.job.linker.get_src_code()

    def compile_cmodule(self, location: str):
        job = self.job
        for name in os.listdir(job.location):
            os.replace(os.path.join(job.location, name), os.path.join(location, name))
        os.rmdir(job.location)
        job.location = None
        job.module.__file__ = os.path.join(location, os.path.basename(job.module.__file__))
        return job.module
