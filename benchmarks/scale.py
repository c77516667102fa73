"""Two-level models at scale: time and memory against the number of clusters.

What is measured
----------------
The two-level LCAs of ``twolevel.py`` with more clusters (10 persons each, 10 binary
items): ``lca2`` (2 classes, one random class-logit intercept, 15-point Gauss-Hermite) and
``lca3`` (3 classes, two random class-logit intercepts, 15 x 15 = 225 Gauss-Hermite nodes),
simulated with the same parameters as ``a_lca2`` / ``b_lca3``. For every number of
clusters, in a fresh process (so that its peak memory is its own):

* ``chunks``: calls of the compiled function per evaluation (whole clusters, at most
  ``MAX_CHUNK_CELLS`` rows x nodes x classes each: the memory bound);
* ``ms_per_eval``: one log-likelihood + gradient over all clusters (median of 5 calls
  after a warm-up), ``us_per_cluster`` = that / clusters (constant when time is linear);
* ``fit_s``: ``model.fit(starts=(0, 0), se=None)`` from the deterministic start (the
  model compiled and warmed up first);
* ``peak_rss_mb``: the process's peak resident memory (``ru_maxrss``) at the end,
  ``data_mb``: the size of the model's data arrays (items + covariates).

How to run
----------
From the repository root::

    python benchmarks/scale.py
    python benchmarks/scale.py --clusters 1000 10000 --models lca2
"""

from __future__ import annotations

import argparse
import json
import resource
import time
import warnings

import pandas as pd
from _common import (add_threads_option, apply_threads, machine_line, median_eval_ms, run_child,
                     simulate_two_level_lca)

MODELS = ("lca2", "lca3")


def simulate(model, n_clusters, seed=20240601):
    """The data of ``twolevel.py``'s a_lca2 / b_lca3 with ``n_clusters`` clusters of 10."""
    if model == "lca2":
        return simulate_two_level_lca(n_clusters, 10, 10, 2.0, seed)
    import twolevel

    twolevel.N_CLUSTERS = n_clusters
    return twolevel.simulate_lca3(seed + 1)


def child(model_name, n_clusters):
    import mlmix_pymc as mm

    df = simulate(model_name, n_clusters)
    items = [c for c in df.columns if c.startswith("u")]
    model = mm.lca(df, items=items, n_classes=2 if model_name == "lca2" else 3, cluster="cluster",
                   random_intercept=True)
    compiled = model.compile("gauss-hermite", 15)
    theta = model.theta_from_values({})
    ms_per_eval = median_eval_ms(compiled, theta)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(starts=(0, 0), se=None, max_iter=2)
        t0 = time.perf_counter()
        res = model.fit(starts=(0, 0), se=None)
        fit_s = time.perf_counter() - t0
    data_mb = sum(g.data.nbytes for g in model.structure.groups) / 2**20
    print(json.dumps(dict(chunks=len(compiled._chunks), ms_per_eval=ms_per_eval, fit_s=fit_s,
                          loglik=float(res.loglik), data_mb=data_mb,
                          peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clusters", nargs="+", type=int, default=[100, 1000, 3000, 10000])
    p.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    p.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    add_threads_option(p)
    args = p.parse_args(argv)
    if args.child:
        return child(args.child[0], int(args.child[1]))
    apply_threads(args, argv, __file__)
    print(machine_line())
    rows = []
    for name in args.models:
        for n in args.clusters:
            r = run_child(__file__, (name, n), 3600)
            if r is None:
                continue
            rows.append(dict(model=name, clusters=n, rows=10 * n, **r, us_per_cluster=1e3 * r["ms_per_eval"] / n))
    table = pd.DataFrame(rows)
    fmt = {"ms_per_eval": "{:.1f}".format, "fit_s": "{:.2f}".format, "loglik": "{:.2f}".format,
           "data_mb": "{:.1f}".format, "peak_rss_mb": "{:.0f}".format, "us_per_cluster": "{:.1f}".format}
    print(table.to_string(index=False, formatters=fmt))
    return table


if __name__ == "__main__":
    main()
