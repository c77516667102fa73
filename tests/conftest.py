"""Shared fixtures."""

import datetime
import os
import tempfile
import warnings
from pathlib import Path

import pytest

warnings.filterwarnings("ignore", message=".*BLAS.*")


def _stamp_arviz_daily_warning():
    """Write ArviZ's once-a-day warning stamp (today) atomically before any worker imports it.

    ArviZ 0.23 writes the stamp through one fixed temporary name; two test workers importing
    it at once on a machine without today's stamp (a fresh CI machine) race, and the loser's
    ``import arviz`` fails with FileNotFoundError. A stamp already dated today makes ArviZ
    skip the write (its warning is filtered in pyproject.toml anyway).
    """
    try:
        from platformdirs import user_cache_dir
    except ImportError:
        return
    folder = Path(user_cache_dir("arviz", "arviz"))
    today = datetime.date.today().isoformat()
    stamp = folder / "daily_warning"
    try:
        if stamp.is_file() and stamp.read_text().strip() == today:
            return
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=folder, delete=False, suffix=".mlmix") as fh:
            fh.write(today)
        os.replace(fh.name, stamp)
    except OSError:
        pass


_stamp_arviz_daily_warning()

LSAT_ITEMS = ["item1", "item2", "item3", "item4", "item5"]


@pytest.fixture(scope="session")
def lsat():
    """The embedded LSAT data set."""
    from mlmix_pymc.datasets import load_lsat

    return load_lsat()


@pytest.fixture(scope="session")
def gom_data():
    """300 x 6 binary items (5% missing) from a two-class logistic-normal GoM (``test_gom.py``),
    and a (3, 6) array of thresholds for the likelihood checks."""
    import numpy as np
    import pandas as pd

    import reference_gom as ref

    n, p = 300, 6
    rng = np.random.default_rng(3)
    tau = rng.normal(0, 1.5, size=(2, p))
    y = ref.simulate_gom(rng, n, tau, "logistic-normal", intercepts=np.array([0.3]), cov=np.array([[3.0]]))
    y[rng.uniform(size=y.shape) < 0.05] = np.nan
    frame = pd.DataFrame(y, columns=[f"u{i}" for i in range(p)], index=pd.RangeIndex(1000, 1000 + n))
    return frame, y, np.random.default_rng(11).normal(0, 1.5, size=(3, p))


@pytest.fixture(scope="session")
def gom_two_class_fit(gom_data):
    """The two-class logistic-normal GoM fitted to ``gom_data`` (with its nested LCA and SEs),
    shared by ``test_gom.py`` and ``test_plots.py`` so the graph is compiled once."""
    import mlmix_pymc as mm

    frame = gom_data[0]
    return mm.gom(frame, list(frame.columns), 2).fit(starts=(4, 2), seed=2)


@pytest.fixture(scope="session")
def lta_fit():
    """Two-class LTA with a covariate on C1 (``test_lta.py``'s constructor test, n = 400),
    shared by ``test_lta.py`` and ``test_plots.py``: (model, result)."""
    import numpy as np

    import mlmix_pymc as mm
    from test_lta import _simulate

    df = _simulate(np.random.default_rng(35), n=400)
    model = mm.lta(df, [[f"u{p}" for p in range(1, 5)], [f"v{p}" for p in range(1, 5)]], n_classes=2,
                   covariates=["x"])
    return model, model.fit(starts=(6, 2), seed=1, se=None)


@pytest.fixture(scope="session")
def lsat_enumeration(lsat):
    """LSAT enumerated over 1-3 classes with LMR and a 4-draw BLRT (``test_enumeration.py``,
    ``test_progress.py``)."""
    import mlmix_pymc as mm

    return mm.enumerate(lsat, LSAT_ITEMS, n_classes=range(1, 4), starts=(10, 3), seed=1, blrt=True, blrt_draws=4)


@pytest.fixture(scope="session")
def two_level_lta_fit():
    """Two-level LTA with correlated random class-logit intercepts (sections 3-4), 80 clusters
    of 8, adaptive quadrature with 5 points, MLR (``test_twolevel_lta.py``, ``test_plots.py``)."""
    import mlmix_pymc as mm
    from test_twolevel_lta import _data

    df = _data(seed=4, n_clusters=80, size=8)
    items = [[f"u{p}t{t}" for p in range(1, 4)] for t in (1, 2)]
    return mm.lta(df, items, 2, cluster="school", random_intercept=True).fit(
        integration="adaptive", points=5, starts=(10, 3), seed=2, se="mlr")
