"""The interface every indicator family implements, and the helpers they share.

A family turns item values into per-row *statistics* ``s`` (n, P*S) and the class-specific
parameters (with an optional linear predictor ``eta``) into *coefficients* ``w``
(..., K, P, S) such that

    log f(y_ip | class k, eta) = sum_s s[i, p, s] * w[..., k, p, s]

(one-hot categories and log probabilities; [m, m y^2, m y] and the normal's quadratic
form; [m, m y, m log y!] and the Poisson's [-mu, log mu, -1]). A missing value has all
statistics 0 and drops out (ML under MAR). When ``w`` does not depend on the row, the
log-likelihood of a whole group of items is one matrix product (``contract``); with a row
axis it is an elementwise product and a sum.

Parameters live in *blocks* of the ``ParameterLayout`` with the class on the first axis
(``roles`` name them: ``thresholds``, ``means``...), so one permutation relabels them all.
"""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt

LOG_2PI = float(np.log(2 * np.pi))
THRESHOLD_BOUND = 15.0  # thresholds and logits that run off are held at +-15, as Mplus does
MAX_INCREMENT = float(np.log(30.0))
# log threshold increments are held above -15 (increment 3e-7): two thresholds of a class collapsing
# onto each other (an empty middle category) are then flagged at the bound instead of underflowing
MIN_LOG_INCREMENT = -THRESHOLD_BOUND


class Family:
    """Base class of the indicator families (one module each, registered in ``__init__``).

    Subclasses set ``name`` (the spec's family names they serve: ``names``), ``data_kind``
    (``"categorical"``, ``"continuous"`` or ``"count"``: how ``data.py`` reads the column),
    ``takes_linear_predictor`` (whether covariates, random effects and factors may enter),
    ``prior_sd`` (default prior sd of each parameter group, ``bayes/priors.py``) and
    implement the methods below.
    """

    name = "family"
    names: tuple[str, ...] = ()
    data_kind = "continuous"
    takes_linear_predictor = True
    uses_link = False
    prior_sd: dict = {}
    # the role whose values absorb a shift of the linear predictor (eta + delta), and the sign:
    # thresholds move by -delta (P(y <= m) = F(tau - eta)), means and log rates by +delta
    intercept_role: str | None = None
    intercept_sign = 1.0
    # how Mplus declares the family in VARIABLE: the keyword (None: continuous, no list) and the
    # option after the item's name ("(nb)" of COUNT = y (nb)); read and written by ``mplus/``
    mplus_keyword: str | None = None
    mplus_option: str | None = None

    # ------------------------------------------------------------ data
    def bind(self, values: np.ndarray, names: tuple = ()) -> "Family":
        """The family as one measurement group uses it, given the group's item values (n, P) and
        the items' names (for errors about later data).

        Families whose statistics need constants of the data (the largest count of a negative
        binomial item, the censoring points of a censored item) return a configured copy;
        the others return themselves. ``signature`` must then name those constants.
        """
        return self

    def signature(self) -> tuple:
        """What the symbolic graph depends on (the family and any constants ``bind`` fixed)."""
        return (self.name,)

    # ------------------------------------------------------------ layout
    def add_blocks(self, layout, key: str, cv_name: str, n_classes: int, items, n_categories: int,
                   values: np.ndarray) -> dict:
        """Register this group's parameter blocks; returns role -> layout key."""
        raise NotImplementedError

    # ------------------------------------------------------------ graph
    def n_stats(self, n_categories: int) -> int:
        """S, the number of statistics per item."""
        raise NotImplementedError

    def stats(self, values: np.ndarray, n_categories: int) -> np.ndarray:
        """(n, P) values (NaN missing) -> (n, P*S) statistics."""
        raise NotImplementedError

    def coefficients(self, params: dict, eta, link: str | None):
        """Coefficients (..., K, P, S) from parameter tensors (..., K, P[, extra]) and ``eta``
        (None, or broadcastable to (..., K, P))."""
        raise NotImplementedError

    # ------------------------------------------------------------ numpy
    def start_values(self, weights: np.ndarray, stats: np.ndarray, n_categories: int, link: str | None) -> dict:
        """Starting values per role, (K, P[, extra]), from soft class weights (n, K) and the
        statistics reshaped to (n, P, S)."""
        raise NotImplementedError

    def features(self, stats: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """(n, P*S') row features for the random partitions of the starts (``estimate/starts.py``):
        one-hot categories by default; families of numbers override with standardized values."""
        return stats.reshape(stats.shape[0], -1)

    def simulate(self, rng, params: dict, eta: np.ndarray, link: str | None, item: int = 0) -> np.ndarray:
        """Draw one item for n rows; ``params`` role -> (n[, extra]) (the row's class), ``eta`` (n,);
        ``item`` is the item's position in its group (for constants that ``bind`` fixed per item)."""
        raise NotImplementedError

    def probabilities(self, params: dict, link: str | None) -> np.ndarray | None:
        """(K, P, M) category probabilities for the report (None for non-categorical families)."""
        return None


def contract(data, coef, per_row: bool):
    """sum_s data[i, s] * coef[r, a, s] -> (n, A); r = 0 or r = i (per-row graph).

    ``data`` (n, S'), ``coef`` (R, A, S'): a matrix product when the coefficients are
    shared by all rows (R = 1), elementwise otherwise.
    """
    if per_row:
        return (data[:, None, :] * coef).sum(axis=-1)
    return pt.dot(data, coef[0].T)


def masked(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(observed mask as float, values with 0 where missing)."""
    obs = ~np.isnan(values)
    return obs.astype(float), np.where(obs, values, 0.0)


def standardized(y: np.ndarray, obs: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """(n, P) values standardized with count-weighted means and SDs; 0 where missing."""
    mean = counts @ y / (counts @ obs)
    sd = np.sqrt(np.maximum((counts @ (y * y)) / (counts @ obs) - mean**2, 1e-12))
    return np.where(obs > 0, (y - mean) / sd, 0.0)


def interleave(*columns: np.ndarray) -> np.ndarray:
    """Stack (n, P) statistics item-major into (n, P*S)."""
    stacked = np.stack(columns, axis=-1)
    return stacked.reshape(stacked.shape[0], -1)


def class_names(fmt: str, items, cv_name: str, n_classes: int, extra: int = 0) -> np.ndarray:
    """Parameter names (K, P[, extra]); ``fmt`` uses {item}, {t} (1-based) and the class suffix."""
    if extra:
        return np.array([[[fmt.format(item=it.name, t=t + 1) + f"|{cv_name}#{c + 1}" for t in range(extra)]
                          for it in items] for c in range(n_classes)], dtype=object)
    return np.array([[fmt.format(item=it.name) + f"|{cv_name}#{c + 1}" for it in items]
                     for c in range(n_classes)], dtype=object)


def add_class_block(layout, key, names, group, cv_name, items, transform="identity", bounds=(-np.inf, np.inf)):
    """Register a (K, P[, extra]) block with the class on axis 0 and the item on axis 1."""
    k = names.shape[0]
    classes = np.arange(1, k + 1).reshape((k,) + (1,) * (names.ndim - 1))
    item_names = np.array([it.name for it in items], dtype=object).reshape((1, len(items)) + (1,) * (names.ndim - 2))
    return layout.add_block(key, names, group=group, class_var=cv_name, classes=classes, items=item_names,
                            transform=transform, class_axes={cv_name: 0}, bounds=bounds)
