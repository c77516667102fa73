"""Sphinx configuration of the mlmix_pymc documentation (``make docs``).

The examples are not executed here: ``tests/test_examples.py`` runs each one in CI and
copies its printed tables and figures to ``build/examples/<name>/``; the
``example-outputs`` directive (``_ext/example_outputs.py``) shows them when present.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent / "_ext"))

import mlmix_pymc  # noqa: E402

project = "mlmix_pymc"
author = "mlmix_pymc developers"
release = version = mlmix_pymc.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "example_outputs",
]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build", "README.md"]
myst_enable_extensions = ["dollarmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

templates_path = ["_templates"]
autosummary_generate = True
autodoc_default_options = {"members": True, "show-inheritance": False}
autodoc_typehints = "none"  # signatures carry the types; annotations of pandas / numpy are not cross-referenced
napoleon_google_docstring = False
napoleon_numpy_docstring = True

# Broken references to our own objects are errors (-W); third-party types are not documented here.
nitpicky = True
nitpick_ignore_regex = [(r"py:.*", r"(pd|np|pt|pm|az|pandas|numpy|pytensor|pymc|arviz|scipy|typing|collections)\..*")]

html_theme = "pydata_sphinx_theme"
html_title = "mlmix_pymc"
html_theme_options = {
    "navigation_depth": 2,
    "show_toc_level": 2,
}
html_static_path = []


# Many docstrings write "name : description" on one line (the description where numpydoc puts
# the type). Napoleon would render the description as a type and, with nitpicky, try to
# cross-reference every word of it. This hook moves such a description to its own indented
# line before napoleon reads it; real types ("int", "str | None", "list of str") stay.
import re  # noqa: E402

_SECTIONS = {"Parameters", "Other Parameters", "Attributes", "Keyword Arguments"}
_FIELD = re.compile(r"^(\s*)(\*{0,2}[A-Za-z_][\w]*(?:\s*,\s*\*{0,2}[A-Za-z_]\w*)*)\s+:\s+(.*)$")
_BARE = re.compile(r"^\s*\*{0,2}[A-Za-z_]\w*(\s*,\s*\*{0,2}[A-Za-z_]\w*)*\s*$")
_TYPE_LIKE = re.compile(r"^[\w.\[\]|, ]+$")


def _looks_like_type(text: str) -> bool:
    words = text.replace(",", " ").split()
    return bool(_TYPE_LIKE.match(text)) and len(words) <= 4 and not text.endswith(".")


def _split_inline_descriptions(app, what, name, obj, options, lines):
    section, base, out = None, None, []
    for i, line in enumerate(lines):
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if nxt.strip() and set(nxt.strip()) == {"-"} and line.strip():
            section = line.strip() if line.strip() in _SECTIONS else None
            base = None
            out.append(line)
            continue
        m = _FIELD.match(line) if section else None
        if section and base is None and m:
            base = m.group(1)
        if (section and base is not None and line.strip() and not m and line.startswith(base)
                and not line[len(base):].startswith(" ") and not _BARE.match(line)):
            # prose after the last field, at the fields' indentation: a Notes section, not a field
            out += ["", f"{base}Notes", f"{base}-----"]
            section = None
        if m and not _looks_like_type(m.group(3)):
            indent, field, text = m.groups()
            out += [f"{indent}{field}", f"{indent}    {text}"]
        else:
            out.append(line)
    lines[:] = out


def setup(app):
    app.connect("autodoc-process-docstring", _split_inline_descriptions, priority=100)  # before napoleon (500)
