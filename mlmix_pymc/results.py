"""Result objects: parameter tables, fit indices, class probabilities, summary text, JSON.

All tables are built here from the estimates (``phi``), their covariance and the
posterior class probabilities; no likelihood is computed in this module.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd
from scipy import stats

from . import absolute_fit, derived, factor_results, fit_tests, gom_results, prediction
from .data import to_input_rows
from .engine.objective import ClusterInfo
from .errors import SpecificationError
from .estimate.boundary import bound_message
from .graph.likelihood import joint_class_labels, marginal_class_probs
from .graph.structure import THRESHOLD_BOUND, GraphStructure
from .html import result_html

EMPTY_CLASS_PROPORTION = 0.01

# The methods of ``MLResult`` whose work is done by the modules that import this one: saving
# and reading back (``persistence.py``), the Mplus input (``mplus/``) and the GoM figure
# (``plots.py``). Each of those registers its function here with ``provides`` when it is
# imported (``import mlmix_pymc`` imports all of them), so that this module imports none.
_PROVIDED: dict[str, Callable] = {}


def provides(method: str) -> Callable:
    """Decorator: the decorated function does the work of ``MLResult.<method>`` (called with its arguments)."""
    def register(function: Callable) -> Callable:
        _PROVIDED[method] = function
        return function

    return register


def _provided(method: str) -> Callable:
    """The function registered for ``MLResult.<method>`` (an error naming the method when none is)."""
    if method not in _PROVIDED:
        raise RuntimeError(f"MLResult.{method} is done by a module of mlmix_pymc that was not imported; "
                           "import mlmix_pymc")
    return _PROVIDED[method]


@dataclass
class MLResult:
    """Maximum-likelihood estimates of a mixture model (see ``Model.fit``)."""

    structure: GraphStructure
    theta: np.ndarray
    phi: np.ndarray
    loglik: float
    n_obs: int
    cov_phi: np.ndarray | None
    se_method: str
    posterior: np.ndarray  # (n, J) joint posterior class probabilities
    prior: np.ndarray  # (n, J) joint model class probabilities P(C | x_i)
    index: pd.Index
    input_index: pd.Index
    starts: object  # StartsOutcome
    at_bound: list[str] = field(default_factory=list)
    singular_parameters: list[str] = field(default_factory=list)
    category_maps: dict = field(default_factory=dict)
    dropped: dict = field(default_factory=dict)
    reordered: bool = True
    method: str = "ml"
    clusters: ClusterInfo | None = None
    model: object = field(default=None, repr=False)  # the Model that was fitted
    integration_settings: dict = field(default_factory=dict)  # integration, points, factor_points of the fit
    lca: object = None  # a GoM fit: the nested LCA's result (its start and the log-likelihood beside the GoM's)
    nested: dict = field(default_factory=dict)  # label -> result of each nested model fitted as a start (nested.py)
    certificate: object = None  # IntegrationCertificate of an integrated fit (estimate/certificate.py)
    boundary: object = None  # BoundarySolution when the fit reduces to a nested model's limit (estimate/boundary.py)

    # --------------------------------------------------------------- fit indices
    @property
    def n_params(self) -> int:
        """Number of free parameters (parameters held at +-15 included, as estimated)."""
        return int(self.structure.layout.n_free)

    @property
    def aic(self) -> float:
        """Akaike information criterion, -2 logL + 2 k."""
        return -2 * self.loglik + 2 * self.n_params

    @property
    def bic(self) -> float:
        """Bayesian information criterion, -2 logL + k log n."""
        return -2 * self.loglik + self.n_params * np.log(self.n_obs)

    @property
    def abic(self) -> float:
        """Sample-size adjusted BIC (Sclove), -2 logL + k log((n + 2) / 24)."""
        return -2 * self.loglik + self.n_params * np.log((self.n_obs + 2) / 24)

    @property
    def entropy(self) -> float:
        """Relative entropy of the joint posterior class probabilities (1 = perfect separation)."""
        j = self.posterior.shape[1]
        if j < 2:
            return float("nan")
        p = np.clip(self.posterior, 1e-300, 1)
        return float(1 - (-(self.posterior * np.log(p)).sum()) / (self.n_obs * np.log(j)))

    @property
    def integration_error(self) -> float | None:
        """Absolute difference between the log-likelihood under a finer rule and the reported one, at
        the estimates (``result.certificate``; for Laplace its difference to adaptive quadrature);
        None for a likelihood without integrals."""
        return None if self.certificate is None else self.certificate.error

    @property
    def n_replicated(self) -> int:
        """How many completed starts reached the best log-likelihood."""
        return self.starts.n_replicated

    @property
    def replicated(self) -> bool:
        """True when the best log-likelihood was reached by at least two completed starts."""
        return self.n_replicated >= 2

    @property
    def converged(self) -> bool:
        """True when the best start met the optimizer's convergence criterion."""
        return bool(self.starts.converged)

    # --------------------------------------------------------------- tables
    @property
    def se(self) -> np.ndarray:
        """Standard errors of all parameters (NaN for fixed / bound parameters)."""
        layout = self.structure.layout
        if self.cov_phi is None:
            return np.full(len(self.phi), np.nan)
        se = np.sqrt(np.clip(np.diag(self.cov_phi), 0, None))
        se[layout.fixed_mask] = np.nan
        bound = np.isin(layout.names, self.at_bound)
        se[bound] = np.nan
        return se

    @property
    def parameters(self) -> pd.DataFrame:
        """The parameter table (estimate, SE, est/SE and two-sided p), Mplus scale."""
        layout = self.structure.layout
        se = self.se
        with np.errstate(divide="ignore", invalid="ignore"):
            z = self.phi / se
        status = np.where(layout.fixed_mask, "fixed", "free").astype(object)
        status[np.isin(layout.names, self.at_bound)] = "at bound"
        return pd.DataFrame({
            "name": layout.names,
            "group": [i.group for i in layout.infos],
            "class_var": [i.class_var for i in layout.infos],
            "class": pd.array([i.cls for i in layout.infos], dtype="Int64"),
            "item": [i.item for i in layout.infos],
            "estimate": self.phi,
            "se": se,
            "est_se": z,
            "p_value": 2 * stats.norm.sf(np.abs(z)),
            "status": status,
        })

    def item_probabilities(self) -> pd.DataFrame:
        """P(y = category | class) for every categorical (binary, ordinal, nominal) item.

        Items loading on a within-level factor are given at factor value 0 (eq 36 for a
        person at the factor mean).
        """
        layout = self.structure.layout
        rows = []
        for g in self.structure.groups:
            params = {role: self.phi[layout.blocks[key].index] for role, key in g.params.items()}
            probs = g.family.probabilities(params, g.link)  # (K, P, M) or None
            if probs is None:
                continue
            for k in range(probs.shape[0]):
                for p, item in enumerate(g.items):
                    labels = list(self.category_maps.get(item, {}).keys()) or list(range(g.n_categories))
                    for m in range(g.n_categories):
                        rows.append({"item": item, "category": labels[m], "class_var": g.class_var,
                                     "class": k + 1, "probability": probs[k, p, m]})
        return pd.DataFrame(rows)

    def irt_parameters(self) -> pd.DataFrame:
        """IRT parameterization of items loading on a factor: a = lambda, b = tau / lambda (eq 49-50),
        with delta-method SEs, per class (``factor_results.py``)."""
        return factor_results.irt_parameters(self)

    def factor_scores(self) -> pd.DataFrame:
        """EAP scores and posterior SDs of the within-level factors per input row (classes summed out)."""
        return factor_results.factor_scores(self)

    # --------------------------------------------------------------- grade of membership
    def membership_scores(self) -> pd.DataFrame:
        """GoM: posterior mean and SD of each person's membership vector per input row (``gom_results.py``)."""
        return gom_results.membership_scores(self)

    def lca_comparison(self) -> pd.DataFrame:
        """GoM: the nested LCA's log-likelihood, parameters, AIC and BIC beside the GoM's (Table 5)."""
        return gom_results.lca_comparison(self)

    def profile_comparison(self) -> pd.DataFrame:
        """GoM: each binary item's probability per class under the LCA and the GoM (Fig 4's data)."""
        return gom_results.profile_comparison(self)

    def plot_profile_comparison(self, cls: int = 1, ax=None):
        """GoM: Fig 4, LCA versus GoM item probabilities of class ``cls`` (needs matplotlib)."""
        return _provided("plot_profile_comparison")(self, cls, ax)

    def guessing_parameters(self) -> pd.DataFrame:
        """3PL (``irt(model="3pl")``): g, a, b by eq 48-50 with delta-method SEs (``gom_results.py``)."""
        return gom_results.guessing_parameters(self)

    def class_proportions(self) -> pd.DataFrame:
        """Class proportions: model-estimated, from posterior probabilities, and by most likely class."""
        frames = []
        for cv in self.structure.class_vars:
            prior = marginal_class_probs(self.structure, self.prior, cv.name)
            post = marginal_class_probs(self.structure, self.posterior, cv.name)
            ml = np.bincount(post.argmax(axis=1), minlength=cv.n_classes)
            frames.append(pd.DataFrame({
                "class_var": cv.name, "class": np.arange(1, cv.n_classes + 1),
                "model_estimated": prior.mean(axis=0), "posterior": post.mean(axis=0),
                "posterior_count": post.sum(axis=0), "most_likely": ml / self.n_obs, "most_likely_count": ml,
            }))
        between = self.structure.between
        if between is not None:  # proportions of clusters (eq 17)
            post = self.clusters.between_posterior
            ml = np.bincount(post.argmax(axis=1), minlength=between.n_classes)
            n_clusters = self.clusters.n_clusters
            frames.append(pd.DataFrame({
                "class_var": between.name, "class": np.arange(1, between.n_classes + 1),
                "model_estimated": self.clusters.between_prior.mean(axis=0), "posterior": post.mean(axis=0),
                "posterior_count": post.sum(axis=0), "most_likely": ml / n_clusters, "most_likely_count": ml,
            }))
        return pd.concat(frames, ignore_index=True)

    def between_posterior_probabilities(self) -> pd.DataFrame:
        """Posterior probabilities of the between-level classes per cluster, plus most likely class."""
        between = self.structure.between
        if between is None:
            raise SpecificationError("the model has no between-level class variable")
        post = self.clusters.between_posterior
        out = pd.DataFrame({f"{between.name}={d + 1}": post[:, d] for d in range(between.n_classes)},
                           index=pd.Index(self.clusters.labels, name="cluster"))
        out[f"most_likely_{between.name}"] = post.argmax(axis=1) + 1
        return out

    def icc(self, level: float = 0.95) -> pd.DataFrame:
        """ICC of each random class-logit intercept (eq 20) with a delta-method confidence interval.

        ICC = Var(alpha) / (Var(alpha) + pi^2 / 3). The interval is the delta method's on the
        logit scale of the ICC, transformed back, so it stays inside [0, 1] (``derived.py``).
        Near 1 the delta method is only an approximation (the paper's section 5); an ICC above
        ~0.8 points to a between-level class variable (Table 4).
        """
        if self.structure.is_gom:  # the membership's random class logits (section 8)
            return gom_results.membership_icc(self, level)
        layout = self.structure.layout
        se = self.se
        rows = []
        bm = self.structure.between_model
        for eff in (bm.effects if bm is not None else ()):
            if eff.kind != "class-logit":
                continue
            for k, info in enumerate(layout.infos):
                if info.group == "covariance" and info.name.startswith(f"var({eff.name})"):
                    v = self.phi[k]
                    icc, icc_se, lower, upper = derived.icc_interval(v, se[k], level)  # logit scale: inside [0, 1]
                    rows.append({"effect": eff.name, "parameter": info.name, "variance": v, "variance_se": se[k],
                                 "icc": icc, "se": icc_se, "lower": lower, "upper": upper})
        return pd.DataFrame(rows)

    def between_regressions(self) -> pd.DataFrame:
        """Estimated between-level regression coefficients (eq 5, 18, 25) with SEs."""
        table = self.parameters
        return table[table["group"] == "between regression"].reset_index(drop=True)

    def average_posterior_probabilities(self, class_var: str | None = None) -> pd.DataFrame:
        """Mean posterior probabilities (columns) by most likely class (rows)."""
        name = class_var or self.structure.class_vars[0].name
        post = marginal_class_probs(self.structure, self.posterior, name)
        k = post.shape[1]
        assign = post.argmax(axis=1)
        table = np.full((k, k), np.nan)
        for c in range(k):
            if (assign == c).any():
                table[c] = post[assign == c].mean(axis=0)
        labels = [f"{name}={c + 1}" for c in range(k)]
        return pd.DataFrame(table, index=pd.Index(labels, name="most likely"), columns=labels)

    def transition_probabilities(self, class_var: str) -> pd.DataFrame:
        """Model-estimated P(class_var = k | parent = d), averaged over rows (LTA, eq 9)."""
        cv = self.structure.class_var(class_var)
        if cv.parent is None:
            raise SpecificationError(f"class variable {class_var!r} has no parent class variable (depends_on)")
        kp = self.structure.class_var(cv.parent).n_classes
        table = np.zeros((kp, cv.n_classes))
        np.add.at(table, (self.structure.joint_map[cv.parent], self.structure.joint_map[class_var]),
                  self.prior.mean(axis=0))
        table /= table.sum(axis=1, keepdims=True)
        return pd.DataFrame(table, index=pd.Index([f"{cv.parent}={d + 1}" for d in range(kp)], name="from"),
                            columns=[f"{class_var}={k + 1}" for k in range(cv.n_classes)])

    def posterior_probabilities(self) -> pd.DataFrame:
        """Posterior class probabilities per input row (NaN for rows left out), plus most likely class."""
        cols = {}
        for cv in self.structure.class_vars:
            post = marginal_class_probs(self.structure, self.posterior, cv.name)
            for c in range(cv.n_classes):
                cols[f"{cv.name}={c + 1}"] = post[:, c]
            cols[f"most_likely_{cv.name}"] = post.argmax(axis=1) + 1
        out = pd.DataFrame(cols, index=self.index)
        if len(self.structure.class_vars) > 1:
            for j, lab in enumerate(joint_class_labels(self.structure)):
                out[f"joint[{lab}]"] = self.posterior[:, j]
        out = to_input_rows(out, self.input_index, getattr(getattr(self.model, "data", None), "kept", None))
        for cv in self.structure.class_vars:
            out[f"most_likely_{cv.name}"] = out[f"most_likely_{cv.name}"].astype("Int64")
        return out

    @property
    def empty_classes(self) -> list[str]:
        """Classes with model-estimated proportion below 1% (often a (k-1)-class solution).

        None for the 3PL's fixed membership: its classes are per item (guessing or not, eq 43-47),
        not groups of persons."""
        memb = self.structure.membership
        if memb is not None and memb.kind == "fixed":
            return []
        props = self.class_proportions()
        small = props[(props["model_estimated"] < EMPTY_CLASS_PROPORTION) | (props["most_likely_count"] == 0)]
        return [f"{r.class_var}#{r['class']}" for _, r in small.iterrows()]

    # --------------------------------------------------------------- text / JSON
    def fit_information(self) -> list[tuple[str, str]]:
        """(label, formatted value) lines of the MODEL FIT INFORMATION section (``summary``, HTML)."""
        estimator = {"ml": "maximum likelihood", "map": "posterior mode (MAP)",
                     "map-laplace": "posterior mode + Laplace approximation"}.get(self.method, self.method)
        rows = [("Estimator", estimator), ("Number of observations", f"{self.n_obs:d}")]
        if self.clusters is not None:
            method = self.clusters.integration + (" (fell back to non-adaptive)" if self.clusters.adaptive_failed
                                                  else "")
            rows += [("Number of clusters", f"{self.clusters.n_clusters:d}"), ("Integration", method),
                     ("Integration points per dimension", f"{self.clusters.points:d}")]
        rows += [("Number of free parameters", f"{self.n_params:d}"), ("Loglikelihood", f"{self.loglik:.3f}")]
        cert = self.certificate
        if cert is not None:
            finer = cert.reported == "finer"
            rows.append(("Integration rule", cert.rule))
            label = "Laplace approximation error" if cert.approximation else "Integration error"
            rows.append((label, f"{cert.error:.1e} (against a finer rule; tol {cert.tolerance:g})"))
            if finer:
                rows.append(("Loglikelihood from", cert.finer_rule))
        if self.boundary is not None:
            rows.append(("Boundary solution: reduces to", self.boundary.reduces_to))
        if self.se_method == "mlr" and self.model is not None:  # as Mplus reports it under MLR
            rows.append(("H0 scaling correction factor for MLR", f"{self.scaling_factor:.4f}"))
        rows += [("Akaike (AIC)", f"{self.aic:.3f}"), ("Bayesian (BIC)", f"{self.bic:.3f}"),
                 ("Sample-size adjusted BIC", f"{self.abic:.3f}")]
        if not np.isnan(self.entropy):
            rows.append(("Entropy", f"{self.entropy:.3f}"))
        rows.append(("Standard errors", self.se_method))
        return rows

    def _starts_line(self) -> str:
        rec = self.starts.records
        if len(rec) == 1:  # starts=(0, 0): the default of a model without latent classes
            return (f"Starts: one (the deterministic start or start_values, no random starts); status "
                    f"{rec[0].status}")
        return (f"Random starts: {len(rec)} initial, best loglikelihood reached by {self.n_replicated} "
                f"completed start(s); {sum(r.status == 'failed' for r in rec)} failed")

    def report_tables(self) -> list[tuple[str, pd.DataFrame, int, bool]]:
        """The tables of the report after the fit information, in order: (title, table, decimals,
        show the index); ``summary()`` prints them as text, the notebook view (``_repr_html_``) as HTML."""
        out = [("CLASS PROPORTIONS", self.class_proportions(), 4, False)]
        for cv in self.structure.class_vars:
            if cv.n_classes > 1:
                out.append((f"AVERAGE LATENT CLASS PROBABILITIES FOR MOST LIKELY CLASS MEMBERSHIP ({cv.name})",
                            self.average_posterior_probabilities(cv.name), 3, True))
        icc = self.icc() if self.clusters is not None or self.structure.is_gom else pd.DataFrame()
        if len(icc):
            out.append(("ICC OF RANDOM CLASS-LOGIT INTERCEPTS (eq 20; delta-method 95% CI)", icc, 4, False))
        if self.structure.is_gom and self.lca is not None:
            out.append(("GRADE OF MEMBERSHIP BESIDE THE NESTED LCA (Table 5; class proportions above are mean "
                        "memberships)", self.lca_comparison(), 3, False))
        table = self.parameters
        table = table[table["status"] != "fixed"][["name", "estimate", "se", "est_se", "p_value", "status"]]
        out.append(("MODEL RESULTS", table, 4, False))
        probs = self.item_probabilities()
        if len(probs):
            wide = probs.pivot_table(index=["item", "category"], columns=["class_var", "class"], values="probability",
                                     sort=False)
            out.append(("RESULTS IN PROBABILITY SCALE", wide, 3, True))
        return out

    def _category_codes(self) -> list[str]:
        maps = {k: v for k, v in self.category_maps.items() if list(v) != list(range(len(v)))}
        return [f"{k}: {v}" for k, v in maps.items()]

    def summary(self) -> str:
        """Plain-text report in the spirit of Mplus output."""
        lines = ["MLMIX_PYMC RESULTS", "", "MODEL FIT INFORMATION", ""]
        lines += [_fit_line(label, value) for label, value in self.fit_information()]
        lines.append("")
        lines.append(self._starts_line())
        for msg in self.messages():
            lines.append(f"WARNING: {msg}")
        for title, table, decimals, index in self.report_tables():
            lines += ["", title, ""]
            lines.append(table.to_string(index=index, float_format=lambda v, d=decimals: f"{v:.{d}f}"))
        codes = self._category_codes()
        if codes:
            lines += ["", "CATEGORY CODES (original value -> code)", ""]
            lines += codes
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        """The ``summary()`` sections as HTML tables (Jupyter shows this for a result)."""
        return result_html(self)

    def messages(self) -> list[str]:
        """Warnings about the solution: replication, empty classes, bounds, singularity, convergence."""
        out = []
        if not self.converged:
            out.append("the best solution did not meet the convergence criterion")
        if len(self.starts.records) > 1 and self.n_replicated < 2:
            out.append("the best loglikelihood was not replicated; increase the number of random starts")
        if self.empty_classes:
            out.append(f"empty or near-empty class(es) {self.empty_classes}: this may be a local maximum that is "
                       "really the solution with fewer classes")
        if self.at_bound:
            out.append(bound_message(self.at_bound))
        if self.boundary is not None:
            out.append(self.boundary.line())
        if self.certificate is not None and not self.certificate.ok:
            out.append(f"the log-likelihood is not certified: {self.certificate.line()}")
        if self.singular_parameters:
            out.append(f"singular information matrix; involved parameters: {self.singular_parameters}")
        if self.clusters is not None:
            for _, row in self.icc().iterrows():
                if row["icc"] > 0.8:  # the paper's section 5 rule of thumb
                    msg = (f"ICC of the random class-logit intercept {row['effect']} is {row['icc']:.4f} "
                           f"(var {row['variance']:.4g}): the class variable acts as a between-level class "
                           "variable (Table 4); consider level='between', which needs no numerical integration")
                    if row["variance"] > 1000:
                        msg += ("; with so large a variance the log-likelihood depends on the integration grid "
                                "(compare methods and points)")
                    out.append(msg)
        if self.dropped:
            out.append(f"rows left out: {self.dropped}")
        if self.starts.interrupted:
            out.append("estimation was interrupted; results are from the starts completed so far")
        return out

    def __repr__(self):
        return (f"<MLResult loglik={self.loglik:.3f} n_params={self.n_params} bic={self.bic:.3f} "
                f"n_obs={self.n_obs} replicated={self.n_replicated}>")

    def to_dict(self) -> dict:
        """Plain dict (JSON-serialisable) with fit indices, parameters and class proportions."""
        params = self.parameters

        def num(v):
            return None if v is None or (isinstance(v, float) and not np.isfinite(v)) else float(v)

        return {
            "method": self.method,
            "loglik": float(self.loglik),
            "n_params": self.n_params,
            "n_obs": int(self.n_obs),
            "aic": float(self.aic),
            "bic": float(self.bic),
            "abic": float(self.abic),
            "entropy": num(self.entropy),
            "se_method": self.se_method,
            "n_replicated": int(self.n_replicated),
            "converged": self.converged,
            "warnings": self.messages(),
            "integration_error": num(self.integration_error),
            "certificate": None if self.certificate is None else self.certificate.to_dict(),
            "boundary": None if self.boundary is None else self.boundary.to_dict(),
            "parameters": [
                {"name": r["name"], "estimate": float(r["estimate"]), "se": num(r["se"]), "status": r["status"]}
                for _, r in params.iterrows()
            ],
            "class_proportions": json.loads(self.class_proportions().to_json(orient="records")),
            "item_probabilities": json.loads(self.item_probabilities().to_json(orient="records")),
            **({"n_clusters": self.clusters.n_clusters, "integration": self.clusters.integration,
                "points": self.clusters.points, "icc": json.loads(self.icc().to_json(orient="records"))}
               if self.clusters is not None else {}),
        }

    def to_json(self, **kwargs) -> str:
        """JSON text of ``to_dict()`` (a report; ``save`` writes a file that ``mm.load_result`` reads back)."""
        return json.dumps(self.to_dict(), **kwargs)

    # --------------------------------------------------------------- model choice, prediction, saving
    @property
    def scaling_factor(self) -> float:
        """MLR scaling correction factor c = tr(I^-1 B) / p (``fit_tests.scaling_factor``)."""
        return fit_tests.scaling_factor(self)

    def predict(self, newdata: pd.DataFrame, between_posterior: bool = False):
        """Posterior class probabilities and most likely class of new rows (``prediction.py``), no refitting."""
        return prediction.predict(self, newdata, between_posterior)

    def confidence_intervals(self, level: float = 0.95) -> pd.DataFrame:
        """The parameter table with Wald confidence limits (``derived.py``)."""
        return derived.confidence_intervals(self, level)

    def odds_ratios(self, reference: int | None = None, level: float = 0.95) -> pd.DataFrame:
        """Odds ratios of covariate effects on class membership against ``reference`` (``derived.py``)."""
        return derived.odds_ratios(self, reference, level)

    def r_squared(self) -> pd.DataFrame:
        """R2 of the class regressions (eq 14) and its decomposition by source (``derived.py``)."""
        return derived.r_squared(self)

    def absolute_fit(self) -> dict:
        """Pearson X2 and G2 with df for categorical items (``absolute_fit.py``)."""
        return absolute_fit.chi_square_fit(self)

    def pattern_table(self) -> pd.DataFrame:
        """Observed versus expected response patterns (``absolute_fit.py``)."""
        return absolute_fit.pattern_table(self)

    def bivariate_residuals(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Standardized bivariate residuals per item pair, TECH10 style (``absolute_fit.py``)."""
        return absolute_fit.bivariate_residuals(self)

    @staticmethod
    def from_json(text: str) -> "MLResult":
        """The result saved by ``save`` (JSON text), rebuilt with its model (``persistence.py``)."""
        return _provided("from_json")(text)

    def to_mplus(self, data_file: str = "data.dat") -> str:
        """An equivalent Mplus input (``mplus/writer.py``) with the estimates as starting values."""
        return _provided("to_mplus")(self, data_file)

    def save(self, path):
        """Write the result (spec, data, estimates, tables) to a JSON file; ``mm.load_result(path)`` reads it."""
        return _provided("save")(self, path)


def _fit_line(label: str, value: str, width: int = 49) -> str:
    """A fit-information line: the value right-aligned to ``width``, at least two spaces after the label
    (a long value, such as an integration rule, just follows them)."""
    return f"{label}{value:>{width - len(label)}s}" if len(label) + len(value) + 2 <= width else f"{label}  {value}"
