"""Read the text of an Mplus input: comments, commands, statements, option values, lists.

Mplus syntax: a command starts a line with its name and a colon (``VARIABLE:``); its
statements end with ``;``; ``!`` starts a comment; keywords and variable names are
case-insensitive; in DATA, VARIABLE and ANALYSIS ``IS``, ``ARE`` and ``=`` are
interchangeable; the MODEL command holds ``%label%`` section labels between statements.
Every piece keeps the line number where it starts, for error messages.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..errors import MplusSyntaxError

COMMANDS = ("TITLE", "DATA", "VARIABLE", "DEFINE", "ANALYSIS", "MODEL", "OUTPUT", "SAVEDATA", "PLOT",
            "MONTECARLO")
_HEADER = re.compile(r"^\s*(TITLE|DATA(?:\s+[A-Za-z]+)?|VARIABLE|DEFINE|ANALYSIS|MODEL(?:\s+[A-Za-z][\w#]*)?"
                     r"|OUTPUT|SAVEDATA|PLOT|MONTECARLO)\s*:", re.IGNORECASE)
_LABEL = re.compile(r"%\s*([^%]*?)\s*%")
_OPTION = re.compile(r"^\s*([A-Za-z][\w]*)\s*(?:=|\s+IS\s+|\s+ARE\s+|\s+IS$|\s+ARE$)\s*(.*)$", re.IGNORECASE | re.DOTALL)


@dataclass
class Statement:
    """One ``;``-terminated statement: its text (whitespace collapsed), line, and the MODEL
    section labels that precede it (``["BETWEEN", "c#1"]``), innermost last."""

    text: str
    line: int
    labels: list[str] = field(default_factory=list)


@dataclass
class Command:
    """An Mplus command (``VARIABLE``, ``MODEL``, ``MODEL c1``...) and its statements."""

    name: str
    line: int
    statements: list[Statement] = field(default_factory=list)
    text: str = ""  # the raw body (TITLE keeps its free text)


def strip_comments(text: str) -> str:
    """Text with every ``!`` comment removed (to the end of its line); lines are kept."""
    return "\n".join(line.split("!", 1)[0] for line in text.splitlines())


def read_commands(text: str) -> list[Command]:
    """Split an input into commands and their statements, keeping line numbers."""
    commands: list[Command] = []
    current: Command | None = None
    body: list[tuple[int, str]] = []
    for number, line in enumerate(strip_comments(text).splitlines(), start=1):
        match = _HEADER.match(line)
        if match:
            if current is not None:
                _finish(current, body)
            current = Command(" ".join(match.group(1).split()).upper(), number)
            body = [(number, line[match.end():])]
            commands.append(current)
        elif current is not None:
            body.append((number, line))
        elif line.strip():
            raise MplusSyntaxError(f"line {number}: text before the first command (TITLE:, DATA:, VARIABLE:...): "
                                   f"{line.strip()!r}")
    if current is not None:
        _finish(current, body)
    return commands


def _finish(command: Command, body: list[tuple[int, str]]) -> None:
    """Cut a command body into statements at ``;`` (TITLE keeps its text whole)."""
    command.text = "\n".join(line for _, line in body).strip()
    if command.name == "TITLE":
        return
    pending, start, labels = [], None, []
    for number, line in body:
        for part_index, part in enumerate(line.split(";")):
            if part_index > 0:  # a ';' ended the statement collected so far
                _close(command, pending, start, labels)
                pending, start = [], None
            rest = part
            if command.name.startswith("MODEL"):
                rest, found = _take_labels(part, bool(pending))
                if found:
                    if pending and " ".join(pending).strip():
                        raise MplusSyntaxError(f"line {start}: statement {' '.join(pending).strip()!r} in "
                                               f"{command.name} is not ended with ';' before %{found[0]}%")
                    labels = _apply_labels(labels, found, number)
            if rest.strip():
                if start is None:
                    start = number
                pending.append(rest.strip())
    if pending and " ".join(pending).strip():
        raise MplusSyntaxError(f"line {start}: statement {' '.join(pending).strip()!r} in {command.name} "
                               "is not ended with ';'")


def _close(command: Command, pending: list[str], start, labels: list[str]) -> None:
    text = " ".join(" ".join(pending).split())
    if text:
        command.statements.append(Statement(text, start, list(labels)))


def _take_labels(part: str, has_pending: bool) -> tuple[str, list[str]]:
    """Remove the ``%...%`` labels of a line piece; return the rest and the labels found."""
    found = [m.group(1) for m in _LABEL.finditer(part)]
    if not found:
        if "%" in part:
            raise MplusSyntaxError(f"unbalanced '%' in MODEL text {part.strip()!r}")
        return part, []
    before = part[:_LABEL.search(part).start()]
    if before.strip():
        raise MplusSyntaxError(f"statement {before.strip()!r} is not ended with ';' before %{found[0]}%")
    rest = _LABEL.sub(" ", part)
    if "%" in rest:
        raise MplusSyntaxError(f"unbalanced '%' in MODEL text {part.strip()!r}")
    return rest, found


def _apply_labels(labels: list[str], found: list[str], line: int) -> list[str]:
    """Section labels in effect after ``found``: a level label (WITHIN / BETWEEN) resets the
    class section; a class or OVERALL label replaces the previous class section."""
    out = list(labels)
    for raw in found:
        label = "".join(raw.split())
        upper = label.upper()
        if upper in ("WITHIN", "BETWEEN"):
            out = [upper]
        elif upper == "OVERALL" or "#" in label:
            out = [x for x in out if x in ("WITHIN", "BETWEEN")] + ["OVERALL" if upper == "OVERALL" else label]
        else:
            raise MplusSyntaxError(f"line {line}: unknown MODEL section label %{raw}% (expected %OVERALL%, "
                                   "%WITHIN%, %BETWEEN% or a class label such as %c#1%)")
    return out


def split_option(statement: Statement, command: str) -> tuple[str, str]:
    """``NAMES ARE u1-u6`` -> (``"NAMES"``, ``"u1-u6"``), the option name upper-cased."""
    match = _OPTION.match(statement.text)
    if not match:
        raise MplusSyntaxError(f"line {statement.line}: {command} statement {statement.text!r} is not of the form "
                               "OPTION = value (or OPTION IS / ARE value)")
    return match.group(1).upper(), match.group(2).strip()


_RANGE = re.compile(r"^([A-Za-z_][\w.]*?)(\d+)(\$\d+|#\d+)?$")
NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_NAME = r"[A-Za-z_][\w.]*(?:[$#]\d+)?"
_ITEM = re.compile(rf"\s*({_NAME})(?:\s*-\s*({_NAME}))?(?:\s*([@*])\s*({NUMBER})?)?\s*")


@dataclass(frozen=True)
class ListItem:
    """One element of an expanded Mplus list: a name and an optional ``@`` (fixed) or ``*``
    (start) value."""

    name: str
    mark: str | None = None  # "@", "*" or None
    value: float | None = None


def parse_list(text: str, order: list[str] | None = None, where: str = "") -> list[ListItem]:
    """Expand an Mplus list such as ``u1-u6``, ``u1$1-u6$1@15``, ``y1* y2@1`` or, with
    ``order`` (the NAMES), ``a-d`` in NAMES order. A value after a range applies to every
    name of it."""
    out: list[ListItem] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        match = _ITEM.match(text, pos)
        if not match or match.end() == pos:
            raise MplusSyntaxError(f"{where}cannot read the list {text!r} at {text[pos:]!r}")
        first, last, mark, value = match.groups()
        names = [first] if last is None else _expand_range(first, last, order, where)
        val = None if value is None else float(value)
        if mark == "@" and val is None:
            raise MplusSyntaxError(f"{where}'@' needs a value in {text!r}")
        out.extend(ListItem(n, mark, val) for n in names)
        pos = match.end()
    return out


def names_of(text: str, order: list[str] | None = None, where: str = "") -> list[str]:
    """The names of a list with no ``@`` / ``*`` values (VARIABLE options)."""
    items = parse_list(text, order, where)
    for it in items:
        if it.mark is not None:
            raise MplusSyntaxError(f"{where}unexpected {it.mark!r} in the list {text!r}")
    return [it.name for it in items]


def _expand_range(first: str, last: str, order, where: str) -> list[str]:
    if order is not None:
        lower = [o.lower() for o in order]
        if first.lower() in lower and last.lower() in lower:
            i, j = lower.index(first.lower()), lower.index(last.lower())
            if i <= j:
                return list(order[i:j + 1])
    a, b = _RANGE.match(first), _RANGE.match(last)
    if a and b and a.group(1).lower() == b.group(1).lower() and (a.group(3) or "") == (b.group(3) or ""):
        lo, hi = int(a.group(2)), int(b.group(2))
        if lo <= hi:
            return [f"{a.group(1)}{k}{a.group(3) or ''}" for k in range(lo, hi + 1)]
    raise MplusSyntaxError(f"{where}cannot expand the list range {first}-{last} (numbered names such as u1-u6, "
                           "or names in NAMES order)")
