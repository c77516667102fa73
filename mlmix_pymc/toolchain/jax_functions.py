"""Functions of the two-level graph compiled by JAX, once per shape of their inputs.

The two-level graph (``graph/cluster_likelihood.py``) takes a chunk of whole clusters as
inputs, and its shapes follow the chunk's: J clusters of m padded rows, Q nodes. The C
backend compiles one function for every shape; XLA needs static shapes, and PyTensor's JAX
linker cannot trace shape arithmetic on symbolic sizes (``J * m``, a broadcast's checks).
So ``ShapeSpecializedFunction`` builds and compiles the graph for the shapes of the first
call on inputs of those static shapes (PyTensor then folds every shape into a constant)
and keeps one compiled function per distinct set of input shapes, on disk too
(``function_cache.py``; XLA's persistent cache keeps the machine code).
The chunks of a JAX objective are cut with the cost of a new shape
(``cluster_engine.NEW_GRAPH_COST_CELLS``) as their call cost, so a model has a few
shapes, each compiled once (about 2-3 s).
"""

from __future__ import annotations

import numpy as np
import pytensor

def jax_mode():
    """PyTensor's JAX linker after PyTensor's canonical rewrites only, without ``Assert`` nodes.

    XLA fuses, simplifies and removes common subexpressions itself: the rest of PyTensor's
    rewrites (stabilize, specialize) took 8 s instead of 1.3 s on the 1-D Laplace
    third-derivative graph of the Contraception GLMM for ~15% per call.
    Asserts are shape checks XLA cannot trace; the inputs have static shapes.
    ``local_zero_div`` is left out: on static shapes it rebuilds a shape graph for every
    division by zero it meets (the 2-D Laplace graph compiled for over 20 minutes with it,
    7 s without).
    """
    from pytensor.compile.mode import Mode
    from pytensor.graph.rewriting.db import RewriteDatabaseQuery
    from pytensor.link.jax.linker import JAXLinker

    query = RewriteDatabaseQuery(include=["canonicalize", "jax"], exclude=["cxx_only", "BlasOpt", "fusion", "inplace"])
    mode = Mode(linker=JAXLinker(), optimizer=query)
    return mode.including("local_remove_all_assert").excluding("local_zero_div")


class ShapeSpecializedFunction:
    """``graph(shapes)`` -> (inputs of those static shapes, outputs), compiled by JAX for each
    distinct set of input shapes.

    Called as a PyTensor function (positional inputs, a list of outputs as numpy arrays).
    """

    def __init__(self, graph, name: str, key: tuple):
        self._graph, self.name = graph, name
        self._key = key  # the graph's key in the on-disk function cache (``function_cache.py``)
        self._by_shape: dict[tuple, object] = {}

    def __call__(self, *args):
        shapes = tuple(np.shape(a) for a in args)
        fn = self._by_shape.get(shapes)
        if fn is not None:
            return [np.asarray(out) for out in fn(*args)]
        from ..progress import compile_notice

        with compile_notice(f"the model ({self.name}, JAX)"):  # XLA compiles at the first call
            fn = self._compile(shapes)
            outputs = [np.asarray(out) for out in fn(*args)]
        self._by_shape[shapes] = fn
        return outputs

    @property
    def n_compiled(self) -> int:
        """How many input shapes this function was compiled for."""
        return len(self._by_shape)

    def _compile(self, shapes):
        """The function for ``shapes``: from the disk cache (rewritten graph; XLA's own cache
        for the machine code) or built."""
        import jax

        from .function_cache import cached_function

        def build():
            inputs, outputs = self._graph(shapes)
            return pytensor.function(inputs, outputs, mode=jax_mode(), on_unused_input="ignore")

        use_xla_cache()
        return cached_function(self._key + ("jax", jax.__version__, shapes), build)


def use_xla_cache() -> None:
    """XLA's persistent compilation cache next to the function cache, unless the user set one
    (``jax_compilation_cache_dir``) or turned the function cache off."""
    import jax

    from .function_cache import cache_dir

    folder = cache_dir()
    if folder is None or jax.config.jax_compilation_cache_dir:
        return
    jax.config.update("jax_compilation_cache_dir", str(folder / "xla"))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)
