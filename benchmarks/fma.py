"""Factor mixture / IRT models: mlmix_pymc timings, and a 2PL against the ``mirt`` package.

What is measured
----------------
All data are simulated with fixed seeds by the numpy functions of this script.

(a) ``a_1000x5`` and ``a_7326x17``: a 2-class factor mixture model (mixture IRT) with
    class-invariant loadings and class-specific thresholds, binary items, one factor,
    logit link: ``logit P(u_j = 1 | eta, c) = lambda_j * eta - tau_cj``, ``eta ~ N(0, 1)``,
    class proportions 0.6 / 0.4, loadings ``lambda_j ~ Uniform(0.8, 2.0)`` common to both
    classes, thresholds ``tau_cj = t_j -+ 1`` around ``t_j ~ N(0, 0.5^2)``: class 1 has the
    low thresholds (high endorsement) on the first half of the items and the high ones on
    the second half, class 2 the reverse.  Sizes 1,000 x 5 and 7,326 x 17 (the NLSY size of
    ``lca.py``).  Model: ``mm.fma(df, items, n_classes=2, n_factors=1,
    loadings="class-invariant", link="logit")``, ``fit(starts=(20, 5), seed=..., se=None)``.

    * ``end_to_end_s``: ``mm.fma(...)`` + ``compile()`` + ``fit(...)`` on a fresh model.
      One untimed end-to-end run first fills PyTensor's on-disk compilation cache, so this
      is graph construction + cached compilation + fit, not a cold C compile.
    * ``fit_s``: ``fit(...)`` alone on an already compiled model (after one short untimed
      ``fit(starts=(0, 0), max_iter=2)`` that compiles whatever the fit needs lazily).
    * ``target_fit_s`` / ``meets``: the fit-only targets on 2 cores, <= 2 s (1,000 x 5)
      and <= 20 s (7,326 x 17).
    * ``loglik``, ``n_rep``: best log-likelihood (under the model's own quadrature) and
      the number of completed final-stage starts that reached it.

(b) ``b_2pl_1000x20``: a 2PL on 1,000 x 20 binary items, ``a ~ Uniform(0.8, 2)``,
    ``b ~ N(0, 1)``, ``theta ~ N(0, 1)``, ``logit P = a (theta - b)``.  Ours:
    ``mm.irt(df, items, model="2pl", link="logit").fit(starts=(0, 0), se=None)`` (one class:
    the deterministic start).  Peer: ``mirt.fit_mirt(Y, model="2PL",
    compute_standard_errors=False)`` of the PyPI package ``mirt`` (Python API, Rust EM
    backend, Bock-Aitkin EM with Gauss-Hermite quadrature; its defaults: 21 points,
    ``tol=1e-4`` on the parameter change).  It was the fastest Python IRT estimator that
    installs with pip on Python 3.11: ~20-40 ms here, against ~0.75 s for ``girth``
    (``twopl_mml``) and seconds for mirt's own pure-Python backend.

    * ``peer_s``: median wall time of ``fit_mirt`` (one untimed warm-up call first; it has
      no compilation step), over ``--peer-repeats`` calls (default 11: it is fast).
    * ``mlmix_end_to_end_s`` / ``mlmix_fit_s``: as in (a).
    * ``ratio_end_to_end`` / ``ratio_fit``: mlmix time / ``peer_s``, same run (< 1: mlmix
      faster).
    * ``peer_loglik`` / ``mlmix_loglik``: the marginal log-likelihood of each library's
      estimates ``(a, b)`` (ours from ``res.irt_parameters()``), recomputed here in numpy
      with one common rule, 61-point Gauss-Hermite for ``theta ~ N(0, 1)``, so both are on
      the same scale whatever quadrature each library used; ``d_loglik`` = mlmix - peer.
      Each library's own reported log-likelihood (at its own quadrature) is printed below
      the table, with that of the generating parameters.

``--integration`` / ``--points`` are passed to our ``fit()`` (the library defaults when
omitted); ``--points`` also sets the peer's ``n_quadpts`` (override with
``--peer-points``), so both integrate with the same number of nodes.

Every mlmix timing is repeated ``--repeats`` times (default 3) and the median is reported;
a run slower than ``--slow`` seconds (default 30) on its first timed run is timed once
(``runs``).  ``--quick``: one repeat.  ``--threads N`` sets ``OMP_NUM_THREADS`` /
``OPENBLAS_NUM_THREADS`` / ``MKL_NUM_THREADS`` (and ``RAYON_NUM_THREADS`` for the peer's
Rust backend) for both libraries (the script restarts itself with that environment).

How to run
----------
From the repository root (after ``pip install -e .[bench]``)::

    python benchmarks/fma.py                  # all cases
    python benchmarks/fma.py --quick          # 1 repeat
    python benchmarks/fma.py --cases b_2pl_1000x20
    python benchmarks/fma.py --peer-only      # only the mirt half of (b), no mlmix_pymc
    python benchmarks/fma.py --integration gauss-hermite --points 21
    python benchmarks/fma.py --threads 1
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

import numpy as np
import pandas as pd
from _common import add_threads_option, apply_threads, integers_or_dash, machine_line, timed_runs

DATA_SEED = 20240610
FMA_CASES = {"a_1000x5": (1000, 5, 2.0), "a_7326x17": (7326, 17, 20.0)}  # n, items, target fit_s
IRT_CASE = "b_2pl_1000x20"
IRT_SIZE = (1000, 20)
CASES = (*FMA_CASES, IRT_CASE)
CLASS_PROPS = (0.6, 0.4)
COMPARE_POINTS = 61  # Gauss-Hermite nodes of the common log-likelihood scale of (b)


# --------------------------------------------------------------------------- data
def _items(n_items):
    return [f"u{j + 1}" for j in range(n_items)]


def simulate_fma(n, n_items, seed=DATA_SEED):
    """2-class mixture IRT, class-invariant loadings, class-specific thresholds, logit link.

    ``logit P(u_j = 1 | eta, c) = lambda_j * eta - tau_cj``, ``eta ~ N(0, 1)``, classes
    0.6 / 0.4, ``lambda_j ~ U(0.8, 2.0)``, ``tau_1j = t_j - 1`` (first half of the items) /
    ``t_j + 1`` (second half), class 2 the reverse, ``t_j ~ N(0, 0.5^2)``.
    Returns (DataFrame u1..uP, true classes, loadings, thresholds [class, item]).
    """
    rng = np.random.default_rng(seed + 1000 * n_items)
    lam = rng.uniform(0.8, 2.0, n_items)
    t = rng.normal(0.0, 0.5, n_items)
    shift = np.where(np.arange(n_items) < n_items // 2, -1.0, 1.0)
    tau = np.vstack([t + shift, t - shift])
    c = rng.choice(len(CLASS_PROPS), size=n, p=CLASS_PROPS)
    eta = rng.normal(size=n)
    lin = eta[:, None] * lam[None, :] - tau[c]
    y = (rng.uniform(size=(n, n_items)) < 1 / (1 + np.exp(-lin))).astype(np.int64)
    return pd.DataFrame(y, columns=_items(n_items)), c, lam, tau


def simulate_2pl(n=IRT_SIZE[0], n_items=IRT_SIZE[1], seed=DATA_SEED + 7):
    """2PL: ``logit P = a (theta - b)``, ``a ~ U(0.8, 2)``, ``b ~ N(0, 1)``, ``theta ~ N(0, 1)``."""
    rng = np.random.default_rng(seed)
    a = rng.uniform(0.8, 2.0, n_items)
    b = rng.normal(0.0, 1.0, n_items)
    theta = rng.normal(size=n)
    p = 1 / (1 + np.exp(-a[None, :] * (theta[:, None] - b[None, :])))
    y = (rng.uniform(size=(n, n_items)) < p).astype(np.int64)
    return pd.DataFrame(y, columns=_items(n_items)), a, b


def loglik_2pl(y, a, b, points=COMPARE_POINTS):
    """Marginal log-likelihood of a 2PL, ``theta ~ N(0, 1)``, ``points``-node Gauss-Hermite."""
    x, w = np.polynomial.hermite_e.hermegauss(points)  # weight exp(-x^2 / 2)
    logw = np.log(w / w.sum())
    eta = np.asarray(a, float)[None, :] * (x[:, None] - np.asarray(b, float)[None, :])  # nodes x items
    y = np.asarray(y, float)
    ll_nodes = y @ (-np.logaddexp(0.0, -eta)).T + (1.0 - y) @ (-np.logaddexp(0.0, eta)).T  # rows x nodes
    z = ll_nodes + logw[None, :]
    m = z.max(axis=1, keepdims=True)
    return float((m[:, 0] + np.log(np.exp(z - m).sum(axis=1))).sum())


# --------------------------------------------------------------------------- timing
_timed = timed_runs  # benchmarks/_common.py


def _quad_kwargs(args):
    kw = {}
    if args.integration is not None:
        kw["integration"] = args.integration
    if args.points is not None:
        kw["points"] = args.points
    return kw


def bench_mlmix(factory, fit_kwargs, repeats, slow):
    """End-to-end (fresh model + compile + fit) and fit-only timings of one mlmix_pymc model."""
    def end_to_end():
        model = factory()
        model.compile()
        return model.fit(**fit_kwargs)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        end_to_end()  # untimed warm-up: fills PyTensor's on-disk compilation cache
        e2e_s, e2e_runs, _ = _timed(end_to_end, repeats, slow)
        model = factory()
        model.compile()
        try:  # untimed: compiles what the fit builds lazily
            model.fit(**dict(fit_kwargs, starts=(0, 0), max_iter=2))
        except TypeError:  # a fit() without max_iter: a full deterministic-start fit instead
            model.fit(**dict(fit_kwargs, starts=(0, 0)))
        fit_s, fit_runs, res = _timed(lambda: model.fit(**fit_kwargs), repeats, slow)
    return dict(e2e_s=e2e_s, fit_s=fit_s, runs=min(e2e_runs, fit_runs), res=res)


# --------------------------------------------------------------------------- peer (mirt)
def mirt_version():
    """The installed ``mirt`` version, or None (with the reason printed)."""
    try:
        import mirt
    except ImportError as exc:
        print(f"peer not available: mirt ({exc}); pip install mirt")
        return None
    try:
        from importlib.metadata import version

        return version("mirt")
    except Exception:  # noqa: BLE001 - metadata missing: fall back to the module attribute
        return getattr(mirt, "__version__", "?")


def bench_peer(y, n_quadpts, tol, repeats):
    """Median time of ``mirt.fit_mirt(y, "2PL")`` and its estimates / own log-likelihood."""
    import mirt

    kw = dict(model="2PL", compute_standard_errors=False, verbose=False)
    if n_quadpts is not None:
        kw["n_quadpts"] = n_quadpts
    if tol is not None:
        kw["tol"] = tol
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mirt.fit_mirt(y, **kw)  # warm-up (first-call set-up of the Rust backend)
        secs, _, r = _timed(lambda: mirt.fit_mirt(y, **kw), repeats, float("inf"))
    par = r.model.parameters
    a = np.asarray(par["discrimination"], float).ravel()
    b = np.asarray(par["difficulty"], float).ravel()
    return dict(peer_s=secs, a=a, b=b, own_loglik=float(r.log_likelihood), converged=bool(r.converged),
                iterations=int(r.n_iterations), n_quadpts=kw.get("n_quadpts", "default"))


# --------------------------------------------------------------------------- cases
def run_fma_case(case, args, repeats):
    import mlmix_pymc as mm

    n, n_items, target = FMA_CASES[case]
    df, _, _, _ = simulate_fma(n, n_items)
    items = _items(n_items)

    def factory():
        return mm.fma(df, items, n_classes=2, n_factors=1, loadings="class-invariant", link="logit")

    fit_kwargs = dict(starts=(args.starts, args.final), seed=args.seed, se=None, **_quad_kwargs(args))
    r = bench_mlmix(factory, fit_kwargs, repeats, args.slow)
    res = r["res"]
    return dict(case=case, n=n, items=n_items, starts=f"{args.starts},{args.final}", end_to_end_s=r["e2e_s"],
                fit_s=r["fit_s"], runs=r["runs"], target_fit_s=target,
                meets="yes" if r["fit_s"] <= target else "no", loglik=float(res.loglik),
                n_rep=int(res.n_replicated))


def run_irt_case(args, repeats, peer, run_mlmix, notes):
    df, a_true, b_true = simulate_2pl()
    y = df.to_numpy()
    items = list(df.columns)
    row = dict(case=IRT_CASE, n=y.shape[0], items=y.shape[1])
    notes.append(f"{IRT_CASE}: generating parameters: loglik ({COMPARE_POINTS}-point GH) = "
                 f"{loglik_2pl(y, a_true, b_true):.4f}")
    P = None
    if peer:
        points = args.peer_points if args.peer_points is not None else args.points
        P = bench_peer(y, points, args.peer_tol, args.peer_repeats)
        row.update(peer_s=P["peer_s"], peer_loglik=loglik_2pl(y, P["a"], P["b"]))
        notes.append(f"{IRT_CASE}: mirt own loglik = {P['own_loglik']:.4f} (n_quadpts={P['n_quadpts']}, "
                     f"{P['iterations']} EM iterations, converged={P['converged']}; "
                     f"median of {args.peer_repeats} calls)")
    if run_mlmix:
        import mlmix_pymc as mm

        def factory():
            return mm.irt(df, items, model="2pl", link="logit")

        fit_kwargs = dict(starts=(0, 0), se=None, **_quad_kwargs(args))
        r = bench_mlmix(factory, fit_kwargs, repeats, args.slow)
        res = r["res"]
        est = res.irt_parameters().set_index("item").loc[items]
        ll = loglik_2pl(y, est["a"].to_numpy(float), est["b"].to_numpy(float))
        row.update(mlmix_end_to_end_s=r["e2e_s"], mlmix_fit_s=r["fit_s"], runs=r["runs"], mlmix_loglik=ll)
        notes.append(f"{IRT_CASE}: mlmix own loglik = {float(res.loglik):.4f} "
                     f"(integration={args.integration or 'default'}, points={args.points or 'default'})")
        if P is not None:
            row.update(ratio_end_to_end=r["e2e_s"] / P["peer_s"], ratio_fit=r["fit_s"] / P["peer_s"],
                       d_loglik=ll - row["peer_loglik"])
    return row


# --------------------------------------------------------------------------- main
def _print_table(rows, fmt3, fmt4=(), ints=()):
    table = pd.DataFrame(rows)
    fmt = {c: "{:.3f}".format for c in fmt3 if c in table}
    fmt.update({c: "{:.4f}".format for c in fmt4 if c in table})
    if "d_loglik" in table:
        fmt["d_loglik"] = "{:+.4f}".format
    integers_or_dash(table, ints)
    print(table.to_string(index=False, formatters=fmt, na_rep="-"))
    return table


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES), help="cases to run")
    p.add_argument("--repeats", type=int, default=3, help="mlmix timing repeats (median reported)")
    p.add_argument("--quick", action="store_true", help="a single repeat")
    p.add_argument("--slow", type=float, default=30.0, help="time a run once if its first run exceeds this (s)")
    p.add_argument("--starts", type=int, default=20, help="FMA random starts")
    p.add_argument("--final", type=int, default=5, help="FMA final-stage starts")
    p.add_argument("--seed", type=int, default=1, help="estimation seed")
    p.add_argument("--integration", default=None, help="our fit(integration=...) (default: library default)")
    p.add_argument("--points", type=int, default=None,
                   help="our fit(points=...) and the peer's n_quadpts (default: each library's default)")
    p.add_argument("--peer-points", type=int, default=None, help="the peer's n_quadpts (overrides --points)")
    p.add_argument("--peer-tol", type=float, default=None, help="the peer's EM tol (default: mirt's, 1e-4)")
    p.add_argument("--peer-repeats", type=int, default=11, help="peer timing calls (median reported)")
    p.add_argument("--peer-only", action="store_true", help="only the peer half of (b); no mlmix_pymc")
    p.add_argument("--no-peer", action="store_true", help="skip the mirt peer")
    add_threads_option(p)
    args = p.parse_args(argv)
    if args.threads is not None:
        os.environ["RAYON_NUM_THREADS"] = str(args.threads)  # carried into the restart below
    apply_threads(args, argv, __file__)
    repeats = 1 if args.quick else max(1, args.repeats)

    run_mlmix = not args.peer_only
    if run_mlmix:
        try:
            import mlmix_pymc  # noqa: F401
        except ImportError as exc:
            print(f"mlmix_pymc not importable ({exc}); running the peer only", file=sys.stderr)
            run_mlmix = False
    cases = [c for c in args.cases if run_mlmix or c == IRT_CASE]

    print(f"Factor mixture / IRT: mlmix fits median of {repeats} (one run when > {args.slow:g} s); "
          f"FMA starts=({args.starts}, {args.final}), seed={args.seed}; integration="
          f"{args.integration or 'default'}, points={args.points or 'default'}")
    print(machine_line())
    peer = None if args.no_peer else mirt_version()
    if args.no_peer:
        print("peer skipped (--no-peer)")
    elif peer:
        print(f"peer: mirt {peer} (PyPI; fit_mirt(model='2PL', compute_standard_errors=False), Rust EM)")
    if not run_mlmix and (args.no_peer or not peer):
        print("nothing to run (no mlmix_pymc and no peer)")
        return None

    fma_rows = [run_fma_case(c, args, repeats) for c in cases if c in FMA_CASES]
    notes, irt_rows = [], []
    if IRT_CASE in cases:
        irt_rows.append(run_irt_case(args, repeats, peer, run_mlmix, notes))

    tables = {}
    if fma_rows:
        print("\n(a) 2-class factor mixture (class-invariant loadings, binary items, logit)")
        tables["fma"] = _print_table(fma_rows, ("end_to_end_s", "fit_s", "loglik"), ints=("runs", "n_rep"))
    if irt_rows:
        print(f"\n(b) 2PL: mlmix_pymc vs mirt; log-likelihoods recomputed with {COMPARE_POINTS}-point "
              "Gauss-Hermite, theta ~ N(0, 1)")
        tables["irt"] = _print_table(
            irt_rows, ("peer_s", "mlmix_end_to_end_s", "mlmix_fit_s", "ratio_end_to_end", "ratio_fit"),
            fmt4=("peer_loglik", "mlmix_loglik"), ints=("runs",))
    for line in notes:
        print(line)
    if fma_rows:
        print("targets (a): fit_s <= 2 s (1000 x 5) and <= 20 s (7326 x 17) on 2 cores")
    print(f"load average at the end: {', '.join(f'{v:.2f}' for v in os.getloadavg())}")
    return tables


if __name__ == "__main__":
    main()
