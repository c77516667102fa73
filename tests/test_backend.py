"""The JAX backend (``fit(backend="jax")``) against the numpy LCA of ``reference_lca.py``.

The graph is the same; only the compiler differs, so a JAX fit must reach the numpy
maximum likelihood estimate and its standard errors (the inverse of numpy's Hessian).
"""

import numpy as np
import pytest
import reference_lca as ref

import mlmix_pymc as mm
from mlmix_pymc.errors import SpecificationError

pytest.importorskip("jax")


def test_jax_fit_reaches_the_numpy_optimum_and_standard_errors(lsat):
    items = [f"item{i}" for i in range(1, 6)]
    model = mm.lca(lsat, items, n_classes=2)
    result = model.fit(seed=1, starts=(4, 2), backend="jax")
    assert model.compile(backend="jax").backend == "jax"
    y = lsat[items].to_numpy(dtype=float)
    mle = ref.polish(ref.from_result(result, items), y, 2)
    assert result.loglik == pytest.approx(ref.loglik_rows(mle, y, 2).sum(), abs=1e-6)
    np.testing.assert_allclose(ref.from_result(result, items), mle, atol=1e-4)
    # SE of the class-1 logit [c#1]: the numpy Hessian's inverse, own parameterization = ours for it
    se_numpy = np.sqrt(np.diag(np.linalg.inv(-ref.hessian(mle, y, 2))))[0]
    se_ours = result.parameters.set_index("name").loc["[c#1]", "se"]
    assert se_ours == pytest.approx(se_numpy, rel=1e-3)


def test_backend_errors_name_the_option(lsat):
    model = mm.lca(lsat, ["item1", "item2", "item3"], n_classes=2)
    with pytest.raises(SpecificationError, match="backend='numba' is not one of"):
        model.fit(backend="numba")
    clustered = lsat.assign(school=np.arange(len(lsat)) // 20)
    two_level = mm.lca(clustered, ["item1", "item2", "item3"], n_classes=2, cluster="school", random_intercept=True)
    with pytest.raises(SpecificationError, match="backend='jax' serves single-level models"):
        two_level.fit(backend="jax")
