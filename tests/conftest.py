"""Shared fixtures."""

import warnings

import pytest

warnings.filterwarnings("ignore", message=".*BLAS.*")

LSAT_ITEMS = ["item1", "item2", "item3", "item4", "item5"]


@pytest.fixture(scope="session")
def lsat():
    """The embedded LSAT data set."""
    from mlmix_pymc.datasets import load_lsat

    return load_lsat()
