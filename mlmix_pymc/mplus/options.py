"""The DATA, VARIABLE and ANALYSIS commands of an Mplus input, read into plain settings.

Option names may be abbreviated to their first four letters or more, as Mplus allows
(``USEV``, ``CATEG``). Every option that is not listed here is an ``UnsupportedMplusStatement``
naming it and its line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..errors import MplusSyntaxError, UnsupportedMplusStatement
from .reader import NUMBER, Command, names_of, split_option

DATA_OPTIONS = ("FILE", "FORMAT", "TYPE", "LISTWISE")
VARIABLE_OPTIONS = ("NAMES", "USEVARIABLES", "MISSING", "CATEGORICAL", "NOMINAL", "COUNT", "CLASSES", "WITHIN",
                    "BETWEEN", "CLUSTER", "WEIGHT", "IDVARIABLE")
ANALYSIS_OPTIONS = ("TYPE", "STARTS", "STITERATIONS", "STSEED", "ALGORITHM", "INTEGRATION", "ESTIMATOR", "LINK",
                    "PROCESSORS", "MITERATIONS", "ADAPTIVE", "STSCALE")
TYPE_WORDS = ("MIXTURE", "TWOLEVEL", "RANDOM", "MISSING", "COMPLEX")


def _option(name: str, known: tuple[str, ...], command: str, line: int, text: str) -> str:
    """The full option name for ``name`` or an abbreviation of 4+ letters (Mplus)."""
    for full in known:
        if name == full or (len(name) >= 4 and full.startswith(name)):
            return full
    raise UnsupportedMplusStatement(f"line {line}: {command} option {text!r} is not supported "
                                    f"(supported: {', '.join(known)})")


@dataclass
class DataSettings:
    """DATA: the data file (free format only)."""

    file: str | None = None
    line: int = 0


@dataclass
class VariableSettings:
    """VARIABLE: the column names and the roles of the variables."""

    names: list[str] = field(default_factory=list)
    usevariables: list[str] | None = None
    categorical: list[str] = field(default_factory=list)
    nominal: list[str] = field(default_factory=list)
    count: list[str] = field(default_factory=list)
    classes: dict[str, int] = field(default_factory=dict)
    within: list[str] = field(default_factory=list)
    between: list[str] = field(default_factory=list)
    cluster: str | None = None
    weight: str | None = None
    missing: dict[str, list] = field(default_factory=dict)  # column (or "*ALL*") -> codes; symbols "." "*"

    def canonical(self, name: str, where: str) -> str:
        """The NAMES spelling of ``name`` (Mplus names are case-insensitive)."""
        for n in self.names:
            if n.lower() == name.lower():
                return n
        raise MplusSyntaxError(f"{where}variable {name!r} is not in NAMES")


@dataclass
class AnalysisSettings:
    """ANALYSIS: the model type and the options of ``Model.fit``."""

    type: list[str] = field(default_factory=list)
    options: dict = field(default_factory=dict)  # Model.fit keyword arguments
    link: str = "logit"

    @property
    def two_level(self) -> bool:
        return "TWOLEVEL" in self.type

    @property
    def complex(self) -> bool:
        return "COMPLEX" in self.type


def read_data(command: Command | None) -> DataSettings:
    """DATA: ``FILE IS name;`` (free format, individual data)."""
    out = DataSettings()
    if command is None:
        return out
    for st in command.statements:
        key, value = split_option(st, "DATA")
        key = _option(key, DATA_OPTIONS, "DATA", st.line, st.text)
        if key == "FILE":
            out.file, out.line = value.strip().strip('"').strip("'"), st.line
        elif key == "FORMAT" and value.upper() != "FREE":
            raise UnsupportedMplusStatement(f"line {st.line}: DATA {st.text!r}: only FORMAT IS FREE is supported")
        elif key == "TYPE" and value.upper() != "INDIVIDUAL":
            raise UnsupportedMplusStatement(f"line {st.line}: DATA {st.text!r}: only individual data are supported")
    return out


def read_variable(command: Command | None) -> VariableSettings:
    """VARIABLE: NAMES, USEVARIABLES, CATEGORICAL, NOMINAL, COUNT, CLASSES, WITHIN, BETWEEN,
    CLUSTER, WEIGHT, MISSING (IDVARIABLE is accepted and not used)."""
    out = VariableSettings()
    if command is None:
        raise MplusSyntaxError("the input has no VARIABLE command (NAMES and CLASSES are needed)")
    pending = []
    for st in command.statements:
        key, value = split_option(st, "VARIABLE")
        key = _option(key, VARIABLE_OPTIONS, "VARIABLE", st.line, st.text)
        if key == "NAMES":
            out.names = names_of(value, where=f"line {st.line}: ")
        else:
            pending.append((key, value, st))
    if not out.names:
        raise MplusSyntaxError(f"line {command.line}: VARIABLE needs NAMES ARE ... (the data columns)")
    for key, value, st in pending:
        where = f"line {st.line}: "
        if key == "MISSING":
            out.missing = _missing(value, out, where)
            continue
        if key == "CLASSES":
            for name, k in re.findall(r"([A-Za-z_]\w*)\s*\(\s*(\d+)\s*\)", value):
                out.classes[name] = int(k)
            if not out.classes or re.sub(r"[A-Za-z_]\w*\s*\(\s*\d+\s*\)", "", value).strip():
                raise MplusSyntaxError(f"{where}CLASSES {value!r} must be of the form c(3) or c1(2) c2(2)")
            continue
        if key == "COUNT":
            value = _count_kinds(value, where, st.text)
        names = [out.canonical(n, where) for n in names_of(value, out.names, where)] if key != "BETWEEN" else None
        if key == "BETWEEN":  # may hold a between-level class variable (CLASSES may come later)
            names = names_of(value, out.names, where)
        if key == "USEVARIABLES":
            out.usevariables = names
        elif key in ("CATEGORICAL", "NOMINAL", "COUNT", "WITHIN", "BETWEEN"):
            getattr(out, key.lower()).extend(names)
        elif key in ("CLUSTER", "WEIGHT"):
            if len(names) != 1:
                raise UnsupportedMplusStatement(f"{where}{key} {value!r}: one column is supported")
            setattr(out, key.lower(), names[0])
    known = {n.lower() for n in out.names} | {c.lower() for c in out.classes}
    out.between = [next((n for n in list(out.names) + list(out.classes) if n.lower() == b.lower()), b)
                   for b in out.between]
    for b in out.between:
        if b.lower() not in known:
            raise MplusSyntaxError(f"line {command.line}: BETWEEN names {b!r}, which is neither in NAMES nor CLASSES")
    return out


def _count_kinds(value: str, where: str, text: str) -> str:
    """COUNT = u1 u2 (p): Poisson only; (nb), (i), (pi), (nbi) ... are not supported."""
    for kind in re.findall(r"\(\s*([A-Za-z]+)\s*\)", value):
        if kind.lower() != "p":
            raise UnsupportedMplusStatement(f"{where}COUNT {text!r}: count model ({kind}) is not supported "
                                            "(Poisson counts only)")
    return re.sub(r"\(\s*[A-Za-z]+\s*\)", " ", value)


def _missing(value: str, out: VariableSettings, where: str) -> dict:
    """MISSING = . / * / ALL (-99) / u1-u4 (9) x (-1 -2)."""
    text = value.strip()
    if text in (".", "*"):
        return {"*ALL*": [text]}
    if text.upper() == "BLANK":
        raise UnsupportedMplusStatement(f"{where}MISSING = BLANK is not supported (free-format data)")
    result: dict[str, list] = {}
    for cols, codes in re.findall(r"([^()]+)\(([^()]*)\)", text):
        values = []
        for code in codes.replace(",", " ").split():
            if not re.fullmatch(NUMBER, code):
                raise MplusSyntaxError(f"{where}MISSING code {code!r} is not a number")
            values.append(float(code))
        if cols.strip().upper() == "ALL":
            result["*ALL*"] = values
        else:
            for col in names_of(cols, out.names, where):
                result[out.canonical(col, where)] = values
    if not result or re.sub(r"[^()]+\([^()]*\)", "", text).strip():
        raise MplusSyntaxError(f"{where}MISSING {value!r} must be '.', '*', or lists with codes such as ALL (-99)")
    return result


def read_analysis(command: Command | None) -> AnalysisSettings:
    """ANALYSIS: TYPE, STARTS, STITERATIONS, STSEED, ALGORITHM, INTEGRATION, ESTIMATOR, LINK,
    MITERATIONS (PROCESSORS, ADAPTIVE, STSCALE are accepted and not used)."""
    out = AnalysisSettings()
    if command is None:
        raise MplusSyntaxError("the input has no ANALYSIS command (TYPE = MIXTURE is needed)")
    estimator = None
    for st in command.statements:
        key, value = split_option(st, "ANALYSIS")
        key = _option(key, ANALYSIS_OPTIONS, "ANALYSIS", st.line, st.text)
        where = f"line {st.line}: ANALYSIS {st.text!r}"
        words = value.upper().split()
        if key == "TYPE":
            for w in words:
                if w not in TYPE_WORDS:
                    raise UnsupportedMplusStatement(f"{where}: TYPE {w} is not supported "
                                                    f"(supported: {', '.join(TYPE_WORDS)})")
            out.type = words
        elif key == "STARTS":
            nums = [int(x) for x in words if x.isdigit()]
            if len(nums) != len(words) or len(nums) not in (1, 2):
                raise MplusSyntaxError(f"{where}: STARTS takes one or two integers")
            out.options["starts"] = (0, 0) if nums[0] == 0 else (nums[0], nums[1] if len(nums) == 2 else 1)
        elif key in ("STITERATIONS", "STSEED", "MITERATIONS"):
            if len(words) != 1 or not words[0].isdigit():
                raise MplusSyntaxError(f"{where}: {key} takes one integer")
            out.options[{"STITERATIONS": "st_iterations", "STSEED": "seed", "MITERATIONS": "max_iter"}[key]] = int(words[0])
        elif key == "INTEGRATION":
            out.options.update(_integration(value, where))
        elif key == "ESTIMATOR":
            estimator = value.upper()
            if estimator not in ("ML", "MLR"):
                raise UnsupportedMplusStatement(f"{where}: ESTIMATOR = {value} is not supported (ML or MLR)")
        elif key == "LINK":
            if value.upper() not in ("LOGIT", "PROBIT"):
                raise UnsupportedMplusStatement(f"{where}: LINK = {value} is not supported (LOGIT or PROBIT)")
            out.link = value.lower()
        elif key == "ALGORITHM":
            if not set(words) <= {"INTEGRATION", "EM", "EMA", "ODLL", "FS"}:
                raise UnsupportedMplusStatement(f"{where}: ALGORITHM = {value} is not supported")
    if "MIXTURE" not in out.type:
        raise UnsupportedMplusStatement(f"line {command.line}: ANALYSIS needs TYPE = MIXTURE (or TWOLEVEL MIXTURE); "
                                        f"got TYPE = {' '.join(out.type) or '(none)'}")
    if out.two_level and out.complex:
        raise UnsupportedMplusStatement(f"line {command.line}: TYPE = TWOLEVEL COMPLEX is not supported")
    out.options["se"] = "observed" if estimator == "ML" else "mlr"  # MLR is Mplus's default for mixtures
    return out


def _integration(value: str, where: str) -> dict:
    """INTEGRATION = 10 / STANDARD(10) / GAUSSHERMITE(10) / MONTECARLO(500)."""
    m = re.fullmatch(r"\s*(?:(STANDARD|GAUSSHERMITE|MONTECARLO)\s*(?:\(\s*(\d+)\s*\))?|(\d+))\s*", value, re.I)
    if not m:
        raise UnsupportedMplusStatement(f"{where}: INTEGRATION = {value} is not supported "
                                        "(a number, STANDARD(n), GAUSSHERMITE(n) or MONTECARLO(n))")
    if m.group(3):
        return {"integration": "trapezoid", "points": int(m.group(3))}
    method = {"STANDARD": "trapezoid", "GAUSSHERMITE": "gauss-hermite", "MONTECARLO": "qmc"}[m.group(1).upper()]
    out = {"integration": method}
    if m.group(2):
        out["points"] = int(m.group(2))
    return out
