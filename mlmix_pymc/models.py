"""Convenience constructors: a familiar call builds a ``ModelSpec`` and binds the data.

A new model type is a new spec here, never new likelihood code.
"""

from __future__ import annotations

import dataclasses
import numbers
from typing import Mapping, Sequence

import pandas as pd

from .errors import SpecificationError
from .model import Model
from .spec import ClassVariable, Constraints, Factor, Indicator, ModelSpec, RandomEffect


def _families_by_item(items: list[str], family: str | Mapping[str, str]) -> dict:
    """item -> family from one family name or a dict, refusing dict keys that are not items."""
    families = dict(family) if isinstance(family, Mapping) else {it: family for it in items}
    unknown = set(families) - set(items)
    if unknown:
        raise SpecificationError(f"family given for columns {sorted(unknown)} that are not in items")
    return families


def _bind(spec: ModelSpec, data: pd.DataFrame, weights: str | None, known_class: str | None) -> Model:
    """The constructors' spec with the sampling-weight and known-class columns, bound to ``data``."""
    if weights is not None or known_class is not None:
        spec = dataclasses.replace(spec, weights=weights, known_class=known_class)
    return Model(spec, data)


def lca(data: pd.DataFrame, items: Sequence[str], n_classes: int, covariates: Sequence[str] | None = None,
        link: str = "logit", family: str | Mapping[str, str] = "binary", variance: str = "class-specific",
        fixed: Mapping[str, float] | None = None, equal: Sequence[Sequence[str]] | None = None,
        class_name: str = "c", cluster: str | None = None, random_intercept: bool = False,
        weights: str | None = None, known_class: str | None = None) -> Model:
    """Latent class analysis / latent profile analysis (paper eq 1-4), optionally two-level.

    Parameters
    ----------
    data : DataFrame with one row per respondent.
    items : indicator columns.
    n_classes : number of latent classes (>= 1).
    covariates : columns predicting class membership (multinomial logit, last class reference).
    link : ``"logit"`` or ``"probit"`` for categorical items.
    family : ``"binary"``, ``"ordinal"`` or ``"normal"`` for every item, or a dict item -> family.
    variance : ``"class-specific"`` or ``"class-equal"`` variances of normal items.
    fixed, equal : constraints by parameter name (see ``Model.parameter_names``).
    class_name : name of the class variable in parameter names (default ``"c"``).
    cluster : cluster column: robust standard errors clustered on it and, with
        ``random_intercept=True``, random class-logit intercepts per cluster (the
        within-between class variable of Table 4, eq 10 / 15; parameters ``var(c#k)``).
    weights : sampling-weight column (Mplus WEIGHT): the log-likelihood is sum_i w_i log L_i
        with the weights normalized to sum to the number of rows used (as Mplus does); ``se="mlr"``
        gives the weighted sandwich. Single-level models only (every constructor takes it).
    known_class : column with the observed class 1..K of a row, missing where unknown (Mplus
        KNOWNCLASS): a row with an observed class contributes only that class (classes are then
        not reordered). ``lca``, ``lta`` (first time point) and ``fma`` take it.

    Returns a ``Model``; call ``model.fit()`` to estimate it.
    """
    if isinstance(items, str):
        raise SpecificationError(f"items must be a list of column names, got the string {items!r}")
    items = list(items)
    families = _families_by_item(items, family)
    spec = ModelSpec(
        class_variables=(ClassVariable(class_name, n_classes, covariates=covariates,
                                       random_intercept=random_intercept),),
        indicators=tuple(Indicator(it, families.get(it, "binary"), link, class_name, variance) for it in items),
        constraints=Constraints(fixed=fixed or {}, equal=tuple(tuple(g) for g in (equal or ()))),
        cluster=cluster,
    )
    return _bind(spec, data, weights, known_class)


RANDOM_TERMS = ("intercept", "slope")


def regression_mixture(data: pd.DataFrame, y: str, x: str | Sequence[str], n_classes: int,
                       cluster: str | None = None, random: Sequence[str] = (), class_level: str = "within",
                       family: str = "normal", residual_variance: str = "class-invariant", link: str = "logit",
                       class_random_intercept: bool = False, random_covariance: str = "full",
                       class_covariates: Sequence[str] | None = None, class_name: str | None = None,
                       fixed: Mapping[str, float] | None = None,
                       equal: Sequence[Sequence[str]] | None = None, weights: str | None = None) -> Model:
    """Regression mixture, optionally two-level (paper eq 19; section 5 Models 1-6).

    ``y = mu_c + beta_c x + u_j + s_j x + e`` with class-specific ``mu_c`` and ``beta_c``.

    Parameters
    ----------
    y : outcome column; ``family`` ``"normal"`` (linear) or ``"binary"`` (logistic /
        probit regression with ``link``; then the intercept is a threshold, ``y$1``).
    x : covariate column(s) with class-specific slopes.
    n_classes : number of latent classes; 1 gives the (mixed) regression model itself.
    cluster : cluster column (needed for random effects and ``class_level="between"``).
    random : random effects over clusters among ``"intercept"`` (named ``u``) and
        ``"slope"`` (named ``s``, on the first ``x``).
    class_level : ``"within"`` (C_ij, eq 4) or ``"between"`` (D_j, eq 16-17: all persons of
        a cluster share the class).
    residual_variance : ``"class-invariant"`` or ``"class-specific"`` (normal family).
    class_random_intercept : Model 6: a within class variable with a random intercept on
        its logit (parameter ``var(c#1)``; its ICC is ``result.icc()``, eq 20).
    random_covariance : ``"full"`` (Cholesky) or ``"diagonal"`` (zero covariances).
    class_covariates : predictors of the class (cluster-level ones for ``between``).
    """
    xs = [x] if isinstance(x, str) else list(x)
    random = [random] if isinstance(random, str) else list(random)
    for term in random:
        if term not in RANDOM_TERMS:
            raise SpecificationError(f"random={random!r}: each term must be one of {RANDOM_TERMS}")
    if class_level not in ("within", "between"):
        raise SpecificationError(f"class_level must be 'within' or 'between', got {class_level!r}")
    if residual_variance not in ("class-invariant", "class-specific"):
        raise SpecificationError(
            f"residual_variance must be 'class-invariant' or 'class-specific', got {residual_variance!r}")
    if family not in ("normal", "binary"):
        raise SpecificationError(f"family must be 'normal' or 'binary', got {family!r}")
    if class_random_intercept and class_level != "within":
        raise SpecificationError("class_random_intercept=True needs class_level='within' (Model 6)")
    name = class_name or ("cb" if class_level == "between" else "c")
    variance = "class-equal" if residual_variance == "class-invariant" else "class-specific"
    effects = []
    if "intercept" in random:
        effects.append(RandomEffect("u", "intercept", (y,)))
    if "slope" in random:
        effects.append(RandomEffect("s", "slope", (y,), covariate=xs[0]))
    spec = ModelSpec(
        class_variables=(ClassVariable(name, n_classes, level=class_level, random_intercept=class_random_intercept,
                                       covariates=class_covariates),),
        indicators=(Indicator(y, family, link, name, variance, covariates=tuple(xs)),),
        constraints=Constraints(fixed=fixed or {}, equal=tuple(tuple(g) for g in (equal or ()))),
        cluster=cluster, random_effects=tuple(effects), random_covariance=random_covariance,
    )
    return _bind(spec, data, weights, None)


def from_spec(spec: ModelSpec | Mapping, data: pd.DataFrame) -> Model:
    """Bind a spec (or its dict form) to a DataFrame."""
    if not isinstance(spec, ModelSpec):
        spec = ModelSpec.from_dict(spec)
    return Model(spec, data)


def lta(data: pd.DataFrame, items_by_time: Sequence[Sequence[str]], n_classes: int,
        covariates: Sequence[str] | None = None, link: str = "logit", family: str = "binary",
        time_invariant: bool = True, cluster: str | None = None, random_intercept: bool = False,
        weights: str | None = None, known_class: str | None = None) -> Model:
    """Latent transition analysis (paper eq 6-9, first-order Markov), optionally two-level.

    ``items_by_time[t]`` are the indicators of class variable ``c{t+1}``; each ``C_t``
    (t > 1) is regressed on ``C_{t-1}`` (eq 9) and ``covariates`` predict ``C_1`` (eq 8).
    ``time_invariant=True`` constrains the measurement to be equal over time (items are
    paired in the order given). With ``cluster`` and ``random_intercept=True`` every class
    variable gets cluster random intercepts on its logits: the two-level LTA of sections
    3-4 (eq 10-15), parameters ``var(c1#1)``, ``var(c2#1)``, ``cov(c2#1,c1#1)``...
    """
    if len(items_by_time) < 2:
        raise SpecificationError("an LTA needs items for at least two time points")
    names = [f"c{t + 1}" for t in range(len(items_by_time))]
    cvs = tuple(ClassVariable(name, n_classes, covariates=covariates if t == 0 else (),
                              depends_on=None if t == 0 else names[t - 1], random_intercept=random_intercept)
                for t, name in enumerate(names))
    inds = tuple(Indicator(it, family, link, names[t]) for t, items in enumerate(items_by_time) for it in items)
    cons = Constraints(same_measurement=(tuple(names),) if time_invariant else ())
    return _bind(ModelSpec(cvs, inds, cons, cluster=cluster), data, weights, known_class)


LOADINGS = ("class-invariant", "class-specific")
IRT_MODELS = ("rasch", "1pl", "2pl", "3pl", "grm")
CERTAIN_THRESHOLD = -30.0  # 3PL: P(y = 1 | guessing class) = F(30) = 1 - 1e-13 (the paper's tau = 15, eq 45)


def _factors_for(items: list[str], n_factors: int, loadings: str, variance: str,
                 mean: str = "zero") -> tuple[Factor, ...]:
    """Factors f (one) or f1..fm in echelon form: factor a loads on items[a:] (rotation fixed, m <= 3)."""
    if isinstance(n_factors, numbers.Integral) and not isinstance(n_factors, bool):
        n_factors = int(n_factors)  # numpy integers too
    if isinstance(n_factors, bool) or not isinstance(n_factors, int) or not 1 <= n_factors <= 3:
        raise SpecificationError(f"n_factors must be 1, 2 or 3, got {n_factors!r}")
    if len(items) <= n_factors:
        raise SpecificationError(f"{n_factors} factor(s) need more than {n_factors} items, got {len(items)}")
    names = ["f"] if n_factors == 1 else [f"f{a + 1}" for a in range(n_factors)]
    return tuple(Factor(name, tuple(items[a:]), loadings, variance, mean) for a, name in enumerate(names))


def fma(data: pd.DataFrame, items: Sequence[str], n_classes: int, n_factors: int = 1,
        loadings: str = "class-invariant", link: str = "logit", family: str | Mapping[str, str] = "binary",
        covariates: Sequence[str] | None = None, factor_variance: str = "fixed", factor_mean: str = "zero",
        class_name: str = "c",
        cluster: str | None = None, cluster_intercept: bool = False, fixed: Mapping[str, float] | None = None,
        equal: Sequence[Sequence[str]] | None = None, weights: str | None = None,
        known_class: str | None = None) -> Model:
    """Factor mixture analysis / mixture IRT (paper eq 36-37; section 8): LCA with a factor inside classes.

    P(y_p = 1 | C = c, f) = F(lambda_pc f - tau_pc) for binary items (ordinal: P(y <= m) =
    F(tau_m - lambda f); normal: mean + lambda f), f ~ N(0, 1) per person, integrated inside
    the sum over classes.

    Parameters
    ----------
    items : indicator columns; ``family`` as in ``lca`` (binary, ordinal, normal, poisson).
    n_classes : number of latent classes (1: a factor / IRT model, see ``irt``).
    n_factors : 1-3 factors; with more than one, factor a loads on items a, a+1, ... (echelon
        form fixes the rotation); factors are independent N(0, 1).
    loadings : ``"class-invariant"`` (``f BY item``, the restricted FMA of section 8) or
        ``"class-specific"`` (``f BY item|c#k``, eq 36).
    factor_variance : ``"fixed"`` (1 in every class) or ``"class-specific"`` (``var(f)|c#k`` all
        free, first loading fixed at 1 as in Mplus; class-invariant loadings only).
    factor_mean : ``"zero"`` or ``"class-specific"`` (``[f]|c#k``, last class 0; the items'
        thresholds become class-invariant: classes differ in where they sit on the factor).
    covariates : predictors of class membership (eq 4 / 37).
    cluster, cluster_intercept : a cluster random intercept ``u`` (``var(u)``) entering every
        item with loading 1 (a two-level IRT: a school effect on ability), integrated over
        clusters outside the persons' factor integrals.
    fixed, equal : constraints by parameter name (``model.parameter_names``).

    Integration: ``fit(points=...)`` sets the factor's Gauss-Hermite points per dimension
    (defaults 41 / 21 / 11 for 1 / 2 / 3 factors; ``factor_points=`` in two-level models).
    """
    if isinstance(items, str):
        raise SpecificationError(f"items must be a list of column names, got the string {items!r}")
    items = list(items)
    if loadings not in LOADINGS:
        raise SpecificationError(f"loadings must be one of {LOADINGS}, got {loadings!r}")
    families = dict(family) if isinstance(family, Mapping) else {it: family for it in items}
    effects = ()
    if cluster_intercept:
        if cluster is None:
            raise SpecificationError("cluster_intercept=True needs cluster=")
        effects = (RandomEffect("u", "intercept", tuple(items)),)
    spec = ModelSpec(
        class_variables=(ClassVariable(class_name, n_classes, covariates=covariates),),
        indicators=tuple(Indicator(it, families.get(it, "binary"), link, class_name) for it in items),
        constraints=Constraints(fixed=fixed or {}, equal=tuple(tuple(g) for g in (equal or ()))),
        cluster=cluster, random_effects=effects,
        factors=_factors_for(items, n_factors, loadings, factor_variance, factor_mean),
    )
    return _bind(spec, data, weights, known_class)


def irt(data: pd.DataFrame, items: Sequence[str], model: str = "2pl", link: str = "logit",
        cluster: str | None = None, cluster_intercept: bool = False, weights: str | None = None) -> Model:
    """Item response models as the 1-class factor mixture (eq 36 with K = 1; eq 49-50).

    ``model``: ``"rasch"`` (loadings fixed at 1, free ability variance ``var(f)``), ``"1pl"``
    (one common loading, f ~ N(0, 1): the Rasch model rescaled), ``"2pl"`` (a loading per
    item) or ``"grm"`` (Samejima's graded response model for ordinal items). Binary items
    follow P(y = 1 | f) = F(lambda f - tau) = F(a (f - b)) with a = lambda, b = tau / lambda;
    ``result.irt_parameters()`` reports both parameterizations.

    ``"3pl"`` (eq 42, P(y = 1) = g + (1 - g) F(a (f - b))) is estimated as the constrained
    2-class FMA-GoM of section 9 (eq 43-47): class 1 answers correctly with certainty (its
    loadings fixed at 0 and thresholds at -30, so F(30) = 1 - 1e-13), class 2 follows the 2PL,
    and the item's class is drawn with the item-specific logit gamma_i (no person-level
    membership): g_i = expit(gamma_i), a_i = lambda_i2, b_i = tau_i2 / lambda_i2 (eq 48-50;
    ``result.guessing_parameters()`` with delta-method SEs).
    """
    if model not in IRT_MODELS:
        raise SpecificationError(f"model must be one of {IRT_MODELS}, got {model!r}")
    items = list(items) if not isinstance(items, str) else items
    if isinstance(items, str):
        raise SpecificationError(f"items must be a list of column names, got the string {items!r}")
    if model == "3pl":
        if cluster_intercept or cluster is not None:
            raise SpecificationError("model='3pl' is single-level (cluster= is not supported)")
        fixed = {f"f BY {it}|c#1": 0.0 for it in items}
        fixed.update({f"{it}$1|c#1": CERTAIN_THRESHOLD for it in items})
        spec = ModelSpec(
            class_variables=(ClassVariable("c", 2, level="item", membership="fixed", item_logits=True),),
            indicators=tuple(Indicator(it, "binary", link, "c") for it in items),
            constraints=Constraints(fixed=fixed),
            factors=(Factor("f", tuple(items), "class-specific", "fixed"),),
        )
        return _bind(spec, data, weights, None)
    family = "ordinal" if model == "grm" else "binary"
    equal = ()
    if model == "1pl":
        equal = ([f"f BY {it}" for it in items],)
    if model == "rasch":
        factors = (Factor("f", tuple(items), "fixed", "free"),)
    else:
        factors = _factors_for(items, 1, "class-invariant", "fixed")
    effects = (RandomEffect("u", "intercept", tuple(items)),) if cluster_intercept else ()
    if cluster_intercept and cluster is None:
        raise SpecificationError("cluster_intercept=True needs cluster=")
    spec = ModelSpec(
        class_variables=(ClassVariable("c", 1),),
        indicators=tuple(Indicator(it, family, link, "c") for it in items),
        constraints=Constraints(equal=equal), cluster=cluster, random_effects=effects, factors=factors,
    )
    return _bind(spec, data, weights, None)


MEMBERSHIP_KINDS = ("logistic-normal", "restricted", "dirichlet")


def gom(data: pd.DataFrame, items: Sequence[str], n_classes: int, membership: str = "logistic-normal",
        covariates: Sequence[str] | None = None,
        item_covariates: Sequence[str] | Mapping[str, Sequence[str]] | None = None,
        family: str | Mapping[str, str] = "binary", link: str = "logit", n_factors: int = 0,
        loadings: str = "class-invariant", class_name: str = "c", fixed: Mapping[str, float] | None = None,
        equal: Sequence[Sequence[str]] | None = None, weights: str | None = None) -> Model:
    """Grade-of-membership model from wide data (paper section 7-8, eq 28-41).

    Every item of a person has its own latent class C_ij (eq 28) drawn from the person's
    membership vector g_j: P(C_ij = k) = g_jk. Classes are the *extreme profiles*; a person
    close to a vertex of the simplex behaves like the LCA class.

    Parameters
    ----------
    items : indicator columns (one row per person; no long-format expansion is needed).
    n_classes : number of extreme profiles K.
    membership : ``"logistic-normal"`` (g = softmax(a + Gamma x + b), b ~ N(0, Sigma) with a
        full (K-1)-dimensional covariance, eq 30, 33-34; ``var(c#k)``, ``cov(c#k,c#l)``),
        ``"restricted"`` (b_k = lambda_k eta, one dimension for any K, eq 35; ``eta BY c#k``)
        or ``"dirichlet"`` (g ~ Dirichlet(alpha), Erosheva; ``alpha(c#k)``, integrated exactly).
    covariates : predictors of the memberships (eq 33; logistic-normal and restricted).
    item_covariates : item-specific covariates with class-specific effects (section 7: item
        dummy x covariate): a list of columns for every item, or a dict item -> columns.
    family, link : as in ``lca`` (binary, ordinal, nominal, normal, poisson items; section 7's
        last paragraph).
    n_factors, loadings : FMA-GoM (eq 38-41): ``n_factors`` within-level factors with
        ``"class-invariant"`` or ``"class-specific"`` loadings, integrated jointly with the
        membership.
    fixed, equal : constraints by parameter name (``model.parameter_names``).

    ``fit()`` integrates the logistic-normal membership by the trapezoid rule by default
    (41 / 31 / 15 points per dimension for 1 / 2 / 3 dimensions, QMC beyond) and starts from
    the LCA solution besides the random starts (``result.lca``).
    """
    if isinstance(items, str):
        raise SpecificationError(f"items must be a list of column names, got the string {items!r}")
    items = list(items)
    if membership not in MEMBERSHIP_KINDS:
        raise SpecificationError(f"membership must be one of {MEMBERSHIP_KINDS}, got {membership!r}")
    families = _families_by_item(items, family)
    if item_covariates is None:
        by_item: dict = {}
    elif isinstance(item_covariates, Mapping):
        by_item = {it: ([c] if isinstance(c, str) else list(c)) for it, c in item_covariates.items()}
        extra = set(by_item) - set(items)
        if extra:
            raise SpecificationError(f"item_covariates names columns {sorted(extra)} that are not in items")
    else:
        cols = [item_covariates] if isinstance(item_covariates, str) else list(item_covariates)
        by_item = {it: cols for it in items}
    factors = ()
    if n_factors:
        if loadings not in LOADINGS:
            raise SpecificationError(f"loadings must be one of {LOADINGS}, got {loadings!r}")
        factors = _factors_for(items, n_factors, loadings, "fixed")
    spec = ModelSpec(
        class_variables=(ClassVariable(class_name, n_classes, level="item", membership=membership,
                                       covariates=covariates),),
        indicators=tuple(Indicator(it, families.get(it, "binary"), link, class_name,
                                   covariates=tuple(by_item.get(it, ()))) for it in items),
        constraints=Constraints(fixed=fixed or {}, equal=tuple(tuple(g) for g in (equal or ()))),
        factors=factors,
    )
    return _bind(spec, data, weights, None)
