"""Shared helpers of the benchmark scripts: BLAS thread pinning and simulated two-level LCA data."""

import os
import sys

import numpy as np
import pandas as pd

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def restart_with_threads(n, script):
    """Re-run ``script`` with the BLAS thread variables set to ``n`` (they must precede numpy)."""
    if all(os.environ.get(v) == str(n) for v in THREAD_VARS):
        return
    env = dict(os.environ, **{v: str(n) for v in THREAD_VARS})
    sys.stdout.flush()
    os.execve(sys.executable, [sys.executable, os.path.abspath(script), *sys.argv[1:]], env)


def simulate_two_level_lca(n_clusters, cluster_size, n_items, logit_variance, seed):
    """2-class LCA with P(c = 1 | j) = logistic(0.5 + alpha_j), alpha_j ~ N(0, logit_variance).

    Item probabilities 0.8 / 0.2: class 1 high on the first half of the items, class 2 on
    the second half. Columns u1..uP and cluster.
    """
    rng = np.random.default_rng(seed)
    cl = np.repeat(np.arange(n_clusters), cluster_size)
    alpha = rng.normal(0.0, np.sqrt(logit_variance), n_clusters)
    p1 = 1 / (1 + np.exp(-(0.5 + alpha[cl])))
    c = np.where(rng.uniform(size=cl.size) < p1, 0, 1)
    half = n_items // 2
    probs = np.array([[0.8] * half + [0.2] * (n_items - half), [0.2] * half + [0.8] * (n_items - half)])
    y = (rng.uniform(size=(cl.size, n_items)) < probs[c]).astype(np.int64)
    df = pd.DataFrame(y, columns=[f"u{i + 1}" for i in range(n_items)])
    df["cluster"] = cl
    return df


def add_threads_option(parser, help_text="BLAS/OpenMP threads for both libraries (default: library defaults)"):
    """The ``--threads N`` option every benchmark has."""
    parser.add_argument("--threads", type=int, default=None, help=help_text)


def apply_threads(args, argv, script):
    """Restart ``script`` with ``--threads`` applied (command-line runs only)."""
    if args.threads is not None and argv is None:
        restart_with_threads(args.threads, script)


def machine_line():
    """CPUs, load average and BLAS threads: the context every timing table is printed with."""
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    return (f"CPUs: {os.cpu_count()}, load average: {load}, BLAS threads: "
            f"{os.environ.get('OPENBLAS_NUM_THREADS', 'default')}")


def integers_or_dash(table, columns):
    """Show the listed columns of ``table`` as integers, '-' where missing (in place)."""
    for col in columns:
        if col in table:
            table[col] = table[col].map(lambda v: "-" if pd.isna(v) else str(int(v)))


def timed_runs(fn, repeats, slow):
    """Median wall time of ``fn`` over ``repeats`` runs (one run if the first is slower than ``slow`` s)."""
    import statistics
    import time

    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
        if times[0] > slow:
            break
    return statistics.median(times), len(times), out


def median_eval_ms(objective, theta, n_eval=5):
    """Median milliseconds of ``n_eval`` log-likelihood + gradient calls, after one warm-up call."""
    import statistics
    import time

    objective.loglik_grad(theta)
    times = []
    for _ in range(n_eval):
        t0 = time.perf_counter()
        objective.loglik_grad(theta)
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def run_child(script, child_args, timeout, label=""):
    """``script --child *child_args`` in a fresh process (its peak memory its own): the JSON of
    its last output line, or None (its stderr printed) when it failed."""
    import json
    import subprocess

    out = subprocess.run([sys.executable, os.path.abspath(script), "--child", *map(str, child_args)],
                         capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        print(f"{label or ' '.join(map(str, child_args))} failed:\n{out.stderr[-2000:]}", file=sys.stderr)
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def count_compiles() -> list[bool]:
    """From now on, record every C module PyTensor's compiler builds in this process: the
    returned list gets True for one compiled by PyTensor's own link (the main thread) and
    False for one compiled by the library's parallel pre-pass (a worker thread)."""
    import threading

    from pytensor.link.c import cmodule

    compiled = []
    compile_str = cmodule.GCC_compiler.compile_str

    def counted(*args, **kwargs):
        compiled.append(threading.current_thread() is threading.main_thread())
        return compile_str(*args, **kwargs)

    cmodule.GCC_compiler.compile_str = staticmethod(counted)
    return compiled
