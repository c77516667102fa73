"""Which compiler turns the likelihood graph into machine code: PyTensor's C backend or JAX.

``backend="c"`` (the default) compiles C through PyTensor, the missing C modules in parallel
against precompiled headers (``parallel_compile.py``; measured on 2 cores, a new model's
first fit took ~20 s with an empty cache, 7.5 s needing 32 new modules and ~5 s when the
modules it needs existed; cached on disk). ``backend="jax"``
compiles the same graph with XLA through PyTensor's JAX linker (3.8-6.5 s for a first fit
with empty caches, no C compiler; on a machine with a GPU and a CUDA
build of jax the graph runs there). Only the compiled functions change: the graph, the
optimizer and every result are the same.

JAX needs static array shapes: two-level models, whose graph takes chunks of clusters as
inputs, get one XLA function per chunk shape (``jax_functions.py``), a few per model.
"""

from __future__ import annotations

from contextlib import contextmanager

from ..errors import SpecificationError

BACKENDS = ("c", "jax")


def check_backend(backend: str) -> str:
    """``backend`` validated (clear errors for an unknown name or a missing jax)."""
    if backend not in BACKENDS:
        raise SpecificationError(f"backend={backend!r} is not one of {BACKENDS}")
    if backend == "jax":
        try:
            import jax  # noqa: F401
        except ImportError as err:
            raise SpecificationError("backend='jax' needs jax: pip install 'mlmix-pymc[jax]'") from err
    return backend


@contextmanager
def compile_mode(backend: str):
    """PyTensor functions compiled inside use ``backend``'s linker (C: PyTensor's, with the
    missing C modules compiled in parallel, ``parallel_compile.py``)."""
    if backend == "c":
        from .parallel_compile import compiling_in_parallel

        with compiling_in_parallel():
            yield
        return
    import pytensor

    with pytensor.config.change_flags(mode="JAX"):
        yield
