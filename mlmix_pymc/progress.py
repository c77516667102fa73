"""Progress feedback on stderr: a one-line bar over repeated work and a compile notice.

* ``ProgressBar``: random starts (with the best log-likelihood so far), Monte Carlo
  replications, bootstrap draws. Redrawn in place (carriage return) on a terminal or in a
  notebook; a forced bar on another stream writes one line per ~10% of the work.
* ``compile_notice``: "compiling the model (once) ... compiled in 18.2 s", printed only when
  compiling takes more than ``NOTICE_AFTER_S`` (a graph already compiled, or found in PyTensor's
  cache, stays silent).

Both are switched by ``progress`` / ``verbose`` options (``Model.fit``, ``mm.montecarlo``,
``mm.enumerate``, ``bootstrap_lrt``): ``None`` (the default) shows them when stderr is a
terminal or a Jupyter kernel (so scripts whose output is redirected, and test runs, stay
quiet), ``True`` always, ``False`` never. Work nested inside a bar (the fits of a Monte Carlo
replication or of a bootstrap draw) runs under ``quiet()``, so only the outer bar is drawn.
No dependency: plain writes to ``sys.stderr`` (as PyMC's own bars, they are not logging).
"""

from __future__ import annotations

import contextlib
import contextvars
import sys
import threading
import time

NOTICE_AFTER_S = 1.0  # the compile notice appears once compiling has taken this long
_QUIET = contextvars.ContextVar("mlmix_quiet", default=False)
_VERBOSE = contextvars.ContextVar("mlmix_verbose", default=None)
_COMPILING = contextvars.ContextVar("mlmix_compiling", default=False)  # inside a compile notice


def interactive(stream=None) -> bool:
    """True when ``stream`` (default stderr) is a terminal, or when running in a Jupyter kernel."""
    stream = sys.stderr if stream is None else stream
    try:
        if stream.isatty():
            return True
    except (AttributeError, ValueError):
        return False
    return "ipykernel" in sys.modules and type(stream).__module__.startswith("ipykernel")


def enabled(option) -> bool:
    """Whether feedback switched by ``option`` (None = auto, True, False) is shown now."""
    if _QUIET.get():
        return False
    if option is None:
        return interactive()
    return bool(option)


@contextlib.contextmanager
def quiet():
    """No bars or notices inside (nested fits of a replication or a bootstrap draw)."""
    token = _QUIET.set(True)
    try:
        yield
    finally:
        _QUIET.reset(token)


@contextlib.contextmanager
def verbosity(verbose):
    """The ``verbose`` option of the enclosing call (a fit) for notices printed below it (compiles);
    None keeps the setting of an enclosing call (a GoM's nested LCA fit follows the GoM fit's)."""
    if verbose is None:
        yield
        return
    token = _VERBOSE.set(verbose)
    try:
        yield
    finally:
        _VERBOSE.reset(token)


class ProgressBar:
    """``desc  7/20 [#######-------]  best LL -2985.340  3.1 s`` on stderr (see module doc).

    ``update(n, info)`` advances by ``n`` and sets the text after the bar; ``close()`` ends the
    line. Disabled bars do nothing.
    """

    WIDTH = 20

    def __init__(self, total: int, desc: str, progress=None, stream=None):
        self.total, self.desc, self.count, self.info = int(total), desc, 0, ""
        self.on = enabled(progress) and self.total > 0
        self.stream = stream
        self.in_place = interactive(self._stream())
        self.started = time.perf_counter()
        self._last_step = -1
        self._closed = False
        if self.on:
            self._draw(force=True)

    def _stream(self):
        return sys.stderr if self.stream is None else self.stream

    def update(self, n: int = 1, info: str | None = None) -> None:
        """Advance by ``n`` and set the text shown after the bar."""
        self.count = min(self.total, self.count + n)
        if info is not None:
            self.info = info
        if self.on:
            self._draw()

    def set_info(self, info: str) -> None:
        """Replace the text after the bar without advancing."""
        self.info = info
        if self.on and self.in_place:
            self._draw()

    def _line(self) -> str:
        filled = int(self.WIDTH * self.count / self.total)
        bar = "#" * filled + "-" * (self.WIDTH - filled)
        elapsed = time.perf_counter() - self.started
        info = f"  {self.info}" if self.info else ""
        return f"{self.desc} {self.count}/{self.total} [{bar}]{info}  {elapsed:.1f} s"

    def _draw(self, force: bool = False) -> None:
        stream = self._stream()
        if self.in_place:
            stream.write("\r" + self._line())
        else:  # a log file: a line at every tenth of the work (and at the end)
            step = (10 * self.count) // self.total
            if not force and step == self._last_step:
                return
            self._last_step = step
            stream.write(self._line() + "\n")
        stream.flush()

    def close(self) -> None:
        """End the bar's line (the final count and text stay visible)."""
        if self.on and not self._closed:
            if self.in_place:
                self._stream().write("\r" + self._line() + "\n")
            elif self._last_step != (10 * self.count) // self.total:
                self._stream().write(self._line() + "\n")
            self._stream().flush()
        self._closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


@contextlib.contextmanager
def compile_notice(what: str = "the model", verbose=None):
    """Around a compile: "compiling <what> (once) ..." once it has taken ``NOTICE_AFTER_S``, then
    "compiled in 18.2 s" (preceded by "32 C modules on 2 cores," where C modules were compiled
    in parallel, ``toolchain/parallel_compile.py``). ``verbose=None`` takes the enclosing
    call's option (``verbosity``).
    PyTensor's toolchain probes are skipped where an earlier process stored their results
    (``toolchain/compiler_probes.py``)."""
    from .toolchain.compiler_probes import remembered_probes

    with remembered_probes():
        with _notice(what, verbose):
            yield


@contextlib.contextmanager
def _notice(what: str, verbose):
    option = _VERBOSE.get() if verbose is None else verbose
    if not enabled(option) or _COMPILING.get():  # one notice for nested compiles
        yield
        return
    from .toolchain.parallel_compile import compile_workers, modules_compiled

    outer = _COMPILING.set(True)
    modules_before = modules_compiled()
    stream = sys.stderr
    started = time.perf_counter()
    shown = threading.Event()
    lock = threading.Lock()

    def announce():
        with lock:
            if not done.is_set():
                stream.write(f"mlmix_pymc: compiling {what} (once) ...")
                stream.flush()
                shown.set()

    done = threading.Event()
    timer = threading.Timer(NOTICE_AFTER_S, announce)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        _COMPILING.reset(outer)
        with lock:
            done.set()
            timer.cancel()
        if shown.is_set():
            modules = modules_compiled() - modules_before
            noun = "C module" if modules == 1 else "C modules"
            detail = f" {modules} {noun} on {compile_workers()} cores," if modules else ""
            stream.write(f"{detail} compiled in {time.perf_counter() - started:.1f} s\n")
            stream.flush()
