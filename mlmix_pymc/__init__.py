"""mlmix_pymc: multilevel mixture models (Asparouhov & Muthen) on PyTensor/PyMC.

Quick use::

    import mlmix_pymc as mm
    df = mm.datasets.load_lsat()
    model = mm.lca(df, items=["item1", "item2", "item3", "item4", "item5"], n_classes=2)
    result = model.fit(starts=(20, 5), seed=1)
    print(result.summary())
"""

from .toolchain.flags import configure_blas, consistent_compiler_flags

configure_blas()

from . import datasets  # noqa: E402
from .errors import DataError, EstimationError, MlmixError, SpecificationError
from .model import Model
from .results import MLResult
from .models import fma, from_spec, gom, irt, lca, lta, regression_mixture
from .compare import Comparison, compare
from .enumeration import Enumeration, enumerate_classes as enumerate  # noqa: A001 (mm.enumerate, as the issue asks)
from .fit_tests import lrt, scaled_difference_test, vlmr_test, wald_test
from .persistence import load_result, result_from_json
from .montecarlo import MonteCarloResult, montecarlo
from .bayes.posterior import add_posterior_predictive, posterior_class_probabilities
from .simulate import simulate
from .stepwise import StepwiseResult, three_step, two_step
from .mplus import from_mplus, read_mplus
from .spec import ClassVariable, Constraints, Factor, Indicator, ModelSpec, RandomEffect
from .bayes.api import add_log_likelihood, align_draws, parameter_draws, parameter_table  # noqa: E402
from .compare import compare_ml_bayes  # noqa: E402
from .bayes.posterior import posterior_predictive_pvalue  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "ClassVariable", "Constraints", "DataError", "MLResult", "EstimationError", "Indicator", "MlmixError", "Model",
    "ModelSpec", "RandomEffect", "Factor", "fma", "irt", "SpecificationError", "datasets", "from_spec", "lca", "lta",
    "regression_mixture", "montecarlo", "MonteCarloResult", "simulate", "compare", "Comparison",
    "add_posterior_predictive", "posterior_class_probabilities", "three_step", "two_step", "StepwiseResult",
    "enumerate", "Enumeration", "lrt", "scaled_difference_test", "vlmr_test", "wald_test", "load_result",
    "result_from_json", "__version__",
    "add_log_likelihood", "align_draws", "parameter_draws", "parameter_table", "compare_ml_bayes",
    "posterior_predictive_pvalue",
]
__all__ += ["gom"]  # public since the grade-of-membership models; listed for the API reference
from . import plots  # noqa: E402,F401 (mm.plots.profile(...); matplotlib is imported on first use)
__all__ += ["from_mplus", "read_mplus"]
from .warmup import warm_up  # noqa: E402 (mlmix warmup: the C modules shared by every family, once per machine)
__all__ += ["warm_up"]
consistent_compiler_flags()  # PyMC's C flags, imported or not: one key per C module (toolchain/flags.py)
