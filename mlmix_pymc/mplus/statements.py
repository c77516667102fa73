"""MODEL statements of an Mplus input, read into a small structure (no model meaning yet).

``f BY u1-u5;`` ``c ON x;`` ``y1 WITH y2;`` ``[u1$1*-1 c#1@0];`` ``y1-y3;`` (variances) and
``s | y ON x;`` (a random slope), each with its trailing equality labels ``(1)`` / ``(p1-p3)``
and the section it sits in (level ``WITHIN`` / ``BETWEEN``, class label ``c#1`` or overall).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..errors import MplusSyntaxError, UnsupportedMplusStatement
from .reader import ListItem, Statement, parse_list

KINDS = ("BY", "ON", "WITH", "MEAN", "VARIANCE", "RANDOM")
_LABELS = re.compile(r"\(([^()]*)\)\s*$")
_KEYWORD = re.compile(r"\s+(BY|ON|WITH|PON|PWITH|XWITH|AT)\s+", re.IGNORECASE)


@dataclass
class ModelStatement:
    """One MODEL statement. ``left``/``right`` are lists (``right`` empty for means and
    variances); ``section`` is ``None`` (overall) or a class label ``(name, k)``."""

    kind: str
    left: list[ListItem]
    right: list[ListItem]
    labels: list[str]
    level: str | None
    section: tuple[str, int] | None
    line: int
    text: str
    class_command: str | None = None  # "MODEL c1:" sections
    extra: dict = field(default_factory=dict)

    def where(self) -> str:
        """``line 12: 'f BY u1-u5'`` for error messages."""
        return f"line {self.line}: {self.text!r}"


def parse_model_statement(st: Statement, class_command: str | None = None) -> ModelStatement:
    """Read one MODEL statement (text, labels, section) into a ``ModelStatement``."""
    where = f"line {st.line}: "
    text = st.text
    labels: list[str] = []
    match = _LABELS.search(text)
    if match and not text.strip().startswith("(") :
        labels = _expand_labels(match.group(1), where)
        text = text[:match.start()].strip()
    level = next((x for x in st.labels if x in ("WITHIN", "BETWEEN")), None)
    section = None
    for lab in st.labels:
        if "#" in lab:
            name, _, k = lab.partition("#")
            if "." in lab or not k.isdigit():
                raise UnsupportedMplusStatement(f"line {st.line}: the class label %{lab}% (combinations of classes "
                                                "of several class variables) is not supported")
            section = (name, int(k))
    common = dict(labels=labels, level=level, section=section, line=st.line, text=st.text, class_command=class_command)
    if "|" in text:
        left, _, right = text.partition("|")
        inner = _KEYWORD.split(right.strip())
        if len(inner) != 3 or inner[1].upper() != "ON":
            raise UnsupportedMplusStatement(f"line {st.line}: {st.text!r}: only random slopes 's | y ON x' use '|'")
        return ModelStatement("RANDOM", parse_list(left, where=where), parse_list(inner[0], where=where),
                              **common, extra={"covariate": parse_list(inner[2], where=where)})
    if text.startswith("["):
        groups = re.findall(r"\[([^\[\]]*)\]", text)
        if not text.endswith("]") or re.sub(r"\[[^\[\]]*\]", "", text).strip():
            raise MplusSyntaxError(f"line {st.line}: {st.text!r}: a mean / threshold list must be enclosed in [ ]")
        return ModelStatement("MEAN", parse_list(" ".join(groups), where=where), [], **common)
    parts = _KEYWORD.split(" " + text + " ")
    if len(parts) == 1:
        return ModelStatement("VARIANCE", parse_list(text, where=where), [], **common)
    if len(parts) != 3:
        raise UnsupportedMplusStatement(f"line {st.line}: {st.text!r}: one BY / ON / WITH per statement is supported")
    keyword = parts[1].upper()
    if keyword not in ("BY", "ON", "WITH"):
        raise UnsupportedMplusStatement(f"line {st.line}: {st.text!r}: {keyword} statements are not supported")
    return ModelStatement(keyword, parse_list(parts[0], where=where), parse_list(parts[2], where=where), **common)


def _expand_labels(text: str, where: str) -> list[str]:
    """``1`` -> [``1``]; ``1-4`` -> [``1``..``4``]; ``p1-p3`` -> [``p1``..``p3``]; ``a b`` -> [``a``, ``b``]."""
    out: list[str] = []
    for tok in re.sub(r"\s*-\s*", "-", text.strip()).split():
        if "-" in tok:
            first, last = tok.split("-", 1)
            a, b = re.match(r"^(\D*)(\d+)$", first), re.match(r"^(\D*)(\d+)$", last)
            if not a or not b or a.group(1) != b.group(1) or int(a.group(2)) > int(b.group(2)):
                raise MplusSyntaxError(f"{where}cannot expand the label range {tok!r}")
            out.extend(f"{a.group(1)}{k}" for k in range(int(a.group(2)), int(b.group(2)) + 1))
        else:
            out.append(tok)
    if not out:
        raise MplusSyntaxError(f"{where}empty equality label '()'")
    return [x.lower() for x in out]
