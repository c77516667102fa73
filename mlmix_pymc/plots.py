"""Plots of fitted mixture models (matplotlib: the ``plots`` extra, ``pip install mlmix-pymc[plots]``).

Every function draws on ``ax`` (a new figure when None) and returns the matplotlib ``Axes``.
The plotted numbers are those of the result's own public tables, so a plot never shows a
quantity computed differently from ``summary()``:

* ``profile``: item probabilities (``item_probabilities()``) or means (``parameters``) by
  class, with posterior bands when a Bayes ``InferenceData`` (``Model.sample``) is given;
* ``class_probabilities``: P(C = k | x) against a covariate, the multinomial logit of eq 4
  evaluated with the ``parameters`` table; or P(C = k | alpha) against a random class-logit
  intercept on its standard scale (the paper's Figures 2-3, eq 10);
* ``profile_scatter``: LCA against GoM item probabilities of one class (Figure 4,
  ``profile_comparison()``);
* ``transitions``: heatmap of an LTA's transition table (``transition_probabilities()``, eq 9);
* ``icc``: ICCs of random class-logit intercepts with their delta-method intervals (``icc()``, eq 20);
* ``between_classes``: between-level class displays (eq 16-17, 24): mean within-level class
  probabilities by most likely between class, or each cluster's between-class posterior;
* ``information_criteria`` (``Enumeration.plot``) and ``forest`` (``Comparison.plot``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .bayes.layout import check_same_model, parameter_draws
from .errors import SpecificationError
from .gom_results import profile_comparison
from .results import MLResult, provides

MAX_BAND_DRAWS = 1000  # posterior draws used for the bands of ``profile`` (thinned evenly beyond)


def _pyplot():
    """matplotlib.pyplot, imported on first use, with a clear error when the extra is missing."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("mlmix_pymc.plots needs matplotlib: pip install 'mlmix-pymc[plots]' "
                          "(or pip install matplotlib)") from err
    return plt


def _axes(ax, figsize):
    if ax is None:
        _, ax = _pyplot().subplots(figsize=figsize)
    return ax


def _class_var(result, class_var):
    names = [cv.name for cv in result.structure.class_vars]
    if class_var is None:
        return names[0]
    if class_var not in names:
        raise SpecificationError(f"class_var={class_var!r} is not a class variable of this model; "
                                 f"choose one of {names}")
    return class_var


def _class_labels(result, class_var) -> dict:
    """'c#1 (62.3%)' per class number, from ``class_proportions()`` (model-estimated)."""
    props = result.class_proportions()
    props = props[props["class_var"] == class_var]
    return {int(r["class"]): f"{class_var}#{int(r['class'])} ({100 * r['model_estimated']:.1f}%)"
            for _, r in props.iterrows()}


# ------------------------------------------------------------------ profile
def profile(result, ax=None, kind: str = "auto", category=None, class_var: str | None = None, idata=None,
            level: float = 0.95):
    """Item profile by class: one line per class across the items.

    kind : ``"probability"`` (categorical items, from ``result.item_probabilities()``),
        ``"mean"`` (normal items: the class means of the ``parameters`` table) or ``"auto"``
        (probabilities when the model has categorical items, else means).
    category : which categories of the categorical items: None (binary items: the highest
        category, P(y = 1); polytomous items: every category), ``"all"`` (every category of
        every item) or a category label (that category of every item that has it).
    idata : ``InferenceData`` from ``Model.sample`` of the model that gave ``result``: the lines
        are then posterior means and a band shows the equal-tailed ``level`` interval per class
        (each draw's table is ``item_probabilities()`` / ``parameters`` at that draw's ``phi``).
    """
    if not isinstance(result, MLResult):
        raise SpecificationError("profile() needs the fitted result (MLResult); for a Bayes fit pass the ML result "
                                 "and the InferenceData as profile(result, idata=idata)")
    if kind not in ("auto", "probability", "mean"):
        raise SpecificationError(f"kind={kind!r}: choose 'auto', 'probability' or 'mean'")
    probs = result.item_probabilities()
    if kind == "auto":
        kind = "probability" if len(probs) else "mean"
    if kind == "probability":
        frame, column = probs, "probability"
        classes, rows, labels, name = _probability_rows(probs, category, class_var, result)
        at_draw = lambda phi, idx: _at(result, phi).item_probabilities()["probability"].to_numpy()[idx]  # noqa: E731
    else:
        frame, column = result.parameters, "estimate"
        classes, rows, labels, name = _mean_rows(result, class_var)
        at_draw = lambda phi, idx: phi[idx]  # noqa: E731 - the parameters table's rows are phi's elements
    draws = _phi_draws(result, idata) if idata is not None else None
    ax = _axes(ax, (max(4.5, 0.55 * len(labels) + 2), 3.8))
    names = _class_labels(result, name)
    x = np.arange(len(labels))
    for c, idx in zip(classes, rows):
        label = names.get(c, f"{name}#{c}")
        if draws is None:
            ax.plot(x, frame[column].to_numpy(dtype=float)[idx], marker="o", label=label)
            continue
        per_draw = np.array([at_draw(phi, idx) for phi in draws])
        line, = ax.plot(x, per_draw.mean(axis=0), marker="o", label=f"{label}, posterior mean")
        lo, hi = np.quantile(per_draw, [(1 - level) / 2, (1 + level) / 2], axis=0)
        ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.25, label=f"{100 * level:g}% interval")
    rotate = len(labels) > 6
    ax.set_xticks(x)
    ax.set_xticklabels(labels, rotation=45 if rotate else 0, ha="right" if rotate else "center")
    ax.set_ylabel("probability" if kind == "probability" else "class mean")
    if kind == "probability":
        ax.set_ylim(-0.02, 1.02)
    ax.set_title(f"item profile by class ({name})")
    ax.legend(loc="best", fontsize="small")
    return ax


def _probability_rows(probs: pd.DataFrame, category, class_var, result):
    """Classes, row positions of ``item_probabilities()`` per class, x labels, class variable."""
    if not len(probs):
        raise SpecificationError("the model has no categorical items: use profile(result, kind='mean')")
    name = _class_var(result, class_var) if class_var is not None else probs["class_var"].iloc[0]
    part = probs[probs["class_var"] == name]
    if not len(part):
        raise SpecificationError(f"class variable {name!r} has no categorical items")
    n_cat = part.groupby("item", sort=False)["category"].transform("nunique")
    last = part.groupby("item", sort=False)["category"].transform("last")
    if category is None:
        keep = (n_cat > 2) | (part["category"] == last)
    elif isinstance(category, str) and category == "all":
        keep = pd.Series(True, index=part.index)
    else:
        keep = part["category"] == category
        if not keep.any():
            raise SpecificationError(f"category={category!r} is no category of the items of {name!r}")
    part = part[keep]
    classes = sorted(part["class"].unique())
    first = part[part["class"] == classes[0]]
    binary_only = category is None and bool((n_cat[keep] == 2).all())
    labels = [str(i) if binary_only else f"{i}={c}" for i, c in zip(first["item"], first["category"])]
    rows = [np.flatnonzero(probs.index.isin(part.index[part["class"] == c])) for c in classes]
    return [int(c) for c in classes], rows, labels, name


def _mean_rows(result, class_var):
    """Classes, row positions of the class means of normal items in ``parameters`` per class, items,
    class variable."""
    table = result.parameters
    means = table[table["group"] == "mean"]
    if class_var is not None:
        means = means[means["class_var"] == _class_var(result, class_var)]
    if not len(means):
        raise SpecificationError("the model has no class-specific means of normal items: use kind='probability'")
    name = means["class_var"].iloc[0]
    means = means[means["class_var"] == name]
    classes = sorted(int(c) for c in means["class"].dropna().unique())
    items = list(dict.fromkeys(means["item"]))
    rows = [np.array([means.index[(means["class"] == c) & (means["item"] == it)][0] for it in items]) for c in classes]
    return classes, rows, items, name


def _phi_draws(result, idata) -> np.ndarray:
    """(draws, n_phi) posterior draws of ``phi`` matching ``result``'s parameters (thinned evenly)."""
    check_same_model(result, idata)
    phi = parameter_draws(idata).values
    draws = phi.reshape(-1, phi.shape[-1])
    if len(draws) > MAX_BAND_DRAWS:
        draws = draws[np.linspace(0, len(draws) - 1, MAX_BAND_DRAWS).astype(int)]
    return draws


def _at(result, phi):
    """``result`` with its estimates replaced by ``phi`` (for the tables at one posterior draw)."""
    import dataclasses

    return dataclasses.replace(result, phi=np.asarray(phi, dtype=float))


# ------------------------------------------------------------------ class probabilities
def class_probabilities(result, covariate: str, ax=None, class_var: str | None = None, values=None,
                        at: dict | None = None, observed: bool = True):
    """Class probabilities against a covariate (multinomial logit, eq 4) or a random intercept.

    covariate : a covariate of the class regression of ``class_var``: P(C = k | x) over
        ``values`` (default: 101 points over the observed range), the other covariates held at
        their sample mean (or at ``at[name]``), random class-logit intercepts at 0; with
        ``observed=True`` the model's P(C = k | x_i) of every row (``result.prior``) is drawn
        as points. Or the name of a random class-logit intercept (``result.icc()["effect"]``,
        e.g. ``"c#1"``): P(C = k | alpha) over alpha / SD(alpha) in [-3, 3] (the paper's
        Figures 2-3, eq 10), two classes.

    Intercepts and slopes are read from ``result.parameters``.
    """
    ax = _axes(ax, (5, 3.6))
    name = _class_var(result, class_var)
    cv = result.structure.class_var(name)
    table = result.parameters.set_index("name")
    k = cv.n_classes
    intercept = np.array([table.loc[f"[{name}#{c + 1}]", "estimate"] for c in range(k)])
    random_names = [f"{name}#{c + 1}" for c in range(k - 1)]
    if covariate in random_names and cv.random_intercept:
        sd = float(np.sqrt(table.loc[f"var({covariate})", "estimate"]))
        z = np.linspace(-3, 3, 121) if values is None else np.asarray(values, dtype=float)
        logits = np.tile(intercept, (len(z), 1))
        logits[:, random_names.index(covariate)] += sd * z
        probs = _softmax(logits)
        for c in range(k):
            ax.plot(z, probs[:, c], label=f"P({name} = {c + 1} | {covariate})")
        ax.set_xlabel(f"random intercept {covariate} / SD (SD = {sd:.3g})")
        ax.set_ylabel("class probability")
        ax.set_ylim(-0.02, 1.02)
        ax.legend(loc="best", fontsize="small")
        return ax
    if cv.parent is not None:
        raise SpecificationError(f"class variable {name!r} depends on {cv.parent!r}: its probabilities against a "
                                 "covariate are conditional on the parent class; plot the parent's covariates")
    if covariate not in cv.covariates:
        options = list(cv.covariates) + (random_names if cv.random_intercept else [])
        raise SpecificationError(f"covariate={covariate!r} does not predict class variable {name!r}; choose one of "
                                 f"{options}")
    if result.model is None:
        raise SpecificationError("class_probabilities() against a covariate needs the result's data; load a saved "
                                 "result with mm.load_result")
    names = list(result.structure.covariate_names)
    x = result.model.data.covariates
    grid = (np.linspace(np.nanmin(x[:, names.index(covariate)]), np.nanmax(x[:, names.index(covariate)]), 101)
            if values is None else np.asarray(values, dtype=float))
    held = {c: (at or {}).get(c, float(np.nanmean(x[:, names.index(c)]))) for c in cv.covariates}
    logits = np.tile(intercept, (len(grid), 1))
    for c_name in cv.covariates:
        slope = np.array([table.loc[f"{name}#{c + 1} ON {c_name}", "estimate"] for c in range(k)])
        column = grid if c_name == covariate else np.full(len(grid), held[c_name])
        logits += column[:, None] * slope[None, :]
    probs = _softmax(logits)
    labels = _class_labels(result, name)
    for c in range(k):
        line, = ax.plot(grid, probs[:, c], label=labels.get(c + 1, f"{name}#{c + 1}"))
        if observed and len(cv.covariates) == 1:
            from .graph.likelihood import marginal_class_probs

            prior = marginal_class_probs(result.structure, result.prior, name)
            ax.scatter(x[:, names.index(covariate)], prior[:, c], s=6, alpha=0.3, color=line.get_color())
    ax.set_xlabel(covariate)
    ax.set_ylabel(f"P({name} = k | {covariate})")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(loc="best", fontsize="small")
    return ax


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


# ------------------------------------------------------------------ GoM
def profile_scatter(lca_result, gom_result=None, cls: int = 1, ax=None):
    """Figure 4: each item's LCA (x) against GoM (y) probability for GoM class ``cls``.

    ``profile_scatter(gom_result)`` uses the GoM's nested LCA; ``profile_scatter(lca_result,
    gom_result)`` a separately fitted LCA. Numbers from ``gom_results.profile_comparison``
    (classes matched by the closest profiles); the title gives their correlation.
    """
    if gom_result is None:
        gom_result, lca_result = lca_result, None
    elif lca_result.structure.is_gom and not gom_result.structure.is_gom:  # given as (gom, lca)
        lca_result, gom_result = gom_result, lca_result
    table = profile_comparison(gom_result, lca_result)
    classes = sorted(table["class"].unique())
    if cls not in classes:
        raise SpecificationError(f"cls={cls!r}: the GoM has classes {classes}")
    part = table[table["class"] == cls]
    ax = _axes(ax, (4.5, 4.5))
    ax.scatter(part["lca"], part["gom"])
    ax.plot([0, 1], [0, 1], color="grey", linewidth=0.8)
    ax.set_xlabel("LCA probability")
    ax.set_ylabel("GoM probability")
    r = np.corrcoef(part["lca"], part["gom"])[0, 1] if len(part) > 1 else np.nan
    ax.set_title(f"class {cls}: item profiles, r = {r:.2f}")
    return ax


@provides("plot_profile_comparison")
def plot_profile_comparison(result, cls: int = 1, ax=None):
    """Fig 4 of a GoM result (``MLResult.plot_profile_comparison``): ``profile_scatter`` against its
    nested LCA; returns the axes."""
    return profile_scatter(result, None, cls, ax)


# ------------------------------------------------------------------ LTA
def transitions(result, class_var: str | None = None, ax=None, cmap: str = "Blues"):
    """Heatmap of the LTA transition table P(class_var = k | parent = d) (eq 9), annotated.

    ``class_var``: a class variable with a parent (default: the first one); the numbers are
    ``result.transition_probabilities(class_var)``.
    """
    if class_var is None:
        with_parent = [cv.name for cv in result.structure.class_vars if cv.parent is not None]
        if not with_parent:
            raise SpecificationError("the model has no class variable depending on another (an LTA, mm.lta)")
        class_var = with_parent[0]
    table = result.transition_probabilities(class_var)
    ax = _axes(ax, (1.2 * table.shape[1] + 2, 1.0 * table.shape[0] + 1.5))
    image = ax.imshow(table.to_numpy(), cmap=cmap, vmin=0, vmax=1)
    for (i, j), p in np.ndenumerate(table.to_numpy()):
        ax.text(j, i, f"{p:.3f}", ha="center", va="center", color="white" if p > 0.6 else "black")
    ax.set_xticks(range(table.shape[1]))
    ax.set_xticklabels(table.columns)
    ax.set_yticks(range(table.shape[0]))
    ax.set_yticklabels(table.index)
    ax.set_xlabel("to")
    ax.set_ylabel("from")
    ax.set_title(f"transition probabilities ({class_var})")
    ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    return ax


# ------------------------------------------------------------------ two-level
def icc(result, ax=None, level: float = 0.95):
    """ICC of each random class-logit intercept (eq 20) as a bar with its delta-method interval
    (``result.icc(level)``, the interval on the logit scale, inside [0, 1]); the 0.8 line is the
    paper's rule of thumb for a between-level class variable (section 5)."""
    table = result.icc(level)
    if not len(table):
        raise SpecificationError("the model has no random class-logit intercepts (ICC, eq 20)")
    ax = _axes(ax, (max(3.5, 1.0 * len(table) + 2), 3.6))
    x = np.arange(len(table))
    icc_values = table["icc"].to_numpy(dtype=float)
    err = np.vstack([icc_values - table["lower"].to_numpy(dtype=float),
                     table["upper"].to_numpy(dtype=float) - icc_values])
    ax.bar(x, icc_values, yerr=np.where(np.isfinite(err), err, 0), capsize=4, color="tab:blue", alpha=0.8)
    ax.axhline(0.8, color="grey", linestyle="--", linewidth=0.8)
    ax.set_xticks(x)
    ax.set_xticklabels(table["effect"])
    ax.set_ylim(0, 1.05)
    ax.set_ylabel(f"ICC ({int(100 * level)}% delta-method interval)")
    ax.set_title("ICC of random class-logit intercepts")
    return ax


def between_classes(result, ax=None, kind: str = "auto", class_var: str | None = None):
    """Between-level class displays (eq 16-17, 24).

    kind : ``"within"``: per most likely between class D = d (``between_posterior_probabilities``),
        the mean posterior probability of each within-level class of ``class_var`` over the rows
        of those clusters (``posterior_probabilities``), as stacked bars: within-class
        proportions by between class. ``"clusters"``: each cluster's posterior probabilities of
        the between classes, stacked, clusters sorted by most likely class. ``"auto"``:
        ``"within"`` when the model has a within-level class variable.
    """
    between = result.structure.between
    if between is None:
        raise SpecificationError("the model has no between-level class variable (level='between')")
    if kind not in ("auto", "within", "clusters"):
        raise SpecificationError(f"kind={kind!r}: choose 'auto', 'within' or 'clusters'")
    clusters = result.between_posterior_probabilities()
    d_cols = [f"{between.name}={d + 1}" for d in range(between.n_classes)]
    within = [cv.name for cv in result.structure.class_vars if cv.level == "within"]
    if kind == "auto":
        kind = "within" if within else "clusters"
    ax = _axes(ax, (5, 3.6))
    if kind == "clusters":
        order = clusters.sort_values([f"most_likely_{between.name}"] + d_cols[:1], ascending=[True, False])
        x = np.arange(len(order))
        bottom = np.zeros(len(order))
        for col in d_cols:
            ax.bar(x, order[col].to_numpy(), bottom=bottom, width=1.0, label=col)
            bottom += order[col].to_numpy()
        ax.set_xlabel("cluster (sorted by most likely between class)")
        ax.set_ylabel("posterior probability")
        ax.set_title(f"between-level classes {between.name} per cluster")
        ax.legend(loc="best", fontsize="small")
        return ax
    if not within:
        raise SpecificationError("kind='within' needs a within-level class variable")
    table = within_by_between(result, class_var)
    bottom = np.zeros(len(table))
    x = np.arange(len(table))
    for col in table.columns:
        ax.bar(x, table[col].to_numpy(), bottom=bottom, label=col)
        bottom += table[col].to_numpy()
    ax.set_xticks(x)
    ax.set_xticklabels(table.index)
    ax.set_ylabel("mean posterior probability")
    ax.set_ylim(0, 1.05)
    ax.set_title("within-level classes by between class")
    ax.legend(loc="best", fontsize="small")
    return ax


def within_by_between(result, class_var: str | None = None) -> pd.DataFrame:
    """Mean posterior probability of each within-level class (columns) over the rows of the
    clusters whose most likely between class is d (rows); the data of ``between_classes``."""
    between = result.structure.between
    name = class_var or next(cv.name for cv in result.structure.class_vars if cv.level == "within")
    name = _class_var(result, name)
    rows = result.posterior_probabilities()
    clusters = result.between_posterior_probabilities()
    if result.model is None or not rows.index.is_unique:
        raise SpecificationError("within_by_between needs the fitted DataFrame (with a unique row index) attached "
                                 "to the result")
    cluster_of_row = result.model.frame.loc[rows.index, result.model.spec.cluster]
    most_likely = clusters[f"most_likely_{between.name}"].reindex(cluster_of_row.to_numpy()).to_numpy()
    cols = [f"{name}={k + 1}" for k in range(result.structure.class_var(name).n_classes)]
    out = rows[cols].groupby(pd.Series(most_likely, index=rows.index, name="between")).mean()
    out = out.reindex(range(1, between.n_classes + 1))
    out.index = pd.Index([f"{between.name}={d}" for d in out.index], name="most likely between class")
    return out


# ------------------------------------------------------------------ enumeration, ML vs Bayes
def information_criteria(enumeration, criteria=("AIC", "BIC", "aBIC", "CAIC"), ax=None):
    """Information criteria over the number of classes of an ``Enumeration`` (``mm.enumerate``)."""
    ax = _axes(ax, (5, 3.5))
    table = enumeration.table
    for crit in criteria:
        if crit in table:
            ax.plot(table["K"], table[crit], marker="o", label=crit)
    ax.set_xlabel("number of classes")
    ax.set_ylabel("information criterion")
    ax.set_xticks(list(table["K"]))
    ax.legend(loc="best")
    return ax


def forest(comparison, ax=None, level_z: float = 1.959964):
    """Forest plot of a ``Comparison`` (``mm.compare``): ML estimate +- z SE and the posterior
    mean with its interval, per parameter."""
    table = comparison.table
    ax = _axes(ax, (6, 0.35 * len(table) + 1))
    y = np.arange(len(table))[::-1]
    ax.errorbar(table["ml_estimate"], y + 0.15, xerr=level_z * table["ml_se"], fmt="o", label="ML (95% CI)")
    ax.errorbar(table["posterior_mean"], y - 0.15,
                xerr=[table["posterior_mean"] - table["lower"], table["upper"] - table["posterior_mean"]],
                fmt="s", label="posterior mean (95% interval)")
    ax.set_yticks(y)
    ax.set_yticklabels(table["parameter"])
    ax.legend(loc="best")
    ax.set_xlabel("estimate")
    return ax
