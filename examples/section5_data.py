"""Write examples/data/model5.csv: one sample of the paper's Model 5 (section 5, eq 19).

Between-level class D (2 equal classes), y = mu_d + beta_d x + u_j + e with
mu = (1, 0), beta = (0.2, 0.8), var(u) = 0.2, var(e) = 1, x ~ N(0, 1);
100 clusters of 10.  Run:  python examples/section5_data.py
"""

from pathlib import Path

import numpy as np
import pandas as pd


def model5(n_clusters=100, size=10, seed=2006, var_u=0.2):
    """Simulate Model 5 of Asparouhov & Muthen, section 5 (var_u=0 gives Model 2)."""
    rng = np.random.default_rng(seed)
    cluster = np.repeat(np.arange(1, n_clusters + 1), size)
    d = rng.integers(0, 2, n_clusters)[cluster - 1]
    x = rng.standard_normal(len(cluster))
    u = rng.normal(0.0, np.sqrt(var_u), n_clusters)[cluster - 1]
    y = np.where(d == 0, 1.0, 0.0) + np.where(d == 0, 0.2, 0.8) * x + u + rng.standard_normal(len(cluster))
    return pd.DataFrame({"school": cluster, "x": x.round(5), "y": y.round(5)})


if __name__ == "__main__":
    out = Path(__file__).parent / "data" / "model5.csv"
    model5().to_csv(out, index=False)
    print(f"wrote {out}")
