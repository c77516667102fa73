"""Mplus commands -> ``ModelSpec``: the meaning of a mixture input, with Mplus's defaults.

Defaults followed (Mplus User's Guide, chapters 7 and 10):

* thresholds / means of latent class indicators vary across classes; residual variances of
  continuous items are equal across classes (``y;`` in every class section frees them);
* regression slopes (``y ON x``), factor loadings and the variances of continuous items are
  equal across the classes whose sections do not mention them: the spec holds them
  class-specific with an equality group over those classes;
* a factor (``f BY ...``) has class-varying means (last class 0) and class-invariant
  intercepts / thresholds of its items, unless ``[f@0]``, when the items' thresholds are
  class-specific where a class section mentions them; a free factor variance with the first
  loading at 1 is fitted as the equivalent standardized factor (variance 1, loadings free);
* ``c2 ON c1`` is the transition regression of an LTA (eq 9); ``c ON x`` the multinomial
  logit (eq 4);
* TWOLEVEL MIXTURE: a continuous item not on WITHIN has a cluster random intercept (named
  ``<item>_b``) unless ``%BETWEEN%`` fixes its variance at 0; a categorical item gets one
  when ``%BETWEEN%`` names its variance; ``c#1;`` under ``%BETWEEN% %OVERALL%`` gives random
  class-logit intercepts (eq 10); ``f BY u1-u6`` under ``%BETWEEN%`` a between factor;
  a class variable on BETWEEN is a between-level class variable (eq 16-17).

Every statement that has no place in a ``ModelSpec`` raises ``UnsupportedMplusStatement``
naming it and its line.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from ..errors import MplusSyntaxError, SpecificationError, UnsupportedMplusStatement
from ..spec import ClassVariable, Constraints, Factor, Indicator, ModelSpec, RandomEffect
from .options import AnalysisSettings, VariableSettings, read_analysis, read_data, read_variable
from .reader import Command, read_commands
from .statements import ModelStatement, parse_model_statement

IGNORED_COMMANDS = ("TITLE", "OUTPUT", "SAVEDATA", "PLOT")
RANDOM_INTERCEPT_SUFFIX = "_b"


@dataclass
class MplusInput:
    """A parsed Mplus input: the ``spec``, the data file and its reading options."""

    spec: ModelSpec
    names: list[str]
    data_file: str | None
    missing: dict
    title: str = ""
    ignored: list[str] = field(default_factory=list)  # commands read but not used (OUTPUT, SAVEDATA, PLOT)


def parse_mplus(text: str, categories: dict | None = None) -> MplusInput:
    """Parse the text of an Mplus input into an ``MplusInput``.

    ``categories`` (item -> number of observed categories, from the data when it is read)
    makes a CATEGORICAL item with more than two categories ordinal; without it, an item is
    ordinal when the MODEL names a threshold ``$2`` or higher.
    """
    commands = read_commands(text)
    by_name: dict[str, Command] = {}
    model_commands: list[Command] = []
    ignored: list[str] = []
    for cmd in commands:
        if cmd.name == "MODEL" or (cmd.name.startswith("MODEL ") and cmd.name.split()[1] not in
                                   ("CONSTRAINT", "TEST", "PRIORS", "POPULATION", "INDIRECT", "COVERAGE")):
            model_commands.append(cmd)
        elif cmd.name in IGNORED_COMMANDS:
            ignored.append(cmd.name)
            by_name.setdefault(cmd.name, cmd)
        elif cmd.name in ("DATA", "VARIABLE", "ANALYSIS"):
            if cmd.name in by_name:
                raise MplusSyntaxError(f"line {cmd.line}: a second {cmd.name} command")
            by_name[cmd.name] = cmd
        else:
            raise UnsupportedMplusStatement(f"line {cmd.line}: the {cmd.name} command is not supported")
    data = read_data(by_name.get("DATA"))
    variables = read_variable(by_name.get("VARIABLE"))
    analysis = read_analysis(by_name.get("ANALYSIS"))
    statements = []
    for cmd in model_commands:
        label = cmd.name.split()[1] if " " in cmd.name else None
        statements.extend(parse_model_statement(st, label) for st in cmd.statements)
    spec = _Translator(variables, analysis, statements, categories or {}).spec()
    title = by_name["TITLE"].text if "TITLE" in by_name else ""
    return MplusInput(spec, variables.names, data.file, variables.missing, title,
                      [c for c in ignored if c != "TITLE"])


class _Translator:
    """Builds the spec from VARIABLE, ANALYSIS and the MODEL statements."""

    def __init__(self, var: VariableSettings, ana: AnalysisSettings, statements: list[ModelStatement],
                 categories: dict):
        self.var, self.ana, self.statements, self.categories = var, ana, statements, categories
        if not var.classes:
            raise MplusSyntaxError("VARIABLE needs CLASSES = c(K) for a mixture model")
        between = {b.lower() for b in var.between}
        self.levels = {c: ("between" if c.lower() in between else "within") for c in var.classes}
        self.use = var.usevariables if var.usevariables is not None else [
            n for n in var.names if n not in (var.cluster, var.weight)]
        self.fixed: dict[str, float] = {}
        self.starts: dict[str, float] = {}
        self.labels: dict[str, list[str]] = defaultdict(list)  # label -> parameter names
        self.equal: list[tuple[str, ...]] = []
        self.mentioned: dict[tuple, set[int]] = defaultdict(set)  # (kind, ...) -> classes naming it

    # ------------------------------------------------------------------ names
    def _class_var(self, name: str):
        return next((c for c in self.var.classes if c.lower() == name.lower()), None)

    def _class_ref(self, name: str):
        """``c#2`` -> ("c", 2) when c is a class variable, else None."""
        base, sep, k = name.partition("#")
        cv = self._class_var(base) if sep else None
        return (cv, int(k)) if cv and k.isdigit() else None

    def _observed(self, name: str, st: ModelStatement) -> str:
        for n in self.var.names:
            if n.lower() == name.lower():
                if n not in self.use:
                    raise MplusSyntaxError(f"{st.where()}: variable {n!r} is not in USEVARIABLES")
                return n
        raise MplusSyntaxError(f"{st.where()}: {name!r} is neither a variable in NAMES nor a latent variable "
                               "(class variable, factor, random slope)")

    def _section_class(self, st: ModelStatement):
        """(class variable, k) of a class-specific statement, or None in %OVERALL%."""
        if st.section is None:
            return None
        cv = self._class_var(st.section[0])
        if cv is None:
            raise MplusSyntaxError(f"line {st.line}: class label %{st.section[0]}#{st.section[1]}% names no class "
                                   "variable of CLASSES")
        if st.class_command and st.class_command.lower() != cv.lower():
            raise MplusSyntaxError(f"line {st.line}: class label %{cv}#{st.section[1]}% inside MODEL "
                                   f"{st.class_command}:")
        if not 1 <= st.section[1] <= self.var.classes[cv]:
            raise MplusSyntaxError(f"line {st.line}: class {st.section[1]} of {cv} does not exist "
                                   f"({cv} has {self.var.classes[cv]} classes)")
        return cv, st.section[1]

    # ------------------------------------------------------------------ roles
    def _roles(self):
        """Factors, random slopes, covariates and indicators from the statements."""
        self.factors: dict[str, dict] = {}  # name -> {"items": [...], "level": ...}
        self.slopes: dict[str, tuple[str, str]] = {}
        self.regressions: dict[str, list[str]] = defaultdict(list)  # item -> covariates
        dependent: list[str] = []
        predictors: list[str] = []
        for st in self.statements:
            if st.kind == "BY":
                for f in st.left:
                    entry = self.factors.setdefault(f.name.lower(), {"name": f.name, "items": [], "level": st.level,
                                                                     "line": st.line})
                    for it in st.right:
                        if self._class_ref(it.name):
                            raise UnsupportedMplusStatement(f"{st.where()}: a factor measured by class logits "
                                                            f"({it.name}) is not supported; use 'c#1;' for random "
                                                            "class-logit intercepts")
                        name = self._observed(it.name, st)
                        if name not in entry["items"]:
                            entry["items"].append(name)
                        dependent.append(name)
            elif st.kind == "RANDOM":
                if st.level != "WITHIN" or st.section is not None:
                    raise UnsupportedMplusStatement(f"{st.where()}: a random slope 's | y ON x' belongs in "
                                                    "%WITHIN% %OVERALL%")
                (s,), (y,), (x,) = st.left, st.right, st.extra["covariate"]
                y, x = self._observed(y.name, st), self._observed(x.name, st)
                self.slopes[s.name.lower()] = (s.name, y, x)
                dependent.append(y)
                predictors.append(x)
                if x not in self.regressions[y]:
                    self.regressions[y].append(x)
        latent = set(self.factors) | set(self.slopes) | {c.lower() for c in self.var.classes}
        for st in self.statements:
            if st.kind != "ON":
                continue
            for lhs in st.left:
                if self._class_var(lhs.name) or self._class_ref(lhs.name) or lhs.name.lower() in latent:
                    for rhs in st.right:
                        if not (self._class_var(rhs.name) or self._class_ref(rhs.name) or rhs.name.lower() in latent):
                            predictors.append(self._observed(rhs.name, st))
                    continue
                y = self._observed(lhs.name, st)
                dependent.append(y)
                for rhs in st.right:
                    if self._class_var(rhs.name) or self._class_ref(rhs.name):
                        raise UnsupportedMplusStatement(f"{st.where()}: an item regressed on a class variable is "
                                                        "not supported (class-specific means go in %c#k% sections)")
                    if rhs.name.lower() in latent:
                        raise UnsupportedMplusStatement(f"{st.where()}: an item regressed on a latent variable "
                                                        f"{rhs.name!r} is not supported")
                    x = self._observed(rhs.name, st)
                    if st.level == "BETWEEN":  # y ON w on the between level: its random intercept on w
                        predictors.append(x)
                        continue
                    predictors.append(x)
                    if x not in self.regressions[y]:
                        self.regressions[y].append(x)
        for st in self.statements:
            if st.kind in ("MEAN", "VARIANCE", "WITH"):
                for it in st.left + st.right:
                    base = it.name.split("$")[0]
                    if self._class_var(base) or self._class_ref(base) or base.lower() in latent:
                        continue
                    if "#" in base and self._observed(base.split("#")[0], st) in self.var.nominal:
                        continue
                    self._observed(base, st)
        both = set(dependent) & set(predictors)
        if both:
            raise UnsupportedMplusStatement(f"variable(s) {sorted(both)} are both dependent and predictors "
                                            "(mediation / path models are not supported)")
        excluded = {self.var.cluster, self.var.weight} | set(predictors)
        self.covariates = [c for c in self.use if c in set(predictors)]
        self.items = [n for n in self.use if n not in excluded]
        for n in set(dependent) - set(self.items):
            raise MplusSyntaxError(f"dependent variable {n!r} is not in USEVARIABLES")
        if not self.items:
            raise MplusSyntaxError("no latent class indicators: every USEVARIABLES column is a covariate")

    def _family(self, item: str) -> str:
        if item in self.var.nominal:
            return "nominal"
        if item in self.var.count:
            return "poisson"
        if item in self.var.categorical:
            if self.categories.get(item, 2) > 2:
                return "ordinal"
            for st in self.statements:
                for it in st.left:
                    base, _, t = it.name.partition("$")
                    if base.lower() == item.lower() and t.isdigit() and int(t) >= 2:
                        return "ordinal"
            return "binary"
        return "normal"

    def _owner(self, item: str) -> str:
        """The class variable an item measures: the one whose class sections mention it."""
        owners = set()
        for st in self.statements:
            sec = self._section_class(st)
            if sec is None:
                continue
            names = [it.name.split("$")[0].split("#")[0].lower() for it in st.left + st.right]
            if item.lower() in names:
                owners.add(sec[0])
        for f in self.factors.values():  # a factor's items measure the class variable of the factor's sections
            if item in f["items"]:
                for st in self.statements:
                    sec = self._section_class(st)
                    if sec and any(it.name.lower() == f["name"].lower() for it in st.left + st.right):
                        owners.add(sec[0])
        if len(owners) > 1:
            raise UnsupportedMplusStatement(f"indicator {item!r} is mentioned in the class sections of "
                                            f"{sorted(owners)}; an item measures one class variable")
        if owners:
            return owners.pop()
        within = [c for c in self.var.classes if self.levels[c] == "within"]
        if len(self.var.classes) == 1:
            return next(iter(self.var.classes))
        if len(within) == 1:
            return within[0]
        raise UnsupportedMplusStatement(f"indicator {item!r} is not assigned to a class variable: with several "
                                        "class variables mention it in one of their %c#k% sections")

    # ------------------------------------------------------------------ spec
    def spec(self) -> ModelSpec:
        self._roles()
        self.owner = {it: self._owner(it) for it in self.items}
        self.family = {it: self._family(it) for it in self.items}
        cvs = self._class_variables()
        factors = self._factors()
        effects, covariance = self._random_effects()
        self._between_latent(cvs, effects)
        self._parameters(factors)
        for group in self._mplus_defaults(factors):
            self.equal.append(group)
        for label, names in self.labels.items():
            if len(set(names)) >= 2:
                self.equal.append(tuple(dict.fromkeys(names)))
        indicators = tuple(
            Indicator(it, self.family[it], self.ana.link, self.owner[it], self._variance(it),
                      tuple(self.regressions.get(it, ()))) for it in self.items)
        analysis = dict(self.ana.options)
        if self.starts:
            analysis["start_values"] = dict(self.starts)
        cluster = self.var.cluster if (self.ana.two_level or self.ana.complex) else None
        if self.var.cluster and cluster is None:
            raise UnsupportedMplusStatement(f"CLUSTER = {self.var.cluster} needs TYPE = TWOLEVEL MIXTURE or "
                                            "COMPLEX MIXTURE")
        try:
            return ModelSpec(class_variables=cvs, indicators=indicators,
                             constraints=Constraints(fixed=self.fixed, equal=_merge(self.equal)),
                             cluster=cluster, analysis=analysis, random_effects=effects,
                             random_covariance=covariance, factors=factors, weights=self.var.weight)
        except SpecificationError as err:
            if isinstance(err, MplusSyntaxError):
                raise
            raise UnsupportedMplusStatement(f"the input describes a model mlmix_pymc cannot fit: {err}") from None

    def _class_variables(self) -> tuple[ClassVariable, ...]:
        covariates: dict[str, list[str]] = {c: [] for c in self.var.classes}
        parents: dict[str, str] = {}
        partial: dict[tuple, set] = defaultdict(set)
        random = {c: set() for c in self.var.classes}
        transitions: dict[str, set] = defaultdict(set)  # c2 -> {(k, d)} of c2#k ON c1#d statements
        whole: set[tuple] = set()  # (c, x) of whole-variable statements c ON x
        for st in self.statements:
            if st.kind == "ON":
                for lhs in st.left:
                    cv, ref = self._class_var(lhs.name), self._class_ref(lhs.name)
                    if not cv and not ref:
                        continue
                    if st.section is not None:
                        raise UnsupportedMplusStatement(f"{st.where()}: class-logit regressions belong in %OVERALL%")
                    if any(r.mark == "@" for r in st.right):
                        raise UnsupportedMplusStatement(f"{st.where()}: '@' on class-logit regressions is "
                                                        "not supported (starting values '*' are)")
                    target = cv or ref[0]
                    for rhs in st.right:
                        parent = self._class_var(rhs.name)
                        pair = self._class_ref(rhs.name)
                        if ref and pair and pair[0] != target:  # c2#k ON c1#d: one transition parameter
                            if parents.setdefault(target, pair[0]) != pair[0]:
                                raise UnsupportedMplusStatement(f"{st.where()}: {target} depends on one class "
                                                                "variable")
                            if ref[1] >= self.var.classes[target] or pair[1] >= self.var.classes[pair[0]]:
                                raise MplusSyntaxError(f"{st.where()}: a transition of the last class is 0 "
                                                       "(reference)")
                            transitions[target].add((ref[1], pair[1]))
                        elif parent:
                            if ref:
                                raise UnsupportedMplusStatement(f"{st.where()}: write the transition as "
                                                                f"'{target} ON {parent}'")
                            parents[target] = parent
                            whole.add((target, parent))
                        elif self._class_ref(rhs.name) or rhs.name.lower() in set(self.factors) | set(self.slopes):
                            raise UnsupportedMplusStatement(f"{st.where()}: class logits regressed on {rhs.name!r} "
                                                            "are not supported")
                        else:
                            x = self._observed(rhs.name, st)
                            if ref:
                                partial[(target, x)].add(ref[1])
                            else:
                                whole.add((target, x))
                                if x not in covariates[target]:
                                    covariates[target].append(x)
            elif st.kind == "VARIANCE" and st.level == "BETWEEN":
                for it in st.left:
                    ref = self._class_ref(it.name)
                    if ref:
                        if st.section is not None or it.mark == "@" or st.labels:
                            raise UnsupportedMplusStatement(f"{st.where()}: the variance of the random class-logit "
                                                            "intercept is free, in %BETWEEN% %OVERALL% only")
                        random[ref[0]].add(ref[1])
        for target, pairs in transitions.items():  # without c2 ON c1: every pair but the last classes
            full = {(k, d) for k in range(1, self.var.classes[target])
                    for d in range(1, self.var.classes[parents[target]])}
            if pairs != full and (target, parents[target]) not in whole:
                raise UnsupportedMplusStatement(f"'{target}#k ON {parents[target]}#d' is given for {sorted(pairs)} "
                                                f"only; give it for every pair of classes but the last ones (or write "
                                                f"'{target} ON {parents[target]}')")
        for (target, x), ks in partial.items():
            if ks != set(range(1, self.var.classes[target])) and (target, x) not in whole:
                raise UnsupportedMplusStatement(f"'{target}#k ON {x}' is given for classes {sorted(ks)} only; "
                                                f"give it for every class but the last (or write '{target} ON {x}')")
            if x not in covariates[target]:
                covariates[target].append(x)
        out = []
        for c, k in self.var.classes.items():
            ri = bool(random[c])
            if ri and random[c] != set(range(1, k)):
                raise UnsupportedMplusStatement(f"random class-logit intercepts of {c} are given for classes "
                                                f"{sorted(random[c])}; give 'c#k;' for every class but the last")
            if ri and not self.ana.two_level:
                raise UnsupportedMplusStatement(f"random class-logit intercepts of {c} need TYPE = TWOLEVEL MIXTURE")
            out.append(ClassVariable(c, k, level=self.levels[c], random_intercept=ri,
                                     covariates=tuple(covariates[c]), depends_on=parents.get(c)))
        order = [cv.name for cv in out]
        for cv in out:  # a parent must come first: order CLASSES by dependence
            if cv.depends_on and order.index(cv.depends_on) > order.index(cv.name):
                order.remove(cv.depends_on)
                order.insert(order.index(cv.name), cv.depends_on)
        return tuple(sorted(out, key=lambda cv: order.index(cv.name)))

    def _factors(self) -> tuple[Factor, ...]:
        out = []
        for key, f in self.factors.items():
            if f["level"] == "BETWEEN":
                continue
            name = f["name"]
            cv = self.owner[f["items"][0]]
            k = self.var.classes[cv]
            by_classes, var_classes, mean_zero, var_fixed = set(), set(), False, None
            all_fixed_one = True
            for st in self.statements:
                sec = self._section_class(st)
                if st.kind == "BY" and st.left[0].name.lower() == key:
                    if sec:
                        by_classes.add(sec[1])
                    all_fixed_one &= all(it.mark == "@" and it.value == 1 for it in st.right)
                names = [it for it in st.left if it.name.lower() == key]
                if st.kind == "MEAN" and names:
                    if sec is None and names[0].mark == "@" and names[0].value == 0:
                        mean_zero = True
                    elif sec is None:
                        raise UnsupportedMplusStatement(f"{st.where()}: a factor mean in %OVERALL% other than "
                                                        f"[{name}@0] is not supported")
                if st.kind == "VARIANCE" and names:
                    if sec:
                        var_classes.add(sec[1])
                    elif names[0].mark == "@":
                        var_fixed = names[0].value
            if by_classes and by_classes != set(range(1, k + 1)):
                loadings = "class-specific"  # unmentioned classes share (equality groups, _mplus_defaults)
            elif by_classes:
                loadings = "class-specific"
            elif all_fixed_one:
                loadings = "fixed"
            else:
                loadings = "class-invariant"
            if var_classes:
                if var_classes != set(range(1, k + 1)):
                    raise UnsupportedMplusStatement(f"factor {name}: a variance in some class sections only "
                                                    f"({sorted(var_classes)}) is not supported; name it in every class")
                variance = "class-specific"
            elif loadings == "fixed":
                variance = "free"
            else:
                if var_fixed not in (None, 1.0):
                    raise UnsupportedMplusStatement(f"factor {name}: a variance fixed at {var_fixed:g} is not "
                                                    "supported (free or @1)")
                variance = "fixed"  # the Mplus free variance with the first loading at 1, standardized
            mean = "zero" if mean_zero or loadings == "class-specific" else "class-specific"
            out.append(Factor(name, tuple(f["items"]), loadings, variance, mean))
        return tuple(out)

    def _random_effects(self):
        """Cluster random effects: item random intercepts, random slopes, between factors."""
        effects: list[RandomEffect] = []
        if not self.ana.two_level:
            self._covariance(())  # WITH statements: refused in single-level models
            for st in self.statements:
                if st.level is not None:
                    raise UnsupportedMplusStatement(f"{st.where()}: %WITHIN% / %BETWEEN% need TYPE = TWOLEVEL MIXTURE")
            return (), "full"
        between_var: dict[str, tuple] = {}
        on: dict[str, list[str]] = defaultdict(list)
        between_factor_items = set()
        for f in self.factors.values():
            if f["level"] == "BETWEEN":
                between_factor_items |= set(f["items"])
        for st in self.statements:
            if st.level != "BETWEEN":
                continue
            if st.kind == "VARIANCE" and st.section is None:
                for it in st.left:
                    if self._class_ref(it.name) or it.name.lower() in self.factors or it.name.lower() in self.slopes:
                        continue
                    between_var[self._observed(it.name, st)] = (it, st)
            elif st.kind == "VARIANCE":
                if any(not self._class_ref(it.name) for it in st.left):
                    raise UnsupportedMplusStatement(f"{st.where()}: class-specific between-level variances are not "
                                                    "supported")
            elif st.kind == "ON":
                for lhs in st.left:
                    if self._class_var(lhs.name) or self._class_ref(lhs.name):
                        continue
                    if st.section is not None:
                        raise UnsupportedMplusStatement(f"{st.where()}: class-specific between-level regressions "
                                                        "are not supported")
                    key = lhs.name.lower()
                    on[key].extend(x for x in (self._observed(r.name, st) for r in st.right) if x not in on[key])
        names_taken = {n.lower() for n in self.var.names} | {c.lower() for c in self.var.classes}
        for it in self.items:
            if it in self.var.within:
                if it in between_var:
                    raise MplusSyntaxError(f"{between_var[it][1].where()}: {it!r} is on WITHIN and has no "
                                           "between-level variance")
                continue
            spec_, st = between_var.get(it, (None, None))
            if it in between_factor_items:
                if spec_ is None or spec_.mark != "@" or spec_.value != 0:
                    raise UnsupportedMplusStatement(f"indicator {it!r} of a between-level factor needs its "
                                                    f"between residual variance fixed at 0: add '{it}@0;' under "
                                                    "%BETWEEN%")
                continue
            if spec_ is not None and spec_.mark == "@":
                if spec_.value != 0:
                    raise UnsupportedMplusStatement(f"{st.where()}: a between variance fixed at {spec_.value:g} "
                                                    "is not supported (free or @0)")
                continue
            if spec_ is None and self.family[it] != "normal":
                continue
            name = f"{it}{RANDOM_INTERCEPT_SUFFIX}"
            if name.lower() in names_taken:
                raise UnsupportedMplusStatement(f"the random intercept of {it!r} would be named {name!r}, a column")
            effects.append(RandomEffect(name, "intercept", (it,), on=tuple(on.pop(it.lower(), ()))))
        for key, (s, y, x) in self.slopes.items():
            effects.append(RandomEffect(s, "slope", (y,), covariate=x, on=tuple(on.pop(key, ()))))
        for key, f in self.factors.items():
            if f["level"] == "BETWEEN":
                marks = [it for st in self.statements if st.kind == "BY" and st.left[0].name.lower() == key
                         for it in st.right]
                ones = all(it.mark == "@" and it.value == 1 for it in marks)
                if not ones and any(it.mark == "@" for it in marks):
                    raise UnsupportedMplusStatement(f"between factor {f['name']}: loadings are all free (the first "
                                                    "at 1) or all @1; other fixed loadings are not supported")
                effects.append(RandomEffect(f["name"], "intercept", tuple(f["items"]), on=tuple(on.pop(key, ())),
                                            loadings="fixed" if ones else "free"))
        for key in on:
            raise UnsupportedMplusStatement(f"between-level regression of {key!r}: it has no random intercept "
                                            "(it is on WITHIN or its between variance is fixed at 0)")
        return tuple(effects), self._covariance(effects)

    def _covariance(self, effects) -> str:
        """Full covariance of the random effects (Mplus: free between-level covariances of
        random intercepts) unless there is a random slope (Mplus: its covariances are 0)
        and no WITH statement; WITH @0 everywhere makes them diagonal. ``a WITH b*v`` is free,
        with a starting value."""
        withs = [st for st in self.statements if st.kind == "WITH"]
        for st in withs:
            if st.level != "BETWEEN" or st.section is not None:
                raise UnsupportedMplusStatement(f"{st.where()}: within-level residual covariances (WITH) are not "
                                                "supported (local independence within classes)")
            if st.labels or any(it.mark == "@" and it.value != 0 for it in st.right):
                raise UnsupportedMplusStatement(f"{st.where()}: labels and fixed values on WITH are not supported "
                                                "(only free, with a start '*v', or @0)")
        if not withs:
            return "diagonal" if any(e.target == "slope" for e in effects) else "full"
        zero = {all(it.mark == "@" for it in st.right) for st in withs}
        if len(zero) > 1:
            raise UnsupportedMplusStatement(f"{withs[0].where()}: a mix of free and zero between covariances is not "
                                            "supported (all free or all @0)")
        return "diagonal" if zero.pop() else "full"

    def _variance(self, item: str) -> str:
        if self.family[item] != "normal":
            return "class-specific"
        return "class-specific" if self.mentioned.get(("var", item)) else "class-equal"

    # ------------------------------------------------------------------ parameters
    def _parameters(self, factors) -> None:
        """Record @ fixed values, * starts, labels and the class sections naming each parameter."""
        factor_of = {f.name.lower(): f for f in factors}
        for st in self.statements:
            sec = self._section_class(st)
            if st.kind == "MEAN":
                for it in st.left:
                    self._record(st, it, self._mean_names(it.name, sec, st, factor_of), len(st.left))
            elif st.kind == "VARIANCE":
                for it in st.left:
                    self._record(st, it, self._variance_names(it.name, sec, st, factor_of), len(st.left))
            elif st.kind == "WITH":
                for a in st.left:
                    for b in st.right:
                        self._record(st, b, self._covariance_names(a.name, b.name), 0)
            elif st.kind == "ON":
                for lhs in st.left:
                    if self._class_var(lhs.name) or self._class_ref(lhs.name) or st.level == "BETWEEN":
                        if st.labels:
                            raise UnsupportedMplusStatement(f"{st.where()}: labels on class-logit or between "
                                                            "regressions are not supported")
                        for rhs in st.right:
                            self._record(st, rhs, self._logit_or_between_names(lhs.name, rhs.name, st), 0)
                        continue
                    y = self._observed(lhs.name, st)
                    for rhs in st.right:
                        x = self._observed(rhs.name, st)
                        if sec:
                            self._check_owner(y, sec, st)
                            self.mentioned[("slope", y, x)].add(sec[1])
                        ks = [sec[1]] if sec else range(1, self.var.classes[self.owner[y]] + 1)
                        self._record(st, rhs, [f"{y} ON {x}|{self.owner[y]}#{k}" for k in ks],
                                     len(st.left) * len(st.right))
            elif st.kind == "BY" and st.level != "BETWEEN":
                f = factor_of[st.left[0].name.lower()]
                for it in st.right:
                    item = self._observed(it.name, st)
                    if f.loadings == "class-specific":
                        if sec:
                            self.mentioned[("load", f.name, item)].add(sec[1])
                        ks = [sec[1]] if sec else range(1, self.var.classes[self.owner[item]] + 1)
                        names = [f"{f.name} BY {item}|{self.owner[item]}#{k}" for k in ks]
                    elif f.loadings == "fixed":
                        continue
                    else:
                        names = [f"{f.name} BY {item}"]
                    if f.variance == "class-specific" and item == f.indicators[0] and it.mark is None:
                        continue  # Mplus fixes the first loading at 1 (so does the spec)
                    self._record(st, it, names, len(st.right))
            elif st.kind == "BY" and st.labels:
                raise UnsupportedMplusStatement(f"{st.where()}: labels on between-level loadings are not supported")
            elif st.kind == "BY":  # a between factor: starts of its free loadings (the first is 1)
                f = self.factors[st.left[0].name.lower()]
                for it in st.right:
                    item = self._observed(it.name, st)
                    name = f"{f['name']} BY {item}"
                    if it.mark == "*" and item != f["items"][0] and name in self.between_loadings:
                        self._record(st, it, [name], 0)

    def _check_owner(self, item, sec, st) -> None:
        if self.owner[item] != sec[0]:
            raise UnsupportedMplusStatement(f"{st.where()}: {item!r} measures {self.owner[item]}, not {sec[0]}")

    def _classes(self, cv: str, sec) -> list[int]:
        return [sec[1]] if sec else list(range(1, self.var.classes[cv] + 1))

    def _mean_names(self, name: str, sec, st, factor_of) -> list[str]:
        ref = self._class_ref(name)
        if ref:
            if sec is not None or st.level == "WITHIN":
                raise UnsupportedMplusStatement(f"{st.where()}: class-logit means [{name}] belong in %OVERALL%")
            if ref[1] >= self.var.classes[ref[0]]:
                raise MplusSyntaxError(f"{st.where()}: [{name}]: the last class's logit is 0 (reference)")
            return [f"[{ref[0]}#{ref[1]}]"]
        if name.lower() in factor_of:
            f = factor_of[name.lower()]
            if sec is None:
                return []  # [f@0] handled in _factors
            if f.mean != "class-specific":
                raise UnsupportedMplusStatement(f"{st.where()}: class-specific factor means need [{f.name}] free "
                                                "(not @0 in %OVERALL%)")
            k = self.var.classes[self.factor_class(f)]
            if sec[1] == k:
                raise UnsupportedMplusStatement(f"{st.where()}: the factor mean of the last class is 0")
            return [f"[{f.name}]|{sec[0]}#{sec[1]}"]
        if name.lower() in self.slopes:
            s, y, x = self.slopes[name.lower()]
            if sec:
                self.mentioned[("slope", y, x)].add(sec[1])
            return [f"{y} ON {x}|{self.owner[y]}#{k}" for k in self._classes(self.owner[y], sec)]
        base, _, thr = name.partition("$")
        if "#" in base and not thr:  # nominal category mean [u#1]
            base, _, cat = base.partition("#")
            item = self._observed(base, st)
            if self.family[item] != "nominal":
                raise MplusSyntaxError(f"{st.where()}: [{name}]: {item!r} is not NOMINAL")
            cv = self.owner[item]
            return [f"{item}#{cat}|{cv}#{k}" for k in self._classes(cv, sec)]
        item = self._observed(base, st)
        if item not in self.items:
            raise UnsupportedMplusStatement(f"{st.where()}: means of covariate {item!r} are not modelled")
        cv = self.owner[item]
        if sec:
            self._check_owner(item, sec, st)
            self.mentioned[("thr", item)].add(sec[1])
            for f in factor_of.values():
                if item in f.indicators and f.mean == "class-specific":
                    raise UnsupportedMplusStatement(
                        f"{st.where()}: class-specific thresholds / means of {item!r}, an indicator of factor "
                        f"{f.name} whose mean varies across classes, are not supported; fix the factor mean "
                        f"with [{f.name}@0] in %OVERALL% for class-specific item parameters")
        fam = self.family[item]
        if fam in ("binary", "ordinal"):
            if not thr.isdigit():
                raise MplusSyntaxError(f"{st.where()}: the threshold of categorical {item!r} is written [{item}$1]")
            return [f"{item}${thr}|{cv}#{k}" for k in self._classes(cv, sec)]
        if thr:
            raise MplusSyntaxError(f"{st.where()}: {item!r} is not CATEGORICAL: no thresholds")
        if fam == "poisson":
            return [f"[{item}]|{cv}#{k}" for k in self._classes(cv, sec)]
        if fam == "nominal":
            raise MplusSyntaxError(f"{st.where()}: means of nominal {item!r} are written [{item}#1]")
        return [f"{item}|{cv}#{k}" for k in self._classes(cv, sec)]

    def factor_class(self, f) -> str:
        return self.owner[f.indicators[0]]

    def _between_latent(self, cvs, effects) -> None:
        """The between-level latent variables, in the order of the model's covariance matrix
        (random class-logit intercepts, then the random effects), by their Mplus names."""
        order = [f"{cv.name}#{k}" for cv in cvs if cv.random_intercept for k in range(1, cv.n_classes)]
        mplus = {x.lower(): x for x in order}
        for e in effects:
            own = e.target == "intercept" and e.name == f"{e.indicators[0]}{RANDOM_INTERCEPT_SUFFIX}" \
                and len(e.indicators) == 1
            mplus[(e.indicators[0] if own else e.name).lower()] = e.name
            order.append(e.name)
        self.between_order, self.between_of = order, mplus
        self.between_loadings = {f"{e.name} BY {it}" for e in effects if e.loadings == "free"
                                 for it in e.indicators[1:]}

    def _covariance_names(self, a: str, b: str) -> list[str]:
        """``a WITH b`` under %BETWEEN%: the covariance's name (the later effect first)."""
        x, y = self.between_of.get(a.lower()), self.between_of.get(b.lower())
        if x is None or y is None or x == y:
            return []
        later, earlier = sorted((x, y), key=self.between_order.index, reverse=True)
        return [f"cov({later},{earlier})"]

    def _logit_or_between_names(self, lhs: str, rhs: str, st) -> list[str]:
        """Names of ``c ON x`` / ``c#1 ON x`` / ``c2#1 ON c1#1`` (class logits, eq 4 / 9), and of a
        between-level ``y ON w`` (a random effect regressed on a cluster covariate)."""
        cv, ref = self._class_var(lhs), self._class_ref(lhs)
        if not cv and not ref:
            effect = self.between_of.get(lhs.lower())
            return [f"{effect} ON {self._observed(rhs, st)}"] if effect else []
        target = cv or ref[0]
        ks = [ref[1]] if ref else range(1, self.var.classes[target])
        parent, pair = self._class_var(rhs), self._class_ref(rhs)
        if parent or pair:
            p = parent or pair[0]
            ds = [pair[1]] if pair else range(1, self.var.classes[p])
            return [f"{target}#{k} ON {p}#{d}" for k in ks for d in ds]
        return [f"{target}#{k} ON {self._observed(rhs, st)}" for k in ks]

    def _variance_names(self, name: str, sec, st, factor_of) -> list[str]:
        if st.level == "BETWEEN":  # random-effect variances (free: _random_effects / _class_variables)
            effect = self.between_of.get(name.lower()) if sec is None else None
            return [f"var({effect})"] if effect else []
        if self._class_ref(name):
            raise UnsupportedMplusStatement(f"{st.where()}: a class-logit variance {name} belongs in %BETWEEN% "
                                            "%OVERALL% of TYPE = TWOLEVEL MIXTURE")
        if name.lower() in factor_of:
            f = factor_of[name.lower()]
            if f.variance == "class-specific" and sec:
                return [f"var({f.name})|{sec[0]}#{sec[1]}"]
            if f.variance == "free" and sec is None:
                return [f"var({f.name})"]
            return []
        item = self._observed(name, st)
        if item not in self.items:
            raise UnsupportedMplusStatement(f"{st.where()}: the variance of covariate {item!r} is not modelled")
        if self.family[item] != "normal":
            raise UnsupportedMplusStatement(f"{st.where()}: {item!r} is not continuous: it has no variance "
                                            "parameter")
        cv = self.owner[item]
        if sec:
            self._check_owner(item, sec, st)
            self.mentioned[("var", item)].add(sec[1])
        return [f"var({item})|{cv}#{k}" for k in self._classes(cv, sec)]

    def _record(self, st: ModelStatement, it, names: list[str], n_params: int) -> None:
        """@ value -> fixed, * value -> start value, label -> equality."""
        for name in names:
            if it.mark == "@":
                self.fixed[name] = it.value
            elif it.mark == "*" and it.value is not None:
                self.starts[name] = it.value
        if st.labels and names:
            if len(st.labels) == 1:
                label = st.labels[0]
            else:
                if len(st.labels) != n_params:
                    raise MplusSyntaxError(f"{st.where()}: {len(st.labels)} labels for {n_params} parameters")
                index = [x.name for x in (st.left if st.kind in ("MEAN", "VARIANCE") else st.right)].index(it.name)
                label = st.labels[index]
            self.labels[label].extend(names)

    def _mplus_defaults(self, factors) -> list[tuple[str, ...]]:
        """Equality groups of parameters Mplus holds equal across the classes that do not mention them."""
        groups = []
        for it in self.items:
            cv = self.owner[it]
            k = self.var.classes[cv]
            rest = lambda key: [c for c in range(1, k + 1) if c not in self.mentioned.get(key, set())]  # noqa: E731
            for x in self.regressions.get(it, ()):
                groups.append([f"{it} ON {x}|{cv}#{c}" for c in rest(("slope", it, x))])
            if self.family[it] == "normal" and self.mentioned.get(("var", it)):
                groups.append([f"var({it})|{cv}#{c}" for c in rest(("var", it))])
        for f in factors:
            cv = self.factor_class(f)
            k = self.var.classes[cv]
            for it in f.indicators:
                if f.loadings == "class-specific":
                    groups.append([f"{f.name} BY {it}|{cv}#{c}" for c in range(1, k + 1)
                                   if c not in self.mentioned.get(("load", f.name, it), set())])
                if f.mean == "zero" and self.family[it] in ("binary", "ordinal", "normal", "poisson"):
                    rest_k = [c for c in range(1, k + 1) if c not in self.mentioned.get(("thr", it), set())]
                    if len(rest_k) >= 2:
                        groups.extend(self._threshold_groups(it, cv, rest_k))
        return [tuple(g) for g in groups if len(g) >= 2]

    def _threshold_groups(self, item, cv, classes) -> list[list[str]]:
        fam = self.family[item]
        if fam == "normal":
            return [[f"{item}|{cv}#{c}" for c in classes]]
        if fam == "poisson":
            return [[f"[{item}]|{cv}#{c}" for c in classes]]
        n = self.categories.get(item)
        if n is None:
            n = 2
            for st in self.statements:
                for x in st.left:
                    base, _, t = x.name.partition("$")
                    if base.lower() == item.lower() and t.isdigit():
                        n = max(n, int(t) + 1)
        return [[f"{item}${t}|{cv}#{c}" for c in classes] for t in range(1, n)]


def _merge(groups: list[tuple[str, ...]]) -> tuple[tuple[str, ...], ...]:
    """Union of overlapping equality groups, in first-appearance order."""
    merged: list[list[str]] = []
    for g in groups:
        hit = [m for m in merged if set(m) & set(g)]
        new = [x for m in hit for x in m]
        new += [x for x in g if x not in new]
        merged = [m for m in merged if m not in hit] + [new]
    return tuple(tuple(m) for m in merged)

