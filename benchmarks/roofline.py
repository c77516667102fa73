"""Where an integrated evaluation's time goes, and how far it is from what the machine can do.

What is measured
----------------
For every two-level case of ``twolevel.py`` (the same simulated data, 100 clusters x 10)
and a fixed-node rule (15-point Gauss-Hermite per dimension, or adaptive Gauss-Hermite
with 7 points placed at the start values: the deterministic start of ``fit``), one *evaluation* is one call of the compiled
log-likelihood + gradient over all chunks (``IntegratedObjective.loglik_grad``):

* ``evals_per_s``: calls per second, repeated for ``--seconds``;
* ``ms_per_eval``: its inverse;
* ``cells``: rows x nodes x joint classes, the grid every evaluation must touch;
* ``elements``: the number of array elements every operation of the compiled graph
  writes in one evaluation (PyTensor's profiler with ``profile_memory``: the output shapes
  of every node, summed): the work of this graph, counted in element operations;
* ``roofline_per_s``: ``numpy_rate / elements``, the evaluations per second if every one
  of those element operations ran at the measured speed of a fused numpy pass
  (``numpy_rate``: elements per second of ``np.multiply(a, b, out=c); np.add(c, a, out=c)``
  over 1,000,000 float64 values, one thread, counted as 2 element operations per value);
* ``of_roofline``: ``evals_per_s / roofline_per_s``;
* ``top_ops``: the three op classes with the largest share of the profiled time.

How to run
----------
From the repository root::

    python benchmarks/roofline.py
    python benchmarks/roofline.py --cases b_lca3 --seconds 2
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd
from _common import add_threads_option, apply_threads, machine_line
from twolevel import CASES, make_case


def numpy_rate(n=1_000_000, seconds=0.5) -> float:
    """Element operations per second of a fused-looking numpy pass (multiply then add in place)."""
    rng = np.random.default_rng(0)
    a, b, c = rng.random(n), rng.random(n), np.empty(n)
    calls, t0 = 0, time.perf_counter()
    while calls < 5 or time.perf_counter() - t0 < seconds:
        np.multiply(a, b, out=c)
        np.add(c, a, out=c)
        calls += 1
    return 2 * n * calls / (time.perf_counter() - t0)


def _evals_per_s(compiled, theta, seconds):
    compiled.loglik_grad(theta)
    calls, t0 = 0, time.perf_counter()
    while calls < 5 or time.perf_counter() - t0 < seconds:
        compiled.loglik_grad(theta)
        calls += 1
    return calls / (time.perf_counter() - t0)


def _size(shape) -> int:
    """Elements of a recorded shape (a tuple of ints; scalars: ``()``); 0 when there is none."""
    if isinstance(shape, (tuple, list)) and all(isinstance(d, (int, np.integer)) for d in shape):
        return int(np.prod(shape))
    return 0


def graph_profile(compiled, theta):
    """(elements written per evaluation, top op classes) of the value-and-gradient graph."""
    import pytensor

    functions = compiled.functions
    inputs, terms = functions._symbolic(None)  # any number of nodes per cluster
    elements = 0
    with pytensor.config.change_flags(profile=True, profile_memory=True):
        fn = pytensor.function(inputs.as_list(), [terms.total, pytensor.grad(terms.total, inputs.theta)],
                               profile=True, on_unused_input="ignore")
        for chunk in compiled._chunks:
            compiled._call(fn, theta, chunk)
            shapes = fn.vm.variable_shape if hasattr(fn, "vm") else fn.profile.variable_shape
            elements += sum(_size(s) for v, s in shapes.items() if v.owner is not None)
    by_class = {}
    for key, secs in fn.profile.apply_time.items():
        node = key[1] if isinstance(key, tuple) else key  # (fgraph, node) in recent PyTensor
        name = type(node.op).__name__ if type(node.op).__name__ != "Elemwise" else f"Elemwise:{node.op.scalar_op}"
        by_class[name] = by_class.get(name, 0.0) + secs
    total = sum(by_class.values()) or 1.0
    top = sorted(by_class.items(), key=lambda kv: -kv[1])[:3]
    return elements, ", ".join(f"{k[:28]} {100 * v / total:.0f}%" for k, v in top)


def run_case(case, method, points, seconds, rate):
    _, factory, *_ = make_case(case)
    model = factory()
    compiled = model.compile(method, points)
    theta = model.theta_from_values({})  # the deterministic start (data-based class partition)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        compiled.adapt(theta)
        eps = _evals_per_s(compiled, theta, seconds)
        elements, top = graph_profile(compiled, theta)
    st = model.structure
    cells = len(st.cluster_codes) * compiled.rule.n_points * st.n_joint * compiled.n_between
    roof = rate / elements
    return dict(case=case, method=method, nodes=compiled.rule.n_points, chunks=len(compiled._chunks),
                evals_per_s=eps, ms_per_eval=1e3 / eps, cells=cells, elements=elements, roofline_per_s=roof,
                of_roofline=eps / roof, top_ops=top)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES))
    p.add_argument("--seconds", type=float, default=1.0, help="seconds of evaluations per row")
    add_threads_option(p)
    args = p.parse_args(argv)
    apply_threads(args, argv, __file__)
    print(machine_line())
    rate = numpy_rate()
    print(f"numpy_rate: {rate / 1e9:.2f} G element operations/s (multiply + add, one thread)")
    rows = [run_case(case, method, points, args.seconds, rate) for case in args.cases
            for method, points in (("gauss-hermite", 15), ("adaptive", 7))]
    table = pd.DataFrame(rows)
    fmt = {"evals_per_s": "{:.1f}".format, "ms_per_eval": "{:.2f}".format, "roofline_per_s": "{:.0f}".format,
           "of_roofline": "{:.2f}".format}
    print(table.to_string(index=False, formatters=fmt))
    return table


if __name__ == "__main__":
    main()
