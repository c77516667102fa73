"""Grade-of-membership (GoM) models: fit timings, and the wide model against the long-format route.

What is measured
----------------
All data are simulated with fixed seeds by the numpy functions of this script (a copy of the
simulation of ``tests/reference_gom.py``): ``n`` persons (default 7,326) x 17 binary items, the
size of the NLSY data of the paper's Table 5.  Every person draws a membership vector ``g``
and every item its own class ``C_ij`` with ``P(C_ij = k) = g_k`` (eq 28); item ``p`` answers
``P(y = 1 | k) = 1 / (1 + exp(tau_kp))``.

* ``ln2``: 2-class logistic-normal GoM, ``g_1 = logistic(-1 + b)``, ``b ~ N(0, 4)``,
  ``tau_1 = linspace(-2, 0.5, 17)``, ``tau_2 = linspace(1.5, 4, 17)``.  Target fit <= 10 s.
* ``restricted3``: 3-class restricted GoM, logits ``(-1.0, 0.3) + (2.0, 1.0) eta``,
  ``eta ~ N(0, 1)``, last class 0; ``tau_1 = linspace(-2.5, 0, 17)``,
  ``tau_2 = linspace(-0.5, 2, 17)``, ``tau_3 = linspace(2, 4.5, 17)``.  Target <= 20 s.
* ``dirichlet2``: 2-class Dirichlet GoM, ``alpha = (0.5, 0.8)``, the thresholds of ``ln2``.
  Target <= 20 s.

Model ``mm.gom(df, items, K, membership=...)`` (its default integration: the trapezoid rule,
41 points, for the one-dimensional memberships; the Dirichlet membership is integrated
exactly), fitted with ``fit(starts=(30, 5), seed=1, se=None)``.  The fit first fits the
nested LCA with the same starts and uses its solution as one more start.

* ``end_to_end_s``: ``mm.gom(...)`` + ``compile()`` + ``fit(...)`` on a fresh model.  One
  short untimed end-to-end run first (``fit(starts=(1, 1), max_iter=2, se=None)`` on a fresh
  model: it compiles the GoM's and the nested LCA's graphs) fills PyTensor's on-disk
  compilation cache, so this is graph construction + cached compilation + fit, not a cold C
  compile.
* ``fit_s``: ``fit(...)`` alone on an already compiled model (after one short untimed
  ``fit(starts=(0, 0), max_iter=2, se=None)``).  It includes the nested LCA: every ``fit()``
  builds that LCA model, compiles it (disk cache warm) and fits it with the same starts.
* ``target_fit_s`` / ``meets``: the fit-only targets on 2 cores.
* ``loglik``, ``lca_loglik``, ``gom_minus_lca``: the GoM's best log-likelihood (under its
  own rule), the nested LCA's (``result.lca.loglik``) and the difference (>= 0: the LCA
  solution is one of the GoM's starts).
* ``n_rep``: completed final-stage starts that reached the best log-likelihood.
* ``final_iter``: L-BFGS iterations of the final-stage starts, summed (each start's count
  includes its <= 10 iterations of the initial stage); ``failed``: starts that failed.

Below the table: per case the median time of one log-likelihood + gradient evaluation,
``model.compile().loglik_grad(theta)`` at ``theta = model.theta_from_values({})`` (the
deterministic start), over at most ``--n-eval`` calls (default 50) or ``--eval-seconds``;
the log-likelihood of the generating parameters under the same rule; and the warnings of
the timed fit.

``long`` (the paper's section 7 route) on the ``ln2`` data: persons as clusters, one row per
(person, item) response (``n x 17`` rows, 124,542 by default), item dummies ``d1..d16`` (item
1 is the reference: its threshold is the intercept) with class-specific effects and a random
class-logit intercept: ``mm.regression_mixture(long_df, "y", dummies, 2, cluster="person",
family="binary", class_random_intercept=True)``.  Its parameters map onto the wide model's
by ``y$1|c#k = tau_k1`` and ``y ON dp|c#k = tau_k1 - tau_k,p+1``.

* Both models' log-likelihoods at the generating parameters under one rule,
  ``--long-integration`` / ``--long-points`` (default Gauss-Hermite, 15 points): they must
  agree to ~1e-5.
* ``eval_ms``: median time of one ``loglik_grad`` of the wide model compiled with that
  rule (``wide.compile("gauss-hermite", 15)``) and of the long one
  (``long.compile("gauss-hermite", 15)``) at the generating parameters; ``ratio`` =
  long / wide.
* With ``--long-fit``: ``fit(starts=--long-starts, seed, se=None, integration=...,
  points=...)`` of both models, timed once on compiled models (the same starts setting and
  seed; the wide fit also gets the nested-LCA start, the long one has none), with their
  log-likelihoods.  Off by default: the long fit takes many minutes at full size.

Progress lines (with the clock time) go to stderr; the tables are printed at the end.
``--repeats`` (default 1) timed runs, median reported; a run slower than ``--slow`` seconds
(default 60) is timed once.  ``--quick``: one repeat and at most 10 evaluations per
evaluation timing.  ``--threads N`` sets ``OMP_NUM_THREADS`` / ``OPENBLAS_NUM_THREADS`` /
``MKL_NUM_THREADS`` (the script restarts itself with that environment); ``fit()`` itself
limits BLAS to one thread.

How to run
----------
From the repository root (after ``pip install -e .[bench]``)::

    python benchmarks/gom.py                         # all cases, 7326 x 17 (~30 min on 2 cores)
    python benchmarks/gom.py --quick --n 800         # a small check
    python benchmarks/gom.py --cases ln2 long
    python benchmarks/gom.py --cases long --long-fit --long-starts 30 5
    python benchmarks/gom.py --threads 1
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings

import numpy as np
import pandas as pd
from _common import add_threads_option, apply_threads, integers_or_dash, machine_line, timed_runs
from scipy import special

DATA_SEED = 20240611
N_DEFAULT, N_ITEMS = 7326, 17
LN2_TAU = np.vstack([np.linspace(-2.0, 0.5, N_ITEMS), np.linspace(1.5, 4.0, N_ITEMS)])
GOM_CASES = {
    "ln2": dict(membership="logistic-normal", tau=LN2_TAU, intercepts=np.array([-1.0]), cov=np.array([[4.0]]),
                target=10.0, seed_offset=1),
    "restricted3": dict(membership="restricted",
                        tau=np.vstack([np.linspace(-2.5, 0.0, N_ITEMS), np.linspace(-0.5, 2.0, N_ITEMS),
                                       np.linspace(2.0, 4.5, N_ITEMS)]),
                        intercepts=np.array([-1.0, 0.3]), loadings=np.array([2.0, 1.0]), target=20.0, seed_offset=2),
    "dirichlet2": dict(membership="dirichlet", tau=LN2_TAU, alpha=np.array([0.5, 0.8]), target=20.0, seed_offset=3),
}
LONG_CASE = "long"
CASES = (*GOM_CASES, LONG_CASE)
LONG_COLUMNS = ("model", "rows", "n_free", "loglik_true", "eval_ms", "calls", "ratio", "fit_s", "fit_ratio", "loglik",
                "n_rep", "final_iter")


# --------------------------------------------------------------------------- data
def _items(n_items=N_ITEMS):
    return [f"u{j + 1}" for j in range(n_items)]


def simulate_gom(rng, n, thresholds, membership, intercepts=None, cov=None, alpha=None, loadings=None):
    """Binary GoM data (n, P): memberships drawn per person, one class per item (eq 28).

    ``thresholds`` (K, P): ``P(y = 1 | k) = 1 / (1 + exp(tau_kp))``.  ``membership``:
    ``"logistic-normal"`` (``intercepts`` (K-1,), ``cov``), ``"restricted"`` (logits
    ``intercepts + loadings * eta``, ``eta ~ N(0, 1)``, last class 0) or ``"dirichlet"``
    (``alpha``).  A copy of ``tests/reference_gom.py::simulate_gom``.
    """
    k, p = thresholds.shape
    if membership == "dirichlet":
        g = rng.dirichlet(alpha, size=n)
    elif membership == "restricted":
        eta = rng.normal(size=(n, 1))
        g = special.softmax(np.column_stack([intercepts + loadings * eta, np.zeros(n)]), axis=1)
    else:
        b = rng.multivariate_normal(np.zeros(k - 1), np.atleast_2d(cov), size=n)
        g = special.softmax(np.column_stack([intercepts + b, np.zeros(n)]), axis=1)
    cls = (rng.uniform(size=(n, p, 1)) > np.cumsum(g, axis=1)[:, None, :]).sum(axis=2)  # (n, P)
    cls = np.minimum(cls, k - 1)
    prob = special.expit(-thresholds[cls, np.arange(p)[None, :]])
    return (rng.uniform(size=(n, p)) < prob).astype(float)


def case_data(case, n):
    """(wide DataFrame u1..u17, generating parameter values by the wide model's names)."""
    spec = GOM_CASES[case]
    rng = np.random.default_rng(DATA_SEED + spec["seed_offset"])
    kw = {key: spec[key] for key in ("intercepts", "cov", "alpha", "loadings") if key in spec}
    y = simulate_gom(rng, n, spec["tau"], spec["membership"], **kw)
    return pd.DataFrame(y, columns=_items()), true_values(case)


def true_values(case):
    """The generating parameters as ``{name: value}`` of ``mm.gom``'s parameter names."""
    spec = GOM_CASES[case]
    tau = spec["tau"]
    values = {f"{it}$1|c#{k + 1}": tau[k, p] for k in range(tau.shape[0]) for p, it in enumerate(_items())}
    if spec["membership"] == "dirichlet":
        values.update({f"alpha(c#{k + 1})": a for k, a in enumerate(spec["alpha"])})
    else:
        values.update({f"[c#{k + 1}]": a for k, a in enumerate(spec["intercepts"])})
        if spec["membership"] == "restricted":
            values.update({f"eta BY c#{k + 1}": lam for k, lam in enumerate(spec["loadings"])})
        else:
            values["var(c#1)"] = float(spec["cov"][0, 0])
    return values


def long_format(df):
    """One row per (person, item) response: person, item, y and the item dummies d1..d16."""
    items = list(df.columns)
    long = df.reset_index(names="person").melt(id_vars="person", var_name="item", value_name="y").dropna()
    long = long.sort_values("person", kind="stable").reset_index(drop=True)
    dummies = [f"d{p}" for p in range(1, len(items))]  # item 1 is the reference: its threshold is the intercept
    for p, d in zip(range(1, len(items)), dummies):
        long[d] = (long["item"] == items[p]).astype(float)
    return long, dummies


def long_values(wide_values, n_classes, items, dummies):
    """The long route's parameters from the wide model's: ``y$1|c#k = tau_k1``,
    ``y ON dp|c#k = tau_k1 - tau_k,p+1``; membership parameters share their names."""
    out = {name: v for name, v in wide_values.items() if "$1|" not in name}
    for k in range(n_classes):
        ref = wide_values[f"{items[0]}$1|c#{k + 1}"]
        out[f"y$1|c#{k + 1}"] = ref
        for it, d in zip(items[1:], dummies):
            out[f"y ON {d}|c#{k + 1}"] = ref - wide_values[f"{it}$1|c#{k + 1}"]
    return out


# --------------------------------------------------------------------------- timing
def progress(text):
    """One progress line on stderr (the tables go to stdout at the end)."""
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def eval_ms(compiled, theta, n_eval, seconds):
    """Median milliseconds of one ``compiled.loglik_grad(theta)`` (one untimed call first) over
    ``n_eval`` calls, or fewer (at least 3) once ``seconds`` have passed."""
    compiled.loglik_grad(theta)
    times, t_start = [], time.perf_counter()
    while len(times) < n_eval and (len(times) < 3 or time.perf_counter() - t_start < seconds):
        t0 = time.perf_counter()
        compiled.loglik_grad(theta)
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times), len(times)


def _final_stage(res):
    records = res.starts.records
    final = [r for r in records if r.status in ("completed", "not converged")]
    failed = sum(1 for r in records if r.status == "failed")
    return sum(r.iterations for r in final), failed


def run_gom_case(case, args, repeats, notes):
    import mlmix_pymc as mm

    spec = GOM_CASES[case]
    df, values = case_data(case, args.n)
    items = _items()
    k = spec["tau"].shape[0]

    def factory():
        return mm.gom(df, items, k, membership=spec["membership"])

    fit_kwargs = dict(starts=(args.starts, args.final), seed=args.seed, se=None)

    def end_to_end():
        model = factory()
        model.compile()
        return model.fit(**fit_kwargs)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        progress(f"{case}: untimed short end-to-end run (fills the compilation cache)")
        factory().fit(starts=(1, 1), max_iter=2, se=None)  # GoM and nested-LCA graphs into the disk cache
        progress(f"{case}: timed end-to-end runs")
        e2e_s, e2e_runs, _ = timed_runs(end_to_end, repeats, args.slow)
        model = factory()
        compiled = model.compile()
        model.fit(starts=(0, 0), max_iter=2, se=None)  # untimed: compiles what the fit builds lazily
    progress(f"{case}: timed fits (end-to-end {e2e_s:.1f} s)")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit_s, fit_runs, res = timed_runs(lambda: model.fit(**fit_kwargs), repeats, args.slow)
    progress(f"{case}: fit {fit_s:.1f} s; evaluation timing")
    iters, failed = _final_stage(res)

    ms, calls = eval_ms(compiled, model.theta_from_values({}), args.n_eval, args.eval_seconds)
    if hasattr(model, "integration_settings"):  # the resolved default rule (integration_settings.py)
        settings = model.integration_settings()
        rule = None if settings.unit_method is None else (settings.unit_method, settings.unit_points)
    else:  # a --baseline checkout from before integration_settings
        rule = model.unit_rule_key()
    rule_text = "exact (polynomial moments)" if rule is None else f"{rule[0]}, {rule[1]} points"
    notes.append(f"{case}: one loglik+gradient evaluation ({rule_text}, median of {calls}): {ms:.3f} ms")
    notes.append(f"{case}: loglik of the generating parameters ({rule_text}): "
                 f"{model.loglik(values):.4f}")
    for msg in dict.fromkeys(str(w.message) for w in caught):
        notes.append(f"{case}: warning of the timed fit: {msg}")
    loglik, lca_loglik = float(res.loglik), float(res.lca.loglik)
    return dict(case=case, n=args.n, items=N_ITEMS, K=k, starts=f"{args.starts},{args.final}",
                end_to_end_s=e2e_s, fit_s=fit_s, runs=min(e2e_runs, fit_runs), target_fit_s=spec["target"],
                meets="yes" if fit_s <= spec["target"] else "no", loglik=loglik, lca_loglik=lca_loglik,
                gom_minus_lca=loglik - lca_loglik, n_rep=int(res.n_replicated), final_iter=iters, failed=failed)


def run_long(args, notes):
    """The long-format two-level route on the ``ln2`` data against the wide model, same rule."""
    import mlmix_pymc as mm

    df, wide_vals = case_data("ln2", args.n)
    items = _items()
    long_df, dummies = long_format(df)
    integration, points = args.long_integration, args.long_points
    rule_text = f"{integration}, {points} points"

    progress(f"long: building and compiling both models ({len(long_df)} long rows)")
    t0 = time.perf_counter()
    wide = mm.gom(df, items, 2)
    wide_c = wide.compile(integration, points)
    wide_build_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    long = mm.regression_mixture(long_df, "y", dummies, 2, cluster="person", family="binary",
                                 class_random_intercept=True)
    long_c = long.compile(integration, points)
    long_build_s = time.perf_counter() - t0
    notes.append(f"long: {len(long_df)} rows ({args.n} persons x {N_ITEMS} items); model + compile: "
                 f"wide {wide_build_s:.1f} s, long {long_build_s:.1f} s")

    long_vals = long_values(wide_vals, 2, items, dummies)
    ll_wide = wide.loglik(wide_vals, integration=integration, points=points)
    ll_long = long.loglik(long_vals, integration=integration, points=points)
    theta_w, theta_l = wide.theta_from_values(wide_vals), long.theta_from_values(long_vals)
    progress("long: evaluation timings")
    wide_c.adapt(theta_w)
    long_c.adapt(theta_l)
    wide_ms, wide_calls = eval_ms(wide_c, theta_w, args.n_eval, args.eval_seconds)
    long_ms, long_calls = eval_ms(long_c, theta_l, args.n_eval, args.eval_seconds)
    rows = [dict(model="wide mm.gom", rows=args.n, n_free=wide.n_free, loglik_true=ll_wide, eval_ms=wide_ms,
                 calls=wide_calls),
            dict(model="long regression_mixture", rows=len(long_df), n_free=long.n_free, loglik_true=ll_long,
                 eval_ms=long_ms, calls=long_calls)]
    rows[1]["ratio"] = long_ms / wide_ms
    notes.append(f"long: loglik at the generating parameters ({rule_text}): long - wide = "
                 f"{ll_long - ll_wide:+.2e} ({'agree' if abs(ll_long - ll_wide) <= 1e-5 else 'DIFFER'} at 1e-5)")

    if args.long_fit:
        fit_kwargs = dict(starts=tuple(args.long_starts), seed=args.seed, se=None, integration=integration,
                          points=points)
        for row, model in zip(rows, (wide, long)):
            progress(f"long: fit of the {row['model']} model")
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                t0 = time.perf_counter()
                res = model.fit(**fit_kwargs)
                row["fit_s"] = time.perf_counter() - t0
            row.update(loglik=float(res.loglik), n_rep=int(res.n_replicated), final_iter=_final_stage(res)[0])
            for msg in dict.fromkeys(str(w.message) for w in caught):
                notes.append(f"long: warning of the {row['model'].split()[0]} fit: {msg}")
        rows[1]["fit_ratio"] = rows[1]["fit_s"] / rows[0]["fit_s"]
    return rows


# --------------------------------------------------------------------------- main
def _print_table(rows, fmt3=(), fmt4=(), ints=(), signed=(), order=None):
    table = pd.DataFrame(rows)
    if order is not None:
        table = table[[c for c in order if c in table]]
    fmt = {c: "{:.3f}".format for c in fmt3 if c in table}
    fmt.update({c: "{:.4f}".format for c in fmt4 if c in table})
    fmt.update({c: "{:+.4f}".format for c in signed if c in table})
    integers_or_dash(table, ints)
    print(table.to_string(index=False, formatters=fmt, na_rep="-"))
    return table


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES), help="cases to run")
    p.add_argument("--n", type=int, default=N_DEFAULT, help="persons (rows of the wide data)")
    p.add_argument("--repeats", type=int, default=1, help="timing repeats (median reported)")
    p.add_argument("--quick", action="store_true", help="a single repeat, at most 10 calls per evaluation timing")
    p.add_argument("--slow", type=float, default=60.0, help="time a run once if its first run exceeds this (s)")
    p.add_argument("--starts", type=int, default=30, help="random starts")
    p.add_argument("--final", type=int, default=5, help="final-stage starts")
    p.add_argument("--seed", type=int, default=1, help="estimation seed")
    p.add_argument("--n-eval", type=int, default=50, help="calls per evaluation timing (at most)")
    p.add_argument("--eval-seconds", type=float, default=3.0, help="stop an evaluation timing after this (s)")
    p.add_argument("--long-integration", default="gauss-hermite", choices=("gauss-hermite", "adaptive"),
                   help="rule of the long-vs-wide comparison")
    p.add_argument("--long-points", type=int, default=15, help="points of the long-vs-wide comparison")
    p.add_argument("--long-fit", action="store_true", help="also fit the long route and the wide model (slow)")
    p.add_argument("--long-starts", type=int, nargs=2, default=[30, 5], metavar=("N_INITIAL", "N_FINAL"),
                   help="starts of the --long-fit fits")
    add_threads_option(p)
    args = p.parse_args(argv)
    apply_threads(args, argv, __file__)
    repeats = 1 if args.quick else max(1, args.repeats)
    if args.quick:
        args.n_eval = min(args.n_eval, 10)

    try:
        import mlmix_pymc  # noqa: F401
    except ImportError as exc:
        print(f"mlmix_pymc not importable ({exc})", file=sys.stderr)
        return None

    print(f"Grade of membership: n={args.n} x {N_ITEMS} binary items; starts=({args.starts}, {args.final}), "
          f"seed={args.seed}; median of {repeats} (one run when > {args.slow:g} s)")
    print(machine_line())
    t_start = time.perf_counter()
    notes, gom_rows = [], []
    for case in (c for c in args.cases if c in GOM_CASES):
        gom_rows.append(run_gom_case(case, args, repeats, notes))
    long_rows = run_long(args, notes) if LONG_CASE in args.cases else []

    tables = {}
    if gom_rows:
        print("\nGoM fits (mm.gom, default integration), fit(starts, seed, se=None)")
        tables["gom"] = _print_table(gom_rows, fmt3=("end_to_end_s", "fit_s"), fmt4=("loglik", "lca_loglik"),
                                     signed=("gom_minus_lca",), ints=("runs", "n_rep", "final_iter", "failed"))
    if long_rows:
        fit_text = (f"; fits with starts=({args.long_starts[0]}, {args.long_starts[1]})" if args.long_fit
                    else "; no fits (--long-fit)")
        print(f"\nlong-format route (section 7) vs wide, ln2 data, {args.long_integration} "
              f"{args.long_points} points{fit_text}")
        tables["long"] = _print_table(long_rows, fmt3=("eval_ms", "ratio", "fit_s", "fit_ratio"),
                                      fmt4=("loglik_true", "loglik"),
                                      ints=("rows", "n_free", "calls", "n_rep", "final_iter"), order=LONG_COLUMNS)
    for line in notes:
        print(line)
    if gom_rows:
        print("targets: fit_s <= 10 s (ln2), <= 20 s (restricted3, dirichlet2) at n=7326 on 2 cores")
    print(f"total {time.perf_counter() - t_start:.0f} s; load average at the end: "
          f"{', '.join(f'{v:.2f}' for v in os.getloadavg())}")
    return tables


if __name__ == "__main__":
    main()
