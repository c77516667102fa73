"""Shared helper of the benchmark scripts: pin the BLAS thread count before numpy loads."""

import os
import sys

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def restart_with_threads(n, script):
    """Re-run ``script`` with the BLAS thread variables set to ``n`` (they must precede numpy)."""
    if all(os.environ.get(v) == str(n) for v in THREAD_VARS):
        return
    env = dict(os.environ, **{v: str(n) for v in THREAD_VARS})
    sys.stdout.flush()
    os.execve(sys.executable, [sys.executable, os.path.abspath(script), *sys.argv[1:]], env)
