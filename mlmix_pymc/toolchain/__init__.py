"""Compiling the likelihood graphs, and nothing statistical.

Which compiler (``backend.py``), the C modules built side by side (``parallel_compile.py``)
with precompiled headers (``precompiled_headers.py``), compiled functions kept on disk
(``function_cache.py``) with the C modules they link (``module_index.py``) and the
compiler probes PyTensor runs once per process (``compiler_probes.py``), JAX functions
per input shape (``jax_functions.py``), PyTensor's compiler and BLAS flags (``flags.py``)
and files shared by parallel processes, written whole (``atomic_files.py``). Nothing here
is imported before ``flags.configure_blas`` has run.
"""
