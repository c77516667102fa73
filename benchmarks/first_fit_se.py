"""First fit with standard errors of the LSAT 2-class LCA on an empty compile cache.

What is measured
----------------
A new Python process on a new empty PyTensor compiledir (and so an empty function cache)
fits the README's LSAT example (1000 x 5 binary items, 2 classes, 20 random starts) with
``se="observed"`` and ``verbose=True``. The library's compile notices say how long the
model and the Hessian of the standard errors took to compile and how many C modules were
compiled in parallel; the script prints them with the whole fit's time and the
log-likelihood.

How to run
----------
    python benchmarks/first_fit_se.py        # ~20 s on 2 cores
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

from _common import machine_line

_CHILD = """
import mlmix_pymc as mm
df = mm.datasets.load_lsat()
model = mm.lca(df, items=["item1", "item2", "item3", "item4", "item5"], n_classes=2)
res = model.fit(method="ml", starts=(20, 5), seed=1, se="observed", verbose=True)
print(f"loglik {res.loglik:.6f}, first se {res.parameters['se'].iloc[0]:.6f}")
"""


def main() -> None:
    print(machine_line())
    with tempfile.TemporaryDirectory(prefix="mlmix_first_fit_se_") as cache:
        env = dict(os.environ, PYTENSOR_FLAGS=f"base_compiledir={cache}")
        env.pop("MLMIX_FUNCTION_CACHE", None)
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", _CHILD], capture_output=True, text=True, env=env, check=True)
        wall = time.perf_counter() - t0
    for line in (proc.stderr + proc.stdout).splitlines():
        if "compiling" in line or line.startswith("loglik"):
            print(line.strip())
    print(f"process (import, fit, standard errors): {wall:.2f} s")


if __name__ == "__main__":
    main()
