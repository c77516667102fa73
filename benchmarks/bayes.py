"""Bayesian LCA: NUTS efficiency of mlmix_pymc's model vs. a hand-written PyMC model.

What is measured
----------------
Two cases, both with 2 classes:

* ``lsat``: the demo LCA, ``mm.datasets.load_lsat()`` (1000 persons x 5 binary items).
* ``twolevel``: a simulated two-level LCA, 100 clusters x 10 persons, 8 binary items,
  ``P(c = 1 | j) = logistic(0.5 + alpha_j)`` with ``alpha_j ~ N(0, 1.5)`` (variance 1.5,
  as in ``twolevel.py``); item probabilities 0.8 / 0.2 (class 1: items 1-4 high, 5-8 low;
  class 2 the reverse).

For every case and NUTS implementation (PyMC's own NUTS; nutpie and numpyro through
``pm.sample(nuts_sampler=...)`` when they are installed) three kinds of model are sampled
with the same settings (default 1000 draws, 1000 tuning steps, 4 chains, ``cores=2``,
``target_accept=0.9``, the same seed):

* ``ours``: ``model.sample(...)`` (the library's ``pm.Model`` from ``to_pymc``: its
  likelihood graph in a ``pm.Potential``; two-level: random effects integrated with
  15-point Gauss-Hermite, the default). Chains start at the ML solution + jitter (nutpie
  ignores PyMC's ``initvals`` and uses its own initialisation), every draw is label-aligned
  to the ML solution.
* ``ours-explicit`` (two-level only): ``model.sample(random_effects="explicit")``: one
  standard-normal ``z_j`` per cluster sampled by NUTS, non-centred, like the hand-written model.
* ``hand``: a straightforward hand-written PyMC model of the same likelihood and the same
  priors: class-1 logit ``a ~ Normal(0, 2.5)`` (class 2 the reference), item logits
  ``tau[k, j] ~ Normal(0, 2.5)`` (``P(y = 1 | k) = logistic(tau)``; ours uses thresholds
  ``-tau`` with the same symmetric prior), a ``pm.Potential`` with the per-person
  ``logsumexp`` over classes written by hand, over all 1000 rows (ours collapses the LSAT
  data to its 32 distinct response patterns with counts, a saving the hand-written model
  does not make). Two-level: ``log_sigma ~ Normal(0, 1)`` (ours: the log SD of the random
  intercept, prior Normal(0, 1)), ``z_j ~ Normal(0, 1)``, ``alpha_j = sigma * z_j``.
  PyMC's default initialisation (``jitter+adapt_diag``).

Label switching: the hand-written model has no ordering constraint. Each draw is relabelled
post hoc like ours: the class permutation whose item logits are closest (squared distance)
to the ML solution is kept (swapping the classes maps ``a -> -a``, ``tau[k] -> tau[1 - k]``,
``z -> -z``). ``relabelled`` counts the draws that were swapped (nutpie starts the chains at
random points, so whole chains can sit in the other labelling).

Columns
-------
* ``sampling_s``: sampling time only, PyMC's own ``idata.posterior.attrs["sampling_time"]``
  (PyMC NUTS and nutpie: excludes model compilation, which happens before it starts). For
  numpyro it includes JAX tracing and XLA compilation, so a run of the same model with
  ``tune=0, draws=1`` (same chains) is made first and its ``sampling_time`` (about 2 s, almost
  all compilation) is subtracted; one throw-away numpyro run of a trivial model absorbs JAX's
  start-up before the first timing.
* ``min_ess``, ``slowest``: the smallest bulk ESS (``arviz.ess(method="bulk")``) over the
  model parameters and which one it is. Ours: the reported parameters ``phi`` (fixed ones,
  e.g. ``[c#2]``, excluded); hand-written: ``a``, ``tau`` and (two-level) ``sigma``, named
  after ours. Bulk ESS is rank-based, so it is the same for ``tau`` and ``-tau``,
  ``sigma`` and ``var = sigma^2``. The cluster effects ``z`` are not included.
* ``ess_per_s`` = ``min_ess / sampling_s``; ``ratio`` = ours / hand (> 1: ours more efficient).
* ``max_rhat``: largest ``arviz.rhat`` over the same parameters; ``div``: divergences.
* ``a_mean``, ``sd_mean``: posterior means (+- their Monte Carlo standard error,
  ``arviz.mcse``) of the class-1 logit and (two-level) the random-intercept SD: both models
  must target the same posterior.
* ``wall_s``: wall time of the whole call. Ours: ``model.sample()`` end to end, including
  its ML fit for the initial values, graph compilation, label alignment and the
  ``log_likelihood`` group; hand: model building + ``pm.sample`` (compilation included; for
  nutpie this is numba compilation).

How to run
----------
From the repository root::

    python benchmarks/bayes.py                      # both cases, all installed samplers
    python benchmarks/bayes.py --samplers pymc      # PyMC's NUTS only
    python benchmarks/bayes.py --cases lsat --quick # 300 draws / 300 tuning steps
    python benchmarks/bayes.py --threads 1          # single-threaded BLAS
"""

from __future__ import annotations

import argparse
import os
import time
import traceback
import warnings

import numpy as np
import pandas as pd
from _common import add_threads_option, apply_threads, integers_or_dash, machine_line, simulate_two_level_lca

CASES = ("lsat", "twolevel")
SAMPLERS = ("pymc", "nutpie", "numpyro")
N_CLUSTERS = 100
CLUSTER_SIZE = 10
N_ITEMS = 8
DATA_SEED = 20240611


# --------------------------------------------------------------------------- data
def simulate_twolevel(seed=DATA_SEED):
    """Two-level 2-class LCA with a random class-logit intercept (variance 1.5)."""
    return simulate_two_level_lca(N_CLUSTERS, CLUSTER_SIZE, N_ITEMS, 1.5, seed)


def make_case(name):
    """(DataFrame, items, our model, description)."""
    import mlmix_pymc as mm

    if name == "lsat":
        df = mm.datasets.load_lsat()
        items = [f"item{i}" for i in range(1, 6)]
        return df, items, mm.lca(df, items=items, n_classes=2), "LSAT, 1000 x 5 items, 2 classes"
    df = simulate_twolevel()
    items = [f"u{i + 1}" for i in range(N_ITEMS)]
    model = mm.lca(df, items=items, n_classes=2, cluster="cluster", random_intercept=True)
    return df, items, model, (f"two-level LCA, {N_CLUSTERS} clusters x {CLUSTER_SIZE}, {N_ITEMS} items, "
                              "2 classes, random class-logit intercept")


# --------------------------------------------------------------------------- hand-written models
def _log_sigmoid(x):
    import pymc as pm

    return -pm.math.log1pexp(-x)


def hand_model(df, items, cluster=None):
    """The hand-written PyMC model (module docstring)."""
    import pymc as pm
    import pytensor.tensor as pt

    y = df[items].to_numpy(dtype=np.float64)
    n, n_items = y.shape
    with pm.Model(coords={"klass": [1, 2], "item": items}) as model:
        a = pm.Normal("a", 0.0, 2.5)
        tau = pm.Normal("tau", 0.0, 2.5, dims=("klass", "item"))
        # log P(y_i | class k), (n, 2)
        log_py = pt.dot(y, _log_sigmoid(tau).T) + pt.dot(1.0 - y, _log_sigmoid(-tau).T)
        if cluster is None:
            eta = a
        else:
            codes, _ = pd.factorize(df[cluster])
            model.add_coord("cluster", np.arange(codes.max() + 1))
            log_sigma = pm.Normal("log_sigma", 0.0, 1.0)
            sigma = pm.Deterministic("sigma", pt.exp(log_sigma))
            z = pm.Normal("z", 0.0, 1.0, dims="cluster")
            eta = a + sigma * z[codes]
        log_w = pt.stack([_log_sigmoid(eta), _log_sigmoid(-eta)], axis=-1)  # (2,) or (n, 2)
        pm.Potential("loglik", pm.math.logsumexp(log_w + log_py, axis=1).sum())
    return model


def align_hand(post, ref_tau):
    """Relabel every draw of the hand-written posterior towards ``ref_tau`` (2, J); returns arrays, count."""
    a = np.array(post["a"].values, dtype=float)  # (chain, draw)
    tau = np.array(post["tau"].values, dtype=float)  # (chain, draw, 2, J)
    d_id = ((tau - ref_tau) ** 2).sum(axis=(-2, -1))
    d_sw = ((tau[..., ::-1, :] - ref_tau) ** 2).sum(axis=(-2, -1))
    swap = d_sw < d_id
    a[swap] = -a[swap]
    tau[swap] = tau[swap][:, ::-1, :]
    out = dict(a=a, tau=tau)
    if "sigma" in post:
        out["sigma"] = np.array(post["sigma"].values, dtype=float)
    return out, int(swap.sum())


# --------------------------------------------------------------------------- summaries
def _diagnostics(arr, names):
    """(min bulk ESS, its name, max r_hat) of ``arr`` (chain, draw, P), constant columns dropped."""
    import arviz as az

    keep = arr.reshape(-1, arr.shape[-1]).std(axis=0) > 0
    arr, names = arr[..., keep], [n for n, k in zip(names, keep) if k]
    ds = az.convert_to_dataset({"x": arr})
    ess = np.asarray(az.ess(ds, method="bulk")["x"].values)
    rhat = np.asarray(az.rhat(ds)["x"].values)
    k = int(np.argmin(ess))
    return float(ess[k]), names[k], float(np.max(rhat))


def _mean_steps(idata):
    """Mean leapfrog steps (gradient evaluations) per draw, or NaN."""
    stats = idata.sample_stats
    for key in ("n_steps", "tree_size"):
        if key in stats:
            return float(np.asarray(stats[key].values).mean())
    return np.nan


def _mean_mcse(x):
    """'mean+-mcse' of draws ``x`` (chain, draw)."""
    import arviz as az

    mcse = float(az.mcse(az.convert_to_dataset({"x": x}), method="mean")["x"].values)
    return f"{x.mean():.3f}+-{mcse:.3f}"


def _divergences(idata):
    stats = idata.sample_stats
    for key in ("diverging", "divergences"):
        if key in stats:
            return int(np.asarray(stats[key].values).sum())
    return -1


def summarize_ours(model, idata, two_level):
    import mlmix_pymc as mm

    draws = mm.parameter_draws(idata)  # every parameter under its Mplus name
    names = list(draws.coords["parameter"].values)
    phi = np.asarray(draws.values, dtype=float)
    min_ess, slowest, rhat = _diagnostics(phi, names)
    a = phi[..., names.index("[c#1]")]
    sd_mean = "-"
    if two_level:
        var = [n for n in names if n.startswith("var(")][0]
        sd_mean = _mean_mcse(np.sqrt(phi[..., names.index(var)]))
    return dict(min_ess=min_ess, slowest=slowest, max_rhat=rhat, div=_divergences(idata), steps=_mean_steps(idata),
                relabelled=int(idata.attrs.get("n_relabelled", 0)), a_mean=_mean_mcse(a), sd_mean=sd_mean)


def summarize_hand(idata, ml_phi, ml_names, items, two_level):
    ref_tau = np.array([[-ml_phi[ml_names.index(f"{it}$1|c#{k}")] for it in items] for k in (1, 2)])
    post, n_swapped = align_hand(idata.posterior, ref_tau)
    cols = [post["a"][..., None], post["tau"].reshape(*post["a"].shape, -1)]
    names = ["[c#1]"] + [f"{it}$1|c#{k}" for k in (1, 2) for it in items]
    if two_level:
        cols.append(post["sigma"][..., None])
        names.append("sd(c#1)")
    min_ess, slowest, rhat = _diagnostics(np.concatenate(cols, axis=-1), names)
    return dict(min_ess=min_ess, slowest=slowest, max_rhat=rhat, div=_divergences(idata), steps=_mean_steps(idata),
                relabelled=n_swapped,
                a_mean=_mean_mcse(post["a"]), sd_mean=_mean_mcse(post["sigma"]) if two_level else "-")


# --------------------------------------------------------------------------- runs
def _sampling_time(idata):
    return float(idata.posterior.attrs["sampling_time"])


def run_ours(model, sampler, args, random_effects):
    two_level = model.structure.is_two_level
    kw = dict(chains=args.chains, sampler=sampler, seed=args.seed, cores=args.cores, progressbar=False)
    if two_level:
        kw["random_effects"] = random_effects
        kw["integration"], kw["points"] = args.integration, args.points
    compile_s = 0.0
    if sampler == "numpyro":
        compile_s = _sampling_time(model.sample(draws=1, tune=0, **kw))
    t0 = time.perf_counter()
    idata = model.sample(draws=args.draws, tune=args.tune, **kw)
    wall = time.perf_counter() - t0
    row = dict(sampling_s=_sampling_time(idata) - compile_s, wall_s=wall)
    row.update(summarize_ours(model, idata, two_level))
    return row


def run_hand(df, items, cluster, sampler, args, ml_phi, ml_names):
    import pymc as pm

    kw = dict(chains=args.chains, cores=args.cores, random_seed=args.seed, target_accept=0.9, nuts_sampler=sampler,
              progressbar=False, compute_convergence_checks=False)
    compile_s = 0.0
    if sampler == "numpyro":
        with hand_model(df, items, cluster):
            compile_s = _sampling_time(pm.sample(draws=1, tune=0, **kw))
    t0 = time.perf_counter()
    with hand_model(df, items, cluster):
        idata = pm.sample(draws=args.draws, tune=args.tune, **kw)
    wall = time.perf_counter() - t0
    row = dict(sampling_s=_sampling_time(idata) - compile_s, wall_s=wall)
    row.update(summarize_hand(idata, ml_phi, ml_names, items, cluster is not None))
    return row


def jax_warmup(chains):
    """One numpyro run of a trivial model: JAX start-up is not charged to the first timed row."""
    import pymc as pm

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pm.Model():
            pm.Normal("x")
            pm.sample(draws=1, tune=0, chains=chains, nuts_sampler="numpyro", progressbar=False,
                      compute_convergence_checks=False)


def available_samplers(requested):
    out = []
    for s in requested:
        if s == "pymc":
            out.append(s)
            continue
        try:
            mod = __import__(s)
            print(f"{s} {getattr(mod, '__version__', '?')} found")
            out.append(s)
        except ImportError:
            print(f"{s} not installed: its rows are skipped")
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES))
    p.add_argument("--samplers", nargs="+", choices=SAMPLERS, default=list(SAMPLERS),
                   help="NUTS implementations (those not installed are skipped)")
    p.add_argument("--draws", type=int, default=1000)
    p.add_argument("--tune", type=int, default=1000)
    p.add_argument("--chains", type=int, default=4)
    p.add_argument("--cores", type=int, default=2, help="PyMC NUTS processes")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--quick", action="store_true", help="300 draws and 300 tuning steps")
    p.add_argument("--no-explicit", action="store_true", help="skip ours with random_effects='explicit'")
    p.add_argument("--integration", default="gauss-hermite", help="ours, integrated: quadrature (default GH)")
    p.add_argument("--points", type=int, default=15, help="ours, integrated: points (default 15)")
    add_threads_option(p, "BLAS/OpenMP threads (default: library defaults)")
    args = p.parse_args(argv)
    apply_threads(args, argv, __file__)
    if args.quick:
        args.draws = args.tune = 300

    import pymc as pm

    import mlmix_pymc  # noqa: F401

    t_start = time.perf_counter()
    print(f"Bayesian LCA, NUTS efficiency: draws={args.draws}, tune={args.tune}, chains={args.chains}, "
          f"cores={args.cores}, target_accept=0.9, seed={args.seed}; PyMC {pm.__version__}")
    print(machine_line())
    samplers = available_samplers(args.samplers)
    if "numpyro" in samplers:
        jax_warmup(args.chains)

    rows, descs = [], {}
    for case in args.cases:
        df, items, model, desc = make_case(case)
        descs[case] = desc
        two_level = model.structure.is_two_level
        cluster = "cluster" if two_level else None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ml = model.fit(seed=args.seed, se=None)
        ml_names = list(ml.parameters["name"])
        ml_phi = np.asarray(ml.parameters["estimate"], dtype=float)
        kinds = [("ours", "integrated" if two_level else None)]
        if two_level and not args.no_explicit:
            kinds.append(("ours-explicit", "explicit"))
        kinds.append(("hand", None))
        for sampler in samplers:
            for kind, re in kinds:
                row = dict(case=case, sampler=sampler, model=kind)
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        if kind == "hand":
                            row.update(run_hand(df, items, cluster, sampler, args, ml_phi, ml_names))
                        else:
                            row.update(run_ours(model, sampler, args, re))
                except Exception as exc:  # report and go on with the other rows
                    traceback.print_exc()
                    row["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:80]}"
                print(f"  done: {case} {sampler} {kind} ({time.perf_counter() - t_start:.0f} s elapsed)", flush=True)
                rows.append(row)

    table = pd.DataFrame(rows)
    if "min_ess" in table:
        table["ess_per_s"] = table["min_ess"] / table["sampling_s"]
        hand = table[table["model"] == "hand"].set_index(["case", "sampler"])["ess_per_s"]
        table["ratio"] = [r.ess_per_s / hand.get((r.case, r.sampler), np.nan) if r.model != "hand" else np.nan
                          for r in table.itertuples()]
    cols = ["case", "sampler", "model", "sampling_s", "min_ess", "slowest", "ess_per_s", "ratio", "max_rhat", "div",
            "steps", "relabelled", "a_mean", "sd_mean", "wall_s", "error"]
    table = table[[c for c in cols if c in table]]
    fmt = {c: "{:.2f}".format for c in ("sampling_s", "ratio", "wall_s") if c in table}
    fmt.update({c: "{:.0f}".format for c in ("min_ess",) if c in table})
    fmt.update({c: "{:.1f}".format for c in ("ess_per_s", "steps") if c in table})
    fmt.update({c: "{:.3f}".format for c in ("max_rhat",) if c in table})
    integers_or_dash(table, ("div", "relabelled"))
    print()
    print(table.to_string(index=False, formatters=fmt, na_rep="-"))
    print()
    for case, desc in descs.items():
        print(f"{case}: {desc}")
    print("sampling_s: pm.sample's own sampling_time (compilation excluded; numpyro: minus a "
          "tune=0, draws=1 compile run); min_ess: bulk ESS of the slowest parameter; "
          "ratio: ours / hand ess_per_s (> 1: ours more efficient)")
    print("wall_s: ours = model.sample() end to end (ML fit, compile, sampling, alignment, log_likelihood); "
          "hand = model build + pm.sample")
    print(f"total benchmark time {time.perf_counter() - t_start:.0f} s; load average now "
          + (", ".join(f"{v:.2f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"))
    return table


if __name__ == "__main__":
    main()
