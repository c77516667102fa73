"""Indicator families, one module each behind the interface of ``base.Family``.

Adding a family means writing its module and adding one line to ``REGISTRY``.
"""

from .base import LOG_2PI, MAX_INCREMENT, THRESHOLD_BOUND, Family, contract
from .categorical import CATEGORICAL, category_log_probs, inverse_link, log_cdf
from .nominal import NOMINAL
from .normal import NORMAL
from .poisson import POISSON
from .negative_binomial import NEGATIVE_BINOMIAL
from .censored import CENSORED_ABOVE, CENSORED_BELOW

REGISTRY: dict[str, Family] = {}
for _family in (CATEGORICAL, NORMAL, POISSON, NOMINAL, NEGATIVE_BINOMIAL, CENSORED_BELOW, CENSORED_ABOVE):
    for _name in _family.names:
        REGISTRY[_name] = _family


def family_of(name: str) -> Family:
    """The family object serving the spec's family ``name`` (``"binary"``, ``"poisson"``...)."""
    return REGISTRY[name]


__all__ = ["Family", "REGISTRY", "family_of", "contract", "LOG_2PI", "THRESHOLD_BOUND", "MAX_INCREMENT",
           "category_log_probs", "inverse_link", "log_cdf", "CATEGORICAL", "NORMAL", "POISSON", "NOMINAL"]
