"""Compiler backends: PyTensor's C backend against JAX (``fit(backend="jax")``), and the size curve.

What is measured
----------------
* ``lca3``: the 3-class LCA of ``benchmarks/lca.py`` (7,326 x 17 binary items, simulated).
* ``gom_ln2``: the 2-class logistic-normal GoM of ``benchmarks/gom.py`` (7,326 x 17).
* ``scale``: 3-class LCAs with 20 binary items at ``--sizes`` rows (default 10k, 100k,
  1M), simulated from 0.55 / 0.30 / 0.15 classes: evaluation time against size.
* two-level models (``TWO_LEVEL``; JAX compiles one function per chunk shape,
  ``toolchain/jax_functions.py``): ``b_lca3_gh15`` (``benchmarks/twolevel.py``'s 3-class
  LCA with 2-D random class logits, 100 x 10, 15-point Gauss-Hermite, starts (20, 5)),
  ``contra_laplace`` / ``contra_agq25`` (``benchmarks/glmm.py``'s Contraception GLMM,
  1934 rows / 60 districts, Laplace / adaptive 25 points, starts (0, 0)). For these,
  ``first_fit_s`` is what a user waits for in a new process: building the model from the
  DataFrame and its first ``model.fit`` (compiles included; with ``--cold`` empty caches
  for both backends); ``fit_s`` a second fit in the same process; ``eval_ms`` the
  log-likelihood + gradient at the optimum (adapted nodes; Laplace: mode search included).

For every case and backend, in a fresh Python process (``subprocess``):

* ``build_s``: ``mm.lca`` / ``mm.gom`` + ``model.compile(backend=...)`` + the first
  ``loglik_grad`` call (JAX compiles at the first call). With ``--cold`` the C backend
  and JAX run with an empty PyTensor cache (``base_compiledir`` in a temporary folder, which
  also holds our function cache and XLA's): a new
  graph's first compile; otherwise the cache of this machine is used (warm).
* ``eval_ms``: median of ``--n-eval`` calls of ``loglik_grad(theta)`` (log-likelihood and
  gradient) at a fixed theta; ``ratio``: JAX's time over C's for the same case.
* ``peak_mb``: peak resident memory of that process (``resource.getrusage``).
* ``loglik``: the value at theta (the two backends must agree).

How to run
----------
    python benchmarks/backend.py                    # warm C cache, all cases
    python benchmarks/backend.py --cold --cases lca3 gom_ln2
    python benchmarks/backend.py --cases scale --sizes 10000 100000 1000000
    python benchmarks/backend.py --cold --cases b_lca3_gh15 contra_laplace contra_agq25

Other processes distort the timings: the header prints the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np
import pandas as pd
from _common import machine_line, median_eval_ms

# two-level cases: (builder, integration, points, starts)
TWO_LEVEL = {"b_lca3_gh15": ("b_lca3", "gauss-hermite", 15, (20, 5)),
             "contra_laplace": ("contraception", "laplace", 1, (0, 0)),
             "contra_agq25": ("contraception", "adaptive", 25, (0, 0))}
CASES = ("lca3", "gom_ln2", "scale") + tuple(TWO_LEVEL)
BACKENDS = ("c", "jax")


def _scale_data(n, n_items=20, seed=7):
    rng = np.random.default_rng(seed)
    probs = np.vstack([rng.uniform(lo, hi, size=n_items) for lo, hi in ((0.05, 0.35), (0.3, 0.7), (0.6, 0.95))])
    classes = rng.choice(3, size=n, p=(0.55, 0.30, 0.15))
    y = (rng.uniform(size=(n, n_items)) < probs[classes]).astype(np.int8)
    return pd.DataFrame(y, columns=[f"u{j + 1}" for j in range(n_items)])


def _model(case, n):
    import mlmix_pymc as mm

    if case == "lca3":
        from lca import simulate_lca

        df = simulate_lca()[0]
        return mm.lca(df, list(df.columns), 3)
    if case == "gom_ln2":
        from gom import case_data

        df = case_data("ln2", 7326)[0]
        return mm.gom(df, list(df.columns), 2, membership="logistic-normal")
    df = _scale_data(n)
    return mm.lca(df, list(df.columns), 3)


def _eval_ms_and_peak(objective, theta, n_eval):
    """Median ms of ``n_eval`` loglik_grad calls, and this process's peak resident MB."""
    return median_eval_ms(objective, theta, n_eval), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _two_level_model(name):
    if name == "b_lca3":
        from twolevel import make_case

        return make_case("b_lca3")[1]()
    from glmm import _model, load_case

    df, predictors, cluster, *_ = load_case(name)
    return _model(df, predictors, cluster)


def child_two_level(case, backend, n_eval):
    """First fit of a new two-level model in this process, a refit and evaluations; prints a JSON line."""
    name, integration, points, starts = TWO_LEVEL[case]
    kw = dict(integration=integration, points=points, starts=starts, seed=1, se=None, backend=backend)
    t0 = time.perf_counter()
    model = _two_level_model(name)
    result = model.fit(**kw)
    first_fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    model.fit(**kw)
    fit_s = time.perf_counter() - t0
    objective = model.compile(integration, points, backend=backend)
    theta = np.asarray(result.theta)
    objective.adapt(theta)
    eval_ms, peak = _eval_ms_and_peak(objective, theta, n_eval)
    print("RESULT " + json.dumps(dict(case=case, rows=len(model.structure.cluster_codes), backend=backend,
                                      first_fit_s=first_fit_s, fit_s=fit_s, eval_ms=eval_ms, peak_mb=peak,
                                      loglik=float(result.loglik))))


def child(case, backend, n, n_eval):
    """One measurement in this process; prints a JSON line."""
    import warnings

    warnings.simplefilter("ignore")
    if case in TWO_LEVEL:
        return child_two_level(case, backend, n_eval)
    t0 = time.perf_counter()
    model = _model(case, n)
    objective = model.compile(backend=backend)
    theta = np.random.default_rng(0).normal(scale=0.3, size=model.n_free)
    ll, _ = objective.loglik_grad(theta)
    build_s = time.perf_counter() - t0
    eval_ms, peak = _eval_ms_and_peak(objective, theta, n_eval)
    print("RESULT " + json.dumps(dict(case=case, rows=n, patterns=int(model.structure.n_patterns), backend=backend,
                                      build_s=build_s, eval_ms=eval_ms, peak_mb=peak, loglik=float(ll))))


def run_child(case, backend, n, n_eval, cold):
    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as tmp:
        if cold:  # empty PyTensor cache, and with it our function cache and XLA's (JAX)
            env["PYTENSOR_FLAGS"] = f"base_compiledir={tmp}"
        out = subprocess.run([sys.executable, __file__, "--child", case, backend, str(n), str(n_eval)], env=env,
                             capture_output=True, text=True, cwd=os.path.dirname(os.path.abspath(__file__)))
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")]
    if not lines:
        raise RuntimeError(f"{case}/{backend} failed:\n{out.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES))
    p.add_argument("--sizes", nargs="+", type=int, default=[10_000, 100_000, 1_000_000])
    p.add_argument("--n-eval", type=int, default=20)
    p.add_argument("--cold", action="store_true", help="an empty PyTensor compile cache (C modules; our function cache and XLA's for JAX)")
    p.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        case, backend, n, n_eval = args.child
        return child(case, backend, int(n), int(n_eval))
    print(f"Backends C vs JAX ({'cold' if args.cold else 'warm'} caches); loglik_grad median of {args.n_eval}")
    print(machine_line())
    rows = []
    for case in args.cases:
        for n in (args.sizes if case == "scale" else [7326]):
            pair = {b: run_child(case, b, n, args.n_eval, args.cold) for b in BACKENDS}
            for b in BACKENDS:
                r = pair[b]
                r["ratio"] = r["eval_ms"] / pair["c"]["eval_ms"]
                r["d_loglik"] = r["loglik"] - pair["c"]["loglik"]
                rows.append(r)
    columns = ["case", "rows", "patterns", "backend", "build_s", "first_fit_s", "fit_s", "eval_ms", "ratio", "peak_mb",
               "loglik", "d_loglik"]
    table = pd.DataFrame(rows).reindex(columns=columns)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    scale = table[(table.case == "scale")]
    for b in BACKENDS:
        s = scale[scale.backend == b]
        if len(s) > 1:
            slope = np.polyfit(np.log(s.patterns), np.log(s.eval_ms), 1)[0]
            print(f"scale, {b}: eval time ~ patterns^{slope:.2f} over {s.patterns.min()}..{s.patterns.max()} "
                  "distinct response patterns")
    return table


if __name__ == "__main__":
    main()
