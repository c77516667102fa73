"""``.. example-outputs:: NAME``: the printed tables and PNG figures of one example.

``tests/test_examples.py`` runs every example (in CI, before ``make docs``) and copies its
stdout (``output.txt``) and figures (``*.png``) to ``build/examples/NAME/``. The docs never
run an example themselves; when that folder is missing (docs built before the tests) the
directive says how to produce it instead of failing.
"""

import ast
import os
from pathlib import Path

from docutils import nodes
from sphinx.util.docutils import SphinxDirective

OUTPUTS = Path(__file__).resolve().parents[2] / "build" / "examples"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


class ExampleOutputs(SphinxDirective):
    required_arguments = 1

    def run(self):
        name = self.arguments[0]
        folder = OUTPUTS / name
        if not folder.is_dir():
            note = nodes.note()
            note += nodes.paragraph(text=f"The output of {name} appears here after `make test` "
                                         "(tests/test_examples.py runs the example and keeps its tables and figures).")
            return [note]
        out = []
        text = folder / "output.txt"
        if text.exists():
            self.env.note_dependency(str(text))
            out.append(nodes.paragraph(text="Printed output (from the CI run of the example):"))
            out.append(nodes.literal_block(text=text.read_text(), language="text"))
        for png in sorted(folder.glob("*.png")):
            self.env.note_dependency(str(png))
            # an image uri is relative to the source document (the image collector resolves it)
            rel = os.path.relpath(png, Path(self.env.doc2path(self.env.docname)).parent)
            out.append(nodes.image(uri=rel, alt=png.stem))
        return out


class ExampleDescription(SphinxDirective):
    """``.. example-description:: NAME``: the module docstring of examples/NAME.py, read with
    ``ast`` (the example is not imported), one paragraph per blank-line-separated block."""

    required_arguments = 1

    def run(self):
        path = EXAMPLES / f"{self.arguments[0]}.py"
        self.env.note_dependency(str(path))
        text = ast.get_docstring(ast.parse(path.read_text())) or ""
        out = []
        for block in text.split("\n\n"):
            if block.lstrip().startswith("Run:"):
                out.append(nodes.literal_block(text=block.strip()[4:].strip(), language="bash"))
            else:
                out.append(nodes.paragraph(text=" ".join(block.split())))
        return out


def setup(app):
    app.add_directive("example-outputs", ExampleOutputs)
    app.add_directive("example-description", ExampleDescription)
    return {"parallel_read_safe": True, "version": "1"}
