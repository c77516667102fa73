"""Stepwise estimation of a structural model on a fitted measurement model (3-step, 2-step).

Step 1 is the measurement model, fitted by ``Model.fit`` (``result``). Step 2 assigns every
row to classes from its posterior P(c | y_i): modal (one-hot on the most likely class) or
proportional (the posterior itself), and computes the classification-error matrix

    D[c, s] = P(W = s | C = c) = sum_i w_i p_ic a_is / sum_i w_i p_ic            (Vermunt 2010, eq 6)

(w_i the sampling weights, a_is the assignment). Step 3 estimates the structural model:
class membership regressed on covariates (multinomial logit, last class the reference) and
distal outcomes given the class (normal with class-specific means and equal or free
variances; categorical with class-specific category logits, last category the reference):

* ``correction="ml"`` (Vermunt 2010; Bakk, Tekle & Vermunt 2013; Mplus R3STEP / DU3STEP):
  maximize sum_i w_i log sum_c P(c | x_i) f(z_i | c) prod_s D[c, s]^a_is, D fixed;
* ``correction="bch"`` (Bolck, Croon & Hagenaars 2004; Vermunt 2010; Mplus BCH): maximize
  the weighted pseudo-log-likelihood sum_i w_i sum_c b_ic [log P(c | x_i) + log f(z_i | c)]
  with BCH weights b_i = a_i D^-1 (they may be negative);
* ``correction="none"``: the naive estimator, b_i = a_i (attenuated by classification error).

``two_step`` keeps the measurement model fixed at step 1 and puts the structural model in the
full likelihood: log P(W | c) above is replaced by the step-1 measurement density log f(y_i | c).

These conventions are StepMix's (``stepmix.corrections``): D from the posterior and the
assignment on the step-1 rows, log D clipped at 1e-15, BCH weights through the (pseudo)
inverse of D. StepMix keeps the class proportions at their step-1 values when the
structural model has no covariates (``class_proportions="step1"``); Vermunt and Mplus
estimate them in step 3 (``"free"``, the default).

The structural (pseudo-)likelihood is a small model of its own (not a measurement model of
``graph/``): it is written here in numpy with its analytic gradient, sum_i w_i sum_c r_ic
d L_ic / d theta with r the posterior of the corrected model (ML) or the BCH weights.
Standard errors: the inverse observed information (ML) or the sandwich H^-1 B H^-1 with
B = sum_i w_i^2 s_i s_i' (``se="robust"``, the default for BCH and naive, which are not
likelihoods); ``step1_uncertainty=True`` adds J V_1 J' with V_1 the step-1 covariance and
J = d theta_3 / d theta_1 by central differences, assignments held fixed (Bakk, Oberski &
Vermunt 2014). StepMix offers the bootstrap instead.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

from .errors import DataError, EstimationError, SpecificationError

CORRECTIONS = ("ml", "bch", "none")
ASSIGNMENTS = ("modal", "proportional")
VARIANCES = ("equal", "free")
PROPORTIONS = ("free", "step1")
DISTAL_FAMILIES = ("normal", "categorical")
LOG_D_CLIP = 1e-15  # StepMix clips D to [1e-15, 1 - 1e-15] before the log


@dataclass
class StepwiseResult:
    """Step-3 (or step-2) estimates of the structural model with their standard errors."""

    parameters: pd.DataFrame
    classification_error: pd.DataFrame  # D[c, s] = P(W = s | C = c), rows true class, columns assigned
    loglik: float  # the step-3 (pseudo-)log-likelihood at the estimates
    n_obs: int
    correction: str
    assignment: str
    se_method: str
    theta: np.ndarray = field(repr=False)
    cov_theta: np.ndarray = field(repr=False)
    entropy: float = float("nan")

    def _repr_html_(self) -> str:
        """HTML tables for notebooks (``html.py``)."""
        from .html import stepwise_html

        return stepwise_html(self)

    def summary(self) -> str:
        """Readable table of the structural estimates."""
        lines = [f"Stepwise estimation: correction={self.correction}, assignment={self.assignment}, "
                 f"n={self.n_obs}, SE={self.se_method}, step-1 entropy={self.entropy:.3f}",
                 "Classification error P(W = s | C = c):", self.classification_error.round(4).to_string(), "",
                 self.parameters.to_string(index=False, float_format=lambda v: f"{v:.4f}")]
        return "\n".join(lines)


@dataclass
class _Distal:
    name: str
    family: str
    values: np.ndarray  # normal: float (NaN missing); categorical: codes 0..M-1 (-1 missing)
    categories: tuple = ()
    variance: str = "equal"


class _Structural:
    """Parameters, per-class log terms L_ic and their gradients for one structural model."""

    def __init__(self, k: int, x: np.ndarray, distal: list[_Distal], class_name: str, covariate_names,
                 fixed_logits: np.ndarray | None):
        self.k, self.x, self.distal, self.cv = k, x, distal, class_name
        self.fixed_logits = fixed_logits  # (K,) class logits held at step-1 values, or None
        self.names, self.kinds, self.slices = [], [], {}
        q1 = x.shape[1]
        if fixed_logits is None:
            cols = ["intercept"] + list(covariate_names)
            self._add("logits", [f"[{class_name}#{c + 1}]" if j == 0 else f"{class_name}#{c + 1} ON {cols[j]}"
                                 for c in range(k - 1) for j in range(q1)], "identity")
        for d in distal:
            if d.family == "normal":
                self._add(f"mean:{d.name}", [f"[{d.name}]|{class_name}#{c + 1}" for c in range(k)], "identity")
                nv = k if d.variance == "free" else 1
                self._add(f"var:{d.name}", [f"var({d.name})|{class_name}#{c + 1}" for c in range(k)] if nv == k
                          else [f"var({d.name})"], "log")
            else:
                m = len(d.categories)
                self._add(f"cat:{d.name}", [f"[{d.name}#{d.categories[j]}]|{class_name}#{c + 1}"
                                            for c in range(k) for j in range(m - 1)], "identity")
        self.n = len(self.names)

    def _add(self, key, names, transform):
        start = len(self.names)
        self.names += names
        self.kinds += [transform] * len(names)
        self.slices[key] = slice(start, len(self.names))

    def terms(self, theta: np.ndarray, need_grad: bool = True):
        """L (n, K) = log P(c | x_i) + sum_j log f_j(z_ij | c) and dL/dtheta (n, K, P)."""
        n, k = self.x.shape[0], self.k
        grad = np.zeros((n, k, self.n)) if need_grad else None
        if self.fixed_logits is None:
            beta = np.vstack([theta[self.slices["logits"]].reshape(k - 1, -1), np.zeros((1, self.x.shape[1]))])
            logits = self.x @ beta.T
        else:
            logits = np.broadcast_to(self.fixed_logits, (n, k))
        log_pi = special.log_softmax(logits, axis=1)
        out = log_pi.copy()
        if need_grad and self.fixed_logits is None:  # d log pi_c / d beta_k = (1[c = k] - pi_k) x
            pi = np.exp(log_pi)
            s = self.slices["logits"]
            for kk in range(k - 1):
                ind = (np.arange(k) == kk).astype(float)
                g = (ind[None, :] - pi[:, [kk]])[:, :, None] * self.x[:, None, :]
                grad[:, :, s.start + kk * self.x.shape[1]: s.start + (kk + 1) * self.x.shape[1]] = g
        for d in self.distal:
            if d.family == "normal":
                observed = ~np.isnan(d.values)
                z = np.where(observed, d.values, 0.0)[:, None]
                sm, sv = self.slices[f"mean:{d.name}"], self.slices[f"var:{d.name}"]
                mu = theta[sm][None, :]
                logv = np.broadcast_to(theta[sv], (k,))[None, :]
                r = z - mu
                ll = -0.5 * (np.log(2 * np.pi) + logv + r**2 / np.exp(logv))
                out += np.where(observed[:, None], ll, 0.0)
                if need_grad:
                    o = observed[:, None]
                    grad[:, :, sm] += np.where(o, r / np.exp(logv), 0.0)[:, :, None] * np.eye(k)[None]
                    dv = np.where(o, 0.5 * (r**2 / np.exp(logv) - 1), 0.0)
                    if sv.stop - sv.start == k:
                        grad[:, :, sv] += dv[:, :, None] * np.eye(k)[None]
                    else:
                        grad[:, :, sv.start] += dv
            else:
                m = len(d.categories)
                sc = self.slices[f"cat:{d.name}"]
                gamma = np.hstack([theta[sc].reshape(k, m - 1), np.zeros((k, 1))])  # (K, M)
                logp = special.log_softmax(gamma, axis=1)
                observed = d.values >= 0
                codes = np.where(observed, d.values, 0)
                out += np.where(observed[:, None], logp[:, codes].T, 0.0)
                if need_grad:
                    p = np.exp(logp)
                    onehot = np.eye(m)[codes][:, : m - 1]  # (n, M-1)
                    g = (onehot[:, None, :] - p[None, :, : m - 1]) * observed[:, None, None]  # (n, K, M-1)
                    for c in range(k):
                        grad[:, c, sc.start + c * (m - 1): sc.start + (c + 1) * (m - 1)] += g[:, c]
        return out, grad

    def natural(self, theta):
        return np.where(np.array(self.kinds) == "log", np.exp(theta), theta)

    def natural_jacobian(self, theta):
        return np.diag(np.where(np.array(self.kinds) == "log", np.exp(theta), 1.0))


class _Objective:
    """The step-3 (pseudo-)log-likelihood: ML with a log emission term E (n, K), or BCH weights B (n, K)."""

    def __init__(self, model: _Structural, w: np.ndarray, emission=None, bch=None):
        self.model, self.w, self.emission, self.bch = model, w, emission, bch

    def rows(self, theta, need_grad=True):
        terms, grad = self.model.terms(theta, need_grad)
        if self.emission is not None:
            a = terms + self.emission
            ll = special.logsumexp(a, axis=1)
            r = np.exp(a - ll[:, None])
        else:
            r = self.bch
            ll = (r * terms).sum(axis=1)
        scores = None if grad is None else np.einsum("ic,icp->ip", r, grad)
        return ll, scores

    def value_grad(self, theta):
        ll, scores = self.rows(theta)
        return float(self.w @ ll), self.w @ scores

    def hessian(self, theta, h=1e-5):
        out = np.empty((len(theta), len(theta)))
        for p in range(len(theta)):
            e = np.zeros_like(theta)
            e[p] = h * max(1.0, abs(theta[p]))
            out[p] = (self.value_grad(theta + e)[1] - self.value_grad(theta - e)[1]) / (2 * e[p])
        return (out + out.T) / 2

    def maximize(self, theta0):
        scale = self.w.sum()

        def neg(t):
            with np.errstate(all="ignore"):
                v, g = self.value_grad(t)
            if not (np.isfinite(v) and np.all(np.isfinite(g))):
                return np.inf, np.zeros_like(t)
            return -v / scale, -g / scale

        res = optimize.minimize(neg, theta0, jac=True, method="BFGS", options={"gtol": 1e-10, "maxiter": 10000})
        theta = res.x
        for _ in range(20):  # Newton polish: the peer comparison needs the optimum to many digits
            if not np.all(np.isfinite(theta)):
                break
            with np.errstate(all="ignore"):
                v, g = self.value_grad(theta)
            if not np.isfinite(v):
                break
            if np.max(np.abs(g)) < 1e-9 * scale:
                break
            hess = self.hessian(theta)
            try:
                step = np.linalg.solve(hess, g)
            except np.linalg.LinAlgError:
                break
            new = theta - step
            with np.errstate(all="ignore"):
                new_value = self.value_grad(new)[0]
            if not np.isfinite(new_value) or new_value < v - 1e-10 * abs(v):
                break
            theta = new
        with np.errstate(all="ignore"):
            v, g = self.value_grad(theta)
        if not (np.isfinite(v) and np.all(np.isfinite(g))):
            raise EstimationError("the step-3 (pseudo-)likelihood has no finite maximum (with BCH weights a class's "
                                  "weighted variance or category count can be negative when the classes are poorly "
                                  "separated); use correction='ml' or a measurement model with higher entropy")
        if np.max(np.abs(g)) > 1e-4 * scale:
            warnings.warn(f"step 3 did not converge (largest gradient {np.max(np.abs(g)):.3g}); "
                          "estimates may be unreliable", stacklevel=4)
        return theta, v


def _check_step1(result) -> tuple[str, int]:
    structure = getattr(result, "structure", None)
    if structure is None or getattr(result, "posterior", None) is None:
        raise SpecificationError("three_step needs the result of Model.fit (an MLResult) as its first argument")
    if structure.is_gom or structure.between is not None or len(structure.class_vars) != 1:
        raise SpecificationError("three_step needs a measurement model with one within-level class variable "
                                 "(an LCA / LPA / FMA); grade-of-membership, LTA and between-level classes are "
                                 "not supported")
    cv = structure.class_vars[0]
    if cv.n_classes < 2:
        raise SpecificationError("three_step needs at least 2 classes in the measurement model")
    return cv.name, cv.n_classes


def _as_list(value, what) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        raise SpecificationError(f"{what} must be a list of column names, got a dict")
    return list(value)


def _structural_frame(result, data: pd.DataFrame | None, columns: list[str]) -> pd.DataFrame:
    frame = result.model.frame if data is None else data
    if not isinstance(frame, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, got {type(frame).__name__}")
    for col in columns:
        if col not in frame.columns:
            raise DataError(f"column {col!r} is not in the data; columns are {list(map(str, frame.columns))[:20]}")
    if not frame.index.is_unique:
        raise DataError("the data's index has duplicate labels; three_step matches rows to step 1 by index")
    missing_rows = result.index.difference(frame.index)
    if len(missing_rows):
        raise DataError(f"{len(missing_rows)} row(s) of the step-1 fit (e.g. index {missing_rows[0]!r}) are not in "
                        "the data passed to three_step")
    return frame.loc[result.index, columns]


def _numeric(frame, col, role) -> np.ndarray:
    s = frame[col]
    if pd.api.types.is_bool_dtype(s):
        s = s.astype(float)
    conv = pd.to_numeric(s, errors="coerce")
    bad = s[conv.isna() & s.notna()]
    if len(bad):
        raise DataError(f"{role} column {col!r} has non-numeric value {bad.iloc[0]!r} (row {bad.index[0]!r})")
    values = conv.to_numpy(dtype=float)
    if np.isinf(values).any():
        raise DataError(f"{role} column {col!r} has infinite values")
    return values


def _distal_specs(frame, distal, distal_family, variance) -> list[_Distal]:
    fams = distal_family if isinstance(distal_family, dict) else {d: distal_family for d in distal}
    unknown = set(fams) - set(distal)
    if unknown:
        raise SpecificationError(f"distal_family names columns {sorted(unknown)} that are not in distal")
    out = []
    for name in distal:
        fam = fams.get(name, "normal")
        if fam not in DISTAL_FAMILIES:
            raise SpecificationError(f"distal_family for {name!r} must be one of {DISTAL_FAMILIES}, got {fam!r}")
        if fam == "normal":
            values = _numeric(frame, name, "distal outcome")
            if np.nanvar(values) == 0:
                raise DataError(f"distal outcome {name!r} has zero variance")
            out.append(_Distal(name, fam, values, variance=variance))
        else:
            s = frame[name]
            cats = sorted(pd.unique(s.dropna()).tolist())
            if len(cats) < 2:
                raise DataError(f"categorical distal outcome {name!r} has fewer than two observed categories")
            code = {c: i for i, c in enumerate(cats)}
            out.append(_Distal(name, fam, s.map(code).fillna(-1).to_numpy(dtype=np.int64), tuple(cats)))
    return out


def classification_error(posterior: np.ndarray, assignment: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """D[c, s] = sum_i w_i p_ic a_is / sum_i w_i p_ic (Vermunt 2010, eq 6; StepMix's ``compute_bch_matrix``)."""
    wp = posterior * weights[:, None]
    return (wp.T @ assignment) / wp.sum(axis=0)[:, None]


def _assign(posterior: np.ndarray, assignment: str) -> np.ndarray:
    if assignment == "modal":
        return np.eye(posterior.shape[1])[posterior.argmax(axis=1)]
    return posterior


def _start(model: _Structural, b: np.ndarray) -> np.ndarray:
    """Starting values from class weights b (n, K): the posterior (ML) or the BCH / naive weights.

    Distal parameters start at the b-weighted class means, variances and category logits: the
    exact step-3 estimates of BCH and naive estimation (whose pseudo-likelihood separates by
    term). Where a negative BCH weight sum makes them impossible, the clipped weights are used.
    """
    theta = np.zeros(model.n)
    clipped = np.clip(b, 0, None) + 1e-9
    props = clipped.mean(axis=0)
    if model.fixed_logits is None:
        s = model.slices["logits"]
        beta = np.zeros((model.k - 1, model.x.shape[1]))
        beta[:, 0] = np.log(props[:-1] / props[-1])
        theta[s] = beta.ravel()
    for d in model.distal:
        if d.family == "normal":
            obs = ~np.isnan(d.values)
            z = d.values[obs]
            for bb in (b[obs], clipped[obs]):
                total = bb.sum(0)
                if (total <= 0).any():
                    continue
                mu = (bb * z[:, None]).sum(0) / total
                ss = (bb * (z[:, None] - mu) ** 2).sum(0)
                var = ss / total if d.variance == "free" else np.array([ss.sum() / total.sum()])
                if (var > 0).all():
                    break
            theta[model.slices[f"mean:{d.name}"]] = mu
            theta[model.slices[f"var:{d.name}"]] = np.log(np.maximum(var, 1e-8))
        else:
            m = len(d.categories)
            obs = d.values >= 0
            for bb in (b[obs], clipped[obs]):
                counts = np.stack([bb[d.values[obs] == j].sum(0) for j in range(m)], axis=1)  # (K, M)
                if (counts > 0).all():
                    break
            counts = np.maximum(counts, 1e-9)
            theta[model.slices[f"cat:{d.name}"]] = np.log(counts[:, :-1] / counts[:, -1:]).ravel()
    return theta


def _check_bch_distal(model: _Structural, b: np.ndarray, class_name: str) -> None:
    """BCH weights can be negative: a class whose weighted size, variance or category count is not
    positive has no step-3 estimate (the pseudo-likelihood is unbounded); say so instead of diverging."""
    for d in model.distal:
        if d.family == "normal":
            obs = ~np.isnan(d.values)
            bb, z = b[obs], d.values[obs]
            total = bb.sum(0)
            mu = (bb * z[:, None]).sum(0) / np.where(total > 0, total, 1.0)
            ss = (bb * (z[:, None] - mu) ** 2).sum(0)
            bad = (total <= 0) | ((ss <= 0) if d.variance == "free" else np.zeros_like(total, bool))
            if d.variance == "equal" and ss.sum() <= 0:
                bad[:] = True
        else:
            obs = d.values >= 0
            counts = np.stack([b[obs][d.values[obs] == j].sum(0) for j in range(len(d.categories))], axis=1)
            bad = (counts <= 0).any(axis=1)
        if bad.any():
            raise EstimationError(
                f"with BCH weights, distal outcome {d.name!r} has a non-positive weighted size, variance or category "
                f"count in class {class_name}#{int(np.flatnonzero(bad)[0]) + 1}: the classes are too poorly separated "
                "(see classification_error) for BCH; use correction='ml', or variance='equal'")


def _fit(result, data, covariates, distal, correction, assignment, variance, distal_family, class_proportions, se,
         step1_uncertainty, method) -> StepwiseResult:
    class_name, k = _check_step1(result)
    covariates, distal = _as_list(covariates, "covariates"), _as_list(distal, "distal")
    if not covariates and not distal:
        raise SpecificationError("three_step needs covariates= and/or distal= columns for the structural model")
    overlap = set(covariates) & set(distal)
    if overlap:
        raise SpecificationError(f"columns {sorted(overlap)} are both covariates and distal outcomes")
    measured = {ind.name for ind in result.model.spec.indicators}
    if measured & (set(covariates) | set(distal)):
        raise SpecificationError(f"columns {sorted(measured & (set(covariates) | set(distal)))} are indicators "
                                 "of the measurement model")
    for option, value, allowed in (("correction", correction, CORRECTIONS), ("assignment", assignment, ASSIGNMENTS),
                                   ("variance", variance, VARIANCES),
                                   ("class_proportions", class_proportions, PROPORTIONS),
                                   ("se", se, ("observed", "robust", None))):
        if value not in allowed:
            raise SpecificationError(f"{option}={value!r} is not one of {allowed}")
    if class_proportions == "step1" and covariates:
        raise SpecificationError("class_proportions='step1' applies without covariates (covariates model the "
                                 "class proportions)")
    frame = _structural_frame(result, data, covariates + distal)
    model_data = result.model.data
    w_all = np.ones(len(result.index)) if model_data.weights is None else np.asarray(model_data.weights, float)

    posterior = np.asarray(result.posterior, float)
    assign = _assign(posterior, assignment)
    d_matrix = classification_error(posterior, assign, w_all)

    x = np.column_stack([np.ones(len(frame))] + [_numeric(frame, c, "covariate") for c in covariates])
    keep = ~np.isnan(x).any(axis=1)
    if not keep.all():
        warnings.warn(f"{int((~keep).sum())} row(s) with a missing covariate were left out of step 3", stacklevel=3)
    distals = _distal_specs(frame, distal, distal_family, variance)
    fixed_logits = None
    if class_proportions == "step1":
        props = (posterior * w_all[:, None]).sum(0) / w_all.sum()
        fixed_logits = np.log(props / props[-1])

    def objective_at(post, assigned, dmat):
        structural = _Structural(k, x[keep], [_Distal(d.name, d.family, d.values[keep], d.categories, d.variance)
                                              for d in distals], class_name, covariates, fixed_logits)
        w = w_all[keep]
        if method == "two-step":
            emission = _measurement_log_density(result)[keep]
            return _Objective(structural, w, emission=emission), post[keep]
        if correction == "ml":
            log_d = np.log(np.clip(dmat, LOG_D_CLIP, 1 - LOG_D_CLIP))
            return _Objective(structural, w, emission=assigned[keep] @ log_d.T), post[keep]
        b = assigned if correction == "none" else assigned @ np.linalg.pinv(dmat)
        return _Objective(structural, w, bch=b[keep]), assigned[keep]

    objective, start_weights = objective_at(posterior, assign, d_matrix)
    if objective.bch is not None:
        _check_bch_distal(objective.model, objective.bch, class_name)
    theta, loglik = objective.maximize(_start(objective.model, start_weights))
    se_method = se or ("observed" if (correction == "ml" or method == "two-step") else "robust")
    hess = objective.hessian(theta)
    try:
        inv = np.linalg.inv(-hess)
    except np.linalg.LinAlgError:
        raise EstimationError("the step-3 information matrix is singular; the structural model is not "
                              "identified from these data") from None
    if se_method == "robust":
        _, scores = objective.rows(theta)
        w = objective.w
        cov = inv @ ((scores * (w**2)[:, None]).T @ scores) @ inv
    else:
        cov = inv
    if step1_uncertainty:
        cov = cov + _step1_term(result, theta, assignment, assign, w_all, objective_at)
        se_method += "+step1"
    structural = objective.model
    jac = structural.natural_jacobian(theta)
    cov_nat = jac @ cov @ jac.T
    est = structural.natural(theta)
    sd = np.sqrt(np.clip(np.diag(cov_nat), 0, None))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = est / sd
    table = pd.DataFrame({"name": structural.names, "estimate": est, "se": sd, "est_se": z,
                          "p_value": 2 * stats.norm.sf(np.abs(z))})
    labels = [f"{class_name}#{c + 1}" for c in range(k)]
    entropy = _entropy(posterior, w_all)
    return StepwiseResult(table, pd.DataFrame(d_matrix, index=labels, columns=labels), loglik, int(keep.sum()),
                          correction if method == "three-step" else "two-step", assignment, se_method, theta, cov,
                          entropy)


def _entropy(posterior, w) -> float:
    p = np.clip(posterior, 1e-300, 1)
    return float(1 - (-(w[:, None] * posterior * np.log(p)).sum()) / (w.sum() * np.log(posterior.shape[1])))


def _measurement_log_density(result) -> np.ndarray:
    """log f(y_i | c) of the step-1 measurement model per row, (n, K): log P(c, y_i) - log P(c | x_i)."""
    compiled = result.model.compile()
    _, log_joint, log_prior = compiled.rows(result.theta)
    return np.asarray(log_joint) - np.asarray(log_prior)


def _step1_term(result, theta3, assignment, assign, w_all, objective_at) -> np.ndarray:
    """J V_1 J' (Bakk, Oberski & Vermunt 2014): J = d theta_3 / d theta_1 by central differences,
    the modal assignments held fixed (proportional ones move with the posterior)."""
    compiled = result.model.compile()
    theta1 = np.asarray(result.theta, float)
    layout = result.structure.layout
    active = [f for f in range(len(theta1)) if layout.free_names[f] not in set(result.at_bound)]  # +-15: fixed
    hess1 = compiled.hessian(theta1)[np.ix_(active, active)]
    v1 = np.linalg.inv(-(hess1 + hess1.T) / 2)  # observed-information covariance of step 1
    jac = np.empty((len(theta3), len(active)))
    for col, p in enumerate(active):
        h = 1e-4 * max(1.0, abs(theta1[p]))
        ends = []
        for sign in (1, -1):
            t = theta1.copy()
            t[p] += sign * h
            post = compiled.class_probabilities(t)[1]
            assigned = assign if assignment == "modal" else post
            objective, _ = objective_at(post, assigned, classification_error(post, assigned, w_all))
            ends.append(objective.maximize(theta3)[0])
        jac[:, col] = (ends[0] - ends[1]) / (2 * h)
    compiled.class_probabilities(theta1)  # adaptive nodes (if any) back at the estimate
    return jac @ v1 @ jac.T


def three_step(result, data: pd.DataFrame | None = None, covariates=None, distal=None, correction: str = "ml",
               assignment: str = "modal", variance: str = "equal", distal_family="normal",
               class_proportions: str = "free", se: str | None = None,
               step1_uncertainty: bool = False) -> StepwiseResult:
    """Three-step estimation of covariate effects and distal outcomes (see the module docstring).

    Parameters
    ----------
    result : the step-1 fit (``Model.fit``) of the measurement model, one class variable.
    data : DataFrame holding the structural columns, indexed as the step-1 data (default: the
        DataFrame the measurement model was built on).
    covariates : predictors of class membership (multinomial logit, last class the reference:
        parameters ``[c#k]`` and ``c#k ON x``).
    distal : distal outcome columns (``[z]|c#k`` means and ``var(z)`` / ``var(z)|c#k``; a
        categorical one ``[z#m]|c#k``, the logit of category m against the last).
    correction : ``"ml"`` (Vermunt 2010), ``"bch"`` (Bolck-Croon-Hagenaars) or ``"none"`` (naive).
    assignment : ``"modal"`` or ``"proportional"`` (soft) class assignment in step 2.
    variance : normal distal outcomes with ``"equal"`` or ``"free"`` (class-specific) variances.
    distal_family : ``"normal"`` or ``"categorical"``, or a dict column -> family.
    class_proportions : without covariates, ``"free"`` (estimated in step 3) or ``"step1"``
        (held at the step-1 estimates, StepMix's convention).
    se : ``"observed"`` (default for ML) or ``"robust"`` (sandwich, default for BCH / naive).
    step1_uncertainty : add the step-1 sampling variance through the classification error.

    Sampling weights of the step-1 model are used in D and in step 3. Rows with a missing
    covariate are left out of step 3 (with a warning); a missing distal value drops out of
    its term. Returns a ``StepwiseResult`` (``parameters``, ``classification_error``, ``summary()``).
    """
    return _fit(result, data, covariates, distal, correction, assignment, variance, distal_family,
                class_proportions, se, step1_uncertainty, "three-step")


def two_step(result, data: pd.DataFrame | None = None, covariates=None, distal=None, variance: str = "equal",
             distal_family="normal", class_proportions: str = "free", se: str | None = None) -> StepwiseResult:
    """Two-step estimation: the measurement model fixed at step 1, the structural model (as in
    ``three_step``) estimated in the full likelihood sum_i log sum_c P(c | x_i) f(z_i | c) f(y_i | c)."""
    return _fit(result, data, covariates, distal, "ml", "proportional", variance, distal_family, class_proportions,
                se, False, "two-step")
