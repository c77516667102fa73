"""Spec (and estimates) -> an Mplus input that ``parse_mplus`` reads back into the same spec.

Every class-specific parameter is named in each class section, so Mplus's class-invariance
defaults never apply; the spec's fixed values are written ``@v``, its equality groups as
labels ``(e1)``, and estimates (when given) as starting values ``*v`` in full precision, so
that the input read back (``parse_mplus``) carries every free parameter at the value given:
class-logit slopes ``c#1 ON x*v`` and transitions ``c2#1 ON c1#1*v``, between-level variances
``y*v`` / ``c#1*v``, covariances ``y WITH s*v``, regressions ``y ON w*v`` and loadings
``fb BY u2*v`` of the random effects, and the class-invariant intercepts of a factor's items
(``[y1*v]`` in %OVERALL%) included.
"""

from __future__ import annotations

import re
from collections import defaultdict

from ..errors import SpecificationError
from ..spec import ModelSpec
from .translate import RANDOM_INTERCEPT_SUFFIX

_CLASS = re.compile(r"^(?P<body>.*)\|(?P<cv>[A-Za-z_]\w*)#(?P<k>\d+)$")


def spec_to_mplus(spec: ModelSpec, data_file: str = "data.dat", names: list[str] | None = None,
                  estimates: dict | None = None, title: str = "written by mlmix_pymc") -> str:
    """The text of an Mplus input for ``spec``.

    ``names``: the data file's columns (NAMES); default the model's columns. ``estimates``:
    parameter name -> value, written as starting values (``*value``) of free parameters.
    """
    starts = dict(spec.analysis.get("start_values") or {})
    starts.update(estimates or {})
    w = _Writer(spec, starts)
    return w.text(data_file, names, title)


# the families whose VARIABLE keyword and parameter statements the writer spells (and the reader reads);
# an item of another family is refused by name instead of being written as something else
SPELLED_FAMILIES = ("binary", "ordinal", "normal", "poisson", "nominal")


class _Writer:
    def __init__(self, spec: ModelSpec, estimates: dict):
        unspelled = {ind.name: ind.family for ind in spec.indicators if ind.family not in SPELLED_FAMILIES}
        if unspelled:
            raise SpecificationError(f"to_mplus cannot write items of family {sorted(set(unspelled.values()))} yet "
                                     f"(items {sorted(unspelled)}); it writes {list(SPELLED_FAMILIES)} items")
        self.spec, self.estimates = spec, estimates
        self.two_level = spec.is_two_level and (spec.random_effects or spec.between_class_variable is not None
                                                or any(cv.random_intercept for cv in spec.class_variables))
        self.items = {ind.name: ind for ind in spec.indicators}
        self.k = {cv.name: cv.n_classes for cv in spec.class_variables}
        self.slope_of = {(e.indicators[0], e.covariate): e.name for e in spec.random_effects if e.target == "slope"}
        # between-level latent variables: our effect name -> its Mplus name (``y_b`` -> ``y``, ``c#1``)
        self.mplus_name = {e.name: self._effect_mplus_name(e) for e in spec.random_effects}
        self.latent = [self.mplus_name[e.name] for e in spec.random_effects]
        self.latent += [f"{cv.name}#{k}" for cv in spec.class_variables if cv.random_intercept
                        for k in range(1, cv.n_classes)]
        self.mplus_name.update({x: x for x in self.latent if x not in self.mplus_name.values()})
        self.entries: dict[tuple, dict] = {}  # (level, section, kind, target) -> {"mark", "value", "label"}
        self.order: list[tuple] = []

    # ---------------------------------------------------------------- statements
    def _add(self, level, section, kind, target, mark=None, value=None, label=None):
        key = (level, section, kind, target)
        if key not in self.entries:
            self.entries[key] = {}
            self.order.append(key)
        entry = self.entries[key]
        if mark is not None:
            entry.update(mark=mark, value=value)
        if label is not None:
            entry["label"] = label

    def _within(self):
        return "WITHIN" if self.two_level else None

    @staticmethod
    def _effect_mplus_name(e) -> str:
        """A random effect's Mplus name: the item for an item's own random intercept (``y`` of ``y_b``)."""
        if (e.target == "intercept" and len(e.indicators) == 1 and e.loadings == "fixed"
                and e.name == f"{e.indicators[0]}{RANDOM_INTERCEPT_SUFFIX}"):
            return e.indicators[0]
        return e.name

    def _class_level(self, cv) -> str | None:
        """The level of the statements of class variable ``cv``'s logits (``c ON x``, ``c#1;``)."""
        if cv.level == "between" or self.two_level and cv.random_intercept:
            return "BETWEEN"
        return self._within()

    def _locate_unclassed(self, name: str):
        """``_locate`` of a name that is not class-specific (no ``|c#k``)."""
        spec = self.spec
        f = re.fullmatch(r"(\w+) BY (\S+)", name)
        if f and any(x.name == f.group(1) for x in spec.factors):
            return (self._within(), None, "BY", (f.group(1), f.group(2)))
        if f and any(e.name == f.group(1) for e in spec.random_effects):  # a between factor's loading
            return ("BETWEEN", None, "BY", (f.group(1), f.group(2)))
        v = re.fullmatch(r"var\((\S+)\)", name)
        if v and any(x.name == v.group(1) for x in spec.factors):
            return (self._within(), None, "VARIANCE", v.group(1))
        if v and v.group(1) in self.mplus_name:  # a random effect's or a class logit's between variance
            return ("BETWEEN", None, "VARIANCE", self.mplus_name[v.group(1)])
        c = re.fullmatch(r"cov\(([^,()]+),([^,()]+)\)", name)
        if c and c.group(1) in self.mplus_name and c.group(2) in self.mplus_name:
            a, b = sorted((self.mplus_name[c.group(1)], self.mplus_name[c.group(2)]), key=self.latent.index)
            return ("BETWEEN", None, "WITH", (a, b))  # in the order _random_effect_statements writes it
        on = re.fullmatch(r"(\S+) ON (\S+)", name)
        if on:
            y, x = on.groups()
            ref = re.fullmatch(r"(\w+)#(\d+)", y)
            if ref and ref.group(1) in self.k:  # class-logit slope c#k ON x, transition c2#k ON c1#d
                cv = spec.class_variable(ref.group(1))
                if x.split("#")[0] == cv.depends_on:
                    parent = spec.class_variable(cv.depends_on)
                    return (self._class_level(parent), None, "ON", (y, (x,)))
                return (self._class_level(cv), None, "ON", (y, (x,)))
            if y in self.mplus_name:  # a between-level regression of a random effect
                return ("BETWEEN", None, "ON", (self.mplus_name[y], (x,)))
        return None

    def _locate(self, name: str):
        """(level, section, kind, target) of a parameter name, or None if it has no Mplus spelling here."""
        spec = self.spec
        m = _CLASS.match(name)
        if name.startswith("[") and name.endswith("]") and "#" in name and "|" not in name:
            return ("BETWEEN" if self.two_level else None, None, "MEAN", name[1:-1])
        if not m:
            return self._locate_unclassed(name)
        body, section = m.group("body"), (m.group("cv"), int(m.group("k")))
        if section[0] not in self.k:
            return None
        inner = re.fullmatch(r"(?:var|cov)\((.+)\)|(\S+) ON \S+", body)
        if inner and set((inner.group(1) or inner.group(2)).split(",")) & set(self.mplus_name):
            return None  # a between-class-specific random-effect parameter (random_by_class): no spelling here
        on = re.fullmatch(r"(\S+) ON (\S+)", body)
        if on:
            y, x = on.groups()
            if (y, x) in self.slope_of:
                return ("BETWEEN", section, "MEAN", self.slope_of[(y, x)])
            return (self._within(), section, "ON", (y, x))
        by = re.fullmatch(r"(\w+) BY (\S+)", body)
        if by:
            return (self._within(), section, "BY", (by.group(1), by.group(2)))
        var = re.fullmatch(r"var\((.+)\)", body)
        if var:
            item = self.items.get(var.group(1))
            if item is not None and item.variance == "class-equal":
                section = None  # named in a class section it would become class-specific
            return (self._within(), section, "VARIANCE", var.group(1))
        mean = re.fullmatch(r"\[(.+)\]", body)
        if mean:
            return (self._mean_level(mean.group(1)), section, "MEAN", mean.group(1))
        return (self._mean_level(body.split("$")[0].split("#")[0]), section, "MEAN", body)

    def _mean_level(self, item):
        if not self.two_level:
            return None
        return "BETWEEN" if item in self._random_intercept_items() else "WITHIN"

    def _random_intercept_items(self):
        return {it for e in self.spec.random_effects if e.target == "intercept" for it in e.indicators}

    def _structure(self) -> None:
        """Statements that give the spec its shape (independent of values)."""
        spec, wl = self.spec, self._within()
        for cv in spec.class_variables:
            lvl = "BETWEEN" if (cv.level == "between" or self.two_level and cv.random_intercept) else wl
            if cv.covariates:
                self._add(lvl, None, "ON", (cv.name, tuple(cv.covariates)))
            if cv.depends_on:
                parent = spec.class_variable(cv.depends_on)
                self._add("BETWEEN" if parent.level == "between" else wl, None, "ON", (cv.name, (cv.depends_on,)))
            if cv.random_intercept:
                for k in range(1, cv.n_classes):
                    self._add("BETWEEN", None, "VARIANCE", f"{cv.name}#{k}")
        for e in spec.random_effects:
            if e.target == "slope":
                self._add("WITHIN", None, "RANDOM", (e.name, e.indicators[0], e.covariate))
        for ind in spec.indicators:
            cv = ind.class_variable
            for x in ind.covariates:
                if (ind.name, x) in self.slope_of:
                    for k in range(1, self.k[cv] + 1):
                        self._add("BETWEEN", (cv, k), "MEAN", self.slope_of[(ind.name, x)])
                else:
                    self._add(wl, None, "ON", (ind.name, x))
                    for k in range(1, self.k[cv] + 1):
                        self._add(wl, (cv, k), "ON", (ind.name, x))
            if ind.family == "normal" and ind.variance == "class-specific":
                for k in range(1, self.k[cv] + 1):
                    self._add(wl, (cv, k), "VARIANCE", ind.name)
        several = len(spec.class_variables) > 1
        for ind in spec.indicators:  # an ordinal item shows its second threshold (binary otherwise)
            if several and not any(ind.name in f.indicators for f in spec.factors):  # owner: its class sections
                target = {"poisson": ind.name, "normal": ind.name, "nominal": f"{ind.name}#1"}.get(
                    ind.family, f"{ind.name}$1")
                for k in range(1, self.k[ind.class_variable] + 1):
                    self._add(self._mean_level(ind.name), (ind.class_variable, k), "MEAN", target)
            if ind.family == "ordinal":
                self._add(self._mean_level(ind.name), None, "MEAN", f"{ind.name}$2")
        for f in spec.factors:
            cv = next(ind.class_variable for ind in spec.indicators if ind.name == f.indicators[0])
            if f.loadings == "fixed":
                self._add(wl, None, "BY", (f.name, tuple(f.indicators), "@1"))
            else:
                self._add(wl, None, "BY", (f.name, tuple(f.indicators), None))
            if f.loadings == "class-specific":
                for k in range(1, self.k[cv] + 1):
                    for it in f.indicators:
                        self._add(wl, (cv, k), "BY", (f.name, it))
            if f.variance == "free":
                self._add(wl, None, "VARIANCE", f.name)
            elif f.variance == "class-specific":
                for k in range(1, self.k[cv] + 1):
                    self._add(wl, (cv, k), "VARIANCE", f.name)
            if f.mean == "zero" and f.loadings != "class-specific":
                self._add(wl, None, "MEAN", f.name, "@", 0.0)
            if f.mean == "zero":
                for it in f.indicators:
                    target = {"poisson": it, "normal": it}.get(self.items[it].family, f"{it}$1")
                    for k in range(1, self.k[cv] + 1):
                        self._add(self._mean_level(it), (cv, k), "MEAN", target)

    def _values(self) -> None:
        """Fixed values, equality labels and starting values of individual parameters."""
        for name, value in self.spec.constraints.fixed.items():
            where = self._locate(name)
            if where is None or self._start_only(where):
                raise SpecificationError(f"the fixed parameter {name!r} has no Mplus spelling in this writer")
            self._add(*where, mark="@", value=value)
        for g, group in enumerate(self.spec.constraints.equal, start=1):
            for name in group:
                where = self._locate(name)
                if where is None or self._start_only(where):
                    raise SpecificationError(f"the equality of {name!r} has no Mplus spelling in this writer")
                self._add(*where, label=f"e{g}")
        for name, value in self.estimates.items():
            if name in self.spec.constraints.fixed or not _finite(value):
                continue
            where = self._locate(name)
            if where is None or where[2] == "BY" and isinstance(where[3], tuple) and len(where[3]) == 3:
                continue
            if self._structural_default(where):  # class-invariant: its start goes in %OVERALL%
                where = (where[0], None) + where[2:]
            entry = self.entries.get(where, {})
            if entry.get("mark") == "@":
                continue
            self._add(*where, mark="*", value=float(value))
            if where[2] == "BY" and where[0] != "BETWEEN":
                f = next(x for x in self.spec.factors if x.name == where[3][0])
                if f.variance == "fixed" and where[3][1] == f.indicators[0]:
                    # the standardized factor: a start frees the first loading, so Mplus needs f@1
                    self._add(self._within(), None, "VARIANCE", f.name, "@", 1.0)

    def _start_only(self, where) -> bool:
        """True for parameters the reader takes a start for but no fixed value or label: class-logit
        slopes and transitions, and the between-level parameters of random effects."""
        level, section, kind, target = where
        if kind == "ON" and re.fullmatch(r"\w+#\d+", target[0]):
            return True
        return level == "BETWEEN" and section is None and (
            kind in ("WITH", "BY") or kind == "VARIANCE" and target in self.latent
            or kind == "ON" and target[0] in self.latent)

    def _structural_default(self, where) -> bool:
        """True for parameters whose mention in a class section would change the spec (the
        class-invariant intercepts / thresholds of the items of a factor with class-varying means)."""
        level, section, kind, target = where
        if section is None or kind != "MEAN":
            return False
        item = target.split("$")[0].split("#")[0]
        for f in self.spec.factors:
            if item in f.indicators and f.mean == "class-specific":
                return True
        return False

    # ---------------------------------------------------------------- text
    def text(self, data_file: str, names, title: str) -> str:
        spec = self.spec
        self._structure()
        self._random_effect_statements()  # before the values: a between factor's BY lists its items first
        self._values()
        used = [ind.name for ind in spec.indicators] + list(spec.covariates)
        names = list(names) if names is not None else used + [c for c in (spec.cluster, spec.weights) if c]
        lines = [f"TITLE: {title}", f"DATA: FILE = {data_file};", "VARIABLE:"]
        lines += _wrap("NAMES =", names)
        lines += _wrap("USEVARIABLES =", used)
        fam = defaultdict(list)
        for ind in spec.indicators:
            fam[ind.family].append(ind.name)
        if fam["binary"] + fam["ordinal"]:
            lines += _wrap("CATEGORICAL =", fam["binary"] + fam["ordinal"])
        if fam["nominal"]:
            lines += _wrap("NOMINAL =", fam["nominal"])
        if fam["poisson"]:
            lines += _wrap("COUNT =", fam["poisson"])
        lines.append("  CLASSES = " + " ".join(f"{cv.name}({cv.n_classes})" for cv in spec.class_variables) + ";")
        if spec.cluster:
            lines.append(f"  CLUSTER = {spec.cluster};")
        if spec.weights:
            lines.append(f"  WEIGHT = {spec.weights};")
        if self.two_level:
            re_items = self._random_intercept_items()
            within = [ind.name for ind in spec.indicators if ind.name not in re_items and ind.family == "normal"]
            within += [c for ind in spec.indicators for c in ind.covariates if c not in within]
            between = [cv.name for cv in spec.class_variables if cv.level == "between"]
            between += [c for c in spec.cluster_covariates if c not in within]
            if within:
                lines += _wrap("WITHIN =", within)
            if between:
                lines += _wrap("BETWEEN =", between)
        lines += ["ANALYSIS:"] + self._analysis()
        lines += ["MODEL:"] + self._model()
        return "\n".join(lines) + "\n"

    def _analysis(self) -> list[str]:
        spec, a = self.spec, dict(self.spec.analysis)
        words = ["TWOLEVEL"] if self.two_level else (["COMPLEX"] if spec.cluster else [])
        if any(e.target == "slope" for e in spec.random_effects):
            words.append("RANDOM")
        out = [f"  TYPE = {' '.join(words + ['MIXTURE'])};"]
        links = {ind.link for ind in spec.indicators if ind.family in ("binary", "ordinal")}
        if len(links) > 1:
            raise SpecificationError("Mplus LINK is one link for all categorical items; the spec mixes logit and probit")
        if links == {"probit"}:
            out.append("  LINK = PROBIT;")
        out.append(f"  ESTIMATOR = {'ML' if a.get('se') in ('observed', None) and 'se' in a else 'MLR'};")
        starts = a.get("starts")
        if starts is not None:
            out.append(f"  STARTS = {int(starts[0])} {int(starts[1])};" if tuple(starts) != (0, 0) else "  STARTS = 0;")
        for key, opt in (("seed", "STSEED"), ("st_iterations", "STITERATIONS"), ("max_iter", "MITERATIONS")):
            if a.get(key) is not None:
                out.append(f"  {opt} = {int(a[key])};")
        method = a.get("integration")
        if method is not None or a.get("points") is not None:
            word = {"trapezoid": "STANDARD", "gauss-hermite": "GAUSSHERMITE", "qmc": "MONTECARLO",
                    None: "STANDARD"}.get(method)
            if word is None:
                raise SpecificationError(f"integration {method!r} has no Mplus INTEGRATION spelling")
            out.append(f"  INTEGRATION = {word}({int(a['points'])});" if a.get("points") else f"  INTEGRATION = {word};")
        if spec.factors or spec.random_effects or any(cv.random_intercept for cv in spec.class_variables):
            out.append("  ALGORITHM = INTEGRATION;")
        return out

    def _model(self) -> list[str]:
        spec = self.spec
        levels = ["WITHIN", "BETWEEN"] if self.two_level else [None]
        out: list[str] = []
        by_command = len(spec.class_variables) > 1 and not self.two_level  # MODEL c1: / MODEL c2: sections
        for level in levels:
            if level:
                out.append(f"%{level}%")
            sections = [None] + [(cv.name, k) for cv in spec.class_variables for k in range(1, cv.n_classes + 1)]
            for section in sections:
                keys = [key for key in self.order if key[0] == level and key[1] == section]
                if not keys and section is not None:
                    continue
                if by_command and section is not None and section[1] == 1:
                    out.append(f"MODEL {section[0]}:")
                out.append("%OVERALL%" if section is None else f"%{section[0]}#{section[1]}%")
                out.extend("  " + self._statement(key) for key in keys)
        return out

    def _random_effect_statements(self) -> None:
        """Between-level statements of the random effects: between factors, regressions, covariances."""
        spec = self.spec
        for e in spec.random_effects:
            name = self.mplus_name[e.name]
            if e.target == "intercept" and name != e.name:  # an item's own random intercept: the item
                if self.items[name].family != "normal":
                    self._add("BETWEEN", None, "VARIANCE", name)
            elif e.target == "intercept":
                self._add("BETWEEN", None, "BY", (e.name, tuple(e.indicators), "@1" if e.loadings == "fixed"
                                                  else None))
                for it in e.indicators:
                    self._add("BETWEEN", None, "VARIANCE", it, "@", 0.0)
            if e.on:
                self._add("BETWEEN", None, "ON", (name, tuple(e.on)))
        slopes = any(e.target == "slope" for e in spec.random_effects)
        default = "diagonal" if slopes else "full"
        latent = self.latent
        if spec.random_covariance != default and len(latent) > 1:
            mark = "@0" if spec.random_covariance == "diagonal" else ""
            for i, a in enumerate(latent):
                for b in latent[i + 1:]:
                    self._add("BETWEEN", None, "WITH", (a, b + mark))

    def _statement(self, key) -> str:
        level, section, kind, target = key
        e = self.entries[key]
        val = ""
        if "mark" in e:
            val = f"{e['mark']}{_num(e['value'])}"
        label = f" ({e['label']})" if "label" in e else ""
        if kind == "MEAN":
            return f"[{target}{val}]{label};"
        if kind == "VARIANCE":
            return f"{target}{val}{label};"
        if kind == "RANDOM":
            s, y, x = target
            return f"{s} | {y} ON {x};"
        if kind == "WITH":
            return f"{target[0]} WITH {target[1]}{val};"
        if kind == "ON":
            y, xs = target
            xs = xs if isinstance(xs, tuple) else (xs,)
            return f"{y} ON {' '.join(xs)}{val}{label};"
        if kind == "BY":
            if len(target) == 3:
                f, items, mark = target
                return f"{f} BY {' '.join(it + (mark or '') for it in items)};"
            f, it = target
            return f"{f} BY {it}{val}{label};"
        raise AssertionError(kind)  # pragma: no cover


def _wrap(head: str, names: list[str], width: int = 76) -> list[str]:
    out, line = [], "  " + head
    for n in names:
        if len(line) + len(n) + 1 > width:
            out.append(line)
            line = "    "
        line += " " + n
    out.append(line + ";")
    return out


def _num(value: float) -> str:
    """The shortest text that reads back as the same double (a start in full precision)."""
    return repr(float(value))


def _finite(value) -> bool:
    try:
        return bool(abs(float(value)) < float("inf"))
    except (TypeError, ValueError):
        return False
