"""First fits of new models on an empty compile cache and after ``mlmix warmup``.

What is measured
----------------
Each case is the first fit of a model structure in a new Python process (the time a user
waits: compiling included), twice:

* ``empty_s``: on an empty PyTensor compile cache of its own (a new machine);
* ``warmed_s``: on a copy of a cache that ``mlmix_pymc.warmup.warm_up()`` filled (run once,
  timed as ``warm-up``): the small models of every family of ``warmup.MODELS``. None of the
  cases below is one of them: other data, numbers of classes, items, covariates, random
  effects or options; what they share is PyTensor's operations of the same kinds.

Columns: seconds and C modules compiled (by the parallel pre-pass and by PyTensor's own
link), ``ratio`` = warmed / empty, and ``check``: the log-likelihood (for ``lca3_nuts`` the
mean of the seeded draws of ``theta``), the same in both caches.

Cases: ``contra_laplace`` and ``contra_agq25``, the Contraception GLMM of ``glmm.py``
(1934 women, 60 districts) by Laplace and adaptive quadrature (25 points), no SEs, as
``first_fit.py``; ``b_lca3_gh15``, the two-level 3-class LCA with two random class-logit
intercepts of ``twolevel.py`` (Gauss-Hermite 15, no SEs, as ``backend.py --cold``);
``lca3_cov``, a 3-class LCA of 8 binary items with two covariates (2000 rows, observed
SEs); ``fma_specific``, LSAT's 2-class factor mixture with class-specific loadings
(observed SEs); ``gom3``, a 3-class logistic-normal grade-of-membership model (400 x 6,
observed SEs); ``lca3_nuts``, ``model.sample`` (its ML fit, then PyMC's NUTS, 2 chains of
100 + 100 draws, one core) of a 3-class LCA (500 x 6).

How to run
----------
    python benchmarks/warm_up.py                  # ~7 min on 2 cores
    python benchmarks/warm_up.py --cases contra_laplace b_lca3_gh15
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import pandas as pd
from _common import count_compiles, machine_line

CASES = ("contra_laplace", "contra_agq25", "b_lca3_gh15", "lca3_cov", "fma_specific", "gom3", "lca3_nuts")


def _binary(rng, n, n_items, n_classes):
    """Binary items y1.. of an LCA with ``n_classes`` equally likely classes; (data, classes)."""
    c = rng.integers(0, n_classes, n)
    probs = rng.uniform(0.1, 0.9, (n_classes, n_items))
    y = (rng.uniform(size=(n, n_items)) < probs[c]).astype(np.int64)
    return pd.DataFrame(y, columns=[f"y{i + 1}" for i in range(n_items)]), c


def case_model(name):
    """(model, fit options) of one case."""
    import mlmix_pymc as mm

    rng = np.random.default_rng(11)
    if name.startswith("contra"):
        from glmm import _model, load_case

        df, predictors, cluster, *_ = load_case("contraception")
        method, points = ("laplace", 1) if name == "contra_laplace" else ("adaptive", 25)
        return _model(df, predictors, cluster), dict(integration=method, points=points, se=None)
    if name == "b_lca3_gh15":
        from twolevel import make_case

        _, factory, *_ = make_case("b_lca3")
        return factory(), dict(integration="gauss-hermite", points=15, se=None)
    if name == "lca3_cov":
        df, c = _binary(rng, 2000, 8, 3)
        df["age"], df["score"] = rng.normal(40 + 5 * c, 10), rng.normal(c, 1.0)
        return mm.lca(df, [f"y{i + 1}" for i in range(8)], 3, covariates=["age", "score"]), dict(se="observed")
    if name == "fma_specific":
        df = mm.datasets.load_lsat()
        items = [col for col in df.columns if col.startswith("item")]
        return mm.fma(df, items, 2, loadings="class-specific"), dict(se="observed")
    if name == "gom3":
        df, _ = _binary(rng, 400, 6, 3)
        return mm.gom(df, list(df.columns), 3), dict(se="observed")
    if name == "lca3_nuts":
        df, _ = _binary(rng, 500, 6, 3)
        return mm.lca(df, list(df.columns), 3), dict(sample=dict(draws=100, tune=100, chains=2, cores=1, seed=1,
                                                                   progressbar=False))
    raise ValueError(name)


def child(case: str) -> None:
    """One first fit (or, for ``warm-up``, the whole warm-up) in this process; prints JSON."""
    compiled = count_compiles()  # True: by PyTensor's link; False: by the parallel pre-pass
    t0 = time.perf_counter()
    if case == "warm-up":
        from mlmix_pymc.warmup import warm_up

        warm_up(report=None)
        check = float("nan")
    else:
        from mlmix_pymc.warmup import run

        model, options = case_model(case)
        t0 = time.perf_counter()  # the data are read: from here on, what a user waits for
        result = run(model, options)
        check = (float(np.asarray(result.unconstrained_posterior["theta"]).mean()) if "sample" in options
                 else float(result.loglik))  # NUTS (after its ML fit): the mean of the seeded draws of theta
    print(json.dumps(dict(seconds=time.perf_counter() - t0, modules=len(compiled), check=check)))


def run_child(case: str, cache: str) -> dict:
    env = dict(os.environ, PYTENSOR_FLAGS=f"base_compiledir={cache}")
    env.pop("MLMIX_FUNCTION_CACHE", None)  # ours lives in the compiledir
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", case], capture_output=True,
                          text=True, env=env, timeout=1800)
    if proc.returncode != 0:
        raise RuntimeError(f"{case}: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", nargs="+", default=list(CASES), choices=CASES)
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        return child(args.child)
    print(machine_line())
    rows = []
    with tempfile.TemporaryDirectory(prefix="mlmix_warm_up_") as root:
        for case in args.cases:
            rows.append(dict(case=case, **{f"empty_{k}": v for k, v in run_child(case, f"{root}/empty_{case}").items()}))
            shutil.rmtree(f"{root}/empty_{case}", ignore_errors=True)
        warmed = f"{root}/warmed"
        warm = run_child("warm-up", warmed)
        print(f"warm-up (once, empty cache): {warm['seconds']:.1f} s, {warm['modules']} C modules")
        for row in rows:
            copy = f"{root}/copy"
            shutil.copytree(warmed, copy, symlinks=True)
            row.update({f"warmed_{k}": v for k, v in run_child(row["case"], copy).items()})
            shutil.rmtree(copy)
    table = pd.DataFrame(rows)
    table["ratio"] = table["warmed_seconds"] / table["empty_seconds"]
    table["d_check"] = (table["warmed_check"] - table["empty_check"]).abs()
    print(table[["case", "empty_seconds", "empty_modules", "warmed_seconds", "warmed_modules", "ratio",
                 "warmed_check", "d_check"]].to_string(
        index=False, formatters={"empty_seconds": "{:.2f}".format, "warmed_seconds": "{:.2f}".format,
                                 "ratio": "{:.2f}".format, "warmed_check": "{:.6f}".format,
                                 "d_check": "{:.1e}".format}))
    return table


if __name__ == "__main__":
    main()
