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
