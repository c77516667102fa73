"""Class enumeration with the bootstrap LRT: mlmix_pymc vs. StepMix's ``blrt_sweep``.

What is measured
----------------
Data: 1,000 rows x 10 binary items simulated (fixed seed) from a 3-class LCA
(proportions 0.5 / 0.3 / 0.2; item probabilities 0.85 / 0.5 / 0.15 with the
middle class high on the first half of the items).

* ``stepmix_s``: wall time of ``stepmix.bootstrap.blrt_sweep(StepMix(measurement="binary",
  n_init=S), X, low=1, high=5, n_repetitions=B)``: the tests 1 vs 2, ..., 4 vs 5, each
  fitting both models to the real data and to B parametric bootstrap samples drawn from
  the smaller model (every fit with S EM initialisations, StepMix's defaults otherwise).
* ``mlmix_s``: wall time of ``mm.enumerate(df, items, n_classes=range(1, 6), blrt=True,
  blrt_draws=B, starts=(20, 5), blrt_starts=(S, 2))``: the same four bootstrap tests with
  B draws each (the K-1 model of every draw started at the generating values, the K model
  from S random starts, the best 2 completed, plus the real-data K-class estimates), and
  besides them the whole enumeration table (LMR, G2/X2, entropy...). Its compiled graphs
  are reused across draws (``engine/reuse.py``); one untimed warm-up enumeration with one
  draw fills the on-disk PyTensor cache first, so this is graph construction + cached
  compilation + estimation, not a cold C compile.
* ``ratio``: mlmix_s / stepmix_s (< 1: mlmix faster); target <= 0.5.
* Below the table: the BLRT p-values of both, and the real-data log-likelihoods per K.

How to run
----------
From the repository root (after ``pip install -e .[bench]``)::

    python benchmarks/enumerate.py                 # B = 50 draws, S = 5
    python benchmarks/enumerate.py --draws 20      # fewer draws (a shorter run)
    python benchmarks/enumerate.py --threads 1     # single-threaded BLAS for both
"""

from __future__ import annotations

import argparse
import contextlib
import io
import time
import warnings

import numpy as np
import pandas as pd
from _common import add_threads_option, apply_threads, machine_line

N_ROWS, N_ITEMS, DATA_SEED = 1000, 10, 20261201
CLASS_PROPS = (0.5, 0.3, 0.2)


def simulate(n=N_ROWS, n_items=N_ITEMS, seed=DATA_SEED):
    """Binary 3-class LCA data as a DataFrame u1..u10."""
    rng = np.random.default_rng(seed)
    half = n_items // 2
    probs = np.array([[0.85] * n_items, [0.85] * half + [0.15] * (n_items - half), [0.15] * n_items])
    classes = rng.choice(len(CLASS_PROPS), size=n, p=CLASS_PROPS)
    y = (rng.uniform(size=(n, n_items)) < probs[classes]).astype(np.int64)
    return pd.DataFrame(y, columns=[f"u{j + 1}" for j in range(n_items)])


def bench_stepmix(X, draws, n_init, seed):
    from stepmix.bootstrap import blrt_sweep
    from stepmix.stepmix import StepMix

    model = StepMix(n_components=2, measurement="binary", n_init=n_init, random_state=seed, verbose=0,
                    progress_bar=0)
    t0 = time.perf_counter()
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
            contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        table = blrt_sweep(model, X, low=1, high=5, n_repetitions=draws, random_state=seed, verbose=False)
    return time.perf_counter() - t0, table["p"].to_numpy()


def bench_mlmix(df, draws, n_init, seed):
    import mlmix_pymc as mm

    items = list(df.columns)
    options = dict(n_classes=range(1, 6), starts=(20, 5), seed=seed, blrt=True, blrt_starts=(n_init, 2))
    mm.enumerate(df, items, blrt_draws=1, **options)  # untimed warm-up: the on-disk compilation cache
    t0 = time.perf_counter()
    result = mm.enumerate(df, items, blrt_draws=draws, **options)
    return time.perf_counter() - t0, result


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--draws", type=int, default=50, help="bootstrap draws per test (both libraries)")
    p.add_argument("--n-init", type=int, default=5, help="StepMix n_init; mlmix initial random starts of the K model")
    p.add_argument("--seed", type=int, default=1, help="estimation seed")
    add_threads_option(p)
    args = p.parse_args(argv)
    apply_threads(args, argv, __file__)

    df = simulate()
    X = df.to_numpy(dtype=np.float64)
    print(f"Enumeration K = 1..5 with BLRT: n={X.shape[0]}, items={X.shape[1]}, true K={len(CLASS_PROPS)}, "
          f"draws per test={args.draws}, StepMix n_init={args.n_init}, mlmix blrt_starts=({args.n_init}, 2)")
    print(machine_line())
    ml_s, enum = bench_mlmix(df, args.draws, args.n_init, args.seed)
    sm_s, sm_p = bench_stepmix(X, args.draws, args.n_init, args.seed)
    table = pd.DataFrame([{"tests": "1v2 .. 4v5", "draws": args.draws, "stepmix_s": sm_s, "mlmix_s": ml_s,
                           "ratio": ml_s / sm_s}])
    print(table.to_string(index=False, formatters={
        "stepmix_s": "{:.1f}".format, "mlmix_s": "{:.1f}".format, "ratio": "{:.3f}".format}))
    t = enum.table
    print("BLRT p (K-1 vs K), K = 2..5: StepMix", np.round(sm_p, 3).tolist(), " mlmix",
          np.round(t["BLRT_p"].to_numpy()[1:], 3).tolist())
    print("mlmix enumeration table:")
    print(t[["K", "LL", "npar", "BIC", "entropy", "replicated", "VLMR_p", "aLMR_p", "BLRT_p", "BLRT_draws"]]
          .to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print("target: ratio <= 0.5")
    return table


if __name__ == "__main__":
    main()
