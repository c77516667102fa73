"""Single-level LCAs with up to 1,000,000 distinct rows: time and memory against the number of rows.

What is measured
----------------
A 3-class LCA of 20 binary items with one class-logit covariate ``x`` (normal), so that every
row is a distinct pattern (no compression helps), at ``--sizes`` rows. Each size runs in a
fresh process per mode (so that its peak memory is its own):

* ``chunked``: the default (``engine/row_chunks.py``: above ``MAX_ROW_CHUNK_CELLS`` cells
  per call the graphs are called on chunks of rows);
* ``one_call``: the limit lifted (every graph holds all rows at once: the code before chunking);
* ``stepmix``: the peer, ``StepMix(n_components=3, measurement="binary",
  structural="covariate", n_init=1)`` on the same data (the same model: a multinomial logit
  of the classes on ``x``), timed in the same run.

Columns: ``build_s`` (the model from the DataFrame: coding, pattern compression),
``chunks`` / ``score_chunks`` (calls per evaluation of the value-and-gradient and of the
per-row score graph), ``eval_ms`` (log-likelihood + gradient, median of 5), ``fit_s``
(``fit(starts=(1, 1), se=None)``, the model compiled first), ``se_s`` (the MLR sandwich:
per-row scores and the Hessian at the optimum), ``peak_mb`` (the process's peak resident
memory), ``data_mb`` (the model's data arrays), ``loglik``; ``us_per_row`` = eval_ms / rows
(constant when time is linear); ``fit_ratio`` = our fit_s / StepMix's fit time.

How to run
----------
From the repository root::

    python benchmarks/rows.py                                  # 10k, 100k, 1M rows; all modes
    python benchmarks/rows.py --sizes 100000 --modes chunked   # one size, ours only
"""

from __future__ import annotations

import argparse
import json
import resource
import time
import warnings

import numpy as np
import pandas as pd
from _common import add_threads_option, apply_threads, machine_line, median_eval_ms, run_child

MODES = ("chunked", "one_call", "stepmix")
N_ITEMS = 20


def simulate(n, seed=7):
    """3 classes, P(class | x) multinomial logit in x, 20 binary items; columns u1..u20, x."""
    rng = np.random.default_rng(seed)
    probs = np.vstack([rng.uniform(lo, hi, size=N_ITEMS) for lo, hi in ((0.05, 0.35), (0.3, 0.7), (0.6, 0.95))])
    x = rng.normal(size=n)
    logits = np.column_stack([0.5 + 0.8 * x, -0.3 * x, np.zeros(n)])
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    classes = (rng.uniform(size=n)[:, None] > np.cumsum(p, axis=1)).sum(axis=1)
    y = (rng.uniform(size=(n, N_ITEMS)) < probs[classes]).astype(np.int8)
    df = pd.DataFrame(y, columns=[f"u{j + 1}" for j in range(N_ITEMS)])
    df["x"] = x
    return df


def _peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_ours(n, mode):
    import mlmix_pymc as mm
    from mlmix_pymc.engine import row_chunks

    if mode == "one_call":
        row_chunks.MAX_ROW_CHUNK_CELLS = 10**15
    df = simulate(n)
    items = [f"u{j + 1}" for j in range(N_ITEMS)]
    t0 = time.perf_counter()
    model = mm.lca(df, items, 3, covariates=["x"])
    build_s = time.perf_counter() - t0
    objective = model.compile()
    theta = model.theta_from_values({})
    eval_ms = median_eval_ms(objective, theta)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        result = model.fit(starts=(1, 1), seed=1, se=None)
        fit_s = time.perf_counter() - t0
    best = np.asarray(result.theta)
    t0 = time.perf_counter()
    objective.scores(best)
    objective.hessian(best)
    se_s = time.perf_counter() - t0
    structure = model.structure
    data_mb = sum(g.data.nbytes for g in structure.groups) / 2**20 + structure.covariates.nbytes / 2**20
    chunks = objective._chunks
    return dict(patterns=structure.n_patterns, build_s=build_s, chunks=1 if chunks is None else chunks.n_chunks,
                score_chunks=1 if objective._score_chunks is None else objective._score_chunks.n_chunks,
                eval_ms=eval_ms, fit_s=fit_s, se_s=se_s, loglik=float(result.loglik),
                data_mb=data_mb, peak_mb=_peak_mb())


def child_stepmix(n):
    from stepmix.stepmix import StepMix

    df = simulate(n)
    X = df[[f"u{j + 1}" for j in range(N_ITEMS)]].to_numpy()
    Z = df[["x"]].to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        model = StepMix(n_components=3, measurement="binary", structural="covariate", n_init=1, random_state=1,
                        verbose=0, progress_bar=0)
        model.fit(X, Z)
        fit_s = time.perf_counter() - t0
    return dict(patterns=n, fit_s=fit_s, loglik=float(model.score(X, Z)) * n, peak_mb=_peak_mb())


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", nargs="+", type=int, default=[10_000, 100_000, 1_000_000])
    p.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    p.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    add_threads_option(p)
    args = p.parse_args(argv)
    if args.child:
        mode, n = args.child[0], int(args.child[1])
        print(json.dumps(child_stepmix(n) if mode == "stepmix" else child_ours(n, mode)))
        return None
    apply_threads(args, argv, __file__)
    print(machine_line())
    rows = []
    for n in args.sizes:
        for mode in args.modes:
            r = run_child(__file__, (mode, n), 7200, f"{mode} at {n} rows")
            if r is not None:
                rows.append(dict(rows=n, mode=mode, **r))
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    if "eval_ms" in table:
        table["us_per_row"] = 1e3 * table["eval_ms"] / table["rows"]
    peer = table[table["mode"] == "stepmix"].set_index("rows")["fit_s"]
    table["fit_ratio"] = [r.fit_s / peer[r.rows] if r.mode != "stepmix" and r.rows in peer.index else np.nan
                          for r in table.itertuples()]
    fmt = {c: "{:.2f}".format for c in ("build_s", "fit_s", "se_s", "fit_ratio", "us_per_row")}
    fmt.update({"eval_ms": "{:.1f}".format, "loglik": "{:.2f}".format, "data_mb": "{:.0f}".format,
                "peak_mb": "{:.0f}".format})
    print(table.to_string(index=False, formatters={k: v for k, v in fmt.items() if k in table}, na_rep="-"))
    return table


if __name__ == "__main__":
    main()
