"""Binary latent class analysis (LCA): mlmix_pymc vs. StepMix.

What is measured
----------------
Data: 7,326 rows x 17 binary items simulated (fixed seed) from a known
3-class LCA with class proportions 0.55 / 0.30 / 0.15.  The item response
probabilities are drawn once from Uniform(0.05, 0.35) (low class),
Uniform(0.30, 0.70) (mid class) and Uniform(0.60, 0.95) (high class).  The
size mimics the NLSY antisocial-behaviour data (paper, Table 5).

For each number of classes K (default 2 and 3), with 20 random starts:

* ``stepmix_s``: wall time of ``StepMix(n_components=K, measurement="binary",
  n_init=20, ...).fit(X)`` (EM, StepMix defaults ``max_iter=1000``,
  ``abs_tol=1e-10``, ``rel_tol=0``).  Its best total log-likelihood is
  ``model.score(X) * n`` (``score`` returns the mean per-row log-likelihood).
* ``mlmix_end_to_end_s``: wall time of ``mm.lca(df, ...)`` + ``compile()`` +
  ``fit(method="ml", starts=(20, 5), seed=..., se=None)`` on a fresh model
  object.  One untimed warm-up fit per K is run first, so the on-disk PyTensor
  compilation cache is warm (this measures graph construction + cached
  compilation, not a cold C compile).
* ``mlmix_fit_s``: wall time of ``fit(...)`` alone on an already compiled
  model.
* ``ratio_end_to_end`` / ``ratio_fit``: mlmix time divided by StepMix time
  (< 1 means mlmix_pymc is faster).  Targets: end-to-end ratio <= 1.0 and
  fit-only ratio <= 0.5, at an equal or better best log-likelihood.
* ``stepmix_loglik`` / ``mlmix_loglik``: best total log-likelihood found;
  ``mlmix_n_replicated``: how many completed final-stage starts reached it.
* One log-likelihood + gradient evaluation (``model.evaluate(theta)``) at the
  best solution, for each K: median over ``--n-eval`` calls (default 200),
  printed in milliseconds below the table.

Every timing is repeated ``--repeats`` times (default 3) and the median is
reported; ``--quick`` uses a single repeat.  The header line shows the CPU
count and load average: other processes running at the same time distort the
timings, so run the benchmark on an otherwise idle machine.  ``--threads N``
sets ``OMP_NUM_THREADS`` / ``OPENBLAS_NUM_THREADS`` / ``MKL_NUM_THREADS`` for
both libraries (the script restarts itself with that environment).

How to run
----------
From the repository root (after ``pip install -e .[bench]``)::

    python benchmarks/lca.py            # 3 repeats, K = 2 and 3
    python benchmarks/lca.py --quick    # 1 repeat
    python benchmarks/lca.py --stepmix-only   # only the StepMix half
    python benchmarks/lca.py --threads 1      # single-threaded BLAS for both
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings

import numpy as np
import pandas as pd
from _common import add_threads_option, apply_threads, machine_line

N_ROWS = 7326
N_ITEMS = 17
CLASS_PROPS = (0.55, 0.30, 0.15)
ITEM_PROB_RANGES = ((0.05, 0.35), (0.30, 0.70), (0.60, 0.95))
DATA_SEED = 20240517


def simulate_lca(n=N_ROWS, n_items=N_ITEMS, seed=DATA_SEED):
    """Simulate binary LCA data; returns (DataFrame, true classes, item probs)."""
    rng = np.random.default_rng(seed)
    probs = np.vstack([rng.uniform(lo, hi, size=n_items) for lo, hi in ITEM_PROB_RANGES])
    classes = rng.choice(len(CLASS_PROPS), size=n, p=CLASS_PROPS)
    y = (rng.uniform(size=(n, n_items)) < probs[classes]).astype(np.int64)
    cols = [f"u{j + 1}" for j in range(n_items)]
    return pd.DataFrame(y, columns=cols), classes, probs


def _median_time(fn, repeats):
    """Run ``fn`` ``repeats`` times; return (median seconds, last result)."""
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def bench_stepmix(X, k, n_starts, seed, repeats):
    from stepmix.stepmix import StepMix

    def run():
        model = StepMix(
            n_components=k,
            measurement="binary",
            n_init=n_starts,
            random_state=seed,
            verbose=0,
            progress_bar=0,
        )
        model.fit(X)
        return model

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning etc.
        secs, model = _median_time(run, repeats)
    loglik = float(model.score(X)) * X.shape[0]
    return secs, loglik


def bench_mlmix(df, k, n_starts, n_final, seed, repeats, n_eval):
    import mlmix_pymc as mm

    items = list(df.columns)
    fit_kwargs = dict(method="ml", starts=(n_starts, n_final), seed=seed, se=None)

    def end_to_end():
        model = mm.lca(df, items=items, n_classes=k)
        model.compile()
        return model.fit(**fit_kwargs)

    # Untimed warm-up: fills the on-disk PyTensor compilation cache for this K.
    end_to_end()

    e2e_s, _ = _median_time(end_to_end, repeats)

    model = mm.lca(df, items=items, n_classes=k)
    model.compile()
    fit_s, res = _median_time(lambda: model.fit(**fit_kwargs), repeats)

    theta = np.asarray(res.theta)
    model.evaluate(theta)  # warm-up
    eval_times = []
    for _ in range(n_eval):
        t0 = time.perf_counter()
        model.evaluate(theta)
        eval_times.append(time.perf_counter() - t0)
    eval_ms = 1e3 * statistics.median(eval_times)

    return dict(
        e2e_s=e2e_s,
        fit_s=fit_s,
        loglik=float(res.loglik),
        n_replicated=int(res.n_replicated),
        eval_ms=eval_ms,
    )


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=3, help="timing repeats (median reported)")
    p.add_argument("--quick", action="store_true", help="a single repeat")
    p.add_argument("--classes", type=int, nargs="+", default=[2, 3], help="values of K")
    p.add_argument("--starts", type=int, default=20, help="random starts")
    p.add_argument("--final", type=int, default=5, help="mlmix final-stage starts")
    p.add_argument("--seed", type=int, default=1, help="estimation seed")
    p.add_argument("--n-eval", type=int, default=200, help="calls for the evaluate() timing")
    p.add_argument("--stepmix-only", action="store_true", help="skip mlmix_pymc")
    add_threads_option(p)
    args = p.parse_args(argv)
    apply_threads(args, argv, __file__)
    repeats = 1 if args.quick else max(1, args.repeats)

    df, _, _ = simulate_lca()
    X = df.to_numpy(dtype=np.float64)
    print(
        f"Binary LCA: n={X.shape[0]}, items={X.shape[1]}, true K={len(CLASS_PROPS)}, "
        f"starts={args.starts} (mlmix final={args.final}), repeats={repeats} (median)"
    )
    print(machine_line())

    run_mlmix = not args.stepmix_only
    if run_mlmix:
        try:
            import mlmix_pymc  # noqa: F401
        except ImportError as exc:
            print(f"mlmix_pymc not importable ({exc}); running StepMix only", file=sys.stderr)
            run_mlmix = False

    rows, eval_ms = [], {}
    for k in args.classes:
        sm_s, sm_ll = bench_stepmix(X, k, args.starts, args.seed, repeats)
        row = dict(K=k, stepmix_s=sm_s)
        if run_mlmix:
            r = bench_mlmix(df, k, args.starts, args.final, args.seed, repeats, args.n_eval)
            eval_ms[k] = r["eval_ms"]
            row.update(
                mlmix_end_to_end_s=r["e2e_s"],
                mlmix_fit_s=r["fit_s"],
                ratio_end_to_end=r["e2e_s"] / sm_s,
                ratio_fit=r["fit_s"] / sm_s,
                stepmix_loglik=sm_ll,
                mlmix_loglik=r["loglik"],
                mlmix_n_replicated=r["n_replicated"],
            )
        else:
            row["stepmix_loglik"] = sm_ll
        rows.append(row)

    table = pd.DataFrame(rows)
    float_cols = ("stepmix_s", "mlmix_end_to_end_s", "mlmix_fit_s", "ratio_end_to_end", "ratio_fit",
                  "stepmix_loglik", "mlmix_loglik")
    fmt = {c: "{:.3f}".format for c in float_cols if c in table}
    print(table.to_string(index=False, formatters=fmt))
    for k, ms in eval_ms.items():
        print(f"one loglik+gradient evaluation (K={k}, median of {args.n_eval}): {ms:.3f} ms")
    if run_mlmix:
        print("targets: ratio_end_to_end <= 1.0, ratio_fit <= 0.5, mlmix_loglik >= stepmix_loglik")
    return table


if __name__ == "__main__":
    main()
