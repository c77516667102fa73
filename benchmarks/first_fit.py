"""First fits of new models: C modules compiled in parallel against one at a time.

What is measured
----------------
A new Python process (one per step) builds a model from the DataFrame and fits it, the
first fit of that model structure (nothing in our function cache for it): the time a user
waits. Three steps in turn share one compile cache, which starts empty:

1. ``empty_cache``: the Contraception GLMM of ``benchmarks/glmm.py`` (1934 women, 60
   districts, random district intercept), Laplace, on a new machine's empty PyTensor
   cache: every C module is compiled.
2. ``new_modules``: the same GLMM with adaptive quadrature, 25 points: a new structure that
   needs C modules step 1 did not compile.
3. ``modules_cached``: the Laplace GLMM with three more (simulated) covariates: a new
   structure whose C modules all exist (graph rewriting and linking only).

The three steps run three times, each time in a new empty cache: ``serial``, PyTensor's
own one-module-at-a-time compile (``parallel_compile.compile_workers`` set to 1 in the
child); ``parallel_no_headers``, one compiler per core without precompiled headers and with
PyTensor's ``-g`` (the library before ``precompiled_headers.py``); and ``parallel``, the
library's default (one compiler per core, each module compiled against a precompiled header
of its includes, ``-g0``). Columns: ``first_fit_s`` (median of ``--repeats`` runs, each in
its own empty cache), the C modules compiled by the parallel pre-pass and by PyTensor's
link (``parallel_modules``, ``serial_modules``), ``ratio`` = time / serial time, and the
log-likelihood (equal in all three).

How to run
----------
    python benchmarks/first_fit.py               # ~5 min on 2 cores
    python benchmarks/first_fit.py --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import pandas as pd
from _common import count_compiles, machine_line

MODES = ("serial", "parallel_no_headers", "parallel")
STEPS = (("empty_cache", "laplace", 1, 0), ("new_modules", "adaptive", 25, 0), ("modules_cached", "laplace", 1, 3))


def child(method: str, points: int, extra: int, mode: str) -> None:
    """One first fit in this process (compile cache from PYTENSOR_FLAGS); prints JSON."""
    from mlmix_pymc.toolchain import parallel_compile

    if mode == "serial":
        parallel_compile.compile_workers = lambda: 1
    if mode == "parallel_no_headers":  # as before precompiled headers and -g0
        from mlmix_pymc.toolchain import precompiled_headers

        precompiled_headers.supported = lambda: False
        precompiled_headers.FAST_BUILD_ARGS = ()
    compiled = count_compiles()  # True: by PyTensor's link; False: by the parallel pre-pass
    from glmm import _fit, _model, load_case

    df, predictors, cluster, *_ = load_case("contraception")
    rng = np.random.default_rng(0)
    for j in range(extra):
        df[f"z{j}"] = rng.normal(size=len(df))
    predictors = predictors + [f"z{j}" for j in range(extra)]
    t0 = time.perf_counter()
    res = _fit(_model(df, predictors, cluster), method, points)  # starts (0, 0), no SEs, as glmm.py
    print(json.dumps(dict(first_fit_s=time.perf_counter() - t0, loglik=float(res.loglik),
                          parallel_modules=compiled.count(False), serial_modules=compiled.count(True))))


def run_steps(mode: str) -> list[dict]:
    """The three steps in a new empty compile cache."""
    out = []
    with tempfile.TemporaryDirectory(prefix="mlmix_first_fit_") as cache:
        env = dict(os.environ, PYTENSOR_FLAGS=f"base_compiledir={cache}")
        env.pop("MLMIX_FUNCTION_CACHE", None)  # ours lives in the compiledir: empty too
        for step, method, points, extra in STEPS:
            proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", method, str(points),
                                   str(extra), mode], capture_output=True, text=True, env=env, timeout=1800)
            if proc.returncode != 0:
                raise RuntimeError(proc.stderr[-2000:])
            out.append(dict(step=step, mode=mode, **json.loads(proc.stdout.strip().splitlines()[-1])))
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=1, help="runs of each mode (median reported)")
    p.add_argument("--child", nargs=4, metavar=("METHOD", "POINTS", "EXTRA", "MODE"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        return child(args.child[0], int(args.child[1]), int(args.child[2]), args.child[3])
    print(machine_line())
    runs = [row for _ in range(args.repeats) for mode in MODES for row in run_steps(mode)]
    table = (pd.DataFrame(runs).groupby(["step", "mode"], sort=False)
             .agg(first_fit_s=("first_fit_s", statistics.median), parallel_modules=("parallel_modules", "max"),
                  serial_modules=("serial_modules", "max"), loglik=("loglik", "first")).reset_index())
    serial = table[table["mode"] == "serial"].set_index("step")["first_fit_s"]
    table["ratio"] = [row.first_fit_s / serial[row.step] for row in table.itertuples()]
    print(table.to_string(index=False, formatters={"first_fit_s": "{:.2f}".format, "ratio": "{:.2f}".format,
                                                    "loglik": "{:.6f}".format}))
    return table


if __name__ == "__main__":
    main()
