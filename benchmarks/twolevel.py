"""Two-level models (random effects integrated per cluster): mlmix_pymc vs. lme4.

What is measured
----------------
All data are simulated (fixed seeds) with 100 clusters x 10 persons.  Four cases:

* ``a_lca2``: two-level LCA, 10 binary items, 2 classes, a random intercept on the
  class logit (one dimension, parameter ``var(c#1)``).  ``P(c = 1 | j) =
  logistic(0.5 + alpha_j)``, ``alpha_j ~ N(0, 2)``; item probabilities 0.8 / 0.2
  (class 1: items 1-5 high, 6-10 low; class 2 the reverse).
* ``b_lca3``: two-level LCA, 10 binary items, 3 classes, random intercepts on both
  class logits (two dimensions: ``var(c#1)``, ``cov(c#2,c#1)``, ``var(c#2)``).
  Logits ``(0.5, 0) + alpha_j`` against class 3, ``alpha_j ~ N(0, [[1.5, .5], [.5, 1.5]])``;
  item probabilities 0.85 (class 1), 0.85 / 0.15 (class 2: items 1-5 / 6-10), 0.15 (class 3).
* ``b_logit_rs``: logistic regression with a random intercept and a random slope
  (two dimensions), ``logit P(y = 1) = -0.5 + x + u_j + s_j x``, ``x ~ N(0, 1)``,
  ``u_j ~ N(0, 1)``, ``s_j ~ N(0, 0.5)``.  Peer: ``lme4::glmer(y ~ x + (1 + x | cluster),
  nAGQ = 1)`` (lme4 allows ``nAGQ > 1`` only for a single scalar random effect).
* ``c_logit_ri``: the 1-class random-intercept logistic model (a GLMM),
  ``logit P(y = 1) = -0.5 + x + u_j``, ``u_j ~ N(0, 1)``.  Peers:
  ``glmer(y ~ x + (1 | cluster), nAGQ = 1 / 7 / 15)`` against ours with
  ``integration="laplace"`` / ``"adaptive"`` with 7 / 15 points.

For every case and integration method (15-point Gauss-Hermite, adaptive Gauss-Hermite
with 7 points per dimension, Laplace; ``c_logit_ri`` also adaptive with 15):

* ``evals_per_s``: calls per second of one ``compiled.loglik_grad(theta)`` (log-likelihood
  + gradient at the current nodes; adaptive nodes placed at the optimum first), repeated
  for ``--eval-seconds``.  With ``laplace`` one call is one mode search plus one call of the
  exact-gradient graph (implicit differentiation of the modes, ``engine/cluster_engine.py``);
  the ``laplace-central`` row is the previous method, 2 x n_free + 1 Laplace evaluations
  (central differences), measured in the same run as the "before".
* ``fit_s``: time to ML, ``model.fit(integration=..., points=..., starts=..., se=None)``
  on an already compiled model (excludes the PyTensor C compilation: ``model.compile()``
  and one short untimed warm-up fit per method run first; the compile time of each case
  is printed below the table and is ~20 s per new graph on a cold disk cache).  LCA cases
  use ``starts=(20, 5)``; the 1-class logistic models use the deterministic start,
  ``starts=(0, 0)``, as lme4 has no random starts.
* ``loglik``: log-likelihood at the optimum under that method; ``n_rep``: completed
  final-stage starts that reached it; ``fallback``: ``yes`` when adaptive / Laplace
  integration failed and the fit fell back to non-adaptive Gauss-Hermite (then the
  row is not a Laplace / adaptive result).
* ``var_est``: the estimated random-effect (co)variances, in parameter order.
* lme4 columns (when R and lme4 are installed): ``lme4_fit_s`` is the median
  ``system.time(glmer(..., control = glmerControl(calc.derivs = FALSE)))`` elapsed time
  measured inside R (R start-up and package loading excluded; one untimed warm-up fit
  first; ``calc.derivs = FALSE`` because our ``fit_s`` computes no standard errors either);
  ``ratio_fit`` = ``fit_s / lme4_fit_s`` (< 1: mlmix faster); ``lme4_loglik`` is
  ``logLik(fit)``; ``d_loglik`` = ours - lme4; ``lme4_evals_per_s`` is calls per second of
  lme4's deviance function (``devFunOnly = TRUE``) at its optimum: a value only, no
  gradient (lme4 optimizes derivative-free), so it is not the same unit of work as ours.
  A second table lists the estimates side by side (ours ``y$1`` is a threshold, so the
  intercept is ``-y$1``).

Before / after in the same run: ``--baseline REV`` runs this same script (same cases and
options) on the library as of git revision ``REV`` (a temporary worktree, its own process,
after ours) and adds ``fit_s_before``, ``evals_before`` and ``speedup`` (= ``fit_s_before /
fit_s``) per row; rows the baseline does not have are ``-``.

Every fit is timed ``--repeats`` times (default 3) and the median is reported; a fit whose
first timed run takes longer than ``--slow`` seconds (default 10) is timed once
(``runs`` column).  ``--quick``: one repeat and shorter evaluation timing.

How to run
----------
From the repository root::

    python benchmarks/twolevel.py              # all cases, lme4 if Rscript + lme4 are found
    python benchmarks/twolevel.py --quick
    python benchmarks/twolevel.py --cases c_logit_ri b_logit_rs --no-lme4
    python benchmarks/twolevel.py --threads 1  # single-threaded BLAS for both
    python benchmarks/twolevel.py --cases b_lca3 --no-lme4 --baseline e2e103e  # before/after
    python benchmarks/twolevel.py --quick --backend jax   # JAX's XLA functions (one per chunk shape)

lme4 on Debian / Ubuntu: ``apt-get install r-base-core r-cran-lme4``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np
import pandas as pd
from _common import (add_threads_option, apply_threads, integers_or_dash, machine_line, simulate_two_level_lca,
                     timed_runs)
from mlmix_pymc.engine.integrated import IntegratedObjective

N_CLUSTERS = 100
CLUSTER_SIZE = 10
N_ITEMS = 10
DATA_SEED = 20240601
CASES = ("a_lca2", "b_lca3", "b_logit_rs", "c_logit_ri")
METHODS = (("gauss-hermite", 15), ("adaptive", 7), ("laplace-central", 1), ("laplace", 1))
# our (integration, points) -> lme4 nAGQ it should reproduce
LME4_MATCH = {("laplace", 1): 1, ("adaptive", 7): 7, ("adaptive", 15): 15}


# --------------------------------------------------------------------------- data
def _items(n_items=N_ITEMS):
    return [f"u{i + 1}" for i in range(n_items)]


def simulate_lca2(seed=DATA_SEED):
    """2-class two-level LCA, random class-logit intercept with variance 2."""
    return simulate_two_level_lca(N_CLUSTERS, CLUSTER_SIZE, N_ITEMS, 2.0, seed)


def simulate_lca3(seed=DATA_SEED + 1):
    """3-class two-level LCA, random intercepts on both class logits (2-D)."""
    rng = np.random.default_rng(seed)
    cl = np.repeat(np.arange(N_CLUSTERS), CLUSTER_SIZE)
    alpha = rng.multivariate_normal([0.0, 0.0], [[1.5, 0.5], [0.5, 1.5]], N_CLUSTERS)
    logits = np.column_stack([0.5 + alpha[cl, 0], 0.0 + alpha[cl, 1], np.zeros(cl.size)])
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    c = (rng.uniform(size=(cl.size, 1)) > np.cumsum(p, axis=1)).sum(axis=1)
    half = N_ITEMS // 2
    probs = np.array([[0.85] * N_ITEMS, [0.85] * half + [0.15] * (N_ITEMS - half), [0.15] * N_ITEMS])
    y = (rng.uniform(size=(cl.size, N_ITEMS)) < probs[c]).astype(np.int64)
    df = pd.DataFrame(y, columns=_items())
    df["cluster"] = cl
    return df


def simulate_logit(random_slope, seed):
    """Logistic GLMM: logit P(y=1) = -0.5 + x + u_j (+ s_j x)."""
    rng = np.random.default_rng(seed)
    cl = np.repeat(np.arange(N_CLUSTERS), CLUSTER_SIZE)
    x = rng.normal(size=cl.size)
    u = rng.normal(0.0, 1.0, N_CLUSTERS)
    s = rng.normal(0.0, np.sqrt(0.5), N_CLUSTERS) if random_slope else np.zeros(N_CLUSTERS)
    eta = -0.5 + 1.0 * x + u[cl] + s[cl] * x
    y = (rng.uniform(size=cl.size) < 1 / (1 + np.exp(-eta))).astype(np.int64)
    return pd.DataFrame({"y": y, "x": x, "cluster": cl})


def make_case(name):
    """(DataFrame, model factory, methods, kind, (lme4 formula, nAGQs) or None, description)."""
    import mlmix_pymc as mm

    if name == "a_lca2":
        df = simulate_lca2()
        return (df, lambda: mm.lca(df, items=_items(), n_classes=2, cluster="cluster", random_intercept=True),
                METHODS, "lca", None, "2-class LCA, random class-logit intercept (1-D)")
    if name == "b_lca3":
        df = simulate_lca3()
        return (df, lambda: mm.lca(df, items=_items(), n_classes=3, cluster="cluster", random_intercept=True),
                METHODS, "lca", None, "3-class LCA, 2 random class-logit intercepts (2-D)")
    if name == "b_logit_rs":
        df = simulate_logit(True, DATA_SEED + 2)
        return (df, lambda: mm.regression_mixture(df, "y", "x", 1, cluster="cluster",
                                                  random=["intercept", "slope"], family="binary"),
                METHODS, "glmm", ("y ~ x + (1 + x | cluster)", (1,)), "logistic, random intercept + slope (2-D)")
    if name == "c_logit_ri":
        df = simulate_logit(False, DATA_SEED + 3)
        return (df, lambda: mm.regression_mixture(df, "y", "x", 1, cluster="cluster",
                                                  random=["intercept"], family="binary"),
                METHODS + (("adaptive", 15),), "glmm", ("y ~ x + (1 | cluster)", (1, 7, 15)),
                "logistic, random intercept (1-D)")
    raise ValueError(name)


# --------------------------------------------------------------------------- mlmix
_timed_fit = timed_runs  # benchmarks/_common.py


def _evals_per_s(compiled, theta, seconds, min_calls=5):
    compiled.loglik_grad(theta)  # warm-up
    n, t0 = 0, time.perf_counter()
    while n < min_calls or time.perf_counter() - t0 < seconds:
        compiled.loglik_grad(theta)
        n += 1
    return n / (time.perf_counter() - t0)


def _var_names(model):
    return [n for n in model.free_parameter_names if n.startswith(("var(", "cov("))]


def bench_mlmix_case(factory, methods, kind, args, repeats):
    from threadpoolctl import threadpool_limits

    t0 = time.perf_counter()
    model = factory()
    compiled = model.compile(backend=args.backend)
    compile_s = time.perf_counter() - t0
    starts = (args.starts, args.final) if kind == "lca" else (0, 0)
    rows, results = [], {}
    for label, points in methods:
        integration = "laplace" if label == "laplace-central" else label
        kw = dict(integration=integration, points=points, seed=args.seed, se=None, backend=args.backend)
        # "laplace-central": the Laplace gradient by central differences (before the exact one)
        IntegratedObjective.laplace_gradient = "central" if label == "laplace-central" else "exact"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # untimed warm-up: compiles the functions this method needs (details, Laplace derivatives)
            model.fit(starts=(0, 0), max_iter=2, **kw)
            fit_s, runs, res = _timed_fit(lambda: model.fit(starts=starts, **kw), repeats, args.slow)
        theta = np.asarray(res.theta)
        compiled = model.compile(integration, points, backend=args.backend)  # the fit's own objective
        with warnings.catch_warnings(), threadpool_limits(limits=1, user_api="blas"):
            warnings.simplefilter("ignore")
            compiled.adapt(theta)
            eps = _evals_per_s(compiled, theta, args.eval_seconds)
        est = res.parameters.set_index("name")["estimate"]
        IntegratedObjective.laplace_gradient = "exact"
        results[(label, points)] = est
        fallback = bool(res.clusters is not None and res.clusters.adaptive_failed)
        rows.append(dict(
            method=label, points=points, nodes=compiled.rule.n_points if not fallback else np.nan,
            starts=f"{starts[0]},{starts[1]}", evals_per_s=eps, fit_s=fit_s, runs=runs, loglik=float(res.loglik),
            n_rep=int(res.n_replicated), fallback="yes" if fallback else "no",
            var_est=",".join(f"{est[n]:.3f}" for n in _var_names(model)),
        ))
    return rows, results, compile_s, model


# --------------------------------------------------------------------------- lme4
R_SCRIPT = r"""
suppressMessages(library(lme4))
a <- commandArgs(trailingOnly = TRUE)
d <- read.csv(a[1]); form <- as.formula(a[2]); agqs <- as.integer(strsplit(a[3], ",")[[1]])
reps <- as.integer(a[4]); secs <- as.numeric(a[5])
ctl <- glmerControl(calc.derivs = FALSE)
invisible(glmer(form, d, family = binomial, nAGQ = agqs[1], control = ctl))  # warm-up
for (q in agqs) {
  times <- numeric(0)
  for (r in seq_len(reps)) {
    tt <- system.time(f <- glmer(form, d, family = binomial, nAGQ = q, control = ctl))[["elapsed"]]
    times <- c(times, tt)
  }
  dd <- glmer(form, d, family = binomial, nAGQ = q, control = ctl, devFunOnly = TRUE)
  pars <- c(getME(f, "theta"), fixef(f))
  n <- 0; t0 <- proc.time()[["elapsed"]]
  while (n < 5 || proc.time()[["elapsed"]] - t0 < secs) { dd(pars); n <- n + 1 }
  eps <- n / (proc.time()[["elapsed"]] - t0)
  vc <- as.matrix(VarCorr(f)[[1]])
  fe <- fixef(f)
  cat(sprintf("RESULT\t%d\t%.6f\t%.8f\t%.4f\t%.8f\t%.8f\t%.8f\t%.8f\t%.8f\n", q, median(times),
              as.numeric(logLik(f)), eps, fe[1], fe[2], vc[1, 1],
              if (ncol(vc) > 1) vc[2, 1] else NA, if (ncol(vc) > 1) vc[2, 2] else NA))
}
"""


def lme4_version():
    """lme4's version string, or None (with the reason printed) when R / lme4 is unavailable."""
    if shutil.which("Rscript") is None:
        print("lme4 not available (Rscript not found)")
        return None
    try:
        out = subprocess.run(
            ["Rscript", "-e", 'suppressMessages(library(lme4)); cat(R.version$major, R.version$minor, '
                              'as.character(packageVersion("lme4")))'],
            capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        print(f"lme4 not available ({exc})")
        return None
    if out.returncode != 0:
        print(f"lme4 not available ({out.stderr.strip().splitlines()[-1] if out.stderr.strip() else 'R error'})")
        return None
    major, minor, lme4 = out.stdout.split()
    return f"R {major}.{minor}, lme4 {lme4}"


def bench_lme4(df, formula, agqs, repeats, eval_seconds):
    """{nAGQ: dict(fit_s, loglik, evals_per_s, intercept, slope, var_u, cov, var_s)} from one Rscript run."""
    with tempfile.TemporaryDirectory() as tmp:
        csv, script = os.path.join(tmp, "data.csv"), os.path.join(tmp, "bench.R")
        df.to_csv(csv, index=False)
        with open(script, "w") as fh:
            fh.write(R_SCRIPT)
        out = subprocess.run(["Rscript", script, csv, formula, ",".join(map(str, agqs)), str(repeats),
                              str(eval_seconds)], capture_output=True, text=True, timeout=1800)
    if out.returncode != 0:
        print(f"lme4 run failed: {out.stderr.strip()[-500:]}", file=sys.stderr)
        return {}
    res = {}
    for line in out.stdout.splitlines():
        if line.startswith("RESULT\t"):
            f = line.split("\t")[1:]
            vals = [float(v) if v != "NA" else np.nan for v in f[1:]]
            res[int(f[0])] = dict(zip(("fit_s", "loglik", "evals_per_s", "intercept", "slope", "var_u", "cov",
                                       "var_s"), vals))
    return res


def _ours_glmm(est):
    """Our estimates on lme4's scale (intercept = -threshold)."""
    return dict(intercept=-est["y$1|c#1"], slope=est["y ON x|c#1"], var_u=est["var(u)"],
                cov=est.get("cov(s,u)", np.nan), var_s=est.get("var(s)", np.nan))


# --------------------------------------------------------------------------- baseline
def run_baseline(rev, argv):
    """This script's table (records) on the library at git revision ``rev``, or None."""
    import json

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    tree = os.path.join(tempfile.gettempdir(), f"mlmix-baseline-{rev}")
    if not os.path.isdir(tree):
        made = subprocess.run(["git", "-C", root, "worktree", "add", "--detach", tree, rev], capture_output=True,
                              text=True)
        if made.returncode != 0:
            print(f"baseline {rev}: git worktree failed: {made.stderr.strip()}", file=sys.stderr)
            return None
    out = os.path.join(tree, "baseline.json")
    args = [a for a in argv if a != "--no-lme4"]
    # this script's own options, without --baseline REV; the baseline runs without lme4
    i = args.index("--baseline")
    args = args[:i] + args[i + 2:] + ["--no-lme4", "--json", out]
    # this script (the baseline's may lack --json) against the baseline's library
    script = os.path.abspath(__file__)
    code = (f"import runpy, sys; sys.argv = sys.argv[1:]; sys.path.insert(1, {os.path.dirname(script)!r}); "
            f"runpy.run_path({script!r}, run_name='__main__')")
    done = subprocess.run([sys.executable, "-c", code, script, *args], cwd=tree, env=dict(os.environ, PYTHONPATH=tree))
    if done.returncode != 0 or not os.path.exists(out):
        print(f"baseline {rev}: run failed", file=sys.stderr)
        return None
    with open(out) as fh:
        return json.load(fh)


def add_baseline(table, records):
    """``fit_s_before``, ``evals_before`` and ``speedup`` columns from the baseline's records."""
    before = {(r["case"], r["method"], r["points"]): r for r in records}
    keys = list(zip(table["case"], table["method"], table["points"]))
    table["fit_s_before"] = [before[k]["fit_s"] if k in before else np.nan for k in keys]
    table["evals_before"] = [before[k]["evals_per_s"] if k in before else np.nan for k in keys]
    table["speedup"] = table["fit_s_before"] / table["fit_s"]
    return table


# --------------------------------------------------------------------------- main
def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES), help="cases to run")
    p.add_argument("--repeats", type=int, default=3, help="timing repeats of each fit (median reported)")
    p.add_argument("--quick", action="store_true", help="one repeat, 0.3 s evaluation timing")
    p.add_argument("--slow", type=float, default=10.0, help="time a fit once if its first run exceeds this (s)")
    p.add_argument("--eval-seconds", type=float, default=1.0, help="seconds of loglik_grad calls per method")
    p.add_argument("--starts", type=int, default=20, help="LCA random starts")
    p.add_argument("--final", type=int, default=5, help="LCA final-stage starts")
    p.add_argument("--seed", type=int, default=1, help="estimation seed")
    p.add_argument("--no-lme4", action="store_true", help="skip the lme4 peer")
    p.add_argument("--baseline", metavar="REV", help="also run the library at git revision REV (before/after)")
    p.add_argument("--json", metavar="PATH", help="write the table as JSON records")
    p.add_argument("--backend", choices=("c", "jax"), default="c",
                   help="compiler of our functions (jax: compiled at the untimed warm-up fit)")
    p.add_argument("--methods", nargs="+", choices=sorted({m for m, _ in METHODS + (("adaptive", 15),)}),
                   help="only these integration methods (default: all)")
    add_threads_option(p)
    args = p.parse_args(argv)
    apply_threads(args, argv, __file__)
    repeats = 1 if args.quick else max(1, args.repeats)
    if args.quick:
        args.eval_seconds = min(args.eval_seconds, 0.3)

    print(f"Two-level models: {N_CLUSTERS} clusters x {CLUSTER_SIZE} persons; fits: median of {repeats} "
          f"(one run when > {args.slow:g} s), excluding PyTensor compilation; LCA starts=({args.starts}, "
          f"{args.final}), seed={args.seed}")
    import mlmix_pymc

    print(machine_line())
    print(f"library: {os.path.dirname(os.path.abspath(mlmix_pymc.__file__))}")
    peer = None if args.no_lme4 else lme4_version()
    if args.no_lme4:
        print("lme4 not available (--no-lme4)")
    elif peer:
        print(f"peer: {peer} (glmer, binomial, calc.derivs = FALSE; timed inside R)")

    rows, compile_times, est_rows = [], {}, []
    for case in args.cases:
        df, factory, methods, kind, peer_spec, desc = make_case(case)
        if args.methods:
            methods = tuple(m for m in methods if m[0] in args.methods)
        case_rows, ours, compile_s, model = bench_mlmix_case(factory, methods, kind, args, repeats)
        compile_times[case] = (compile_s, desc)
        lme4 = {}
        if peer and peer_spec is not None:
            formula, agqs = peer_spec
            lme4 = bench_lme4(df, formula, agqs, repeats, args.eval_seconds)
        for r, m in zip(case_rows, methods):
            row = dict(case=case, dim=model.structure.between_model.dim, **r)
            q = LME4_MATCH.get(m)
            if q in lme4:
                L = lme4[q]
                row.update(lme4_nAGQ=q, lme4_fit_s=L["fit_s"], ratio_fit=r["fit_s"] / L["fit_s"],
                           lme4_loglik=L["loglik"], d_loglik=r["loglik"] - L["loglik"],
                           lme4_evals_per_s=L["evals_per_s"])
                mine = _ours_glmm(ours[m])
                for key in ("intercept", "slope", "var_u", "cov", "var_s"):
                    if np.isfinite(L[key]):
                        est_rows.append(dict(case=case, method=f"{m[0]} {m[1]}", nAGQ=q, parameter=key,
                                             mlmix=mine[key], lme4=L[key], diff=mine[key] - L[key]))
            rows.append(row)

    table = pd.DataFrame(rows)
    if args.json:
        table.to_json(args.json, orient="records")
    if args.baseline:
        records = run_baseline(args.baseline, list(sys.argv[1:] if argv is None else argv))
        if records is not None:
            table = add_baseline(table, records)
            print(f"\nbaseline: revision {args.baseline}, same options, run after ours in its own process")
    fmt = {c: "{:.3f}".format for c in ("fit_s", "lme4_fit_s", "ratio_fit", "loglik", "lme4_loglik", "fit_s_before")
           if c in table}
    fmt.update({c: "{:.1f}".format for c in ("evals_per_s", "lme4_evals_per_s", "evals_before", "speedup")
                if c in table})
    if "d_loglik" in table:
        fmt["d_loglik"] = "{:+.4f}".format
    integers_or_dash(table, ("nodes", "lme4_nAGQ"))
    print()
    print(table.to_string(index=False, formatters=fmt, na_rep="-"))
    print()
    for case, (secs, desc) in compile_times.items():
        print(f"{case}: {desc}; model build + compile {secs:.1f} s (not in fit_s; disk cache may be warm)")
    if est_rows:
        print("\nestimates, mlmix vs lme4 (intercept = -y$1):")
        print(pd.DataFrame(est_rows).to_string(index=False, float_format="{:.5f}".format))
    if (table.get("fallback") == "yes").any():
        print("\nfallback = yes: adaptive/Laplace integration failed during the fit (e.g. at a random start) and "
              "the fit fell back to non-adaptive Gauss-Hermite (max(points, 7) points per dimension): fit_s, "
              "loglik and var_est of that row are not the named method (evals_per_s is, measured at that optimum)")
    return table


if __name__ == "__main__":
    main()
